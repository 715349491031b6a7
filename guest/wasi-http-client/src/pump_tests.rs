//! The pump between a fetch and wasi:http, against a scripted server
//! (see `fake`): what it sends within the budget, what it feeds back, and
//! what it waits on.

use std::cell::RefCell;
use std::rc::Rc;

use rangeget_core::batch::ExistingRules;
use rangeget_core::budget::Budget;
use rangeget_core::fetch::{Destination, Ending, Fetch, FileTarget, Input, Output, Settings, Spec};
use rangeget_core::file_start::AtDestination;
use rangeget_core::request::{Event, Request, RequestFailure, RequestId};
use rangeget_core::Failure;

use crate::client::{clock, Answer, Client, NoTrace};
use crate::exchanges::Exchanges;

const SIZE: u64 = 64 * 1024;
const CHUNK: u64 = 16 * 1024;

fn byte_at(offset: u64) -> u8 {
    (offset * 7 % 251) as u8
}

/// A well-behaved server: every range answered with a proper 206.
fn partial(request: &Request) -> Answer {
    partial_of(request, "\"e\"")
}

/// A 206 of version `etag`.
fn partial_of(request: &Request, etag: &str) -> Answer {
    let range = request.range.expect("a range request");
    Answer::Head {
        status: 206,
        headers: vec![
            (
                "content-range".into(),
                format!("bytes {}-{}/{SIZE}", range.start(), range.end()),
            ),
            ("content-length".into(), range.len().to_string()),
            ("etag".into(), etag.into()),
        ],
        body: (range.start()..=range.end()).map(byte_at).collect(),
    }
}

/// A file's fetch of `url`, in chunks of [`CHUNK`] (its probe asks for chunk 0).
fn fetch(url: &str, connections: usize) -> Fetch {
    let spec = Spec {
        url: url.into(),
        settings: Settings {
            connections,
            durable: false,
            seed: 1,
            ..Settings::default()
        },
        chunk_size: Some(CHUNK),
        free_space: None,
        rate_limit: None,
        mirrors: Default::default(),
    };
    let to = Destination::File(FileTarget {
        path: "f".into(),
        rules: ExistingRules {
            batch: false,
            force: false,
            timestamping: false,
        },
        checksum: None,
        report_sha256: false,
        remote_time: false,
        given_up: None,
    });
    Fetch::new(spec, to)
}

fn exchanges(answer: impl Fn(&Request) -> Answer + 'static, budget: usize) -> Exchanges<NoTrace> {
    let (client, _) = Client::scripted(answer);
    let budget = Rc::new(RefCell::new(Budget::new(budget, budget)));
    Exchanges::sharing(client, budget)
}

/// The fetch's outputs carried out until it waits, with a fresh
/// destination and a disk that does all it is asked; its end, if it came.
fn follow(
    exchanges: &mut Exchanges<NoTrace>,
    fetch: &mut Fetch,
    events: &mut Vec<Event>,
) -> Option<Ending> {
    loop {
        let input = match exchanges.poll(fetch) {
            Output::Wait(_) => return None,
            Output::End(ending) => return Some(ending),
            Output::Event(event) => {
                events.push(event);
                continue;
            }
            Output::Look { .. } => Input::Standing(AtDestination::default()),
            Output::Locate(_) => Input::Locked { path: "f".into() },
            Output::OpenProgress => Input::Located {
                meta: None,
                part_len: None,
            },
            Output::CreatePart { .. } => Input::PartCreated { replaced: false },
            Output::SaveMeta { .. } => Input::Saved,
            Output::Finish { .. } => Input::Synced { len: SIZE },
            Output::Publish(_) => Input::Published,
            _ => continue,
        };
        fetch.handle(input, clock::now_ms());
    }
}

/// The command's loop, without a disk: the fetch run through the
/// exchanges until it ends, its bytes written into `file`.
fn pump(
    exchanges: &mut Exchanges<NoTrace>,
    fetch: &mut Fetch,
    file: &mut [u8],
) -> (Ending, Vec<Event>) {
    let mut events = Vec::new();
    for _ in 0..100_000 {
        for id in exchanges.ready_now(fetch) {
            exchanges
                .service(id, fetch, &mut |offset, data: &[u8]| {
                    file[offset as usize..][..data.len()].copy_from_slice(data);
                    Ok::<(), Failure>(())
                })
                .unwrap();
        }
        if let Some(ending) = follow(exchanges, fetch, &mut events) {
            return (ending, events);
        }
        clock::advance(1);
    }
    panic!("the fetch never ended");
}

