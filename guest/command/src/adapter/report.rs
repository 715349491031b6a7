//! What the user reads: warnings on stderr, one summary line on stdout.

use rangeget_core::size::format_size;

/// Statistics of one finished download.
pub struct Stats {
    pub size: u64,
    /// Bytes taken over from a previous run's `.part`.
    pub reused: u64,
    pub retries: u32,
    pub connections: u32,
}

pub fn warn(message: &str) {
    eprintln!("rangeget: {message}");
}

pub fn summary(path: &str, stats: &Stats, elapsed_ms: u64) -> String {
    let fetched = stats.size - stats.reused.min(stats.size);
    let seconds = (elapsed_ms.max(1)) as f64 / 1000.0;
    let rate = fetched as f64 / seconds;
    let mut line = format!(
        "saved {path} ({}) in {seconds:.2} s, {}/s over {} connection{}",
        format_size(stats.size),
        format_size(rate as u64),
        stats.connections,
        if stats.connections == 1 { "" } else { "s" }
    );
    if stats.reused > 0 {
        line.push_str(&format!(
            "; {} reused from an earlier run",
            format_size(stats.reused)
        ));
    }
    if stats.retries > 0 {
        line.push_str(&format!(
            "; {} retr{}",
            stats.retries,
            if stats.retries == 1 { "y" } else { "ies" }
        ));
    }
    line
}
