//! The destination's `PATH.part.lock`, held while this run writes `PATH`'s
//! `.part` and meta: created exclusively, renewed while the run lives,
//! removed when it ends. `rangeget_core::lock` decides what a lock found
//! in the way means; this module moves its bytes.
//!
//! A run holds at most one lease at a time, so its state is the
//! component's (it is single-threaded): every wait in the adapter renews
//! it through [`renew_if_due`], wherever the wait happens.

use std::cell::RefCell;
use std::rc::Rc;

use rangeget_core::failure::Reason;
use rangeget_core::lock::{
    LockRecord, LockVerdict, LockWatch, LEASE_MS, MAX_LOCK_BYTES, RENEW_INTERVAL_MS,
};
use rangeget_core::Failure;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags};
use wasip2::random::random::get_random_u64;

use rangeget_wasi_http::clock;

use super::output::{read_regular_file, FsError};
use super::report::warn;

struct Lease {
    dir: Rc<Descriptor>,
    /// The lock file's name inside `dir`.
    name: String,
    /// As the user names it, for messages.
    display: String,
    record: LockRecord,
    renewed_ms: u64,
    /// Why the lease is no longer this run's (another run took it over,
    /// or it could not be renewed): the run must stop.
    lost: Option<Failure>,
}

thread_local! {
    static LEASE: RefCell<Option<Lease>> = const { RefCell::new(None) };
}

/// How often a lock found in the way is taken over before giving up: each
/// take-over races only with other runs that found it abandoned too.
const TAKE_OVER_ATTEMPTS: u32 = 3;

/// Takes the lock of the file `file_name` in `dir` (`file_display` to the
/// user) for this run, waiting at most one lease to tell whether a lock in
/// the way belongs to a live run.
/// `token` is this run's (the native CLI chooses it, to clean up after a
/// Ctrl-C); by default a random one.
pub fn acquire(
    dir: Rc<Descriptor>,
    file_name: &str,
    file_display: &str,
    token: Option<u64>,
) -> Result<(), Failure> {
    let name = format!("{file_name}.part.lock");
    let display = format!("{file_display}.part.lock");
    let token = token.unwrap_or_else(get_random_u64);
    for _ in 0..TAKE_OVER_ATTEMPTS {
        let record = LockRecord::new(token, clock::unix_ms());
        match create_exclusively(&dir, &name, &record) {
            Ok(()) => {
                LEASE.with_borrow_mut(|lease| {
                    *lease = Some(Lease {
                        dir,
                        name,
                        display: display.clone(),
                        record,
                        renewed_ms: clock::now_ms(),
                        lost: None,
                    })
                });
                return Ok(());
            }
            Err(ErrorCode::Exist) => {}
            Err(e) => return Err(lock_error("create", &display, e)),
        }
        if wait_until_abandoned(&dir, &name, &display, file_display)? {
            warn(&format!(
                "{display} was left by a run that stopped (not renewed for a while); taking it over"
            ));
            match dir.unlink_file_at(&name) {
                Ok(()) | Err(ErrorCode::NoEntry) => {}
                Err(e) => return Err(lock_error("remove", &display, e)),
            }
        }
    }
    Err(Reason::LockContended { lock: display }.into())
}

/// Watches a lock in the way until it is known to be abandoned (true) or
/// gone (false); a live holder is an error naming it.
fn wait_until_abandoned(
    dir: &Descriptor,
    name: &str,
    display: &str,
    file_display: &str,
) -> Result<bool, Failure> {
    let Some(content) = read_lock(dir, name, display)? else {
        return Ok(false);
    };
    let (watch, mut verdict) = LockWatch::start(&content, clock::now_ms(), clock::unix_ms());
    if matches!(verdict, LockVerdict::LookAgainAt(_)) {
        warn(&format!(
            "{display} exists: checking whether the run that holds it is alive (at most {:.0} s)",
            LEASE_MS as f64 / 1000.0
        ));
    }
    loop {
        match verdict {
            LockVerdict::Abandoned => return Ok(true),
            LockVerdict::Held { renewed_ago_ms } => {
                return Err(Reason::Busy {
                    path: file_display.to_string(),
                    lock: display.to_string(),
                    renewed_ago_ms,
                }
                .into());
            }
            LockVerdict::LookAgainAt(at_ms) => {
                clock::sleep_until(at_ms);
                let Some(content) = read_lock(dir, name, display)? else {
                    return Ok(false);
                };
                verdict = watch.look(&content, clock::now_ms(), clock::unix_ms());
            }
        }
    }
}

