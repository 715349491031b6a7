//! The client: requests, responses whose headers and bodies are read
//! without blocking, and errors in words a user can act on.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use rangeget_core::cookies::CookieJar;

/// A run's cookie jar, shared by its clients.
pub type SharedJar = Rc<RefCell<CookieJar>>;

use rangeget_core::credentials::{
    authorization_for, credentials_may_follow, is_credential_header, NetrcUse,
};
use rangeget_core::request::{Request, RequestFailure};
use rangeget_core::Headers;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, Method, OutgoingRequest,
    RequestOptions, Scheme,
};
pub use wasip2::io::poll::Pollable;
use wasip2::io::streams::{InputStream, StreamError};

/// Reads are capped so one fast connection cannot starve the others in a
/// poll round, and so guest memory stays flat.
pub const READ_SIZE: u64 = 1 << 20;

/// A request whose response headers have not arrived yet.
pub struct PendingResponse<T: Trace = NoTrace> {
    // Declared first: a pollable must be dropped before the resource it watches.
    ready: Pollable,
    future: FutureIncomingResponse,
    url: String,
    /// Where the answer's `Set-Cookie`s go.
    cookies: Option<SharedJar>,
    trace: PhantomData<T>,
}

pub struct Response {
    pub status: u16,
    pub headers: Headers,
    /// The URL that answered.
    url: String,
    incoming: wasip2::http::types::IncomingResponse,
}

/// A response body being read.
pub struct Body {
    ready: Pollable,
    stream: InputStream,
    _body: IncomingBody,
}

pub enum Read {
    Data(Vec<u8>),
    /// Nothing available yet: poll again.
    Wait,
    End,
    Failed(String),
}

/// Where request and response lines go (`-v`). A type parameter rather
/// than a global, so each component routes them through its own
/// reporting (and its own notion of verbosity) with no cost when off.
pub trait Trace {
    fn line(message: impl FnOnce() -> String);
}

/// No request lines at all.
pub struct NoTrace;

impl Trace for NoTrace {
    fn line(_message: impl FnOnce() -> String) {}
}

/// Request settings shared by every request of a run: the user's headers
/// and the timeouts the runtime should enforce.
pub struct Client<T: Trace = NoTrace> {
    headers: Vec<(String, String)>,
    /// The URL the user's credential headers were given for; requests
    /// elsewhere (after a redirect) go without them.
    credentials_for: Option<url::Url>,
    /// `--location-trusted`: credentials follow redirects anywhere.
    location_trusted: bool,
    /// `--netrc`: credentials for each request's own host.
    netrc: Option<Rc<NetrcUse>>,
    /// The run's cookies: sent by their rules, filled by the answers.
    cookies: Option<SharedJar>,
    connect_timeout_ms: u64,
    timeout_ms: u64,
    trace: PhantomData<T>,
}

impl<T: Trace> Client<T> {
    /// Sends the credential headers (`Authorization`, `Cookie`,
    /// `Proxy-Authorization`) only to the scheme, host and port of `url`,
    /// unless `trusted` (`--location-trusted`) lets them follow redirects.
    pub fn credentials_only_for(mut self, url: &str, trusted: bool) -> Client<T> {
        self.credentials_for = url::Url::parse(url).ok();
        self.location_trusted = trusted;
        self
    }

    /// Sends each request the `.netrc` credentials of its own host.
    pub fn with_netrc(mut self, netrc: Option<Rc<NetrcUse>>) -> Client<T> {
        self.netrc = netrc;
        self
    }

    /// Keeps the cookies answers set in `jar`, and sends them.
    pub fn with_cookies(mut self, jar: Option<SharedJar>) -> Client<T> {
        self.cookies = jar;
        self
    }

    pub fn new(
        headers: Vec<(String, String)>,
        connect_timeout_ms: u64,
        timeout_ms: u64,
    ) -> Client<T> {
        Client {
            headers,
            credentials_for: None,
            location_trusted: false,
            netrc: None,
            cookies: None,
            connect_timeout_ms,
            timeout_ms,
            trace: PhantomData,
        }
    }

