//! `rangeget serve`: the proxy component behind a local HTTP server.
//!
//! The same `wasi:http/proxy` component that edge platforms run answers
//! every incoming request here: a fresh instance per request (as the
//! wasmtime CLI's `serve` does), its settings in its environment, its
//! origin requests through the pooled client of [`crate::http_client`].
//! This module only accepts connections and grants capabilities; what to
//! fetch and how is the component's business.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wasmtime::Store;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use rangeget_core::size::{format_size, parse_size};
use rangeget_proxy::config::ProxyConfig;

use crate::embedded::{wasm_error, ComponentState, PROXY};
use crate::http_client::{HttpClient, RequestLimits};
use crate::proxy_settings::ProxySettings;
use crate::signals::StopSignals;

const USAGE: &str = "usage: rangeget serve --origin URL --listen ADDR:PORT [--connections N] [--chunk-size BYTES] [-v]

Serves the objects under URL (e.g. https://cdn.example/files) on ADDR:PORT,
fetching each with N parallel validated range requests (default 4) of
BYTES each (default 1M; suffixes K, M). GET /NAME fetches URL/NAME.";

/// The settings of one `rangeget serve`, or of one `rangeget plugin`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ServeOptions {
    origin: String,
    /// `serve`: where it listens (`--listen`).
    listen: Option<SocketAddr>,
    /// `plugin`: the file it writes (`-o`).
    pub(crate) output: Option<PathBuf>,
    connections: u32,
    chunk_size: u64,
    verbose: bool,
}

/// Which subcommand the options are for: each requires its own flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Serve,
    Plugin,
}

impl ServeOptions {
    fn parse(args: Vec<OsString>) -> Result<ServeOptions> {
        ServeOptions::parse_for(args, Purpose::Serve)
    }

    pub(crate) fn parse_for(args: Vec<OsString>, purpose: Purpose) -> Result<ServeOptions> {
        let mut args = args.into_iter().map(|a| {
            a.into_string()
                .map_err(|a| anyhow!("argument {a:?} is not valid UTF-8"))
        });
        let (mut origin, mut listen, mut verbose) = (None, None, false);
        let mut output = None;
        let (mut connections, mut chunk_size) = (4, 1 << 20);
        while let Some(arg) = args.next() {
            let arg = arg?;
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| Err(anyhow!("{arg} needs a value")))
            };
            match arg.as_str() {
                "--origin" => origin = Some(value()?),
                "-o" | "--output" if purpose == Purpose::Plugin => {
                    output = Some(PathBuf::from(value()?));
                }
                "--listen" if purpose == Purpose::Serve => {
                    let text = value()?;
                    listen = Some(text.parse().with_context(|| {
                        format!("--listen {text:?} is not an address like 127.0.0.1:8080")
                    })?);
                }
                "--connections" | "-x" => {
                    let text = value()?;
                    connections = text
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .with_context(|| format!("--connections {text:?} must be 1 to 64"))?;
                }
                "--chunk-size" => {
                    let text = value()?;
                    chunk_size = parse_size(&text).map_err(|e| anyhow!("--chunk-size: {e}"))?;
                }
                "-v" | "--verbose" => verbose = true,
                other => bail!("unknown argument {other:?}"),
            }
        }
        let origin = origin.context("--origin URL is required")?;
        if !(origin.starts_with("http://") || origin.starts_with("https://")) {
            bail!("--origin {origin:?} must be an http:// or https:// URL");
        }
        match purpose {
            Purpose::Serve if listen.is_none() => {
                bail!("--listen ADDR:PORT is required (e.g. 127.0.0.1:8080)")
            }
            Purpose::Plugin if output.is_none() => {
                bail!("-o FILE is required (e.g. -o plugin.wasm)")
            }
            _ => {}
        }
        let options = ServeOptions {
            origin,
            listen,
            output,
            connections,
            chunk_size,
            verbose,
        };
        // The component would refuse bad settings on every request; the
        // same parser refuses them here, before anything listens.
        ProxyConfig::from_vars(options.component_settings()).map_err(|e| anyhow!(e))?;
        Ok(options)
    }

    /// What the component reads from `wasi:config/store` (or, in a
    /// plugin, has built in).
    pub(crate) fn component_settings(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("ORIGIN".to_string(), self.origin.clone()),
            ("CONNECTIONS".to_string(), self.connections.to_string()),
            ("CHUNK_SIZE".to_string(), self.chunk_size.to_string()),
        ];
        if self.verbose {
            env.push(("VERBOSE".to_string(), "1".to_string()));
        }
        env
    }
}

