//! A SOCKS5 proxy on 127.0.0.1 (RFC 1928 `CONNECT`, RFC 1929 user name and
//! password), for tests and the bench to put between rangeget and an
//! origin. It records the destination of every request as the client sent
//! it (a name for `socks5h://`, an address for `socks5://`), refuses
//! destinations outside loopback, and stops with its handle.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// A running SOCKS5 proxy.
pub struct Socks5Proxy {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Socks5Proxy {
    /// Starts one on a free loopback port; `login`: the user name and
    /// password it requires, if any.
    pub fn start(login: Option<(&str, &str)>) -> Socks5Proxy {
        Socks5Proxy::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), login)
            .expect("a loopback port is free")
    }

    pub fn start_on(addr: SocketAddr, login: Option<(&str, &str)>) -> io::Result<Socks5Proxy> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let login = login.map(|(u, p)| (u.to_string(), p.to_string()));
        let (seen, stopped) = (Arc::clone(&asked), Arc::clone(&stop));
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let (login, seen) = (login.clone(), Arc::clone(&seen));
                thread::spawn(move || {
                    let _ = serve(client, login.as_ref(), &seen);
                });
            }
        });
        Ok(Socks5Proxy { addr, asked, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Each `CONNECT`'s destination, `host:port` as the client sent it.
    pub fn destinations(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for Socks5Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the stop.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(
    mut client: TcpStream,
    login: Option<&(String, String)>,
    asked: &Mutex<Vec<String>>,
) -> io::Result<()> {
    client.set_nodelay(true)?;
    let [version, count] = read_array(&mut client)?;
    if version != 5 {
        return Ok(());
    }
    let mut methods = vec![0; usize::from(count)];
    client.read_exact(&mut methods)?;
    let wanted = if login.is_some() { 2 } else { 0 };
    if !methods.contains(&wanted) {
        return client.write_all(&[5, 0xff]);
    }
    client.write_all(&[5, wanted])?;
    if let Some((user, password)) = login {
        let [_, len] = read_array(&mut client)?;
        let given_user = read_bytes(&mut client, len)?;
        let [len] = read_array(&mut client)?;
        let given_password = read_bytes(&mut client, len)?;
        let ok = given_user == user.as_bytes() && given_password == password.as_bytes();
        client.write_all(&[1, u8::from(!ok)])?;
        if !ok {
            return Ok(());
        }
    }
    let [_, command, _, kind] = read_array(&mut client)?;
    let host = match kind {
        1 => Ipv4Addr::from(read_array::<4>(&mut client)?).to_string(),
        4 => format!("[{}]", Ipv6Addr::from(read_array::<16>(&mut client)?)),
        3 => {
            let [len] = read_array(&mut client)?;
            String::from_utf8_lossy(&read_bytes(&mut client, len)?).into_owned()
        }
        _ => return client.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    let port = u16::from_be_bytes(read_array(&mut client)?);
    let destination = format!("{host}:{port}");
    asked.lock().unwrap().push(destination.clone());
    if command != 1 {
        return client.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
    // Loopback only: this proxy must never reach beyond the machine.
    let target = std::net::ToSocketAddrs::to_socket_addrs(&destination)
        .ok()
        .and_then(|mut addrs| addrs.find(|a| a.ip().is_loopback()));
    let server = match target.map(TcpStream::connect) {
        Some(Ok(server)) => server,
        Some(Err(_)) => return client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
        None => return client.write_all(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    server.set_nodelay(true)?;
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    let (up_from, up_to) = (client.try_clone()?, server.try_clone()?);
    let upstream = thread::spawn(move || relay(up_from, up_to));
    relay(server, client);
    let _ = upstream.join();
    Ok(())
}

/// Copies `from` into `to` until `from` ends, then ends `to`. In large
/// reads, as a real proxy does (`io::copy`'s 8 KiB made this proxy, not
/// the tools measured through it, the bottleneck of a 1 GiB bench).
fn relay(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = vec![0; 256 * 1024];
    while let Ok(n) = from.read(&mut buffer) {
        if n == 0 || to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn read_array<const N: usize>(stream: &mut TcpStream) -> io::Result<[u8; N]> {
    let mut bytes = [0; N];
    stream.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn read_bytes(stream: &mut TcpStream, len: u8) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; usize::from(len)];
    stream.read_exact(&mut bytes)?;
    Ok(bytes)
}
