//! One budget of requests in flight for a whole run, in all and per host:
//! many files at once never open more connections than asked, and small
//! files do not queue behind a big one (each file takes what its `-x`
//! allows, within the budget).

use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct Budget {
    total: usize,
    per_host: usize,
    in_flight: usize,
    by_host: BTreeMap<String, usize>,
    /// Requests ended so far: a driver that saw this move knows room was
    /// made since it last looked.
    ended: u64,
}

impl Budget {
    pub fn new(total: usize, per_host: usize) -> Budget {
        Budget {
            total: total.max(1),
            per_host: per_host.max(1),
            in_flight: 0,
            by_host: BTreeMap::new(),
            ended: 0,
        }
    }

    /// Whether a new request to `host` fits in the budget now.
    pub fn may_start(&self, host: &str) -> bool {
        self.in_flight < self.total && self.by_host.get(host).copied().unwrap_or(0) < self.per_host
    }

    /// Whether a request to `host` fits one over the budget: the spare slot
    /// a probe holding an answer may use to check it (a HEAD after a 200
    /// without validators), so that probes holding every slot never wait
    /// on each other. The native CLI allows for it (its cap is one more).
    pub fn may_start_spare(&self, host: &str) -> bool {
        self.in_flight <= self.total
            && self.by_host.get(host).copied().unwrap_or(0) <= self.per_host
    }

    /// A request to `host` went out.
    pub fn started(&mut self, host: &str) {
        self.in_flight += 1;
        *self.by_host.entry(host.to_string()).or_default() += 1;
    }

    /// A request to `host` is over.
    pub fn ended(&mut self, host: &str) {
        self.ended += 1;
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(count) = self.by_host.get_mut(host) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.by_host.remove(host);
            }
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// How many requests have ended since the budget was made (each made
    /// room for another).
    pub fn ended_count(&self) -> u64 {
        self.ended
    }
}

/// The host (and port, when given) a URL's requests go to: what the
/// per-host cap counts.
pub fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_all_and_per_host() {
        let mut b = Budget::new(3, 2);
        let (a, c) = (host_of("http://a/x"), host_of("http://c:81/y"));
        assert_eq!(a, "a:80");
        b.started(&a);
        b.started(&a);
        assert!(!b.may_start(&a), "per host");
        assert!(b.may_start(&c));
        b.started(&c);
        assert!(!b.may_start(&c), "in all");
        assert!(b.may_start_spare(&a), "one over, for a held answer");
        b.started(&a);
        assert!(!b.may_start_spare(&a), "only one over");
        b.ended(&a);
        b.ended(&a);
        assert!(b.may_start(&a) && b.may_start(&c));
        assert_eq!(b.in_flight(), 2);
        assert_eq!(
            b.ended_count(),
            2,
            "each end counted, for drivers waiting on room"
        );
    }
}
