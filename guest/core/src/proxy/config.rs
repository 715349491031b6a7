//! The proxy's settings, as the host's `wasi:config/store` holds them
//! (see `component::settings`), checked.

use crate::fetch::{Settings, Spec};
use crate::request::RequestRules;
use crate::size::{format_size, parse_size};

use super::origin_path::OriginPrefix;

/// Range requests in flight per incoming request, unless `CONNECTIONS` says.
pub const DEFAULT_CONNECTIONS: usize = 4;
/// Bytes per range request, unless `CHUNK_SIZE` says.
pub const DEFAULT_CHUNK_SIZE: u64 = 1 << 20;
const MAX_CONNECTIONS: usize = 64;
/// Memory per incoming request is up to connections × chunk size; this
/// keeps one setting from asking for gigabytes.
const MAX_CHUNK_SIZE: u64 = 64 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `ORIGIN`: every request goes under this prefix, and nowhere else.
    pub origin: OriginPrefix,
    /// `CONNECTIONS` (1–64): range requests in flight, and the reorder
    /// window in chunks.
    pub connections: usize,
    /// `CHUNK_SIZE` (`512K`, `4M`, ...): bytes per range request.
    pub chunk_size: u64,
    /// `VERBOSE=1`: log every origin request and response on stderr.
    pub verbose: bool,
}

impl ProxyConfig {
    /// How the origin's `url` is fetched for a client: redirects are
    /// followed only while they stay under the prefix.
    pub fn fetch_spec(&self, url: String, seed: u64) -> Spec {
        Spec {
            url,
            settings: Settings {
                connections: self.connections,
                rules: RequestRules {
                    scope: Some(self.origin.display()),
                    ..RequestRules::default()
                },
                seed,
                ..Settings::default()
            },
            chunk_size: Some(self.chunk_size),
            free_space: None,
            rate_limit: None,
            mirrors: Default::default(),
        }
    }

    /// Reads the settings from environment variables; the error says which
    /// one is wrong and what it should look like.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        // Names without regard to case: Spin's variables are lowercase.
        let get = |name: &str| {
            vars.iter()
                .rev()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let origin = get("ORIGIN").ok_or(
            "ORIGIN is not set; give the component ORIGIN=https://host/prefix in its configuration \
             (wasi:config: e.g. wasmtime serve -S config -S config-var=ORIGIN=…)",
        )?;
        let origin = OriginPrefix::parse(origin)?;
        let connections = match get("CONNECTIONS") {
            None => DEFAULT_CONNECTIONS,
            Some(text) => text
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=MAX_CONNECTIONS).contains(n))
                .ok_or_else(|| {
                    format!("CONNECTIONS={text:?} must be a number from 1 to {MAX_CONNECTIONS}")
                })?,
        };
        let chunk_size = match get("CHUNK_SIZE") {
            None => DEFAULT_CHUNK_SIZE,
            Some(text) => parse_size(text)
                .map_err(|e| format!("CHUNK_SIZE: {e}"))
                .and_then(|size| {
                    (1..=MAX_CHUNK_SIZE)
                        .contains(&size)
                        .then_some(size)
                        .ok_or(format!(
                            "CHUNK_SIZE={text:?} must be between 1 byte and {}",
                            format_size(MAX_CHUNK_SIZE)
                        ))
                })?,
        };
        let verbose = matches!(get("VERBOSE"), Some("1" | "true" | "yes"));
        Ok(ProxyConfig {
            origin,
            connections,
            chunk_size,
            verbose,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ProxyConfig, String> {
        ProxyConfig::from_vars(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_apply_when_only_the_origin_is_set() {
        let c = config(&[("ORIGIN", "http://h/p")]).unwrap();
        assert_eq!(c.connections, 4);
        assert_eq!(c.chunk_size, 1 << 20);
        assert!(!c.verbose);
    }

    #[test]
    fn names_are_read_without_regard_to_case_as_spins_variables_are_lowercase() {
        let c = config(&[
            ("origin", "http://h/p"),
            ("chunk_size", "2M"),
            ("connections", "2"),
        ])
        .unwrap();
        assert_eq!((c.connections, c.chunk_size), (2, 2 << 20));
    }

    #[test]
    fn sizes_take_suffixes_and_bad_values_are_named() {
        let c = config(&[
            ("ORIGIN", "http://h/p"),
            ("CONNECTIONS", "8"),
            ("CHUNK_SIZE", "512K"),
        ])
        .unwrap();
        assert_eq!((c.connections, c.chunk_size), (8, 512 << 10));
        assert!(config(&[]).unwrap_err().contains("ORIGIN is not set"));
        let bad = config(&[("ORIGIN", "http://h"), ("CONNECTIONS", "0")]).unwrap_err();
        assert!(bad.contains("CONNECTIONS"), "{bad}");
        let bad = config(&[("ORIGIN", "http://h"), ("CHUNK_SIZE", "1T")]).unwrap_err();
        assert!(bad.contains("CHUNK_SIZE"), "{bad}");
    }
}
