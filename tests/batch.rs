//! Many files at once: `-i` lists and several URLs, `-j` of them at a time
//! within one budget of connections; a manifest with headers and
//! checksums; reruns that fetch only what is missing.

mod support;

use std::process::Stdio;
use std::time::Duration;

use rangeget_test_origin::{expected_content, Origin};
use support::*;

fn json_lines(output: &std::process::Output) -> Vec<serde_json::Value> {
    text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn files_run_at_once_and_never_above_the_connection_budget() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-budget");
    let lists = Scratch::new("batch-budget-list");
    // 12 files of 3 MiB, 4 chunks each: -j 6 × -x 4 would want 24.
    let entries: Vec<String> = (0..12)
        .map(|i| origin.url(&format!("/o/f{i}.bin?size=3M&fault=throttle&rate=2M")))
        .collect();
    let file = write_list(&lists, &entries);
    let output = run(&[
        "-i",
        &file,
        "-d",
        &dir.arg(""),
        "-j",
        "6",
        "-x",
        "4",
        "--chunk-size",
        "1M",
        "--max-connections",
        "8",
        "--json",
    ]);
    assert_success(&output);
    for i in 0..12 {
        let name = format!("f{i}.bin");
        assert_downloaded(&dir, &name, &name, 0, 3 * MIB);
    }
    let most = origin.most_concurrent_requests();
    assert!(most <= 8, "{most} requests at once, the budget is 8");
    assert!(
        most >= 6,
        "files ran at once: only {most} requests at a time"
    );
    let reports = json_lines(&output);
    assert_eq!(reports.len(), 13, "a line per file and the summary");
    assert_eq!(reports[12]["saved"], 12);
}

#[test]
fn several_urls_on_the_command_line_make_a_batch() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-urls");
    let a = origin.url("/o/a.bin?size=300000");
    let b = origin.url("/o/b.bin?size=200000");
    let output = run(&[&a, &b, "-d", &dir.arg("")]);
    assert_success(&output);
    assert_downloaded(&dir, "a.bin", "a.bin", 0, 300_000);
    assert_downloaded(&dir, "b.bin", "b.bin", 0, 200_000);
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("2 files: 2 saved, 0 skipped, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn per_entry_checksums_and_headers_are_honoured() {
    use sha2::{Digest, Sha256};
    let origin = Origin::start();
    let dir = Scratch::new("batch-manifest");
    let lists = Scratch::new("batch-manifest-list");
    let size = MIB;
    let good = hex::encode(Sha256::digest(expected_content("good.bin", 0, size)));
    let bad = "0".repeat(64);
    let entries = [
        format!(
            "{}\n  checksum=sha-256={good}",
            origin.url("/o/good.bin?size=1M")
        ),
        format!(
            "{}\n  checksum=sha-256={bad}",
            origin.url("/o/bad.bin?size=1M")
        ),
        format!(
            "{}\n  header=X-Token: t1\n  out=private.bin",
            origin.url("/o/tok.bin?size=1000&require_header=X-Token:t1")
        ),
    ];
    let file = write_list(&lists, &entries);
    let output = run(&["-i", &file, "-d", &dir.arg(""), "--json"]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output.stderr));
    assert_downloaded(&dir, "good.bin", "good.bin", 0, size);
    assert_downloaded(&dir, "private.bin", "tok.bin", 0, 1000);
    assert!(
        !dir.path("bad.bin").exists(),
        "a wrong checksum never gets the name"
    );
    assert!(dir.path("bad.bin.part").exists(), "kept for inspection");
    let summary = json_lines(&output).pop().unwrap();
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["failures"][0]["reason"], "checksum");

    // A rerun: the good file is recognised by its checksum, nothing fetched.
    origin.reset_counters();
    std::fs::remove_file(dir.path("private.bin")).unwrap();
    let output = run(&["-i", &file, "-d", &dir.arg(""), "--json"]);
    let reports = json_lines(&output);
    let good_report = reports
        .iter()
        .find(|r| r["url"].as_str().unwrap().contains("good"))
        .unwrap();
    assert_eq!(good_report["status"], "skipped");
    assert_eq!(good_report["reason"], "checksum-matches");
}

