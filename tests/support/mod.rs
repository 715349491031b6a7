//! What every end-to-end test needs: the binary, scratch directories,
//! and assertions on the bytes on disk and in the meta file.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rangeget_test_origin::expected_content;

pub mod forward_proxy;

pub const MIB: u64 = 1 << 20;

pub fn rangeget(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rangeget"));
    command.args(args).stdin(Stdio::null());
    // The tests' servers are on 127.0.0.1: a proxy set on the machine
    // running them must not come between. Proxy tests set their own.
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
    command
}

pub const PROXY_VARIABLES: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// An address on 127.0.0.1 where nothing listens: a listener's, bound
/// and dropped, so connecting to it is refused (until something takes it).
pub fn refused_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

pub fn run(args: &[&str]) -> Output {
    rangeget(args).output().expect("rangeget runs")
}

/// Whether `-v` output says the origin's first answer was slow enough
/// (10 ms) for it to be taken for a far one.
pub fn probe_was_far(output: &Output) -> bool {
    text(&output.stderr).contains("(far: requests of a whole chunk)")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch directory removed when the test ends.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rangeget-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }

    /// A directory beside this one, removed with it, for a runtime's own
    /// temporary files (`TMPDIR`): jco transpiles the component into one
    /// per run and removes it only when it exits by itself, so every run a
    /// test kills would leave its copy behind for good.
    pub fn runtime_tmp(&self) -> PathBuf {
        let tmp = self.0.with_extension("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        tmp
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_dir_all(self.0.with_extension("tmp"));
    }
}

pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "rangeget failed with {:?}\nstdout: {}\nstderr: {}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// The download finished, byte-exact, with no leftovers next to it.
pub fn assert_downloaded(dir: &Scratch, file: &str, name: &str, version: u64, size: u64) {
    let bytes = std::fs::read(dir.path(file)).expect("the final file exists");
    assert_eq!(bytes.len() as u64, size, "size of {file}");
    assert!(
        bytes == expected_content(name, version, size),
        "{file} differs from version {version} of {name}"
    );
    assert!(
        !dir.path(&format!("{file}.part")).exists(),
        ".part left behind"
    );
    assert!(
        !dir.path(&format!("{file}.part.meta")).exists(),
        ".part.meta left behind"
    );
    assert!(
        !dir.path(&format!("{file}.part.lock")).exists(),
        ".part.lock left behind"
    );
}

/// The byte regions `[first, last]` the meta records as on disk.
pub fn recorded_regions(meta: &Path) -> Vec<(u64, u64)> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(meta).unwrap()).unwrap();
    json["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            let start = c["start"].as_u64().unwrap();
            let end = c["end"].as_u64().unwrap();
            let len = if c["state"] == "done" {
                end - start + 1
            } else {
                c["received"].as_u64().unwrap_or(0)
            };
            (len > 0).then(|| (start, start + len - 1))
        })
        .collect()
}

/// Requested ranges that ask again for bytes in `regions` (a retry may
/// request a missing range twice, but nothing recorded may be requested).
/// The one-byte probe of a resume (`bytes=0-0`) is not counted: it asks
/// for the size, and its byte is not written.
pub fn refetched_ranges(ranges: &[String], regions: &[(u64, u64)]) -> Vec<String> {
    ranges
        .iter()
        .filter(|r| r.as_str() != "bytes=0-0")
        .filter(|r| {
            let Some((a, b)) = r.strip_prefix("bytes=").and_then(|r| r.split_once('-')) else {
                return true;
            };
            let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
            regions.iter().any(|&(s, e)| a <= e && s <= b)
        })
        .cloned()
        .collect()
}

/// Bytes the meta file records as on disk (finished chunks plus progress
/// inside unfinished ones).
pub fn progress_in_meta(meta: &Path) -> Option<u64> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
    let chunks = json["chunks"].as_array()?;
    Some(
        chunks
            .iter()
            .map(|c| {
                let len = c["end"].as_u64().unwrap() - c["start"].as_u64().unwrap() + 1;
                if c["state"] == "done" {
                    len
                } else {
                    c["received"].as_u64().unwrap_or(0)
                }
            })
            .sum(),
    )
}

/// Waits (polling, bounded) until the meta records at least `bytes` of progress.
pub fn wait_for_progress(meta: &Path, bytes: u64, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while progress_in_meta(meta).unwrap_or(0) < bytes {
        assert!(
            child.try_wait().unwrap().is_none(),
            "rangeget exited before it was killed"
        );
        assert!(
            Instant::now() < deadline,
            "no progress recorded in {}",
            meta.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `rangeget ARGS` until its meta records `bytes`, then kills it with
/// SIGKILL, as a crash would.
pub fn kill_after_progress(args: &[&str], meta: &Path, bytes: u64) {
    let mut child = rangeget(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_progress(meta, bytes, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A tmpfs mounted for one test (a small or read-only disk), unmounted
/// when the test ends. Mounting needs root, as in CI.
pub struct Mount(pub PathBuf);

impl Mount {
    pub fn tmpfs(dir: &Scratch, name: &str, options: &str) -> Mount {
        let path = dir.path(name);
        std::fs::create_dir_all(&path).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&path)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs needs root, as in CI");
        Mount(path)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// The `--json` report of a failed run (the last line on stdout): its
/// `error_kind` and `reason`, which tests match rather than wording.
pub fn failure_report(output: &Output) -> (String, String) {
    let stdout = text(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no JSON report on stdout; stderr: {}", text(&output.stderr)));
    let json: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON report ({e}): {line}"));
    assert_eq!(json["status"], "error", "{line}");
    (
        json["error_kind"].as_str().unwrap().to_string(),
        json["reason"].as_str().unwrap().to_string(),
    )
}

/// The peak resident set of process `pid`, in KiB (Linux's `VmHWM`).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// Writes a `-i` list of `entries` (each a URL line and its option lines)
/// into `dir`; its path.
pub fn write_list(dir: &Scratch, entries: &[String]) -> String {
    let path = dir.path("list.txt");
    std::fs::write(&path, entries.join("\n") + "\n").unwrap();
    path.to_str().unwrap().to_string()
}
