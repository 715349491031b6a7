//! `-i FILE`: many downloads from one list, in aria2's format: a URL per
//! line, optionally followed by indented option lines that apply to it
//! (`out=NAME`, `dir=DIR`, `header=Name: value`, `checksum=sha-256=HEX`).
//! A URL line may hold several TAB-separated URLs: mirrors of one file,
//! one entry with several sources.
//! Blank lines and `#` comments are ignored. A mistake anywhere is an
//! error naming its line, before anything is downloaded.

use crate::checksum::parse_sha256;
use crate::headers::parse_header_line;
use crate::naming::{check_file_path_inside, check_path_inside, PathFault};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputEntry {
    pub url: String,
    /// Other sources of the same file, in the order listed (aria2 puts a
    /// file's mirrors on its URL line, tab-separated); never `url` again,
    /// nor one twice.
    pub mirrors: Vec<String>,
    /// The line the URL is on (1-based), for messages.
    pub line: usize,
    pub out: Option<String>,
    pub dir: Option<String>,
    /// Extra request headers for this entry only.
    pub headers: Vec<(String, String)>,
    /// The SHA-256 the file must have, lower-case hex.
    pub checksum: Option<String>,
}

/// Reads a list a line at a time, so that a list of any length (or one that
/// never ends, on standard input) is read in bounded memory and its first
/// entries can start before its last are read. An entry is complete when
/// the next URL line, or the end, comes.
#[derive(Debug, Default)]
pub struct ListReader {
    /// The entry whose option lines may still follow.
    open: Option<InputEntry>,
    /// Lines read so far.
    lines: usize,
    /// Whether any URL was read.
    any: bool,
}

impl ListReader {
    pub fn new() -> ListReader {
        ListReader::default()
    }

    /// Takes the next line (without its newline); the entry it completes,
    /// if any. A mistake names its line.
    pub fn line(&mut self, line: &str) -> Result<Option<InputEntry>, String> {
        self.lines += 1;
        let number = self.lines;
        let at = |why: String| format!("line {number}: {why}");
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Ok(None);
        }
        if line.starts_with([' ', '\t']) {
            let entry = self
                .open
                .as_mut()
                .ok_or_else(|| at("an option line before any URL".into()))?;
            return option_line(entry, trimmed).map(|()| None).map_err(at);
        }
        let (url, mirrors) = sources(trimmed).map_err(at)?;
        self.any = true;
        let next = InputEntry {
            url,
            mirrors,
            line: number,
            ..InputEntry::default()
        };
        Ok(self.open.replace(next))
    }

    /// Lines taken so far.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// The list ended: its last entry, if one is open. A list without any
    /// URL is a mistake.
    pub fn end(&mut self) -> Result<Option<InputEntry>, String> {
        if !self.any {
            return Err("the input file lists no URL".to_string());
        }
        Ok(self.open.take())
    }
}

/// A URL line: its first URL and the mirrors after it. Each must be
/// http(s); a repeated one is dropped, as fetching it twice gains nothing.
fn sources(trimmed: &str) -> Result<(String, Vec<String>), String> {
    let mut urls: Vec<String> = Vec::new();
    for url in trimmed
        .split('\t')
        .map(str::trim)
        .filter(|url| !url.is_empty())
    {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("'{url}' is not an http:// or https:// URL"));
        }
        if !urls.iter().any(|seen| seen == url) {
            urls.push(url.to_string());
        }
    }
    let mut urls = urls.into_iter();
    let first = urls.next().unwrap_or_default();
    Ok((first, urls.collect()))
}

/// An indented `key=value` line of `entry`. A key given twice is refused:
/// one of the two would be dropped in silence.
fn option_line(entry: &mut InputEntry, trimmed: &str) -> Result<(), String> {
    let (key, value) = trimmed
        .split_once('=')
        .ok_or_else(|| format!("expected key=value, found '{trimmed}'"))?;
    let (key, value) = (key.trim(), value.trim());
    let once = |slot: &mut Option<String>, value: String| match slot {
        Some(_) => Err(format!(
            "a second {key}= for the entry of line {}; give it once",
            entry.line
        )),
        None => {
            *slot = Some(value);
            Ok(())
        }
    };
    match key {
        "out" => once(&mut entry.out, file_name_inside(key, value)?),
        "dir" => once(&mut entry.dir, inside(key, value)?),
        "header" => {
            let (name, value) = parse_header_line(value)?;
            if name.eq_ignore_ascii_case("proxy-authorization") {
                return Err(
                    "header=Proxy-Authorization is for the proxy, not the server: give \
                            the proxy's credentials with -H or in the proxy's URL"
                        .into(),
                );
            }
            entry.headers.push((name, value));
            Ok(())
        }
        "checksum" => once(&mut entry.checksum, parse_sha256(value)?),
        other => Err(format!(
            "unknown option '{other}' (rangeget understands out=, dir=, header= and checksum=)"
        )),
    }
}