/// When the lease must next be renewed, if one is held.
pub fn next_renewal_ms() -> Option<u64> {
    LEASE.with_borrow(|lease| {
        lease
            .as_ref()
            .filter(|l| l.lost.is_none())
            .map(|l| l.renewed_ms + RENEW_INTERVAL_MS)
    })
}

/// Renews the lease if it is due; an error once another run took it.
pub fn renew_if_due() -> Result<(), Failure> {
    let due = next_renewal_ms().is_some_and(|at| clock::now_ms() >= at);
    if due {
        renew()
    } else {
        check_not_lost()
    }
}

/// Confirms, now, that the lease is still this run's (before anything
/// that cannot be undone: starting the `.part` over, publishing it).
pub fn confirm() -> Result<(), Failure> {
    renew()
}

fn check_not_lost() -> Result<(), Failure> {
    LEASE.with_borrow(|lease| match lease.as_ref().and_then(|l| l.lost.clone()) {
        Some(failure) => Err(failure),
        None => Ok(()),
    })
}

fn renew() -> Result<(), Failure> {
    LEASE.with_borrow_mut(|slot| {
        let Some(lease) = slot.as_mut() else {
            return Ok(());
        };
        if let Some(failure) = &lease.lost {
            return Err(failure.clone());
        }
        match renew_lease(lease) {
            Ok(()) => {
                lease.renewed_ms = clock::now_ms();
                Ok(())
            }
            Err(failure) => {
                lease.lost = Some(failure.clone());
                Err(failure)
            }
        }
    })
}

/// Checks the lock still holds this run's token, and renews it.
fn renew_lease(lease: &mut Lease) -> Result<(), Failure> {
    let content = read_lock(&lease.dir, &lease.name, &lease.display)?;
    let ours = content
        .as_deref()
        .and_then(LockRecord::parse)
        .is_some_and(|found| found.token == lease.record.token);
    if !ours {
        return Err(taken_over(&lease.display));
    }
    lease.record = lease.record.renewed(clock::unix_ms());
    rewrite(&lease.dir, &lease.name, &lease.record)
        .map_err(|e| lock_error("renew", &lease.display, e))
}

/// Gives the lease up: the lock file goes, unless another run holds it now.
pub fn release() {
    let Some(lease) = LEASE.with_borrow_mut(Option::take) else {
        return;
    };
    let ours = lease.lost.is_none()
        && read_lock(&lease.dir, &lease.name, &lease.display)
            .ok()
            .flatten()
            .as_deref()
            .and_then(LockRecord::parse)
            .is_some_and(|found| found.token == lease.record.token);
    if ours {
        let _ = lease.dir.unlink_file_at(&lease.name);
    }
}

fn taken_over(display: &str) -> Failure {
    Reason::LockLost {
        lock: display.to_string(),
    }
    .into()
}

fn create_exclusively(dir: &Descriptor, name: &str, record: &LockRecord) -> Result<(), ErrorCode> {
    let file = dir.open_at(
        PathFlags::empty(),
        name,
        OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
        DescriptorFlags::WRITE,
    )?;
    write_record(&file, record)
}

/// Rewrites the lock in place: it must stay the file this run created, so
/// that a run which replaced it is noticed.
fn rewrite(dir: &Descriptor, name: &str, record: &LockRecord) -> Result<(), ErrorCode> {
    let file = dir.open_at(
        PathFlags::empty(),
        name,
        OpenFlags::empty(),
        DescriptorFlags::WRITE,
    )?;
    write_record(&file, record)
}

fn write_record(file: &Descriptor, record: &LockRecord) -> Result<(), ErrorCode> {
    let json = record.to_json();
    let written = file.write(&json, 0)?;
    if written != json.len() as u64 {
        return Err(ErrorCode::Io);
    }
    file.set_size(written)
}

fn read_lock(dir: &Descriptor, name: &str, display: &str) -> Result<Option<Vec<u8>>, Failure> {
    read_regular_file(dir, name, MAX_LOCK_BYTES).map_err(|e| e.failure("read", display))
}

fn lock_error(action: &str, display: &str, code: ErrorCode) -> Failure {
    FsError::Code(code).failure(action, display)
}
