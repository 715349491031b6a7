//! One download from probe to published file, restarting from a fresh
//! probe whenever the remote object changes underneath.

use rangeget_core::naming::{choose_file_name, file_name_from_url};
use rangeget_core::options::Options;
use rangeget_core::probe::{ProbeMethod, TransferMode};
use rangeget_core::report::Report;
use rangeget_core::room::check_max_filesize;
use rangeget_core::Failure;

use super::checksum::sha256_of_part;
use super::clock;
use super::output::OutputDir;
use super::probe::{probe, Probed};
use super::ranged::{self, Outcome};
use super::report::{warn, Stats};
use super::single;

/// A remote that keeps changing would otherwise loop forever.
const MAX_RESTARTS: u32 = 3;

/// Where the file goes when nothing was learnt from the server (for
/// reporting failures that happen before the probe answers).
pub fn fallback_output_path(options: &Options) -> String {
    options.output_path(&file_name_from_url(&options.url))
}

pub fn fetch(options: &Options) -> Result<Report, Failure> {
    let started_ms = clock::now_ms();
    let probed = probe(&options.url, options, ProbeMethod::Head)?;
    if let Some(size) = probed.object.size {
        check_max_filesize(&options.url, size, options.max_filesize)?;
    }
    let server_name = choose_file_name(probed.object.content_disposition.as_deref(), &options.url);
    let path = options.output_path(&server_name);
    let out = OutputDir::for_path(&path)?;
    // Before anything at the destination is looked at: a second run on
    // the same path stops here instead of writing into the first one's file.
    out.lock(options.lock_token)?;
    if out.final_exists() && !options.force {
        return Err(Failure::file(format!(
            "{path} already exists; pass --force to overwrite it, or choose another path with -o"
        )));
    }
    let (stats, final_url) = transfer(options, &out, probed)?;
    let sha256 = if options.checksum.is_some() || options.json {
        Some(sha256_of_part(&out)?)
    } else {
        None
    };
    if let (Some(expected), Some(actual)) = (&options.checksum, &sha256) {
        if expected != actual {
            out.abandon_part()?;
            return Err(Failure::validation(format!(
                "the downloaded file's SHA-256 is {actual}, not the expected {expected}; \
                 it is kept as {} for inspection (the next run starts over)",
                out.part_display()
            )));
        }
    }
    out.publish(options.force)?;
    Ok(Report {
        url: options.url.clone(),
        final_url,
        path,
        size: stats.size,
        sha256,
        elapsed_ms: clock::now_ms() - started_ms,
        bytes_fetched: stats.size - stats.reused.min(stats.size),
        bytes_reused: stats.reused,
        retries: stats.retries,
        connections: stats.connections,
    })
}

/// Fetches the whole object into `.part`; returns its stats and final URL.
/// `first` is the probe already made; a restart probes afresh.
fn transfer(options: &Options, out: &OutputDir, first: Probed) -> Result<(Stats, String), Failure> {
    let mut restarts = 0;
    let mut first = Some(first);
    loop {
        let probed = match first.take() {
            Some(probed) => probed,
            None => probe(&options.url, options, ProbeMethod::Head)?,
        };
        let final_url = probed.object.url.clone();
        let stats = match probed.object.transfer_mode() {
            TransferMode::Ranged { size } => {
                drop(probed.get_response);
                match ranged::download(out, options, probed.object, size)? {
                    Outcome::Finished(stats) => stats,
                    Outcome::RemoteChanged(reason) => {
                        restarts += 1;
                        if restarts > MAX_RESTARTS {
                            return Err(Failure::validation(format!(
                                "{} keeps changing while it downloads ({reason}); try again later",
                                options.url
                            )));
                        }
                        warn(&format!(
                            "the remote file changed ({reason}); starting over"
                        ));
                        out.remove(&out.meta_name())?;
                        out.remove(&out.part_name())?;
                        continue;
                    }
                    Outcome::RangesIgnored { object, response } => {
                        warn(&format!(
                            "{} answered a range request with the whole file although it \
                             advertises ranges; continuing as a single stream",
                            object.url
                        ));
                        single::download(out, options, &object, Some(response))?
                    }
                }
            }
            TransferMode::SingleStream { .. } => {
                single::download(out, options, &probed.object, probed.get_response)?
            }
        };
        return Ok((stats, final_url));
    }
}
