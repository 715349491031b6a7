//! Several sources for one file: a Metalink's URLs, or tab-separated
//! mirrors in an `-i` list, against sources on the test origin that are
//! good, serve another object of the same size under the same `ETag`
//! (`/twin/`), or where nothing listens. Every test asserts on the bytes
//! on disk: never two versions spliced.

mod support;

use rangeget_test_origin::{metalink, Origin};
use support::*;

/// A metalink of `name` (`size` bytes) from `urls`, written in `dir`.
fn write_metalink(
    dir: &Scratch,
    name: &str,
    size: u64,
    urls: &[String],
    pieces: Option<u64>,
    hash: bool,
) -> String {
    let path = dir.path(&format!("{name}.meta4"));
    std::fs::write(&path, metalink(name, size, urls, pieces, hash)).unwrap();
    path.to_str().unwrap().to_string()
}

/// The `--json` line of `output` that holds `key`.
fn json_line(output: &std::process::Output, key: &str) -> serde_json::Value {
    let stdout = text(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains(key))
        .unwrap_or_else(|| panic!("no {key} in {stdout}"));
    serde_json::from_str(line).unwrap()
}

/// `rangeget -M META4 -d DIR EXTRA…`.
fn run_metalink(dir: &Scratch, meta4: &str, extra: &[&str]) -> std::process::Output {
    let dir_arg = dir.arg("");
    let mut args = vec!["-M", meta4, "-d", &dir_arg];
    args.extend_from_slice(extra);
    run(&args)
}

/// stderr named `url` as a source dropped.
fn assert_dropped(output: &std::process::Output, url: &str) {
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("dropping the source {url}")),
        "{stderr}"
    );
}

/// `url` through another name of the same host: another source to rangeget.
fn on_localhost(url: String) -> String {
    url.replace("127.0.0.1", "localhost")
}

fn dead(name: &str, size: u64) -> String {
    format!("http://{}/o/{name}?size={size}", refused_addr())
}

#[test]
fn piece_hashes_catch_another_version_and_a_dead_source_is_dropped_at_once() {
    let origin = Origin::start();
    let dir = Scratch::new("mirrors-pieces");
    let size = 6 * MIB + 5;
    let (name, query) = ("p.bin", format!("?size={size}"));
    // The twin is quick, the good ones slower: it is asked for most
    // chunks, its second half among them.
    let slow = format!("{query}&fault=throttle&rate=4M");
    let urls = [
        origin.url(&format!("/twin/{name}{query}")),
        dead(name, size),
        origin.url(&format!("/o/{name}{slow}")),
        on_localhost(origin.url(&format!("/o/{name}{slow}"))),
    ];
    let meta4 = write_metalink(&dir, name, size, &urls, Some(256 * 1024), true);
    let output = run_metalink(&dir, &meta4, &["--chunk-size", "1M", "--json"]);
    assert_success(&output);
    assert_downloaded(&dir, name, name, 0, size);
    let stderr = text(&output.stderr);
    assert_dropped(&output, &urls[0]);
    assert!(
        stderr.contains("do not match the sha-256 of piece"),
        "{stderr}"
    );
    assert_dropped(&output, &urls[1]);
    // The twin served bytes before it was caught; none of its other
    // version stands in the file (checked above, byte for byte).
    assert!(origin.twin_body_bytes_sent() > 0);
    let report = json_line(&output, "\"sources\"");
    let sources = report["sources"]
        .as_array()
        .expect("--json names the sources");
    assert_eq!(sources.len(), 4);
    assert!(
        sources[0]["dropped"].as_str().unwrap().contains("piece"),
        "{report}"
    );
    assert_eq!(sources[1]["bytes"], 0);
    let good: u64 = sources[2..]
        .iter()
        .map(|s| s["bytes"].as_u64().unwrap())
        .sum();
    assert!(good > 0, "{report}");
}

#[test]
fn with_only_a_whole_file_hash_a_mismatch_starts_over_from_one_source_at_a_time() {
    let origin = Origin::start();
    let dir = Scratch::new("mirrors-whole");
    let size = 4 * MIB;
    let (name, query) = ("w.bin", format!("?size={size}"));
    let urls = [
        origin.url(&format!("/twin/{name}{query}")),
        origin.url(&format!("/o/{name}{query}")),
    ];
    let meta4 = write_metalink(&dir, name, size, &urls, None, true);
    let output = run_metalink(&dir, &meta4, &["--chunk-size", "1M"]);
    assert_success(&output);
    assert_downloaded(&dir, name, name, 0, size);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("starting over from one source"), "{stderr}");
    assert_dropped(&output, &urls[0]);
}

