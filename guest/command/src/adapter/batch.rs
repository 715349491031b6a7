//! A run: its files, `--jobs` of them at a time, in one loop. Every file's
//! requests count in one budget of connections (in all, and per host); one
//! poll waits for all of them; each file reports as it ends (`--json`: one
//! line each), and a run of several ends with a summary and the worst
//! failure's exit code. One file is a run of one.

use std::cell::RefCell;
use std::rc::Rc;

use rangeget_core::batch::PathClaims;
use rangeget_core::batch_progress::ActiveFile;
use rangeget_core::budget::Budget;
use rangeget_core::ledger::Ledger;
use rangeget_core::rate_limit::RateLimiter;
use rangeget_core::report::Telling;
use rangeget_core::sync_group::sync_now;
use rangeget_core::wake::{how_to_wait, to_advance, FileWait, Wait};
use rangeget_options::Options;
use rangeget_wasi_http::{clock, ready};
use wasip2::io::poll::Pollable;

use super::job::{Job, RunShares};
use super::lease;
use super::list::{Downloads, Next};
use super::output::OutputDir;
use super::report::{say, ProgressLine};

/// Runs the downloads of `run` (from its command line or its list, whose
/// paths `claims` holds as far as they were read) and returns the exit
/// status.
pub fn run(run: &Options, mut downloads: Downloads, claims: PathClaims) -> i32 {
    let (total, per_host) = run.connection_budget();
    let shares = RunShares {
        budget: Rc::new(RefCell::new(Budget::new(total, per_host))),
        // One --max-speed for the whole run, as its help says.
        rate_limit: run
            .max_speed
            .map(|rate| Rc::new(RefCell::new(RateLimiter::new(rate, clock::now_ms())))),
        claims: Rc::new(RefCell::new(claims)),
        unreachable: Rc::default(),
    };
    let mut taken = 0;
    let mut reading = true;
    let mut active: Vec<Job> = Vec::new();
    let mut ledger = Ledger::new(run.progress_events);
    let started_ms = clock::now_ms();
    let mut progress = ProgressLine::new(started_ms);
    loop {
        while reading && active.len() < run.jobs as usize {
            match downloads.next(&mut shares.claims.borrow_mut()) {
                Ok(Next::Download(options)) => {
                    active.push(Job::new(*options, taken, &shares));
                    taken += 1;
                }
                Ok(Next::Wait) => break,
                Ok(Next::End) => reading = false,
                // A mistake further down the list: nothing more starts;
                // what started ends as it would have.
                Err(failure) => {
                    eprintln!("{}", failure.error_line());
                    ledger.summary.stopped_by(&failure);
                    reading = false;
                }
            }
        }
        let files = downloads.files();
        let ended_before = shares.budget.borrow().ended_count();
        let mut moved = false;
        for job in active.iter_mut().filter(|job| job.is_due()) {
            moved |= job.advance();
        }
        sync_finished(&mut active, moved);
        let mut at = 0;
        while at < active.len() {
            match active[at].outcome() {
                Some(outcome) => {
                    let job = active.swap_remove(at);
                    let (entry, options) = (job.entry(), job.options());
                    let mut unreachable = shares.unreachable.borrow_mut();
                    say(ledger.ended(
                        entry,
                        &options.url,
                        outcome,
                        telling(options),
                        &mut unreachable,
                    ));
                }
                None => at += 1,
            }
        }
        if active.is_empty() && !reading {
            break;
        }
        // Requests ended (of files that moved or were done): files waiting
        // for room in the budget get their turn.
        if shares.budget.borrow().ended_count() != ended_before {
            for job in active.iter_mut().filter(|job| job.may_wait_for_room()) {
                job.wake();
            }
        }
        let (on_disk, total_size) = ledger.progress(active.iter().map(Job::progress));
        let counts = run.is_batch().then_some((ledger.summary.files, files));
        progress.update(clock::now_ms(), on_disk, total_size, counts);
        tell_progress(&mut ledger, files, &active, false);
        let list = (reading && active.len() < run.jobs as usize)
            .then(|| downloads.pollable())
            .flatten();
        wait_for(&mut active, list);
        lease::renew_due();
    }
    progress.clear();
    tell_progress(&mut ledger, downloads.files(), &active, true);
    if run.is_batch() && !run.no_fsync {
        sync_directories(&ledger);
    }
    let (told, status) = ledger.finish(clock::now_ms() - started_ms, telling(run));
    say(told);
    status
}

