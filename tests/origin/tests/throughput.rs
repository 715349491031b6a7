//! Serving speed; ignored by default because timing depends on the machine.
//! Run with `cargo test -p rangeget-test-origin --release --test throughput
//! -- --ignored --nocapture`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use rangeget_test_origin::{fill_content, Origin};

#[test]
#[ignore = "timing benchmark"]
fn serves_one_gibibyte_well_above_one_gigabyte_per_second() {
    let origin = Origin::start();
    let mut stream = TcpStream::connect(origin.addr()).unwrap();
    stream
        .write_all(b"GET /o/big?size=1G HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut buffer = vec![0; 1 << 20];
    let mut received = 0u64;
    loop {
        match stream.read(&mut buffer).unwrap() {
            0 => break,
            read => received += read as u64,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = received as f64 / seconds / 1e9;
    println!("served {received} bytes in {seconds:.3} s: {rate:.2} GB/s");
    assert!(received > 1 << 30);
    assert!(rate > 1.0, "{rate:.2} GB/s");
}

#[test]
#[ignore = "timing benchmark"]
fn generates_content_faster_than_two_gigabytes_per_second() {
    let mut buffer = vec![0; 64 * 1024];
    let started = Instant::now();
    for block in 0..16 * 1024u64 {
        fill_content("big", 0, block * 65536 + 3, &mut buffer);
    }
    let rate = (1u64 << 30) as f64 / started.elapsed().as_secs_f64() / 1e9;
    println!("generated 1 GiB at {rate:.2} GB/s");
    assert!(rate > 2.0, "{rate:.2} GB/s");
}
