//! Who is downloading to a destination: the `PATH.part.lock` lease.
//!
//! Two runs writing one `.part` would splice two downloads into one file,
//! so a run first takes the destination's lock. WASI 0.2 has no file
//! locks, and a lock must not outlive a `kill -9`, so the lock is a lease:
//! the holder creates the file exclusively, then rewrites it every
//! [`RENEW_INTERVAL_MS`] with a fresh time. A run that finds it watches it:
//! a lease that moves belongs to a live run (refuse); one that stays still
//! for [`LEASE_MS`] was left by a dead one (take over). The same mechanism
//! works under every runtime, and needs no clock shared between processes
//! except for leases abandoned long ago.
//!
//! A holder stalled for longer than the lease (a very slow disk sync) may
//! lose it; it then finds another token at its next renewal and stops
//! without publishing. Until then its writes cannot hurt: a take-over run
//! either resumes the same object (the same bytes at the same offsets) or
//! starts over in a fresh `.part` (a new file, not the stalled run's).

use serde::{Deserialize, Serialize};

use crate::failure::{Failure, Reason};

/// How often the holder rewrites the lease.
pub const RENEW_INTERVAL_MS: u64 = 500;
/// A lease not renewed for this long was abandoned. Four missed renewals:
/// a live holder is never judged dead for one slow write.
pub const LEASE_MS: u64 = 2_000;
/// A lease renewed (or created) this recently is still the holder's
/// without looking: another run takes a lease over only after watching it
/// unchanged for [`LEASE_MS`], or finding its last renewal that old.
/// Half a lease leaves room for a slow clock read or write.
pub fn lease_is_fresh(renewed_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(renewed_ms) < LEASE_MS / 2
}

/// A lock file larger than this is not one of ours.
pub const MAX_LOCK_BYTES: u64 = 4096;

/// What the lock file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Random, chosen by the holder: tells it whether the lease is still its own.
    pub token: String,
    /// Wall-clock time of the last renewal, milliseconds since the Unix epoch.
    pub renewed_unix_ms: u64,
}

impl LockRecord {
    pub fn new(token: u64, now_unix_ms: u64) -> LockRecord {
        LockRecord {
            token: format!("{token:016x}"),
            renewed_unix_ms: now_unix_ms,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec(self).expect("a lock record serialises");
        json.push(b'\n');
        json
    }

    /// `None` for anything that is not a lock record (a torn write, say).
    pub fn parse(bytes: &[u8]) -> Option<LockRecord> {
        if bytes.len() as u64 > MAX_LOCK_BYTES {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }

    /// The same lease, renewed at `now_unix_ms`.
    pub fn renewed(&self, now_unix_ms: u64) -> LockRecord {
        LockRecord {
            token: self.token.clone(),
            renewed_unix_ms: now_unix_ms,
        }
    }
}

/// What a run that found the lock taken should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockVerdict {
    /// The lease is being renewed: another run is alive.
    Held {
        /// Milliseconds since its last renewal, as far as our clock can tell.
        renewed_ago_ms: Option<u64>,
    },
    /// Nobody has renewed it for a whole lease: take it over.
    Abandoned,
    /// Not known yet: look again at this time (monotonic milliseconds).
    LookAgainAt(u64),
}

/// What a run tells its user about a lock found in its way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockNotice {
    /// Its holder is known to have died (the native CLI saw its process
    /// go): taken over at once.
    HolderGone { lock: String },
    /// It was not renewed for a while: its run stopped; taken over.
    Abandoned { lock: String },
    /// Watched for a lease to tell whether its run is alive.
    Checking { lock: String },
}

impl std::fmt::Display for LockNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockNotice::HolderGone { lock } => write!(
                f,
                "{lock} was left by a run that is no longer running; taking it over"
            ),
            LockNotice::Abandoned { lock } => write!(
                f,
                "{lock} was left by a run that stopped (not renewed for a while); taking it over"
            ),
            LockNotice::Checking { lock } => write!(
                f,
                "{lock} exists: checking whether the run that holds it is alive (at most {:.0} s)",
                LEASE_MS as f64 / 1000.0
            ),
        }
    }
}

