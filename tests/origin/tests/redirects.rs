//! Redirect chains and loops.

mod common;

use common::{fetch, get};
use rangeget_test_origin::{expected_content, Origin};

#[test]
fn relative_chain_counts_down_to_the_object_keeping_the_query() {
    let origin = Origin::start();
    let mut path = "/r/2/data.bin?size=100".to_owned();
    let mut hops = Vec::new();
    loop {
        let reply = get(origin.addr(), &path);
        if reply.status != 302 {
            assert_eq!(reply.body, expected_content("data.bin", 0, 100));
            break;
        }
        path = reply.header("location").unwrap().to_owned();
        hops.push(path.clone());
    }
    assert_eq!(
        hops,
        [
            "/r/1/data.bin?size=100",
            "/r/0/data.bin?size=100",
            "/o/data.bin?size=100"
        ]
    );
}

#[test]
fn absolute_chain_cycles_through_every_redirect_status() {
    let origin = Origin::start();
    let base = origin.url("");
    let mut statuses = Vec::new();
    for n in 0..5 {
        let reply = fetch(origin.addr(), "HEAD", &format!("/ra/{n}/x?size=1"), &[]);
        statuses.push(reply.status);
        let expected = if n == 0 {
            format!("{base}/o/x?size=1")
        } else {
            format!("{base}/ra/{}/x?size=1", n - 1)
        };
        assert_eq!(reply.header("location"), Some(expected.as_str()));
    }
    assert_eq!(statuses, [301, 302, 303, 307, 308]);
}

#[test]
fn loop_redirects_to_itself() {
    let origin = Origin::start();
    let reply = get(origin.addr(), "/loop/x?size=5");
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some("/loop/x?size=5"));
}
