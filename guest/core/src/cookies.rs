//! Cookies, kept as RFC 6265 says: those of a `--load-cookies` file
//! (Netscape format, as curl, wget and aria2c write it) and those that
//! answers set during the run, sent by their domain, path, `Secure` flag
//! and expiry, never to a host outside their domain; written back in the
//! same format by `--save-cookies`.

/// One cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    /// Lowercase, without a leading dot.
    pub domain: String,
    /// Sent to the domain's subdomains as well (a `Domain` attribute, or
    /// `TRUE` in a Netscape file); otherwise to that host only.
    pub subdomains: bool,
    pub path: String,
    pub secure: bool,
    /// Unix seconds; `None`: a session cookie, gone with the run (but
    /// saved by `--save-cookies`, as curl does).
    pub expires: Option<u64>,
}

impl Cookie {
    fn matches(&self, host: &str, path: &str, https: bool, now: u64) -> bool {
        let host_ok = if self.subdomains {
            domain_matches(host, &self.domain)
        } else {
            host == self.domain
        };
        host_ok
            && path_matches(path, &self.path)
            && (https || !self.secure)
            && self.expires.is_none_or(|at| at > now)
    }
}

/// A run's cookies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

impl CookieJar {
    /// Reads a Netscape cookie file: `domain TAB subdomains TAB path TAB
    /// secure TAB expires TAB name TAB value` per line, `#` comments
    /// (curl's `#HttpOnly_` prefix is read as the domain's mark).
    pub fn parse_netscape(text: &str) -> Result<CookieJar, String> {
        let mut jar = CookieJar::default();
        for (at, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [domain, subdomains, path, secure, expires, name, value] = fields[..] else {
                return Err(format!(
                    "line {}: not 7 fields separated by tabs (domain, subdomains, path, secure, \
                     expiry, name, value)",
                    at + 1
                ));
            };
            let expires: u64 = expires
                .parse()
                .map_err(|_| format!("line {}: expiry {expires:?} is not a number", at + 1))?;
            jar.put(Cookie {
                name: name.to_string(),
                value: value.to_string(),
                domain: domain.trim_start_matches('.').to_ascii_lowercase(),
                subdomains: subdomains.eq_ignore_ascii_case("TRUE"),
                path: path.to_string(),
                secure: secure.eq_ignore_ascii_case("TRUE"),
                expires: (expires != 0).then_some(expires),
            });
        }
        Ok(jar)
    }

    /// The jar in Netscape format, expired cookies left out.
    pub fn to_netscape(&self, now: u64) -> String {
        let mut text = String::from("# Netscape HTTP Cookie File\n# Written by rangeget.\n\n");
        for c in self
            .cookies
            .iter()
            .filter(|c| c.expires.is_none_or(|at| at > now))
        {
            let flag = |set: bool| if set { "TRUE" } else { "FALSE" };
            let domain = match c.subdomains {
                true => format!(".{}", c.domain),
                false => c.domain.clone(),
            };
            text.push_str(&format!(
                "{domain}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                flag(c.subdomains),
                c.path,
                flag(c.secure),
                c.expires.unwrap_or(0),
                c.name,
                c.value
            ));
        }
        text
    }

    /// Keeps the cookies `set_cookies` (the `Set-Cookie` values of an
    /// answer from `url`) set at `now`, as RFC 6265 §5.3 says: a `Domain`
    /// that does not cover the host is refused, `Max-Age` wins over
    /// `Expires`, a past expiry deletes.
    pub fn store<'a>(&mut self, url: &str, set_cookies: impl Iterator<Item = &'a str>, now: u64) {
        let Ok(url) = url::Url::parse(url) else {
            return;
        };
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return;
        };
        for line in set_cookies {
            if let Some(cookie) = parse_set_cookie(line, &host, url.path(), now) {
                self.put(cookie);
            }
        }
    }

    fn put(&mut self, cookie: Cookie) {
        self.cookies.retain(|c| {
            (&c.name, &c.domain, &c.path) != (&cookie.name, &cookie.domain, &cookie.path)
        });
        if cookie.expires.is_none_or(|at| at > 0) {
            self.cookies.push(cookie);
        }
    }

    /// Whether the jar holds no cookie (then nothing is looked up).
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// The `Cookie` header for a request to `url` at `now`: longer paths
    /// first, as RFC 6265 §5.4 asks; `None` when no cookie applies.
    pub fn header_for(&self, url: &url::Url, now: u64) -> Option<String> {
        let host = url.host_str()?.to_ascii_lowercase();
        let https = url.scheme() == "https";
        let mut sent: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| c.matches(&host, url.path(), https, now))
            .collect();
        if sent.is_empty() {
            return None;
        }
        sent.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let pairs: Vec<String> = sent
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        Some(pairs.join("; "))
    }
}