/// Whether the holder of the lock holding `content` is known to be gone:
/// its token is among `gone`, those the native CLI found without a live
/// process (the kernel dropped their OS lock). Such a lock is taken over
/// at once; any other is watched for a lease.
pub fn holder_gone(content: &[u8], gone: &[u64]) -> bool {
    LockRecord::parse(content)
        .and_then(|record| u64::from_str_radix(&record.token, 16).ok())
        .is_some_and(|token| gone.contains(&token))
}

/// Watching a lock file someone else holds, to tell a live holder from a
/// dead one. Fed what the file contains at each look.
#[derive(Clone, Debug)]
pub struct LockWatch {
    first_content: Vec<u8>,
    first_seen_ms: u64,
}

impl LockWatch {
    /// Starts watching a lock whose content is `content`, seen at
    /// `now_ms` (monotonic) and `now_unix_ms` (wall clock).
    pub fn start(content: &[u8], now_ms: u64, now_unix_ms: u64) -> (LockWatch, LockVerdict) {
        let watch = LockWatch {
            first_content: content.to_vec(),
            first_seen_ms: now_ms,
        };
        // A lease renewed long ago by the wall clock needs no watching. One
        // "renewed" in the future (clocks that disagree) is watched.
        let long_ago = LockRecord::parse(content)
            .is_some_and(|r| r.renewed_unix_ms.saturating_add(LEASE_MS) < now_unix_ms);
        let verdict = if long_ago {
            LockVerdict::Abandoned
        } else {
            watch.look(content, now_ms, now_unix_ms)
        };
        (watch, verdict)
    }

    /// What the lock file holds now (`content`) says about its holder.
    pub fn look(&self, content: &[u8], now_ms: u64, now_unix_ms: u64) -> LockVerdict {
        if content != self.first_content.as_slice() {
            let renewed_ago_ms =
                LockRecord::parse(content).map(|r| now_unix_ms.saturating_sub(r.renewed_unix_ms));
            return LockVerdict::Held { renewed_ago_ms };
        }
        let still_until = self.first_seen_ms + LEASE_MS;
        if now_ms >= still_until {
            LockVerdict::Abandoned
        } else {
            // Look about as often as the holder renews: a live one is
            // recognised within one renewal.
            LockVerdict::LookAgainAt((now_ms + RENEW_INTERVAL_MS / 2).min(still_until))
        }
    }
}

/// How often a lock found in the way is taken over before giving up: each
/// take-over races only with other runs that found it abandoned too.
pub const TAKE_OVER_ATTEMPTS: u32 = 3;

/// Taking a destination's lock for this run, sans-IO: the adapter does to
/// the lock file what [`Acquire::next`] says and reports what came of it
/// ([`Acquire::created`], [`Acquire::read`], [`Acquire::removed`]), until
/// the lock is held, refused, or to be looked at again later.
#[derive(Debug)]
pub struct Acquire {
    token: u64,
    /// The lock and the file it guards, as the user names them.
    lock: String,
    file: String,
    /// Tokens of runs known to be gone (the native CLI saw them die).
    gone: Vec<u64>,
    attempts: u32,
    watch: Option<LockWatch>,
    doing: Doing,
    told: Option<LockNotice>,
}

#[derive(Debug)]
enum Doing {
    /// Create the lock, or (while watching one) read it.
    Start,
    Creating(LockRecord),
    Reading,
    Removing,
    WaitingUntil(u64),
    Held(LockRecord),
    Failed(Failure),
}

/// What to do with the lock file next.
#[must_use = "the lock is taken only by doing each step"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockStep {
    /// Create it exclusively, holding this record; then [`Acquire::created`].
    Create(LockRecord),
    /// Read it; then [`Acquire::read`].
    Read,
    /// Remove it (its holder is gone); then [`Acquire::removed`].
    Remove,
    /// Tell the user, then ask again.
    Tell(LockNotice),
    /// Nothing to do before this moment (monotonic milliseconds).
    LookAgainAt(u64),
    /// The lock is this run's, holding this record.
    Held(LockRecord),
    /// A live run holds it, or it could not be taken.
    Failed(Failure),
}

