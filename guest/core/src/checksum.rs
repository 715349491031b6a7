//! Expected digests a user gives (`--checksum`, a list's `checksum=`).

use crate::failure::{Kept, Reason};

/// `--checksum` (`expected`) against the SHA-256 of what came (`actual`,
/// when it was computed): the digest to report, or the mismatch, saying
/// what of the file is `kept`.
pub fn verdict(
    expected: Option<&str>,
    actual: Option<String>,
    kept: impl FnOnce() -> Kept,
) -> Result<Option<String>, Reason> {
    match (expected, actual) {
        (Some(expected), Some(actual)) if expected != actual => Err(Reason::Checksum {
            expected: expected.to_string(),
            actual,
            kept: kept(),
        }),
        (_, actual) => Ok(actual),
    }
}

/// Accepts `sha256=HEX` (or aria2's `sha-256=HEX`) and returns the
/// lower-case hex digest.
pub fn parse_sha256(text: &str) -> Result<String, String> {
    let (algorithm, hex) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not ALGORITHM=HEX (e.g. sha256=9f86d0...)"))?;
    if !matches!(
        algorithm.to_ascii_lowercase().as_str(),
        "sha256" | "sha-256"
    ) {
        return Err(format!(
            "unsupported checksum algorithm '{algorithm}'; use sha256"
        ));
    }
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("'{hex}' is not a SHA-256 digest (64 hex digits)"));
    }
    Ok(hex.to_ascii_lowercase())
}

/// A digest as `--checksum` and `--json` spell it: lowercase hex.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_spelled_in_lowercase_hex() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }

    #[test]
    fn a_digest_passes_only_when_it_is_the_one_expected() {
        let kept = || Kept::Part("f.part".into());
        assert_eq!(
            verdict(None, Some("ab".into()), kept),
            Ok(Some("ab".into()))
        );
        assert_eq!(
            verdict(Some("ab"), Some("ab".into()), kept),
            Ok(Some("ab".into()))
        );
        let mismatch = verdict(Some("ab"), Some("cd".into()), kept).unwrap_err();
        assert_eq!(mismatch.code(), "checksum");
        assert!(mismatch.to_string().contains("f.part"), "{mismatch}");
    }

    #[test]
    fn both_spellings_of_sha256_are_read() {
        let hex = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
        let lower = hex.to_ascii_lowercase();
        assert_eq!(parse_sha256(&format!("sha256={hex}")), Ok(lower.clone()));
        assert_eq!(parse_sha256(&format!("sha-256={hex}")), Ok(lower));
        assert!(parse_sha256("md5=abc").is_err());
        assert!(parse_sha256("sha256=abc").is_err());
    }
}
