//! Hostile servers, hostile disks, kills at any moment: every case ends in
//! PASS (exit 0, byte-exact file) or LOUD (a non-zero exit with a clear
//! message, nothing at the destination, finished work kept). See
//! docs/RELIABILITY.md for the table these tests prove.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use rangeget_test_origin::Origin;
use support::*;

/// Runs `rangeget ARGS` and checks the PASS outcome.
fn assert_pass(origin: &Origin, name: &str, size: u64, query: &str, extra: &[&str]) -> String {
    let dir = Scratch::new(&name.replace('.', "-"));
    let url = origin.url(&format!("/o/{name}?size={size}{query}"));
    let file = dir.arg(name);
    let mut args = vec![url.as_str(), "-o", file.as_str()];
    args.extend_from_slice(extra);
    let output = run(&args);
    assert_success(&output);
    assert_downloaded(&dir, name, name, origin.object_version(name), size);
    text(&output.stderr)
}

#[test]
fn no_accept_ranges_header_but_a_206_downloads_in_ranges() {
    let origin = Origin::start();
    let stderr = assert_pass(&origin, "nar.bin", 3 * MIB, "&fault=no-accept-ranges", &[]);
    // The probe's 206 proves ranges work, whatever the header says.
    assert!(!stderr.contains("one stream"), "{stderr}");
    assert!(origin.range_requests().len() > 1);
}

#[test]
fn accept_ranges_none_downloads_as_one_stream() {
    let origin = Origin::start();
    assert_pass(
        &origin,
        "arn.bin",
        3 * MIB,
        "&fault=accept-ranges-none",
        &[],
    );
    assert!(
        origin.range_requests().len() <= 1,
        "no range but the probe's was asked of a server that refuses them"
    );
}

#[test]
fn a_head_answered_403_while_checking_a_200_leaves_the_200_taken() {
    // The probe is a ranged GET; a HEAD goes out only to check a 200
    // without validators (the object, or an error page?). A server that
    // refuses that HEAD (S3 URLs signed for GET answer 403) must not make
    // the object look unavailable: the 200 is the object, streamed.
    let origin = Origin::start();
    let stderr = assert_pass(
        &origin,
        "h403.bin",
        2 * MIB,
        "&fault=head-403,accept-ranges-none,no-validators",
        &["--chunk-size", "512K", "-v"],
    );
    let head = stderr.lines().position(|l| l.contains("> HEAD "));
    let refused = stderr
        .lines()
        .position(|l| l.starts_with("rangeget: < 403 "));
    assert!(
        head.is_some() && refused > head,
        "the check was sent and refused: {stderr}"
    );
}

#[test]
fn chunked_body_without_length_downloads_as_one_stream() {
    let origin = Origin::start();
    assert_pass(
        &origin,
        "chunked.bin",
        3 * MIB + 11,
        "&fault=no-length",
        &[],
    );
}

#[test]
fn html_page_instead_of_a_range_is_never_written() {
    let origin = Origin::start();
    let stderr = assert_pass(
        &origin,
        "html.bin",
        2 * MIB,
        "&fault=html-200&html_times=2",
        &["--chunk-size", "512K"],
    );
    assert!(stderr.contains("unrelated body"), "{stderr}");
}

#[test]
fn shifted_content_range_is_never_written() {
    let origin = Origin::start();
    let stderr = assert_pass(
        &origin,
        "shift.bin",
        2 * MIB,
        "&fault=wrong-range&wrong_times=2",
        &["--chunk-size", "512K"],
    );
    assert!(stderr.contains("Content-Range"), "{stderr}");
}

#[test]
fn spurious_416_is_retried() {
    let origin = Origin::start();
    assert_pass(
        &origin,
        "e416.bin",
        MIB,
        "&fault=status-416&status_times=2",
        &["--chunk-size", "256K"],
    );
}

#[test]
fn server_errors_are_retried() {
    let origin = Origin::start();
    assert_pass(
        &origin,
        "e500.bin",
        MIB,
        "&fault=status-500&status_times=3",
        &["--chunk-size", "256K"],
    );
}

#[test]
fn too_many_requests_with_an_http_date_retry_after() {
    let origin = Origin::start();
    let started = Instant::now();
    let stderr = assert_pass(
        &origin,
        "e429.bin",
        MIB,
        "&fault=status-429&retry_after=2&retry_after_date=1",
        &["--chunk-size", "256K"],
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the date was honoured"
    );
    assert!(stderr.contains("429"), "{stderr}");
}

