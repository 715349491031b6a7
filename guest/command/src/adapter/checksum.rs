//! SHA-256 of the finished `.part` (or of a file already at the
//! destination), read back sequentially: chunks arrive out of order, so
//! the digest can only be taken once all are on disk.

use rangeget_core::checksum::hex;
use rangeget_core::failure::{IoError, Reason};
use rangeget_core::Failure;
use sha2::{Digest, Sha256};

use super::output::OutputDir;

const READ_SIZE: u64 = 1 << 20;

/// The digest of the final file (`of_final`) or of the `.part`.
pub fn sha256_of(out: &OutputDir, of_final: bool) -> Result<String, Failure> {
    let (opened, name, display) = if of_final {
        (out.open_final()?, out.final_name(), out.display.clone())
    } else {
        (out.open_part()?, out.part_name(), out.part_display())
    };
    let Some((part, len)) = opened else {
        return Err(Reason::Io {
            operation: "verify".into(),
            path: display,
            error: IoError::Disappeared,
        }
        .into());
    };
    let mut hasher = Sha256::new();
    let mut offset = 0;
    while offset < len {
        let data = part
            .read_at(READ_SIZE, offset)
            .map_err(|e| out.fs_error("read", &name, e))?;
        if data.is_empty() {
            break;
        }
        hasher.update(&data);
        super::lease::renew_due();
        offset += data.len() as u64;
    }
    Ok(hex(&hasher.finalize()))
}