#[test]
fn a_file_the_server_names_is_judged_like_the_urls() {
    use sha2::{Digest, Sha256};
    // The URL's name is free, but the server names another file, and one
    // stands there with other bytes: the entry's checksum decides, as it
    // does for a file found under the URL's name.
    let origin = Origin::start();
    let dir = Scratch::new("batch-named");
    let lists = Scratch::new("batch-named-list");
    let size = 100_000;
    let sum = hex::encode(Sha256::digest(expected_content("served.bin", 0, size)));
    std::fs::write(dir.path("named.bin"), b"someone else's bytes").unwrap();
    let url = origin.url("/o/served.bin?size=100000&disposition=named.bin");
    let file = write_list(&lists, &[format!("{url}\n  checksum=sha-256={sum}")]);
    let output = run(&["-i", &file, "-d", &dir.arg(""), "--json"]);
    assert_success(&output);
    assert_downloaded(&dir, "named.bin", "served.bin", 0, size);
    assert!(
        !dir.path("served.bin").exists(),
        "saved under the server's name"
    );

    // The rerun finds it complete by its checksum.
    let output = run(&["-i", &file, "-d", &dir.arg(""), "--json"]);
    assert_success(&output);
    assert_eq!(json_lines(&output)[0]["reason"], "checksum-matches");
}

#[test]
fn two_entries_the_server_names_alike_fail_the_second_instead_of_skipping_it() {
    // Two objects that the server names alike: the list looked fine, but
    // the second must not be counted as complete because the first is
    // there, nor written over it.
    let origin = Origin::start();
    let dir = Scratch::new("batch-same-name");
    let first = origin.url("/o/one.bin?size=100000&disposition=same.bin");
    let second =
        origin.url("/o/two.bin?size=100000&disposition=same.bin&fault=latency&latency=200");
    let output = run(&[&first, &second, "-d", &dir.arg(""), "--json"]);
    assert_eq!(output.status.code(), Some(6), "{}", text(&output.stderr));
    assert_downloaded(&dir, "same.bin", "one.bin", 0, 100_000);
    let summary = json_lines(&output).pop().unwrap();
    assert_eq!(
        (summary["saved"].clone(), summary["failed"].clone()),
        (1.into(), 1.into())
    );
    let failure = &summary["failures"][0];
    assert_eq!(failure["reason"], "name-taken", "{summary}");
    assert!(
        failure["url"].as_str().unwrap().contains("two.bin"),
        "{summary}"
    );
    assert!(
        failure["message"].as_str().unwrap().contains("one.bin"),
        "{summary}"
    );
}

