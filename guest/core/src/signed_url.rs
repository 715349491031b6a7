//! Which changes of a URL leave it naming the same object: a link re-signed
//! by its issuer (S3, CloudFront, Google Cloud Storage, Azure SAS, a CDN's
//! token) differs from the old one only in its signature and expiry
//! parameters. Any other change of the query may name another object: an
//! export `/q?id=1` and `/q?id=2` can share size, `ETag` and
//! `Last-Modified` (a server that derives its ETag from time and size), so
//! equal validators do not prove the object is the same.

/// Query parameters that sign or date a link, compared without regard to
/// case: whole names, and prefixes (`X-Amz-*`).
const SIGNATURE_NAMES: &[&str] = &[
    // CloudFront, S3 (signature version 2), Aliyun OSS.
    "signature",
    "expires",
    "key-pair-id",
    "policy",
    "awsaccesskeyid",
    "ossaccesskeyid",
    // Google Cloud Storage (V2).
    "googleaccessid",
    // Azure SAS: version, services, resource types, permissions, start,
    // expiry, protocol, resource, identifier, signature, and the user
    // delegation key's fields.
    "sv",
    "ss",
    "srt",
    "sp",
    "st",
    "se",
    "spr",
    "sr",
    "si",
    "sig",
    "skoid",
    "sktid",
    "skt",
    "ske",
    "sks",
    "skv",
    // Bearer tokens of CDNs and storage front ends (GitHub's release
    // assets carry a `jwt`).
    "token",
    "jwt",
];

/// Prefixes of signing parameters: S3 (signature version 4), Google Cloud
/// Storage (V4), Aliyun OSS (V4).
const SIGNATURE_PREFIXES: &[&str] = &["x-amz-", "x-goog-", "x-oss-"];

/// Whether query parameter `name` signs or dates a link rather than naming
/// what it points to.
pub fn is_signature_parameter(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SIGNATURE_NAMES.contains(&lower.as_str())
        || SIGNATURE_PREFIXES
            .iter()
            .any(|prefix| lower.starts_with(prefix))
}

/// How two URLs of a download differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlChange {
    /// Equal, or re-signed: only signature and expiry parameters differ.
    SameObject,
    /// Another scheme, host, port or path.
    OtherPath,
    /// The same path with another query: `names` are the parameters (not
    /// signing ones) that were added, removed or changed.
    OtherQuery { names: Vec<String> },
}

/// Compares the URL a download was started from with the one it goes on
/// with. Fragments are never sent, so they do not count. Parameters other
/// than signing ones must be equal and in the same order; a URL that does
/// not parse differs unless it is the same text.
pub fn url_change(saved: &str, now: &str) -> UrlChange {
    if saved == now {
        return UrlChange::SameObject;
    }
    let (Ok(saved), Ok(now)) = (url::Url::parse(saved), url::Url::parse(now)) else {
        return UrlChange::OtherPath;
    };
    let without_query = |url: &url::Url| {
        let mut url = url.clone();
        url.set_query(None);
        url.set_fragment(None);
        url
    };
    if without_query(&saved) != without_query(&now) {
        return UrlChange::OtherPath;
    }
    let naming = |url: &url::Url| -> Vec<(String, String)> {
        url.query_pairs()
            .filter(|(name, _)| !is_signature_parameter(name))
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    };
    let (before, after) = (naming(&saved), naming(&now));
    if before == after {
        return UrlChange::SameObject;
    }
    let mut names: Vec<String> = Vec::new();
    for (name, _) in before
        .iter()
        .filter(|pair| !after.contains(pair))
        .chain(after.iter().filter(|pair| !before.contains(pair)))
    {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    if names.is_empty() {
        // The same parameters in another order.
        names = after.into_iter().map(|(name, _)| name).collect();
        names.dedup();
    }
    UrlChange::OtherQuery { names }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_re_signed_link_names_the_same_object() {
        for (saved, now) in [
            (
                "https://b.s3.amazonaws.com/k?X-Amz-Date=1&X-Amz-Signature=a&X-Amz-Expires=300",
                "https://b.s3.amazonaws.com/k?X-Amz-Date=2&X-Amz-Signature=b&X-Amz-Expires=300",
            ),
            (
                "https://d.cloudfront.net/f?Expires=1&Signature=a&Key-Pair-Id=K",
                "https://d.cloudfront.net/f?Expires=2&Signature=b&Key-Pair-Id=K",
            ),
            (
                "https://a.blob.core.windows.net/c/b?sp=r&st=1&se=2&sv=2022&sr=b&sig=x",
                "https://a.blob.core.windows.net/c/b?sp=r&st=3&se=4&sv=2022&sr=b&sig=y",
            ),
            // Other parameters stay: only the signature changes.
            (
                "https://h/f?response-content-type=a&X-Amz-Signature=1",
                "https://h/f?response-content-type=a&X-Amz-Signature=2",
            ),
            ("http://h/f?token=1", "http://h/f?token=2#part"),
            ("http://h/f", "http://h/f?sig=2"),
        ] {
            assert_eq!(url_change(saved, now), UrlChange::SameObject, "{now}");
        }
    }

    #[test]
    fn any_other_change_of_the_query_may_name_another_object() {
        assert_eq!(
            url_change("http://h/q?id=1", "http://h/q?id=2"),
            UrlChange::OtherQuery {
                names: vec!["id".into()]
            }
        );
        assert_eq!(
            url_change("http://h/q?id=1&sig=a", "http://h/q?id=1&v=2&sig=b"),
            UrlChange::OtherQuery {
                names: vec!["v".into()]
            }
        );
        assert_eq!(
            url_change("http://h/q?a=1&b=2", "http://h/q?b=2&a=1"),
            UrlChange::OtherQuery {
                names: vec!["b".into(), "a".into()]
            }
        );
        assert_eq!(url_change("http://h/q", "http://h/r"), UrlChange::OtherPath);
        assert_eq!(url_change("http://h/q", "http://g/q"), UrlChange::OtherPath);
        assert_eq!(url_change("not a url", "neither"), UrlChange::OtherPath);
    }

    #[test]
    fn signing_parameters_are_recognised_whatever_their_case() {
        for name in [
            "X-Amz-Credential",
            "x-goog-signature",
            "Signature",
            "SIG",
            "se",
        ] {
            assert!(is_signature_parameter(name), "{name}");
        }
        for name in ["id", "version", "file", "response-content-type", "amz"] {
            assert!(!is_signature_parameter(name), "{name}");
        }
    }
}
