//! TCP and TLS connections for the pooled client, each step with a timeout,
//! directly or through an HTTP proxy.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::proxy_settings::{Proxy, ProxyKind, ProxySettings};
use crate::socks5;

/// The seed's custom transport: bounded connect and TLS handshake times.
#[derive(Clone)]
pub struct Connector {
    /// Built on the first https connection: reading the system's CA store
    /// takes milliseconds that a plain-http run should not pay.
    tls: Arc<OnceLock<TlsConnector>>,
    proxies: Arc<ProxySettings>,
    connect_timeout: Duration,
    tls_handshake_timeout: Duration,
}

impl Connector {
    pub fn new(connect_timeout: Duration, proxies: Arc<ProxySettings>) -> Connector {
        Connector {
            tls: Arc::default(),
            proxies,
            connect_timeout,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }

    fn tls(&self) -> &TlsConnector {
        self.tls.get_or_init(|| {
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(trusted_roots())
            .with_no_client_auth();
            TlsConnector::from(Arc::new(config))
        })
    }

    async fn connect(self, uri: Uri) -> io::Result<Stream> {
        let host = uri
            .host()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "URL without a host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let mut proxy = self.proxies.for_uri(&uri).cloned();
        let tcp = match &proxy {
            None => self.tcp(&host, port).await?,
            Some(proxy) => self
                .tcp(&proxy.host, proxy.port)
                .await
                .map_err(|e| ProxyFailure::io(proxy, e))?,
        };
        // Through SOCKS5 the stream is the server's once the tunnel is
        // made: from there on, as a direct connection.
        let tcp = match proxy.take_if(|p| matches!(p.kind, ProxyKind::Socks5 { .. })) {
            Some(socks) => {
                let ProxyKind::Socks5 { remote_dns } = socks.kind else {
                    unreachable!("taken as SOCKS5");
                };
                let mut tcp = tcp;
                let handshake = socks5::tunnel(&mut tcp, &socks, &host, port, remote_dns);
                tokio::time::timeout(self.connect_timeout, handshake)
                    .await
                    .map_err(|_| ProxyFailure::error(&socks, "did not answer in time"))??;
                tcp
            }
            None => tcp,
        };
        let tcp = match (&proxy, tls) {
            (None, false) => return Ok(Stream::Plain(tcp)),
            // The client then sends absolute URLs, which the proxy forwards.
            (Some(_), false) => return Ok(Stream::Proxied(tcp)),
            (None, true) => tcp,
            (Some(proxy), true) => {
                tokio::time::timeout(self.connect_timeout, tunnel(tcp, proxy, &host, port))
                    .await
                    .map_err(|_| ProxyFailure::error(proxy, "CONNECT timed out"))??
            }
        };
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let stream =
            tokio::time::timeout(self.tls_handshake_timeout, self.tls().connect(name, tcp))
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
        Ok(Stream::Tls(Box::new(stream)))
    }

    async fn tcp(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }
}

/// Asks the proxy for a tunnel to `host:port` (HTTP CONNECT), for TLS to
/// run end to end through it.
async fn tunnel(mut tcp: TcpStream, proxy: &Proxy, host: &str, port: u16) -> io::Result<TcpStream> {
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(authorization) = &proxy.authorization {
        request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| ProxyFailure::io(proxy, e))?;
    // Byte by byte: whatever follows the head belongs to the tunnel.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(ProxyFailure::error(
                proxy,
                "answered CONNECT with an endless head",
            ));
        }
        match tcp.read_u8().await {
            Ok(byte) => head.push(byte),
            Err(e) => return Err(ProxyFailure::io(proxy, e)),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).unwrap_or_default();
    if status.starts_with('2') {
        return Ok(tcp);
    }
    let hint = if status == "407" {
        "; give the credentials in the proxy URL (http://user:password@host:port)"
    } else {
        ""
    };
    Err(ProxyFailure::error(
        proxy,
        &format!("refused CONNECT to {target}: {status_line}{hint}"),
    ))
}

/// A failure of the proxy rather than of the server: the message names the
/// proxy, since "connection refused" alone would send the user looking at
/// the wrong machine.
#[derive(Debug)]
pub struct ProxyFailure(pub String);

impl ProxyFailure {
    pub(crate) fn error(proxy: &Proxy, what: &str) -> io::Error {
        io::Error::other(ProxyFailure(format!("{proxy} {what}")))
    }

    pub(crate) fn io(proxy: &Proxy, error: io::Error) -> io::Error {
        let what = match error.kind() {
            io::ErrorKind::ConnectionRefused => "refused the connection (is it running?)".into(),
            io::ErrorKind::TimedOut => "did not answer in time".into(),
            _ => format!("failed: {error}"),
        };
        io::Error::new(error.kind(), ProxyFailure(format!("{proxy} {what}")))
    }
}

impl std::fmt::Display for ProxyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxyFailure {}

/// The CAs curl would trust: the system's store (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override it, as with OpenSSL), so a private or corporate
/// CA installed there works. Only a system without one (a bare container)
/// falls back to the Mozilla roots compiled in.
fn trusted_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _unparsable) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Stream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await.map(TokioIo::new) })
    }
}

pub enum Stream {
    Plain(TcpStream),
    /// Plain HTTP to a proxy, which forwards each request.
    Proxied(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new().proxy(matches!(self, Stream::Proxied(_)))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) | Stream::Proxied(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) | Stream::Proxied(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) | Stream::Proxied(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) | Stream::Proxied(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
