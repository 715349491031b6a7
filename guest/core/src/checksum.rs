//! Expected digests a user gives (`--checksum`, a list's `checksum=`).

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

#[cfg(test)]
mod tests {
    use super::*;

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
