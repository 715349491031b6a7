//! `GET` and `HEAD` of `/o/{name}` (and of its twin, `/twin/{name}`): the
//! well-behaved object server, with the faults of the request's
//! [`FaultPlan`] bent into it.

use std::sync::Arc;

use hyper::header::{
    ACCEPT_RANGES, ALLOW, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    LAST_MODIFIED, RETRY_AFTER,
};
use hyper::http::response::Builder;
use hyper::{Method, Response, StatusCode};

use crate::body::{Accounting, BodyFaults, ObjectBody, ResponseBody};
use crate::connection::ConnectionCut;
use crate::content::{http_date_in, Served};
use crate::faults::{Fault, FaultPlan};
use crate::handler::{text_response, OriginState};
use crate::objects::{Budget, ObjectEntry, ObjectVersion};
use crate::pacing::Pacer;
use crate::query::Query;
use crate::range::{ByteRange, RangeSpec};

/// Size of an object whose URL has no `size=`.
pub(crate) const DEFAULT_SIZE: u64 = 1 << 20;

/// The parts of an object request the answer depends on.
pub(crate) struct ObjectRequest<'a> {
    pub(crate) method: &'a Method,
    pub(crate) name: &'a str,
    pub(crate) query: &'a Query,
    pub(crate) range: Option<&'a str>,
    pub(crate) if_range: Option<&'a str>,
    pub(crate) if_modified_since: Option<&'a str>,
    /// `/twin/{name}`: the object's twin, under the object's validators.
    pub(crate) twin: bool,
}

pub(crate) fn respond(
    state: &OriginState,
    connection: &Arc<ConnectionCut>,
    request: &ObjectRequest<'_>,
) -> Response<ResponseBody> {
    let parsed = FaultPlan::parse(request.query)
        .and_then(|plan| Ok((plan, request.query.byte_size("size")?)));
    let (plan, size) = match parsed {
        Ok((plan, size)) => (plan, size.unwrap_or(DEFAULT_SIZE)),
        Err(bad) => return text_response(StatusCode::BAD_REQUEST, &bad.0),
    };
    // `variant=ID`: objects that differ by query alone, as an export's
    // `?id=1` and `?id=2` do (with `etag=`, under one ETag, size and date).
    let entry = match request.query.get("variant") {
        Some(variant) => state.objects.entry(&variant_name(request.name, variant)),
        None => state.objects.entry(request.name),
    };
    let responder = ObjectResponder {
        state,
        connection,
        object: entry.current(size),
        entry,
        plan,
        twin: request.twin,
    };
    if responder.not_modified_since(request.if_modified_since) {
        // RFC 9110 §13.1.3: unchanged since the date the client has.
        return build(
            responder.object_headers(Response::builder().status(StatusCode::NOT_MODIFIED)),
            ResponseBody::Empty,
        );
    }
    if request.method == Method::HEAD {
        responder.head()
    } else {
        responder.get(request)
    }
}

/// The object name `/o/{name}?variant={variant}` serves: its content is
/// [`crate::expected_content`] of this name.
pub fn variant_name(name: &str, variant: &str) -> String {
    format!("{name}~{variant}")
}

struct ObjectResponder<'a> {
    state: &'a OriginState,
    connection: &'a Arc<ConnectionCut>,
    entry: Arc<ObjectEntry>,
    object: ObjectVersion,
    plan: FaultPlan,
    twin: bool,
}

