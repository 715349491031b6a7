//! The command line of `rangeget serve` and `rangeget plugin`: the
//! origin and the component's settings, and the server's caps with their
//! defaults (and why those).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rangeget_core::proxy::config::ProxyConfig;
use rangeget_core::size::parse_size;

pub(super) const USAGE: &str =
    "usage: rangeget serve --origin URL --listen ADDR:PORT [--connections N] [--chunk-size BYTES]
                      [--max-clients N] [--max-connections N] [--header-timeout SECONDS]
                      [--send-timeout SECONDS] [-v]

Serves the objects under URL (e.g. https://cdn.example/files) on ADDR:PORT,
fetching each with N parallel validated range requests (default 4) of
BYTES each (default 1M; suffixes K, M). GET /NAME fetches URL/NAME.

Limits (beyond a cap a client gets 503 with Retry-After, saying which):
  --max-clients N       requests answered at once, each holding up to
                        connections x chunk size (default 64, fewer when that
                        is over 8M, so that they hold at most 512M in all)
  --max-connections N   open client connections (default 1024)
  --header-timeout S    a request head must arrive within S seconds of the
                        connection opening or going idle (default 10)
  --send-timeout S      a client that takes no bytes of its answer for S
                        seconds loses its connection (default 60)";

/// `--max-clients` by default, when connections × chunk size is at most
/// [`WINDOWS_BUDGET`] / 64.
const DEFAULT_MAX_CLIENTS: usize = 64;

/// What the default `--max-clients` lets the clients' windows (connections
/// × chunk size each, in their instances' memory) hold in all.
const WINDOWS_BUDGET: u64 = 512 << 20;

/// `--max-connections` by default: an open connection waiting for its
/// head costs a descriptor and a few KiB.
const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// `--header-timeout` by default. A real client sends its head at once
/// (curl, browsers and package managers send it in one write); nginx waits
/// 60 s, but each connection waiting holds a place among
/// `--max-connections`, so the bound is short: with 1024 places, 10 s means
/// an attacker must open over 100 connections a second to fill them.
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// `--send-timeout` by default, as nginx's `send_timeout`: a client that
/// takes no bytes of its answer for this long loses its connection, and
/// its instance frees its place among `--max-clients`.
const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// The settings of one `rangeget serve`, or of one `rangeget plugin`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ServeOptions {
    pub(super) origin: String,
    /// `serve`: where it listens (`--listen`).
    pub(super) listen: Option<SocketAddr>,
    /// `plugin`: the file it writes (`-o`).
    pub(crate) output: Option<PathBuf>,
    pub(super) connections: u32,
    pub(super) chunk_size: u64,
    pub(super) verbose: bool,
    /// `serve`: requests answered at once (`--max-clients`).
    pub(super) max_clients: usize,
    /// `serve`: open client connections (`--max-connections`).
    pub(super) max_connections: usize,
    /// `serve`: how long a request head may take (`--header-timeout`).
    pub(super) header_timeout: Duration,
    /// `serve`: how long a client may take no bytes of its answer
    /// (`--send-timeout`).
    pub(super) send_timeout: Duration,
}

/// Which subcommand the options are for: each requires its own flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Serve,
    Plugin,
}

impl ServeOptions {
    pub(super) fn parse(args: Vec<OsString>) -> Result<ServeOptions> {
        ServeOptions::parse_for(args, Purpose::Serve)
    }

    pub(crate) fn parse_for(args: Vec<OsString>, purpose: Purpose) -> Result<ServeOptions> {
        let mut args = args.into_iter().map(|a| {
            a.into_string()
                .map_err(|a| anyhow!("argument {a:?} is not valid UTF-8"))
        });
        let (mut origin, mut listen, mut verbose) = (None, None, false);
        let mut output = None;
        let (mut connections, mut chunk_size) = (4, 1 << 20);
        let (mut max_clients, mut max_connections) = (None, DEFAULT_MAX_CONNECTIONS);
        let (mut header_timeout, mut send_timeout) = (DEFAULT_HEADER_TIMEOUT, DEFAULT_SEND_TIMEOUT);
        while let Some(arg) = args.next() {
            let arg = arg?;
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| Err(anyhow!("{arg} needs a value")))
            };
            match arg.as_str() {
                "--origin" => origin = Some(value()?),
                "-o" | "--output" if purpose == Purpose::Plugin => {
                    output = Some(PathBuf::from(value()?));
                }
                "--listen" if purpose == Purpose::Serve => {
                    let text = value()?;
                    listen = Some(text.parse().with_context(|| {
                        format!("--listen {text:?} is not an address like 127.0.0.1:8080")
                    })?);
                }
                "--connections" | "-x" => {
                    let text = value()?;
                    connections = text
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .with_context(|| format!("--connections {text:?} must be 1 to 64"))?;
                }
                "--chunk-size" => {
                    let text = value()?;
                    chunk_size = parse_size(&text).map_err(|e| anyhow!("--chunk-size: {e}"))?;
                }
                "--max-clients" if purpose == Purpose::Serve => {
                    max_clients = Some(count(&arg, &value()?)?);
                }
                "--max-connections" if purpose == Purpose::Serve => {
                    max_connections = count(&arg, &value()?)?;
                }
                "--header-timeout" if purpose == Purpose::Serve => {
                    header_timeout = seconds(&arg, &value()?)?;
                }
                "--send-timeout" if purpose == Purpose::Serve => {
                    send_timeout = seconds(&arg, &value()?)?;
                }
                "-v" | "--verbose" => verbose = true,
                other => bail!("unknown argument {other:?}"),
            }
        }
        let origin = origin.context("--origin URL is required")?;
        if !(origin.starts_with("http://") || origin.starts_with("https://")) {
            bail!("--origin {origin:?} must be an http:// or https:// URL");
        }
        match purpose {
            Purpose::Serve if listen.is_none() => {
                bail!("--listen ADDR:PORT is required (e.g. 127.0.0.1:8080)")
            }
            Purpose::Plugin if output.is_none() => {
                bail!("-o FILE is required (e.g. -o plugin.wasm)")
            }
            _ => {}
        }
        let options = ServeOptions {
            origin,
            listen,
            output,
            connections,
            chunk_size,
            verbose,
            max_clients: max_clients
                .unwrap_or_else(|| default_max_clients(connections, chunk_size)),
            max_connections,
            header_timeout,
            send_timeout,
        };
        // The component would refuse bad settings on every request; the
        // same parser refuses them here, before anything listens.
        ProxyConfig::from_vars(options.component_settings()).map_err(|e| anyhow!(e))?;
        Ok(options)
    }

    /// What the component reads from `wasi:config/store` (or, in a
    /// plugin, has built in).
    pub(crate) fn component_settings(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("ORIGIN".to_string(), self.origin.clone()),
            ("CONNECTIONS".to_string(), self.connections.to_string()),
            ("CHUNK_SIZE".to_string(), self.chunk_size.to_string()),
        ];
        if self.verbose {
            env.push(("VERBOSE".to_string(), "1".to_string()));
        }
        env
    }
}