impl Acquire {
    /// The lock `lock` of the file `file`, taken with `token`; `gone`: the
    /// tokens of runs known to be dead.
    pub fn new(token: u64, lock: &str, file: &str, gone: &[u64]) -> Acquire {
        Acquire {
            token,
            lock: lock.to_string(),
            file: file.to_string(),
            gone: gone.to_vec(),
            attempts: 0,
            watch: None,
            doing: Doing::Start,
            told: None,
        }
    }

    /// The next step at `now_ms` (monotonic) and `now_unix_ms` (wall clock).
    pub fn next(&mut self, now_ms: u64, now_unix_ms: u64) -> LockStep {
        if let Some(notice) = self.told.take() {
            return LockStep::Tell(notice);
        }
        match &self.doing {
            Doing::Start if self.watch.is_some() => {
                self.doing = Doing::Reading;
                LockStep::Read
            }
            Doing::Start if self.attempts >= TAKE_OVER_ATTEMPTS => {
                let lock = self.lock.clone();
                self.doing = Doing::Failed(Reason::LockContended { lock }.into());
                self.next(now_ms, now_unix_ms)
            }
            Doing::Start => {
                self.attempts += 1;
                let record = LockRecord::new(self.token, now_unix_ms);
                self.doing = Doing::Creating(record.clone());
                LockStep::Create(record)
            }
            Doing::Creating(record) => LockStep::Create(record.clone()),
            Doing::Reading => LockStep::Read,
            Doing::Removing => LockStep::Remove,
            Doing::WaitingUntil(at) if now_ms < *at => LockStep::LookAgainAt(*at),
            Doing::WaitingUntil(_) => {
                self.doing = Doing::Start;
                self.next(now_ms, now_unix_ms)
            }
            Doing::Held(record) => LockStep::Held(record.clone()),
            Doing::Failed(failure) => LockStep::Failed(failure.clone()),
        }
    }

    /// The lock was created (`true`), or one was there already.
    pub fn created(&mut self, created: bool) {
        let Doing::Creating(record) = std::mem::replace(&mut self.doing, Doing::Reading) else {
            return;
        };
        if created {
            self.doing = Doing::Held(record);
        }
    }

    /// What the lock holds (`None`: it went away meanwhile, and is
    /// created again), seen at `now_ms` and `now_unix_ms`.
    pub fn read(&mut self, content: Option<&[u8]>, now_ms: u64, now_unix_ms: u64) {
        let Some(content) = content else {
            self.watch = None;
            self.doing = Doing::Start;
            return;
        };
        let verdict = match &self.watch {
            Some(watch) => watch.look(content, now_ms, now_unix_ms),
            None if holder_gone(content, &self.gone) => {
                self.told = Some(LockNotice::HolderGone {
                    lock: self.lock.clone(),
                });
                self.doing = Doing::Removing;
                return;
            }
            None => {
                let (watch, verdict) = LockWatch::start(content, now_ms, now_unix_ms);
                if matches!(verdict, LockVerdict::LookAgainAt(_)) {
                    self.told = Some(LockNotice::Checking {
                        lock: self.lock.clone(),
                    });
                }
                self.watch = Some(watch);
                verdict
            }
        };
        self.doing = match verdict {
            LockVerdict::LookAgainAt(at) => Doing::WaitingUntil(at),
            LockVerdict::Held { renewed_ago_ms } => Doing::Failed(
                Reason::Busy {
                    path: self.file.clone(),
                    lock: self.lock.clone(),
                    renewed_ago_ms,
                }
                .into(),
            ),
            LockVerdict::Abandoned => {
                self.told = Some(LockNotice::Abandoned {
                    lock: self.lock.clone(),
                });
                Doing::Removing
            }
        };
    }

    /// The lock of a gone holder was removed: it is created again.
    pub fn removed(&mut self) {
        self.watch = None;
        self.doing = Doing::Start;
    }
}

/// Names one lease of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeaseKey(u64);