impl ObjectResponder<'_> {
    fn head(&self) -> Response<ResponseBody> {
        let refusal = if self.plan.has(Fault::Head405) {
            Some(StatusCode::METHOD_NOT_ALLOWED)
        } else if self.plan.has(Fault::Head403) {
            Some(StatusCode::FORBIDDEN)
        } else {
            None
        };
        if let Some(status) = refusal {
            return build(
                Response::builder().status(status).header(ALLOW, "GET"),
                ResponseBody::Empty,
            );
        }
        let mut builder = self.object_headers(Response::builder().status(StatusCode::OK));
        if self.plan.has(Fault::HeadSize) {
            builder = builder.header(CONTENT_LENGTH, self.plan.head_size);
        } else if !self.plan.has(Fault::NoLength) {
            builder = builder.header(CONTENT_LENGTH, self.object.size);
        }
        build(builder, ResponseBody::Empty)
    }

    fn get(&self, request: &ObjectRequest<'_>) -> Response<ResponseBody> {
        if self.spend(
            Fault::Unanswered,
            Budget::Unanswered,
            self.plan.unanswered_times,
        ) {
            self.connection.close_unanswered();
            // Never written: the connection closes before its head.
            return text_response(StatusCode::INTERNAL_SERVER_ERROR, "unanswered");
        }
        if let Some(refusal) = self.injected_status() {
            return refusal;
        }
        let Some(spec) = self.honoured_range(request) else {
            return self.full_body();
        };
        let size = self.object.size;
        if self.spend(Fault::Status416, Budget::Status416, self.plan.status_times) {
            return range_not_satisfiable(size);
        }
        if self.spend(Fault::Html200, Budget::Html200, self.plan.html_times) {
            return html_error_page();
        }
        let Some(range) = spec.resolve(size) else {
            return range_not_satisfiable(size);
        };
        let range = if self.spend(Fault::WrongRange, Budget::WrongRange, self.plan.wrong_times) {
            shifted_by_one(range, size)
        } else {
            range
        };
        let builder = self
            .object_headers(Response::builder().status(StatusCode::PARTIAL_CONTENT))
            .header(CONTENT_RANGE, range.content_range(size))
            .header(CONTENT_LENGTH, range.len() + self.appended());
        build(builder, self.object_body(range, true))
    }

    /// `status-503`, `status-429` and `status-500`, in that order.
    fn injected_status(&self) -> Option<Response<ResponseBody>> {
        let candidates = [
            (
                Fault::Status503,
                Budget::Status503,
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Fault::Status429,
                Budget::Status429,
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                Fault::Status500,
                Budget::Status500,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        let (_, _, status) = candidates
            .into_iter()
            .find(|&(fault, budget, _)| self.spend(fault, budget, self.plan.status_times))?;
        let mut response = text_response(status, &format!("{status} injected by the origin"));
        if status != StatusCode::INTERNAL_SERVER_ERROR {
            let retry_after = if self.plan.retry_after_as_date {
                http_date_in(self.plan.retry_after)
            } else {
                self.plan.retry_after.to_string()
            };
            let value = retry_after
                .parse()
                .expect("Retry-After is a valid header value");
            response.headers_mut().insert(RETRY_AFTER, value);
        }
        Some(response)
    }

    /// The range to serve, if the request has one we honour: not under
    /// `ignore-range`/`accept-ranges-none`, and only if `If-Range` (when
    /// present) still names the current version (RFC 9110 §13.1.5).
    fn honoured_range(&self, request: &ObjectRequest<'_>) -> Option<RangeSpec> {
        if self.plan.has(Fault::IgnoreRange) || self.plan.has(Fault::AcceptRangesNone) {
            return None;
        }
        let spec = RangeSpec::parse(request.range?)?;
        if let Some(validator) = request.if_range.map(str::trim) {
            let current =
                validator == self.entity_tag() || validator == self.object.last_modified();
            if !current {
                return None;
            }
        }
        Some(spec)
    }

    fn full_body(&self) -> Response<ResponseBody> {
        let size = self.object.size;
        let mut builder = self.object_headers(Response::builder().status(StatusCode::OK));
        // Without a Content-Length hyper falls back to chunked encoding.
        if !self.plan.has(Fault::NoLength) {
            builder = builder.header(CONTENT_LENGTH, size);
        }
        let whole = ByteRange {
            first: 0,
            last: size.saturating_sub(1),
        };
        let body = if size == 0 {
            ResponseBody::Empty
        } else {
            self.object_body(whole, false)
        };
        build(builder, body)
    }

    fn object_body(&self, range: ByteRange, partial: bool) -> ResponseBody {
        let plan = &self.plan;
        let len = range.len();
        let faults = BodyFaults {
            cut_at: self
                .spend(Fault::Truncate, Budget::Truncate, plan.truncate_times)
                .then_some(range.first + len / 2),
            // Never past the last byte: a stalled response must not complete.
            stall_at: self
                .spend(Fault::Stall, Budget::Stall, plan.stall_times)
                .then_some(range.first + plan.stall_after.min(len - 1)),
            trailing_garbage: if partial && plan.has(Fault::Overlong) {
                plan.overlong_extra
            } else {
                0
            },
            appended: if partial { self.appended() } else { 0 },
            pacer: plan.pace().map(Pacer::new),
            change_after: plan
                .has(Fault::ChangeAfter)
                .then(|| plan.change_after.unwrap_or(self.object.size / 2)),
            change_times: plan.change_times,
        };
        let accounting = Accounting {
            counters: Arc::clone(&self.state.counters),
            twin: self.twin,
            object: Arc::clone(&self.entry),
            connection: Arc::clone(self.connection),
        };
        let content = if self.twin {
            Served::twin(self.object.content(), self.object.size)
        } else {
            Served::object(self.object.content())
        };
        let body = ObjectBody::new(content, range.first, range.last + 1, faults, accounting);
        ResponseBody::Object(Box::new(body))
    }

    /// Headers every representation of the object carries.
    fn object_headers(&self, builder: Builder) -> Builder {
        let plan = &self.plan;
        let mut builder = builder.header(CONTENT_TYPE, "application/octet-stream");
        if let Some(name) = &plan.disposition {
            let value = format!("attachment; filename=\"{name}\"");
            builder = builder.header(CONTENT_DISPOSITION, value);
        }
        if !plan.has(Fault::NoValidators) {
            builder = builder
                .header(ETAG, self.entity_tag())
                .header(LAST_MODIFIED, self.object.last_modified());
        }
        if plan.has(Fault::NoLength) || plan.has(Fault::NoAcceptRanges) {
            builder
        } else if plan.has(Fault::AcceptRangesNone) {
            builder.header(ACCEPT_RANGES, "none")
        } else {
            builder.header(ACCEPT_RANGES, "bytes")
        }
    }

    /// Whether the object has not changed since `date` (If-Modified-Since).
    fn not_modified_since(&self, date: Option<&str>) -> bool {
        if self.plan.has(Fault::IgnoreConditions) {
            return false;
        }
        let parse = |text: &str| httpdate::parse_http_date(text).ok();
        match (date.and_then(parse), parse(&self.object.last_modified())) {
            (Some(since), Some(modified)) => modified <= since,
            _ => false,
        }
    }

    /// The ETag the object is served with: its own, or the request's `etag=`.
    fn entity_tag(&self) -> String {
        self.plan
            .etag
            .clone()
            .unwrap_or_else(|| self.object.entity_tag())
    }

    /// Bytes a 206 carries past its span (`long-length`).
    fn appended(&self) -> u64 {
        if self.plan.has(Fault::LongLength) {
            self.plan.overlong_extra
        } else {
            0
        }
    }

    /// Whether `fault` was asked for and still has firings left.
    fn spend(&self, fault: Fault, budget: Budget, times: u64) -> bool {
        self.plan.has(fault) && self.entry.try_spend(budget, times)
    }
}

/// `wrong-range`: one byte later, or one byte earlier at the very end.
fn shifted_by_one(range: ByteRange, size: u64) -> ByteRange {
    if range.last + 1 < size {
        ByteRange {
            first: range.first + 1,
            last: range.last + 1,
        }
    } else if range.first > 0 {
        ByteRange {
            first: range.first - 1,
            last: range.last - 1,
        }
    } else {
        range
    }
}

fn range_not_satisfiable(size: u64) -> Response<ResponseBody> {
    let builder = Response::builder()
        .status(StatusCode::RANGE_NOT_SATISFIABLE)
        .header(CONTENT_RANGE, format!("bytes */{size}"))
        .header(ACCEPT_RANGES, "bytes");
    build(builder, ResponseBody::Empty)
}

/// `html-200`: what a captive portal or a misconfigured CDN sends.
fn html_error_page() -> Response<ResponseBody> {
    const PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Error</title></head>\
        <body><h1>Something went wrong</h1><p>Please try again later.</p></body></html>\n";
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "text/html; charset=utf-8");
    build(builder, ResponseBody::fixed(PAGE))
}

fn build(builder: Builder, body: ResponseBody) -> Response<ResponseBody> {
    builder
        .body(body)
        .expect("origin responses use valid statuses and headers")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_range_shifts_inside_the_object() {
        let shift = |first, last, size| {
            let range = shifted_by_one(ByteRange { first, last }, size);
            (range.first, range.last)
        };
        assert_eq!(shift(0, 9, 100), (1, 10));
        assert_eq!(shift(90, 99, 100), (89, 98));
        assert_eq!(shift(0, 0, 1), (0, 0));
    }
}
