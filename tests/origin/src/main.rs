//! `rangeget-test-origin [--listen 127.0.0.1:8080] [--exit-after SECS]`:
//! runs the test origin by hand until Ctrl-C (or for `SECS` seconds).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rangeget_test_origin::Origin;

const USAGE: &str = "usage: rangeget-test-origin [--listen 127.0.0.1:8080] [--exit-after SECS]
                            [--socks5 127.0.0.1:1080]

Serves deterministic objects that misbehave on request, e.g.
  /o/data.bin?size=64M&fault=throttle&rate=4M
  /o/data.bin?size=16M&fault=truncate,status-503&truncate_times=2
Stats: GET /_stats   Replace an object: POST /_replace/{name}
--socks5 ADDR also runs a SOCKS5 proxy there (to loopback destinations only).";

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
    let Some(options) = parse_args(std::env::args().skip(1))? else {
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