/// One `Set-Cookie` value from `host` for a request to `request_path`.
fn parse_set_cookie(line: &str, host: &str, request_path: &str, now: u64) -> Option<Cookie> {
    let mut parts = line.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let mut cookie = Cookie {
        name: name.to_string(),
        value: value.trim().to_string(),
        domain: host.to_string(),
        subdomains: false,
        path: default_path(request_path),
        secure: false,
        expires: None,
    };
    let mut max_age = None;
    for attribute in parts {
        let (key, value) = attribute.split_once('=').unwrap_or((attribute, ""));
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "domain" if !value.is_empty() => {
                let domain = value.trim_start_matches('.').to_ascii_lowercase();
                // Never for a host outside the one that set it.
                if !domain_matches(host, &domain) {
                    return None;
                }
                cookie.domain = domain;
                cookie.subdomains = true;
            }
            "path" if value.starts_with('/') => cookie.path = value.to_string(),
            "secure" => cookie.secure = true,
            "max-age" => {
                max_age = value.parse::<i64>().ok().map(|secs| {
                    if secs <= 0 {
                        0
                    } else {
                        now.saturating_add(secs as u64)
                    }
                });
            }
            "expires" => {
                if let Ok(at) = httpdate::parse_http_date(value) {
                    let secs = at
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    cookie.expires = Some(if secs <= now { 0 } else { secs });
                }
            }
            _ => {}
        }
    }
    if max_age.is_some() {
        cookie.expires = max_age;
    }
    Some(cookie)
}

/// RFC 6265 §5.1.3: `host` is `domain` or a name under it (not an IP
/// address under a "domain" of its last digits).
fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.ends_with(domain)
            && host[..host.len() - domain.len()].ends_with('.')
            && host.parse::<std::net::IpAddr>().is_err())
}

/// RFC 6265 §5.1.4.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/')))
}

/// RFC 6265 §5.1.4: the directory of the request's path.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(at) => request_path[..at].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    fn stored(url: &str, lines: &[&str]) -> CookieJar {
        let mut jar = CookieJar::default();
        jar.store(url, lines.iter().copied(), NOW);
        jar
    }

    #[test]
    fn cookies_go_by_domain_path_secure_and_expiry() {
        let jar = stored(
            "https://dl.example.com/files/a.bin",
            &[
                "host=1",
                "wide=2; Domain=.example.com; Path=/",
                "safe=3; Secure; Path=/",
                "old=4; Max-Age=0",
                "evil=5; Domain=other.com",
            ],
        );
        let header = |url: &str| jar.header_for(&url::Url::parse(url).unwrap(), NOW);
        assert_eq!(
            header("https://dl.example.com/files/b").as_deref(),
            Some("host=1; wide=2; safe=3")
        );
        // Another path, plain http, another subdomain, another domain.
        assert_eq!(
            header("http://dl.example.com/other").as_deref(),
            Some("wide=2")
        );
        // Without a Domain, a cookie is its host's only.
        assert_eq!(
            header("https://cdn.example.com/x").as_deref(),
            Some("wide=2")
        );
        assert_eq!(header("https://other.com/x"), None);
        assert_eq!(header("https://badexample.com/x"), None);
    }

    #[test]
    fn a_cookie_file_is_read_and_written_back_and_expired_ones_go() {
        let text = "# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tFALSE\t0\ts\tv\n\
                    #HttpOnly_h.test\tFALSE\t/p\tTRUE\t1800000000\tk\tw\n\
                    h.test\tFALSE\t/\tFALSE\t1000\tgone\tx\n";
        let jar = CookieJar::parse_netscape(text).unwrap();
        assert_eq!(
            jar.header_for(&url("http://a.example.com/"), NOW)
                .as_deref(),
            Some("s=v")
        );
        assert_eq!(
            jar.header_for(&url("https://h.test/p/x"), NOW).as_deref(),
            Some("k=w")
        );
        let again = CookieJar::parse_netscape(&jar.to_netscape(NOW)).unwrap();
        assert_eq!(
            again.header_for(&url("https://h.test/p/x"), NOW).as_deref(),
            Some("k=w")
        );
        assert!(!jar.to_netscape(NOW).contains("gone"));
        assert!(CookieJar::parse_netscape("a\tb\n")
            .unwrap_err()
            .starts_with("line 1"));
    }

    #[test]
    fn a_later_cookie_replaces_an_earlier_and_expires_deletes() {
        let mut jar = stored("http://h/a", &["k=1; Path=/"]);
        jar.store("http://h/a", ["k=2; Path=/"].into_iter(), NOW);
        assert_eq!(
            jar.header_for(&url("http://h/"), NOW).as_deref(),
            Some("k=2")
        );
        jar.store(
            "http://h/a",
            ["k=x; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT"].into_iter(),
            NOW,
        );
        assert_eq!(jar.header_for(&url("http://h/"), NOW), None);
    }
}
