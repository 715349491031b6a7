//! When the files of a run whose bytes are all in get synced to disk (and
//! then named): together, in a group. Each file's write-back starts when
//! its last request closes; its sync then waits for others to finish, and
//! the group's syncs run back to back, each finding its data already on
//! its way and the disk busy with the whole group rather than one file at
//! a time. Measured on this project's bench machine (ext4), 1,000 files of
//! 4 KiB: synced one by one as each finished, 0.27 s of syncs; in groups
//! of 16, 0.21 s; and `rangeget -i` of 1,000 such files from nginx on
//! loopback: 0.47 s one by one, 0.39 s in groups.
//!
//! A finished file waits for its group only while waiting costs nothing:
//! the run is busy with other files anyway, and never longer than
//! [`GROUP_WAIT_MS`].

/// The longest a finished file waits for others to finish with it.
pub const GROUP_WAIT_MS: u64 = 10;

/// Whether the finished files waiting for their sync are synced now.
/// `waiting`: how many; `oldest_since_ms`: when the first of them finished;
/// `active`: files the run is working on, the waiting ones included;
/// `moved`: whether any of them moved on in this turn of the run's loop
/// (when none did, the run would only wait: the syncs take that time).
pub fn sync_now(
    waiting: usize,
    oldest_since_ms: u64,
    active: usize,
    moved: bool,
    now_ms: u64,
) -> bool {
    if waiting == 0 {
        return false;
    }
    // Half of the run's files done and idle: the others should not wait
    // behind them for new files to start.
    let half_idle = waiting * 2 >= active;
    let waited_enough = now_ms.saturating_sub(oldest_since_ms) >= GROUP_WAIT_MS;
    !moved || half_idle || waited_enough
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_waiting_is_never_synced() {
        assert!(!sync_now(0, 0, 16, false, 1_000));
    }

    #[test]
    fn a_run_with_nothing_else_to_do_syncs_at_once() {
        // One file of one: synced as soon as it is in.
        assert!(sync_now(1, 100, 1, false, 100));
        // Others only wait for answers: no reason to hold the group.
        assert!(sync_now(1, 100, 16, false, 100));
    }

    #[test]
    fn a_busy_run_gathers_a_group() {
        assert!(!sync_now(1, 100, 16, true, 100));
        assert!(!sync_now(7, 100, 16, true, 100 + GROUP_WAIT_MS - 1));
    }

    #[test]
    fn half_the_files_waiting_are_synced() {
        assert!(sync_now(8, 100, 16, true, 100));
        assert!(sync_now(1, 100, 2, true, 100));
    }

    #[test]
    fn no_file_waits_longer_than_the_bound() {
        // A big file keeps the run busy for minutes: the small ones that
        // finished meanwhile are still named within the bound.
        assert!(sync_now(1, 100, 16, true, 100 + GROUP_WAIT_MS));
    }
}