/// A lease a run holds: where its lock file is (the adapter's `P`), the
/// record in it, when it was last renewed, and why it is lost, if it is.
#[derive(Debug)]
pub struct Held<P> {
    pub place: P,
    pub record: LockRecord,
    renewed_ms: u64,
    lost: Option<Failure>,
}

/// The leases a run holds (a batch holds many) as bookkeeping: which are
/// due for renewal, which were lost, and which must be looked at before a
/// step that cannot be undone. The adapter reads and rewrites the files.
/// (A `BTreeMap`: a `HashMap`'s seed would import `wasi:random/insecure-seed`.)
#[derive(Debug)]
pub struct Leases<P> {
    held: std::collections::BTreeMap<LeaseKey, Held<P>>,
    next_key: u64,
}

impl<P> Default for Leases<P> {
    fn default() -> Self {
        Leases {
            held: std::collections::BTreeMap::new(),
            next_key: 0,
        }
    }
}

impl<P> Leases<P> {
    /// A lease just taken (its record written at `now_ms`).
    pub fn hold(&mut self, place: P, record: LockRecord, now_ms: u64) -> LeaseKey {
        let key = LeaseKey(self.next_key);
        self.next_key += 1;
        let held = Held {
            place,
            record,
            renewed_ms: now_ms,
            lost: None,
        };
        self.held.insert(key, held);
        key
    }

    pub fn get(&self, key: LeaseKey) -> Option<&Held<P>> {
        self.held.get(&key)
    }

    /// When the next lease must be renewed, if any is held.
    pub fn next_renewal_ms(&self) -> Option<u64> {
        let live = self.held.values().filter(|h| h.lost.is_none());
        live.map(|h| h.renewed_ms + RENEW_INTERVAL_MS).min()
    }

    /// The leases to renew at `now_ms`.
    pub fn due(&self, now_ms: u64) -> Vec<LeaseKey> {
        let due = |h: &Held<P>| h.lost.is_none() && now_ms >= h.renewed_ms + RENEW_INTERVAL_MS;
        self.held
            .iter()
            .filter(|(_, h)| due(h))
            .map(|(k, _)| *k)
            .collect()
    }

