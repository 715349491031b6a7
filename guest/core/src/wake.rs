//! Which files of a run its loop advances in a turn, and how it waits
//! before that turn. Advancing a file asks the host about each of its
//! requests, so a file is advanced only when something may have happened
//! to it: a request of its own is ready, its deadline came, it can move at
//! once, or it has nothing to wait on (the engine's contract: a driver
//! asks it again after every wait). On 1,000 small files, advancing every
//! active file on every turn had cost a tenth of the run in host calls
//! about answers that had not come.

/// What one file waits on, as the loop sees it before a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileWait {
    /// It can move at once (an answer in hand, a sync to do).
    Now,
    /// Requests of its own (how many pollables), and its deadline if any.
    On {
        requests: usize,
        deadline: Option<u64>,
    },
}

impl FileWait {
    /// Nothing would ever tell the loop about this file: no request of
    /// its own and no deadline.
    fn unwatched(self) -> bool {
        matches!(
            self,
            FileWait::On {
                requests: 0,
                deadline: None
            }
        )
    }

    fn deadline(self) -> Option<u64> {
        match self {
            FileWait::Now => None,
            FileWait::On { deadline, .. } => deadline,
        }
    }
}

/// How the loop waits before its next turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A file can move at once: only look at which requests are ready.
    Look,
    /// Until a request is ready, or `until` (the earliest deadline, or the
    /// run's own next duty such as renewing its locks).
    Block { until: Option<u64> },
    /// There is nothing to wait on.
    Skip,
}

/// How to wait, given every active file's wait, whether one is already
/// due (woken since its last turn: the budget made room), the run's own
/// next duty (`also_at`), and `now`.
pub fn how_to_wait(files: &[FileWait], any_due: bool, also_at: Option<u64>, now: u64) -> Wait {
    let until = files
        .iter()
        .filter_map(|f| f.deadline())
        .chain(also_at)
        .min();
    let requests: usize = files
        .iter()
        .map(|f| match f {
            FileWait::Now => 0,
            FileWait::On { requests, .. } => *requests,
        })
        .sum();
    let at_once = files.contains(&FileWait::Now) || any_due || until.is_some_and(|at| at <= now);
    if at_once {
        return if requests > 0 { Wait::Look } else { Wait::Skip };
    }
    if requests == 0 && until.is_none() {
        return Wait::Skip;
    }
    Wait::Block { until }
}

/// Which files to advance after the wait: `ready` are those with a
/// request the wait found ready; to them are added the files that can
/// move at once, those with nothing to wait on, and those whose deadline
/// has come by `now`. In the order of `files`, each once.
pub fn to_advance(files: &[FileWait], ready: &[usize], now: u64) -> Vec<usize> {
    (0..files.len())
        .filter(|at| {
            let file = files[*at];
            ready.contains(at)
                || file == FileWait::Now
                || file.unwatched()
                || file.deadline().is_some_and(|deadline| deadline <= now)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(requests: usize, deadline: Option<u64>) -> FileWait {
        FileWait::On { requests, deadline }
    }

    #[test]
    fn files_that_only_wait_for_answers_block_the_loop() {
        let files = [on(1, None), on(2, Some(500))];
        assert_eq!(
            how_to_wait(&files, false, Some(800), 100),
            Wait::Block { until: Some(500) }
        );
        assert_eq!(
            how_to_wait(&[on(1, None)], false, None, 100),
            Wait::Block { until: None }
        );
    }

    #[test]
    fn a_file_that_can_move_or_is_due_makes_the_wait_a_look() {
        let files = [on(1, None), FileWait::Now];
        assert_eq!(how_to_wait(&files, false, None, 100), Wait::Look);
        assert_eq!(how_to_wait(&[on(1, None)], true, None, 100), Wait::Look);
        assert_eq!(
            how_to_wait(&[on(1, Some(100))], false, None, 100),
            Wait::Look,
            "a deadline already come"
        );
        assert_eq!(how_to_wait(&[FileWait::Now], false, None, 100), Wait::Skip);
    }

    #[test]
    fn the_runs_own_duty_bounds_a_wait_on_deadlines_alone() {
        // A lock waiting to be looked at again, and the leases to renew.
        assert_eq!(
            how_to_wait(&[on(0, Some(2_000))], false, Some(600), 100),
            Wait::Block { until: Some(600) }
        );
        assert_eq!(how_to_wait(&[on(0, None)], false, None, 100), Wait::Skip);
    }

    #[test]
    fn only_files_with_news_are_advanced() {
        let files = [on(1, None), on(1, Some(900)), on(1, Some(150)), on(1, None)];
        assert_eq!(to_advance(&files, &[3], 200), vec![2, 3]);
        assert_eq!(to_advance(&files, &[], 100), Vec::<usize>::new());
    }

    #[test]
    fn files_that_can_move_or_have_nothing_to_wait_on_are_always_advanced() {
        // A transfer stopping after a failed save has no request and no
        // deadline: nothing would ever wake it otherwise.
        let files = [FileWait::Now, on(0, None), on(1, None)];
        assert_eq!(to_advance(&files, &[], 0), vec![0, 1]);
    }
}