#[test]
fn without_a_hash_sources_are_never_mixed() {
    let origin = Origin::start();
    let dir = Scratch::new("mirrors-none");
    let size = 4 * MIB;
    let (name, query) = ("n.bin", format!("?size={size}"));
    let urls = [
        dead(name, size),
        origin.url(&format!("/o/{name}{query}")),
        origin.url(&format!("/twin/{name}{query}")),
    ];
    let meta4 = write_metalink(&dir, name, size, &urls, None, false);
    let output = run_metalink(&dir, &meta4, &["--chunk-size", "1M"]);
    assert_success(&output);
    assert_downloaded(&dir, name, name, 0, size);
    assert_eq!(origin.twin_body_bytes_sent(), 0, "one source at a time");
    assert_dropped(&output, &urls[0]);
}

#[test]
fn a_list_line_of_tab_separated_mirrors_is_one_file_from_several_sources() {
    let origin = Origin::start();
    let dir = Scratch::new("mirrors-list");
    let size = 2 * MIB;
    let first = dead("t.bin", size);
    let second = origin.url(&format!("/o/t.bin?size={size}"));
    let list = dir.path("list.txt");
    std::fs::write(&list, format!("{first}\t{second}\n  out=t.bin\n")).unwrap();
    let output = run(&["-i", list.to_str().unwrap(), "-d", &dir.arg("")]);
    assert_success(&output);
    assert_downloaded(&dir, "t.bin", "t.bin", 0, size);
}

#[test]
fn a_rerun_resumes_by_its_pieces_after_a_source_disappeared() {
    let origin = Origin::start();
    let dir = Scratch::new("mirrors-resume");
    let size = 8 * MIB;
    let (name, query) = ("k.bin", format!("?size={size}&fault=throttle&rate=1M"));
    let good = origin.url(&format!("/o/{name}{query}"));
    let other = on_localhost(good.clone());
    let meta4 = write_metalink(
        &dir,
        name,
        size,
        &[good.clone(), other.clone()],
        Some(256 * 1024),
        true,
    );
    let args = [
        "-M",
        meta4.as_str(),
        "-d",
        &dir.arg(""),
        "--chunk-size",
        "1M",
    ];
    kill_after_progress(&args, &dir.path(&format!("{name}.part.meta")), 2 * MIB);
    let recorded = progress_in_meta(&dir.path(&format!("{name}.part.meta"))).unwrap();
    assert!(recorded > 0);
    // The first source is gone; the second finishes what is left.
    let meta4 = write_metalink(
        &dir,
        name,
        size,
        &[dead(name, size), other],
        Some(256 * 1024),
        true,
    );
    let sent_before = origin.body_bytes_sent();
    let output = run_metalink(&dir, &meta4, &["--chunk-size", "1M"]);
    assert_success(&output);
    assert_downloaded(&dir, name, name, 0, size);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("resuming"), "{stderr}");
    let sent = origin.body_bytes_sent() - sent_before;
    assert!(
        sent <= size - recorded + 4 * MIB,
        "refetched too much: {sent} of {size}, {recorded} recorded"
    );
}

