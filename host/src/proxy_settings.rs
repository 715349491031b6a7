//! Which HTTP proxy a request goes through, read from the environment the
//! way curl reads it: `http_proxy` for http:// URLs, `https_proxy` (or
//! `HTTPS_PROXY`) for https:// ones, `all_proxy` (or `ALL_PROXY`) for
//! both, and `no_proxy` (or `NO_PROXY`) for the hosts to reach directly.
//! Uppercase `HTTP_PROXY` is ignored, as curl does: a CGI program sees a
//! client's `Proxy:` header under that name.

use std::fmt;

use hyper::Uri;
use rangeget_core::credentials::basic_authorization;

/// An `http://[user:password@]host[:port]` proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
    /// The `Proxy-Authorization` value, when the URL carries credentials.
    pub authorization: Option<String>,
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credentials: this ends up in error messages.
        write!(f, "proxy {}:{}", self.host, self.port)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxySettings {
    http: Option<Proxy>,
    https: Option<Proxy>,
    /// Lowercase host names or addresses, without a leading dot.
    no_proxy: Vec<String>,
    no_proxy_at_all: bool,
}

impl ProxySettings {
    pub fn from_env() -> Result<ProxySettings, String> {
        ProxySettings::from_vars(|name| std::env::var(name).ok())
    }

    /// `var` looks a variable up; empty values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<ProxySettings, String> {
        let first = |names: &[&'static str]| {
            names.iter().find_map(|name| {
                var(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (*name, v))
            })
        };
        let parse = |found: Option<(&'static str, String)>| {
            found
                .map(|(name, value)| {
                    parse_proxy(value.trim()).map_err(|why| format!("{name}={value}: {why}"))
                })
                .transpose()
        };
        let all = parse(first(&["all_proxy", "ALL_PROXY"]))?;
        let http = parse(first(&["http_proxy"]))?.or_else(|| all.clone());
        let https = parse(first(&["https_proxy", "HTTPS_PROXY"]))?.or(all);
        let no_proxy: Vec<String> = first(&["no_proxy", "NO_PROXY"])
            .map(|(_, list)| {
                list.split(',')
                    .map(|entry| entry.trim().trim_start_matches('.').to_ascii_lowercase())
                    .filter(|entry| !entry.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(ProxySettings {
            http,
            https,
            no_proxy_at_all: no_proxy.iter().any(|entry| entry == "*"),
            no_proxy,
        })
    }

    /// Sends `authorization` (a `-H 'Proxy-Authorization: …'`) to every
    /// proxy, in place of credentials in the proxy URLs; whether any proxy
    /// is set to receive it.
    pub fn authorize(&mut self, authorization: &str) -> bool {
        for proxy in [&mut self.http, &mut self.https].into_iter().flatten() {
            proxy.authorization = Some(authorization.to_string());
        }
        self.http.is_some() || self.https.is_some()
    }

    /// The proxy for `uri`, if any.
    pub fn for_uri(&self, uri: &Uri) -> Option<&Proxy> {
        let proxy = match uri.scheme_str() {
            Some("https") => self.https.as_ref(),
            _ => self.http.as_ref(),
        }?;
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        (!self.bypasses(host)).then_some(proxy)
    }

    /// `no_proxy` entries match the host itself and every name under it
    /// (`example.com` and `.example.com` both cover `a.example.com`).
    fn bypasses(&self, host: &str) -> bool {
        if self.no_proxy_at_all {
            return true;
        }
        let host = host.to_ascii_lowercase();
        self.no_proxy.iter().any(|entry| {
            let entry = strip_port(entry);
            host == entry
                || host
                    .strip_suffix(entry)
                    .is_some_and(|head| head.ends_with('.'))
        })
    }
}

fn strip_port(entry: &str) -> &str {
    match entry.rsplit_once(':') {
        // Not the colons of a bare IPv6 address.
        Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
        _ => entry.trim_start_matches('[').trim_end_matches(']'),
    }
}

fn parse_proxy(value: &str) -> Result<Proxy, String> {
    // curl takes a bare `host:port` as http://.
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let uri: Uri = with_scheme
        .parse()
        .map_err(|e| format!("not a proxy URL ({e})"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "only http:// proxies are supported, not {}://",
            uri.scheme_str().unwrap_or("?")
        ));
    }
    let authority = uri.authority().ok_or("no proxy host")?;
    let credentials = authority
        .as_str()
        .rsplit_once('@')
        .map(|(userinfo, _)| userinfo);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err("no proxy host".into());
    }
    Ok(Proxy {
        host: host.to_string(),
        port: authority.port_u16().unwrap_or(1080),
        authorization: credentials.map(basic_authorization),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<ProxySettings, String> {
        ProxySettings::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn proxy_host(settings: &ProxySettings, url: &str) -> Option<String> {
        settings
            .for_uri(&url.parse().unwrap())
            .map(|p| format!("{}:{}", p.host, p.port))
    }

    #[test]
    fn each_scheme_has_its_own_variable_and_all_proxy_fills_the_gaps() {
        let s = settings(&[
            ("http_proxy", "plain:3128"),
            ("ALL_PROXY", "http://both:8080"),
        ])
        .unwrap();
        assert_eq!(
            proxy_host(&s, "http://a.test/x").as_deref(),
            Some("plain:3128")
        );
        assert_eq!(
            proxy_host(&s, "https://a.test/x").as_deref(),
            Some("both:8080")
        );
    }

    #[test]
    fn uppercase_http_proxy_is_ignored_like_curl() {
        let s = settings(&[("HTTP_PROXY", "http://cgi-header:1")]).unwrap();
        assert_eq!(proxy_host(&s, "http://a.test/"), None);
    }

    #[test]
    fn no_proxy_covers_the_host_and_names_under_it() {
        let s = settings(&[
            ("https_proxy", "http://p:3128"),
            ("no_proxy", "example.com, .internal,10.0.0.1:443,[::1]"),
        ])
        .unwrap();
        for direct in [
            "https://example.com/",
            "https://dl.example.com/",
            "https://x.internal/",
            "https://10.0.0.1/",
            "https://[::1]/",
        ] {
            assert_eq!(proxy_host(&s, direct), None, "{direct}");
        }
        for proxied in ["https://notexample.com/", "https://example.com.evil/"] {
            assert_eq!(
                proxy_host(&s, proxied).as_deref(),
                Some("p:3128"),
                "{proxied}"
            );
        }
        let all = settings(&[("https_proxy", "p:1"), ("NO_PROXY", "*")]).unwrap();
        assert_eq!(proxy_host(&all, "https://a.test/"), None);
    }

    #[test]
    fn credentials_become_a_basic_authorization_and_stay_out_of_messages() {
        let s = settings(&[("http_proxy", "http://user%40corp:p%3Ass@proxy:3128")]).unwrap();
        let proxy = s.for_uri(&"http://a.test/".parse().unwrap()).unwrap();
        // base64("user@corp:p:ss")
        assert_eq!(
            proxy.authorization.as_deref(),
            Some("Basic dXNlckBjb3JwOnA6c3M=")
        );
        assert_eq!(proxy.to_string(), "proxy proxy:3128");
    }

    #[test]
    fn unsupported_proxies_are_refused_with_the_variable_named() {
        let error = settings(&[("https_proxy", "socks5://127.0.0.1:1080")]).unwrap_err();
        assert!(error.starts_with("https_proxy=socks5://"), "{error}");
        assert!(error.contains("only http://"), "{error}");
        assert_eq!(
            settings(&[("http_proxy", "  ")]).unwrap(),
            ProxySettings::default()
        );
    }
}
