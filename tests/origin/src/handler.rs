//! Routes each request to its answer: objects, redirects and the control
//! endpoints.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::header::{ALLOW, CONTENT_TYPE, IF_RANGE, LOCATION, RANGE};
use hyper::{Method, Request, Response, StatusCode};

use crate::body::ResponseBody;
use crate::connection::ConnectionCut;
use crate::counters::Counters;
use crate::object_response::{self, ObjectRequest};
use crate::objects::ObjectTable;
use crate::query::Query;
use crate::routes::Route;

/// Everything requests share for the lifetime of an origin.
pub(crate) struct OriginState {
    pub(crate) counters: Arc<Counters>,
    pub(crate) objects: ObjectTable,
    pub(crate) local_addr: SocketAddr,
}

/// `require_header=Name:Value` makes an object answer 401 unless the request
/// carries exactly that header, so clients' custom headers can be tested.
fn missing_required_header<'a>(query: &'a Query, headers: &hyper::HeaderMap) -> Option<&'a str> {
    let required = query.get("require_header")?;
    let (name, value) = required.split_once(':')?;
    let sent = headers.get(name.trim()).and_then(|v| v.to_str().ok());
    (sent != Some(value.trim())).then_some(required)
}

/// Statuses `/ra/{n}/...` cycles through by `n`, so a chain meets them all.
const ABSOLUTE_REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

pub(crate) fn handle<B>(
    state: &OriginState,
    connection: &Arc<ConnectionCut>,
    request: &Request<B>,
) -> Response<ResponseBody> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value: &hyper::header::HeaderValue| value.to_str().ok())
    };
    let range = header(RANGE);
    state.counters.record_request(request.uri().path(), range);
    state.counters.record_credentials(request.headers());

    let method = request.method();
    let query_text = request.uri().query();
    let fetch = method == Method::GET || method == Method::HEAD;
    let route = match Route::parse(request.uri().path()) {
        Route::Signed { expires_ms, .. } if fetch && unix_ms() > expires_ms => {
            return text_response(StatusCode::FORBIDDEN, "Request has expired");
        }
        // Until it expires, a signed link is the object.
        Route::Signed { name, .. } => Route::Object { name },
        route => route,
    };
    match route {
        Route::Object { name } | Route::Twin { name } if fetch => {
            let twin = matches!(route, Route::Twin { .. });
            let query = Query::parse(query_text);
            if let Some(missing) = missing_required_header(&query, request.headers()) {
                return text_response(
                    StatusCode::UNAUTHORIZED,
                    &format!("this object requires {missing}"),
                );
            }
            let object_request = ObjectRequest {
                method,
                name,
                query: &query,
                range,
                if_range: header(IF_RANGE),
                if_modified_since: header(hyper::header::IF_MODIFIED_SINCE),
                twin,
            };
            object_response::respond(state, connection, &object_request)
        }
        Route::Redirect {
            hops_left,
            rest,
            absolute,
        } if fetch => redirect(state, hops_left, rest, absolute, query_text),
        Route::Elsewhere { authority, rest } if fetch => redirect_response(
            StatusCode::FOUND,
            &with_query(format!("http://{authority}/{rest}"), query_text),
        ),
        Route::Presign { lifetime_ms, name } if fetch => redirect_response(
            StatusCode::FOUND,
            &with_query(format!("/signed/{}/{lifetime_ms}/{name}", unix_ms()), query_text),
        ),
        Route::Loop if fetch => {
            let location = with_query(request.uri().path().to_owned(), query_text);
            redirect_response(StatusCode::FOUND, &location)
        }
        Route::Metalink { name } if fetch => metalink_response(name, &Query::parse(query_text)),
        Route::Stats if method == Method::GET => stats(&state.counters),
        Route::Replace { name } if method == Method::POST => {
            let version = state.objects.entry(name).replace();
            json_response(format!("{{\"version\":{version}}}"))
        }
        Route::Object { .. }
        | Route::Twin { .. }
        | Route::Metalink { .. }
        | Route::Redirect { .. }
        | Route::Elsewhere { .. }
        | Route::Presign { .. }
        | Route::Signed { .. }
        | Route::Loop => method_not_allowed("GET, HEAD"),
        Route::Stats => method_not_allowed("GET"),
        Route::Replace { .. } => method_not_allowed("POST"),
        Route::NotFound => text_response(
            StatusCode::NOT_FOUND,
            "no such route; try /o/{name}?size=1M&fault=..., /twin/{name}, /r/{n}/{name}, /ra/{n}/{name}, \
             /loop/{name}, /elsewhere/{host:port}/{path}, /presign/{ms}/{name}, /meta4/{name}.meta4, /_stats \
             or POST /_replace/{name}",
        ),
    }
}

