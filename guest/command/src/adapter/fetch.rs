//! One download from probe to published file, restarting from a fresh
//! probe whenever the remote object changes underneath.

use rangeget_core::naming::file_name_from_url;
use rangeget_core::options::Options;
use rangeget_core::probe::{ProbeMethod, TransferMode};

use super::clock;
use super::output::OutputDir;
use super::probe::probe;
use super::ranged::{self, Outcome};
use super::report::{self, warn};
use super::single;

/// A remote that keeps changing would otherwise loop forever.
const MAX_RESTARTS: u32 = 3;

pub fn fetch(options: &Options) -> Result<String, String> {
    let started_ms = clock::now_ms();
    let path = options
        .output
        .clone()
        .unwrap_or_else(|| file_name_from_url(&options.url));
    let out = OutputDir::for_path(&path)?;
    if out.final_exists() && !options.force {
        return Err(format!(
            "{path} already exists; pass --force to overwrite it, or choose another path with -o"
        ));
    }
    let mut restarts = 0;
    loop {
        let probed = probe(&options.url, options, ProbeMethod::Head)?;
        let stats = match probed.object.transfer_mode() {
            TransferMode::Ranged { size } => {
                drop(probed.get_response);
                match ranged::download(&out, options, probed.object, size)? {
                    Outcome::Finished(stats) => stats,
                    Outcome::RemoteChanged(reason) => {
                        restarts += 1;
                        if restarts > MAX_RESTARTS {
                            return Err(format!(
                                "{} keeps changing while it downloads ({reason}); try again later",
                                options.url
                            ));
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
                        single::download(&out, options, &object, Some(response))?
                    }
                }
            }
            TransferMode::SingleStream { .. } => {
                single::download(&out, options, &probed.object, probed.get_response)?
            }
        };
        out.publish()?;
        return Ok(report::summary(
            &out.display,
            &stats,
            clock::now_ms() - started_ms,
        ));
    }
}