fn telling(options: &Options) -> Telling {
    Telling {
        json: options.json,
        quiet: options.quiet,
        batch: options.is_batch(),
    }
}

/// Tells the native CLI where the batch stands (`--progress-events`),
/// when the ledger says so.
fn tell_progress(ledger: &mut Ledger, files: usize, active: &[Job], last: bool) {
    let named = |job: &Job| {
        let (got, size) = job.progress();
        ActiveFile {
            path: job.path().to_string(),
            got,
            size,
        }
    };
    if let Some(line) = ledger.progress_event(clock::now_ms(), files, active, named, last) {
        eprintln!("{line}");
    }
}

/// Syncs each directory a file was published in (see `Job::publish`).
fn sync_directories(ledger: &Ledger) {
    for path in ledger.directories_to_sync() {
        if let Ok(out) = OutputDir::for_path(path) {
            out.sync_dir();
        }
    }
}

/// Syncs the files whose bytes are all in, as one group, once
/// `sync_group` says so; each is then named.
fn sync_finished(active: &mut [Job], moved: bool) {
    let waiting = active.iter().filter_map(Job::awaits_sync);
    let (count, oldest) = waiting.fold((0, u64::MAX), |(n, oldest), since| {
        (n + 1, oldest.min(since))
    });
    // No clock read (a host call) on the turns with nothing to sync.
    if count == 0 || !sync_now(count, oldest, active.len(), moved, clock::now_ms()) {
        return;
    }
    for job in active.iter_mut().filter(|job| job.awaits_sync().is_some()) {
        job.sync_and_publish();
    }
}

/// Waits as `rangeget_core::wake` says, then wakes (see [`Job::wake`])
/// the files it says to advance. `list`: standard input, while the list
/// read from it may give the next file.
fn wait_for(active: &mut [Job], list: Option<&Pollable>) {
    let now = clock::now_ms();
    let any_due = active.iter().any(Job::is_due);
    let (files, ready_files) = {
        let mut files = Vec::with_capacity(active.len());
        let mut owners = Vec::new();
        let mut pollables: Vec<&Pollable> = Vec::new();
        for (at, job) in active.iter().enumerate() {
            files.push(match job.pollables(now) {
                None => FileWait::Now,
                Some(more) => {
                    owners.extend(std::iter::repeat_n(at, more.len()));
                    let requests = more.len();
                    pollables.extend(more);
                    FileWait::On {
                        requests,
                        deadline: job.deadline(now),
                    }
                }
            });
        }
        // The list is waited on as one more file would be, after the others.
        if let Some(list) = list {
            owners.push(active.len());
            pollables.push(list);
            files.push(FileWait::On {
                requests: 1,
                deadline: None,
            });
        }
        let ready_at = match how_to_wait(&files, any_due, lease::next_renewal_ms(), now) {
            Wait::Skip => Vec::new(),
            // A timer already past: a look, not a wait.
            Wait::Look => ready(&pollables, &[&clock::wake_at(0)]),
            Wait::Block { until } => {
                let timer = until.map(clock::wake_at);
                ready(&pollables, timer.iter().collect::<Vec<_>>().as_slice())
            }
        };
        let ready_files: Vec<usize> = ready_at.into_iter().map(|i| owners[i]).collect();
        (files, ready_files)
    };
    for at in to_advance(&files, &ready_files, clock::now_ms()) {
        if let Some(job) = active.get_mut(at) {
            job.wake();
        }
    }
}