#[test]
fn object_of_a_new_size_replaced_mid_download_restarts_with_it() {
    let origin = Origin::start();
    let dir = Scratch::new("resized");
    let size = 4 * MIB;
    let url = origin.url(&format!("/o/rs.bin?size={size}&fault=throttle&rate=2M"));
    let file = dir.arg("rs.bin");
    let mut child = rangeget(&[&url, "-o", &file, "--chunk-size", "256K", "-x", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_progress(&dir.path("rs.bin.part.meta"), MIB, &mut child);
    origin.set_size_override("rs.bin", Some(3 * MIB));
    origin.replace_object("rs.bin");
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    assert_downloaded(&dir, "rs.bin", "rs.bin", 1, 3 * MIB);
    assert!(
        text(&output.stderr).contains("changed"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn headers_then_silence_is_cancelled_and_retried() {
    let origin = Origin::start();
    let stderr = assert_pass(
        &origin,
        "stall.bin",
        MIB,
        "&fault=stall&stall_times=2&stall_after=1000",
        &["--chunk-size", "256K", "--timeout", "1"],
    );
    // Either the component's stall check or the host's read timeout
    // (both set by --timeout) cancels the attempt; either way it is retried.
    assert!(stderr.contains("retry 1"), "{stderr}");
}

#[test]
fn a_trickle_below_the_speed_limit_fails_loudly_with_progress_saved() {
    let origin = Origin::start();
    let dir = Scratch::new("trickle");
    let url = origin.url("/o/tr.bin?size=1M&fault=trickle&trickle_rate=300");
    let output = run(&[
        &url,
        "-o",
        &dir.arg("tr.bin"),
        "--timeout",
        "1",
        "--retries",
        "1",
        "--speed-limit",
        "1K",
        "--json",
    ]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "network error: {}",
        text(&output.stderr)
    );
    assert_eq!(
        failure_report(&output),
        ("network".into(), "stalled".into())
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the same command"),
        "says how to resume: {stderr}"
    );
    assert!(!dir.path("tr.bin").exists(), "nothing at the destination");
    assert!(dir.path("tr.bin.part.meta").exists(), "progress kept");
}

#[test]
fn connection_refused_at_first_then_up() {
    let dir = Scratch::new("late-origin");
    let addr = refused_addr();
    let url = format!("http://{addr}/o/late.bin?size=1048576");
    let child = rangeget(&[&url, "-o", &dir.arg("late.bin")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first attempt must have been refused before the origin comes up.
    let deadline = Instant::now() + Duration::from_secs(10);
    let meta = dir.path("late.bin.part.meta");
    std::thread::sleep(Duration::from_millis(400));
    assert!(!meta.exists() && Instant::now() < deadline);
    let _origin = Origin::start_on(addr).expect("the port is still free");
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    assert_downloaded(&dir, "late.bin", "late.bin", 0, MIB);
    assert!(
        text(&output.stderr).contains("connection refused"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn redirect_chains_of_every_kind_are_followed() {
    let origin = Origin::start();
    let dir = Scratch::new("redirects");
    // Absolute Locations cycling through 301, 302, 303, 307 and 308.
    let url = origin.url("/ra/5/ra.bin?size=300000");
    let output = run(&[&url, "-o", &dir.arg("ra.bin"), "--chunk-size", "64K"]);
    assert_success(&output);
    assert_downloaded(&dir, "ra.bin", "ra.bin", 0, 300_000);
}

#[test]
fn redirect_loop_is_a_clear_http_error() {
    let origin = Origin::start();
    let dir = Scratch::new("loop");
    let output = run(&[&origin.url("/loop/x"), "-o", &dir.arg("x"), "--json"]);
    assert_eq!(output.status.code(), Some(4));
    assert_eq!(
        failure_report(&output),
        ("HTTP".into(), "too-many-redirects".into())
    );
    assert!(
        text(&output.stderr).contains("redirect loop"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn torn_part_file_is_detected_and_only_the_damaged_chunk_refetched() {
    let origin = Origin::start();
    let dir = Scratch::new("torn");
    let size = 4 * MIB;
    let url = origin.url(&format!("/o/torn.bin?size={size}&fault=throttle&rate=2M"));
    let file = dir.arg("torn.bin");
    let args = [
        url.as_str(),
        "-o",
        file.as_str(),
        "--chunk-size",
        "256K",
        "-x",
        "2",
    ];
    kill_after_progress(&args, &dir.path("torn.bin.part.meta"), 2 * MIB);

    // What a power loss can leave: the meta says chunk 0 is done, but its
    // bytes never reached the disk.
    let part = dir.path("torn.bin.part");
    let mut bytes = std::fs::read(&part).unwrap();
    bytes[1000..5000].fill(0);
    std::fs::write(&part, bytes).unwrap();

    origin.reset_counters();
    let output = run(&args);
    assert_success(&output);
    assert_downloaded(&dir, "torn.bin", "torn.bin", 0, size);
    assert!(
        text(&output.stderr).contains("did not match"),
        "{}",
        text(&output.stderr)
    );
    let ranges = origin.range_requests();
    assert!(
        ranges.contains(&"bytes=0-262143".to_string()),
        "chunk 0 refetched: {ranges:?}"
    );
}

#[test]
fn ctrl_c_saves_progress_and_exits_130_then_the_same_command_resumes() {
    let origin = Origin::start();
    let dir = Scratch::new("sigint");
    let size = 8 * MIB;
    let url = origin.url(&format!("/o/int.bin?size={size}&fault=throttle&rate=1M"));
    let file = dir.arg("int.bin");
    let args = [url.as_str(), "-o", file.as_str(), "--chunk-size", "512K"];
    let mut child = rangeget(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let meta = dir.path("int.bin.part.meta");
    wait_for_progress(&meta, MIB, &mut child);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert!(
        text(&output.stderr).contains("run the same command again"),
        "{}",
        text(&output.stderr)
    );
    assert!(!dir.path("int.bin").exists());
    let saved = progress_in_meta(&meta).unwrap();
    assert!(saved >= MIB, "progress kept: {saved}");
    let recorded = recorded_regions(&meta);

    origin.reset_counters();
    let output = run(&args);
    assert_success(&output);
    assert_downloaded(&dir, "int.bin", "int.bin", 0, size);
    let refetched = refetched_ranges(&origin.range_requests(), &recorded);
    assert!(
        refetched.is_empty(),
        "recorded bytes asked for again: {refetched:?}"
    );
}

#[test]
fn file_size_limit_is_a_clear_file_error_with_nothing_at_the_destination() {
    let origin = Origin::start();
    let dir = Scratch::new("fsize");
    let url = origin.url("/o/big.bin?size=4M");
    // RLIMIT_FSIZE of 1 MiB (ulimit counts 1024-byte blocks).
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 1024 && exec '{}' '{url}' -o '{}' --json",
            env!("CARGO_BIN_EXE_rangeget"),
            dir.arg("big.bin")
        ))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(6),
        "file error: {}",
        text(&output.stderr)
    );
    assert_eq!(failure_report(&output), ("file".into(), "io".into()));
    assert!(
        text(&output.stderr).contains("file too large"),
        "{}",
        text(&output.stderr)
    );
    assert!(!dir.path("big.bin").exists());
}

/// A tiny deterministic generator, so the kill schedule is the same on
/// every run.
struct Lcg(u64);

impl Lcg {
    fn next_in(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        low + (self.0 >> 33) % (high - low)
    }
}

#[test]
fn twenty_kills_at_random_moments_cost_under_ten_percent_extra() {
    let origin = Origin::start();
    let dir = Scratch::new("kill-loop");
    let size = 40 * MIB;
    // 4 connections of 512 KiB/s each: ~20 s of transfer, cut by 20 kills.
    let url = origin.url(&format!("/o/loop.bin?size={size}&fault=throttle&rate=512K"));
    let file = dir.arg("loop.bin");
    let args = [url.as_str(), "-o", file.as_str(), "--chunk-size", "2M"];
    let mut schedule = Lcg(42);
    let mut kills = 0;
    loop {
        let mut child = rangeget(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if kills == 20 {
            assert!(child.wait().unwrap().success(), "the last run completes");
            break;
        }
        let deadline = Instant::now() + Duration::from_millis(schedule.next_in(300, 1500));
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "rangeget failed during the kill loop");
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if finished {
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        assert!(
            !dir.path("loop.bin").exists(),
            "nothing at the destination after kill {kills}"
        );
    }
    assert_downloaded(&dir, "loop.bin", "loop.bin", 0, size);
    let sent = origin.body_bytes_sent();
    let extra = (sent - size) as f64 * 100.0 / size as f64;
    eprintln!(
        "{kills} kills: the origin sent {sent} bytes for a {size}-byte file ({extra:.1} % extra)"
    );
    assert!(
        kills >= 15,
        "the loop really interrupted the download ({kills} kills)"
    );
    assert!(
        extra <= 10.0,
        "{extra:.1} % more than the file was sent over {kills} kills"
    );
}

#[test]
fn part_file_without_meta_is_not_trusted() {
    let origin = Origin::start();
    let dir = Scratch::new("orphan-part");
    let size = MIB;
    std::fs::write(dir.path("o.bin.part"), vec![0x55; size as usize]).unwrap();
    let url = origin.url(&format!("/o/o.bin?size={size}"));
    let output = run(&[&url, "-o", &dir.arg("o.bin"), "--chunk-size", "256K"]);
    assert_success(&output);
    assert_downloaded(&dir, "o.bin", "o.bin", 0, size);
    assert!(
        text(&output.stderr).contains("cannot be trusted"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(origin.body_bytes_sent(), size, "everything fetched again");
}

#[test]
fn empty_and_one_byte_files_download_quietly() {
    let origin = Origin::start();
    for size in [0u64, 1] {
        let name = format!("e{size}.bin");
        let stderr = assert_pass(&origin, &name, size, "", &[]);
        assert!(
            stderr.is_empty(),
            "nothing to warn about for {size} bytes: {stderr}"
        );
    }
}

#[test]
fn a_closed_output_pipe_never_hangs_the_download() {
    let origin = Origin::start();
    let dir = Scratch::new("closed-pipe");
    let url = origin.url("/o/pipe.bin?size=2M&fault=truncate&truncate_times=2");
    // Both ends the user could close: stdout (the summary) and stderr (the retries).
    let mut child = rangeget(&[&url, "-o", &dir.arg("pipe.bin"), "--chunk-size", "512K"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("rangeget hung writing to a closed pipe");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert_downloaded(&dir, "pipe.bin", "pipe.bin", 0, 2 * MIB);
}

/// A small tmpfs mounted for one test (the tests run as root, as CI does).
#[test]
fn disk_full_is_a_clear_file_error_with_the_meta_intact() {
    let origin = Origin::start();
    let dir = Scratch::new("disk-full");
    // Room for the file at the start (a download that cannot fit is
    // refused up front); the disk fills up while it arrives.
    let mount = Mount::tmpfs(&dir, "small", "size=6m");
    let file = mount.0.join("big.bin");
    let url = origin.url("/o/big.bin?size=4M&fault=throttle&rate=1M");
    let args = [
        &url,
        "-o",
        file.to_str().unwrap(),
        "--chunk-size",
        "256K",
        "--json",
    ];
    let mut child = rangeget(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_progress(&mount.0.join("big.bin.part.meta"), 256 * 1024, &mut child);
    fill_up(&mount.0.join("filler"));
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(6), "{}", text(&output.stderr));
    assert_eq!(failure_report(&output), ("file".into(), "io".into()));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no space left on device") && stderr.contains("the same command"),
        "{stderr}"
    );
    assert!(!file.exists(), "nothing at the destination");
    let meta = std::fs::read(mount.0.join("big.bin.part.meta")).unwrap();
    serde_json::from_slice::<serde_json::Value>(&meta).expect("the meta is still valid JSON");
}

/// Writes `path` until its file system is full.
fn fill_up(path: &std::path::Path) {
    use std::io::Write;
    let mut filler = std::fs::File::create(path).unwrap();
    let block = vec![0xA5u8; 64 * 1024];
    while filler.write_all(&block).is_ok() {}
}

#[test]
fn read_only_directory_is_a_clear_file_error() {
    let origin = Origin::start();
    let dir = Scratch::new("read-only");
    let mount = Mount::tmpfs(&dir, "ro", "ro,size=1m");
    let file = mount.0.join("x.bin");
    let output = run(&[
        &origin.url("/o/x.bin?size=1M"),
        "-o",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(6), "{}", text(&output.stderr));
    assert_eq!(failure_report(&output).0, "file");
    assert!(
        text(&output.stderr).contains("writable"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_head_stating_another_length_is_outweighed_by_the_range_answers() {
    // HEAD says 1000 bytes; every 206 says 4 MiB, with the same ETag and
    // Last-Modified. Neither a download nor its resume relies on the HEAD.
    let origin = Origin::start();
    let size = 4 * MIB;
    assert_pass(
        &origin,
        "hs.bin",
        size,
        "&fault=head-size&head_size=1000",
        &[],
    );

    let dir = Scratch::new("head-size-resume");
    let url = origin.url(&format!(
        "/o/hr.bin?size={size}&fault=head-size,throttle&head_size=1000&rate=2M"
    ));
    let file = dir.arg("hr.bin");
    let args = [
        url.as_str(),
        "-o",
        file.as_str(),
        "--chunk-size",
        "256K",
        "-x",
        "2",
    ];
    kill_after_progress(&args, &dir.path("hr.bin.part.meta"), MIB);
    let output = run(&args);
    assert_success(&output);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("resuming"), "the rerun continues: {stderr}");
    assert!(!stderr.contains("changed"), "no change is seen: {stderr}");
    assert_downloaded(&dir, "hr.bin", "hr.bin", 0, size);
}

#[test]
fn a_range_answer_longer_than_its_span_keeps_the_span() {
    // Every 206 announces and carries 4 KiB more than its Content-Range
    // span: the span is written, the rest dropped, one warning.
    let origin = Origin::start();
    let stderr = assert_pass(
        &origin,
        "ll.bin",
        3 * MIB + 5,
        "&fault=long-length",
        &["--chunk-size", "256K"],
    );
    assert_eq!(
        stderr.matches("announced").count(),
        1,
        "told once: {stderr}"
    );
    assert!(!stderr.contains("retry"), "nothing retried: {stderr}");
}
