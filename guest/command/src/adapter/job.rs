//! One file of a run, from its first request to its published file, as a
//! state machine the batch advances a little at a time without waiting:
//! many files then share one poll, one connection budget and one loop.
//!
//! Probe → (the destination's lock) → transfer → finish. A file already
//! complete is skipped before any request when that can be told locally
//! (it exists; its checksum matches), or with one conditional request (-N).

use std::cell::RefCell;
use std::rc::Rc;

use rangeget_core::batch::{PathClaims, Skip};
use rangeget_core::budget::Budget;
use rangeget_core::fetch::{Destination, Ending, Fetch, Input, Output};
use rangeget_core::file_start::AtDestination;
use rangeget_core::ledger::Outcome;
use rangeget_core::meta::MAX_META_BYTES;
use rangeget_core::naming::choose_file_name;
use rangeget_core::rate_limit::SharedRateLimiter;
use rangeget_core::report::Report;
use rangeget_core::sync_group::GROUP_WAIT_MS;
use rangeget_core::unreachable_hosts::UnreachableHosts;
use rangeget_core::{Failure, RemoteObject};
use rangeget_options::Options;
use rangeget_wasi_http::clock;
use wasip2::io::poll::Pollable;
use wasip2::random::random::get_random_u64;

use super::checksum::sha256_of;
use super::http::{self, Exchanges};
use super::lease::{self, Waiting};
use super::output::{OutputDir, PartFile};
use super::report::{tell, warn};

enum Stage {
    /// The fetch's: probe, `.part`, transfer (see `rangeget_core::fetch`).
    Fetching(Fetch),
    /// The fetch found the object: waiting to tell whether the lock in the
    /// way of its destination belongs to a live run.
    Locking {
        fetch: Fetch,
        waiting: Waiting,
    },
    /// A complete file to skip, with a lock beside it: waiting to tell
    /// whether a live run holds it (see [`Job::skip`]).
    Clearing {
        waiting: Waiting,
        skip: Skip,
    },
    /// Every byte is in the `.part`; it waits to be synced with others
    /// (see `rangeget_core::sync_group`), then the fetch names it.
    Finished {
        fetch: Fetch,
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
    claims: Rc<RefCell<PathClaims>>,
    /// Its index in the run, the owner of its claims.
    entry: usize,
    started_ms: u64,
    exchanges: Exchanges,
    stage: Stage,
    /// Where the file goes, once known (for reports).
    path: String,
    /// The destination, once located (and locked).
    out: Option<OutputDir>,
    /// Its `.part`, once opened or created.
    part: Option<PartFile>,
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
        let mut spec = options.fetch_spec(get_random_u64());
        spec.rate_limit = shares.rate_limit.clone();
        let given_up = shares.unreachable.borrow().check(&options.url).err();
        let target = options.file_target(path.clone(), given_up);
        Job {
            started_ms: clock::now_ms(),
            exchanges,
            stage: Stage::Fetching(Fetch::new(spec, Destination::File(target))),
            claims: Rc::clone(&shares.claims),
            entry,
            options,
            path,
            out: None,
            part: None,
            due: true,
        }
    }