#[test]
fn a_metalink_names_files_safely_and_refuses_two_on_one_path() {
    let origin = Origin::start();
    let dir = Scratch::new("mirrors-names");
    let url = origin.url("/o/a.bin?size=1000");
    // The object's own name, listed under another.
    let text_of = |name: &str| {
        metalink("a.bin", 1000, std::slice::from_ref(&url), None, true)
            .replace("name=\"a.bin\"", &format!("name=\"{name}\""))
    };
    let two = text_of("sub/a.bin").replace("</metalink>", "")
        + &text_of("sub/a.bin")[text_of("sub/a.bin").find("<file").unwrap()..];
    let path = dir.path("two.meta4");
    std::fs::write(&path, two).unwrap();
    let output = run_metalink(&dir, path.to_str().unwrap(), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let escape = dir.path("escape.meta4");
    std::fs::write(&escape, text_of("../a.bin")).unwrap();
    let output = run_metalink(&dir, escape.to_str().unwrap(), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(!dir.0.parent().unwrap().join("a.bin").exists());
    // A name with a directory lands inside -d.
    let one = dir.path("one.meta4");
    std::fs::write(&one, text_of("sub/a.bin")).unwrap();
    let output = run_metalink(&dir, one.to_str().unwrap(), &[]);
    assert_success(&output);
    assert_downloaded(&dir, "sub/a.bin", "a.bin", 0, 1000);
}

#[test]
fn a_source_that_keeps_failing_mid_way_is_dropped_and_the_others_finish() {
    let origin = Origin::start();
    let dir = Scratch::new("mirrors-dying");
    let size = 6 * MIB;
    let name = "d.bin";
    let urls = [
        origin.url(&format!("/o/{name}?size={size}&fault=throttle&rate=8M")),
        // Every answer cut at half its body: a source that dies mid-way.
        on_localhost(origin.url(&format!(
            "/o/{name}?size={size}&fault=truncate&truncate_times=1000"
        ))),
    ];
    let meta4 = write_metalink(&dir, name, size, &urls, Some(MIB), true);
    let output = run_metalink(&dir, &meta4, &["--chunk-size", "1M", "--json"]);
    assert_success(&output);
    assert_downloaded(&dir, name, name, 0, size);
    // Its failures rest it and send its chunks to the good source (it is
    // dropped after three in a row, if the file lasts that long).
    let report = json_line(&output, "\"sources\"");
    assert!(
        report["sources"][1]["failures"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert_eq!(report["retries"], 0, "no chunk used its retries: {report}");
}

#[test]
fn a_meta4_url_is_saved_then_its_files_fetched_and_a_rerun_finds_both() {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let origin = Origin::start();
    let dir = Scratch::new("mirrors-url");
    let size = 2 * MIB;
    let sources = [
        origin.url(&format!("/twin/u.bin?size={size}")),
        origin.url(&format!("/o/u.bin?size={size}")),
    ];
    let src: String = sources
        .iter()
        .map(|u| format!("&src={}", utf8_percent_encode(u, NON_ALPHANUMERIC)))
        .collect();
    let url = origin.url(&format!("/meta4/u.bin.meta4?size={size}&piece=256K{src}"));
    let output = run(&[&url, "-d", &dir.arg(""), "--chunk-size", "1M"]);
    assert_success(&output);
    assert_downloaded(&dir, "u.bin", "u.bin", 0, size);
    let saved = std::fs::read_to_string(dir.path("u.bin.meta4")).unwrap();
    assert!(saved.contains("<pieces length=\"262144\""), "{saved}");
    // Fetching the document itself is quiet: the run tells of its files.
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("u.bin.meta4"), "{stderr}");
    // Again: both are there; nothing is fetched but the check.
    let sent = origin.body_bytes_sent();
    let output = run(&[&url, "-d", &dir.arg("")]);
    assert_success(&output);
    assert!(
        text(&output.stdout).contains("1 skipped"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(origin.body_bytes_sent(), sent);
    // --no-follow-metalink saves it as a file, and -o with a followed one
    // is refused.
    let output = run(&[&url, "-o", &dir.arg("copy.meta4"), "--no-follow-metalink"]);
    assert_success(&output);
    assert_eq!(
        std::fs::read_to_string(dir.path("copy.meta4")).unwrap(),
        saved
    );
    let output = run(&[&url, "-o", &dir.arg("x.meta4")]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
}

#[test]
fn a_much_slower_source_loses_its_chunks_to_the_others() {
    let origin = Origin::start();
    let dir = Scratch::new("mirrors-slow");
    let size = 24 * MIB;
    let name = "slow.bin";
    let urls = [
        // First, so the probe's answer comes from it: 64 KiB/s.
        origin.url(&format!("/o/{name}?size={size}&fault=throttle&rate=64K")),
        origin.url(&format!("/o/{name}?size={size}&fault=throttle&rate=8M")),
        on_localhost(origin.url(&format!("/o/{name}?size={size}&fault=throttle&rate=8M"))),
    ];
    let meta4 = write_metalink(&dir, name, size, &urls, Some(MIB), true);
    let output = run_metalink(&dir, &meta4, &["--json"]);
    assert_success(&output);
    assert_downloaded(&dir, name, name, 0, size);
    let report = json_line(&output, "\"sources\"");
    // Its first answers are cut once it is measured; it is not dropped.
    let slow = &report["sources"][0];
    assert!(slow["bytes"].as_u64().unwrap() < MIB / 2, "{report}");
    assert!(slow.get("dropped").is_none(), "{report}");
}

#[test]
fn a_failed_file_reports_what_each_source_did() {
    let origin = Origin::start();
    let dir = Scratch::new("mirrors-failed");
    let size = 2 * MIB;
    let name = "f.bin";
    let urls = [
        dead(name, size),
        origin.url(&format!("/twin/{name}?size={size}")),
    ];
    let meta4 = write_metalink(&dir, name, size, &urls, Some(256 * 1024), true);
    let output = run_metalink(&dir, &meta4, &["--json"]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output.stderr));
    assert!(
        !dir.path(name).exists(),
        "never another version under the name"
    );
    let report = json_line(&output, "\"error\"");
    assert_eq!(report["reason"], "piece-mismatch", "{report}");
    let sources = report["sources"].as_array().expect("{report}");
    assert!(
        sources[0]["dropped"].as_str().unwrap().contains("refused"),
        "{report}"
    );
    assert!(sources[1]["bytes"].as_u64().unwrap() > 0, "{report}");
}
