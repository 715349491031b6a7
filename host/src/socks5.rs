//! A SOCKS5 tunnel (RFC 1928, with RFC 1929's user name and password):
//! the proxy connects to the server, and the bytes after the handshake are
//! the server's, plain HTTP or TLS alike. Each refusal says which step
//! failed and why, in the proxy's own words when it gives a reply code.

use std::io;
use std::net::IpAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::connector::ProxyFailure;
use crate::proxy_settings::Proxy;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASSWORD: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;
const CONNECT: u8 = 1;
const IPV4: u8 = 1;
const DOMAIN: u8 = 3;
const IPV6: u8 = 4;

/// Asks `proxy`, on `tcp`, for a tunnel to `host:port`; `remote_dns`: the
/// proxy resolves the name (`socks5h://`), else it is resolved here.
pub async fn tunnel(
    tcp: &mut TcpStream,
    proxy: &Proxy,
    host: &str,
    port: u16,
    remote_dns: bool,
) -> io::Result<()> {
    let fail = |what: String| ProxyFailure::error(proxy, &what);
    let io = |e: io::Error| ProxyFailure::io(proxy, e);
    let methods: &[u8] = match proxy.login {
        Some(_) => &[NO_AUTH, USER_PASSWORD],
        None => &[NO_AUTH],
    };
    let mut greeting = vec![VERSION, methods.len() as u8];
    greeting.extend_from_slice(methods);
    tcp.write_all(&greeting).await.map_err(io)?;
    let mut choice = [0; 2];
    tcp.read_exact(&mut choice).await.map_err(io)?;
    match choice {
        [VERSION, NO_AUTH] => {}
        [VERSION, USER_PASSWORD] => match &proxy.login {
            Some((user, password)) => log_in(tcp, proxy, user, password).await?,
            None => {
                return Err(fail(
                    "asked for a user name and password it was not offered".into(),
                ))
            }
        },
        [VERSION, NO_ACCEPTABLE] => {
            let hint = match proxy.login {
                Some(_) => "",
                None => "; give them in the proxy URL (socks5://user:password@host:port)",
            };
            return Err(fail(format!("wants credentials{hint}")));
        }
        [VERSION, other] => return Err(fail(format!("chose an unknown method {other}"))),
        _ => return Err(fail("does not speak SOCKS5".into())),
    }
    let mut request = vec![VERSION, CONNECT, 0];
    request.extend(address(host, port, remote_dns).await.map_err(io)?);
    tcp.write_all(&request).await.map_err(io)?;
    let mut reply = [0; 4];
    tcp.read_exact(&mut reply).await.map_err(io)?;
    if reply[0] != VERSION {
        return Err(fail("does not speak SOCKS5".into()));
    }
    if reply[1] != 0 {
        let why = refusal(reply[1]);
        return Err(fail(format!("could not connect to {host}:{port}: {why}")));
    }
    // The address the proxy bound: read past it.
    let rest = match reply[3] {
        IPV4 => 4 + 2,
        IPV6 => 16 + 2,
        DOMAIN => usize::from(tcp.read_u8().await.map_err(io)?) + 2,
        other => {
            return Err(fail(format!(
                "answered with an unknown address type {other}"
            )))
        }
    };
    let mut skipped = vec![0; rest];
    tcp.read_exact(&mut skipped).await.map_err(io)?;
    Ok(())
}

async fn log_in(tcp: &mut TcpStream, proxy: &Proxy, user: &str, password: &str) -> io::Result<()> {
    let too_long = || ProxyFailure::error(proxy, "login: a user name or password over 255 bytes");
    let (user, password) = (user.as_bytes(), password.as_bytes());
    let mut request = vec![1, u8::try_from(user.len()).map_err(|_| too_long())?];
    request.extend_from_slice(user);
    request.push(u8::try_from(password.len()).map_err(|_| too_long())?);
    request.extend_from_slice(password);
    tcp.write_all(&request)
        .await
        .map_err(|e| ProxyFailure::io(proxy, e))?;
    let mut status = [0; 2];
    tcp.read_exact(&mut status)
        .await
        .map_err(|e| ProxyFailure::io(proxy, e))?;
    if status[1] != 0 {
        return Err(ProxyFailure::error(
            proxy,
            "refused the user name and password",
        ));
    }
    Ok(())
}

/// The destination as the request carries it: the name itself for the
/// proxy to resolve, or an address resolved here.
async fn address(host: &str, port: u16, remote_dns: bool) -> io::Result<Vec<u8>> {
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) if remote_dns => {
            let name = host.as_bytes();
            let len = u8::try_from(name.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "host name too long"))?;
            let mut out = vec![DOMAIN, len];
            out.extend_from_slice(name);
            out.extend_from_slice(&port.to_be_bytes());
            return Ok(out);
        }
        Err(_) => tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"))
            })?
            .ip(),
    };
    let mut out = match ip {
        IpAddr::V4(v4) => [&[IPV4][..], &v4.octets()].concat(),
        IpAddr::V6(v6) => [&[IPV6][..], &v6.octets()].concat(),
    };
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}

/// RFC 1928's reply codes, as a user reads them.
fn refusal(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "not allowed by its rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "timed out",
        7 => "CONNECT not supported",
        8 => "address type not supported",
        _ => "an unknown reply code",
    }
}
