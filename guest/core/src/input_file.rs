//! `-i FILE`: many downloads from one list, in aria2's format: a URL per
//! line, optionally followed by indented option lines that apply to it
//! (`out=NAME`, `dir=DIR`, `header=Name: value`, `checksum=sha-256=HEX`).
//! Blank lines and `#` comments are ignored. A mistake anywhere is an
//! error naming its line, before anything is downloaded.

use crate::checksum::parse_sha256;
use crate::headers::parse_header_line;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputEntry {
    pub url: String,
    /// The line the URL is on (1-based), for messages.
    pub line: usize,
    pub out: Option<String>,
    pub dir: Option<String>,
    /// Extra request headers for this entry only.
    pub headers: Vec<(String, String)>,
    /// The SHA-256 the file must have, lower-case hex.
    pub checksum: Option<String>,
}

pub fn parse_input_file(text: &str) -> Result<Vec<InputEntry>, String> {
    let mut entries: Vec<InputEntry> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let at = |why: String| format!("line {}: {why}", number + 1);
        if line.starts_with([' ', '\t']) {
            let entry = entries
                .last_mut()
                .ok_or_else(|| at("an option line before any URL".into()))?;
            let (key, value) = trimmed
                .split_once('=')
                .ok_or_else(|| at(format!("expected key=value, found '{trimmed}'")))?;
            let value = value.trim();
            match key.trim() {
                "out" => entry.out = Some(inside(key.trim(), value).map_err(at)?),
                "dir" => entry.dir = Some(inside(key.trim(), value).map_err(at)?),
                "header" => entry.headers.push(parse_header_line(value).map_err(at)?),
                "checksum" => entry.checksum = Some(parse_sha256(value).map_err(at)?),
                other => {
                    return Err(at(format!(
                        "unknown option '{other}' (rangeget understands out=, dir=, header= and checksum=)"
                    )))
                }
            }
        } else {
            // aria2 lists mirrors of one file on one line, tab-separated.
            // Taking the first alone would drop what the list asks for.
            if trimmed.contains('\t') {
                return Err(at(
                    "several tab-separated URLs (aria2c's mirrors of one file); rangeget takes \
                     one URL per entry: keep the first (cut -f1 on the list)"
                        .into(),
                ));
            }
            let url = trimmed.to_string();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(at(format!("'{url}' is not an http:// or https:// URL")));
            }
            entries.push(InputEntry {
                url,
                line: number + 1,
                ..InputEntry::default()
            });
        }
    }
    if entries.is_empty() {
        return Err("the input file lists no URL".to_string());
    }
    Ok(entries)
}

/// `out=` and `dir=` name places inside the output directory (`-d`): a
/// list cannot send a file elsewhere (the component is granted `-d` alone,
/// so such an entry could only fail, after others were fetched).
fn inside(key: &str, value: &str) -> Result<String, String> {
    let leaves = value.starts_with('/') || value.split('/').any(|part| part == "..");
    if value.is_empty() || leaves {
        return Err(format!(
            "{key}={value} is not a path inside the output directory (-d); \
             give a relative path without '..'"
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_urls_with_their_options() {
        let sum = "ab".repeat(32);
        let text = format!(
            "# nightly images\nhttp://h/a.iso\n  out=alpha.iso\n  header=X-Token: t1\n\n\
             https://h/b.iso\n\tdir=sub\n\tchecksum=sha-256={sum}\n"
        );
        assert_eq!(
            parse_input_file(&text).unwrap(),
            [
                InputEntry {
                    url: "http://h/a.iso".into(),
                    line: 2,
                    out: Some("alpha.iso".into()),
                    headers: vec![("X-Token".into(), "t1".into())],
                    ..InputEntry::default()
                },
                InputEntry {
                    url: "https://h/b.iso".into(),
                    line: 6,
                    dir: Some("sub".into()),
                    checksum: Some(sum),
                    ..InputEntry::default()
                },
            ]
        );
    }

    #[test]
    fn reports_the_line_of_a_mistake() {
        for (text, line) in [
            ("  out=x\n", "line 1"),
            ("http://h/a\n  speed=3\n", "line 2"),
            ("ftp://h/a\n", "line 1"),
            ("http://h/a\n\n  checksum=md5=00\n", "line 3"),
            ("http://h/a\n  header=Range: bytes=0-1\n", "line 2"),
            ("http://h/a\nhttp://h/b\thttp://m/b\n", "line 2"),
            ("http://h/a\n  dir=/etc\n", "line 2"),
            ("http://h/a\n  out=../../x.bin\n", "line 2"),
            ("http://h/a\n  dir=sub/../../up\n", "line 2"),
            ("http://h/a\n  out=\n", "line 2"),
        ] {
            let error = parse_input_file(text).unwrap_err();
            assert!(error.starts_with(line), "{text:?}: {error}");
        }
        assert!(parse_input_file("# nothing\n").is_err());
    }
}