fn redirect(
    state: &OriginState,
    hops_left: u32,
    rest: &str,
    absolute: bool,
    query: Option<&str>,
) -> Response<ResponseBody> {
    let (prefix, status) = if absolute {
        let status = ABSOLUTE_REDIRECT_STATUSES[hops_left as usize % 5];
        (
            format!("http://{}", state.local_addr),
            StatusCode::from_u16(status).expect("redirect statuses are valid"),
        )
    } else {
        (String::new(), StatusCode::FOUND)
    };
    let path = match hops_left.checked_sub(1) {
        Some(next) => format!("/{}/{next}/{rest}", if absolute { "ra" } else { "r" }),
        None => format!("/o/{rest}"),
    };
    let mut response = redirect_response(status, &with_query(prefix + &path, query));
    // `set_cookie=k=v`: the redirect sets a cookie (which the object can
    // require with `require_header=Cookie:k=v`), as sign-in pages do.
    let cookie = Query::parse(query).get("set_cookie").map(str::to_string);
    if let Some(value) = cookie.and_then(|c| hyper::header::HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .insert(hyper::header::SET_COOKIE, value);
    }
    response
}

fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as u64)
}

fn with_query(mut location: String, query: Option<&str>) -> String {
    if let Some(query) = query {
        location.push('?');
        location.push_str(query);
    }
    location
}

fn redirect_response(status: StatusCode, location: &str) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header(LOCATION, location)
        .body(ResponseBody::Empty)
        .expect("redirect locations come from valid request URIs")
}

fn stats(counters: &Counters) -> Response<ResponseBody> {
    json_response(format!(
        "{{\"body_bytes_sent\":{},\"twin_body_bytes_sent\":{},\"requests\":{}}}",
        counters.body_bytes_sent(),
        counters.twin_body_bytes_sent(),
        counters.requests()
    ))
}

fn method_not_allowed(allowed: &'static str) -> Response<ResponseBody> {
    let mut response = text_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(ALLOW, hyper::header::HeaderValue::from_static(allowed));
    response
}

/// A Metalink document of object `name` (see `Route::Metalink`).
fn metalink_response(name: &str, query: &Query) -> Response<ResponseBody> {
    let sizes = (query.byte_size("size"), query.byte_size("piece"));
    let (Ok(size), Ok(piece)) = sizes else {
        return text_response(StatusCode::BAD_REQUEST, "size= and piece= are byte counts");
    };
    let size = size.unwrap_or(crate::object_response::DEFAULT_SIZE);
    let text = crate::metalink(name, size, &query.all("src"), piece, !query.flag("nohash"));
    Response::builder()
        .header(CONTENT_TYPE, "application/metalink4+xml")
        // As a static file server says; the document is answered whole.
        .header(hyper::header::ACCEPT_RANGES, "bytes")
        .body(ResponseBody::fixed(text))
        .expect("static headers are valid")
}

fn json_response(json: String) -> Response<ResponseBody> {
    Response::builder()
        .header(CONTENT_TYPE, "application/json")
        .body(ResponseBody::fixed(json + "\n"))
        .expect("static headers are valid")
}

/// A plain-text answer carrying `message`, for errors a person may read.
pub(crate) fn text_response(status: StatusCode, message: &str) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(ResponseBody::fixed(format!("{message}\n")))
        .expect("static headers are valid")
}
