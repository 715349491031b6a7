//! HTTPS: which certificate authorities rangeget trusts, and what a user
//! is told when a server's certificate or handshake is wrong. The origin
//! is the plain test origin behind a real TLS terminator on 127.0.0.1,
//! with a certificate authority made up for each test.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rangeget_test_origin::Origin;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::*;

/// A certificate authority, and a server certificate for 127.0.0.1
/// signed by it.
struct TestPki {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl TestPki {
    fn new(name: &str) -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, name);
        let ca = ca.self_signed(&ca_key).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap();
        TestPki {
            ca_pem: ca.pem(),
            server_cert: server.der().clone(),
            server_key: server_key.serialize_der(),
        }
    }
}

/// Terminates TLS on 127.0.0.1 and relays each connection to `backend`.
/// Stops when dropped (and with the test process).
struct TlsTerminator {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TlsTerminator {
    fn start(pki: &TestPki, backend: SocketAddr) -> TlsTerminator {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.server_cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let accept_loop = async {
                    while let Ok((client, _)) = listener.accept().await {
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            // A failed handshake is what some tests are about.
                            let Ok(mut client) = acceptor.accept(client).await else {
                                return;
                            };
                            let Ok(mut origin) = tokio::net::TcpStream::connect(backend).await
                            else {
                                return;
                            };
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut origin).await;
                        });
                    }
                };
                tokio::select! {
                    _ = accept_loop => {}
                    _ = stopped => {}
                }
            });
        });
        TlsTerminator { addr, _stop: stop }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("https://{}{path_and_query}", self.addr)
    }
}

/// rangeget with exactly `ca_file` as its trust store: the environment of
/// the machine running the tests may name its own.
fn rangeget_trusting(ca_file: &Path, args: &[&str]) -> std::process::Command {
    let mut command = rangeget(args);
    command
        .env("SSL_CERT_FILE", ca_file)
        .env_remove("SSL_CERT_DIR");
    command
}

/// A network error (exit 3) that names the problem and what to do, given
/// at once: a certificate or a protocol does not change by asking again.
fn assert_fails_at_once(output: &std::process::Output, file: &Path, says: &[&str]) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "stderr: {stderr}");
    for words in says {
        assert!(stderr.contains(words), "says {words:?}: {stderr}");
    }
    assert!(!stderr.contains("retry"), "not retried: {stderr}");
    assert!(!file.exists(), "no file at {}", file.display());
}

#[test]
fn downloads_over_https_from_a_ca_named_by_ssl_cert_file() {
    let origin = Origin::start();
    let pki = TestPki::new("rangeget test CA");
    let tls = TlsTerminator::start(&pki, origin.addr());
    let dir = Scratch::new("tls-trusted");
    std::fs::write(dir.path("ca.pem"), &pki.ca_pem).unwrap();
    let size = 3 * MIB + 5;
    let url = tls.url(&format!("/o/secure.bin?size={size}"));
    let output = rangeget_trusting(
        &dir.path("ca.pem"),
        &[&url, "-o", &dir.arg("secure.bin"), "--chunk-size", "1M"],
    )
    .output()
    .unwrap();
    assert_success(&output);
    assert_downloaded(&dir, "secure.bin", "secure.bin", 0, size);
    assert_eq!(
        origin.range_requests().len(),
        4,
        "one range request per chunk, all through TLS"
    );
}

#[test]
fn https_goes_through_an_http_proxy_in_a_connect_tunnel() {
    let origin = Origin::start();
    let pki = TestPki::new("rangeget test CA");
    let tls = TlsTerminator::start(&pki, origin.addr());
    let proxy = forward_proxy::ForwardProxy::start();
    let dir = Scratch::new("tls-via-proxy");
    std::fs::write(dir.path("ca.pem"), &pki.ca_pem).unwrap();
    let size = 2 * MIB;
    let url = tls.url(&format!("/o/tunnelled.bin?size={size}"));
    let output = rangeget_trusting(
        &dir.path("ca.pem"),
        &[&url, "-o", &dir.arg("tunnelled.bin"), "--chunk-size", "1M"],
    )
    .env("https_proxy", proxy.url())
    .output()
    .unwrap();
    assert_success(&output);
    assert_downloaded(&dir, "tunnelled.bin", "tunnelled.bin", 0, size);
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "nothing went through the proxy");
    let target = format!("CONNECT {} HTTP/1.1", tls.addr);
    assert!(
        seen.iter().all(|request| request.request_line == target),
        "only tunnels, to the server: {seen:?}"
    );
}

#[test]
fn https_goes_through_a_socks5_proxy_end_to_end() {
    let origin = Origin::start();
    let pki = TestPki::new("rangeget test CA");
    let tls = TlsTerminator::start(&pki, origin.addr());
    let socks = rangeget_test_origin::Socks5Proxy::start(None);
    let dir = Scratch::new("tls-via-socks");
    std::fs::write(dir.path("ca.pem"), &pki.ca_pem).unwrap();
    let size = 2 * MIB;
    let url = tls.url(&format!("/o/socks.bin?size={size}"));
    let output = rangeget_trusting(&dir.path("ca.pem"), &[&url, "-o", &dir.arg("socks.bin")])
        .env("https_proxy", format!("socks5h://{}", socks.addr()))
        .output()
        .unwrap();
    assert_success(&output);
    assert_downloaded(&dir, "socks.bin", "socks.bin", 0, size);
    let asked = socks.destinations();
    assert!(!asked.is_empty(), "nothing went through the proxy");
}

#[test]
fn an_untrusted_certificate_fails_at_once_and_says_what_to_do() {
    let origin = Origin::start();
    let tls = TlsTerminator::start(&TestPki::new("the server's CA"), origin.addr());
    let dir = Scratch::new("tls-untrusted");
    let other = TestPki::new("some other CA");
    std::fs::write(dir.path("other.pem"), &other.ca_pem).unwrap();
    let output = rangeget_trusting(
        &dir.path("other.pem"),
        &[
            &tls.url("/o/secret.bin?size=4096"),
            "-o",
            &dir.arg("secret.bin"),
        ],
    )
    .output()
    .unwrap();
    assert_fails_at_once(
        &output,
        &dir.path("secret.bin"),
        &["TLS certificate is not trusted", "SSL_CERT_FILE"],
    );
    assert_eq!(origin.requests_served(), 0, "nothing reached the origin");
}

#[test]
fn https_to_a_plain_http_port_is_a_handshake_error_not_a_retry_loop() {
    let origin = Origin::start();
    let dir = Scratch::new("tls-plain-port");
    let url = origin
        .url("/o/plain.bin?size=4096")
        .replacen("http://", "https://", 1);
    let output = run(&[&url, "-o", &dir.arg("plain.bin")]);
    // Says what is wrong and suggests plain http.
    assert_fails_at_once(
        &output,
        &dir.path("plain.bin"),
        &["TLS handshake failed", "http://"],
    );
}
