//! The misbehaviours a request can ask for with `fault=F1,F2` and their
//! numeric parameters, parsed once into a typed plan.

use crate::query::{BadParameter, Query};

/// One way to misbehave; the spelling in URLs is given by [`Fault::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `ignore-range`: ignore `Range` and `If-Range`, always 200 with the
    /// whole object, yet still advertise `Accept-Ranges: bytes`.
    IgnoreRange,
    /// `no-accept-ranges`: no `Accept-Ranges` header; ranges still work.
    NoAcceptRanges,
    /// `accept-ranges-none`: `Accept-Ranges: none` and ranges ignored.
    AcceptRangesNone,
    /// `head-405`: HEAD answered 405; GET unaffected.
    Head405,
    /// `head-403`: HEAD answered 403; GET unaffected.
    Head403,
    /// `no-length`: no `Content-Length` on HEAD and on GET without a range
    /// (chunked), no `Accept-Ranges`; ranged GETs still get 206.
    NoLength,
    /// `truncate`: the first `truncate_times` (1) GET responses with a body
    /// close the connection after half of it.
    Truncate,
    /// `overlong`: 206 bodies are followed by `overlong_extra` (4096)
    /// unannounced bytes, then the connection closes.
    Overlong,
    /// `long-length`: 206 answers announce `Content-Length` `overlong_extra`
    /// (4096) bytes past their `Content-Range` span and carry those bytes
    /// after it, as a middlebox that appends to bodies does.
    LongLength,
    /// `html-200`: the first `html_times` (1) range requests get a 200
    /// `text/html` error page.
    Html200,
    /// `wrong-range`: the first `wrong_times` (1) range requests get the
    /// range shifted by one byte (`Content-Range` and body agree).
    WrongRange,
    /// `status-416`: the first `status_times` (1) range requests get 416.
    Status416,
    /// `stall`: the first `stall_times` (1) GET responses go silent for
    /// 600 s after headers and `stall_after` (0) body bytes.
    Stall,
    /// `trickle`: bodies paced at `trickle_rate` (1024) bytes/s.
    Trickle,
    /// `throttle`: bodies paced at `rate` (1M) bytes/s.
    Throttle,
    /// `status-503`: the first `status_times` (1) GETs get 503 with
    /// `Retry-After: retry_after` (1; an HTTP-date if `retry_after_date=1`).
    Status503,
    /// `status-429`: as `status-503`, with 429.
    Status429,
    /// `status-500`: the first `status_times` (1) GETs get 500.
    Status500,
    /// `change-after`: the object is replaced once `change_after` (half the
    /// size) of its bytes have been sent in total; with `change_times` N,
    /// again after each further `change_after` bytes, N times in all.
    ChangeAfter,
    /// `head-size`: HEAD announces `Content-Length: head_size` (0), not
    /// the object's size; GETs are unaffected.
    HeadSize,
    /// `latency`: every answer (any method, redirects too) waits `latency`
    /// (50) milliseconds before its head, as a far origin's do.
    Latency,
    /// `no-validators`: no `ETag` and no `Last-Modified`, as from a
    /// dynamic endpoint (or an error page).
    NoValidators,
    /// `unanswered`: the first `unanswered_times` (1) GETs see their
    /// connection closed before any answer, as a filter that resets one
    /// URL does; the host itself accepts connections.
    Unanswered,
    /// `ignore-conditions`: `If-Modified-Since` is ignored (never a 304),
    /// as some download servers do.
    IgnoreConditions,
}

