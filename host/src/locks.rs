//! The destination locks this run's component holds (`PATH.part.lock`, see
//! the component's `lease`), as the host sees them. A stop signal ends the
//! process at once, without the component's cleanup; the host then removes
//! the locks carrying this run's token itself, so the same command can
//! start again at once instead of waiting out their lease.

use std::io::Read;
use std::path::Path;

use rangeget_core::lock::{LockRecord, MAX_LOCK_BYTES};
use rangeget_core::paths::is_lock_path;

/// How deep below the output directory a batch's locks are looked for
/// (`-i` lists put files in `dir=` subdirectories).
pub const LIST_DEPTH: usize = 4;

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
    for_each_lock(dir, LIST_DEPTH, &mut |path, record| {
        if record.token == token {
            let _ = std::fs::remove_file(path);
        }
    });
}

/// The tokens of the locks in `dir`, and `levels` levels of directories
/// below it, whose holders `liveness` knows to be gone (see
/// [`Liveness::is_gone`]), for the component to take over at once instead
/// of watching each lock for a whole lease. Done before every run: a
/// single download looks in its directory alone (`levels` 0), not in the
/// tree below a home directory.
pub fn gone_holders(dir: &Path, levels: usize, liveness: &Liveness) -> Vec<u64> {
    let mut gone = Vec::new();
    for_each_lock(dir, levels, &mut |_, record| {
        if let Ok(token) = u64::from_str_radix(&record.token, 16) {
            if !gone.contains(&token) && liveness.is_gone(token) {
                gone.push(token);
            }
        }
    });
    gone
}

/// Calls `f` with every lock in `dir` and `levels` levels of directories
/// below it, and what it holds.
fn for_each_lock(dir: &Path, levels: usize, f: &mut dyn FnMut(&Path, LockRecord)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() && levels > 0 {
            for_each_lock(&path, levels - 1, f);
        } else if kind.is_file() && entry.file_name().to_str().is_some_and(is_lock_path) {
            if let Some(record) = read_record(&path) {
                f(&path, record);
            }
        }
    }
}

fn read_record(path: &Path) -> Option<LockRecord> {
    let file = std::fs::File::open(path).ok()?;
    let mut content = Vec::new();
    let _ = file.take(MAX_LOCK_BYTES).read_to_end(&mut content);
    LockRecord::parse(&content)
}

/// Which native runs are alive, as the kernel knows it. Each run holds an
/// exclusive `flock` on a file named after its token in a directory of
/// the user's own (`$XDG_RUNTIME_DIR/rangeget`, else
/// `/tmp/rangeget-UID`), for as long as it lives: the kernel drops the
/// lock when the process dies, `kill -9` included. A token whose file can
/// be locked by someone else belonged to a run that is gone. Tokens with
/// no file there (runs under the wasmtime CLI or jco, which cannot take
/// OS locks) are not known either way: their locks wait out the lease.
pub struct Liveness {
    dir: std::path::PathBuf,
    /// This run's file, locked while the run lives.
    own: Option<(std::fs::File, std::path::PathBuf)>,
}

impl Liveness {
    /// The registry, with this run (`token`) in it; `None` where no
    /// private directory can be had (another user's `/tmp/rangeget-UID`,
    /// say): then every lock waits out its lease, as before.
    pub fn join(token: u64) -> Option<Liveness> {
        let dir = private_dir()?;
        let path = dir.join(format!("{token:016x}"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ok()?;
        if !try_flock(&file) {
            return None;
        }
        Some(Liveness {
            dir,
            own: Some((file, path)),
        })
    }

    /// Whether the run of `token` is known to be gone: its file is there
    /// and nobody holds its lock. The file of a gone run is removed.
    pub fn is_gone(&self, token: u64) -> bool {
        let path = self.dir.join(format!("{token:016x}"));
        let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else {
            return false;
        };
        if !try_flock(&file) {
            return false;
        }
        let _ = std::fs::remove_file(&path);
        true
    }

    /// The path of this run's own file, for a stop signal's clean-up.
    pub fn own_path(&self) -> Option<std::path::PathBuf> {
        self.own.as_ref().map(|(_, path)| path.clone())
    }
}

impl Drop for Liveness {
    fn drop(&mut self) {
        if let Some((_, path)) = self.own.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `$XDG_RUNTIME_DIR/rangeget`, else `/tmp/rangeget-UID`: made if
/// missing, and used only if it is a directory of this user's that no one
/// else can write (a directory planted by someone else is not trusted).
fn private_dir() -> Option<std::path::PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) => Path::new(&runtime).join("rangeget"),
        None => std::env::temp_dir().join(format!("rangeget-{uid}")),
    };
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    let private = meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o022 == 0;
    private.then_some(dir)
}

/// An exclusive `flock` on `file`, without waiting.
fn try_flock(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor we own; LOCK_NB never blocks.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}
