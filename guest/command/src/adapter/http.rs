//! Outgoing HTTP through the shared `rangeget-wasi-http` client (also used
//! by the proxy component), with its `-v` lines routed through this
//! command's report module.

pub type Client = rangeget_wasi_http::Client<VerboseLines>;
pub type Exchanges = rangeget_wasi_http::Exchanges<VerboseLines>;

use std::cell::RefCell;
use std::rc::Rc;

use rangeget_core::credentials::NetrcUse;
use rangeget_wasi_http::SharedJar;

thread_local! {
    /// The run's `.netrc` credentials, read once.
    static NETRC: RefCell<Option<Rc<NetrcUse>>> = const { RefCell::new(None) };
    /// The run's cookies: loaded, and set by answers, for every file.
    static COOKIES: SharedJar = SharedJar::default();
}

pub fn set_netrc(netrc: Option<NetrcUse>) {
    NETRC.set(netrc.map(Rc::new));
}

/// The run's cookie jar.
pub fn cookies() -> SharedJar {
    COOKIES.with(Rc::clone)
}

/// The client `options` asks for: its headers, timeouts, where the
/// credentials among its headers may go, and the run's `.netrc`.
pub fn client_for(options: &rangeget_options::Options) -> Client {
    Client::new(
        options.request_headers(),
        options.connect_timeout_secs * 1000,
        options.timeout_ms(),
    )
    .credentials_only_for(&options.url, options.location_trusted)
    .with_netrc(NETRC.with_borrow(Clone::clone))
    .with_cookies(Some(cookies()))
}

/// `-v`: what went over the wire, on stderr.
pub struct VerboseLines;

impl rangeget_wasi_http::Trace for VerboseLines {
    fn line(message: impl FnOnce() -> String) {
        super::report::trace(message);
    }
}