#[test]
fn two_entries_writing_one_path_or_a_bad_line_are_refused_before_anything() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-dupes");
    let lists = Scratch::new("batch-dupes-list");
    let entries = [
        origin.url("/o/x/a.bin?size=1000"),
        format!("{}\n  out=a.bin", origin.url("/o/other.bin?size=1000")),
    ];
    let file = write_list(&lists, &entries);
    let output = run(&["-i", &file, "-d", &dir.arg("")]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("line 1 and") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert_eq!(origin.requests_served(), 0, "nothing was asked");

    let file = write_list(&lists, &[format!("{}\n  speed=9", origin.url("/o/s.bin"))]);
    let output = run(&["-i", &file, "-d", &dir.arg("")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("line 2"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn relative_paths_write_into_the_directory_named_not_the_lists() {
    let origin = Origin::start();
    let cwd = Scratch::new("batch-relative");
    let entries: Vec<String> = (0..3)
        .map(|i| origin.url(&format!("/o/rel{i}.bin?size=1000")))
        .collect();
    std::fs::write(cwd.path("list.txt"), entries.join("\n") + "\n").unwrap();
    // The list's directory (".") is granted read-only beside "d".
    let output = rangeget(&["-i", "list.txt", "-d", "d"])
        .current_dir(&cwd.0)
        .output()
        .unwrap();
    assert_success(&output);
    for i in 0..3 {
        let name = format!("rel{i}.bin");
        assert_downloaded(&cwd, &format!("d/{name}"), &name, 0, 1000);
    }
}

#[test]
fn a_rerun_fetches_no_body_of_complete_files() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-rerun");
    let lists = Scratch::new("batch-rerun-list");
    let entries: Vec<String> = (0..20)
        .map(|i| origin.url(&format!("/o/r{i}.bin?size=100000")))
        .collect();
    let file = write_list(&lists, &entries);
    assert_success(&run(&["-i", &file, "-d", &dir.arg("")]));

    // Without -N: the files are there, so nothing is asked at all.
    origin.reset_counters();
    let output = run(&["-i", &file, "-d", &dir.arg(""), "--json"]);
    assert_success(&output);
    assert_eq!(origin.requests_served(), 0);
    assert_eq!(json_lines(&output).pop().unwrap()["skipped"], 20);

    // With -N: one conditional request each, answered 304, no body.
    origin.reset_counters();
    let output = run(&["-i", &file, "-d", &dir.arg(""), "-N", "--json"]);
    assert_success(&output);
    assert_eq!(origin.body_bytes_sent(), 0, "no body for files up to date");
    assert_eq!(origin.requests_served(), 20);
    let reports = json_lines(&output);
    assert!(
        reports[..20].iter().all(|r| r["reason"] == "up-to-date"),
        "{reports:?}"
    );

    // A replaced object is fetched again under -N.
    origin.replace_object("r3.bin");
    let output = run(&["-i", &file, "-d", &dir.arg(""), "-N"]);
    assert_success(&output);
    assert_downloaded(&dir, "r3.bin", "r3.bin", 1, 100_000);
}

#[test]
fn a_rerun_with_n_skips_files_whose_server_ignores_if_modified_since() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-ignores-ims");
    let lists = Scratch::new("batch-ignores-ims-list");
    let size = 4 * MIB;
    let entries: Vec<String> = (0..4)
        .map(|i| origin.url(&format!("/o/i{i}.bin?size={size}&fault=ignore-conditions")))
        .collect();
    let file = write_list(&lists, &entries);
    assert_success(&run(&["-i", &file, "-d", &dir.arg(""), "-N"]));
    let inode =
        |name: &str| std::os::unix::fs::MetadataExt::ino(&dir.path(name).metadata().unwrap());
    let before = inode("i0.bin");

    // Answered 206 with the file, not 304: judged by size and
    // Last-Modified before the body, dropped, the host told once.
    origin.reset_counters();
    let output = run(&["-i", &file, "-d", &dir.arg(""), "-N", "--json"]);
    assert_success(&output);
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr.matches("ignores If-Modified-Since").count(),
        1,
        "{stderr}"
    );
    let reports = json_lines(&output);
    assert!(
        reports[..4].iter().all(|r| r["reason"] == "up-to-date"),
        "{reports:?}"
    );
    assert!(
        origin.body_bytes_sent() < 4 * size / 10,
        "{} bytes sent for files up to date",
        origin.body_bytes_sent()
    );
    assert_eq!(inode("i0.bin"), before, "the file was not rewritten");

    // A replaced object still comes again.
    origin.replace_object("i2.bin");
    assert_success(&run(&["-i", &file, "-d", &dir.arg(""), "-N"]));
    assert_downloaded(&dir, "i2.bin", "i2.bin", 1, size);
}

#[test]
fn a_kill_in_the_middle_of_a_batch_then_the_same_command_ends_byte_exact() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-kill");
    let lists = Scratch::new("batch-kill-list");
    let entries: Vec<String> = (0..8)
        .map(|i| origin.url(&format!("/o/k{i}.bin?size=2M&fault=throttle&rate=2M")))
        .collect();
    let file = write_list(&lists, &entries);
    let args = [
        "-i",
        file.as_str(),
        "-d",
        &dir.arg(""),
        "-j",
        "4",
        "--chunk-size",
        "512K",
    ];
    let mut child = rangeget(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Some files done, some under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !(dir.path("k0.bin").exists() || dir.path("k1.bin").exists()) {
        assert!(std::time::Instant::now() < deadline, "no file finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let output = run(&args);
    assert_success(&output);
    for i in 0..8 {
        let name = format!("k{i}.bin");
        assert_downloaded(&dir, &name, &name, 0, 2 * MIB);
    }
}

#[test]
fn ctrl_c_in_a_batch_keeps_what_is_done_and_the_same_command_finishes_it() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-sigint");
    let lists = Scratch::new("batch-sigint-list");
    let size = 8 * MIB;
    let mut entries: Vec<String> = (0..2)
        .map(|i| origin.url(&format!("/o/big{i}.bin?size=8M&fault=throttle&rate=1M")))
        .collect();
    entries.extend((0..3).map(|i| origin.url(&format!("/o/small{i}.bin?size=1000"))));
    let file = write_list(&lists, &entries);
    let args = [
        "-i",
        file.as_str(),
        "-d",
        &dir.arg(""),
        "--chunk-size",
        "512K",
    ];
    let mut child = rangeget(&[&args[..], &["--json"]].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metas = [
        dir.path("big0.bin.part.meta"),
        dir.path("big1.bin.part.meta"),
    ];
    for meta in &metas {
        wait_for_progress(meta, MIB, &mut child);
    }
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    // The small files ended long before the big ones had 1 MiB each.
    assert!(
        text(&output.stderr).contains(
            "interrupted with 3 of 5 files ended; run the same command again to finish the rest"
        ),
        "{}",
        text(&output.stderr)
    );
    // With --json, the finished files' lines, then where the batch stood.
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(
        lines[3],
        serde_json::json!({"status": "interrupted", "files": 5, "ended": 3, "failed": 0, "exit_code": 130})
    );
    for i in 0..3 {
        let name = format!("small{i}.bin");
        assert_downloaded(&dir, &name, &name, 0, 1000);
    }
    let recorded: Vec<_> = metas.iter().map(|meta| recorded_regions(meta)).collect();
    assert!(!dir.path("big0.bin").exists() && !dir.path("big1.bin").exists());

    origin.reset_counters();
    let output = run(&args);
    assert_success(&output);
    assert!(
        text(&output.stdout).contains("2 saved, 3 skipped"),
        "{}",
        text(&output.stdout)
    );
    for (i, recorded) in recorded.iter().enumerate() {
        let name = format!("big{i}.bin");
        assert_downloaded(&dir, &name, &name, 0, size);
        let asked = origin.range_requests_for(&name);
        let refetched = refetched_ranges(&asked, recorded);
        assert!(
            refetched.is_empty(),
            "{name}: recorded bytes asked for again: {refetched:?}"
        );
    }
}

#[test]
fn a_failing_entry_does_not_stop_the_others() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-fail");
    let urls = [
        origin.url("/o/ok1.bin?size=1000"),
        origin.url("/nothing-here"),
        origin.url("/o/ok2.bin?size=1000"),
    ];
    let output = run(&[&urls[0], &urls[1], &urls[2], "-d", &dir.arg("")]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    assert_downloaded(&dir, "ok1.bin", "ok1.bin", 0, 1000);
    assert_downloaded(&dir, "ok2.bin", "ok2.bin", 0, 1000);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("2 saved, 0 skipped, 1 failed"), "{stdout}");
    assert!(
        stdout.contains("failed: ") && stdout.contains("404"),
        "{stdout}"
    );
}

#[test]
fn a_host_found_unreachable_fails_its_other_files_at_once() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-down");
    let lists = Scratch::new("batch-down-list");
    let down = refused_addr();
    let mut entries: Vec<String> = (0..6).map(|i| format!("http://{down}/d{i}.bin")).collect();
    entries.push(origin.url("/o/up.bin?size=1000"));
    let file = write_list(&lists, &entries);
    // One file at a time: the first learns the host is down, the rest
    // of its files are not tried, the other host's file is fetched.
    let args = ["-i", &file, "-d", &dir.arg(""), "-j", "1", "--retries", "2"];
    let output = run(&[&args[..], &["--json"]].concat());
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert_downloaded(&dir, "up.bin", "up.bin", 0, 1000);
    let lines = json_lines(&output);
    let reasons: Vec<&str> = lines[..6]
        .iter()
        .map(|line| line["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "unreachable",
            "host-given-up",
            "host-given-up",
            "host-given-up",
            "host-given-up",
            "host-given-up"
        ]
    );
    assert!(
        lines[1]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("could not be reached for {}", dir.arg("d0.bin"))),
        "{}",
        lines[1]
    );
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr.matches("connection refused; retry").count(),
        2,
        "{stderr}"
    );
    let summary = lines.last().unwrap();
    assert_eq!(
        (&summary["saved"], &summary["failed"]),
        (&1.into(), &6.into())
    );
}

