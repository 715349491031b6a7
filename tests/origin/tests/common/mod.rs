//! A deliberately tiny HTTP/1.1 client over `std::net::TcpStream`, so tests
//! see exactly what went over the wire (including bytes a lying server
//! sends past its `Content-Length`).

#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Long enough for any test response, short enough that a bug fails the
/// test instead of hanging it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as framed by the headers (de-chunked).
    pub body: Vec<u8>,
    /// False when the connection ended before the framing said it would.
    pub complete: bool,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).expect("connect to the origin");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        Connection {
            reader: BufReader::new(stream),
        }
    }

    pub fn set_read_timeout(&self, timeout: Duration) {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .unwrap();
    }

    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: origin.test\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .expect("send the request");
    }

    /// Reads one response's head and body; `method` tells whether a body
    /// follows.
    pub fn read_reply(&mut self, method: &str) -> Reply {
        let mut reply = self.read_head();
        if method == "HEAD" || reply.status == 204 || reply.status == 304 {
            return reply;
        }
        if let Some(length) = reply.header("content-length") {
            let length: usize = length.parse().unwrap();
            reply.complete = self.read_up_to(length, &mut reply.body);
        } else if reply.header("transfer-encoding") == Some("chunked") {
            reply.complete = self.read_chunked(&mut reply.body);
        } else {
            reply.body = self.read_to_end();
        }
        reply
    }

    /// Reads a status line and headers only; the body is left unread.
    pub fn read_head(&mut self) -> Reply {
        let status_line = self.line().expect("a status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self.line().expect("a header line");
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("name: value");
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        Reply {
            status,
            headers,
            body: Vec::new(),
            complete: true,
        }
    }

    /// What arrives until the server stays silent for `silence`.
    ///
    /// # Panics
    /// If the server closes the connection instead.
    pub fn read_until_silent(&mut self, silence: Duration) -> Vec<u8> {
        self.set_read_timeout(silence);
        let mut received = Vec::new();
        let mut buffer = vec![0; 64 * 1024];
        loop {
            match self.reader.read(&mut buffer) {
                Ok(0) => panic!("connection closed instead of going silent"),
                Ok(read) => received.extend_from_slice(&buffer[..read]),
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    self.set_read_timeout(READ_TIMEOUT);
                    return received;
                }
                Err(error) => panic!("reading until silence: {error}"),
            }
        }
    }

    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(method, path, headers);
        self.read_reply(method)
    }

    /// Everything until the server closes the connection.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
            Err(error) => panic!("reading until close: {error}"),
        }
        rest
    }

    /// Reads exactly `len` bytes, or what there is until the connection
    /// closes; the error of a read that times out is returned as is.
    pub fn read_bytes(&mut self, len: usize) -> std::io::Result<Vec<u8>> {
        let mut bytes = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match self.reader.read(&mut bytes[filled..])? {
                0 => break,
                read => filled += read,
            }
        }
        bytes.truncate(filled);
        Ok(bytes)
    }

    fn read_up_to(&mut self, len: usize, into: &mut Vec<u8>) -> bool {
        let bytes = self.read_bytes(len).expect("read the body");
        let complete = bytes.len() == len;
        into.extend_from_slice(&bytes);
        complete
    }

    fn read_chunked(&mut self, into: &mut Vec<u8>) -> bool {
        loop {
            let Some(size_line) = self.line() else {
                return false;
            };
            let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
            if size == 0 {
                // Trailers, then the blank line that ends the body.
                while let Some(line) = self.line() {
                    if line.is_empty() {
                        return true;
                    }
                }
                return false;
            }
            if !self.read_up_to(size, into) || self.line().is_none() {
                return false;
            }
        }
    }

    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => None,
            Err(error) => panic!("reading a line: {error}"),
        }
    }
}

/// One request on a fresh connection the server closes afterwards.
pub fn fetch(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut connection = Connection::open(addr);
    let mut all_headers = headers.to_vec();
    all_headers.push(("Connection", "close"));
    connection.request(method, path, &all_headers)
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    fetch(addr, "GET", path, &[])
}

pub fn get_range(addr: SocketAddr, path: &str, range: &str) -> Reply {
    fetch(addr, "GET", path, &[("Range", range)])
}
