//! One file of a run, from its first request to its published file, as a
//! state machine the batch advances a little at a time without waiting:
//! many files then share one poll, one connection budget and one loop.
//!
//! Probe → (the destination's lock) → transfer → finish. A file already
//! complete is skipped before any request when that can be told locally
//! (it exists; its checksum matches), or with one conditional request (-N).

use std::cell::RefCell;
use std::rc::Rc;

use rangeget_core::batch::{existing_file, ExistingFile, ExistingRules, PathClaims, Remote, Skip};
use rangeget_core::budget::Budget;
use rangeget_core::failure::{Kept, Reason};
use rangeget_core::file_start::{first_step, probe_bytes, AtDestination, FirstStep};
use rangeget_core::fresh_starts::{AfterStop, FreshStarts, StartingOver};
use rangeget_core::naming::choose_file_name;
use rangeget_core::probe::{Probe, ProbeEnd};
use rangeget_core::rate_limit::SharedRateLimiter;
use rangeget_core::report::Report;
use rangeget_core::request::RequestId;
use rangeget_core::room::check_max_filesize;
use rangeget_core::sync_group::GROUP_WAIT_MS;
use rangeget_core::transfer::{End, Stop, Transfer};
use rangeget_core::unreachable_hosts::UnreachableHosts;
use rangeget_core::Failure;
use rangeget_options::Options;
use rangeget_wasi_http::{clock, ProbeRun};
use wasip2::io::poll::Pollable;

use super::checksum::sha256_of;
use super::http::{self, Exchanges};
use super::lease::Waiting;
use super::output::{OutputDir, PartFile};
use super::report::warn;
use super::transfer::{explain, finish, start, turn, Probed};
use super::wait::CommandHooks;

/// How a file's download ended.
pub enum Outcome {
    Saved(Report),
    Skipped { path: String, skip: Skip },
    Failed { path: String, failure: Failure },
}

enum Stage {
    Probing(ProbeRun),
    /// Waiting to tell whether the lock in the way belongs to a live run.
    Locking {
        out: OutputDir,
        probed: Probed,
        waiting: Waiting,
    },
    Transferring {
        out: OutputDir,
        part: PartFile,
        transfer: Transfer,
    },
    /// A complete file to skip, with a lock beside it: waiting to tell
    /// whether a live run holds it (see [`Job::skip`]).
    Clearing {
        out: OutputDir,
        waiting: Waiting,
        skip: Skip,
    },
    /// Every byte is in the `.part`; it waits to be synced with others
    /// (see `rangeget_core::sync_group`), then named.
    Finished {
        out: OutputDir,
        part: PartFile,
        transfer: Transfer,
        since_ms: u64,
    },
    Done(Outcome),
    /// The outcome was handed over.
    Reported,
}

/// What the files of a run share: the connection budget, the
/// `--max-speed` bucket, the paths and the hosts given up on.
#[derive(Clone)]
pub struct RunShares {
    pub budget: Rc<RefCell<Budget>>,
    pub rate_limit: Option<SharedRateLimiter>,
    /// The paths of the run's entries (see [`PathClaims`]).
    pub claims: Rc<RefCell<PathClaims>>,
    pub unreachable: Rc<RefCell<UnreachableHosts>>,
}

pub struct Job {
    options: Options,
    rate_limit: Option<SharedRateLimiter>,
    claims: Rc<RefCell<PathClaims>>,
    unreachable: Rc<RefCell<UnreachableHosts>>,
    /// Its index in the run, the owner of its claims.
    entry: usize,
    started_ms: u64,
    exchanges: Exchanges,
    stage: Stage,
    /// Where the file goes, once known (for reports).
    path: String,
    /// A file stands there and is to be replaced (-N, a checksum, --force).
    replacing: bool,
    /// The destination kept across a restart (the object changed).
    restart: Option<OutputDir>,
    starts: FreshStarts,
    /// After a range was answered with the whole object, ranges are over.
    ranges_ignored: bool,
    final_url: String,
    /// Whether the run's loop advances it in its next turn (see
    /// [`Job::is_due`]).
    due: bool,
}