#[test]
fn a_url_whose_connection_is_reset_does_not_give_its_host_up() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-reset");
    // Every attempt at the first URL is closed before an answer, as a
    // filter blocking one path does; the host serves the others.
    let urls = [
        origin.url("/o/blocked.bin?size=1000&fault=unanswered&unanswered_times=9"),
        origin.url("/o/fine.bin?size=1000"),
    ];
    let output = run(&[
        &urls[0],
        &urls[1],
        "-d",
        &dir.arg(""),
        "-j",
        "1",
        "--retries",
        "1",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert_downloaded(&dir, "fine.bin", "fine.bin", 0, 1000);
    let lines = json_lines(&output);
    assert_eq!(lines[0]["reason"], "unreachable", "{}", lines[0]);
    assert_eq!(lines[1]["status"], "ok", "{}", lines[1]);
}

#[test]
fn missing_directories_are_made_like_aria2c_does() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-dirs");
    let lists = Scratch::new("batch-dirs-list");
    let file = write_list(
        &lists,
        &[
            origin.url("/o/a.bin?size=1000"),
            format!(
                "{}\n  dir=sub/deeper\n  out=b.bin",
                origin.url("/o/b?size=2000")
            ),
        ],
    );
    // -d names a directory that does not exist yet.
    let output = run(&["-i", &file, "-d", &dir.arg("new")]);
    assert_success(&output);
    assert_downloaded(&dir, "new/a.bin", "a.bin", 0, 1000);
    assert_downloaded(&dir, "new/sub/deeper/b.bin", "b", 0, 2000);
}