/// A count given to `flag`: 1 to a million.
fn count(flag: &str, text: &str) -> Result<usize> {
    text.parse()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .with_context(|| format!("{flag} {text:?} must be a number from 1 to 1000000"))
}

/// A duration given to `flag` in seconds (fractions allowed): more than
/// 0, at most an hour.
fn seconds(flag: &str, text: &str) -> Result<Duration> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .with_context(|| format!("{flag} {text:?} must be seconds, more than 0 and at most 3600"))
}

/// [`DEFAULT_MAX_CLIENTS`], or fewer when each client's window is large:
/// the windows of all clients together stay within [`WINDOWS_BUDGET`].
fn default_max_clients(connections: u32, chunk_size: u64) -> usize {
    let window = u64::from(connections) * chunk_size;
    let fit = WINDOWS_BUDGET / window.max(1);
    fit.clamp(1, DEFAULT_MAX_CLIENTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeOptions> {
        ServeOptions::parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn options_have_defaults_and_name_what_is_wrong() {
        let o = parse(&["--origin", "http://h/p", "--listen", "127.0.0.1:0"]).unwrap();
        assert_eq!((o.connections, o.chunk_size), (4, 1 << 20));
        let o = parse(&[
            "--origin",
            "http://h/p",
            "--listen",
            "127.0.0.1:0",
            "-x",
            "8",
            "--chunk-size",
            "512K",
        ])
        .unwrap();
        assert_eq!((o.connections, o.chunk_size), (8, 512 << 10));
        assert!(o
            .component_settings()
            .contains(&("CHUNK_SIZE".into(), "524288".into())));
        assert_eq!(o.max_clients, 64, "8 × 512K windows: 64 fit in 512M");
        let o = parse(&["--origin", "http://h/p", "--listen", "127.0.0.1:0"]).unwrap();
        assert_eq!((o.max_clients, o.max_connections), (64, 1024));
        assert_eq!(
            (o.header_timeout, o.send_timeout),
            (Duration::from_secs(10), Duration::from_secs(60))
        );
        let o = parse(&[
            "--origin",
            "http://h/p",
            "--listen",
            "127.0.0.1:0",
            "-x",
            "8",
            "--chunk-size",
            "4M",
        ])
        .unwrap();
        assert_eq!(o.max_clients, 16, "32M windows: 16 fit in 512M");
        let o = parse(&[
            "--origin",
            "http://h/p",
            "--listen",
            "127.0.0.1:0",
            "--max-clients",
            "3",
            "--max-connections",
            "10",
            "--header-timeout",
            "0.5",
        ])
        .unwrap();
        assert_eq!(
            (o.max_clients, o.max_connections, o.header_timeout),
            (3, 10, Duration::from_millis(500))
        );
        assert_eq!(default_max_clients(64, 64 << 20), 1);
        for (args, says) in [
            (&["--listen", "127.0.0.1:0"][..], "--origin"),
            (&["--origin", "http://h"][..], "--listen"),
            (
                &["--origin", "ftp://h", "--listen", "127.0.0.1:0"][..],
                "http",
            ),
            (
                &["--origin", "http://h", "--listen", "nowhere"][..],
                "--listen",
            ),
            (&["--origin"][..], "needs a value"),
            (
                &[
                    "--origin",
                    "http://h",
                    "--listen",
                    "127.0.0.1:0",
                    "--max-clients",
                    "0",
                ][..],
                "--max-clients \"0\" must be a number from 1",
            ),
            (
                &[
                    "--origin",
                    "http://h",
                    "--listen",
                    "127.0.0.1:0",
                    "--header-timeout",
                    "0",
                ][..],
                "--header-timeout \"0\" must be seconds",
            ),
            (
                &[
                    "--origin",
                    "http://h",
                    "--listen",
                    "127.0.0.1:0",
                    "--chunk-size",
                    "1G",
                ][..],
                "64.0 MiB",
            ),
        ] {
            let error = format!("{:#}", parse(args).unwrap_err());
            assert!(error.contains(says), "{args:?}: {error}");
        }
    }
}
