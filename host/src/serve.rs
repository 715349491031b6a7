//! `rangeget serve`: the proxy component behind a local HTTP server.
//!
//! The same `wasi:http/proxy` component that edge platforms run answers
//! every incoming request here: a fresh instance per request (as the
//! wasmtime CLI's `serve` does), its settings in its environment, its
//! origin requests through the pooled client of [`crate::http_client`].
//! This module only accepts connections and grants capabilities; what to
//! fetch and how is the component's business.

use std::convert::Infallible;
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
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
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

mod admission;
mod descriptors;
mod rate_limited;
mod send_timeout;

use admission::{Admission, Busy, NewConnection, MAX_REFUSING, REFUSAL_HEAD_TIMEOUT};
use rate_limited::RateLimitedLog;
use send_timeout::SendTimeout;

const USAGE: &str =
    "usage: rangeget serve --origin URL --listen ADDR:PORT [--connections N] [--chunk-size BYTES]
                      [--max-clients N] [--max-connections N] [--header-timeout SECONDS]
                      [--send-timeout SECONDS] [-v]

Serves the objects under URL (e.g. https://cdn.example/files) on ADDR:PORT,
fetching each with N parallel validated range requests (default 4) of
BYTES each (default 1M; suffixes K, M). GET /NAME fetches URL/NAME.

Limits (beyond a cap a client gets 503 with Retry-After, saying which):
  --max-clients N       requests answered at once, each holding up to
                        connections x chunk size (default 64, fewer when that
                        is over 8M, so that they hold at most 512M in all)
  --max-connections N   open client connections (default 1024)
  --header-timeout S    a request head must arrive within S seconds of the
                        connection opening or going idle (default 10)
  --send-timeout S      a client that takes no bytes of its answer for S
                        seconds loses its connection (default 60)";

/// `--max-clients` by default, when connections × chunk size is at most
/// [`WINDOWS_BUDGET`] / 64.
const DEFAULT_MAX_CLIENTS: usize = 64;

/// What the default `--max-clients` lets the clients' windows (connections
/// × chunk size each, in their instances' memory) hold in all.
const WINDOWS_BUDGET: u64 = 512 << 20;

/// `--max-connections` by default: an open connection waiting for its
/// head costs a descriptor and a few KiB.
const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// `--header-timeout` by default. A real client sends its head at once
/// (curl, browsers and package managers send it in one write); nginx waits
/// 60 s, but each connection waiting holds a place among
/// `--max-connections`, so the bound is short: with 1024 places, 10 s means
/// an attacker must open over 100 connections a second to fill them.
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// `--send-timeout` by default, as nginx's `send_timeout`: a client that
/// takes no bytes of its answer for this long loses its connection, and
/// its instance frees its place among `--max-clients`.
const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// A request head (request line and headers) may be at most this large;
/// nginx's default is 4 × 8 KiB. hyper's own bound is about 400 KiB, which
/// 1024 waiting connections would hold 400 MiB with.
const MAX_HEAD_BYTES: usize = 32 << 10;

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
    /// `serve`: requests answered at once (`--max-clients`).
    max_clients: usize,
    /// `serve`: open client connections (`--max-connections`).
    max_connections: usize,
    /// `serve`: how long a request head may take (`--header-timeout`).
    header_timeout: Duration,
    /// `serve`: how long a client may take no bytes of its answer
    /// (`--send-timeout`).
    send_timeout: Duration,
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
        let (mut max_clients, mut max_connections) = (None, DEFAULT_MAX_CONNECTIONS);
        let (mut header_timeout, mut send_timeout) = (DEFAULT_HEADER_TIMEOUT, DEFAULT_SEND_TIMEOUT);
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
                "--max-clients" if purpose == Purpose::Serve => {
                    max_clients = Some(count(&arg, &value()?)?);
                }
                "--max-connections" if purpose == Purpose::Serve => {
                    max_connections = count(&arg, &value()?)?;
                }
                "--header-timeout" if purpose == Purpose::Serve => {
                    header_timeout = seconds(&arg, &value()?)?;
                }
                "--send-timeout" if purpose == Purpose::Serve => {
                    send_timeout = seconds(&arg, &value()?)?;
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
            max_clients: max_clients
                .unwrap_or_else(|| default_max_clients(connections, chunk_size)),
            max_connections,
            header_timeout,
            send_timeout,
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

/// A count given to `flag`: 1 to a million.
fn count(flag: &str, text: &str) -> Result<usize> {
    text.parse()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .with_context(|| format!("{flag} {text:?} must be a number from 1 to 1000000"))
}

/// A duration given to `flag` in seconds (fractions allowed): more than
/// 0, at most an hour.
fn seconds(flag: &str, text: &str) -> Result<Duration> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .with_context(|| format!("{flag} {text:?} must be seconds, more than 0 and at most 3600"))
}

/// [`DEFAULT_MAX_CLIENTS`], or fewer when each client's window is large:
/// the windows of all clients together stay within [`WINDOWS_BUDGET`].
fn default_max_clients(connections: u32, chunk_size: u64) -> usize {
    let window = u64::from(connections) * chunk_size;
    let fit = WINDOWS_BUDGET / window.max(1);
    fit.clamp(1, DEFAULT_MAX_CLIENTS as u64) as usize
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
    admission: Admission,
    /// How much linear memory one instance may have.
    instance_memory: usize,
    header_timeout: Duration,
    send_timeout: Duration,
}

async fn serve(options: ServeOptions) -> Result<()> {
    let pre = ProxyPre::new(PROXY.prepare()?).map_err(wasm_error(
        "the embedded component is not a wasi:http proxy",
    ))?;
    let proxies = ProxySettings::from_env().map_err(|e| anyhow!(e))?;
    // Several clients at once each get their connections.
    let max_in_flight = options.connections as usize * 16;
    let client = HttpClient::new(
        RequestLimits {
            max_in_flight,
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
    warn_if_descriptors_are_short(&options, max_in_flight);
    // Tests and scripts wait for this line (it carries the port chosen
    // for :0), so it goes out only once the socket accepts connections.
    eprintln!(
        "rangeget: serving http://{addr}/ from {} ({} connections, chunks of {}; \
         --max-clients {}, --max-connections {})",
        options.origin,
        options.connections,
        format_size(options.chunk_size),
        options.max_clients,
        options.max_connections,
    );
    let server = Arc::new(Server {
        pre,
        client,
        settings: options.component_settings(),
        admission: Admission::new(options.max_connections, options.max_clients),
        instance_memory: instance_memory_bound(options.connections, options.chunk_size),
        header_timeout: options.header_timeout,
        send_timeout: options.send_timeout,
    });
    let accept_log = RateLimitedLog::new(Duration::from_secs(10));
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                descriptors::pause_after(&e, &accept_log).await;
                continue;
            }
        };
        // The head and the body go out in separate writes; with Nagle on,
        // the second waits for the client's delayed ACK (40 ms) once the
        // connection leaves TCP quick-ack mode, i.e. after a few requests.
        let _ = stream.set_nodelay(true);
        match server.admission.connection() {
            NewConnection::Serve(place) => {
                tokio::spawn(Arc::clone(&server).serve_connection(stream, place));
            }
            NewConnection::TurnAway(busy, place) => {
                tokio::spawn(turn_away(stream, busy, place));
            }
            NewConnection::Close => drop(stream),
        }
    }
}

