//! The well-behaved origin: objects, ranges, validators, counters and the
//! control endpoints.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{fetch, get, get_range, Connection};
use rangeget_test_origin::{expected_content, Origin};

#[test]
fn get_serves_the_whole_object_with_validators() {
    let origin = Origin::start();
    let reply = get(origin.addr(), "/o/data.bin?size=100K");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, expected_content("data.bin", 0, 100 * 1024));
    assert_eq!(reply.header("content-length"), Some("102400"));
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        reply.header("content-type"),
        Some("application/octet-stream")
    );
    let etag = reply.header("etag").unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );
    httpdate::parse_http_date(reply.header("last-modified").unwrap()).unwrap();
}

#[test]
fn size_defaults_to_one_mebibyte() {
    let origin = Origin::start();
    let reply = get(origin.addr(), "/o/x");
    assert_eq!(reply.body, expected_content("x", 0, 1 << 20));
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    let origin = Origin::start();
    let get_reply = get(origin.addr(), "/o/h?size=3M");
    let head = fetch(origin.addr(), "HEAD", "/o/h?size=3M", &[]);
    assert_eq!(head.status, 200);
    for name in [
        "content-length",
        "etag",
        "last-modified",
        "accept-ranges",
        "content-type",
    ] {
        assert_eq!(head.header(name), get_reply.header(name), "{name}");
    }
    assert_eq!(head.header("content-length"), Some("3145728"));
    assert_eq!(origin.body_bytes_sent(), 3 << 20, "HEAD sends no body");
}

#[test]
fn the_three_range_forms_get_206_with_content_range() {
    let origin = Origin::start();
    let whole = expected_content("r", 0, 1000);
    for (range, first, last) in [
        ("bytes=10-19", 10, 19),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=900-5000", 900, 999),
    ] {
        let reply = get_range(origin.addr(), "/o/r?size=1000", range);
        assert_eq!(reply.status, 206, "{range}");
        let content_range = format!("bytes {first}-{last}/1000");
        assert_eq!(reply.header("content-range"), Some(content_range.as_str()));
        assert_eq!(
            reply.header("content-length"),
            Some(&*(last - first + 1).to_string())
        );
        assert_eq!(reply.body, whole[first..=last], "{range}");
    }
}

#[test]
fn unsatisfiable_ranges_get_416_naming_the_size() {
    let origin = Origin::start();
    for range in ["bytes=1000-", "bytes=-0"] {
        let reply = get_range(origin.addr(), "/o/r?size=1000", range);
        assert_eq!(reply.status, 416, "{range}");
        assert_eq!(reply.header("content-range"), Some("bytes */1000"));
    }
}

#[test]
fn multiple_or_malformed_ranges_get_the_whole_object() {
    let origin = Origin::start();
    for range in ["bytes=0-1,5-6", "bytes=9-2", "lines=1-2"] {
        let reply = get_range(origin.addr(), "/o/m?size=100", range);
        assert_eq!(reply.status, 200, "{range}");
        assert_eq!(reply.body.len(), 100);
    }
}

#[test]
fn if_range_honours_the_range_only_for_the_current_version() {
    let origin = Origin::start();
    let head = fetch(origin.addr(), "HEAD", "/o/v?size=100", &[]);
    let etag = head.header("etag").unwrap().to_owned();
    let date = head.header("last-modified").unwrap().to_owned();
    let ranged_with = |validator: &str| {
        fetch(
            origin.addr(),
            "GET",
            "/o/v?size=100",
            &[("Range", "bytes=50-"), ("If-Range", validator)],
        )
    };
    assert_eq!(ranged_with(&etag).status, 206);
    assert_eq!(ranged_with(&date).status, 206);

    origin.replace_object("v");
    for stale in [&etag, &date] {
        let reply = ranged_with(stale);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, expected_content("v", 1, 100));
    }
}

#[test]
fn replacing_changes_content_etag_and_last_modified() {
    let origin = Origin::start();
    let before = get(origin.addr(), "/o/f?size=64");
    origin.replace_object("f");
    let after = get(origin.addr(), "/o/f?size=64");
    assert_eq!(origin.object_version("f"), 1);
    assert_eq!(after.body, expected_content("f", 1, 64));
    assert_ne!(before.body, after.body);
    assert_ne!(before.header("etag"), after.header("etag"));
    let date = |reply: &common::Reply| {
        httpdate::parse_http_date(reply.header("last-modified").unwrap()).unwrap()
    };
    assert!(date(&after).duration_since(date(&before)).unwrap() >= Duration::from_secs(1));

    let replaced = fetch(origin.addr(), "POST", "/_replace/f", &[]);
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.body, b"{\"version\":2}\n");
    assert_eq!(
        get(origin.addr(), "/o/f?size=64").body,
        expected_content("f", 2, 64)
    );
}

