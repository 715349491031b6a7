//! HTTP Basic credentials written into a URL (`https://user:password@host/`),
//! sent as curl sends them: an `Authorization` header, never the URL's user
//! info itself, which HTTP/1.1 does not carry.

use base64::Engine as _;

use crate::netrc::Netrc;

/// Headers that carry credentials: the user's ones go only to the origin
/// they were given for (curl's rule since CVE-2018-1000007 and
/// CVE-2022-27776), not to wherever a redirect points.
pub const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// Whether the user's credential headers, given for `original`, may be
/// sent to `target`: only to the same scheme, host and port, unless the
/// user trusts every redirect target (`--location-trusted`).
pub fn credentials_may_follow(original: &url::Url, target: &url::Url, trusted: bool) -> bool {
    trusted
        || (original.scheme() == target.scheme()
            && original.host_str() == target.host_str()
            && original.port_or_known_default() == target.port_or_known_default())
}

/// Whether header `name` carries credentials.
pub fn is_credential_header(name: &str) -> bool {
    CREDENTIAL_HEADERS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name))
}

/// The `Authorization` value for the URL's user info; `None` without one.
pub fn basic_authorization_for(url: &url::Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let userinfo = format!("{}:{}", url.username(), url.password().unwrap_or(""));
    Some(basic_authorization(&userinfo))
}

/// `user:password`, still percent-encoded as URLs write it (`%40` for `@`).
pub fn basic_authorization(userinfo: &str) -> String {
    // Malformed escapes stay as written, as curl leaves them.
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(userinfo).collect();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(decoded)
    )
}

/// `--netrc` (`over_url`: its entry wins over the URL's user info) or
/// `--netrc-optional` (the URL's user info wins), with the file's entries.
#[derive(Clone, Debug)]
pub struct NetrcUse {
    pub netrc: Netrc,
    pub over_url: bool,
}

/// The `Authorization` a request to `url` carries, when the user gave no
/// `-H Authorization`: the URL's user info or the `.netrc` entry for the
/// request's own host, in the order `netrc` says; its `default` entry only
/// when `own_host` (the host the user asked for, not one a redirect leads to).
pub fn authorization_for(
    url: &url::Url,
    netrc: Option<&NetrcUse>,
    own_host: bool,
) -> Option<String> {
    let from_url = || basic_authorization_for(url);
    let from_netrc = || {
        let entry = netrc?.netrc.for_host(url.host_str()?, own_host)?;
        Some(basic_authorization(&entry.userinfo()))
    };
    match netrc {
        Some(NetrcUse { over_url: true, .. }) => from_netrc().or_else(from_url),
        _ => from_url().or_else(from_netrc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_credentials_go_to_their_host_in_curls_order() {
        let netrc =
            Netrc::parse("machine h login a password b\ndefault login d password e").unwrap();
        let url = |text: &str| url::Url::parse(text).unwrap();
        let basic = |userinfo: &str| Some(basic_authorization(userinfo));
        let optional = NetrcUse {
            netrc: netrc.clone(),
            over_url: false,
        };
        let mandatory = NetrcUse {
            netrc,
            over_url: true,
        };
        assert_eq!(
            authorization_for(&url("http://h/f"), Some(&optional), true),
            basic("a:b")
        );
        assert_eq!(
            authorization_for(&url("http://u:p@h/f"), Some(&optional), true),
            basic("u:p")
        );
        assert_eq!(
            authorization_for(&url("http://u:p@h/f"), Some(&mandatory), true),
            basic("a:b")
        );
        // `default` only for the host asked for; nothing for another.
        assert_eq!(
            authorization_for(&url("http://o/f"), Some(&optional), true),
            basic("d:e")
        );
        assert_eq!(
            authorization_for(&url("http://o/f"), Some(&optional), false),
            None
        );
        assert_eq!(authorization_for(&url("http://o/f"), None, true), None);
    }

    fn for_url(url: &str) -> Option<String> {
        basic_authorization_for(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn user_info_becomes_basic_credentials_with_escapes_decoded() {
        // base64("Aladdin:open sesame"), RFC 7617's example.
        assert_eq!(
            for_url("https://Aladdin:open%20sesame@example.com/f").as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        // base64("joe:s@fe:")
        assert_eq!(basic_authorization("joe:s%40fe%3A"), "Basic am9lOnNAZmU6");
        // A user without a password, as curl: "user:".
        assert_eq!(for_url("http://user@h/").as_deref(), Some("Basic dXNlcjo="));
    }

    #[test]
    fn credentials_stay_with_their_origin_unless_trusted() {
        let url = |u| url::Url::parse(u).unwrap();
        let original = url("http://a.example/f");
        assert!(credentials_may_follow(
            &original,
            &url("http://a.example:80/g?x"),
            false
        ));
        for elsewhere in [
            "http://b.example/f",
            "https://a.example/f",
            "http://a.example:81/f",
        ] {
            assert!(
                !credentials_may_follow(&original, &url(elsewhere), false),
                "{elsewhere}"
            );
            assert!(credentials_may_follow(&original, &url(elsewhere), true));
        }
        assert!(is_credential_header("COOKIE") && !is_credential_header("x-api"));
    }

    #[test]
    fn no_user_info_no_header_and_stray_percents_stay() {
        assert_eq!(for_url("https://example.com/f"), None);
        // base64("100%:x%zz")
        assert_eq!(basic_authorization("100%:x%zz"), "Basic MTAwJTp4JXp6");
    }
}
