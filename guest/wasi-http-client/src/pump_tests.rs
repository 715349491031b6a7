//! The pump between the engines and wasi:http, against a scripted server
//! (see `fake`): what it sends within the budget, what it feeds back, and
//! what it waits on.

use std::cell::RefCell;
use std::rc::Rc;

use rangeget_core::budget::Budget;
use rangeget_core::probe::{Probe, ProbeEnd};
use rangeget_core::request::{Event, Request, RequestFailure, RequestRules};
use rangeget_core::transfer::{End, Settings, Stop, Transfer};
use rangeget_core::{Failure, RemoteObject};

use crate::client::{clock, Answer, Client, NoTrace};
use crate::exchanges::{Exchanges, Hooks};

const SIZE: u64 = 64 * 1024;
const CHUNK: u64 = 16 * 1024;

fn byte_at(offset: u64) -> u8 {
    (offset * 7 % 251) as u8
}

fn object() -> RemoteObject {
    RemoteObject {
        url: "http://h/f".into(),
        size: Some(SIZE),
        etag: Some("\"e\"".into()),
        last_modified: None,
        accepts_ranges: true,
        content_disposition: None,
    }
}

/// A well-behaved server: every range answered with a proper 206.
fn partial(request: &Request) -> Answer {
    let range = request.range.expect("a range request");
    Answer::Head {
        status: 206,
        headers: vec![
            (
                "content-range".into(),
                format!("bytes {}-{}/{SIZE}", range.start(), range.end()),
            ),
            ("content-length".into(), range.len().to_string()),
            ("etag".into(), "\"e\"".into()),
        ],
        body: (range.start()..=range.end()).map(byte_at).collect(),
    }
}

fn transfer(connections: usize) -> Transfer {
    let settings = Settings {
        connections,
        durable: false,
        seed: 1,
        ..Settings::default()
    };
    Transfer::to_file(object(), SIZE, CHUNK, settings, clock::now_ms())
}

fn exchanges(answer: impl Fn(&Request) -> Answer + 'static, budget: usize) -> Exchanges<NoTrace> {
    let (client, _) = Client::scripted(answer);
    let budget = Rc::new(RefCell::new(Budget::new(budget, budget)));
    Exchanges::sharing(client, budget)
}

/// The command's loop, without a disk: the transfer run through the
/// exchanges until it ends, its bytes written into `file`.
fn pump(exchanges: &mut Exchanges<NoTrace>, transfer: &mut Transfer, file: &mut [u8]) -> End {
    for _ in 0..10_000 {
        exchanges.follow(transfer, |_, _| {});
        for id in exchanges.ready_now(Some(transfer)) {
            exchanges
                .service(id, transfer, &mut |offset, data: &[u8]| {
                    file[offset as usize..][..data.len()].copy_from_slice(data);
                    Ok::<(), Failure>(())
                })
                .unwrap();
        }
        while transfer.poll_event().is_some() {}
        if let Some(save) = transfer.poll_save(clock::now_ms()) {
            transfer.handle_saved(save, clock::now_ms());
        }
        if let Some(end) = transfer.poll_end() {
            return end;
        }
        clock::advance(1);
        transfer.handle_timeout(clock::now_ms());
    }
    panic!("the transfer never ended");
}

#[test]
fn a_transfer_pumped_through_the_exchanges_writes_every_byte_at_its_offset() {
    let mut exchanges = exchanges(partial, 16);
    let mut transfer = transfer(4);
    let mut file = vec![0; SIZE as usize];
    assert!(matches!(
        pump(&mut exchanges, &mut transfer, &mut file),
        End::Finished
    ));
    assert!(file == (0..SIZE).map(byte_at).collect::<Vec<u8>>());
    assert!(exchanges.is_empty(), "every request closed");
}

#[test]
fn requests_start_only_while_the_shared_budget_has_room() {
    let budget = Rc::new(RefCell::new(Budget::new(2, 2)));
    let (client, server) = Client::<NoTrace>::scripted(|_| Answer::Never);
    let mut exchanges = Exchanges::sharing(client, Rc::clone(&budget));
    let mut transfer = transfer(4);
    exchanges.follow(&mut transfer, |_, _| {});
    assert_eq!(server.borrow().sent.len(), 2, "four wanted, two allowed");
    assert!(!exchanges.may_start("http://h/f"));
    // One of them ends: room for one more.
    let first = server.borrow().sent[0].id;
    exchanges.close(first);
    exchanges.follow(&mut transfer, |_, _| {});
    assert_eq!(server.borrow().sent.len(), 3);
    // Dropped, the exchanges give their requests back to the budget.
    assert!(!budget.borrow().may_start("h"));
    drop(exchanges);
    assert!(budget.borrow().may_start("h"));
}

