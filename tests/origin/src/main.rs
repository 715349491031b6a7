//! `rangeget-test-origin [--listen 127.0.0.1:8080] [--exit-after SECS]`:
//! runs the test origin by hand until Ctrl-C (or for `SECS` seconds).
//!
//! `rangeget-test-origin metalink --name N --size S [--piece-length L]
//! [--no-hash] URL...`: prints a Metalink 4 document for object `N` of `S`
//! bytes, served at the URLs (benchmarks of multi-source downloads).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rangeget_test_origin::{metalink, parse_byte_size, Origin};

const USAGE: &str = "usage: rangeget-test-origin [--listen 127.0.0.1:8080] [--exit-after SECS]
                            [--socks5 127.0.0.1:1080]

Serves deterministic objects that misbehave on request, e.g.
  /o/data.bin?size=64M&fault=throttle&rate=4M
  /o/data.bin?size=16M&fault=truncate,status-503&truncate_times=2
  /twin/data.bin?size=64M  (same size, ETag, Last-Modified; other bytes from half-way)
Stats: GET /_stats   Replace an object: POST /_replace/{name}
--socks5 ADDR also runs a SOCKS5 proxy there (to loopback destinations only).

       rangeget-test-origin metalink --name NAME --size SIZE [--piece-length LEN]
                            [--no-hash] URL...
prints a Metalink 4 document (RFC 5854) for object NAME of SIZE bytes (64M, ...)
as /o/NAME serves it: SHA-256 of the whole object (unless --no-hash), SHA-256
of each LEN-byte piece (with --piece-length), and the URLs in order as
priority 1, 2, ...";

/// What `metalink` was asked for.
struct MetalinkOptions {
    name: String,
    size: u64,
    piece_length: Option<u64>,
    whole_hash: bool,
    urls: Vec<String>,
}

/// What the command line asked for.
struct Options {
    listen: SocketAddr,
    exit_after: Option<Duration>,
    socks5: Option<SocketAddr>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("metalink") {
        args.next();
        let Some(options) = parse_metalink_args(args)? else {
            println!("{USAGE}");
            return Ok(());
        };
        print!(
            "{}",
            metalink(
                &options.name,
                options.size,
                &options.urls,
                options.piece_length,
                options.whole_hash,
            )
        );
        return Ok(());
    }
    let Some(options) = parse_args(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let origin = Origin::start_on(options.listen).with_context(|| {
        format!(
            "could not listen on {}; is another origin running? pass --listen 127.0.0.1:PORT",
            options.listen
        )
    })?;
    println!("listening on http://{}", origin.addr());
    let socks = match options.socks5 {
        Some(addr) => Some(
            rangeget_test_origin::Socks5Proxy::start_on(addr, None)
                .with_context(|| format!("could not listen on {addr} for SOCKS5"))?,
        ),
        None => None,
    };
    if let Some(socks) = &socks {
        println!("SOCKS5 proxy on socks5h://{}", socks.addr());
    }
    println!(
        "example: curl -o /dev/null {}",
        origin.url("/o/data.bin?size=64M&fault=throttle&rate=4M")
    );
    wait_for_stop(options.exit_after)?;
    drop(origin);
    Ok(())
}

/// `None` when help was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>> {
    let mut options = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        exit_after: None,
        socks5: None,
    };
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--listen" => {
                let text = value("--listen")?;
                let addr: SocketAddr = text.parse().with_context(|| {
                    format!("--listen {text:?} is not an address like 127.0.0.1:8080")
                })?;
                // The origin misbehaves on purpose; never expose it beyond
                // this machine.
                if !addr.ip().is_loopback() {
                    bail!("--listen {addr} is not a loopback address; use 127.0.0.1:PORT");
                }
                options.listen = addr;
            }
            "--exit-after" => {
                let text = value("--exit-after")?;
                let seconds: u64 = text.parse().with_context(|| {
                    format!("--exit-after {text:?} is not a whole number of seconds")
                })?;
                options.exit_after = Some(Duration::from_secs(seconds));
            }
            "--socks5" => {
                let text = value("--socks5")?;
                let addr: SocketAddr = text.parse().with_context(|| {
                    format!("--socks5 {text:?} is not an address like 127.0.0.1:1080")
                })?;
                if !addr.ip().is_loopback() {
                    bail!("--socks5 {addr} is not a loopback address; use 127.0.0.1:PORT");
                }
                options.socks5 = Some(addr);
            }
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    Ok(Some(options))
}

/// `None` when help was asked for.
fn parse_metalink_args(mut args: impl Iterator<Item = String>) -> Result<Option<MetalinkOptions>> {
    let (mut name, mut size) = (None, None);
    let mut options = MetalinkOptions {
        name: String::new(),
        size: 0,
        piece_length: None,
        whole_hash: true,
        urls: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        let bytes = |flag: &str, text: String| {
            parse_byte_size(&text).with_context(|| {
                format!("{flag} {text:?} is not a byte count (examples: 1000, 64K, 16M, 2G)")
            })
        };
        match arg.as_str() {
            "--name" => name = Some(value("--name")?),
            "--size" => size = Some(bytes("--size", value("--size")?)?),
            "--piece-length" => {
                let length = bytes("--piece-length", value("--piece-length")?)?;
                if length == 0 {
                    bail!("--piece-length must not be 0");
                }
                options.piece_length = Some(length);
            }
            "--no-hash" => options.whole_hash = false,
            "-h" | "--help" => return Ok(None),
            flag if flag.starts_with('-') => bail!("unknown argument {flag:?}\n\n{USAGE}"),
            _ => options.urls.push(arg),
        }
    }
    options.name = name.with_context(|| format!("metalink needs --name\n\n{USAGE}"))?;
    options.size = size.with_context(|| format!("metalink needs --size\n\n{USAGE}"))?;
    if options.urls.is_empty() {
        bail!("metalink needs at least one URL\n\n{USAGE}");
    }
    Ok(Some(options))
}

/// Blocks until Ctrl-C or the `--exit-after` deadline.
fn wait_for_stop(exit_after: Option<Duration>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the signal-handling runtime")?;
    runtime.block_on(async {
        let deadline = async {
            match exit_after {
                Some(duration) => tokio::time::sleep(duration).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted.context("could not listen for Ctrl-C"),
            () = deadline => Ok(()),
        }
    })
}
