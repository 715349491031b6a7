//! Promises an attacker tried to break: a neighbour running rangeget on the
//! same path, a server redirecting credentials elsewhere, hostile meta
//! files and odd files where rangeget's own belong, names that lie about
//! their extension. Each case is a row of docs/RELIABILITY.md.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rangeget_test_origin::{expected_content, variant_name, Origin};
use support::*;

/// Waits for `child` to exit, failing the test if it takes longer than
/// `limit` (a hang is the defect some of these tests look for).
fn wait_with_limit(mut child: Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rangeget still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn spawn(args: &[&str]) -> Child {
    rangeget(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_second_run_on_a_destination_being_downloaded_refuses_at_once() {
    let origin = Origin::start();
    let dir = Scratch::new("two-runs");
    let size = 8 * MIB;
    let first_url = origin.url(&format!("/o/x.bin?size={size}&fault=throttle&rate=1M"));
    let second_url = origin.url(&format!("/o/y.bin?size={size}&fault=throttle&rate=1M"));
    let file = dir.arg("out.bin");
    let mut first = spawn(&[&first_url, "-o", &file, "--chunk-size", "512K"]);
    wait_for_progress(&dir.path("out.bin.part.meta"), MIB, &mut first);

    for url in [&second_url, &first_url] {
        let started = Instant::now();
        let second = wait_with_limit(
            spawn(&[url, "-o", &file, "--chunk-size", "512K", "--json"]),
            Duration::from_secs(20),
        );
        let stderr = text(&second.stderr);
        assert_eq!(second.status.code(), Some(6), "{stderr}");
        assert_eq!(failure_report(&second), ("file".into(), "busy".into()));
        assert!(
            stderr.contains("being downloaded by another rangeget run"),
            "{stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "refused within a lease"
        );
    }

    let output = wait_with_limit(first, Duration::from_secs(60));
    assert_success(&output);
    assert_downloaded(&dir, "out.bin", "x.bin", 0, size);
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over() {
    let origin = Origin::start();
    let dir = Scratch::new("stale-lock");
    let size = 8 * MIB;
    let url = origin.url(&format!("/o/s.bin?size={size}&fault=throttle&rate=1M"));
    let file = dir.arg("s.bin");
    let args = [url.as_str(), "-o", file.as_str(), "--chunk-size", "512K"];
    kill_after_progress(&args, &dir.path("s.bin.part.meta"), MIB);
    assert!(
        dir.path("s.bin.part.lock").exists(),
        "the kill left its lock"
    );

    let output = run(&args);
    assert_success(&output);
    assert_downloaded(&dir, "s.bin", "s.bin", 0, size);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("taking it over") && stderr.contains("resuming"),
        "{stderr}"
    );
    assert!(
        !dir.path("s.bin.part.lock").exists(),
        "the lock is released"
    );
}

#[test]
fn a_run_whose_lock_was_taken_over_stops_without_publishing() {
    let origin = Origin::start();
    let dir = Scratch::new("lost-lock");
    let size = 8 * MIB;
    let url = origin.url(&format!("/o/l.bin?size={size}&fault=throttle&rate=1M"));
    let file = dir.arg("l.bin");
    let mut child = spawn(&[&url, "-o", &file, "--chunk-size", "512K", "--json"]);
    wait_for_progress(&dir.path("l.bin.part.meta"), MIB, &mut child);
    // What a run that judged this one dead would have written.
    std::fs::write(
        dir.path("l.bin.part.lock"),
        "{\"token\":\"someone-else\",\"renewed_unix_ms\":0}\n",
    )
    .unwrap();
    let output = wait_with_limit(child, Duration::from_secs(20));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert_eq!(failure_report(&output), ("file".into(), "lock-lost".into()));
    assert!(!dir.path("l.bin").exists(), "nothing published");
    assert!(
        dir.path("l.bin.part.lock").exists(),
        "the other run's lock is left alone"
    );
}

#[test]
fn a_file_that_appears_at_the_destination_meanwhile_is_never_replaced() {
    let origin = Origin::start();
    let dir = Scratch::new("appears");
    let size = 4 * MIB;
    let url = origin.url(&format!("/o/p.bin?size={size}&fault=throttle&rate=1M"));
    let file = dir.arg("p.bin");
    let mut child = spawn(&[&url, "-o", &file, "--chunk-size", "512K", "--json"]);
    wait_for_progress(&dir.path("p.bin.part.meta"), 512 * 1024, &mut child);
    std::fs::write(dir.path("p.bin"), "PRECIOUS\n").unwrap();
    let output = wait_with_limit(child, Duration::from_secs(30));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert_eq!(failure_report(&output), ("file".into(), "appeared".into()));
    assert!(
        stderr.contains("appeared") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(dir.path("p.bin")).unwrap(), b"PRECIOUS\n");

    // The finished download was kept: --force publishes it at once.
    origin.reset_counters();
    let output = run(&[&url, "-o", &file, "--force"]);
    assert_success(&output);
    assert_downloaded(&dir, "p.bin", "p.bin", 0, size);
    assert!(
        origin.body_bytes_sent() <= 1,
        "nothing fetched again but the probe's one byte"
    );
}

#[test]
fn credentials_from_headers_never_follow_a_redirect_to_another_host() {
    let here = Origin::start();
    let elsewhere = Origin::start();
    let dir = Scratch::new("credentials");
    let size = 3 * MIB;
    let url = here.url(&format!(
        "/elsewhere/localhost:{}/o/f1.bin?size={size}",
        elsewhere.addr().port()
    ));
    let secrets = [
        "-H",
        "Authorization: Bearer S1",
        "-H",
        "Cookie: sess=S2",
        "--chunk-size",
        "1M",
    ];
    let mut args = vec![url.as_str(), "-o"];
    let file = dir.arg("f1.bin");
    args.push(&file);
    args.extend(secrets);
    let output = run(&args);
    assert_success(&output);
    assert_downloaded(&dir, "f1.bin", "f1.bin", 0, size);
    let sent_here = here.credentials_received();
    assert!(
        sent_here.contains(&"authorization: Bearer S1".to_string())
            && sent_here.contains(&"cookie: sess=S2".to_string()),
        "the URL's own host gets them: {sent_here:?}"
    );
    assert_eq!(
        elsewhere.credentials_received(),
        Vec::<String>::new(),
        "another host never does"
    );

    // --location-trusted, as curl's, sends them along.
    std::fs::remove_file(dir.path("f1.bin")).unwrap();
    args.push("--location-trusted");
    assert_success(&run(&args));
    assert!(elsewhere
        .credentials_received()
        .contains(&"authorization: Bearer S1".to_string()));
}

/// A meta file of `content` next to a `.part` of the object's size.
fn plant_meta(dir: &Scratch, name: &str, size: u64, content: &[u8]) {
    std::fs::write(dir.path(&format!("{name}.part")), vec![0u8; size as usize]).unwrap();
    std::fs::write(dir.path(&format!("{name}.part.meta")), content).unwrap();
}

fn meta_json(url: &str, size: u64, chunk_size: u64, chunks: &[(u64, u64)]) -> String {
    let chunks: Vec<String> = chunks
        .iter()
        .map(|(start, end)| format!("{{\"start\":{start},\"end\":{end},\"state\":\"pending\"}}"))
        .collect();
    format!(
        "{{\"version\":1,\"url\":\"{url}\",\"size\":{size},\"etag\":null,\"last_modified\":null,\
         \"chunk_size\":{chunk_size},\"chunks\":[{}]}}",
        chunks.join(",")
    )
}

#[test]
fn hostile_meta_files_mean_a_clean_restart() {
    let origin = Origin::start();
    let dir = Scratch::new("hostile-meta");
    let size = 4 * MIB;
    let url = origin.url(&format!("/o/m.bin?size={size}"));
    let file = dir.arg("m.bin");
    let tiny: Vec<(u64, u64)> = (0..size / 16).map(|i| (i * 16, i * 16 + 15)).collect();
    let mut padded = vec![b' '; 2 << 20];
    padded.extend_from_slice(meta_json(&url, size, size, &[(0, size - 1)]).as_bytes());
    let hostile: [(&str, Vec<u8>); 4] = [
        (
            "chunk size 0",
            meta_json(&url, size, 0, &[(0, size - 1)]).into_bytes(),
        ),
        (
            "chunk size 1",
            meta_json(&url, size, 1, &[(0, size - 1)]).into_bytes(),
        ),
        (
            "262144 chunks of 16 bytes",
            meta_json(&url, size, 16, &tiny).into_bytes(),
        ),
        ("2 MiB of blanks first", padded),
    ];
    for (what, content) in hostile {
        plant_meta(&dir, "m.bin", size, &content);
        let child = spawn(&[&url, "-o", &file]);
        let output = wait_with_limit(child, Duration::from_secs(30));
        assert_success(&output);
        assert_downloaded(&dir, "m.bin", "m.bin", 0, size);
        assert!(
            text(&output.stderr).contains("ignoring"),
            "{what}: {}",
            text(&output.stderr)
        );
        std::fs::remove_file(dir.path("m.bin")).unwrap();
    }
}

#[test]
fn a_fifo_where_the_meta_belongs_is_refused_not_waited_on() {
    let origin = Origin::start();
    let dir = Scratch::new("fifo");
    let url = origin.url("/o/f.bin?size=1M");
    let fifo = std::ffi::CString::new(dir.arg("f.bin.part.meta")).unwrap();
    // SAFETY: a valid path and mode.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let output = wait_with_limit(
        spawn(&[&url, "-o", &dir.arg("f.bin"), "--json"]),
        Duration::from_secs(20),
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert_eq!(
        failure_report(&output),
        ("file".into(), "not-regular".into())
    );
    assert!(
        stderr.contains("FIFO") && stderr.contains("not a regular file"),
        "{stderr}"
    );
    assert!(!dir.path("f.bin").exists());
}

#[test]
fn a_part_file_that_is_a_hard_link_is_never_written_through() {
    let origin = Origin::start();
    let dir = Scratch::new("hard-link");
    let size = MIB;
    let victim = dir.path("victim.txt");
    std::fs::write(&victim, "someone else's data\n").unwrap();
    std::fs::hard_link(&victim, dir.path("h.bin.part")).unwrap();
    let output = run(&[
        &origin.url(&format!("/o/h.bin?size={size}")),
        "-o",
        &dir.arg("h.bin"),
    ]);
    assert_success(&output);
    assert_downloaded(&dir, "h.bin", "h.bin", 0, size);
    assert_eq!(std::fs::read(&victim).unwrap(), b"someone else's data\n");
}

#[test]
fn a_part_file_with_another_link_is_refused_even_with_a_matching_meta() {
    let origin = Origin::start();
    let dir = Scratch::new("hard-link-meta");
    let size = MIB;
    let url = origin.url(&format!("/o/f.bin?size={size}"));
    let victim = dir.path("victim.txt");
    let precious = vec![b'v'; size as usize];
    std::fs::write(&victim, &precious).unwrap();
    std::fs::hard_link(&victim, dir.path("f.bin.part")).unwrap();
    // A meta that describes the `.part` exactly, all still to fetch.
    std::fs::write(
        dir.path("f.bin.part.meta"),
        meta_json(&url, size, size, &[(0, size - 1)]),
    )
    .unwrap();
    let output = run(&[&url, "-o", &dir.arg("f.bin"), "--json"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert_eq!(failure_report(&output), ("file".into(), "linked".into()));
    assert!(
        stderr.contains("f.bin.part") && stderr.contains("2 names"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        precious,
        "the victim is untouched"
    );
    assert!(!dir.path("f.bin").exists());

    // The same for a meta or a lock with another name.
    for working in ["g.bin.part.meta", "g.bin.part.lock"] {
        let victim = dir.path("victim-2.txt");
        std::fs::write(&victim, b"{}").unwrap();
        std::fs::hard_link(&victim, dir.path(working)).unwrap();
        let url = origin.url("/o/g.bin?size=64K");
        let output = run(&[&url, "-o", &dir.arg("g.bin"), "--json"]);
        assert_eq!(
            failure_report(&output),
            ("file".into(), "linked".into()),
            "{working}"
        );
        assert_eq!(std::fs::read(&victim).unwrap(), b"{}", "{working}");
        std::fs::remove_file(dir.path(working)).unwrap();
        std::fs::remove_file(&victim).unwrap();
    }
}

#[test]
fn progress_is_never_resumed_into_another_path_with_the_same_etag() {
    let origin = Origin::start();
    let dir = Scratch::new("etag-collision");
    let size = 8 * MIB;
    // nginx's ETags are mtime-size: two files of one size, one second.
    let etag = "etag=%225f3a1b2c-800000%22";
    let first = origin.url(&format!(
        "/o/a.bin?size={size}&fault=throttle&rate=1M&{etag}"
    ));
    let second = origin.url(&format!("/o/b.bin?size={size}&{etag}"));
    let file = dir.arg("out.bin");
    kill_after_progress(
        &[&first, "-o", &file, "--chunk-size", "512K"],
        &dir.path("out.bin.part.meta"),
        MIB,
    );
    let output = run(&[&second, "-o", &file, "--chunk-size", "512K"]);
    assert_success(&output);
    assert_downloaded(&dir, "out.bin", "b.bin", 0, size);
    assert!(
        text(&output.stderr).contains("cannot be proven"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn progress_is_never_resumed_into_another_query_with_the_same_etag() {
    let origin = Origin::start();
    let dir = Scratch::new("query-collision");
    let size = 4 * MIB;
    // An export whose objects differ only by query, under one ETag, size
    // and Last-Modified; the signature changes too, which alone would not
    // matter.
    let url = |id: u32, signature: &str| {
        origin.url(&format!(
            "/o/q?variant={id}&size={size}&etag=%22fixed%22&fault=throttle&rate=1M&X-Amz-Signature={signature}"
        ))
    };
    let file = dir.arg("e.bin");
    kill_after_progress(
        &[&url(1, "a"), "-o", &file, "--chunk-size", "256K"],
        &dir.path("e.bin.part.meta"),
        MIB,
    );
    let output = run(&[&url(2, "b"), "-o", &file, "--chunk-size", "256K"]);
    assert_success(&output);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("its query differs in variant") && !stderr.contains("resuming"),
        "{stderr}"
    );
    assert_downloaded(&dir, "e.bin", &variant_name("q", "2"), 0, size);
}

#[test]
fn a_re_signed_link_keeps_the_progress() {
    let origin = Origin::start();
    let dir = Scratch::new("re-signed");
    let size = 4 * MIB;
    let url = |date: u32, signature: &str| {
        origin.url(&format!(
            "/o/s.bin?size={size}&fault=throttle&rate=1M&X-Amz-Date={date}&X-Amz-Signature={signature}"
        ))
    };
    let file = dir.arg("s.bin");
    let meta = dir.path("s.bin.part.meta");
    kill_after_progress(
        &[&url(1, "a"), "-o", &file, "--chunk-size", "256K"],
        &meta,
        MIB,
    );
    let recorded = recorded_regions(&meta);
    assert!(!recorded.is_empty());
    origin.reset_counters();
    let output = run(&[&url(2, "b"), "-o", &file, "--chunk-size", "256K"]);
    assert_success(&output);
    assert!(
        text(&output.stderr).contains("resuming"),
        "{}",
        text(&output.stderr)
    );
    assert_downloaded(&dir, "s.bin", "s.bin", 0, size);
    // Bytes sent can overshoot what is read (a request cut short near the
    // end); what was asked for is exact.
    let refetched = refetched_ranges(&origin.range_requests(), &recorded);
    assert!(
        refetched.is_empty(),
        "what was kept is not asked for again: {refetched:?}"
    );
}

#[test]
fn a_single_stream_longer_than_announced_is_an_error_not_a_bigger_file() {
    let origin = Origin::start();
    let dir = Scratch::new("longer");
    // A server without ranges or validators, so a HEAD checks its answer:
    // the HEAD says 1000 bytes; the GET streams 2 MiB, chunked.
    let url = origin.url(
        "/o/l.bin?size=2M&fault=accept-ranges-none,no-validators,no-length,head-size&head_size=1000",
    );
    let output = run(&[&url, "-o", &dir.arg("l.bin"), "--retries", "1", "--json"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert_eq!(
        failure_report(&output),
        ("validation".into(), "ran-past".into())
    );
    assert!(stderr.contains("runs past the 1000 bytes"), "{stderr}");
    assert!(!dir.path("l.bin").exists());
}

#[test]
fn max_filesize_refuses_what_is_larger_before_or_while_it_arrives() {
    let origin = Origin::start();
    let dir = Scratch::new("max-filesize");
    let known = origin.url("/o/k.bin?size=4M");
    let output = run(&[
        &known,
        "-o",
        &dir.arg("k.bin"),
        "--max-filesize",
        "1M",
        "--json",
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert_eq!(failure_report(&output), ("file".into(), "too-large".into()));
    assert!(stderr.contains("--max-filesize"), "{stderr}");
    // Refused on the probe's answer: at most its first bytes were sent.
    assert!(origin.body_bytes_sent() <= MIB, "refused before the body");
    assert!(!dir.path("k.bin.part").exists());

    let unknown = origin.url("/o/u.bin?size=4M&fault=no-length,accept-ranges-none");
    let output = run(&[
        &unknown,
        "-o",
        &dir.arg("u.bin"),
        "--max-filesize",
        "1M",
        "--json",
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert_eq!(
        failure_report(&output),
        ("file".into(), "passed-max".into())
    );
    assert!(stderr.contains("runs past --max-filesize"), "{stderr}");
    assert!(!dir.path("u.bin").exists());
    assert!(
        !dir.path("u.bin.part").exists(),
        "nothing of it is kept, as it says"
    );

    let output = run(&[&known, "-o", &dir.arg("k.bin"), "--max-filesize", "4M"]);
    assert_success(&output);
}

#[test]
fn sigterm_and_sighup_stop_like_ctrl_c_and_the_same_command_resumes() {
    let origin = Origin::start();
    let dir = Scratch::new("sigterm");
    let size = 8 * MIB;
    let url = origin.url(&format!("/o/t.bin?size={size}&fault=throttle&rate=1M"));
    let file = dir.arg("t.bin");
    let args = [url.as_str(), "-o", file.as_str(), "--chunk-size", "512K"];
    let meta = dir.path("t.bin.part.meta");
    for (signal, name, code) in [
        (libc::SIGTERM, "SIGTERM", 143),
        (libc::SIGHUP, "SIGHUP", 129),
    ] {
        let mut child = spawn(&args);
        let before = progress_in_meta(&meta).unwrap_or(0);
        wait_for_progress(&meta, before + MIB / 2, &mut child);
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, signal) };
        let output = wait_with_limit(child, Duration::from_secs(10));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert!(
            stderr.contains(&format!("interrupted ({name}); run the same command again")),
            "{stderr}"
        );
        assert!(
            !dir.path("t.bin.part.lock").exists(),
            "a stopped run releases its lock, so the next one need not wait"
        );
    }
    let output = run(&args);
    assert_success(&output);
    assert_downloaded(&dir, "t.bin", "t.bin", 0, size);
    assert!(!text(&output.stderr).contains("checking whether"));
}

#[test]
fn a_download_that_cannot_fit_is_refused_before_it_starts() {
    let origin = Origin::start();
    let dir = Scratch::new("no-room");
    let mount = Mount::tmpfs(&dir, "small", "size=1m");
    let file = mount.0.join("big.bin");
    let output = run(&[
        &origin.url("/o/big.bin?size=4M"),
        "-o",
        file.to_str().unwrap(),
        "--json",
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert_eq!(failure_report(&output), ("file".into(), "no-room".into()));
    assert!(stderr.contains("are free"), "{stderr}");
    assert!(
        origin.body_bytes_sent() <= MIB,
        "refused on the probe's answer"
    );
    assert!(!mount.0.join("big.bin.part").exists());
}

#[test]
fn server_supplied_names_lose_bidi_controls_and_keep_their_extension() {
    let origin = Origin::start();
    let dir = Scratch::new("names");
    // U+202E (right-to-left override) would show "evil\u{202E}txt.exe" as "evilexe.txt".
    let url = origin.url("/o/evil%E2%80%AEtxt.exe?size=1K");
    assert_success(&run(&[&url, "-d", &dir.arg("")]));
    assert!(dir.path("eviltxt.exe").exists());

    let long = format!("{}.safetensors", "w".repeat(300));
    let url = origin.url(&format!("/o/{long}?size=1K"));
    assert_success(&run(&[&url, "-d", &dir.arg("")]));
    let kept = format!("{}.safetensors", "w".repeat(200 - ".safetensors".len()));
    let content = std::fs::read(dir.path(&kept)).expect("the name keeps its extension");
    assert_eq!(content, expected_content(&long, 0, 1024));
}

#[test]
fn unreadable_leftovers_never_hang_a_run() {
    // A FIFO where the lock belongs: refused at once too.
    let origin = Origin::start();
    let dir = Scratch::new("fifo-lock");
    let fifo = std::ffi::CString::new(dir.arg("g.bin.part.lock")).unwrap();
    // SAFETY: a valid path and mode.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let output = wait_with_limit(
        spawn(&[&origin.url("/o/g.bin?size=1M"), "-o", &dir.arg("g.bin")]),
        Duration::from_secs(20),
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

#[test]
fn a_batch_never_takes_a_live_lock_and_goes_on_with_the_other_files() {
    // Another run holds one file of the list: that file fails as busy,
    // its lock stays the other run's, and the rest of the batch is done.
    let origin = Origin::start();
    let dir = Scratch::new("batch-live-lock");
    let lists = Scratch::new("batch-live-lock-list");
    let lock = dir.path("b.bin.part.lock");
    // Another run, alive: it renews its lease every 100 ms.
    let other_run = LiveLock::hold(&lock);
    let entries: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| origin.url(&format!("/o/{n}.bin?size=64K")))
        .collect();
    let list = lists.path("list.txt");
    std::fs::write(&list, entries.join("\n") + "\n").unwrap();
    // One file at a time: b's lock is met right after a's was given up.
    let output = run(&[
        "-i",
        list.to_str().unwrap(),
        "-d",
        &dir.arg(""),
        "-j",
        "1",
        "--json",
    ]);
    other_run.stop();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("b.bin.part.lock"), "{stderr}");
    for name in ["a.bin", "c.bin", "d.bin"] {
        assert_downloaded(&dir, name, name, 0, 64 * 1024);
    }
    assert!(!dir.path("b.bin").exists(), "the busy file is not written");
    let record = std::fs::read_to_string(&lock).unwrap();
    assert!(
        record.contains("someone-else"),
        "the other run's lock is left alone: {record}"
    );
}

#[test]
fn a_rerun_clears_the_lock_a_killed_run_left_beside_a_complete_file() {
    // A run killed between naming a file and removing its lock leaves the
    // lock (and maybe its `.part`) beside the complete file; the rerun
    // skips the file, so it must clear them then, once the lease is dead.
    let origin = Origin::start();
    let dir = Scratch::new("skip-stale-lock");
    let url = origin.url("/o/s.bin?size=64K");
    assert_success(&run(&[&url, "-d", &dir.arg("")]));
    let (lock, part) = (dir.path("s.bin.part.lock"), dir.path("s.bin.part"));
    std::fs::write(&lock, "{\"token\":\"dead-run\",\"renewed_unix_ms\":1}\n").unwrap();
    std::fs::write(&part, b"what the killed run had").unwrap();
    let other = origin.url("/o/t.bin?size=64K");
    let output = run(&[&url, &other, "-d", &dir.arg(""), "--json"]);
    assert_success(&output);
    assert!(
        text(&output.stdout).contains("\"skipped\":1"),
        "{}",
        text(&output.stdout)
    );
    assert_downloaded(&dir, "s.bin", "s.bin", 0, 64 * 1024);
    assert_downloaded(&dir, "t.bin", "t.bin", 0, 64 * 1024);
}

#[test]
fn a_live_lock_beside_a_complete_file_is_left_to_its_run() {
    // Another run is replacing the file (say with --force): a run that
    // skips the file must not take its lock or remove its `.part`.
    let origin = Origin::start();
    let dir = Scratch::new("skip-live-lock");
    let url = origin.url("/o/l.bin?size=64K");
    assert_success(&run(&[&url, "-d", &dir.arg("")]));
    let (lock, part) = (dir.path("l.bin.part.lock"), dir.path("l.bin.part"));
    std::fs::write(&part, b"the other run's bytes").unwrap();
    let other_run = LiveLock::hold(&lock);
    let other = origin.url("/o/m.bin?size=64K");
    let output = run(&[&url, &other, "-d", &dir.arg("")]);
    other_run.stop();
    assert_success(&output);
    assert!(
        std::fs::read_to_string(&lock)
            .unwrap()
            .contains("someone-else"),
        "the other run's lock is left alone"
    );
    assert_eq!(
        std::fs::read(&part).unwrap(),
        b"the other run's bytes",
        "the other run's .part is left alone"
    );
    assert_downloaded(&dir, "m.bin", "m.bin", 0, 64 * 1024);
}

/// Another run's lock, alive: its lease renewed every 100 ms until stopped.
struct LiveLock {
    renewing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    renewer: std::thread::JoinHandle<()>,
}

impl LiveLock {
    fn hold(lock: &std::path::Path) -> LiveLock {
        let renewing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (lock, flag) = (lock.to_path_buf(), renewing.clone());
        let renewer = std::thread::spawn(move || {
            while flag.load(std::sync::atomic::Ordering::Relaxed) {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                let record = format!("{{\"token\":\"someone-else\",\"renewed_unix_ms\":{now}}}\n");
                std::fs::write(&lock, record).unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        LiveLock { renewing, renewer }
    }

    fn stop(self) {
        self.renewing
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.renewer.join().unwrap();
    }
}

#[test]
fn one_path_spelled_differently_in_a_list_is_refused_before_anything() {
    let origin = Origin::start();
    let dir = Scratch::new("spellings");
    let lists = Scratch::new("spellings-list");
    let url = |i: u32| origin.url(&format!("/o/f{i}.bin?size=1000"));
    let list = write_list(
        &lists,
        &[
            format!("{}\n  out=sub//same.bin", url(1)),
            format!("{}\n  dir=sub\n  out=same.bin", url(2)),
            format!("{}\n  out=sub/./same.bin", url(3)),
        ],
    );
    let output = run(&["-i", &list, "-d", &dir.arg("")]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("line 1 and") && stderr.contains("line 3 would both write"),
        "{stderr}"
    );
    assert_eq!(origin.requests_served(), 0, "nothing was fetched");
    assert!(!dir.path("sub").exists(), "nothing was written");
}

#[test]
fn an_entry_named_like_another_entrys_working_files_never_loses_a_file() {
    let origin = Origin::start();
    let dir = Scratch::new("working-names");
    let lists = Scratch::new("working-names-list");
    let url = |i: u32| origin.url(&format!("/o/w{i}.bin?size=1000"));
    for working in ["x.part", "x.part.meta", "x.part.lock"] {
        let list = write_list(
            &lists,
            &[
                format!("{}\n  out=x", url(1)),
                format!("{}\n  out={working}", url(2)),
            ],
        );
        let output = run(&["-i", &list, "-d", &dir.arg(""), "--force"]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{working}: {stderr}");
        assert!(
            stderr.contains("clash") && stderr.contains("/x keeps its progress"),
            "{working}: {stderr}"
        );
        assert_eq!(origin.requests_served(), 0, "nothing was fetched");
    }

    // A server that names a file like another entry's `.part`: that
    // entry fails as a name conflict; the other is saved.
    let first = origin.url("/o/a.bin?size=100000&fault=throttle&rate=200K");
    let second = origin.url("/o/b.bin?size=1000&disposition=a.bin.part");
    let output = run(&[&first, &second, "-d", &dir.arg(""), "--json"]);
    assert_eq!(output.status.code(), Some(6), "{}", text(&output.stderr));
    assert_downloaded(&dir, "a.bin", "a.bin", 0, 100_000);
    let summary: serde_json::Value =
        serde_json::from_str(text(&output.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(
        (summary["saved"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(summary["failures"][0]["reason"], "name-taken", "{summary}");
    assert!(!dir.path("a.bin.part").exists());
}

#[test]
fn dev_null_is_streamed_into_never_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let origin = Origin::start();
    let url = origin.url("/o/n.bin?size=3M");
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec![
            url.as_str(),
            "-o",
            "/dev/null",
            "-x",
            "4",
            "--chunk-size",
            "512K",
        ];
        args.extend_from_slice(extra);
        let output = run(&args);
        assert_success(&output);
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("streamed 3.0 MiB to /dev/null"),
            "{extra:?}: {stderr}"
        );
        let kind = std::fs::metadata("/dev/null").unwrap().file_type();
        assert!(kind.is_char_device(), "/dev/null is still the device");
        assert!(!std::path::Path::new("/dev/null.part").exists());
    }
    // The speed-test idiom with a machine report: on stdout, as for a file.
    let output = run(&[&url, "-o", "/dev/null", "--json"]);
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "ok");
    assert_eq!(report["path"], "/dev/null");
    assert_eq!(report["size"], 3 * MIB);
}

#[test]
fn a_fifo_at_the_destination_is_streamed_into_in_order() {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let origin = Origin::start();
    let dir = Scratch::new("fifo-out");
    let size = 5 * MIB + 7;
    let url = origin.url(&format!(
        "/o/p.bin?size={size}&fault=truncate&truncate_times=2"
    ));
    let fifo_path = dir.path("pipe");
    let fifo = std::ffi::CString::new(dir.arg("pipe")).unwrap();
    // SAFETY: a valid path and mode.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let reader_path = fifo_path.clone();
    let reader = std::thread::spawn(move || {
        let mut content = Vec::new();
        std::fs::File::open(&reader_path)
            .unwrap()
            .read_to_end(&mut content)
            .unwrap();
        content
    });
    let child = spawn(&[
        &url,
        "-o",
        &dir.arg("pipe"),
        "--force",
        "-x",
        "4",
        "--chunk-size",
        "1M",
    ]);
    let output = wait_with_limit(child, Duration::from_secs(30));
    assert_success(&output);
    let content = reader.join().unwrap();
    assert!(
        content == expected_content("p.bin", 0, size),
        "byte-exact, in order"
    );
    assert!(std::fs::metadata(&fifo_path).unwrap().file_type().is_fifo());
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        1,
        "no .part, meta or lock"
    );

    // One file of several is never written into a FIFO, nor replaces it.
    let other = origin.url("/o/o.bin?size=1000");
    let url_named = origin.url(&format!("/o/pipe?size={size}"));
    let output = wait_with_limit(
        spawn(&[&url_named, &other, "-d", &dir.arg(""), "--force", "--json"]),
        Duration::from_secs(30),
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("never replaces"), "{stderr}");
    assert!(std::fs::metadata(&fifo_path).unwrap().file_type().is_fifo());
    assert_downloaded(&dir, "o.bin", "o.bin", 0, 1000);
}

#[test]
fn an_endless_list_on_stdin_is_read_in_bounded_memory_and_starts_at_once() {
    use std::io::Write;
    let origin = Origin::start();
    let dir = Scratch::new("endless-list");
    let mut child = rangeget(&["-i", "-", "-d", &dir.arg(""), "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Two entries, the list still open: the first is complete once the
    // second's URL line comes, and is fetched while the list goes on.
    let first = origin.url("/o/first.bin?size=100000");
    let second = origin.url("/o/second.bin?size=100000");
    writeln!(stdin, "{first}\n{second}").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.path("first.bin").exists() {
        assert!(Instant::now() < deadline, "the first entry never started");
        assert!(child.try_wait().unwrap().is_none(), "rangeget ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Then 256 MiB of comments, as `yes '# comment'` would write: read
    // and dropped, never held.
    let comments = "# comment\n".repeat(100_000);
    for _ in 0..256 {
        stdin.write_all(comments.as_bytes()).unwrap();
    }
    drop(stdin);
    let peak_kib = peak_rss_kib(child.id());
    let output = wait_with_limit(child, Duration::from_secs(60));
    assert_success(&output);
    assert_downloaded(&dir, "first.bin", "first.bin", 0, 100_000);
    assert_downloaded(&dir, "second.bin", "second.bin", 0, 100_000);
    assert!(peak_kib < 96 * 1024, "peak RSS {} MiB", peak_kib / 1024);
}

#[test]
fn a_mistake_further_down_a_list_on_stdin_stops_it_there() {
    use std::io::Write;
    let origin = Origin::start();
    let dir = Scratch::new("stdin-mistake");
    let mut child = rangeget(&["-i", "-", "-d", &dir.arg("")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let list = format!(
        "{}\n  out=a.bin\n{}\n  out=a.bin\n{}\n",
        origin.url("/o/x.bin?size=1000"),
        origin.url("/o/y.bin?size=1000"),
        origin.url("/o/z.bin?size=1000"),
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let output = wait_with_limit(child, Duration::from_secs(30));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("standard input line 1 and standard input line 3 would both write"),
        "{stderr}"
    );
    assert!(text(&output.stdout).contains("stopped reading the list"));
    assert!(!dir.path("z.bin").exists(), "nothing after the mistake");
}

#[test]
fn a_proxy_authorization_header_goes_to_the_proxy_not_an_abort() {
    let origin = Origin::start();
    let proxy = forward_proxy::ForwardProxy::start();
    let dir = Scratch::new("proxy-auth-header");
    let url = origin.url("/o/pa.bin?size=70000");
    let output = rangeget(&[
        &url,
        "-o",
        &dir.arg("pa.bin"),
        "-H",
        "Proxy-Authorization: Basic dG9rZW4=",
    ])
    .env("http_proxy", proxy.url())
    .output()
    .unwrap();
    assert_success(&output);
    assert_downloaded(&dir, "pa.bin", "pa.bin", 0, 70000);
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    for request in &seen {
        assert_eq!(
            request.authorization.as_deref(),
            Some("Basic dG9rZW4="),
            "{request:?}"
        );
    }
    // Without a proxy it goes nowhere: the server is not the proxy.
    let output = rangeget(&[
        &url,
        "-o",
        &dir.arg("direct.bin"),
        "-H",
        "Proxy-Authorization: Basic dG9rZW4=",
    ])
    .output()
    .unwrap();
    assert_success(&output);
    assert!(text(&output.stderr).contains("not sent: no HTTP proxy is set"));
    assert!(
        origin
            .credentials_received()
            .iter()
            .all(|h| !h.starts_with("proxy-authorization")),
        "{:?}",
        origin.credentials_received()
    );
}

#[test]
fn a_run_stopped_past_its_lease_leaves_nothing_beside_the_file_another_run_finished() {
    let origin = Origin::start();
    let dir = Scratch::new("stopped-past-lease");
    let size = 8 * MIB;
    let url = origin.url(&format!("/o/z.bin?size={size}&fault=throttle&rate=1M"));
    let file = dir.arg("z.bin");
    let args = [
        url.as_str(),
        "-o",
        file.as_str(),
        "--chunk-size",
        "512K",
        "--json",
    ];
    let mut stopped = spawn(&args);
    wait_for_progress(&dir.path("z.bin.part.meta"), MIB, &mut stopped);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(stopped.id() as i32, libc::SIGSTOP) };
    // The next run finds the lock unrenewed, takes it over and finishes.
    assert_success(&run(&args));
    assert_downloaded(&dir, "z.bin", "z.bin", 0, size);
    // SAFETY: as above.
    unsafe { libc::kill(stopped.id() as i32, libc::SIGCONT) };
    let output = wait_with_limit(stopped, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(6), "{}", text(&output.stderr));
    assert_eq!(failure_report(&output), ("file".into(), "lock-lost".into()));
    assert_downloaded(&dir, "z.bin", "z.bin", 0, size);
    let left: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["z.bin"], "nothing beside the finished file");
}

#[test]
fn after_kill_9_the_native_cli_resumes_at_once_without_watching_the_lock() {
    let origin = Origin::start();
    let dir = Scratch::new("gone-holder");
    let size = 8 * MIB;
    let url = origin.url(&format!("/o/g.bin?size={size}&fault=throttle&rate=1M"));
    let file = dir.arg("g.bin");
    let args = [url.as_str(), "-o", file.as_str(), "--chunk-size", "512K"];
    kill_after_progress(&args, &dir.path("g.bin.part.meta"), MIB);
    assert!(
        dir.path("g.bin.part.lock").exists(),
        "the kill left its lock"
    );
    let output = run(&args);
    assert_success(&output);
    assert_downloaded(&dir, "g.bin", "g.bin", 0, size);
    let stderr = text(&output.stderr);
    // The kernel dropped the killed run's OS lock: no lease to wait out.
    assert!(
        stderr.contains("left by a run that is no longer running") && stderr.contains("resuming"),
        "{stderr}"
    );
    assert!(!stderr.contains("checking whether"), "{stderr}");
}
