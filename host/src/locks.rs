//! The destination locks this run's component holds (`PATH.part.lock`, see
//! the component's `lease`), as the host sees them. A stop signal ends the
//! process at once, without the component's cleanup; the host then removes
//! the locks carrying this run's token itself, so the same command can
//! start again at once instead of waiting out their lease.

use std::io::Read;
use std::path::Path;

use rangeget_core::lock::{LockRecord, MAX_LOCK_BYTES};
use rangeget_core::paths::is_lock_path;

/// How deep below the output directory locks are looked for (`-i` lists
/// put files in `dir=` subdirectories).
const MAX_DEPTH: usize = 4;

/// A random token for this run's locks.
pub fn new_token() -> u64 {
    let mut bytes = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // Unique enough to tell this run's locks from others'.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return nanos ^ u64::from(std::process::id()) << 32;
    }
    u64::from_le_bytes(bytes)
}

/// Removes every `*.part.lock` under `dir` that carries `token`.
pub fn release(dir: &Path, token: u64) {
    let token = format!("{token:016x}");
    release_below(dir, &token, 0);
}

fn release_below(dir: &Path, token: &str, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() && depth < MAX_DEPTH {
            release_below(&path, token, depth + 1);
        } else if kind.is_file()
            && entry.file_name().to_str().is_some_and(is_lock_path)
            && holds_token(&path, token)
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn holds_token(path: &Path, token: &str) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut content = Vec::new();
    let _ = file.take(MAX_LOCK_BYTES).read_to_end(&mut content);
    LockRecord::parse(&content).is_some_and(|record| record.token == token)
}
