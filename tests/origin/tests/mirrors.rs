//! What multi-source tests need: `/twin/{name}` (another object under the
//! same validators) and Metalink documents of the objects.

mod common;

use std::time::Instant;

use common::{fetch, get, get_range};
use rangeget_test_origin::{expected_content, expected_twin_content, metalink, twin_split, Origin};
use sha2::{Digest, Sha256};

#[test]
fn a_twin_has_the_objects_validators_and_size_and_other_bytes_from_half_way() {
    let origin = Origin::start();
    let object = get(origin.addr(), "/o/t.bin?size=100K");
    let twin = get(origin.addr(), "/twin/t.bin?size=100K");
    assert_eq!(twin.status, 200);
    for name in ["etag", "last-modified", "content-length", "accept-ranges"] {
        assert_eq!(twin.header(name), object.header(name), "{name}");
    }
    let size = 100 * 1024;
    assert_eq!(twin.body, expected_twin_content("t.bin", 0, size));
    let split = twin_split(size) as usize;
    assert_eq!(split, 50 * 1024);
    assert_eq!(twin.body[..split], object.body[..split]);
    assert!(twin.body[split..]
        .iter()
        .zip(&object.body[split..])
        .all(|(a, b)| a != b));

    let head = fetch(origin.addr(), "HEAD", "/twin/t.bin?size=100K", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("etag"), object.header("etag"));
    assert_eq!(head.header("content-length"), Some("102400"));
}

#[test]
fn a_twin_honours_range_and_the_objects_if_range() {
    let origin = Origin::start();
    let path = "/twin/r.bin?size=10000";
    let expected = expected_twin_content("r.bin", 0, 10_000);
    let across = get_range(origin.addr(), path, "bytes=4990-5009");
    assert_eq!(across.status, 206);
    assert_eq!(
        across.header("content-range"),
        Some("bytes 4990-5009/10000")
    );
    assert_eq!(across.body, expected[4990..5010]);

    let etag = get(origin.addr(), "/o/r.bin?size=10000")
        .header("etag")
        .unwrap()
        .to_owned();
    let current = fetch(
        origin.addr(),
        "GET",
        path,
        &[("Range", "bytes=9000-"), ("If-Range", &etag)],
    );
    assert_eq!(current.status, 206, "the object's ETag is the twin's");
    assert_eq!(current.body, expected[9000..]);

    origin.replace_object("r.bin");
    let stale = fetch(
        origin.addr(),
        "GET",
        path,
        &[("Range", "bytes=9000-"), ("If-Range", &etag)],
    );
    assert_eq!(stale.status, 200, "the twin follows the object's version");
    assert_eq!(stale.body, expected_twin_content("r.bin", 1, 10_000));
    let object = get(origin.addr(), "/o/r.bin?size=10000");
    assert_eq!(stale.header("etag"), object.header("etag"));
    assert_ne!(stale.header("etag"), Some(etag.as_str()));
}

#[test]
fn a_twin_is_paced_and_counted_apart() {
    let origin = Origin::start();
    let started = Instant::now();
    let twin = get(origin.addr(), "/twin/p.bin?size=1M&fault=throttle&rate=4M");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(twin.body, expected_twin_content("p.bin", 0, 1 << 20));
    assert!(elapsed >= 0.2, "1 MiB at 4 MiB/s took {elapsed:.3} s");

    get_range(origin.addr(), "/o/p.bin?size=1M", "bytes=0-99");
    get_range(origin.addr(), "/twin/p.bin?size=1M", "bytes=100-299");
    assert_eq!(origin.body_bytes_sent(), (1 << 20) + 100 + 200);
    assert_eq!(origin.twin_body_bytes_sent(), (1 << 20) + 200);
    assert_eq!(origin.range_requests_under("/twin/"), ["bytes=100-299"]);
    assert_eq!(origin.range_requests_for("p.bin"), ["bytes=0-99"]);
    let stats = get(origin.addr(), "/_stats");
    let text = String::from_utf8(stats.body).unwrap();
    assert!(
        text.contains(&format!("\"twin_body_bytes_sent\":{}", (1 << 20) + 200)),
        "{text}"
    );
    origin.reset_counters();
    assert_eq!(origin.twin_body_bytes_sent(), 0);
}

#[test]
fn metalink_digests_match_the_bytes_served() {
    let origin = Origin::start();
    let size: u64 = 3 * 1024 * 1024 + 17;
    let urls = [
        origin.url(&format!("/o/ml.bin?size={size}")),
        origin.url(&format!("/twin/ml.bin?size={size}")),
    ];
    let xml = metalink("ml.bin", size, &urls, Some(1 << 20), true);
    let served = get(origin.addr(), &format!("/o/ml.bin?size={size}")).body;
    assert_eq!(served, expected_content("ml.bin", 0, size));
    let hex = |bytes: &[u8]| {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let mut expected = vec![hex(&served)];
    expected.extend(served.chunks(1 << 20).map(hex));
    let hashes: Vec<&str> = xml
        .split("<hash")
        .skip(1)
        .map(|rest| {
            let body = &rest[rest.find('>').unwrap() + 1..];
            &body[..body.find("</hash>").unwrap()]
        })
        .collect();
    assert_eq!(hashes, expected);
    // The twin's second half fails its pieces, the first half passes.
    let twin = get(origin.addr(), &format!("/twin/ml.bin?size={size}")).body;
    let twin_pieces: Vec<String> = twin.chunks(1 << 20).map(hex).collect();
    assert_eq!(twin_pieces[0], expected[1]);
    assert_ne!(twin_pieces[2], expected[3]);
    assert!(xml.contains(&format!("<url priority=\"2\">{}</url>", urls[1])));
}

#[test]
fn the_binary_prints_the_same_metalink() {
    let urls = ["http://127.0.0.1:9/o/b.bin?size=3M&fault=throttle&rate=4M".to_owned()];
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rangeget-test-origin"))
        .args(["metalink", "--name", "b.bin", "--size", "3M"])
        .args(["--piece-length", "1M", &urls[0]])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        printed,
        metalink("b.bin", 3 << 20, &urls, Some(1 << 20), true)
    );

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rangeget-test-origin"))
        .args([
            "metalink",
            "--name",
            "b.bin",
            "--size",
            "3M",
            "--no-hash",
            &urls[0],
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed, metalink("b.bin", 3 << 20, &urls, None, false));

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_rangeget-test-origin"))
        .args(["metalink", "--size", "3M", &urls[0]])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--name"));
}
