//! End-to-end tests: the real `rangeget` binary (and so the real component in
//! the real wasmtime) against a real HTTP origin on 127.0.0.1 that
//! misbehaves on purpose. Every test asserts on the bytes on disk.

mod support;

use std::time::{Duration, Instant};

use rangeget_test_origin::{expected_content, Origin, Socks5Proxy, LAST_MODIFIED_BASE_SECS};
use support::*;

#[test]
fn downloads_many_chunks_in_parallel_byte_exact() {
    let origin = Origin::start();
    let dir = Scratch::new("many-chunks");
    let size = 5 * MIB + 123;
    let url = origin.url(&format!("/o/many.bin?size={size}"));
    let output = run(&[
        &url,
        "-o",
        &dir.arg("many.bin"),
        "--chunk-size",
        "256K",
        "-x",
        "4",
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "many.bin", "many.bin", 0, size);
    assert!(
        text(&output.stdout).contains("saved"),
        "summary on stdout: {}",
        text(&output.stdout)
    );
    let ranges = origin.range_requests();
    assert_eq!(
        ranges.len(),
        21,
        "one request per 256 KiB chunk: {ranges:?}"
    );
}

#[test]
fn server_that_ignores_range_still_yields_the_file() {
    let origin = Origin::start();
    let dir = Scratch::new("ignore-range");
    let size = 3 * MIB;
    let url = origin.url(&format!("/o/ign.bin?size={size}&fault=ignore-range"));
    let output = run(&[&url, "-o", &dir.arg("ign.bin"), "--chunk-size", "1M"]);
    assert_success(&output);
    assert_downloaded(&dir, "ign.bin", "ign.bin", 0, size);
    assert!(
        text(&output.stderr).contains("single stream"),
        "{}",
        text(&output.stderr)
    );
    // A range that covers a whole tiny file answered with 200 (as Apache
    // does) lost nothing: not worth a warning.
    let tiny = origin.url("/o/tiny.bin?size=500&fault=ignore-range");
    let output = run(&[&tiny, "-o", &dir.arg("tiny.bin")]);
    assert_success(&output);
    assert_downloaded(&dir, "tiny.bin", "tiny.bin", 0, 500);
    assert_eq!(text(&output.stderr), "", "no warning");
}

#[test]
fn a_fresh_download_starts_with_its_first_bytes_and_no_head() {
    let origin = Origin::start();
    let dir = Scratch::new("no-head");
    let size = 2 * MIB + 7;
    // HEAD refused: a fresh download never needs it.
    let url = origin.url(&format!("/o/h.bin?size={size}&fault=head-405"));
    let output = run(&[&url, "-o", &dir.arg("h.bin"), "--chunk-size", "512K"]);
    assert_success(&output);
    assert_downloaded(&dir, "h.bin", "h.bin", 0, size);
    // The probe's answer is chunk 0's first request: nothing sent twice.
    let ranges = origin.range_requests();
    assert_eq!(ranges[0], "bytes=0-524287", "{ranges:?}");
    assert_eq!(ranges.len(), 5, "one request per chunk: {ranges:?}");
    assert_eq!(origin.body_bytes_sent(), size);
}

#[test]
fn head_refused_with_405_falls_back_to_get() {
    let origin = Origin::start();
    let dir = Scratch::new("head-405");
    let size = 8 * MIB;
    let url = origin.url(&format!(
        "/o/h.bin?size={size}&fault=head-405,throttle&rate=1M"
    ));
    let args = [
        url.as_str(),
        "-o",
        &dir.arg("h.bin"),
        "--chunk-size",
        "512K",
    ];
    // A rerun of a stopped download probes with HEAD: refused here.
    kill_after_progress(&args, &dir.path("h.bin.part.meta"), MIB);
    origin.reset_counters();
    let output = run(&args);
    assert_success(&output);
    assert_downloaded(&dir, "h.bin", "h.bin", 0, size);
    // The GET that replaces the refused HEAD asks for one byte, not the object.
    assert_eq!(origin.range_requests()[0], "bytes=0-0");
}

#[test]
fn resumes_after_kill_without_refetching_done_chunks() {
    let origin = Origin::start();
    let dir = Scratch::new("kill");
    let size = 8 * MIB;
    // 4 connections at 1 MiB/s each: about two seconds in all.
    let url = origin.url(&format!("/o/k.bin?size={size}&fault=throttle&rate=1M"));
    let file = dir.arg("k.bin");
    let args = [
        url.as_str(),
        "-o",
        file.as_str(),
        "--chunk-size",
        "512K",
        "-x",
        "4",
    ];
    let meta = dir.path("k.bin.part.meta");
    kill_after_progress(&args, &meta, 2 * MIB);
    assert!(
        !dir.path("k.bin").exists(),
        "nothing at the destination after a kill"
    );
    let recorded = recorded_regions(&meta);

    origin.reset_counters();
    let output = run(&args);
    assert_success(&output);
    assert_downloaded(&dir, "k.bin", "k.bin", 0, size);
    let refetched = refetched_ranges(&origin.range_requests(), &recorded);
    assert!(
        refetched.is_empty(),
        "recorded bytes asked for again: {refetched:?}"
    );
    assert!(
        text(&output.stderr).contains(&format!("resuming {file}: ")),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn remote_replaced_between_runs_restarts_with_the_new_file() {
    let origin = Origin::start();
    let dir = Scratch::new("replaced");
    let size = 4 * MIB;
    let url = origin.url(&format!("/o/r.bin?size={size}&fault=throttle&rate=1M"));
    let file = dir.arg("r.bin");
    let args = [
        url.as_str(),
        "-o",
        file.as_str(),
        "--chunk-size",
        "256K",
        "-x",
        "2",
    ];
    kill_after_progress(&args, &dir.path("r.bin.part.meta"), MIB);

    origin.replace_object("r.bin");
    let output = run(&args);
    assert_success(&output);
    assert_downloaded(&dir, "r.bin", "r.bin", 1, size);
    assert!(
        text(&output.stderr).contains("changed"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn remote_replaced_during_the_download_is_caught_by_if_range() {
    let origin = Origin::start();
    let dir = Scratch::new("changed-midway");
    let size = 4 * MIB;
    let url = origin.url(&format!(
        "/o/c.bin?size={size}&fault=change-after&change_after={}",
        MIB
    ));
    let output = run(&[
        &url,
        "-o",
        &dir.arg("c.bin"),
        "--chunk-size",
        "256K",
        "-x",
        "2",
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "c.bin", "c.bin", 1, size);
    assert!(
        text(&output.stderr).contains("changed"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_remote_that_keeps_changing_is_given_up_after_four_starts() {
    let origin = Origin::start();
    let dir = Scratch::new("keeps-changing");
    // Replaced after every 512 KiB sent, more often than 4 MiB can be fetched.
    let url = origin.url("/o/k.bin?size=4M&fault=change-after&change_after=512K&change_times=100");
    let output = run(&[
        &url,
        "-o",
        &dir.arg("k.bin"),
        "--chunk-size",
        "256K",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let changed = format!("{}: the remote file changed", dir.arg("k.bin"));
    assert_eq!(stderr.matches(&changed).count(), 3, "{stderr}");
    assert!(
        stderr.contains("keeps changing while it downloads"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["reason"], "keeps-changing", "{report}");
    assert!(!dir.path("k.bin").exists(), "nothing gets the name");
}

#[test]
fn truncated_body_is_retried() {
    let origin = Origin::start();
    let dir = Scratch::new("truncate");
    let size = 2 * MIB;
    let url = origin.url(&format!(
        "/o/t.bin?size={size}&fault=truncate&truncate_times=3"
    ));
    let output = run(&[&url, "-o", &dir.arg("t.bin"), "--chunk-size", "512K"]);
    assert_success(&output);
    assert_downloaded(&dir, "t.bin", "t.bin", 0, size);
    assert!(
        text(&output.stderr).contains("retry"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn overlong_body_is_cut_at_the_range_end() {
    let origin = Origin::start();
    let dir = Scratch::new("overlong");
    let size = 2 * MIB;
    let url = origin.url(&format!("/o/l.bin?size={size}&fault=overlong"));
    let output = run(&[&url, "-o", &dir.arg("l.bin"), "--chunk-size", "256K"]);
    assert_success(&output);
    assert_downloaded(&dir, "l.bin", "l.bin", 0, size);
}

#[test]
fn a_far_origin_is_asked_once_per_connection() {
    // Every answer waits 40 ms: the probe's round trip makes the origin
    // far, so each of the 4 connections gets one chunk and one request for
    // it, instead of a round trip per 2 MiB.
    let origin = Origin::start();
    let dir = Scratch::new("far");
    let size = 16 * MIB;
    let url = origin.url(&format!("/o/far.bin?size={size}&fault=latency&latency=40"));
    let output = run(&[&url, "-o", &dir.arg("far.bin"), "-x", "4"]);
    assert_success(&output);
    assert_downloaded(&dir, "far.bin", "far.bin", 0, size);
    let mut ranges = origin.range_requests();
    ranges.sort();
    assert_eq!(
        ranges,
        [
            "bytes=0-1048575",
            "bytes=1048576-4194303",
            "bytes=12582912-16777215",
            "bytes=4194304-8388607",
            "bytes=8388608-12582911",
        ],
        "the probe's first MiB, the rest of chunk 0, one request per other chunk"
    );
}

#[test]
fn a_large_chunk_is_fetched_as_several_bounded_requests() {
    // One 7 MiB chunk: the probe's answer brings its first MiB, then on
    // loopback the requests stay at 2 MiB (rate limiters let that much
    // through unthrottled). Each request is done
    // when its own range is, not the chunk's: no request may look short
    // and be retried, even with bytes past every range (`overlong`).
    let origin = Origin::start();
    let dir = Scratch::new("requests-in-chunk");
    let size = 7 * MIB;
    let url = origin.url(&format!("/o/big.bin?size={size}&fault=overlong"));
    // One connection: more would split the chunk between them.
    let output = run(&[
        &url,
        "-o",
        &dir.arg("big.bin"),
        "--chunk-size",
        "7M",
        "-x",
        "1",
        "-v",
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "big.bin", "big.bin", 0, size);
    let ranges = origin.range_requests();
    let asked: Vec<ByteSpan> = ranges.iter().map(|r| byte_span(r)).collect();
    assert_eq!(asked[0], (0, MIB - 1), "the probe's first MiB: {ranges:?}");
    assert!(
        asked.windows(2).all(|pair| pair[1].0 == pair[0].1 + 1),
        "back to back: {ranges:?}"
    );
    assert_eq!(asked.last().unwrap().1, size - 1, "to the end: {ranges:?}");
    // A loaded machine can take 10 ms to answer the probe even on
    // loopback: the origin is then taken for a far one, as -v says, and
    // asked the chunk's rest at once. Near, requests start at 2 MiB and
    // may double (when the waits for heads are long next to the bodies).
    if probe_was_far(&output) {
        assert_eq!(
            asked.len(),
            2,
            "a far origin: the chunk's rest at once: {ranges:?}"
        );
    } else {
        assert_eq!(
            asked[1],
            (MIB, 3 * MIB - 1),
            "near, 2 MiB first: {ranges:?}"
        );
        let len = |span: &ByteSpan| span.1 - span.0 + 1;
        assert!(
            asked[1..]
                .windows(2)
                .all(|pair| len(&pair[1]) <= 2 * len(&pair[0])),
            "each request at most double the one before: {ranges:?}"
        );
    }
    assert!(
        !text(&output.stderr).contains("retry"),
        "every request ended where it should: {}",
        text(&output.stderr)
    );
}

#[test]
fn an_idle_connection_takes_over_the_rest_of_a_stalled_chunk() {
    // One 8 MiB chunk and two connections; the first response to arrive
    // goes silent after 256 KiB. The other connection must not sit idle
    // until the stall is detected: it takes the back half of the chunk at
    // once, then whatever follows the stalled request, so only that
    // request's remainder is left for the retry, which comes last.
    let origin = Origin::start();
    let dir = Scratch::new("tail-split");
    let size = 8 * MIB;
    let url = origin.url(&format!(
        "/o/split.bin?size={size}&fault=stall&stall_after=256K"
    ));
    let output = run(&[
        &url,
        "-o",
        &dir.arg("split.bin"),
        "--chunk-size",
        "8M",
        "-x",
        "2",
        "--timeout",
        "1",
        "-v",
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "split.bin", "split.bin", 0, size);
    let ranges = origin.range_requests();
    let start = |range: &String| byte_span(range).0;
    let (retry, before) = ranges.split_last().expect("range requests");
    assert!(
        before.iter().any(|r| start(r) + 256 * 1024 == start(retry)),
        "the last request is not the stalled one's retry: {ranges:?}"
    );
    // Taken for a far origin (a slow probe on a loaded machine, as -v
    // says), each request is a whole chunk: nothing follows one.
    let least = if probe_was_far(&output) { 3 } else { 4 };
    assert!(
        before.len() >= least,
        "the stalled request, the back half, and what follows each request: {ranges:?}"
    );
}

#[test]
fn corrupt_meta_starts_clean() {
    let origin = Origin::start();
    let dir = Scratch::new("corrupt-meta");
    let size = MIB + 5;
    std::fs::write(dir.path("m.bin.part"), vec![0xAA; size as usize]).unwrap();
    std::fs::write(
        dir.path("m.bin.part.meta"),
        b"{\"version\": 1, \"chunks\": [tru",
    )
    .unwrap();
    let url = origin.url(&format!("/o/m.bin?size={size}"));
    let output = run(&[&url, "-o", &dir.arg("m.bin"), "--chunk-size", "256K"]);
    assert_success(&output);
    assert_downloaded(&dir, "m.bin", "m.bin", 0, size);
    assert!(
        text(&output.stderr).contains("starting over"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn service_unavailable_with_retry_after_then_success() {
    let origin = Origin::start();
    let dir = Scratch::new("503");
    let size = MIB;
    let url = origin.url(&format!(
        "/o/s.bin?size={size}&fault=status-503&status_times=2&retry_after=1"
    ));
    let started = Instant::now();
    let output = run(&[&url, "-o", &dir.arg("s.bin"), "--chunk-size", "256K"]);
    assert_success(&output);
    assert_downloaded(&dir, "s.bin", "s.bin", 0, size);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert!(
        text(&output.stderr).contains("503"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let output = run(&["not-a-url"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("http"),
        "{}",
        text(&output.stderr)
    );
    let output = run(&["http://127.0.0.1:9/x", "--connections", "zero"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn missing_output_directory_is_a_clear_error() {
    let output = run(&[
        "http://127.0.0.1:9/x",
        "-o",
        "/nonexistent-dir-for-rangeget/x",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(6), "file error");
    assert_eq!(
        failure_report(&output),
        ("file".into(), "destination".into())
    );
    assert!(
        text(&output.stderr).contains("does not exist"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn an_existing_destination_is_never_clobbered_without_force() {
    let origin = Origin::start();
    let dir = Scratch::new("exists");
    std::fs::write(dir.path("e.bin"), b"precious").unwrap();
    let url = origin.url("/o/e.bin?size=1000");
    let output = run(&[&url, "-o", &dir.arg("e.bin"), "--json"]);
    assert_eq!(output.status.code(), Some(6), "file error");
    assert_eq!(failure_report(&output), ("file".into(), "exists".into()));
    assert!(
        text(&output.stderr).contains("--force"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(std::fs::read(dir.path("e.bin")).unwrap(), b"precious");
    assert_eq!(
        origin.body_bytes_sent(),
        0,
        "refused before downloading anything"
    );

    let output = run(&[&url, "-o", &dir.arg("e.bin"), "--force"]);
    assert_success(&output);
    assert_downloaded(&dir, "e.bin", "e.bin", 0, 1000);
}

#[test]
fn unreachable_server_exits_with_the_network_code() {
    let dir = Scratch::new("refused");
    let url = format!("http://{}/x.bin", refused_addr());
    let output = run(&[&url, "-o", &dir.arg("x.bin"), "--retries", "1", "--json"]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert_eq!(
        failure_report(&output),
        ("network".into(), "unreachable".into())
    );
    assert!(
        text(&output.stderr).contains("rangeget: network error:"),
        "{}",
        text(&output.stderr)
    );
    assert!(!dir.path("x.bin").exists());
}

#[test]
fn missing_object_exits_with_the_http_code() {
    let origin = Origin::start();
    let dir = Scratch::new("404");
    let url = origin.url("/nothing-here");
    let output = run(&[&url, "-o", &dir.arg("n.bin"), "--json"]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    assert_eq!(failure_report(&output), ("HTTP".into(), "status".into()));
    assert!(
        text(&output.stderr).contains("404"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn checksum_is_verified_before_the_file_gets_its_name() {
    use sha2::{Digest, Sha256};
    let origin = Origin::start();
    let dir = Scratch::new("checksum");
    let size = MIB + 17;
    let good = hex::encode(Sha256::digest(expected_content("sum.bin", 0, size)));
    let url = origin.url(&format!("/o/sum.bin?size={size}"));

    let bad = format!("sha256={}", "0".repeat(64));
    let output = run(&[
        &url,
        "-o",
        &dir.arg("sum.bin"),
        "--checksum",
        &bad,
        "--chunk-size",
        "256K",
        "--json",
    ]);
    assert_eq!(
        output.status.code(),
        Some(5),
        "validation error: {}",
        text(&output.stderr)
    );
    assert_eq!(
        failure_report(&output),
        ("validation".into(), "checksum".into())
    );
    assert!(
        !dir.path("sum.bin").exists(),
        "a file failing its checksum never gets the final name"
    );
    assert!(dir.path("sum.bin.part").exists(), "kept for inspection");
    assert!(
        text(&output.stderr).contains(&good),
        "names the actual digest: {}",
        text(&output.stderr)
    );

    let output = run(&[
        &url,
        "-o",
        &dir.arg("sum.bin"),
        "--checksum",
        &format!("sha256={good}"),
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "sum.bin", "sum.bin", 0, size);
}

/// --no-fsync skips only the final flush: both the ranged and the
/// single-stream path still publish the whole file and clean up after it.
#[test]
fn no_fsync_still_publishes_complete_files() {
    let origin = Origin::start();
    let dir = Scratch::new("no-fsync");
    let size = 3 * MIB + 5;
    for (name, fault, single_stream) in [
        ("ranged.bin", "", false),
        ("single.bin", "&fault=accept-ranges-none", true),
    ] {
        let url = origin.url(&format!("/o/{name}?size={size}{fault}"));
        let output = run(&[
            &url,
            "-o",
            &dir.arg(name),
            "--chunk-size",
            "1M",
            "--no-fsync",
        ]);
        assert_success(&output);
        assert_downloaded(&dir, name, name, 0, size);
        assert_eq!(
            text(&output.stderr).contains("in one stream"),
            single_stream,
            "{name}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn json_report_describes_the_download() {
    let origin = Origin::start();
    let dir = Scratch::new("json");
    let size = 2 * MIB;
    let url = origin.url(&format!("/r/2/j.bin?size={size}"));
    let output = run(&[
        &url,
        "-o",
        &dir.arg("j.bin"),
        "--json",
        "--chunk-size",
        "512K",
        "-x",
        "3",
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "j.bin", "j.bin", 0, size);
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object on stdout");
    assert_eq!(report["status"], "ok");
    assert_eq!(report["url"], url.as_str());
    assert!(
        report["final_url"].as_str().unwrap().contains("/o/j.bin"),
        "{report}"
    );
    assert_eq!(report["size"], size);
    assert_eq!(report["bytes_fetched"], size);
    assert_eq!(report["bytes_reused"], 0);
    assert_eq!(report["connections"], 3);
    use sha2::{Digest, Sha256};
    assert_eq!(
        report["sha256"],
        hex::encode(Sha256::digest(expected_content("j.bin", 0, size)))
    );
}

#[test]
fn json_report_of_a_failure_names_its_kind() {
    let origin = Origin::start();
    let dir = Scratch::new("json-fail");
    let output = run(&[&origin.url("/missing"), "-o", &dir.arg("f.bin"), "--json"]);
    assert_eq!(output.status.code(), Some(4));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(report["status"], "error");
    assert_eq!(report["error_kind"], "HTTP");
    assert_eq!(report["exit_code"], 4);
}

#[test]
fn quiet_prints_nothing_on_success() {
    let origin = Origin::start();
    let dir = Scratch::new("quiet");
    let url = origin.url("/o/q.bin?size=100000&fault=status-503&retry_after=0");
    let output = run(&[&url, "-o", &dir.arg("q.bin"), "-q"]);
    assert_success(&output);
    assert_downloaded(&dir, "q.bin", "q.bin", 0, 100_000);
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

#[test]
fn without_output_the_file_is_named_after_the_url_inside_the_directory() {
    let origin = Origin::start();
    let dir = Scratch::new("dir-name");
    let url = origin.url("/o/named.bin?size=5000");
    let output = run(&[&url, "-d", dir.0.to_str().unwrap()]);
    assert_success(&output);
    assert_downloaded(&dir, "named.bin", "named.bin", 0, 5000);
}

#[test]
fn netrc_in_home_is_read_by_the_native_cli_and_wins_over_the_url_with_n() {
    let origin = Origin::start();
    let dir = Scratch::new("netrc-home");
    let home = Scratch::new("netrc-home-dir");
    std::fs::write(home.path(".netrc"), "default login alice password s3cret\n").unwrap();
    // base64("alice:s3cret")
    let query = "size=1000&require_header=Authorization:Basic%20YWxpY2U6czNjcmV0";
    let url = origin.url(&format!("/o/n.bin?{query}"));
    let with_user = url.replacen("http://", "http://bob:wrong@", 1);
    let native = |args: &[&str], home: &Scratch| {
        rangeget(args)
            .env("HOME", &home.0)
            .env_remove("NETRC")
            .output()
            .unwrap()
    };
    // --netrc-optional: the URL's user info wins; -n: the .netrc's.
    let optional = native(
        &[&with_user, "-o", &dir.arg("n.bin"), "--netrc-optional"],
        &home,
    );
    assert_eq!(
        optional.status.code(),
        Some(4),
        "{}",
        text(&optional.stderr)
    );
    let output = native(&[&with_user, "-o", &dir.arg("n.bin"), "-n"], &home);
    assert_success(&output);
    assert_downloaded(&dir, "n.bin", "n.bin", 0, 1000);
    // -n with no .netrc is an error saying where it looked; optional is not.
    let empty = Scratch::new("netrc-home-empty");
    let output = native(&[&url, "-o", &dir.arg("m.bin"), "-n"], &empty);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains(".netrc"),
        "{}",
        text(&output.stderr)
    );
    let output = native(&[&url, "-o", &dir.arg("m.bin"), "--netrc-optional"], &empty);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
}

#[test]
fn custom_headers_and_user_agent_reach_every_request() {
    let origin = Origin::start();
    let dir = Scratch::new("headers");
    let size = MIB;
    let url = origin.url(&format!(
        "/o/auth.bin?size={size}&require_header=Authorization:Bearer%20s3cret"
    ));
    let output = run(&[&url, "-o", &dir.arg("auth.bin")]);
    assert_eq!(
        output.status.code(),
        Some(4),
        "refused without the header: {}",
        text(&output.stderr)
    );
    let output = run(&[
        &url,
        "-o",
        &dir.arg("auth.bin"),
        "-H",
        "Authorization: Bearer s3cret",
        "--chunk-size",
        "256K",
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "auth.bin", "auth.bin", 0, size);

    let url = origin.url(&format!(
        "/o/ua.bin?size={size}&require_header=User-Agent:fetcher/9"
    ));
    let output = run(&[
        &url,
        "-o",
        &dir.arg("ua.bin"),
        "-A",
        "fetcher/9",
        "--chunk-size",
        "256K",
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "ua.bin", "ua.bin", 0, size);
}

#[test]
fn max_speed_caps_the_total_rate() {
    let origin = Origin::start();
    let dir = Scratch::new("max-speed");
    let size = 2 * MIB;
    let url = origin.url(&format!("/o/slow.bin?size={size}"));
    let started = Instant::now();
    let output = run(&[
        &url,
        "-o",
        &dir.arg("slow.bin"),
        "--max-speed",
        "1M",
        "--chunk-size",
        "256K",
        "-x",
        "4",
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "slow.bin", "slow.bin", 0, size);
    // 2 MiB at 1 MiB/s, less the initial 0.1 s burst: at least 1.8 s.
    assert!(
        started.elapsed() >= Duration::from_millis(1800),
        "took only {:?}",
        started.elapsed()
    );
}

#[test]
fn input_file_downloads_every_listed_url() {
    let origin = Origin::start();
    let dir = Scratch::new("input-file");
    let list_dir = Scratch::new("input-list");
    let list = list_dir.path("list.txt");
    std::fs::write(
        &list,
        format!(
            "# two files and a broken link\n{}\n  out=first.bin\n{}\n{}\n",
            origin.url("/o/one.bin?size=300000"),
            origin.url("/o/two.bin?size=200000"),
            origin.url("/missing"),
        ),
    )
    .unwrap();
    let output = run(&[
        "-i",
        list.to_str().unwrap(),
        "-d",
        dir.0.to_str().unwrap(),
        "--json",
        "-x",
        "2",
    ]);
    assert_eq!(
        output.status.code(),
        Some(4),
        "the broken link decides the exit code"
    );
    assert_downloaded(&dir, "first.bin", "one.bin", 0, 300_000);
    assert_downloaded(&dir, "two.bin", "two.bin", 0, 200_000);
    let reports: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // One line per file as it finishes (in any order), then the summary.
    let mut statuses: Vec<&str> = reports
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.pop(), Some("summary"));
    statuses.sort();
    assert_eq!(statuses, ["error", "ok", "ok"]);
    let summary = reports.last().unwrap();
    assert_eq!(
        (summary["saved"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(summary["failures"][0]["reason"], "status");
}

#[test]
fn goes_through_the_http_proxy_of_the_environment_with_its_credentials() {
    let origin = Origin::start();
    let proxy = forward_proxy::ForwardProxy::start();
    let dir = Scratch::new("via-proxy");
    let size = 3 * MIB + 9;
    let url = origin.url(&format!("/o/proxied.bin?size={size}"));
    let proxy_url = proxy.url().replace("http://", "http://joe:s%40fe@");
    let output = rangeget(&[&url, "-o", &dir.arg("proxied.bin"), "--chunk-size", "1M"])
        .env("http_proxy", &proxy_url)
        .output()
        .unwrap();
    assert_success(&output);
    assert_downloaded(&dir, "proxied.bin", "proxied.bin", 0, size);
    let seen = proxy.seen();
    assert!(
        seen.len() >= 4,
        "the probe (chunk 0's first request) and 3 more ranges went through the proxy: {seen:?}"
    );
    for request in &seen {
        assert!(
            request.request_line.contains(&format!(" {url} ")),
            "absolute-form request line: {request:?}"
        );
        // base64("joe:s@fe")
        assert_eq!(request.authorization.as_deref(), Some("Basic am9lOnNAZmU="));
    }
}

#[test]
fn no_proxy_hosts_are_reached_directly() {
    let origin = Origin::start();
    let proxy = forward_proxy::ForwardProxy::start();
    let dir = Scratch::new("no-proxy");
    let url = origin.url("/o/direct.bin?size=70000");
    let output = rangeget(&[&url, "-o", &dir.arg("direct.bin")])
        .env("http_proxy", proxy.url())
        .env("no_proxy", "localhost,127.0.0.1")
        .output()
        .unwrap();
    assert_success(&output);
    assert_downloaded(&dir, "direct.bin", "direct.bin", 0, 70000);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
}

#[test]
fn a_proxy_that_is_down_is_named_in_the_error() {
    let dir = Scratch::new("proxy-down");
    let port = refused_addr().port();
    let output = rangeget(&[
        "http://origin.invalid/file.bin",
        "-o",
        &dir.arg("file.bin"),
        "--retries",
        "0",
    ])
    .env("http_proxy", format!("127.0.0.1:{port}"))
    .output()
    .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("proxy 127.0.0.1:{port} refused the connection")),
        "{stderr}"
    );
}

#[test]
fn goes_through_a_socks5_proxy_resolving_names_where_the_scheme_says() {
    let origin = Origin::start();
    let socks = Socks5Proxy::start(None);
    let dir = Scratch::new("via-socks");
    let size = 3 * MIB + 9;
    let port = origin.addr().port();
    let url = format!("http://localhost:{port}/o/socks.bin?size={size}");
    // socks5h://: the proxy resolves the name; the flag wins over the environment.
    let output = rangeget(&[&url, "-o", &dir.arg("socks.bin"), "--chunk-size", "1M"])
        .args(["--proxy", &format!("socks5h://{}", socks.addr())])
        .env("http_proxy", format!("http://{}", refused_addr()))
        .output()
        .unwrap();
    assert_success(&output);
    assert_downloaded(&dir, "socks.bin", "socks.bin", 0, size);
    let asked = socks.destinations();
    assert!(
        !asked.is_empty() && asked.iter().all(|d| *d == format!("localhost:{port}")),
        "{asked:?}"
    );
    // socks5:// in all_proxy: resolved here, the proxy sees an address.
    let output = rangeget(&[&url, "-o", &dir.arg("socks2.bin")])
        .env("all_proxy", format!("socks5://{}", socks.addr()))
        .output()
        .unwrap();
    assert_success(&output);
    let last = socks.destinations().pop().unwrap();
    assert!(
        last.ends_with(&format!(":{port}")) && !last.starts_with("localhost"),
        "{last}"
    );
}

#[test]
fn a_socks5_proxy_gets_its_login_and_its_refusals_are_clear() {
    let origin = Origin::start();
    let socks = Socks5Proxy::start(Some(("alice", "p@ss")));
    let dir = Scratch::new("socks-login");
    let url = origin.url("/o/sl.bin?size=70000");
    let via = |proxy: String| {
        rangeget(&[&url, "-o", &dir.arg("sl.bin"), "--retries", "0", "--force"])
            .env("all_proxy", proxy)
            .output()
            .unwrap()
    };
    let addr = socks.addr();
    assert_success(&via(format!("socks5h://alice:p%40ss@{addr}")));
    assert_downloaded(&dir, "sl.bin", "sl.bin", 0, 70000);
    for (proxy, says) in [
        (
            format!("socks5h://alice:wrong@{addr}"),
            "refused the user name and password",
        ),
        (
            format!("socks5h://{addr}"),
            "wants credentials; give them in the proxy URL",
        ),
        (
            format!("socks5h://{}", refused_addr()),
            "refused the connection",
        ),
    ] {
        let output = via(proxy);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains("SOCKS5 proxy") && stderr.contains(says),
            "{stderr}"
        );
    }
    // A destination the proxy cannot reach: its reply, in words.
    let dead = format!("http://127.0.0.1:{}/x", refused_addr().port());
    let output = rangeget(&[&dead, "-o", &dir.arg("x"), "--retries", "0"])
        .env("all_proxy", format!("socks5h://alice:p%40ss@{addr}"))
        .output()
        .unwrap();
    assert!(
        text(&output.stderr).contains("connection refused"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn cookie_files_outside_the_output_directory_are_granted_to_the_component() {
    let origin = Origin::start();
    let dir = Scratch::new("cookies-out");
    let jars = Scratch::new("cookies-jars");
    std::fs::write(jars.path("in.txt"), "127.0.0.1\tFALSE\t/\tFALSE\t0\tk\tv\n").unwrap();
    let url = origin.url("/r/1/ck.bin?size=1000&set_cookie=s%3D1&require_header=Cookie:k%3Dv");
    let output = run(&[
        &url,
        "-o",
        &dir.arg("ck.bin"),
        "--load-cookies",
        &jars.arg("in.txt"),
        "--save-cookies",
        &jars.arg("out.txt"),
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "ck.bin", "ck.bin", 0, 1000);
    let saved = std::fs::read_to_string(jars.path("out.txt")).unwrap();
    assert!(
        saved.contains("\tk\tv") && saved.contains("\ts\t1"),
        "{saved}"
    );
    let missing = run(&[
        &url,
        "-o",
        &dir.arg("x"),
        "--load-cookies",
        &jars.arg("none.txt"),
    ]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
}

#[test]
fn credentials_in_the_url_are_sent_as_basic_authorization() {
    let origin = Origin::start();
    let dir = Scratch::new("url-credentials");
    let size = 2 * MIB + 1;
    // base64("joe:s@fe"); the object answers 401 without exactly that.
    let url = origin
        .url(&format!(
            "/o/private.bin?size={size}&require_header=Authorization:Basic%20am9lOnNAZmU%3D"
        ))
        .replacen("http://", "http://joe:s%40fe@", 1);
    let output = run(&[&url, "-o", &dir.arg("private.bin"), "--chunk-size", "1M"]);
    assert_success(&output);
    assert_downloaded(&dir, "private.bin", "private.bin", 0, size);
    assert_eq!(
        origin.range_requests().len(),
        3,
        "every range carried them (the first came with the probe)"
    );
}

/// A meta file in the format every earlier rangeget wrote (format 1, as
/// written before the transfer engine): a download started by an older
/// version resumes, verified, fetching only what it lacks.
#[test]
fn a_download_started_by_an_earlier_version_resumes() {
    let origin = Origin::start();
    let dir = Scratch::new("compat");
    let size = 4 * MIB;
    let url = origin.url("/o/compat.bin?size=4M&fault=throttle&rate=1M");
    let fixture = include_str!("fixtures/compat.bin.part.meta");
    let meta = fixture.replace("ORIGIN", &origin.url(""));
    std::fs::write(dir.path("compat.bin.part.meta"), meta).unwrap();
    // The bytes that meta records, where it records them.
    let content = expected_content("compat.bin", 0, size);
    let mut part = vec![0u8; size as usize];
    let claimed = [(0, 2 * MIB), (2 * MIB, 311_990), (3 * MIB, 306_550)];
    for (start, len) in claimed {
        let range = start as usize..(start + len) as usize;
        part[range.clone()].copy_from_slice(&content[range]);
    }
    std::fs::write(dir.path("compat.bin.part"), part).unwrap();

    let output = run(&[&url, "-o", &dir.arg("compat.bin")]);
    assert_success(&output);
    assert_downloaded(&dir, "compat.bin", "compat.bin", 0, size);
    let reused: u64 = claimed.iter().map(|(_, len)| len).sum();
    assert_eq!(
        origin.body_bytes_sent(),
        size - reused + 1,
        "only what it lacked (and the one byte of the probe)"
    );
    assert!(
        text(&output.stderr).contains("resuming"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_file_takes_the_servers_modification_time_unless_told_not_to() {
    let origin = Origin::start();
    let dir = Scratch::new("remote-time");
    let url = origin.url("/o/dated.bin?size=100000");
    let mtime = |name| {
        std::fs::metadata(dir.path(name))
            .unwrap()
            .modified()
            .unwrap()
    };
    assert_success(&run(&[&url, "-o", &dir.arg("dated.bin")]));
    let served = std::time::UNIX_EPOCH + Duration::from_secs(LAST_MODIFIED_BASE_SECS);
    assert_eq!(
        mtime("dated.bin"),
        served,
        "wget's habit: the server's time"
    );

    assert_success(&run(&[&url, "-o", &dir.arg("now.bin"), "--no-remote-time"]));
    let age = mtime("now.bin").elapsed().expect("not in the future");
    assert!(
        age < Duration::from_secs(600),
        "left at the time of writing"
    );
}

/// First and last byte of a `Range` header's single range.
type ByteSpan = (u64, u64);

fn byte_span(range: &str) -> ByteSpan {
    let spec = range.strip_prefix("bytes=").expect("a byte range");
    let (first, last) = spec.split_once('-').expect("first-last");
    (first.parse().unwrap(), last.parse().unwrap())
}
