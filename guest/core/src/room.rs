//! Whether a file may take the room it needs: `--max-filesize`, and the
//! free space the native CLI measured (WASI itself cannot tell).

use crate::failure::Reason;

/// Refuses a file of `size` bytes larger than `max` (`--max-filesize`).
pub fn check_max_filesize(url: &str, size: u64, max: Option<u64>) -> Result<(), Reason> {
    match max {
        Some(max) if size > max => Err(Reason::TooLarge {
            url: url.to_string(),
            size,
            max,
        }),
        _ => Ok(()),
    }
}

/// Refuses to start writing `needed` more bytes into `dir` when only
/// `free` are left there: better now than a full disk half-way.
pub fn check_free_space(dir: &str, needed: u64, free: Option<u64>) -> Result<(), Reason> {
    match free {
        Some(free) if needed > free => Err(Reason::NoRoom {
            dir: dir.to_string(),
            needed,
            free,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_only_what_does_not_fit() {
        assert!(check_max_filesize("u", 10, Some(10)).is_ok());
        assert!(check_max_filesize("u", 11, None).is_ok());
        let refused = check_max_filesize("u", 11, Some(10)).unwrap_err();
        assert!(refused.to_string().contains("--max-filesize"), "{refused}");
        assert!(check_free_space("d", 5, Some(5)).is_ok());
        assert!(check_free_space("d", 6, None).is_ok());
        assert!(check_free_space("d", 6, Some(5)).is_err());
    }
}
