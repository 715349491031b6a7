//! Which HTTP proxy a request goes through, read from the environment the
//! way curl reads it: `http_proxy` for http:// URLs, `https_proxy` (or
//! `HTTPS_PROXY`) for https:// ones, `all_proxy` (or `ALL_PROXY`) for
//! both, and `no_proxy` (or `NO_PROXY`) for the hosts to reach directly.
//! Uppercase `HTTP_PROXY` is ignored, as curl does: a CGI program sees a
//! client's `Proxy:` header under that name. `--proxy URL` stands for all
//! of them (curl's `-x`); `no_proxy` still applies. A proxy is `http://`,
//! `socks5://` (names resolved here) or `socks5h://` (the proxy resolves
//! them), with `user:password@` if it wants them.

use std::fmt;

use hyper::Uri;
use rangeget_core::credentials::basic_authorization;

/// How a proxy is spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP: absolute URLs for http://, `CONNECT` tunnels for https://.
    Http,
    /// SOCKS5 (RFC 1928) tunnels for both; `remote_dns` (`socks5h://`):
    /// the proxy resolves the host name, which never touches local DNS.
    Socks5 { remote_dns: bool },
}

/// A `scheme://[user:password@]host[:port]` proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    pub kind: ProxyKind,
    pub host: String,
    pub port: u16,
    /// An HTTP proxy's `Proxy-Authorization` value, when the URL carries
    /// credentials.
    pub authorization: Option<String>,
    /// A SOCKS5 proxy's user name and password (RFC 1929), decoded.
    pub login: Option<(String, String)>,
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credentials: this ends up in error messages.
        let kind = match self.kind {
            ProxyKind::Http => "proxy",
            ProxyKind::Socks5 { .. } => "SOCKS5 proxy",
        };
        write!(f, "{kind} {}:{}", self.host, self.port)
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
    /// The proxies of `--proxy` (`flag`) or else the environment.
    pub fn from_env(flag: Option<&str>) -> Result<ProxySettings, String> {
        ProxySettings::from_vars(flag, |name| std::env::var(name).ok())
    }

    /// `var` looks a variable up; empty values count as unset. `flag`
    /// (`--proxy`) is the proxy for every URL, as curl's `-x`.
    pub fn from_vars(
        flag: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<ProxySettings, String> {
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
        let given = flag.map(|value| ("--proxy", value.to_string()));
        let all = parse(given.clone().or_else(|| first(&["all_proxy", "ALL_PROXY"])))?;
        let (http, https) = match given {
            Some(_) => (all.clone(), all),
            None => (
                parse(first(&["http_proxy"]))?.or_else(|| all.clone()),
                parse(first(&["https_proxy", "HTTPS_PROXY"]))?.or(all),
            ),
        };
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
        let mut any = false;
        for proxy in [&mut self.http, &mut self.https].into_iter().flatten() {
            if proxy.kind == ProxyKind::Http {
                proxy.authorization = Some(authorization.to_string());
                any = true;
            }
        }
        any
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
    let kind = match uri.scheme_str() {
        Some("http") => ProxyKind::Http,
        Some("socks5") => ProxyKind::Socks5 { remote_dns: false },
        Some("socks5h") => ProxyKind::Socks5 { remote_dns: true },
        other => {
            return Err(format!(
                "only http://, socks5:// and socks5h:// proxies are supported, not {}://",
                other.unwrap_or("?")
            ))
        }
    };
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
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let login = credentials.map(|userinfo| {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        (decode(user), decode(password))
    });
    let (authorization, login) = match kind {
        ProxyKind::Http => (credentials.map(basic_authorization), None),
        ProxyKind::Socks5 { .. } => (None, login),
    };
    Ok(Proxy {
        kind,
        host: host.to_string(),
        port: authority.port_u16().unwrap_or(1080),
        authorization,
        login,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<ProxySettings, String> {
        ProxySettings::from_vars(None, |name| {
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
    fn socks5_proxies_take_their_login_and_proxy_side_dns_from_the_scheme() {
        let s = settings(&[
            ("all_proxy", "socks5h://u%40c:p%3Aw@sp:9050"),
            ("no_proxy", "in"),
        ])
        .unwrap();
        let proxy = s.for_uri(&"https://a.test/".parse().unwrap()).unwrap();
        assert_eq!(proxy.kind, ProxyKind::Socks5 { remote_dns: true });
        assert_eq!(proxy.login, Some(("u@c".into(), "p:w".into())));
        assert_eq!((proxy.authorization.as_deref(), proxy.port), (None, 9050));
        assert_eq!(proxy.to_string(), "SOCKS5 proxy sp:9050");
        let local = settings(&[("http_proxy", "socks5://sp")]).unwrap();
        let proxy = local.for_uri(&"http://a.test/".parse().unwrap()).unwrap();
        assert_eq!(
            (proxy.kind, proxy.port),
            (ProxyKind::Socks5 { remote_dns: false }, 1080)
        );
        // -H Proxy-Authorization is an HTTP proxy's only.
        assert!(!settings(&[("all_proxy", "socks5://sp")])
            .unwrap()
            .authorize("Basic x"));
    }

    #[test]
    fn the_proxy_flag_wins_over_every_variable_and_no_proxy_still_applies() {
        let vars = |name: &str| match name {
            "http_proxy" => Some("http://env:1".to_string()),
            "no_proxy" => Some("direct.test".to_string()),
            _ => None,
        };
        let s = ProxySettings::from_vars(Some("socks5h://flag:2"), vars).unwrap();
        assert_eq!(proxy_host(&s, "http://a.test/").as_deref(), Some("flag:2"));
        assert_eq!(proxy_host(&s, "https://a.test/").as_deref(), Some("flag:2"));
        assert_eq!(proxy_host(&s, "http://direct.test/"), None);
        let error = ProxySettings::from_vars(Some("ftp://x"), vars).unwrap_err();
        assert!(error.starts_with("--proxy=ftp://x"), "{error}");
    }

    #[test]
    fn unsupported_proxies_are_refused_with_the_variable_named() {
        let error = settings(&[("https_proxy", "socks4://127.0.0.1:1080")]).unwrap_err();
        assert!(error.starts_with("https_proxy=socks4://"), "{error}");
        assert!(error.contains("only http://, socks5://"), "{error}");
        assert_eq!(
            settings(&[("http_proxy", "  ")]).unwrap(),
            ProxySettings::default()
        );
    }
}
