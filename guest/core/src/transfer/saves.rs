//! When a file transfer records its progress in the meta file.

/// Progress is saved (atomically, without fsync) at most this often. A
/// `kill -9` keeps the page cache, so it loses only what arrived since the
/// last save; at tens of MiB/s that is well under a MiB.
pub const QUICK_SAVE_INTERVAL_MS: u64 = 10;
/// Data and meta are synced to disk this often, bounding what a power loss
/// can take (its damage is caught by the digests either way).
pub const DURABLE_SAVE_INTERVAL_MS: u64 = 5_000;

/// What kind of save is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveKind {
    /// Replace the meta atomically; no fsync.
    Quick,
    /// A chunk finished: replace the meta and sync it, so the record of
    /// finished chunks survives a power loss too (their data is verified
    /// by digest on resume either way).
    FinishedChunk,
    /// Sync the data, then replace the meta and sync it too.
    Durable,
}

/// A save the driver should make: write [`super::Transfer::to_meta`]
/// atomically, syncing as asked, then call `handle_saved`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Save {
    pub kind: SaveKind,
    /// Sync the `.part`'s data before the meta (skipped with `--no-fsync`).
    pub sync_data: bool,
    /// Sync the new meta before it replaces the old one.
    pub sync_meta: bool,
}

/// The save schedule: finished chunks at once, progress inside chunks
/// every few milliseconds, everything synced every few seconds.
#[derive(Clone, Debug, Default)]
pub(crate) struct SaveSchedule {
    last_save_ms: u64,
    last_durable_ms: u64,
    unsaved_progress: bool,
    unsaved_finished_chunk: bool,
    undurable: bool,
    /// No record is kept before this moment, and none at all if the file
    /// is done by then (see `Transfer::adopt`): `None` once one exists.
    unrecorded_until_ms: Option<u64>,
}

impl SaveSchedule {
    pub(crate) fn saw_progress(&mut self) {
        self.unsaved_progress = true;
        self.undurable = true;
    }

    pub(crate) fn saw_finished_chunk(&mut self) {
        self.unsaved_finished_chunk = true;
    }

    /// Keeps no record until `until_ms`: a file that is done by then never
    /// has one.
    pub(crate) fn unrecorded_until(&mut self, until_ms: u64) {
        self.unrecorded_until_ms = Some(until_ms);
    }

    /// Whether no record exists yet, and none is due before the file ends.
    pub(crate) fn is_unrecorded(&self) -> bool {
        self.unrecorded_until_ms.is_some()
    }

    /// The save due at `now_ms`, if any. Large files have large metas:
    /// `chunks` stretches the quick interval so rewriting the meta never
    /// costs more than a small share of the bandwidth.
    pub(crate) fn due(&self, now_ms: u64, chunks: usize) -> Option<SaveKind> {
        if self.unrecorded_until_ms.is_some_and(|until| now_ms < until) {
            return None;
        }
        let since_durable = now_ms.saturating_sub(self.last_durable_ms);
        let since_save = now_ms.saturating_sub(self.last_save_ms);
        if self.undurable && since_durable >= DURABLE_SAVE_INTERVAL_MS {
            Some(SaveKind::Durable)
        } else if self.unsaved_finished_chunk {
            Some(SaveKind::FinishedChunk)
        } else if self.unsaved_progress && since_save >= quick_interval_ms(chunks) {
            Some(SaveKind::Quick)
        } else {
            None
        }
    }

    /// When the next save falls due, if one will.
    pub(crate) fn next_due_ms(&self, chunks: usize) -> Option<u64> {
        let quick = self
            .unsaved_progress
            .then(|| self.last_save_ms + quick_interval_ms(chunks));
        let durable = self
            .undurable
            .then_some(self.last_durable_ms + DURABLE_SAVE_INTERVAL_MS);
        let finished = self.unsaved_finished_chunk.then_some(0);
        let due = quick.into_iter().chain(durable).chain(finished).min()?;
        Some(due.max(self.unrecorded_until_ms.unwrap_or(0)))
    }

    /// Whether a finished chunk still has to be recorded (never while no
    /// record exists: a file done unrecorded needs none).
    pub(crate) fn has_unsaved_finished_chunk(&self) -> bool {
        self.unsaved_finished_chunk && self.unrecorded_until_ms.is_none()
    }

    pub(crate) fn saved(&mut self, kind: SaveKind, now_ms: u64) {
        self.unrecorded_until_ms = None;
        self.last_save_ms = now_ms;
        self.unsaved_progress = false;
        self.unsaved_finished_chunk = false;
        if kind == SaveKind::Durable {
            self.last_durable_ms = now_ms;
            self.undurable = false;
        }
    }
}

fn quick_interval_ms(chunks: usize) -> u64 {
    QUICK_SAVE_INTERVAL_MS.max(chunks as u64 / 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_chunks_are_saved_at_once_progress_quickly_and_synced_periodically() {
        let mut s = SaveSchedule::default();
        s.saw_progress();
        assert_eq!(s.due(1, 3), None);
        assert_eq!(s.due(QUICK_SAVE_INTERVAL_MS, 3), Some(SaveKind::Quick));
        s.saved(SaveKind::Quick, QUICK_SAVE_INTERVAL_MS);
        s.saw_progress();
        s.saw_finished_chunk();
        assert_eq!(
            s.due(QUICK_SAVE_INTERVAL_MS + 1, 3),
            Some(SaveKind::FinishedChunk)
        );
        assert_eq!(s.due(DURABLE_SAVE_INTERVAL_MS, 3), Some(SaveKind::Durable));
        s.saved(SaveKind::Durable, DURABLE_SAVE_INTERVAL_MS);
        assert_eq!(s.due(2 * DURABLE_SAVE_INTERVAL_MS, 3), None);
        assert_eq!(s.next_due_ms(3), None);
    }
}
