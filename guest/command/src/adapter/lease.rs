//! The destinations' `PATH.part.lock`s, each held while this run writes
//! that `PATH`'s `.part` and meta: created exclusively, renewed while the
//! run lives, removed when its download ends. `rangeget_core::lock` decides
//! what a lock found in the way means; this module moves its bytes.
//!
//! A run may hold many at once (a batch), so they live in one table of the
//! component's (it is single-threaded, see `rangeget_core::lock::Leases`):
//! every wait renews all that are due through [`renew_due`], and each
//! download checks its own with [`check`].

use std::cell::RefCell;
use std::rc::Rc;

use rangeget_core::failure::Reason;
pub use rangeget_core::lock::LeaseKey;
use rangeget_core::lock::{Acquire, Held, Leases, LockRecord, LockStep, MAX_LOCK_BYTES};
use rangeget_core::paths::lock_path;
use rangeget_core::Failure;
use rangeget_wasi_http::clock;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags};
use wasip2::random::random::get_random_u64;

use super::files::{only_name, read_own_file, FsError};
use super::report::warn;

/// Where a lease's lock file is.
struct Place {
    dir: Rc<Descriptor>,
    /// The lock file's name inside `dir`.
    name: String,
    /// As the user names it, for messages.
    display: String,
}

thread_local! {
    static LEASES: RefCell<Leases<Place>> = RefCell::new(Leases::default());
    /// The tokens of holders known to be gone (`--gone-tokens`).
    static GONE: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Tells the locks which holders the native CLI knows to be gone.
pub fn set_gone_holders(tokens: &[u64]) {
    GONE.set(tokens.to_vec());
}

/// A lock that is someone else's for now: watched until its holder is
/// known to be alive (an error) or gone (the lock is then taken); the
/// core's [`Acquire`] says what to do with the file at each step.
pub struct Waiting {
    dir: Rc<Descriptor>,
    name: String,
    display: String,
    acquire: Acquire,
    look_at_ms: u64,
}

/// What an attempt to take a lock came to.
pub enum Taken {
    Held(LeaseKey),
    /// Look again with [`Waiting::look`] at [`Waiting::look_at_ms`].
    Waiting(Waiting),
}

/// Takes the lock of the file `file_name` in `dir` (`file_display` to the
/// user) for this run, or starts watching the lock in the way. `token` is
/// this run's (the native CLI chooses it, to clean up after a Ctrl-C); by
/// default a random one.
pub fn try_acquire(
    dir: Rc<Descriptor>,
    file_name: &str,
    file_display: &str,
    token: Option<u64>,
) -> Result<Taken, Failure> {
    let display = lock_path(file_display);
    let token = token.unwrap_or_else(get_random_u64);
    let gone = GONE.with_borrow(Vec::clone);
    let mut waiting = Waiting {
        dir,
        name: lock_path(file_name),
        acquire: Acquire::new(token, &display, file_display, &gone),
        display,
        look_at_ms: 0,
    };
    match waiting.look()? {
        Some(key) => Ok(Taken::Held(key)),
        None => Ok(Taken::Waiting(waiting)),
    }
}

impl Waiting {
    /// When to look again.
    pub fn look_at_ms(&self) -> u64 {
        self.look_at_ms
    }

    /// [`Waiting::look`] once its time has come; `None` before.
    pub fn look_when_due(&mut self) -> Result<Option<LeaseKey>, Failure> {
        if clock::now_ms() < self.look_at_ms {
            return Ok(None);
        }
        self.look()
    }

    /// Tries again: the key once the lock is this run's, `None` while its
    /// holder is not known to be gone, an error once it is known alive.
    pub fn look(&mut self) -> Result<Option<LeaseKey>, Failure> {
        loop {
            match self.acquire.next(clock::now_ms(), clock::unix_ms()) {
                LockStep::Create(record) => {
                    match create_exclusively(&self.dir, &self.name, &record) {
                        Ok(()) => self.acquire.created(true),
                        Err(ErrorCode::Exist) => self.acquire.created(false),
                        Err(e) => return Err(lock_error("create", &self.display, e)),
                    }
                }
                LockStep::Read => {
                    let content = read_lock(&self.dir, &self.name, &self.display)?;
                    let (now, unix) = (clock::now_ms(), clock::unix_ms());
                    self.acquire.read(content.as_deref(), now, unix);
                }
                LockStep::Remove => {
                    match self.dir.unlink_file_at(&self.name) {
                        Ok(()) | Err(ErrorCode::NoEntry) => {}
                        Err(e) => return Err(lock_error("remove", &self.display, e)),
                    }
                    self.acquire.removed();
                }
                LockStep::Tell(notice) => warn(&notice.to_string()),
                LockStep::LookAgainAt(at_ms) => {
                    self.look_at_ms = at_ms;
                    return Ok(None);
                }
                LockStep::Held(record) => return Ok(Some(self.hold(record))),
                LockStep::Failed(failure) => return Err(failure),
            }
        }
    }

    fn hold(&self, record: LockRecord) -> LeaseKey {
        let place = Place {
            dir: Rc::clone(&self.dir),
            name: self.name.clone(),
            display: self.display.clone(),
        };
        LEASES.with_borrow_mut(|leases| leases.hold(place, record, clock::now_ms()))
    }
}

/// When the next lease must be renewed, if any is held.
pub fn next_renewal_ms() -> Option<u64> {
    LEASES.with_borrow(Leases::next_renewal_ms)
}

/// Renews every lease that is due; one that cannot be is marked lost, for
/// its download to find at its next [`check`].
pub fn renew_due() {
    for key in LEASES.with_borrow(|leases| leases.due(clock::now_ms())) {
        // A failure is kept in the lease, for its download's check.
        let _ = renew(key);
    }
}

/// An error once another run took lease `key` (or it could not be renewed).
pub fn check(key: LeaseKey) -> Result<(), Failure> {
    LEASES.with_borrow(|leases| leases.check(key))
}

/// Confirms, now, that lease `key` is still this run's (before anything
/// that cannot be undone: starting the `.part` over, publishing it).
pub fn confirm(key: LeaseKey) -> Result<(), Failure> {
    if LEASES.with_borrow(|leases| leases.must_renew(key, clock::now_ms()))? {
        renew(key)?;
    }
    Ok(())
}

fn renew(key: LeaseKey) -> Result<(), Failure> {
    let outcome = LEASES.with_borrow(|leases| leases.get(key).map(renew_lease));
    let Some(outcome) = outcome else {
        return Ok(());
    };
    LEASES.with_borrow_mut(|leases| leases.renewed(key, outcome, clock::now_ms()))
}

/// Checks the lock still holds this run's token, and renews it: the
/// record written.
fn renew_lease(lease: &Held<Place>) -> Result<LockRecord, Failure> {
    let place = &lease.place;
    if !still_ours(lease)? {
        let lock = place.display.clone();
        return Err(Reason::LockLost { lock }.into());
    }
    let record = lease.record.renewed(clock::unix_ms());
    rewrite(&place.dir, &place.name, &record).map_err(|e| e.failure("renew", &place.display))?;
    Ok(record)
}

/// Whether the lock file still holds this lease's token.
fn still_ours(lease: &Held<Place>) -> Result<bool, Failure> {
    let place = &lease.place;
    let content = read_lock(&place.dir, &place.name, &place.display)?;
    let found = content.as_deref().and_then(LockRecord::parse);
    Ok(found.is_some_and(|found| found.token == lease.record.token))
}

/// Gives lease `key` up: the lock file goes, unless another run holds it now.
pub fn release(key: LeaseKey) {
    let released = LEASES.with_borrow_mut(|leases| leases.release(key, clock::now_ms()));
    if let Some((lease, fresh)) = released {
        if fresh || still_ours(&lease).unwrap_or(false) {
            let _ = lease.place.dir.unlink_file_at(&lease.place.name);
        }
    }
}

fn create_exclusively(dir: &Descriptor, name: &str, record: &LockRecord) -> Result<(), ErrorCode> {
    let file = dir.open_at(
        PathFlags::empty(),
        name,
        OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
        DescriptorFlags::WRITE,
    )?;
    // A new file is empty: nothing of a longer record to cut off.
    write_whole(&file, &record.to_json())
}

/// Rewrites the lock in place: it must stay the file this run created, so
/// that a run which replaced it is noticed.
/// A lock given another name meanwhile is not written through.
fn rewrite(dir: &Descriptor, name: &str, record: &LockRecord) -> Result<(), FsError> {
    let file = dir.open_at(
        PathFlags::empty(),
        name,
        OpenFlags::empty(),
        DescriptorFlags::WRITE,
    )?;
    only_name(&file)?;
    let json = record.to_json();
    write_whole(&file, &json)?;
    Ok(file.set_size(json.len() as u64)?)
}

/// `json` at the start of `file`, in one write: a lock is never torn.
fn write_whole(file: &Descriptor, json: &[u8]) -> Result<(), ErrorCode> {
    if file.write(json, 0)? != json.len() as u64 {
        return Err(ErrorCode::Io);
    }
    Ok(())
}

fn read_lock(dir: &Descriptor, name: &str, display: &str) -> Result<Option<Vec<u8>>, Failure> {
    read_own_file(dir, name, MAX_LOCK_BYTES).map_err(|e| e.failure("read", display))
}

fn lock_error(action: &str, display: &str, code: ErrorCode) -> Failure {
    FsError::Code(code).failure(action, display)
}
