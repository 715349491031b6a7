//! `-o -`: the file on stdout, in order, from parallel validated ranges;
//! nothing on disk; a reader that stops, or a file that changes, handled
//! at once.

mod support;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rangeget_test_origin::{expected_content, Origin};
use support::*;

/// Streams `url` with `extra` arguments; returns (status, stdout, stderr).
fn stream(url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![url, "-o", "-"];
    args.extend_from_slice(extra);
    run(&args)
}

fn assert_streamed(origin: &Origin, name: &str, size: u64, query: &str, extra: &[&str]) -> String {
    let url = origin.url(&format!("/o/{name}?size={size}{query}"));
    let output = stream(&url, extra);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{query}: {stderr}");
    assert_eq!(output.stdout.len() as u64, size, "{query}: {stderr}");
    assert!(
        output.stdout == expected_content(name, origin.object_version(name), size),
        "{query}: the stream differs from the object"
    );
    stderr
}

#[test]
fn the_stream_is_byte_exact_in_parallel_ranges_through_server_faults() {
    let origin = Origin::start();
    let small = ["--chunk-size", "256K", "-x", "4", "--timeout", "2"];
    for (i, query) in [
        "",
        "&fault=truncate&truncate_times=3",
        "&fault=html-200&html_times=2",
        "&fault=wrong-range",
        "&fault=status-416",
        "&fault=status-503",
        "&fault=stall&stall_after=100000",
        "&fault=no-accept-ranges",
        "&fault=head-405",
    ]
    .iter()
    .enumerate()
    {
        assert_streamed(&origin, &format!("s{i}.bin"), 3 * MIB + 17, query, &small);
    }
    // In ranges: the origin saw more than one range request.
    assert!(origin.range_requests().len() > 10);
}

#[test]
fn a_link_that_expires_mid_stream_is_renewed_and_the_stream_byte_exact() {
    let origin = Origin::start();
    let query = "&fault=throttle&rate=1M";
    let url = origin.url(&format!("/presign/300/ex.bin?size={}{query}", 4 * MIB));
    let output = stream(&url, &["-x", "4", "--chunk-size", "512K"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        output.stdout == expected_content("ex.bin", 0, 4 * MIB),
        "{stderr}"
    );
    assert_eq!(stderr.matches("has expired").count(), 1, "{stderr}");
}

#[test]
fn a_server_without_ranges_is_streamed_as_one_response() {
    let origin = Origin::start();
    assert_streamed(
        &origin,
        "none.bin",
        2 * MIB,
        "&fault=accept-ranges-none",
        &[],
    );
    assert_streamed(&origin, "nolen.bin", 2 * MIB + 5, "&fault=no-length", &[]);
    // It advertises ranges but answers every one with the whole file.
    let stderr = assert_streamed(&origin, "ign.bin", 2 * MIB, "&fault=ignore-range", &[]);
    assert!(stderr.contains("whole file"), "{stderr}");
}

#[test]
fn a_change_mid_stream_fails_saying_how_much_was_written() {
    let origin = Origin::start();
    let url = origin.url("/o/ch.bin?size=8M&fault=change-after,throttle&change_after=2M&rate=4M");
    let output = stream(&url, &["--chunk-size", "512K", "-x", "2"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "validation error: {stderr}");
    assert!(stderr.contains("changed"), "{stderr}");
    let written = output.stdout.len();
    assert!(written > 0 && written < 8 << 20, "{written} bytes");
    assert!(
        stderr.contains(&format!("({written} bytes) were already written to stdout")),
        "says exactly how much the reader has: {stderr}"
    );
    // What went out is the first version, never a splice of two.
    assert!(output.stdout[..] == expected_content("ch.bin", 0, 8 << 20)[..written]);
}

#[test]
fn a_reader_that_stops_early_ends_the_download_at_once_quietly_but_not_as_a_success() {
    let origin = Origin::start();
    let url = origin.url("/o/pipe.bin?size=256M&fault=throttle&rate=8M");
    let mut child = rangeget(&[&url, "-o", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = vec![0; 1 << 20];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert!(head == expected_content("pipe.bin", 0, 256 << 20)[..1 << 20]);
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after the reader left"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    // The file was not delivered: 128 + SIGPIPE, as `cat` killed by the
    // signal, so that `set -o pipefail` notices.
    assert_eq!(status.code(), Some(141), "{status:?}: {stderr}");
    assert!(stderr.is_empty(), "quietly: {stderr}");
    // No request after it ended.
    let served = origin.requests_served();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(origin.requests_served(), served);
}

#[test]
fn a_stdout_that_fails_otherwise_is_a_loud_error_not_a_quiet_end() {
    // Only a reader that left ends quietly: a full disk behind `> FILE`
    // leaves an incomplete output, which must not pass for success.
    let origin = Origin::start();
    let url = origin.url("/o/full.bin?size=4M");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = rangeget(&[&url, "-o", "-"]).stdout(full).output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "a file error: {stderr}");
    assert!(stderr.contains("stdout"), "{stderr}");
}

#[test]
fn a_slow_reader_holds_the_download_back() {
    let origin = Origin::start();
    let size = 128 * MIB;
    let url = origin.url(&format!("/o/slow.bin?size={size}"));
    let mut child = rangeget(&[&url, "-o", "-", "-x", "4", "--chunk-size", "1M"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = vec![0; 256 * 1024];
    let mut taken = 0u64;
    // About 4 MiB/s for two seconds: the origin could send all 128 MiB
    // in that time on loopback.
    for _ in 0..32 {
        out.read_exact(&mut buf).unwrap();
        taken += buf.len() as u64;
        std::thread::sleep(Duration::from_millis(62));
    }
    let sent = origin.body_bytes_sent();
    let peak_kib = peak_rss_kib(child.id());
    drop(out);
    let _ = child.wait();
    // What was taken, the window (4 × 1 MiB), and what the sockets'
    // buffers hold: far from the whole file.
    assert!(
        sent < taken + 40 * MIB,
        "sent {} MiB for a reader that took {} MiB",
        sent / MIB,
        taken / MIB
    );
    // The runtime and the window, not the file: 128 MiB held would show.
    assert!(peak_kib < 96 * 1024, "peak RSS {} MiB", peak_kib / 1024);
}

#[test]
fn a_checksum_is_taken_on_the_fly_and_a_mismatch_fails_after_the_last_byte() {
    let origin = Origin::start();
    let url = origin.url("/o/sum.bin?size=1M");
    let good = "sha256=a2e6fcb1d9c6e7e1ce7dfb1c8b0e17ac7b7d6e55e9fc4a6f2c8d1e1b0f1a3c4d";
    let output = stream(&url, &["--checksum", good]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("SHA-256") && stderr.contains("went to stdout, whose reader must discard"),
        "{stderr}"
    );
    assert_eq!(output.stdout.len(), 1 << 20, "every byte went out first");
    let actual = sha256_hex(&output.stdout);
    let output = stream(&url, &["--checksum", &format!("sha256={actual}")]);
    assert_success(&output);
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_json_report_has_no_place_on_stdout() {
    let output = stream("http://127.0.0.1:9/x", &["--json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--json"));
}
