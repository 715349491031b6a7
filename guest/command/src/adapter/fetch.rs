//! One download from probe to published file.

use rangeget_core::failure::Reason;
use rangeget_core::naming::{choose_file_name, file_name_from_url};
use rangeget_core::report::Report;
use rangeget_core::room::check_max_filesize;
use rangeget_core::Failure;
use rangeget_options::Options;
use rangeget_wasi_http::clock;

use super::checksum::sha256_of_part;
use super::output::OutputDir;
use super::probe::probe;
use super::transfer::download;

/// Where the file goes when nothing was learnt from the server (for
/// reporting failures that happen before the probe answers).
pub fn fallback_output_path(options: &Options) -> String {
    options.output_path(&file_name_from_url(&options.url))
}

pub fn fetch(options: &Options) -> Result<Report, Failure> {
    let started_ms = clock::now_ms();
    // Where the URL's name (or -o) puts the file: refused at once if it
    // exists, continued if a previous run left progress there.
    let guess = options.output_path(&file_name_from_url(&options.url));
    let (exists, continuing) = match OutputDir::for_path(&guess) {
        Ok(out) => (out.final_exists(), out.exists(&out.meta_name())),
        Err(_) => (false, false),
    };
    if exists && options.output.is_some() && !options.force {
        return Err(Reason::Exists { path: guess }.into());
    }
    let probed = probe(options, continuing)?;
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
        return Err(Reason::Exists { path }.into());
    }
    let (stats, final_url) = download(options, &out, probed)?;
    let sha256 = if options.checksum.is_some() || options.json {
        Some(sha256_of_part(&out)?)
    } else {
        None
    };
    if let (Some(expected), Some(actual)) = (&options.checksum, &sha256) {
        if expected != actual {
            out.abandon_part()?;
            return Err(Reason::Checksum {
                expected: expected.clone(),
                actual: actual.clone(),
                kept: out.part_display(),
            }
            .into());
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
