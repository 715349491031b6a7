//! `rangeget serve`: the proxy component behind a local HTTP server.
//!
//! The same `wasi:http/proxy` component that edge platforms run answers
//! every incoming request here: a fresh instance per request (as the
//! wasmtime CLI's `serve` does), its settings in its environment, its
//! origin requests through the pooled client of [`crate::http_client`].
//! This module only accepts connections, grants capabilities and enforces
//! limits (what clients can make it hold: `admission`, `send_timeout`,
//! `descriptors`); what to fetch and how is the component's business.

use std::convert::Infallible;
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
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

use rangeget_core::size::format_size;

use crate::embedded::{wasm_error, ComponentState, PROXY};
use crate::http_client::{HttpClient, RequestLimits};
use crate::proxy_settings::ProxySettings;
use crate::signals::StopSignals;

mod admission;
mod descriptors;
mod options;
mod rate_limited;
mod send_timeout;

pub(crate) use options::{Purpose, ServeOptions};

use admission::{Admission, Busy, NewConnection, MAX_REFUSING, REFUSAL_HEAD_TIMEOUT};
use options::USAGE;
use rate_limited::RateLimitedLog;
use send_timeout::SendTimeout;

/// A request head (request line and headers) may be at most this large;
/// nginx's default is 4 × 8 KiB. hyper's own bound is about 400 KiB, which
/// 1024 waiting connections would hold 400 MiB with.
const MAX_HEAD_BYTES: usize = 32 << 10;

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
    let proxies = ProxySettings::from_env(None).map_err(|e| anyhow!(e))?;
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
