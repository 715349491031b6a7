//! A small HTTP forward proxy on 127.0.0.1, as corporate networks run:
//! absolute-form requests are forwarded one at a time (keep-alive both
//! ways), CONNECT opens a tunnel. It records every request line and the
//! `Proxy-Authorization` it came with. It serves until the test process
//! ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub request_line: String,
    pub authorization: Option<String>,
}

pub struct ForwardProxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ForwardProxy {
    pub fn start() -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve_client(client, &log));
            }
        });
        ForwardProxy { addr, seen }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_client(client: TcpStream, log: &Mutex<Vec<Seen>>) -> Option<()> {
    let mut from_client = BufReader::new(client.try_clone().ok()?);
    let mut to_client = client;
    let mut upstream: Option<(String, BufReader<TcpStream>)> = None;
    loop {
        let head = read_head(&mut from_client)?;
        let request_line = head.first()?.clone();
        let authorization = header(&head, "proxy-authorization");
        log.lock().unwrap().push(Seen {
            request_line: request_line.clone(),
            authorization,
        });
        let mut parts = request_line.split(' ');
        let (method, target) = (parts.next()?, parts.next()?);
        if method == "CONNECT" {
            let server = TcpStream::connect(target).ok()?;
            to_client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .ok()?;
            return splice(from_client, to_client, server);
        }
        // Absolute form: http://host:port/path.
        let rest = target.strip_prefix("http://")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        if upstream.as_ref().is_none_or(|(a, _)| a != authority) {
            let server = TcpStream::connect(authority).ok()?;
            upstream = Some((authority.to_string(), BufReader::new(server)));
        }
        let (_, server) = upstream.as_mut()?;
        let mut forwarded = format!("{method} {path} HTTP/1.1\r\n");
        for line in &head[1..] {
            if !line.to_ascii_lowercase().starts_with("proxy-") {
                forwarded.push_str(line);
                forwarded.push_str("\r\n");
            }
        }
        forwarded.push_str("\r\n");
        server.get_mut().write_all(forwarded.as_bytes()).ok()?;
        let response = read_head(server)?;
        let mut answer = response.join("\r\n");
        answer.push_str("\r\n\r\n");
        to_client.write_all(answer.as_bytes()).ok()?;
        let length: u64 = match header(&response, "content-length") {
            Some(n) if method != "HEAD" => n.parse().ok()?,
            _ => 0,
        };
        std::io::copy(&mut server.by_ref().take(length), &mut to_client).ok()?;
    }
}

/// Lines up to the blank one; `None` at the end of the connection.
fn read_head(stream: &mut impl BufRead) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            return Some(lines);
        }
        lines.push(line);
    }
}

fn header(head: &[String], name: &str) -> Option<String> {
    head.iter().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn splice(
    from_client: BufReader<TcpStream>,
    to_client: TcpStream,
    server: TcpStream,
) -> Option<()> {
    let mut server_reader = server.try_clone().ok()?;
    let mut client_writer = to_client;
    let upward = std::thread::spawn(move || {
        let mut from_client = from_client;
        let mut server = server;
        let _ = std::io::copy(&mut from_client, &mut server);
        let _ = server.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut server_reader, &mut client_writer);
    let _ = client_writer.shutdown(std::net::Shutdown::Write);
    upward.join().ok()
}
