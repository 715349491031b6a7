//! `-i FILE`: many downloads from one list, in aria2's format: a URL per
//! line, optionally followed by indented `out=NAME` / `dir=DIR` lines that
//! apply to it. Blank lines and `#` comments are ignored.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputEntry {
    pub url: String,
    pub out: Option<String>,
    pub dir: Option<String>,
}

pub fn parse_input_file(text: &str) -> Result<Vec<InputEntry>, String> {
    let mut entries: Vec<InputEntry> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let where_ = || format!("line {}", number + 1);
        if line.starts_with([' ', '\t']) {
            let entry = entries
                .last_mut()
                .ok_or_else(|| format!("{}: an option line before any URL", where_()))?;
            let (key, value) = trimmed
                .split_once('=')
                .ok_or_else(|| format!("{}: expected key=value, found '{trimmed}'", where_()))?;
            match key.trim() {
                "out" => entry.out = Some(value.trim().to_string()),
                "dir" => entry.dir = Some(value.trim().to_string()),
                other => {
                    return Err(format!(
                        "{}: unknown option '{other}' (rangeget understands out= and dir=)",
                        where_()
                    ))
                }
            }
        } else {
            // aria2 allows several tab-separated mirrors; rangeget takes the first.
            let url = trimmed.split('\t').next().unwrap_or(trimmed).to_string();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "{}: '{url}' is not an http:// or https:// URL",
                    where_()
                ));
            }
            entries.push(InputEntry {
                url,
                out: None,
                dir: None,
            });
        }
    }
    if entries.is_empty() {
        return Err("the input file lists no URL".to_string());
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_urls_with_their_options() {
        let text =
            "# nightly images\nhttp://h/a.iso\n  out=alpha.iso\n\nhttps://h/b.iso\n\tdir=sub\n";
        assert_eq!(
            parse_input_file(text).unwrap(),
            [
                InputEntry {
                    url: "http://h/a.iso".into(),
                    out: Some("alpha.iso".into()),
                    dir: None
                },
                InputEntry {
                    url: "https://h/b.iso".into(),
                    out: None,
                    dir: Some("sub".into())
                },
            ]
        );
    }

    #[test]
    fn reports_the_line_of_a_mistake() {
        assert!(parse_input_file("  out=x\n")
            .unwrap_err()
            .contains("line 1"));
        assert!(parse_input_file("http://h/a\n  speed=3\n")
            .unwrap_err()
            .contains("line 2"));
        assert!(parse_input_file("ftp://h/a\n")
            .unwrap_err()
            .contains("line 1"));
        assert!(parse_input_file("# nothing\n").is_err());
    }
}