    /// Skips the complete file at the path. A lock beside it was left by a
    /// run killed between naming the file and removing its lock (a rerun
    /// would otherwise never look at it again): once that run is known
    /// gone, the lock is taken and removed, with the untrusted `.part` it
    /// may have left. A live run's lock is left alone.
    fn skip(&mut self, skip: Skip) -> Result<Stage, Failure> {
        let done = self.skipped(skip);
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
            Some(waiting) => {
                self.out = Some(out);
                Ok(Stage::Clearing { waiting, skip })
            }
        }
    }

    fn skipped(&self, skip: Skip) -> Stage {
        let path = self.path.clone();
        Stage::Done(Outcome::Skipped { path, skip })
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
            Stage::Fetching(fetch) | Stage::Finished { fetch, .. } => fetch.progress(),
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
            Stage::Fetching(fetch) => !fetch.is_probing() || !self.exchanges.awaits_head(),
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
            Stage::Finished { mut fetch, .. } => {
                let synced = self.part_length(true).map(|len| Input::Synced { len });
                let input = synced.unwrap_or_else(Input::LocalFailure);
                fetch.handle(input, clock::now_ms());
                match self.pump(fetch) {
                    Ok((stage, _)) => stage,
                    Err(failure) => self.failed(failure),
                }
            }
            other => other,
        };
    }

    /// One step: the next stage, and whether it moved (false: it waits).
    fn step(&mut self, stage: Stage) -> Result<(Stage, bool), Failure> {
        match stage {
            Stage::Fetching(fetch) => self.pump(fetch),
            Stage::Locking {
                mut fetch,
                mut waiting,
            } => match waiting.look_when_due()? {
                None => Ok((Stage::Locking { fetch, waiting }, false)),
                Some(key) => {
                    self.out().hold(key);
                    let path = self.path.clone();
                    fetch.handle(Input::Locked { path }, clock::now_ms());
                    Ok((Stage::Fetching(fetch), true))
                }
            },
            Stage::Clearing { mut waiting, skip } => {
                let done = self.skipped(skip);
                match waiting.look_when_due() {
                    Ok(None) => Ok((Stage::Clearing { waiting, skip }, false)),
                    Ok(Some(key)) => {
                        self.out().hold(key);
                        self.out().remove_untrusted_part()?;
                        Ok((done, true))
                    }
                    // Another run holds it: its business, not a failure of this skip.
                    Err(_) => Ok((done, true)),
                }
            }
            idle @ (Stage::Finished { .. } | Stage::Done(_) | Stage::Reported) => Ok((idle, false)),
        }
    }

    fn out(&self) -> &OutputDir {
        self.out.as_ref().expect("the destination is located")
    }

    fn part(&self) -> &PartFile {
        self.part.as_ref().expect("the .part is open")
    }

    /// The fetch's pump, without waiting: what its requests have ready is
    /// fed (bodies written into the `.part` first), then its outputs are
    /// carried out until it waits. The stage it leads to, and whether the
    /// file moved on to another.
    fn pump(&mut self, mut fetch: Fetch) -> Result<(Stage, bool), Failure> {
        let ready = self.exchanges.ready_now(&fetch);
        for id in ready {
            let (part, out) = (&self.part, &self.out);
            let mut write = |offset: u64, data: &[u8]| {
                let (Some(part), Some(out)) = (part, out) else {
                    return Ok(());
                };
                part.write_at(data, offset)
                    .map_err(|e| out.fs_error("write", &out.part_name(), e))
            };
            if let Err(failure) = self.exchanges.service(id, &mut fetch, &mut write) {
                fetch.handle(Input::LocalFailure(failure), clock::now_ms());
            }
        }
        if let Some(Err(failure)) = self.out.as_ref().map(OutputDir::check_lease) {
            fetch.handle(Input::LocalFailure(failure), clock::now_ms());
        }
        let mut moved = false;
        loop {
            let input = match self.exchanges.poll(&mut fetch) {
                Output::Wait(_) => return Ok((Stage::Fetching(fetch), moved)),
                Output::Event(event) => {
                    tell(event);
                    None
                }
                Output::Notice(notice) => {
                    warn(&notice.to_string());
                    None
                }
                Output::Locate(object) => match self.locate(fetch, object)? {
                    Stage::Fetching(located) => {
                        fetch = located;
                        moved = true;
                        None
                    }
                    other => return Ok((other, true)),
                },
                Output::End(ending) => return self.ended(ending).map(|stage| (stage, true)),
                // The sync waits for others' (the write-back already
                // started when the last request closed).
                Output::Finish { sync: true } => {
                    let since_ms = clock::now_ms();
                    return Ok((Stage::Finished { fetch, since_ms }, true));
                }
                output => {
                    moved |= matches!(output, Output::CreatePart { .. });
                    self.carry_out(output)
                }
            };
            if let Some(input) = input {
                fetch.handle(input, clock::now_ms());
            }
        }
    }

    /// Does what the fetch asks of the `.part` and meta; what came of it,
    /// when the fetch asked.
    fn carry_out(&mut self, output: Output) -> Option<Input<'static>> {
        let done = match output {
            Output::Look { progress } => self.look(progress).map(|at| Some(Input::Standing(at))),
            Output::Hash { part } => self
                .with_dir(|out| sha256_of(out, !part))
                .map(|sha256| Some(Input::Hashed(sha256))),
            Output::RemoveStaleMeta => {
                // Left alone where it cannot be removed: it is inert.
                let _ = self.with_dir(|out| out.remove_meta());
                Ok(None)
            }
            Output::OpenProgress => self.open_progress().map(Some),
            Output::Finish { sync: false } => self
                .part_length(false)
                .map(|len| Some(Input::Synced { len })),
            Output::Publish(publish) => {
                if let Some(mtime) = publish.mtime {
                    self.part().set_mtime(mtime);
                }
                self.out()
                    .publish(publish.replace, publish.sync_dir)
                    .map(|()| Some(Input::Published))
            }
            Output::RemoveMeta => self.out().remove_meta().map(|()| None),
            Output::CreatePart { size } => {
                self.part = None;
                self.out().create_part(size).map(|(part, replaced)| {
                    self.part = Some(part);
                    Some(Input::PartCreated { replaced })
                })
            }
            Output::Discard => {
                self.part = None;
                let out = self.out();
                out.remove_meta()
                    .and_then(|()| out.remove(&out.part_name()))
                    .map(|()| None)
            }
            Output::ReadBack(range) => self.read_back(range).map(Some),
            Output::SaveMeta {
                json,
                sync_data,
                sync_meta,
            } => self
                .save_meta(&json, sync_data, sync_meta)
                .map(|()| Some(Input::Saved)),
            Output::Flush(range) => {
                self.part().start_writeback(range);
                Ok(None)
            }
            Output::Truncate => self
                .part()
                .truncate()
                .map_err(|e| self.out().fs_error("truncate", &self.out().part_name(), e))
                .map(|()| None),
            other => unreachable!("a file's fetch is asked {other:?}"),
        };
        done.unwrap_or_else(|failure| Some(Input::LocalFailure(failure)))
    }

    /// Bytes of the `.part` read back for the fetch to verify.
    fn read_back(&self, range: rangeget_core::ByteRange) -> Result<Input<'static>, Failure> {
        let (out, part) = (self.out(), self.part());
        let data = part
            .read_at(range.len(), range.start())
            .map_err(|e| out.fs_error("read", &out.part_name(), e))?;
        // Reading back gigabytes takes a while.
        lease::renew_due();
        out.check_lease()?;
        Ok(Input::ReadBack(data))
    }

    /// Records progress in the meta. Every claim there carries a digest
    /// that a resume verifies, so a quick save (no fsync) is safe against
    /// a power loss too; the fetch says when to sync.
    fn save_meta(&self, json: &[u8], sync_data: bool, sync_meta: bool) -> Result<(), Failure> {
        let out = self.out();
        if sync_data {
            self.part()
                .sync_data()
                .map_err(|e| out.fs_error("sync", &out.part_name(), e))?;
        }
        out.write_meta(json, sync_meta)
    }

    /// The object is known: where the file goes (the server may name it),
    /// and its lock. The fetch goes on, or waits for the lock.
    fn locate(&mut self, mut fetch: Fetch, object: RemoteObject) -> Result<Stage, Failure> {
        let name = choose_file_name(object.content_disposition.as_deref(), &self.options.url);
        let path = self.options.output_path(&name);
        if path != self.path {
            // The server named another file, which another entry of the
            // run may write.
            self.claims
                .borrow_mut()
                .claim(&path, self.entry, &self.options.url)?;
            self.path = path;
        }
        let out = OutputDir::for_path(&self.path)?;
        out.make_parent_dirs()?;
        // Before anything at the destination is looked at: a second run on
        // the same path stops here instead of writing into the first one's file.
        let waiting = out.try_lock(self.options.lock_token)?;
        self.out = Some(out);
        match waiting {
            None => {
                let path = self.path.clone();
                fetch.handle(Input::Locked { path }, clock::now_ms());
                Ok(Stage::Fetching(fetch))
            }
            Some(waiting) => Ok(Stage::Locking { fetch, waiting }),
        }
    }

    /// `f` on the destination: the located one, else the URL's path's.
    fn with_dir<T>(&self, f: impl FnOnce(&OutputDir) -> Result<T, Failure>) -> Result<T, Failure> {
        match &self.out {
            Some(out) => f(out),
            None => f(&OutputDir::for_path(&self.path)?),
        }
    }

    /// What stands at the file's name; with `progress`, whether a previous
    /// run's meta is there, and its `.part` when that matters.
    fn look(&self, progress: bool) -> Result<AtDestination, Failure> {
        let look = |out: &OutputDir| {
            let (file_exists, file) = out.look_at_final()?;
            let meta = progress && out.exists(&out.meta_name());
            Ok(AtDestination {
                file_exists,
                file,
                meta,
                // Only then does it matter: one look less per fresh file.
                part: file_exists && meta && out.exists(&out.part_name()),
            })
        };
        match self.with_dir(|out| Ok(look(out))) {
            Ok(at) => at,
            // Nowhere to look (no preopen holds it): nothing stands there;
            // locating it says why it cannot be written.
            Err(_) => Ok(AtDestination::default()),
        }
    }

    /// What a previous run left: its meta, and its `.part` when a meta
    /// says what it holds (without one, a `.part` is not trusted).
    fn open_progress(&mut self) -> Result<Input<'static>, Failure> {
        let out = self.out();
        let meta = out.read_meta(MAX_META_BYTES)?;
        let part = match meta {
            Some(_) => out.open_part()?,
            None => None,
        };
        let part_len = part.as_ref().map(|(_, len)| *len);
        self.part = part.map(|(part, _)| part);
        Ok(Input::Located { meta, part_len })
    }

    /// The `.part`'s length, its data synced first when `sync`.
    fn part_length(&self, sync: bool) -> Result<u64, Failure> {
        let (out, part) = (self.out(), self.part());
        if sync {
            part.sync_data()
                .map_err(|e| out.fs_error("sync", &out.part_name(), e))?;
        }
        part.len()
            .map_err(|e| out.fs_error("stat", &out.part_name(), e))
    }

    /// The fetch's end: published, skipped, or failed.
    fn ended(&mut self, ending: Ending) -> Result<Stage, Failure> {
        match ending {
            Ending::Finished(stats) => Ok(Stage::Done(Outcome::Saved(Report {
                url: self.options.url.clone(),
                final_url: stats.final_url,
                path: self.path.clone(),
                size: stats.size,
                sha256: stats.sha256,
                elapsed_ms: clock::now_ms() - self.started_ms,
                bytes_fetched: stats.size - stats.reused.min(stats.size),
                bytes_reused: stats.reused,
                retries: stats.retries,
                connections: stats.connections,
                sources: stats.sources,
            }))),
            // Its lock is this run's: released as the file is done.
            Ending::Skipped(skip) if self.out.as_ref().is_some_and(OutputDir::holds_lock) => {
                Ok(self.skipped(skip))
            }
            Ending::Skipped(skip) => self.skip(skip),
            Ending::Failed(failure) => Err(failure),
            Ending::Answered => unreachable!("a file's fetch answers no client"),
        }
    }

    /// What to wait on for this file at `now`: `None` when it can move at
    /// once (an answer in hand, a sync to do), else its pollables (maybe
    /// none: a deadline only).
    pub fn pollables(&self, now: u64) -> Option<Vec<&Pollable>> {
        match &self.stage {
            // The run syncs it at the latest when nothing else moves: a
            // wait would only delay that.
            Stage::Finished { .. } => None,
            Stage::Fetching(fetch) => self.exchanges.pollables(fetch, now),
            Stage::Locking { .. } | Stage::Clearing { .. } | Stage::Done(_) | Stage::Reported => {
                Some(Vec::new())
            }
        }
    }

    /// When this file next has something to do on its own (a backoff, a
    /// stall window, a save, a lock to look at again), as seen at `now`.
    pub fn deadline(&self, now: u64) -> Option<u64> {
        match &self.stage {
            Stage::Fetching(fetch) => self.exchanges.deadline(fetch, now),
            Stage::Locking { waiting, .. } | Stage::Clearing { waiting, .. } => {
                Some(waiting.look_at_ms())
            }
            Stage::Finished { since_ms, .. } => Some(since_ms + GROUP_WAIT_MS),
            Stage::Done(_) => Some(0),
            Stage::Reported => None,
        }
    }
}