    /// Sends an engine's `request`: its own headers (Range, If-Range)
    /// after the common ones.
    pub fn send(&self, request: &Request) -> Result<PendingResponse<T>, RequestFailure> {
        let method = match request.method {
            rangeget_core::request::Method::Head => Method::Head,
            rangeget_core::request::Method::Get => Method::Get,
        };
        let extra_headers = request.headers();
        let url = request.url.as_str();
        // What is wrong before anything is sent stays wrong: refused.
        let refused = |message: String| RequestFailure::Refused(message);
        let parsed =
            url::Url::parse(url).map_err(|e| refused(format!("invalid URL '{url}': {e}")))?;
        let scheme = match parsed.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => return Err(refused(format!("unsupported scheme '{other}' in {url}"))),
        };
        let authority = match (parsed.host_str(), parsed.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => return Err(refused(format!("no host in URL '{url}'"))),
        };
        let mut path = parsed.path().to_string();
        if let Some(query) = parsed.query() {
            path.push('?');
            path.push_str(query);
        }

        // A compressed body would have a different length than the ranges.
        let mut implied = vec![("accept-encoding", "identity".to_string())];
        // The user's credentials go only where they were given for.
        let credentials_allowed = self.credentials_for.as_ref().is_none_or(|original| {
            credentials_may_follow(original, &parsed, self.location_trusted)
        });
        let common: Vec<(&str, &String)> = self
            .headers
            .iter()
            .filter(|(n, _)| credentials_allowed || !is_credential_header(n))
            .map(|(n, v)| (n.as_str(), v))
            .collect();
        // Credentials in the URL or the .netrc, unless -H gave an
        // Authorization of its own.
        let own_authorization = common
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
        let own_host = self
            .credentials_for
            .as_ref()
            .is_none_or(|original| credentials_may_follow(original, &parsed, false));
        let credentials = authorization_for(&parsed, self.netrc.as_deref(), own_host);
        if let Some(credentials) = credentials.filter(|_| !own_authorization) {
            implied.push(("authorization", credentials));
        }
        // The jar's cookies, unless -H gave a Cookie of its own.
        let own_cookie = common.iter().any(|(n, _)| n.eq_ignore_ascii_case("cookie"));
        let jar = self.cookies.as_ref().map(|jar| jar.borrow());
        let jar = jar.filter(|jar| !own_cookie && !jar.is_empty());
        // The clock is read only when there are cookies to weigh.
        let now = || crate::clock::unix_ms() / 1000;
        if let Some(cookie) = jar.and_then(|jar| jar.header_for(&parsed, now())) {
            implied.push(("cookie", cookie));
        }
        let specific = implied.iter().chain(&extra_headers).map(|(n, v)| (*n, v));
        let all: Vec<(&str, &String)> = common.into_iter().chain(specific).collect();
        let headers = fields_of(&all)?;
        let request = OutgoingRequest::new(headers);
        let fail = |what: &str| refused(format!("cannot build request for {url}: invalid {what}"));
        request.set_method(&method).map_err(|_| fail("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|_| fail("scheme"))?;
        request
            .set_authority(Some(&authority))
            .map_err(|_| fail("authority"))?;
        request
            .set_path_with_query(Some(&path))
            .map_err(|_| fail("path"))?;

        let options = RequestOptions::new();
        let timeout_ns = self.timeout_ms.saturating_mul(1_000_000);
        // Runtimes may refuse to let a guest set these; the core's own stall
        // detection still applies then.
        let _ =
            options.set_connect_timeout(Some(self.connect_timeout_ms.saturating_mul(1_000_000)));
        let _ = options.set_first_byte_timeout(Some(timeout_ns));
        let _ = options.set_between_bytes_timeout(Some(timeout_ns));

        T::line(|| {
            let specific: Vec<String> = extra_headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect();
            let verb = if matches!(method, Method::Head) {
                "HEAD"
            } else {
                "GET"
            };
            format!("> {verb} {url} {}", specific.join(", "))
        });
        // The body of a GET is never opened: opening it and racing its `finish`
        // against the response is what makes some clients see reset connections.
        let future =
            outgoing_handler::handle(request, Some(options)).map_err(|e| failure_of(&e))?;
        Ok(PendingResponse {
            ready: future.subscribe(),
            future,
            url: url.to_string(),
            cookies: self.cookies.clone(),
            trace: PhantomData,
        })
    }
}

/// The request's header fields, in one call to the runtime; when it refuses
/// them, the error names the header it refused.
fn fields_of(headers: &[(&str, &String)]) -> Result<Fields, RequestFailure> {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect();
    if let Ok(fields) = Fields::from_list(&list) {
        return Ok(fields);
    }
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| RequestFailure::Refused(format!("cannot send header '{name}': {e:?}")))?;
    }
    Ok(fields)
}