#[test]
fn size_override_beats_the_url() {
    let origin = Origin::start();
    origin.set_size_override("s", Some(10));
    assert_eq!(
        get(origin.addr(), "/o/s?size=1M").body,
        expected_content("s", 0, 10)
    );
    origin.set_size_override("s", None);
    assert_eq!(get(origin.addr(), "/o/s?size=20").body.len(), 20);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let origin = Origin::start();
    let mut connection = Connection::open(origin.addr());
    let first = connection.request("GET", "/o/k?size=5000", &[("Range", "bytes=0-99")]);
    let second = connection.request("HEAD", "/o/k?size=5000", &[]);
    let third = connection.request("GET", "/o/k?size=5000", &[]);
    assert_eq!((first.status, second.status, third.status), (206, 200, 200));
    assert_eq!(third.body, expected_content("k", 0, 5000));
}

#[test]
fn counters_record_traffic_and_reset() {
    let origin = Origin::start();
    get(origin.addr(), "/o/c?size=1000");
    get_range(origin.addr(), "/o/c?size=1000", "bytes=0-9");
    get_range(origin.addr(), "/o/c?size=1000", "bytes=-5");
    assert_eq!(origin.requests_served(), 3);
    assert_eq!(origin.body_bytes_sent(), 1015);
    assert_eq!(origin.range_requests(), ["bytes=0-9", "bytes=-5"]);

    let stats = get(origin.addr(), "/_stats");
    assert_eq!(stats.header("content-type"), Some("application/json"));
    assert_eq!(
        stats.body,
        b"{\"body_bytes_sent\":1015,\"twin_body_bytes_sent\":0,\"requests\":4}\n"
    );

    origin.reset_counters();
    assert_eq!(origin.requests_served(), 0);
    assert_eq!(origin.body_bytes_sent(), 0);
    assert!(origin.range_requests().is_empty());
}

#[test]
fn bad_parameters_get_400_saying_what_is_wrong() {
    let origin = Origin::start();
    let reply = get(origin.addr(), "/o/b?size=lots");
    assert_eq!(reply.status, 400);
    assert!(String::from_utf8_lossy(&reply.body).contains("size=\"lots\""));
    let reply = get(origin.addr(), "/o/b?fault=explode");
    assert_eq!(reply.status, 400);
    assert!(String::from_utf8_lossy(&reply.body).contains("unknown fault \"explode\""));
    assert_eq!(get(origin.addr(), "/nowhere").status, 404);
    assert_eq!(fetch(origin.addr(), "POST", "/o/b", &[]).status, 405);
}

#[test]
fn dropping_the_origin_stops_the_server() {
    let origin = Origin::start();
    let addr = origin.addr();
    let mut idle = Connection::open(addr);
    assert_eq!(idle.request("GET", "/o/d?size=10", &[]).status, 200);
    drop(origin);
    assert!(
        idle.read_to_end().is_empty(),
        "idle keep-alive connection closed"
    );
    assert!(TcpStream::connect(addr).is_err(), "listener closed");
}

#[test]
fn the_binary_listens_where_told_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rangeget-test-origin"))
        .args(["--listen", "127.0.0.1:0", "--exit-after", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let addr = first_line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .parse()
        .unwrap();
    let reply = get(addr, "/o/bin?size=4K");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(reply.body, expected_content("bin", 0, 4096));
}

#[test]
fn the_binary_refuses_non_loopback_addresses() {
    let output = Command::new(env!("CARGO_BIN_EXE_rangeget-test-origin"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}

#[test]
fn the_binary_exits_by_itself_after_exit_after() {
    let started = SystemTime::now();
    let status = Command::new(env!("CARGO_BIN_EXE_rangeget-test-origin"))
        .args(["--listen", "127.0.0.1:0", "--exit-after", "0"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(started.elapsed().unwrap() < Duration::from_secs(10));
}