fn redirect_to_f(request: &Request) -> Answer {
    if request.url == "http://h/old" {
        return Answer::Head {
            status: 302,
            headers: vec![("location".into(), "/f".into())],
            body: Vec::new(),
        };
    }
    partial(request)
}

#[test]
fn a_fetch_pumped_through_the_exchanges_writes_every_byte_at_its_offset() {
    let (client, server) = Client::<NoTrace>::scripted(redirect_to_f);
    let mut exchanges = Exchanges::new(client);
    let mut fetch = fetch("http://h/old", 4);
    let mut file = vec![0; SIZE as usize];
    let (ending, _) = pump(&mut exchanges, &mut fetch, &mut file);
    let Ending::Finished(stats) = ending else {
        panic!("{ending:?}");
    };
    assert_eq!(stats.final_url, "http://h/f");
    assert!(file == (0..SIZE).map(byte_at).collect::<Vec<u8>>());
    assert!(exchanges.is_empty(), "every request closed");
    let sent: Vec<String> = server.borrow().sent.iter().map(|r| r.url.clone()).collect();
    assert_eq!(sent[..2], ["http://h/old", "http://h/f"]);
}

#[test]
fn a_probe_follows_a_redirect_and_keeps_only_the_answer_it_ends_with() {
    let (client, _) = Client::<NoTrace>::scripted(redirect_to_f);
    let mut exchanges = Exchanges::new(client);
    let mut fetch = fetch("http://h/old", 4);
    let object = loop {
        match exchanges.poll(&mut fetch) {
            Output::Wait(_) => {}
            Output::Look { .. } => {
                fetch.handle(Input::Standing(AtDestination::default()), clock::now_ms());
                continue;
            }
            Output::Locate(object) => break object,
            // The probe's round trip, for -v.
            Output::Event(Event::RoundTrip { .. }) => continue,
            other => panic!("{other:?}"),
        }
        for id in exchanges.ready_now(&fetch) {
            exchanges
                .service(id, &mut fetch, &mut |_, _| Ok(()))
                .unwrap();
        }
    };
    // The object is known: the redirect's request is closed, the first
    // bytes' answer is kept for the transfer to take over.
    assert_eq!(
        (object.url.as_str(), object.size),
        ("http://h/f", Some(SIZE))
    );
    let open =
        exchanges.ready_now(&fetch).len() + exchanges.pollables(&fetch, 0).map_or(0, |p| p.len());
    assert_eq!(
        open, 0,
        "nothing is read or waited on while the destination is located"
    );
    assert!(!exchanges.is_empty(), "the first bytes' answer is kept");
}

#[test]
fn requests_start_only_while_the_shared_budget_has_room() {
    let budget = Rc::new(RefCell::new(Budget::new(2, 2)));
    // The probe's first bytes come; every other request hangs.
    let answer = |request: &Request| match request.range {
        Some(range) if range.start() == 0 && range.len() == CHUNK => partial(request),
        _ => Answer::Never,
    };
    let (client, server) = Client::<NoTrace>::scripted(answer);
    let mut exchanges = Exchanges::sharing(client, Rc::clone(&budget));
    let mut fetch = fetch("http://h/f", 4);
    let mut file = vec![0; SIZE as usize];
    for _ in 0..50 {
        for id in exchanges.ready_now(&fetch) {
            exchanges
                .service(id, &mut fetch, &mut |offset, data: &[u8]| {
                    file[offset as usize..][..data.len()].copy_from_slice(data);
                    Ok::<(), Failure>(())
                })
                .unwrap();
        }
        assert!(follow(&mut exchanges, &mut fetch, &mut Vec::new()).is_none());
    }
    // The probe's answer, read and closed; then two of the four wanted.
    assert_eq!(server.borrow().sent.len(), 3);
    assert!(!exchanges.may_start("http://h/f"));
    // Dropped, the exchanges give their requests back to the budget.
    drop(exchanges);
    assert!(budget.borrow().may_start("h"));
}