    /// An error once lease `key` is lost (taken over, or not renewed).
    pub fn check(&self, key: LeaseKey) -> Result<(), Failure> {
        match self.held.get(&key).and_then(|h| h.lost.clone()) {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Whether confirming `key` at `now_ms` (before a step that cannot be
    /// undone) takes a renewal: not for a lease renewed a moment ago (a
    /// small file costs no look at the disk); an error once it is lost.
    pub fn must_renew(&self, key: LeaseKey, now_ms: u64) -> Result<bool, Failure> {
        self.check(key)?;
        Ok(self
            .held
            .get(&key)
            .is_some_and(|h| !lease_is_fresh(h.renewed_ms, now_ms)))
    }

    /// How renewing `key` at `now_ms` went: its new record, or why it
    /// failed, which loses the lease for good.
    pub fn renewed(
        &mut self,
        key: LeaseKey,
        outcome: Result<LockRecord, Failure>,
        now_ms: u64,
    ) -> Result<(), Failure> {
        let Some(held) = self.held.get_mut(&key) else {
            return Ok(());
        };
        match outcome {
            Ok(record) => {
                held.record = record;
                held.renewed_ms = now_ms;
                Ok(())
            }
            Err(failure) => {
                held.lost = Some(failure.clone());
                Err(failure)
            }
        }
    }

    /// Gives lease `key` up at `now_ms`: the lease, and whether its lock
    /// file is still this run's without a look (renewed a moment ago); a
    /// lost one is not returned (its file is another run's now).
    pub fn release(&mut self, key: LeaseKey, now_ms: u64) -> Option<(Held<P>, bool)> {
        let held = self.held.remove(&key).filter(|h| h.lost.is_none())?;
        let fresh = lease_is_fresh(held.renewed_ms, now_ms);
        Some((held, fresh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_renewed_when_due_and_a_lost_one_stays_lost() {
        let mut leases = Leases::default();
        let a = leases.hold("a", LockRecord::new(1, 0), 0);
        let b = leases.hold("b", LockRecord::new(2, 0), 300);
        assert_eq!(leases.next_renewal_ms(), Some(RENEW_INTERVAL_MS));
        assert_eq!(leases.due(RENEW_INTERVAL_MS), [a]);
        assert_eq!(
            leases.must_renew(a, 100),
            Ok(false),
            "fresh: no look at the disk"
        );
        assert_eq!(leases.must_renew(a, LEASE_MS), Ok(true));
        let lost = Failure::from(Reason::LockLost {
            lock: "a.lock".into(),
        });
        assert!(leases.renewed(a, Err(lost.clone()), 600).is_err());
        assert_eq!(leases.check(a), Err(lost.clone()));
        assert_eq!(leases.must_renew(a, 600), Err(lost));
        assert_eq!(leases.due(10_000), [b], "a lost lease is not renewed");
        assert!(
            leases.release(a, 700).is_none(),
            "its file is another run's"
        );
        let (held, fresh) = leases.release(b, 700).unwrap();
        assert_eq!((held.place, fresh), ("b", true));
    }
    use proptest::prelude::*;

    /// Drives `acquire` against a lock file held in `file`, at `now`;
    /// the steps it took until it held, refused or waited.
    fn drive(acquire: &mut Acquire, file: &mut Option<Vec<u8>>, now: u64) -> Vec<LockStep> {
        let mut steps = Vec::new();
        for _ in 0..20 {
            let step = acquire.next(now, 1_000_000 + now);
            steps.push(step.clone());
            match step {
                LockStep::Create(record) => {
                    let created = file.is_none();
                    if created {
                        *file = Some(record.to_json());
                    }
                    acquire.created(created);
                }
                LockStep::Read => acquire.read(file.as_deref(), now, 1_000_000 + now),
                LockStep::Remove => {
                    *file = None;
                    acquire.removed();
                }
                LockStep::Tell(_) => {}
                _ => return steps,
            }
        }
        panic!("no end: {steps:?}");
    }

    #[test]
    fn a_free_lock_is_created_and_held() {
        let mut acquire = Acquire::new(1, "f.part.lock", "f", &[]);
        let mut file = None;
        let steps = drive(&mut acquire, &mut file, 0);
        assert!(
            matches!(&steps[..], [LockStep::Create(_), LockStep::Held(r)] if r.token == format!("{:016x}", 1))
        );
    }

    #[test]
    fn a_dead_holders_lock_is_taken_over_at_once_and_a_live_ones_refused() {
        let theirs = LockRecord::new(0xdead, 1_000_000).to_json();
        let mut acquire = Acquire::new(1, "f.part.lock", "f", &[0xdead]);
        let mut file = Some(theirs.clone());
        let steps = drive(&mut acquire, &mut file, 0);
        assert!(steps.contains(&LockStep::Tell(LockNotice::HolderGone {
            lock: "f.part.lock".into()
        })));
        assert!(matches!(steps.last(), Some(LockStep::Held(_))));
        // Not known dead: watched; a renewal means it is alive.
        let mut acquire = Acquire::new(1, "f.part.lock", "f", &[]);
        let mut file = Some(theirs);
        let steps = drive(&mut acquire, &mut file, 0);
        assert!(
            matches!(steps.last(), Some(LockStep::LookAgainAt(_))),
            "{steps:?}"
        );
        file = Some(LockRecord::new(0xdead, 1_000_400).to_json());
        let steps = drive(&mut acquire, &mut file, 500);
        assert!(
            matches!(steps.last(), Some(LockStep::Failed(f)) if f.reason.code() == "busy"),
            "{steps:?}"
        );
    }

    #[test]
    fn a_still_lock_is_taken_over_after_a_lease_and_a_contended_one_given_up() {
        let mut acquire = Acquire::new(1, "f.part.lock", "f", &[]);
        let mut file = Some(LockRecord::new(0xdead, 1_000_000).to_json());
        let _ = drive(&mut acquire, &mut file, 0);
        let steps = drive(&mut acquire, &mut file, LEASE_MS);
        assert!(steps.contains(&LockStep::Tell(LockNotice::Abandoned {
            lock: "f.part.lock".into()
        })));
        assert!(matches!(steps.last(), Some(LockStep::Held(_))), "{steps:?}");
        // Every creation loses a race: given up after a few.
        let mut acquire = Acquire::new(1, "f.part.lock", "f", &[]);
        let mut steps = Vec::new();
        for _ in 0..10 {
            match acquire.next(0, 0) {
                LockStep::Create(_) => acquire.created(false),
                LockStep::Read => acquire.read(None, 0, 0),
                step => {
                    steps.push(step);
                    break;
                }
            }
        }
        assert!(matches!(&steps[..], [LockStep::Failed(f)] if f.reason.code() == "lock-contended"));
    }

    #[test]
    fn a_holder_is_gone_only_when_its_token_is_named() {
        let record = LockRecord::new(0xfeed, 1_000);
        assert!(holder_gone(&record.to_json(), &[1, 0xfeed]));
        assert!(!holder_gone(&record.to_json(), &[1]));
        assert!(!holder_gone(&record.to_json(), &[]));
        assert!(!holder_gone(b"torn", &[0xfeed]));
    }

    #[test]
    fn a_lease_is_fresh_for_less_than_any_take_over_needs() {
        assert!(lease_is_fresh(1_000, 1_000));
        assert!(lease_is_fresh(1_000, 1_000 + LEASE_MS / 2 - 1));
        assert!(!lease_is_fresh(1_000, 1_000 + LEASE_MS / 2));
        // Never fresh for as long as a watcher waits before taking over.
        let record = LockRecord::new(7, 1_000_000);
        let (watch, _) = LockWatch::start(&record.to_json(), 0, 1_000_000);
        let mut now = 0;
        while lease_is_fresh(0, now) {
            assert_ne!(
                watch.look(&record.to_json(), now, 1_000_000 + now),
                LockVerdict::Abandoned
            );
            now += 1;
        }
    }

    #[test]
    fn a_renewed_lease_belongs_to_a_live_run() {
        let record = LockRecord::new(7, 1_000_000);
        let (watch, verdict) = LockWatch::start(&record.to_json(), 0, 1_000_100);
        assert_eq!(verdict, LockVerdict::LookAgainAt(RENEW_INTERVAL_MS / 2));
        let renewed = record.renewed(1_000_500).to_json();
        assert_eq!(
            watch.look(&renewed, 400, 1_000_600),
            LockVerdict::Held {
                renewed_ago_ms: Some(100)
            }
        );
    }

    #[test]
    fn a_still_lease_is_abandoned_after_a_whole_lease() {
        let record = LockRecord::new(7, 1_000_000).to_json();
        let (watch, _) = LockWatch::start(&record, 10, 1_000_000);
        assert!(matches!(
            watch.look(&record, 10 + LEASE_MS - 1, 0),
            LockVerdict::LookAgainAt(at) if at <= 10 + LEASE_MS
        ));
        assert_eq!(
            watch.look(&record, 10 + LEASE_MS, 0),
            LockVerdict::Abandoned
        );
    }

    #[test]
    fn a_lease_renewed_long_ago_is_abandoned_at_once() {
        let record = LockRecord::new(7, 1_000_000).to_json();
        let (_, verdict) = LockWatch::start(&record, 0, 1_000_000 + LEASE_MS + 1);
        assert_eq!(verdict, LockVerdict::Abandoned);
    }

    #[test]
    fn garbage_is_watched_like_any_lease() {
        let (watch, verdict) = LockWatch::start(b"\0\0garbage", 0, 5);
        assert!(matches!(verdict, LockVerdict::LookAgainAt(_)));
        assert_eq!(
            watch.look(b"\0\0garbage", LEASE_MS, 5),
            LockVerdict::Abandoned
        );
        assert_eq!(
            watch.look(b"other", 1, 5),
            LockVerdict::Held {
                renewed_ago_ms: None
            }
        );
    }

    proptest! {
        #[test]
        fn the_parser_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = LockRecord::parse(&bytes);
        }

        #[test]
        fn records_round_trip(token: u64, at: u64) {
            let record = LockRecord::new(token, at);
            prop_assert_eq!(LockRecord::parse(&record.to_json()), Some(record));
        }
    }
}
