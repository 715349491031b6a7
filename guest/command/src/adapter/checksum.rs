//! SHA-256 of the finished `.part`, read back sequentially: chunks arrive
//! out of order, so the digest can only be taken once all are on disk.

use rangeget_core::failure::Reason;
use rangeget_core::Failure;
use sha2::{Digest, Sha256};

use super::output::OutputDir;

const READ_SIZE: u64 = 1 << 20;

pub fn sha256_of_part(out: &OutputDir) -> Result<String, Failure> {
    let name = out.part_name();
    let Some((part, len)) = out.open_part()? else {
        return Err(Reason::Io {
            operation: "verify".into(),
            path: out.part_display(),
            error: "it disappeared before it could be verified".into(),
            hint: "",
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
        super::lease::renew_if_due()?;
        offset += data.len() as u64;
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