#[test]
fn on_a_terminal_a_batch_shows_files_done_and_the_active_ones() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-tty");
    let lists = Scratch::new("batch-tty-list");
    let entries: Vec<String> = (0..6)
        .map(|i| origin.url(&format!("/o/t{i}.bin?size=2M&fault=throttle&rate=4M")))
        .collect();
    let file = write_list(&lists, &entries);
    let command = format!(
        "'{}' -i '{file}' -d '{}' -j 2",
        env!("CARGO_BIN_EXE_rangeget"),
        dir.arg("")
    );
    // script(1) (util-linux, on every Debian) gives rangeget a terminal.
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("COLUMNS", "200")
        .stdin(Stdio::null())
        .output()
        .expect("script(1) runs");
    let screen = text(&output.stdout);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains("/6 files"), "an overall line: {screen}");
    assert!(screen.contains("t0.bin"), "the active files: {screen}");
    assert!(
        !screen.contains("rangeget-progress"),
        "the component's progress lines are drawn, not printed: {screen}"
    );
    assert!(screen.contains("6 files: 6 saved"), "{screen}");
}

#[test]
fn max_speed_caps_the_whole_batch_not_each_file() {
    let origin = Origin::start();
    let dir = Scratch::new("batch-speed");
    let urls: Vec<String> = (0..4)
        .map(|i| origin.url(&format!("/o/s{i}.bin?size=512K")))
        .collect();
    let started = std::time::Instant::now();
    let output = run(&[
        &urls[0],
        &urls[1],
        &urls[2],
        &urls[3],
        "-d",
        &dir.arg(""),
        "-j",
        "4",
        "--max-speed",
        "1M",
    ]);
    assert_success(&output);
    for i in 0..4 {
        let name = format!("s{i}.bin");
        assert_downloaded(&dir, &name, &name, 0, 512 * 1024);
    }
    // 2 MiB at 1 MiB/s in all, less the initial 0.1 s burst: at least
    // 1.8 s (each file at 1 MiB/s on its own would take 0.5 s).
    assert!(
        started.elapsed() >= Duration::from_millis(1800),
        "took only {:?}",
        started.elapsed()
    );
}

#[test]
fn files_waiting_for_the_budget_neither_spin_nor_stall_the_others() {
    // More files at once than the budget has connections: most wait for
    // a slot while answers arrive for the others (a batch once looped
    // without reading them, forever).
    let origin = Origin::start();
    let dir = Scratch::new("batch-waiting");
    let lists = Scratch::new("batch-waiting-list");
    let mut entries = vec![origin.url("/o/big.bin?size=24M&fault=latency&latency=20")];
    entries.extend(
        (0..24).map(|i| origin.url(&format!("/o/w{i}.bin?size=300K&fault=latency&latency=20"))),
    );
    let file = write_list(&lists, &entries);
    let mut child = rangeget(&[
        "-i",
        &file,
        "-d",
        &dir.arg(""),
        "-j",
        "12",
        "--max-connections",
        "4",
        "--chunk-size",
        "1M",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the batch did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    assert_downloaded(&dir, "big.bin", "big.bin", 0, 24 * MIB);
    for i in 0..24 {
        let name = format!("w{i}.bin");
        assert_downloaded(&dir, &name, &name, 0, 300 * 1024);
    }
    assert!(origin.most_concurrent_requests() <= 4 + 1);
}

#[test]
fn a_small_file_is_named_while_big_ones_still_run() {
    // A finished file waits for others to be synced with it (in a group),
    // but only briefly: it gets its name long before the big files end.
    let origin = Origin::start();
    let dir = Scratch::new("batch-group-sync");
    let lists = Scratch::new("batch-group-sync-list");
    let mut entries: Vec<String> = (0..3)
        .map(|i| origin.url(&format!("/o/big{i}.bin?size=4M&fault=throttle&rate=1M")))
        .collect();
    entries.push(origin.url("/o/small.bin?size=64K"));
    let file = write_list(&lists, &entries);
    let mut child = rangeget(&["-i", &file, "-d", &dir.arg(""), "-j", "4", "-x", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !dir.path("small.bin").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "small.bin still has no name after 3 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !dir.path("big0.bin").exists(),
        "the big files should still be running"
    );
    assert!(child.wait().unwrap().success());
    assert_downloaded(&dir, "small.bin", "small.bin", 0, 64 * 1024);
    for i in 0..3 {
        let name = format!("big{i}.bin");
        assert_downloaded(&dir, &name, &name, 0, 4 * MIB);
    }
}