/// Runs `rangeget serve ARGS` (the arguments after `serve`) until Ctrl-C.
pub fn main(args: Vec<OsString>, stop_signals: StopSignals) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match ServeOptions::parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("rangeget serve: {e:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match crate::async_runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rangeget serve: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Ctrl-C, SIGTERM or SIGHUP: a server has nothing to save.
    stop_signals.on_stop(|_| std::process::exit(0));
    runtime.block_on(async {
        match serve(options).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rangeget serve: error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// What every request's instance shares.
struct Server {
    pre: ProxyPre<ComponentState>,
    client: HttpClient,
    /// The component's `wasi:config` settings.
    settings: Vec<(String, String)>,
}

async fn serve(options: ServeOptions) -> Result<()> {
    let pre = ProxyPre::new(PROXY.prepare()?).map_err(wasm_error(
        "the embedded component is not a wasi:http proxy",
    ))?;
    let proxies = ProxySettings::from_env().map_err(|e| anyhow!(e))?;
    let client = HttpClient::new(
        RequestLimits {
            // Several clients at once each get their connections.
            max_in_flight: options.connections as usize * 16,
            connect_timeout: Duration::from_secs(30),
            first_byte_timeout: Duration::from_secs(60),
        },
        proxies,
    );
    let listen = options.listen.expect("serve options have --listen");
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    // Tests and scripts wait for this line (it carries the port chosen
    // for :0), so it goes out only once the socket accepts connections.
    eprintln!(
        "rangeget: serving http://{addr}/ from {} ({} connections, chunks of {})",
        options.origin,
        options.connections,
        format_size(options.chunk_size)
    );
    let server = Arc::new(Server {
        pre,
        client,
        settings: options.component_settings(),
    });
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors and the like: usually transient.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // The head and the body go out in separate writes; with Nagle on,
        // the second waits for the client's delayed ACK (40 ms) once the
        // connection leaves TCP quick-ack mode, i.e. after a few requests.
        let _ = stream.set_nodelay(true);
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let server = Arc::clone(&server);
                async move { server.handle(request).await }
            });
            // Errors here are clients going away or aborted answers.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Server {
    /// One request, one fresh instance: nothing carries over between
    /// clients, and the next request always probes the origin anew.
    async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        if let Some(refusal) = malformed(&request) {
            return Ok(refusal);
        }
        let mut wasi = WasiCtx::builder();
        // No environment: the settings go through wasi:config, as on edge
        // platforms. stderr carries the component's log lines.
        wasi.inherit_stderr();
        let state =
            ComponentState::new(wasi.build(), self.client.clone()).with_config(&self.settings);
        let mut store = Store::new(self.pre.engine(), state);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(wasm_error("accepting the request"))?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(wasm_error("preparing the response"))?;
        let pre = self.pre.clone();
        // The instance keeps running after the head is sent: it streams
        // the body from this task.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, out)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(anyhow!("the proxy component failed: {code:?}")),
            Err(_) => {
                let why = match task.await {
                    Ok(Ok(())) => "it never set a response".to_string(),
                    Ok(Err(e)) => format!("{e:?}"),
                    Err(e) => e.to_string(),
                };
                eprintln!("rangeget serve: the proxy component gave no answer: {why}");
                Err(anyhow!("the proxy component gave no answer: {why}"))
            }
        }
    }
}

/// HTTP/1.1 requests the component must not see: without `Host` (RFC 9112
/// §3.2 requires 400) or in absolute form (`GET http://elsewhere/x`),
/// whose authority the runtime would hand on as if it were this server's.
/// The component serves only paths under its origin either way; this
/// answers them properly instead of closing the connection or guessing.
fn malformed<B>(request: &hyper::Request<B>) -> Option<hyper::Response<HyperOutgoingBody>> {
    let why = if request.uri().scheme().is_some() || request.uri().authority().is_some() {
        "only paths are accepted, not absolute URLs"
    } else if !request.headers().contains_key(hyper::header::HOST) {
        "a request needs a Host header"
    } else {
        return None;
    };
    let body = http_body_util::Full::new(bytes::Bytes::from(format!("{why}\n")))
        .map_err(|never| match never {})
        .boxed_unsync();
    hyper::Response::builder()
        .status(400)
        .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeOptions> {
        ServeOptions::parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn options_have_defaults_and_name_what_is_wrong() {
        let o = parse(&["--origin", "http://h/p", "--listen", "127.0.0.1:0"]).unwrap();
        assert_eq!((o.connections, o.chunk_size), (4, 1 << 20));
        let o = parse(&[
            "--origin",
            "http://h/p",
            "--listen",
            "127.0.0.1:0",
            "-x",
            "8",
            "--chunk-size",
            "512K",
        ])
        .unwrap();
        assert_eq!((o.connections, o.chunk_size), (8, 512 << 10));
        assert!(o
            .component_settings()
            .contains(&("CHUNK_SIZE".into(), "524288".into())));
        for (args, says) in [
            (&["--listen", "127.0.0.1:0"][..], "--origin"),
            (&["--origin", "http://h"][..], "--listen"),
            (
                &["--origin", "ftp://h", "--listen", "127.0.0.1:0"][..],
                "http",
            ),
            (
                &["--origin", "http://h", "--listen", "nowhere"][..],
                "--listen",
            ),
            (&["--origin"][..], "needs a value"),
            (
                &[
                    "--origin",
                    "http://h",
                    "--listen",
                    "127.0.0.1:0",
                    "--chunk-size",
                    "1G",
                ][..],
                "64.0 MiB",
            ),
        ] {
            let error = format!("{:#}", parse(args).unwrap_err());
            assert!(error.contains(says), "{args:?}: {error}");
        }
    }
}
