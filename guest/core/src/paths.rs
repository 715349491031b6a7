//! The files a download writes, and when two paths of a run are one.
//!
//! A download of `PATH` keeps its progress beside it: `PATH.part` (the
//! bytes), `PATH.part.meta` (what they are, replaced through
//! `PATH.part.meta.tmp`) and `PATH.part.lock` (which run writes them).
//! Two entries of one run must never meet there: an entry saved as
//! `x.part` would be taken for the `.part` of `x`, and `x`'s download
//! would take over or remove it.

use crate::failure::{IoError, Reason};

/// The suffixes of a download's working files, after its path.
pub const WORKING_SUFFIXES: [&str; 4] = [PART, META, META_TMP, LOCK];

const PART: &str = ".part";
const META: &str = ".part.meta";
const META_TMP: &str = ".part.meta.tmp";
const LOCK: &str = ".part.lock";

/// Where the bytes of `path` are gathered until it is complete.
pub fn part_path(path: &str) -> String {
    format!("{path}{PART}")
}

/// The meta file of `path`'s `.part`.
pub fn meta_path(path: &str) -> String {
    format!("{path}{META}")
}

/// The temporary file a new meta is written to before it replaces the old.
pub fn meta_tmp_path(path: &str) -> String {
    format!("{path}{META_TMP}")
}

/// The lock of the run writing `path`.
pub fn lock_path(path: &str) -> String {
    format!("{path}{LOCK}")
}

/// Whether `path` is a download's lock.
pub fn is_lock_path(path: &str) -> bool {
    path.ends_with(LOCK)
}

/// `path` as the file system reads it: empty and `.` components dropped
/// (`sub//a`, `./sub/./a` and `sub/a` are one file). `..` stays: what it
/// leads to depends on links, and lists refuse it anyway.
pub fn normal_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The download whose working file `path` (a normal path) would be, if
/// any: `d/x.part.meta` is the meta of `d/x`. No suffix ends another, so
/// there is at most one.
pub fn owner_of_working_file(path: &str) -> Option<&str> {
    WORKING_SUFFIXES
        .iter()
        .filter_map(|suffix| path.strip_suffix(suffix))
        .find(|owner| !owner.is_empty() && !owner.ends_with('/'))
}

/// Which of the directories a runtime granted (`preopens`, as the guest
/// names them) holds `path` — the longest that does — and the path inside
/// it. Nothing outside them, and no `..`, is ever written.
pub fn in_preopens(path: &str, preopens: &[&str]) -> Result<(usize, String), Reason> {
    // "." holds every relative path: any named directory that holds the
    // path is more specific ("d" beats "." for d/f, whatever their order).
    let specificity = |guest: &str| if guest == "." { 0 } else { guest.len() };
    let best = preopens
        .iter()
        .enumerate()
        .filter_map(|(at, guest)| {
            relative_to(path, guest).map(|inside| (at, inside, specificity(guest)))
        })
        .max_by_key(|(_, _, len)| *len);
    let Some((at, inside, _)) = best else {
        return Err(Reason::NoAccess {
            path: path.to_string(),
        });
    };
    if inside.is_empty() || inside.split('/').any(|c| c == "..") {
        return Err(Reason::Io {
            operation: "write".into(),
            path: format!("'{path}'"),
            error: IoError::NotInOutput,
        });
    }
    Ok((at, inside))
}

/// `path` relative to the preopen named `guest`, if it lies inside it.
fn relative_to(path: &str, guest: &str) -> Option<String> {
    let guest = guest.trim_end_matches('/');
    if guest.is_empty() {
        // The preopen is "/" itself.
        return path.strip_prefix('/').map(str::to_string);
    }
    if guest == "." {
        return (!path.starts_with('/')).then(|| path.trim_start_matches("./").to_string());
    }
    path.strip_prefix(guest)?
        .strip_prefix('/')
        .map(str::to_string)
}

/// The directories to make, outermost first, for a file at `name` inside
/// a granted directory (a manifest's `dir=sub/deeper`): each prefix of
/// its parent, skipping empty and `.` components.
pub fn parent_dirs(name: &str) -> Vec<&str> {
    let Some((parent, _)) = name.rsplit_once('/') else {
        return Vec::new();
    };
    let mut dirs = Vec::new();
    let mut at = 0;
    for component in parent.split('/') {
        at += component.len();
        if !component.is_empty() && component != "." {
            dirs.push(&parent[..at]);
        }
        at += 1;
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_dirs_are_made_outermost_first() {
        assert!(parent_dirs("a.bin").is_empty());
        assert_eq!(parent_dirs("x/y/a.bin"), ["x", "x/y"]);
        assert_eq!(parent_dirs("./x//y/a"), ["./x", "./x//y"]);
    }

    #[test]
    fn a_path_is_written_only_inside_the_longest_preopen_that_holds_it() {
        let granted = ["/out", "/out/deep", "."];
        assert_eq!(in_preopens("/out/a.bin", &granted), Ok((0, "a.bin".into())));
        assert_eq!(
            in_preopens("/out/deep/x/a", &granted),
            Ok((1, "x/a".into()))
        );
        assert_eq!(in_preopens("./rel/a", &granted), Ok((2, "rel/a".into())));
        // A one-letter directory and ".", in either order (an -i list in
        // the current directory is granted beside -d d).
        assert_eq!(in_preopens("d/f", &["d", "."]), Ok((0, "f".into())));
        assert_eq!(in_preopens("d/f", &[".", "d"]), Ok((1, "f".into())));
        assert_eq!(
            in_preopens("/outside/a", &granted[..2]).unwrap_err().code(),
            "no-access"
        );
        assert_eq!(
            in_preopens("/out/../etc/passwd", &granted)
                .unwrap_err()
                .code(),
            "io"
        );
        assert_eq!(in_preopens("/out/", &granted).unwrap_err().code(), "io");
        assert_eq!(in_preopens("/x/a", &["/"]), Ok((0, "x/a".into())));
    }

    #[test]
    fn one_file_spelled_differently_is_one_path() {
        for spelling in [
            "sub/same.bin",
            "sub//same.bin",
            "./sub/./same.bin",
            "sub/./same.bin",
        ] {
            assert_eq!(normal_path(spelling), "sub/same.bin", "{spelling}");
        }
        assert_eq!(normal_path("/d//x"), "/d/x");
        assert_eq!(normal_path("./"), ".");
        assert_eq!(normal_path("a/../b"), "a/../b");
    }

    #[test]
    fn working_files_name_their_download() {
        let owner = owner_of_working_file;
        assert_eq!(owner("d/x.part"), Some("d/x"));
        assert_eq!(owner("d/x.part.meta"), Some("d/x"));
        assert_eq!(owner("d/x.part.meta.tmp"), Some("d/x"));
        assert_eq!(owner("d/x.part.lock"), Some("d/x"));
        assert_eq!(owner("d/x.part.part"), Some("d/x.part"));
        assert_eq!(owner("d/x.bin"), None);
        assert_eq!(owner("d/.part"), None);
        for suffix in WORKING_SUFFIXES {
            assert_eq!(owner(&format!("f{suffix}")), Some("f"));
        }
        assert_eq!(part_path("a"), "a.part");
        assert_eq!(meta_path("a"), "a.part.meta");
        assert_eq!(meta_tmp_path("a"), "a.part.meta.tmp");
        assert_eq!(lock_path("a"), "a.part.lock");
    }
}