#[test]
fn a_request_the_runtime_refuses_stops_the_transfer_with_that_failure() {
    let refused = RequestFailure::Refused("cannot send header 'x': Forbidden".into());
    let answer = move |_: &Request| Answer::Refused(refused.clone());
    let mut exchanges = exchanges(answer, 16);
    let mut transfer = transfer(1);
    let mut file = vec![0; SIZE as usize];
    match pump(&mut exchanges, &mut transfer, &mut file) {
        End::Stopped {
            stop: Stop::Failed(failure),
            ..
        } => assert!(failure.to_string().contains("Forbidden"), "{failure}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nothing_is_waited_on_while_an_answer_in_hand_is_wanted() {
    let mut exchanges = exchanges(partial, 16);
    let mut transfer = transfer(1);
    exchanges.follow(&mut transfer, |_, _| {});
    // The answer came: its head goes to the engine, which wants its body
    // now: the driver must not block, it has work in hand.
    let ready = exchanges.ready_now(Some(&transfer));
    assert_eq!(ready.len(), 1);
    let id = ready[0];
    let head = exchanges.poll_head(id).expect("answered").expect("a head");
    assert_eq!(head.0, 206);
    exchanges.refeed_head(id, &mut transfer);
    assert!(
        exchanges
            .pollables(Some(&transfer), clock::now_ms())
            .is_none(),
        "a body the engine wants is in hand: no wait"
    );
    // Without an engine that wants it, the body is not waited on either
    // (it would be ready at once: a busy loop).
    assert_eq!(
        exchanges.pollables(None, clock::now_ms()).map(|p| p.len()),
        Some(0)
    );
}

#[derive(Default)]
struct Events(Vec<String>);

impl Hooks for Events {
    fn event(&mut self, event: Event) {
        self.0.push(event.to_string());
    }
}

#[test]
fn a_probe_follows_a_redirect_and_keeps_only_the_answer_it_ends_with() {
    let answer = |request: &Request| {
        if request.url == "http://h/old" {
            return Answer::Head {
                status: 302,
                headers: vec![("location".into(), "/f".into())],
                body: Vec::new(),
            };
        }
        partial(request)
    };
    let (client, server) = Client::<NoTrace>::scripted(answer);
    let mut exchanges = Exchanges::new(client);
    let probe = Probe::first_bytes("http://h/old", RequestRules::default(), 4096);
    let end = exchanges.probe(probe, &mut Events::default()).unwrap();
    let ProbeEnd::Object {
        object,
        body,
        first,
        ..
    } = end
    else {
        panic!("{end:?}");
    };
    assert_eq!(
        (object.url.as_str(), object.size),
        ("http://h/f", Some(SIZE))
    );
    assert_eq!(first.map(|r| (r.start(), r.len())), Some((0, 4096)));
    let sent: Vec<String> = server.borrow().sent.iter().map(|r| r.url.clone()).collect();
    assert_eq!(sent, ["http://h/old", "http://h/f"]);
    // The redirect's request is closed; the first bytes' answer is kept
    // for the transfer to adopt.
    let body = body.expect("the first bytes are kept");
    assert!(exchanges.take_response(body).is_some());
    assert!(exchanges.is_empty());
}

#[test]
fn a_failure_before_the_head_is_retried_by_the_probe_after_its_backoff() {
    let failures = Rc::new(RefCell::new(1));
    let left = Rc::clone(&failures);
    let answer = move |request: &Request| {
        if *left.borrow() > 0 {
            *left.borrow_mut() -= 1;
            return Answer::Fails(RequestFailure::Broken("connection reset".into()));
        }
        partial(request)
    };
    let (client, server) = Client::<NoTrace>::scripted(answer);
    let mut exchanges = Exchanges::new(client);
    let mut events = Events::default();
    let probe = Probe::first_bytes("http://h/f", RequestRules::default(), 1);
    let mut run = crate::exchanges::ProbeRun::new(probe);
    let mut end = None;
    for _ in 0..100_000 {
        if let Some(done) = run.step(&mut exchanges, &mut events) {
            end = Some(done);
            break;
        }
        clock::advance(1);
    }
    assert!(matches!(end, Some(ProbeEnd::Object { .. })), "{end:?}");
    assert_eq!(server.borrow().sent.len(), 2);
    assert!(
        events.0.iter().any(|e| e.contains("connection reset")),
        "{:?}",
        events.0
    );
    assert_eq!(*failures.borrow(), 0);
}

#[test]
fn a_request_the_transfer_closed_meanwhile_is_dropped_not_fed() {
    let mut exchanges = exchanges(partial, 16);
    let mut transfer = transfer(2);
    exchanges.follow(&mut transfer, |_, _| {});
    let ready = exchanges.ready_now(Some(&transfer));
    assert_eq!(ready.len(), 2, "both answered");
    // The first answer stops the transfer (a new version of the object),
    // which closes the second request before the driver follows.
    let first = ready[0];
    exchanges.poll_head(first).unwrap().unwrap();
    let headers = rangeget_core::Headers::from_pairs([
        ("etag", "\"other\""),
        ("content-range", "bytes 0-16383/65536"),
    ]);
    transfer.handle_head(first, 206, &headers, clock::now_ms(), clock::unix_ms());
    let mut fed = Vec::new();
    exchanges
        .service(ready[1], &mut transfer, &mut |offset, _: &[u8]| {
            fed.push(offset);
            Ok::<(), Failure>(())
        })
        .unwrap();
    assert!(fed.is_empty(), "nothing of it written");
    let events: Vec<Event> = std::iter::from_fn(|| transfer.poll_event()).collect();
    assert!(
        !events.iter().any(|e| matches!(e, Event::Unexpected { .. })),
        "{events:?}"
    );
    // Fed anyway, the engine says so instead of ignoring it.
    transfer.handle_body_end(ready[1], clock::now_ms());
    assert!(matches!(
        transfer.poll_event(),
        Some(Event::Unexpected {
            what: "the end of a body",
            ..
        })
    ));
}
