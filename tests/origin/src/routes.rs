//! The URL paths the origin answers, parsed into what they mean.

/// Where a request path leads. Names are the raw path text, not
/// percent-decoded, so any URL maps to exactly one object.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `/o/{name}`: the object itself.
    Object {
        name: &'a str,
    },
    /// `/twin/{name}`: another object under the same size, `ETag` and
    /// `Last-Modified` as `/o/{name}` (a mirror holding another version of
    /// the file): the same bytes before `size / 2`, every byte complemented
    /// from there on.
    Twin {
        name: &'a str,
    },
    /// `/meta4/{name}.meta4?size=N&piece=L&src=URL&src=URL…`: a Metalink of
    /// object `name` (its SHA-256, and pieces of `piece` bytes if given;
    /// `nohash=1` leaves the hashes out) listing the `src` URLs in order,
    /// for a downloader given a `.meta4` URL.
    Metalink {
        name: &'a str,
    },
    /// `/r/{n}/{rest}` (relative `Location`) or `/ra/{n}/{rest}` (absolute):
    /// redirects to `n - 1`, and at 0 to `/o/{rest}`.
    Redirect {
        hops_left: u32,
        rest: &'a str,
        absolute: bool,
    },
    /// `/elsewhere/{authority}/{rest}`: redirects to
    /// `http://{authority}/{rest}`, another host (`localhost:PORT`, say).
    Elsewhere {
        authority: &'a str,
        rest: &'a str,
    },
    /// `/presign/{ms}/{name}`: redirects to a link signed now that lasts
    /// `ms` milliseconds, `/signed/{issued}/{ms}/{name}` (as GitHub's
    /// release assets and S3's presigned links do).
    Presign {
        lifetime_ms: u64,
        name: &'a str,
    },
    /// `/signed/{issued}/{ms}/{name}`: object `name` until `issued + ms`
    /// (Unix milliseconds), then 403.
    Signed {
        expires_ms: u64,
        name: &'a str,
    },
    /// `/loop/{name}`: redirects to itself forever.
    Loop,
    /// `GET /_stats`
    Stats,
    /// `POST /_replace/{name}`
    Replace {
        name: &'a str,
    },
    NotFound,
}

impl<'a> Route<'a> {
    pub(crate) fn parse(path: &'a str) -> Route<'a> {
        let non_empty = |text: &'a str| (!text.is_empty()).then_some(text);
        if let Some(name) = path.strip_prefix("/o/").and_then(non_empty) {
            return Route::Object { name };
        }
        if let Some(name) = path.strip_prefix("/twin/").and_then(non_empty) {
            return Route::Twin { name };
        }
        if let Some(name) = path
            .strip_prefix("/meta4/")
            .and_then(|t| t.strip_suffix(".meta4"))
            .and_then(non_empty)
        {
            return Route::Metalink { name };
        }
        if let Some(name) = path.strip_prefix("/_replace/").and_then(non_empty) {
            return Route::Replace { name };
        }
        if path.strip_prefix("/loop/").and_then(non_empty).is_some() {
            return Route::Loop;
        }
        if let Some((authority, rest)) = path
            .strip_prefix("/elsewhere/")
            .and_then(|tail| tail.split_once('/'))
        {
            if !authority.is_empty() {
                return Route::Elsewhere { authority, rest };
            }
        }
        if let Some((lifetime, name)) = path
            .strip_prefix("/presign/")
            .and_then(|t| t.split_once('/'))
        {
            if let (Ok(lifetime_ms), Some(name)) = (lifetime.parse(), non_empty(name)) {
                return Route::Presign { lifetime_ms, name };
            }
        }
        if let Some(tail) = path.strip_prefix("/signed/") {
            let mut parts = tail.splitn(3, '/');
            let (issued, lifetime, name) = (parts.next(), parts.next(), parts.next());
            let number = |text: Option<&str>| text.and_then(|t| t.parse::<u64>().ok());
            if let (Some(issued), Some(lifetime), Some(name)) =
                (number(issued), number(lifetime), name.and_then(non_empty))
            {
                let expires_ms = issued.saturating_add(lifetime);
                return Route::Signed { expires_ms, name };
            }
        }
        if path == "/_stats" {
            return Route::Stats;
        }
        for (prefix, absolute) in [("/r/", false), ("/ra/", true)] {
            let Some(hops_and_rest) = path.strip_prefix(prefix) else {
                continue;
            };
            let Some((hops, rest)) = hops_and_rest.split_once('/') else {
                break;
            };
            if let (Ok(hops_left), Some(rest)) = (hops.parse(), non_empty(rest)) {
                return Route::Redirect {
                    hops_left,
                    rest,
                    absolute,
                };
            }
        }
        Route::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(
            Route::parse("/o/data.bin"),
            Route::Object { name: "data.bin" }
        );
        assert_eq!(Route::parse("/o/a/b"), Route::Object { name: "a/b" });
        assert_eq!(Route::parse("/twin/a/b"), Route::Twin { name: "a/b" });
        assert_eq!(
            Route::parse("/r/3/data.bin"),
            Route::Redirect {
                hops_left: 3,
                rest: "data.bin",
                absolute: false
            }
        );
        assert_eq!(
            Route::parse("/ra/0/x"),
            Route::Redirect {
                hops_left: 0,
                rest: "x",
                absolute: true
            }
        );
        assert_eq!(Route::parse("/loop/x"), Route::Loop);
        assert_eq!(
            Route::parse("/elsewhere/localhost:9/o/x"),
            Route::Elsewhere {
                authority: "localhost:9",
                rest: "o/x"
            }
        );
        assert_eq!(
            Route::parse("/presign/2000/x"),
            Route::Presign {
                lifetime_ms: 2000,
                name: "x"
            }
        );
        assert_eq!(
            Route::parse("/signed/10/5/a/b"),
            Route::Signed {
                expires_ms: 15,
                name: "a/b"
            }
        );
        assert_eq!(Route::parse("/_stats"), Route::Stats);
        assert_eq!(Route::parse("/_replace/x"), Route::Replace { name: "x" });
        for unknown in ["/", "/o/", "/twin/", "/r/x/y", "/r/1/", "/r/1", "/other"] {
            assert_eq!(Route::parse(unknown), Route::NotFound, "{unknown}");
        }
    }
}
