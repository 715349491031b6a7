//! [`Origin`]: the server on its own thread and runtime, so synchronous
//! tests can start one, point a downloader at it and inspect what it saw.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::body::TrackedBody;
use crate::connection::{ConnectionCut, CuttableStream};
use crate::faults::answer_delay;
use crate::handler::{handle, OriginState};
use crate::objects::ObjectTable;

/// A running origin. Dropping it stops the server: open connections are
/// closed (stalled responses included) and its thread is joined.
pub struct Origin {
    state: Arc<OriginState>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Origin {
    /// Starts an origin on a free port of 127.0.0.1.
    ///
    /// # Panics
    /// If no loopback port can be bound or no thread spawned, which leaves
    /// a test nothing to do anyway.
    pub fn start() -> Origin {
        Origin::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .expect("start the test origin on 127.0.0.1")
    }

    /// Starts an origin listening on `addr` (port 0 picks a free one).
    pub fn start_on(addr: SocketAddr) -> io::Result<Origin> {
        // Bind here rather than on the server thread, so the caller gets the
        // error and the origin accepts connections as soon as this returns.
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-origin-worker")
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let state = Arc::new(OriginState {
            counters: Arc::default(),
            objects: ObjectTable::default(),
            local_addr,
        });
        let (shutdown, stop) = oneshot::channel();
        let served = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("test-origin".into())
            .spawn(move || {
                runtime.block_on(accept_until_stopped(listener, served, stop));
                // Dropping the runtime cancels every connection task.
                drop(runtime);
            })?;
        Ok(Origin {
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.state.local_addr
    }

    /// `http://127.0.0.1:PORT` followed by `path_and_query`, e.g.
    /// `origin.url("/o/data.bin?size=4M")`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr())
    }

    /// Object bytes handed to connections in GET responses since start or
    /// the last [`Origin::reset_counters`], including bytes of responses cut
    /// short later. Error pages and `overlong` garbage are not counted.
    pub fn body_bytes_sent(&self) -> u64 {
        self.state.counters.body_bytes_sent()
    }

    /// The part of [`Origin::body_bytes_sent`] that `/twin/` sent.
    pub fn twin_body_bytes_sent(&self) -> u64 {
        self.state.counters.twin_body_bytes_sent()
    }

    /// Requests received, of any method and path.
    pub fn requests_served(&self) -> u64 {
        self.state.counters.requests()
    }

    /// Raw `Range` header values received, in arrival order.
    pub fn range_requests(&self) -> Vec<String> {
        self.state.counters.range_headers(|_| true)
    }

    /// The `Range` headers of the requests for object `name` (`/o/{name}`).
    pub fn range_requests_for(&self, name: &str) -> Vec<String> {
        let path = format!("/o/{name}");
        self.state.counters.range_headers(|p| p == path)
    }

    /// The `Range` headers of the requests whose path starts with `prefix`
    /// (`/presign/`: the links asked for).
    pub fn range_requests_under(&self, prefix: &str) -> Vec<String> {
        self.state.counters.range_headers(|p| p.starts_with(prefix))
    }

    /// The requests this origin is answering now (a body still being
    /// sent, or waiting for its reader).
    pub fn open_requests(&self) -> u64 {
        self.state.counters.open_requests()
    }

    /// The most requests this origin was answering at once (since start
    /// or the last [`Origin::reset_counters`]).
    pub fn most_concurrent_requests(&self) -> u64 {
        self.state.counters.most_open_requests()
    }

    /// `Authorization`, `Cookie` and `Proxy-Authorization` headers
    /// received, as `name: value`, in arrival order.
    pub fn credentials_received(&self) -> Vec<String> {
        self.state.counters.credentials()
    }

    /// Zeroes the traffic counters above; objects keep their versions and
    /// "first K requests" faults stay spent.
    pub fn reset_counters(&self) {
        self.state.counters.reset();
    }

    /// Replaces object `name` with its next version: new content, `ETag`
    /// and a `Last-Modified` one second later.
    pub fn replace_object(&self, name: &str) {
        self.state.objects.entry(name).replace();
    }

    /// The version object `name` is served at now; starts at 0 and grows
    /// with every replacement (including `change-after`).
    pub fn object_version(&self, name: &str) -> u64 {
        self.state.objects.entry(name).current(0).version
    }

    /// Serves object `name` with `size` bytes whatever `size=` the URL
    /// says; `None` goes back to the URL's size.
    pub fn set_size_override(&self, name: &str, size: Option<u64>) {
        self.state.objects.entry(name).set_size_override(size);
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("addr", &self.addr())
            .finish()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_until_stopped(
    listener: TcpListener,
    state: Arc<OriginState>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    tokio::spawn(serve_connection(stream, Arc::clone(&state)));
                }
                // Out of file descriptors and the like: back off briefly
                // instead of spinning, the condition is usually transient.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<OriginState>) {
    // Small responses (headers, redirects) must not wait for delayed ACKs.
    let _ = stream.set_nodelay(true);
    let cut = Arc::new(ConnectionCut::default());
    let io = TokioIo::new(CuttableStream::new(stream, Arc::clone(&cut)));
    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let (state, cut) = (Arc::clone(&state), Arc::clone(&cut));
        async move {
            let open = state.counters.open_request();
            // A far origin: the round trip before every head.
            if let Some(delay) = answer_delay(request.uri().query()) {
                tokio::time::sleep(delay).await;
            }
            let response = handle(&state, &cut, &request);
            Ok::<_, Infallible>(response.map(|body| TrackedBody { body, _open: open }))
        }
    });
    // Errors here are clients going away or faults cutting on purpose.
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(io, service)
        .await;
}