impl Fault {
    const ALL: [Fault; 24] = [
        Fault::IgnoreRange,
        Fault::NoAcceptRanges,
        Fault::AcceptRangesNone,
        Fault::Head405,
        Fault::Head403,
        Fault::NoLength,
        Fault::Truncate,
        Fault::Overlong,
        Fault::LongLength,
        Fault::Html200,
        Fault::WrongRange,
        Fault::Status416,
        Fault::Stall,
        Fault::Trickle,
        Fault::Throttle,
        Fault::Status503,
        Fault::Status429,
        Fault::Status500,
        Fault::ChangeAfter,
        Fault::HeadSize,
        Fault::Latency,
        Fault::NoValidators,
        Fault::Unanswered,
        Fault::IgnoreConditions,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::IgnoreRange => "ignore-range",
            Fault::NoAcceptRanges => "no-accept-ranges",
            Fault::AcceptRangesNone => "accept-ranges-none",
            Fault::Head405 => "head-405",
            Fault::Head403 => "head-403",
            Fault::NoLength => "no-length",
            Fault::Truncate => "truncate",
            Fault::Overlong => "overlong",
            Fault::LongLength => "long-length",
            Fault::Html200 => "html-200",
            Fault::WrongRange => "wrong-range",
            Fault::Status416 => "status-416",
            Fault::Stall => "stall",
            Fault::Trickle => "trickle",
            Fault::Throttle => "throttle",
            Fault::Status503 => "status-503",
            Fault::Status429 => "status-429",
            Fault::Status500 => "status-500",
            Fault::ChangeAfter => "change-after",
            Fault::HeadSize => "head-size",
            Fault::Latency => "latency",
            Fault::NoValidators => "no-validators",
            Fault::Unanswered => "unanswered",
            Fault::IgnoreConditions => "ignore-conditions",
        }
    }

    fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|fault| fault.name() == name)
    }
}

/// How long an answer of a request asking for `latency` waits before its
/// head; `None` without that fault (or with a query that does not parse:
/// the answer then says what is wrong, at once).
pub(crate) fn answer_delay(query: Option<&str>) -> Option<std::time::Duration> {
    let plan = FaultPlan::parse(&Query::parse(query)).ok()?;
    plan.has(Fault::Latency)
        .then(|| std::time::Duration::from_millis(plan.latency_ms))
}

/// Default for every `*_times` parameter: misbehave once, then recover.
const DEFAULT_TIMES: u64 = 1;

/// The faults a request asked for and their parameters, defaults filled in.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    faults: Vec<Fault>,
    /// `truncate_times`: GET responses with a body cut at half.
    pub(crate) truncate_times: u64,
    /// `overlong_extra`: garbage bytes after each 206 body.
    pub(crate) overlong_extra: u64,
    /// `html_times`: range requests answered with an HTML page.
    pub(crate) html_times: u64,
    /// `wrong_times`: range requests answered with the range shifted by one.
    pub(crate) wrong_times: u64,
    /// `status_times`: requests answered with the status of a `status-*` fault.
    pub(crate) status_times: u64,
    /// `stall_times`: GET requests that go silent.
    pub(crate) stall_times: u64,
    /// `unanswered_times`: GET requests closed unanswered.
    pub(crate) unanswered_times: u64,
    /// `stall_after`: body bytes sent before going silent.
    pub(crate) stall_after: u64,
    /// `trickle_rate`: bytes per second of every body under `trickle`.
    pub(crate) trickle_rate: u64,
    /// `rate`: bytes per second of every body under `throttle`.
    pub(crate) throttle_rate: u64,
    /// `retry_after`: seconds announced by 503 and 429 answers.
    pub(crate) retry_after: u64,
    /// `retry_after_date=1`: announce them as an HTTP-date instead.
    pub(crate) retry_after_as_date: bool,
    /// `change_after`: object bytes sent before the object is replaced;
    /// `None` means half the object.
    pub(crate) change_after: Option<u64>,
    /// `change_times`: how many times `change-after` replaces the object,
    /// each after another `change_after` bytes.
    pub(crate) change_times: u64,
    /// `head_size`: the length `head-size` makes HEAD announce.
    pub(crate) head_size: u64,
    /// `latency`: milliseconds each answer waits under `latency`.
    pub(crate) latency_ms: u64,
    /// `etag=TEXT` (not a fault): every version of the object carries this
    /// ETag, as nginx's mtime-size tags do for files of one size and second.
    pub(crate) etag: Option<String>,
    /// `disposition=NAME` (not a fault): answers carry
    /// `Content-Disposition: attachment; filename="NAME"`.
    pub(crate) disposition: Option<String>,
}