#[test]
fn a_request_the_runtime_refuses_ends_the_fetch_with_that_failure() {
    let refused = RequestFailure::Refused("cannot send header 'x': Forbidden".into());
    let answer = move |_: &Request| Answer::Refused(refused.clone());
    let mut exchanges = exchanges(answer, 16);
    let mut fetch = fetch("http://h/f", 1);
    let mut file = vec![0; SIZE as usize];
    match pump(&mut exchanges, &mut fetch, &mut file).0 {
        Ending::Failed(failure) => assert!(failure.to_string().contains("Forbidden"), "{failure}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nothing_is_waited_on_while_an_answer_in_hand_is_wanted() {
    let mut exchanges = exchanges(partial, 16);
    let mut fetch = fetch("http://h/f", 1);
    assert!(follow(&mut exchanges, &mut fetch, &mut Vec::new()).is_none());
    // The probe's answer came: its head goes to the fetch.
    let ready = exchanges.ready_now(&fetch);
    assert_eq!(ready.len(), 1);
    exchanges
        .service(ready[0], &mut fetch, &mut |_, _| Ok(()))
        .unwrap();
    assert!(follow(&mut exchanges, &mut fetch, &mut Vec::new()).is_none());
    // Its body is the transfer's first request's now: the driver must not
    // block, it has work in hand.
    assert!(
        exchanges.pollables(&fetch, clock::now_ms()).is_none(),
        "a body the fetch wants is in hand: no wait"
    );
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
    let mut exchanges = exchanges(answer, 16);
    let mut fetch = fetch("http://h/f", 4);
    let mut file = vec![0; SIZE as usize];
    let (ending, events) = pump(&mut exchanges, &mut fetch, &mut file);
    assert!(matches!(ending, Ending::Finished(_)), "{ending:?}");
    let told: Vec<String> = events.iter().map(Event::to_string).collect();
    assert!(
        told.iter().any(|e| e.contains("connection reset")),
        "{told:?}"
    );
    assert_eq!(*failures.borrow(), 0);
}

#[test]
fn a_request_the_fetch_closed_meanwhile_is_dropped_not_fed() {
    // The first bytes are of one version, every other range of another.
    let answer = |request: &Request| match request.range {
        Some(range) if range.start() == 0 && range.len() == CHUNK => partial(request),
        _ => partial_of(request, "\"other\""),
    };
    let mut exchanges = exchanges(answer, 16);
    let mut fetch = fetch("http://h/f", 2);
    let mut events = Vec::new();
    assert!(follow(&mut exchanges, &mut fetch, &mut events).is_none());
    let probe = exchanges.ready_now(&fetch);
    exchanges
        .service(probe[0], &mut fetch, &mut |_, _| Ok(()))
        .unwrap();
    assert!(follow(&mut exchanges, &mut fetch, &mut events).is_none());
    // The probe's answer is chunk 0's; chunk 1's answer is another version,
    // which stops the transfer and closes chunk 0's before the driver follows.
    let ready = exchanges.ready_now(&fetch);
    assert_eq!(ready.len(), 2, "both answered");
    let (first, other) = if ready[0] == probe[0] {
        (ready[0], ready[1])
    } else {
        (ready[1], ready[0])
    };
    exchanges
        .service(other, &mut fetch, &mut |_, _| Ok(()))
        .unwrap();
    let mut fed = Vec::new();
    exchanges
        .service(first, &mut fetch, &mut |offset, _: &[u8]| {
            fed.push(offset);
            Ok::<(), Failure>(())
        })
        .unwrap();
    assert!(fed.is_empty(), "nothing of it written");
    assert!(
        !events.iter().any(|e| matches!(e, Event::Unexpected { .. })),
        "{events:?}"
    );
    // Fed anyway, the fetch says so instead of ignoring it.
    fetch.handle(Input::BodyEnd { id: first }, clock::now_ms());
    follow(&mut exchanges, &mut fetch, &mut events);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Unexpected { id, .. } if *id == first)),
        "{events:?}"
    );
    let _: RequestId = first;
}