/// Answers a connection turned away: its request is read first, so that
/// closing leaves nothing unread (which would reset the connection, and
/// the client could lose the answer).
async fn turn_away(stream: TcpStream, busy: Busy, place: OwnedSemaphorePermit) {
    let service = service_fn(move |_| async move { Ok::<_, Infallible>(busy.response()) });
    let _ = http1_server(REFUSAL_HEAD_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    drop(place);
}

/// The HTTP/1 server every connection gets: request heads bounded in size
/// and in time (from the connection opening, and from each answer's end
/// while it is kept alive).
fn http1_server(header_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_header_size(MAX_HEAD_BYTES);
    builder
}

/// How much linear memory one instance may grow to. Measured, an instance
/// peaks at its window (connections × chunk size) plus about 2 MiB (5.4 MiB
/// at 4 × 1M, 62 MiB at 4 × 16M, 2.3 MiB at 2 × 256K); the bound allows
/// twice the window plus 16 MiB, so only a defect reaches it, and then
/// that instance's answer ends, not the server.
fn instance_memory_bound(connections: u32, chunk_size: u64) -> usize {
    let window = u64::from(connections) * chunk_size;
    usize::try_from(2 * window + (16 << 20)).unwrap_or(usize::MAX)
}

/// Raises the descriptor limit as far as allowed, and says so when the
/// caps may still need more than it.
fn warn_if_descriptors_are_short(options: &ServeOptions, origin_requests: usize) {
    let Some(limit) = descriptors::raise_limit() else {
        return;
    };
    // Origin connections: those in flight, and idle ones kept in the pool
    // (two per request slot, see http_client).
    let needed = descriptors::needed(options.max_connections + MAX_REFUSING, 3 * origin_requests);
    if limit < needed {
        eprintln!(
            "rangeget serve: warning: ulimit -n is {limit}, and {} connections from \
             clients plus {} to the origin may need {needed} file descriptors; \
             raise ulimit -n or lower --max-connections",
            options.max_connections + MAX_REFUSING,
            3 * origin_requests,
        );
    }
}

impl Server {
    /// Serves one connection's requests; `place` is its place among
    /// `--max-connections`.
    async fn serve_connection(self: Arc<Self>, stream: TcpStream, place: OwnedSemaphorePermit) {
        let (header_timeout, send_timeout) = (self.header_timeout, self.send_timeout);
        let service = service_fn(move |request| {
            let server = Arc::clone(&self);
            async move { server.handle(request).await }
        });
        // Errors here are clients going away, heads that did not come in
        // time, clients that took nothing, or aborted answers.
        let _ = http1_server(header_timeout)
            .keep_alive(true)
            .serve_connection(
                TokioIo::new(SendTimeout::new(stream, send_timeout)),
                service,
            )
            .await;
        drop(place);
    }

    /// One request, one fresh instance: nothing carries over between
    /// clients, and the next request always probes the origin anew.
    async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        if let Some(refusal) = malformed(&request) {
            return Ok(refusal);
        }
        let place = match self.admission.client() {
            Ok(place) => place,
            Err(busy) => return Ok(busy.response()),
        };
        let mut wasi = WasiCtx::builder();
        // No environment: the settings go through wasi:config, as on edge
        // platforms. stderr carries the component's log lines.
        wasi.inherit_stderr();
        let state =
            ComponentState::new(wasi.build(), self.client.clone()).with_config(&self.settings);
        let state = state.with_memory_limit(self.instance_memory);
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| state.limiter());
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
        let max_memory = self.instance_memory;
        // The instance keeps running after the head is sent: it streams
        // the body from this task, which holds its place among
        // `--max-clients` until it ends.
        let task = tokio::spawn(async move {
            let _place = place;
            let ran = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, out)
                    .await
            }
            .await;
            // Told here: once the head went out, nobody else sees it.
            if let Err(e) = &ran {
                let why = match store.data().memory_refused() {
                    Some(asked) => format!(
                        "it needed more than its bound of {} of memory (asked for {}); \
                         its answer was cut",
                        format_size(max_memory as u64),
                        format_size(asked as u64)
                    ),
                    None => format!("{e:?}"),
                };
                eprintln!("rangeget serve: the proxy component failed: {why}");
            }
            ran.is_ok()
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(anyhow!("the proxy component failed: {code:?}")),
            Err(_) => {
                if let Ok(true) = task.await {
                    eprintln!("rangeget serve: the proxy component gave no answer");
                }
                Err(anyhow!("the proxy component gave no answer"))
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
        assert_eq!(o.max_clients, 64, "8 × 512K windows: 64 fit in 512M");
        let o = parse(&["--origin", "http://h/p", "--listen", "127.0.0.1:0"]).unwrap();
        assert_eq!((o.max_clients, o.max_connections), (64, 1024));
        assert_eq!(
            (o.header_timeout, o.send_timeout),
            (Duration::from_secs(10), Duration::from_secs(60))
        );
        let o = parse(&[
            "--origin",
            "http://h/p",
            "--listen",
            "127.0.0.1:0",
            "-x",
            "8",
            "--chunk-size",
            "4M",
        ])
        .unwrap();
        assert_eq!(o.max_clients, 16, "32M windows: 16 fit in 512M");
        let o = parse(&[
            "--origin",
            "http://h/p",
            "--listen",
            "127.0.0.1:0",
            "--max-clients",
            "3",
            "--max-connections",
            "10",
            "--header-timeout",
            "0.5",
        ])
        .unwrap();
        assert_eq!(
            (o.max_clients, o.max_connections, o.header_timeout),
            (3, 10, Duration::from_millis(500))
        );
        assert_eq!(default_max_clients(64, 64 << 20), 1);
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
                    "--max-clients",
                    "0",
                ][..],
                "--max-clients \"0\" must be a number from 1",
            ),
            (
                &[
                    "--origin",
                    "http://h",
                    "--listen",
                    "127.0.0.1:0",
                    "--header-timeout",
                    "0",
                ][..],
                "--header-timeout \"0\" must be seconds",
            ),
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