/// Every entry of a whole list (see [`ListReader`]).
pub fn parse_input_file(text: &str) -> Result<Vec<InputEntry>, String> {
    let mut reader = ListReader::new();
    let mut entries = Vec::new();
    for line in text.lines() {
        entries.extend(reader.line(line)?);
    }
    entries.extend(reader.end()?);
    Ok(entries)
}

/// `out=` and `dir=` name places inside the output directory (`-d`): a
/// list cannot send a file elsewhere (the component is granted `-d` alone,
/// so such an entry could only fail, after others were fetched). Nor may
/// they hide what they name behind control or invisible characters.
fn inside(key: &str, value: &str) -> Result<String, String> {
    check_path_inside(value).map_err(|fault| fault_message(key, value, &fault))?;
    Ok(value.to_string())
}

/// `out=`: a path inside `-d` (see [`inside`]) that ends with a file name,
/// not `.` or `/`: a directory there would be taken for a file that exists.
fn file_name_inside(key: &str, value: &str) -> Result<String, String> {
    check_file_path_inside(value).map_err(|fault| fault_message(key, value, &fault))?;
    Ok(value.to_string())
}

/// `key=value` and what is wrong with it; a value hiding characters is not
/// repeated, as printing it would hide them again.
fn fault_message(key: &str, value: &str, fault: &PathFault) -> String {
    match fault {
        PathFault::Hidden(_) => format!("{key}= {}", fault.explain()),
        _ => format!("{key}={value} {}", fault.explain()),
    }
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
    fn a_line_of_tab_separated_urls_is_one_entry_with_mirrors() {
        let text = "http://h/a.iso\thttps://m1/a.iso\t\thttp://m2/a.iso\thttp://h/a.iso\n\
                    \tout=alpha.iso\n  dir=isos\nhttp://h/b.iso\n\thttp://x/ignored\t\n";
        let error = parse_input_file(text).unwrap_err();
        assert!(error.starts_with("line 5"), "{error}");
        let text = text.replace(
            "\thttp://x/ignored\t\n",
            "https://h/c.iso\t https://m/c.iso \n",
        );
        assert_eq!(
            parse_input_file(&text).unwrap(),
            [
                InputEntry {
                    url: "http://h/a.iso".into(),
                    mirrors: vec!["https://m1/a.iso".into(), "http://m2/a.iso".into()],
                    line: 1,
                    out: Some("alpha.iso".into()),
                    dir: Some("isos".into()),
                    ..InputEntry::default()
                },
                InputEntry {
                    url: "http://h/b.iso".into(),
                    line: 4,
                    ..InputEntry::default()
                },
                InputEntry {
                    url: "https://h/c.iso".into(),
                    mirrors: vec!["https://m/c.iso".into()],
                    line: 5,
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
            ("http://h/a\nhttp://h/b\tftp://m/b\n", "line 2"),
            ("http://h/a\nhttp://h/b\tm/b\n", "line 2"),
            ("http://h/a\n  dir=/etc\n", "line 2"),
            ("http://h/a\n  out=../../x.bin\n", "line 2"),
            ("http://h/a\n  dir=sub/../../up\n", "line 2"),
            ("http://h/a\n  out=\n", "line 2"),
            ("http://h/a\n  out=.\n", "line 2"),
            ("http://h/a\n  out=sub/\n", "line 2"),
            ("http://h/a\n  out=a\u{202E}txt.exe\n", "line 2"),
            ("http://h/a\n  dir=x\u{1b}[2J\n", "line 2"),
            ("http://h/a\n  out=\u{200B}a.bin\n", "line 2"),
            (
                "http://h/a\n  checksum=sha-256={0}\n  checksum=sha-256={0}\n",
                "line 3",
            ),
            ("http://h/a\n  out=x\n  out=y\n", "line 3"),
            (
                "http://h/a\n  header=Proxy-Authorization: Basic eA==\n",
                "line 2",
            ),
        ] {
            let sum = "ab".repeat(32);
            let text = text.replace("{0}", &sum);
            let text = text.as_str();
            let error = parse_input_file(text).unwrap_err();
            assert!(error.starts_with(line), "{text:?}: {error}");
        }
        assert!(parse_input_file("# nothing\n").is_err());
    }
}