impl<T: Trace> PendingResponse<T> {
    pub fn pollable(&self) -> &Pollable {
        &self.ready
    }

    /// `None` while the headers are still on their way.
    pub fn try_take(&self) -> Option<Result<Response, RequestFailure>> {
        // A runtime moves the response on only when its pollable is asked
        // (wasmtime's `get` alone never does): asked here, a head that
        // arrived is taken even by a driver that did not block on it.
        if !self.ready.ready() {
            return None;
        }
        match self.future.get()? {
            Ok(Ok(incoming)) => {
                let headers = Headers::from_pairs(
                    incoming
                        .headers()
                        .entries()
                        .into_iter()
                        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned())),
                );
                let sets_cookies = headers.get("set-cookie").is_some();
                if let Some(jar) = self.cookies.as_ref().filter(|_| sets_cookies) {
                    let now = crate::clock::unix_ms() / 1000;
                    jar.borrow_mut()
                        .store(&self.url, headers.get_all("set-cookie"), now);
                }
                T::line(|| {
                    let interesting = [
                        "content-length",
                        "content-range",
                        "etag",
                        "accept-ranges",
                        "location",
                        "retry-after",
                    ];
                    let shown: Vec<String> = interesting
                        .iter()
                        .filter_map(|n| headers.get(n).map(|v| format!("{n}: {v}")))
                        .collect();
                    format!("< {} {} {}", incoming.status(), self.url, shown.join(", "))
                });
                Some(Ok(Response {
                    status: incoming.status(),
                    headers,
                    url: self.url.clone(),
                    incoming,
                }))
            }
            Ok(Err(code)) => Some(Err(failure_of(&code))),
            Err(()) => Some(Err(RequestFailure::Broken("response already taken".into()))),
        }
    }
}

impl Response {
    /// The URL that answered.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn into_body(self) -> Result<Body, RequestFailure> {
        let broken = |what: &str| RequestFailure::Broken(what.to_string());
        let body = self
            .incoming
            .consume()
            .map_err(|_| broken("response body already consumed"))?;
        let stream = body
            .stream()
            .map_err(|_| broken("response body stream unavailable"))?;
        Ok(Body {
            ready: stream.subscribe(),
            stream,
            _body: body,
        })
    }
}

impl Body {
    pub fn pollable(&self) -> &Pollable {
        &self.ready
    }

    /// Reads what is available now, at most `max` bytes, without blocking.
    pub fn read(&self, max: u64) -> Read {
        match self.stream.read(max.min(READ_SIZE)) {
            Ok(data) if data.is_empty() => Read::Wait,
            Ok(data) => Read::Data(data),
            Err(StreamError::Closed) => Read::End,
            Err(StreamError::LastOperationFailed(e)) => Read::Failed(e.to_debug_string()),
        }
    }
}

/// What a wasi:http error code means for another try, in words a user can
/// act on.
fn failure_of(code: &ErrorCode) -> RequestFailure {
    let message = describe_error(code);
    match code {
        ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_)
        | ErrorCode::TlsProtocolError => RequestFailure::Tls(message),
        ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTimeout => RequestFailure::NoConnection(message),
        _ => RequestFailure::Broken(message),
    }
}

/// Turns a wasi:http error into words a user can act on.
fn describe_error(code: &ErrorCode) -> String {
    match code {
        ErrorCode::DnsError(e) => format!(
            "DNS lookup failed ({})",
            e.rcode.clone().unwrap_or_else(|| "no answer".into())
        ),
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::ConnectionReadTimeout => "timed out waiting for data".into(),
        ErrorCode::ConnectionTerminated => "connection closed by the server".into(),
        ErrorCode::TlsCertificateError => "the server's TLS certificate is not trusted \
            (signed by a CA this machine does not trust, expired, or issued for another \
            host name); a private CA can be added to the system's store or named with \
            SSL_CERT_FILE"
            .into(),
        ErrorCode::TlsAlertReceived(alert) => format!(
            "the server refused the TLS handshake ({})",
            alert
                .alert_message
                .clone()
                .unwrap_or_else(|| "no reason given".into())
        ),
        ErrorCode::TlsProtocolError => {
            "TLS handshake failed (is this port serving TLS? try http://)".into()
        }
        ErrorCode::HttpResponseTimeout => "timed out waiting for the response".into(),
        // The native host words its own failures (a proxy's, say) here.
        ErrorCode::InternalError(Some(message)) => message.clone(),
        other => format!("HTTP request failed: {other:?}"),
    }
}