impl Job {
    /// The download of `options`, entry `entry` of the run (its path is
    /// claimed already).
    pub fn new(options: Options, entry: usize, shares: &RunShares) -> Job {
        let budget = Rc::clone(&shares.budget);
        let exchanges = Exchanges::sharing(http::client_for(&options), budget);
        let path = options.path_from_url();
        let mut job = Job {
            started_ms: clock::now_ms(),
            exchanges,
            stage: Stage::Reported,
            rate_limit: shares.rate_limit.clone(),
            claims: Rc::clone(&shares.claims),
            unreachable: Rc::clone(&shares.unreachable),
            entry,
            final_url: options.url.clone(),
            options,
            path,
            replacing: false,
            restart: None,
            starts: FreshStarts::default(),
            ranges_ignored: false,
            due: true,
        };
        job.stage = match job.first_stage() {
            Ok(stage) => stage,
            Err(failure) => job.failed(failure),
        };
        job
    }

    /// Before any request: a file already at the URL's path is skipped,
    /// replaced or refused; a previous run's progress there is continued.
    fn first_stage(&mut self) -> Result<Stage, Failure> {
        let out = OutputDir::for_path(&self.path).ok();
        let at = match &out {
            None => AtDestination::default(),
            Some(out) => {
                let (file_exists, file) = out.look_at_final()?;
                let meta = out.exists(&out.meta_name());
                AtDestination {
                    file_exists,
                    file,
                    meta,
                    // Only then does it matter: one look less per fresh file.
                    part: file_exists && meta && out.exists(&out.part_name()),
                }
            }
        };
        let checksum_matches = match &out {
            Some(out) if at.file_exists => self.checksum_matches(out)?,
            _ => None,
        };
        let start = match first_step(
            at,
            self.existing_rules(),
            checksum_matches,
            self.options.chunk_size,
        ) {
            FirstStep::Skip(skip) => return self.skip(skip),
            FirstStep::Refuse => return Err(self.exists()),
            FirstStep::Probe(start) => start,
        };
        if let (Some(out), true) = (&out, start.stale_meta) {
            // Left alone where it cannot be removed: it is inert.
            let _ = out.remove_meta();
        }
        self.replacing = start.replacing;
        self.unreachable.borrow().check(&self.options.url)?;
        Ok(Stage::Probing(
            self.probe(start.bytes, start.if_modified_since),
        ))
    }

    /// A GET of the file's first `bytes`: its answer gives the size and
    /// proves ranges work, and a fresh download's first bytes come with it.
    /// Not a HEAD: some servers' HEAD states another length than their
    /// range answers, and the range answers are what gets written.
    fn probe(&self, bytes: u64, if_modified_since: Option<String>) -> ProbeRun {
        let mut probe = Probe::first_bytes(&self.options.url, self.options.request_rules(), bytes);
        if let Some(date) = if_modified_since {
            probe = probe.if_modified_since(date);
        }
        ProbeRun::new(probe)
    }

    /// Skips the complete file at the path. A lock beside it was left by a
    /// run killed between naming the file and removing its lock (a rerun
    /// would otherwise never look at it again): once that run is known
    /// gone, the lock is taken and removed, with the untrusted `.part` it
    /// may have left. A live run's lock is left alone.
    fn skip(&mut self, skip: Skip) -> Result<Stage, Failure> {
        let done = Stage::Done(Outcome::Skipped {
            path: self.path.clone(),
            skip,
        });
        let Ok(out) = OutputDir::for_path(&self.path) else {
            return Ok(done);
        };
        if !out.exists(&out.lock_name()) {
            return Ok(done);
        }
        match out.try_lock(self.options.lock_token)? {
            None => {
                out.remove_untrusted_part()?;
                Ok(done)
            }
            Some(waiting) => Ok(Stage::Clearing { out, waiting, skip }),
        }
    }