impl FaultPlan {
    pub(crate) fn parse(query: &Query) -> Result<Self, BadParameter> {
        let faults = match query.get("fault") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| {
                    Fault::from_name(name).ok_or_else(|| {
                        let known: Vec<_> = Fault::ALL.iter().map(|fault| fault.name()).collect();
                        BadParameter(format!(
                            "unknown fault {name:?}; known faults: {}",
                            known.join(", ")
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let plan = FaultPlan {
            faults,
            truncate_times: query.count("truncate_times", DEFAULT_TIMES)?,
            overlong_extra: query.byte_size("overlong_extra")?.unwrap_or(4096),
            html_times: query.count("html_times", DEFAULT_TIMES)?,
            wrong_times: query.count("wrong_times", DEFAULT_TIMES)?,
            status_times: query.count("status_times", DEFAULT_TIMES)?,
            stall_times: query.count("stall_times", DEFAULT_TIMES)?,
            stall_after: query.byte_size("stall_after")?.unwrap_or(0),
            unanswered_times: query.count("unanswered_times", DEFAULT_TIMES)?,
            trickle_rate: query.byte_size("trickle_rate")?.unwrap_or(1024),
            throttle_rate: query.byte_size("rate")?.unwrap_or(1 << 20),
            retry_after: query.count("retry_after", 1)?,
            retry_after_as_date: query.flag("retry_after_date"),
            change_after: query.byte_size("change_after")?,
            change_times: query.count("change_times", DEFAULT_TIMES)?,
            head_size: query.byte_size("head_size")?.unwrap_or(0),
            latency_ms: query.count("latency", 50)?,
            etag: query.get("etag").map(str::to_owned),
            disposition: query.get("disposition").map(str::to_owned),
        };
        if plan.has(Fault::Trickle) && plan.trickle_rate == 0 {
            return Err(BadParameter("trickle_rate must be at least 1".into()));
        }
        if plan.has(Fault::Throttle) && plan.throttle_rate == 0 {
            return Err(BadParameter("rate must be at least 1".into()));
        }
        Ok(plan)
    }

    pub(crate) fn has(&self, fault: Fault) -> bool {
        self.faults.contains(&fault)
    }

    /// Bytes per second every body is limited to, if any; the slower one
    /// wins when both `trickle` and `throttle` are given.
    pub(crate) fn pace(&self) -> Option<u64> {
        let trickle = self.has(Fault::Trickle).then_some(self.trickle_rate);
        let throttle = self.has(Fault::Throttle).then_some(self.throttle_rate);
        trickle.into_iter().chain(throttle).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(query: &str) -> Result<FaultPlan, BadParameter> {
        FaultPlan::parse(&Query::parse(Some(query)))
    }

    #[test]
    fn every_fault_name_round_trips() {
        for fault in Fault::ALL {
            assert_eq!(Fault::from_name(fault.name()), Some(fault));
        }
    }

    #[test]
    fn defaults_apply_and_unknown_faults_are_rejected_by_name() {
        let defaults = plan("fault=truncate,throttle").unwrap();
        assert!(defaults.has(Fault::Truncate) && !defaults.has(Fault::Stall));
        assert_eq!(defaults.truncate_times, 1);
        assert_eq!(defaults.pace(), Some(1 << 20));
        assert_eq!(
            plan("fault=throttle&rate=4M").unwrap().pace(),
            Some(4 << 20)
        );
        assert_eq!(
            plan("fault=throttle,trickle&rate=4M").unwrap().pace(),
            Some(1024)
        );
        let error = plan("fault=truncate,explode").unwrap_err();
        assert!(error.0.contains("\"explode\""), "{}", error.0);
        assert!(plan("fault=throttle&rate=0").is_err());
    }
}
