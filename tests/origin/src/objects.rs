//! What the origin remembers about each object name: its current version,
//! a size override, how many times each limited fault has fired, and how
//! many of its bytes went out. State survives across requests and lives as
//! long as the [`crate::Origin`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::content::{self, Content};

/// Faults that fire only for the first K matching requests of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Budget {
    Truncate,
    Html200,
    WrongRange,
    Status416,
    Status503,
    Status429,
    Status500,
    Stall,
    Unanswered,
}

impl Budget {
    const COUNT: usize = 9;
}

#[derive(Default)]
pub(crate) struct ObjectTable {
    entries: Mutex<HashMap<String, Arc<ObjectEntry>>>,
}

impl ObjectTable {
    /// The entry for `name`, created at version 0 on first use.
    pub(crate) fn entry(&self, name: &str) -> Arc<ObjectEntry> {
        let mut entries = lock(&self.entries);
        if let Some(entry) = entries.get(name) {
            return Arc::clone(entry);
        }
        let entry = Arc::new(ObjectEntry {
            name: name.to_owned(),
            state: Mutex::default(),
            bytes_sent: AtomicU64::new(0),
        });
        entries.insert(name.to_owned(), Arc::clone(&entry));
        entry
    }
}

pub(crate) struct ObjectEntry {
    name: String,
    state: Mutex<ObjectState>,
    /// Object bytes handed to connections, for `change-after`.
    bytes_sent: AtomicU64,
}

#[derive(Default)]
struct ObjectState {
    version: u64,
    size_override: Option<u64>,
    spent: [u64; Budget::COUNT],
}

impl ObjectEntry {
    /// The object as it is now; `requested_size` is the `size=` of the URL,
    /// which a size override set through the API beats.
    pub(crate) fn current(&self, requested_size: u64) -> ObjectVersion {
        let state = lock(&self.state);
        ObjectVersion {
            name: self.name.clone(),
            version: state.version,
            size: state.size_override.unwrap_or(requested_size),
        }
    }

    pub(crate) fn replace(&self) -> u64 {
        let mut state = lock(&self.state);
        state.version += 1;
        state.version
    }

    pub(crate) fn set_size_override(&self, size: Option<u64>) {
        lock(&self.state).size_override = size;
    }

    /// Uses up one firing of `budget` if fewer than `times` happened yet.
    pub(crate) fn try_spend(&self, budget: Budget, times: u64) -> bool {
        let mut state = lock(&self.state);
        let spent = &mut state.spent[budget as usize];
        let allowed = *spent < times;
        if allowed {
            *spent += 1;
        }
        allowed
    }

    /// Counts `len` more bytes sent; replaces the object each time the
    /// total reaches another multiple of `change_after`, at most
    /// `change_times` times per object.
    pub(crate) fn record_sent(&self, len: u64, change_after: Option<u64>, change_times: u64) {
        let before = self.bytes_sent.fetch_add(len, Ordering::Relaxed);
        if let Some(threshold) = change_after {
            // A threshold of 0 means "as soon as anything went out".
            let threshold = threshold.max(1);
            let (from, to) = (before / threshold, (before + len) / threshold);
            if to > from && from < change_times {
                self.replace();
            }
        }
    }
}

/// One version of one object at one size: everything its headers and bytes
/// are derived from.
#[derive(Clone, Debug)]
pub(crate) struct ObjectVersion {
    pub(crate) name: String,
    pub(crate) version: u64,
    pub(crate) size: u64,
}

impl ObjectVersion {
    pub(crate) fn content(&self) -> Arc<Content> {
        Content::of(&self.name, self.version)
    }

    pub(crate) fn entity_tag(&self) -> String {
        content::entity_tag(&self.name, self.version, self.size)
    }

    pub(crate) fn last_modified(&self) -> String {
        content::last_modified(self.version)
    }
}

/// Locks, ignoring poisoning: a panicking request must not take the whole
/// origin down with it, and every update here leaves the state consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_per_fault_and_run_out() {
        let table = ObjectTable::default();
        let entry = table.entry("a");
        assert!(entry.try_spend(Budget::Truncate, 2));
        assert!(entry.try_spend(Budget::Truncate, 2));
        assert!(!entry.try_spend(Budget::Truncate, 2));
        assert!(entry.try_spend(Budget::Stall, 1));
        assert!(!table.entry("a").try_spend(Budget::Stall, 1));
        assert!(table.entry("b").try_spend(Budget::Stall, 1));
    }

    #[test]
    fn change_after_replaces_once_when_the_total_reaches_the_threshold() {
        let entry = ObjectTable::default().entry("a");
        entry.record_sent(99, Some(100), 1);
        assert_eq!(entry.current(0).version, 0);
        entry.record_sent(1, Some(100), 1);
        assert_eq!(entry.current(0).version, 1);
        entry.record_sent(1000, Some(100), 1);
        assert_eq!(entry.current(0).version, 1);
    }

    #[test]
    fn change_times_replaces_again_after_each_further_threshold() {
        let entry = ObjectTable::default().entry("a");
        for (sent, version) in [(100, 1), (50, 1), (50, 2), (100, 3), (100, 3)] {
            entry.record_sent(sent, Some(100), 3);
            assert_eq!(entry.current(0).version, version, "after {sent} more bytes");
        }
    }

    #[test]
    fn size_override_beats_the_requested_size() {
        let entry = ObjectTable::default().entry("a");
        entry.set_size_override(Some(5));
        assert_eq!(entry.current(100).size, 5);
        entry.set_size_override(None);
        assert_eq!(entry.current(100).size, 100);
    }
}