    fn failed(&self, failure: Failure) -> Stage {
        Stage::Done(Outcome::Failed {
            path: self.path.clone(),
            failure,
        })
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Its index in the run.
    pub fn entry(&self) -> usize {
        self.entry
    }

    /// The outcome, once the file is done (handed over once).
    pub fn outcome(&mut self) -> Option<Outcome> {
        if !matches!(self.stage, Stage::Done(_)) {
            return None;
        }
        match std::mem::replace(&mut self.stage, Stage::Reported) {
            Stage::Done(outcome) => Some(outcome),
            _ => unreachable!("checked above"),
        }
    }

    /// Where the file goes (the URL's name until the server names it).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Bytes of this file on disk so far, and its size when known.
    pub fn progress(&self) -> (u64, Option<u64>) {
        match &self.stage {
            Stage::Transferring { transfer, .. } | Stage::Finished { transfer, .. } => {
                (transfer.bytes_received(), transfer.object().size)
            }
            _ => (0, None),
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(_))
    }

    /// Whether something may have happened for this file since it last
    /// advanced: it is new, or the run's loop woke it ([`Job::wake`]: a
    /// request of its own is ready, its deadline came, the budget made
    /// room, it has nothing to wait on). Advancing it otherwise would only
    /// ask the host again about requests whose answers have not come.
    pub fn is_due(&self) -> bool {
        self.due
    }

    /// Marks the file to be advanced in the loop's next turn.
    pub fn wake(&mut self) {
        self.due = true;
    }

    /// Whether the file may wait for room in the budget, with no request
    /// of its own to wake it when room is made: a probe not waiting for
    /// an answer (about to send, or to check one it holds), or a transfer
    /// (that may want more connections than it has).
    pub fn may_wait_for_room(&self) -> bool {
        match &self.stage {
            Stage::Probing(_) => !self.exchanges.awaits_head(),
            Stage::Transferring { .. } => true,
            _ => false,
        }
    }

    /// Moves the download on as far as it can go without waiting; whether
    /// it moved at all.
    pub fn advance(&mut self) -> bool {
        self.due = false;
        let mut advanced = false;
        loop {
            let stage = std::mem::replace(&mut self.stage, Stage::Reported);
            let (next, moved) = match self.step(stage) {
                Ok(step) => step,
                Err(failure) => (self.failed(failure), true),
            };
            self.stage = next;
            advanced |= moved;
            if !moved || self.is_done() {
                return advanced;
            }
        }
    }

    /// Since when the file has waited for its sync, if it does.
    pub fn awaits_sync(&self) -> Option<u64> {
        match &self.stage {
            Stage::Finished { since_ms, .. } => Some(*since_ms),
            _ => None,
        }
    }

    /// The last steps of a file that waits for its sync (see
    /// [`Job::awaits_sync`]): synced, checked, named.
    pub fn sync_and_publish(&mut self) {
        let stage = std::mem::replace(&mut self.stage, Stage::Reported);
        self.stage = match stage {
            Stage::Finished {
                out,
                part,
                transfer,
                ..
            } => self
                .publish(&out, &part, &transfer)
                .unwrap_or_else(|failure| self.failed(failure)),
            other => other,
        };
    }

    /// One step: the next stage, and whether it moved (false: it waits).
    fn step(&mut self, stage: Stage) -> Result<(Stage, bool), Failure> {
        match stage {
            Stage::Probing(mut run) => match run.step(&mut self.exchanges, &mut CommandHooks) {
                None => Ok((Stage::Probing(run), false)),
                Some(end) => self.probed(end).map(|s| (s, true)),
            },
            Stage::Locking {
                out,
                probed,
                mut waiting,
            } => match waiting.look_when_due()? {
                None => Ok((
                    Stage::Locking {
                        out,
                        probed,
                        waiting,
                    },
                    false,
                )),
                Some(key) => {
                    out.hold(key);
                    self.locked(out, probed).map(|s| (s, true))
                }
            },
            Stage::Clearing {
                out,
                mut waiting,
                skip,
            } => {
                let done = Stage::Done(Outcome::Skipped {
                    path: self.path.clone(),
                    skip,
                });
                match waiting.look_when_due() {
                    Ok(None) => Ok((Stage::Clearing { out, waiting, skip }, false)),
                    Ok(Some(key)) => {
                        out.hold(key);
                        out.remove_untrusted_part()?;
                        Ok((done, true))
                    }
                    // Another run holds it: its business, not a failure of this skip.
                    Err(_) => Ok((done, true)),
                }
            }
            Stage::Transferring {
                out,
                part,
                mut transfer,
            } => match turn(
                &mut transfer,
                &part,
                &out,
                &self.options,
                &mut self.exchanges,
            ) {
                None => Ok((
                    Stage::Transferring {
                        out,
                        part,
                        transfer,
                    },
                    false,
                )),
                Some(end) => self.ended(end, out, part, transfer).map(|s| (s, true)),
            },
            idle @ (Stage::Finished { .. } | Stage::Done(_) | Stage::Reported) => Ok((idle, false)),
        }
    }

    /// The probe's end: where the file goes, and its lock.
    fn probed(&mut self, end: ProbeEnd) -> Result<Stage, Failure> {
        let (object, body, first, round_trip_ms) = match end {
            ProbeEnd::Object {
                object,
                body,
                first,
                round_trip_ms,
                ..
            } => (object, body, first, round_trip_ms),
            ProbeEnd::NotModified => return self.skip(Skip::UpToDate),
            ProbeEnd::Refused { failure, .. } | ProbeEnd::Failed(failure) => return Err(failure),
        };
        if let Some(size) = object.size {
            check_max_filesize(&self.options.url, size, self.options.max_filesize)?;
        }
        self.final_url = object.url.clone();
        let probed = Probed {
            object,
            body: body.and_then(|id| self.exchanges.take_response(id).map(|r| (id, r))),
            first,
            round_trip_ms,
        };
        if let Some(out) = self.restart.take() {
            return self.transfer(out, probed);
        }
        let name = choose_file_name(
            probed.object.content_disposition.as_deref(),
            &self.options.url,
        );
        let path = self.options.output_path(&name);
        if path != self.path {
            // The server named another file: what was judged is not there,
            // and another entry of the run may write it.
            self.claims
                .borrow_mut()
                .claim(&path, self.entry, &self.options.url)?;
            self.replacing = false;
            self.path = path;
        }
        let out = OutputDir::for_path(&self.path)?;
        out.make_parent_dirs()?;
        // Before anything at the destination is looked at: a second run on
        // the same path stops here instead of writing into the first one's file.
        match out.try_lock(self.options.lock_token)? {
            None => self.locked(out, probed),
            Some(waiting) => Ok(Stage::Locking {
                out,
                probed,
                waiting,
            }),
        }
    }

    /// The destination is this run's: a file standing there (named by the
    /// server, so not seen before the probe) is judged again, then the
    /// transfer starts.
    fn locked(&mut self, out: OutputDir, probed: Probed) -> Result<Stage, Failure> {
        let (exists, local) = if self.replacing {
            (false, None)
        } else {
            out.look_at_final()?
        };
        if exists {
            let remote = Remote::Answered {
                size: probed.object.size,
                mtime: probed.object.last_modified_unix(),
            };
            match self.judge_existing(&out, local, remote)? {
                ExistingFile::Skip(skip) => {
                    return Ok(Stage::Done(Outcome::Skipped {
                        path: self.path.clone(),
                        skip,
                    }))
                }
                ExistingFile::Refuse => return Err(self.exists()),
                ExistingFile::Replace => self.replacing = true,
            }
        }
        self.transfer(out, probed)
    }

    /// The rules' verdict on the file standing at `out`'s path, whose size
    /// and modification time are `local`.
    fn judge_existing(
        &self,
        out: &OutputDir,
        local: Option<(u64, Option<u64>)>,
        remote: Remote,
    ) -> Result<ExistingFile, Failure> {
        Ok(existing_file(
            self.existing_rules(),
            self.checksum_matches(out)?,
            local,
            remote,
        ))
    }

    /// Whether the file standing at `out`'s path has the expected
    /// checksum, when one was given (it is read whole to tell).
    fn checksum_matches(&self, out: &OutputDir) -> Result<Option<bool>, Failure> {
        match &self.options.checksum {
            Some(expected) => Ok(Some(sha256_of(out, true)? == *expected)),
            None => Ok(None),
        }
    }

    fn existing_rules(&self) -> ExistingRules {
        ExistingRules {
            batch: self.options.is_batch(),
            force: self.options.force,
            timestamping: self.options.timestamping,
        }
    }

    fn exists(&self) -> Failure {
        Reason::Exists {
            path: self.path.clone(),
        }
        .into()
    }

    fn transfer(&mut self, out: OutputDir, probed: Probed) -> Result<Stage, Failure> {
        let (mut transfer, part) = start(
            &out,
            &self.options,
            probed,
            self.ranges_ignored,
            &mut self.exchanges,
        )?;
        if let Some(limiter) = &self.rate_limit {
            transfer.share_rate_limit(Rc::clone(limiter));
        }
        Ok(Stage::Transferring {
            out,
            part,
            transfer,
        })
    }

    /// The transfer's end: published, started over, continued as one
    /// stream, or failed.
    fn ended(
        &mut self,
        end: End,
        out: OutputDir,
        part: PartFile,
        transfer: Transfer,
    ) -> Result<Stage, Failure> {
        match end {
            End::Finished if self.options.no_fsync => self.publish(&out, &part, &transfer),
            // The sync waits for others' (the write-back already started
            // when the last request closed).
            End::Finished => Ok(Stage::Finished {
                out,
                part,
                transfer,
                since_ms: clock::now_ms(),
            }),
            End::Stopped {
                stop: Stop::Failed(failure),
                saved,
            } => {
                if !transfer.saves_progress() {
                    // One stream, which no run can resume (a `.part`
                    // without a meta is never trusted): nothing of it is
                    // kept, as its messages say (`--max-filesize`).
                    drop(part);
                    out.remove(&out.part_name())?;
                }
                Err(explain(failure, saved, &transfer, &out))
            }
            // A file's `.part` can always be started over.
            End::Stopped { stop, .. } => {
                match self.starts.after_stop(&self.options.url, stop, true) {
                    AfterStop::StartOver(notice) => self.start_over(notice, out, part),
                    AfterStop::OneStreamFrom(id) => self.one_stream_from(id, out, part, &transfer),
                    AfterStop::Fail(failure) => Err(failure),
                }
            }
        }
    }

    /// The object changed: the `.part` and meta go, and the new version is
    /// probed for.
    fn start_over(
        &mut self,
        notice: StartingOver,
        out: OutputDir,
        part: PartFile,
    ) -> Result<Stage, Failure> {
        warn(&format!("{}: {notice}", out.display));
        drop(part);
        out.remove_meta()?;
        out.remove(&out.part_name())?;
        self.restart = Some(out);
        let bytes = probe_bytes(self.options.chunk_size, false);
        Ok(Stage::Probing(self.probe(bytes, None)))
    }

    /// A range was answered with the whole object: the download goes on
    /// as one stream, from that answer's body.
    fn one_stream_from(
        &mut self,
        id: RequestId,
        out: OutputDir,
        part: PartFile,
        transfer: &Transfer,
    ) -> Result<Stage, Failure> {
        warn(&format!(
            "{} answered a range request with the whole file although it advertises \
             ranges; continuing as a single stream",
            transfer.object().url
        ));
        let body = self.exchanges.take_response(id).map(|r| (id, r));
        let probed = Probed {
            object: transfer.object().clone(),
            body,
            first: None,
            // A single stream: no requests to size.
            round_trip_ms: 0,
        };
        self.ranges_ignored = true;
        drop(part);
        self.transfer(out, probed)
    }

    /// The last steps: synced, checked (`--checksum`), its modification
    /// time set to the server's (unless `--no-remote-time`), named.
    fn publish(
        &mut self,
        out: &OutputDir,
        part: &PartFile,
        transfer: &Transfer,
    ) -> Result<Stage, Failure> {
        let stats = finish(transfer, part, out, &self.options)?;
        let sha256 = if self.options.checksum.is_some() || self.options.json {
            Some(sha256_of(out, false)?)
        } else {
            None
        };
        if let (Some(expected), Some(actual)) = (&self.options.checksum, &sha256) {
            if expected != actual {
                out.abandon_part()?;
                return Err(Reason::Checksum {
                    expected: expected.clone(),
                    actual: actual.clone(),
                    kept: Kept::Part(out.part_display()),
                }
                .into());
            }
        }
        // A batch syncs directories once, at its end: one sync per file
        // would double the cost of many small ones.
        let sync_dir = !self.options.no_fsync && !self.options.is_batch();
        if !self.options.no_remote_time {
            if let Some(mtime) = transfer.object().last_modified_unix() {
                // Before the name: a file never stands there without its
                // time, which -N would take for a changed remote.
                part.set_mtime(mtime);
            }
        }
        out.publish(self.options.force || self.replacing, sync_dir)?;
        Ok(Stage::Done(Outcome::Saved(Report {
            url: self.options.url.clone(),
            final_url: self.final_url.clone(),
            path: self.path.clone(),
            size: stats.size,
            sha256,
            elapsed_ms: clock::now_ms() - self.started_ms,
            bytes_fetched: stats.size - stats.reused.min(stats.size),
            bytes_reused: stats.reused,
            retries: stats.retries,
            connections: stats.connections,
        })))
    }

    /// What to wait on for this file at `now`: `None` when it can move at
    /// once (an answer in hand, a sync to do), else its pollables (maybe
    /// none: a deadline only).
    pub fn pollables(&self, now: u64) -> Option<Vec<&Pollable>> {
        match &self.stage {
            // The run syncs it at the latest when nothing else moves: a
            // wait would only delay that.
            Stage::Finished { .. } => None,
            Stage::Probing(_) => self.exchanges.pollables(None, now),
            Stage::Transferring { transfer, .. } => self.exchanges.pollables(Some(transfer), now),
            Stage::Locking { .. } | Stage::Clearing { .. } | Stage::Done(_) | Stage::Reported => {
                Some(Vec::new())
            }
        }
    }

    /// When this file next has something to do on its own (a backoff, a
    /// stall window, a save, a lock to look at again), as seen at `now`.
    pub fn deadline(&self, now: u64) -> Option<u64> {
        match &self.stage {
            Stage::Probing(run) => run.deadline(&self.exchanges),
            Stage::Locking { waiting, .. } | Stage::Clearing { waiting, .. } => {
                Some(waiting.look_at_ms())
            }
            Stage::Transferring { transfer, .. } => {
                if self.exchanges.may_start(&transfer.object().url) {
                    transfer.poll_timeout(now)
                } else {
                    transfer.poll_timeout_without_starts(now)
                }
            }
            Stage::Finished { since_ms, .. } => Some(since_ms + GROUP_WAIT_MS),
            Stage::Done(_) => Some(0),
            Stage::Reported => None,
        }
    }
}
