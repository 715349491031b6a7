//! Choosing a safe local file name when the user gave none: from the
//! server's `Content-Disposition` (RFC 6266), else from the URL path. Every
//! name passes the sanitiser, so no server can make rangeget write outside
//! its output directory.

/// The name to save as: `Content-Disposition`'s if it has a usable one,
/// otherwise the URL's.
pub fn choose_file_name(content_disposition: Option<&str>, url: &str) -> String {
    content_disposition
        .and_then(file_name_from_content_disposition)
        .unwrap_or_else(|| file_name_from_url(url))
}

/// The sanitised file name a `Content-Disposition` value carries.
/// `filename*` (RFC 8187 encoded) wins over `filename`, as RFC 6266 says.
/// A name with directories keeps only its last part (RFC 6266 §4.3, as
/// curl's `-J` and wget do): `models/v2/weights.bin` is `weights.bin`.
pub fn file_name_from_content_disposition(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for (name, raw) in parameters(value) {
        match name.to_ascii_lowercase().as_str() {
            "filename*" => extended = decode_ext_value(&raw),
            "filename" => plain = Some(raw),
            _ => {}
        }
    }
    let usable = |name: String| sanitize_file_name(last_path_part(&name));
    extended.and_then(usable).or_else(|| plain.and_then(usable))
}

/// What follows the last `/` or `\\` of a name that carries a path.
fn last_path_part(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// `type; name=value; name="quoted \"value\""` → the (name, value) pairs.
fn parameters(value: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = match value.split_once(';') {
        Some((_, params)) => params,
        None => return pairs,
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let name = name.trim().to_string();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        pairs.push((name, value));
        rest = remaining;
    }
    pairs
}

/// RFC 8187 `charset'language'percent-encoded`; UTF-8 and ISO-8859-1 only.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?.to_ascii_lowercase();
    let _language = parts.next()?;
    let bytes = percent_decode_bytes(parts.next()?);
    match charset.as_str() {
        "utf-8" => String::from_utf8(bytes).ok(),
        "iso-8859-1" => Some(bytes.into_iter().map(char::from).collect()),
        _ => None,
    }
}

/// The last path segment of `url`, percent-decoded and sanitised; falls
/// back to `download` when nothing usable is left.
pub fn file_name_from_url(url: &str) -> String {
    let parsed = url::Url::parse(url).ok();
    let segment = parsed
        .as_ref()
        .and_then(|u| u.path_segments())
        .and_then(|mut s| s.next_back().map(str::to_string))
        .unwrap_or_default();
    let decoded = percent_decode(&segment);
    sanitize_file_name(&decoded).unwrap_or_else(|| "download".to_string())
}

/// Makes a server- or URL-supplied name safe to create inside the output
/// directory: no separators, no control characters, no `.`/`..`, no hidden
/// dot-files, and no characters that reorder or hide text
/// (`evil\u{202E}txt.exe` would show as `evilexe.txt`). `None` when nothing
/// is left.
pub fn sanitize_file_name(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .filter(|&c| !is_hidden(c))
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return None;
    }
    Some(shorten_keeping_extension(cleaned, MAX_NAME_BYTES))
}

/// Why a relative path that a list (`out=`, `dir=`) or a metalink file's
/// `name` gives is refused. These names come from files the user may not
/// have written, so they are checked, never repaired: a repaired name would
/// not be the one the file asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathFault {
    /// Empty, absolute or with a `..` part: it would leave the output
    /// directory (`-d`), the only one the component is granted.
    Leaves,
    /// A control or invisible character, which would hide what it says.
    Hidden(char),
    /// It ends with `/` or `.`, naming a directory where a file is meant:
    /// a directory there would be taken for a file that exists.
    NotAFile,
    /// (Strict rules only) an empty part (`a//b`), a hidden part (`.x`), a
    /// part taken for an option (`-x`), a `\` (a separator on Windows) or a
    /// part too long for a file name once the working suffixes are added.
    OddPart(String),
}

impl PathFault {
    /// What is wrong and what to do, to follow the name of what was given.
    pub fn explain(&self) -> String {
        match self {
            PathFault::Leaves => "is not a path inside the output directory (-d); \
                                  give a relative path without '..'"
                .to_string(),
            PathFault::Hidden(c) => format!(
                "holds the control or invisible character U+{:04X}, which would hide what \
                 the name says; remove it",
                u32::from(*c)
            ),
            PathFault::NotAFile => "names a directory, not a file; give the file's name".into(),
            PathFault::OddPart(why) => format!("has {why}; rename it"),
        }
    }
}

/// A relative path that stays inside the output directory and shows what
/// it names (the rules for `out=` and `dir=`).
pub fn check_path_inside(value: &str) -> Result<(), PathFault> {
    let leaves = value.starts_with('/') || value.split('/').any(|part| part == "..");
    if value.is_empty() || leaves {
        return Err(PathFault::Leaves);
    }
    match value.chars().find(|&c| c.is_control() || is_hidden(c)) {
        Some(c) => Err(PathFault::Hidden(c)),
        None => Ok(()),
    }
}

/// [`check_path_inside`], and the path ends with a file name.
pub fn check_file_path_inside(value: &str) -> Result<(), PathFault> {
    check_path_inside(value)?;
    let last = value.rsplit('/').next().unwrap_or_default();
    if last.is_empty() || last == "." {
        return Err(PathFault::NotAFile);
    }
    Ok(())
}

/// [`check_file_path_inside`], and every part is a plain name: for paths a
/// user did not type (a metalink's), where an odd part is more likely a
/// trap than a wish. Hidden parts (`.ssh/x`) and parts like `-rf` are
/// refused, as are empty and `.` parts, so two spellings of one path cannot
/// pass as two files.
pub fn check_plain_file_path(value: &str) -> Result<(), PathFault> {
    check_file_path_inside(value)?;
    if value.contains('\\') {
        return Err(PathFault::OddPart("a '\\', a separator on Windows".into()));
    }
    for part in value.split('/') {
        let why = if part.is_empty() || part == "." {
            "an empty or '.' part".to_string()
        } else if part.starts_with('.') {
            format!("the hidden part '{part}'")
        } else if part.starts_with('-') {
            format!("the part '{part}', which a command would take for an option")
        } else if part.len() > MAX_NAME_BYTES {
            format!("a part longer than {MAX_NAME_BYTES} bytes")
        } else if part.trim() != part {
            format!("the part '{part}', with spaces at an end")
        } else {
            continue;
        };
        return Err(PathFault::OddPart(why));
    }
    Ok(())
}

/// Leaves room for the `.part.meta.tmp` suffix within the common 255-byte
/// limit on a file name.
const MAX_NAME_BYTES: usize = 200;
/// An extension longer than this is not one worth keeping whole.
const MAX_EXTENSION_BYTES: usize = 16;

/// Characters that change how a name displays without showing themselves:
/// Unicode's directional formatting characters and marks, which reorder
/// text, and the zero-width and invisible format characters (U+200B,
/// U+FEFF, the soft hyphen...), which make two names look alike.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
    )
}

/// `name` cut to at most `max` bytes, at a character boundary; a short
/// extension (`.tar.gz` keeps `.gz`) survives the cut, so the file still
/// opens with the right program.
fn shorten_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let extension = name
        .rfind('.')
        .map(|dot| &name[dot..])
        .filter(|ext| ext.len() <= MAX_EXTENSION_BYTES);
    let extension = extension.unwrap_or("");
    let mut end = max - extension.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{extension}", &name[..end])
}

fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s)).into_owned()
}

fn percent_decode_bytes(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn takes_the_last_segment() {
        assert_eq!(file_name_from_url("http://h/a/b/file.iso?x=1"), "file.iso");
        assert_eq!(
            file_name_from_url("http://h/a/my%20file.txt"),
            "my file.txt"
        );
        assert_eq!(file_name_from_url("http://h/"), "download");
    }

    #[test]
    fn never_escapes_the_directory() {
        assert_eq!(
            file_name_from_url("http://h/a/..%2F..%2Fetc%2Fpasswd"),
            "_.._etc_passwd"
        );
        assert_eq!(sanitize_file_name(".."), None);
        assert_eq!(sanitize_file_name("../x"), Some("_x".into()));
        assert_eq!(sanitize_file_name("a\nb"), Some("a_b".into()));
    }

    #[test]
    fn content_disposition_names_are_used_and_sanitised() {
        let cd = |v| file_name_from_content_disposition(v);
        assert_eq!(
            cd("attachment; filename=report.pdf"),
            Some("report.pdf".into())
        );
        assert_eq!(
            cd("attachment; filename=\"my \\\"big\\\" file.iso\""),
            Some("my \"big\" file.iso".into())
        );
        assert_eq!(
            cd("attachment; filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve%20file.txt"),
            Some("naïve file.txt".into())
        );
        assert_eq!(
            cd("attachment; filename*=iso-8859-1'en'%A3%20rates.txt"),
            Some("£ rates.txt".into())
        );
        assert_eq!(
            cd("attachment; filename=\"../../etc/passwd\""),
            Some("passwd".into())
        );
        assert_eq!(
            cd("attachment; filename*=UTF-8''models%2Fv2%2Fweights.bin"),
            Some("weights.bin".into())
        );
        assert_eq!(
            cd("attachment; filename=\"C:\\\\temp\\\\report.pdf\""),
            Some("report.pdf".into())
        );
        // Nothing after the last separator: the plain name, or none.
        assert_eq!(
            cd("attachment; filename=\"plain.txt\"; filename*=UTF-8''dir%2F"),
            Some("plain.txt".into())
        );
        assert_eq!(cd("attachment; filename=\"..\""), None);
        assert_eq!(cd("inline"), None);
        assert_eq!(
            choose_file_name(Some("attachment"), "http://h/a/b.bin"),
            "b.bin"
        );
        assert_eq!(
            choose_file_name(Some("attachment; filename=x.bin"), "http://h/a/b.bin"),
            "x.bin"
        );
    }

    #[test]
    fn hidden_characters_are_stripped_and_long_names_keep_their_extension() {
        assert_eq!(
            sanitize_file_name("evil\u{202E}txt.exe"),
            Some("eviltxt.exe".into())
        );
        // Zero-width characters would make two names look alike.
        assert_eq!(
            sanitize_file_name("\u{FEFF}model\u{200B}.bin"),
            Some("model.bin".into())
        );
        let long = format!("{}.safetensors", "x".repeat(300));
        let short = sanitize_file_name(&long).unwrap();
        assert_eq!(short.len(), MAX_NAME_BYTES);
        assert!(short.ends_with("xx.safetensors"), "{short}");
        let multibyte = format!("{}.txt", "é".repeat(150));
        let short = sanitize_file_name(&multibyte).unwrap();
        assert!(short.len() <= MAX_NAME_BYTES && short.ends_with("é.txt"));
    }

    proptest! {
        #[test]
        fn content_disposition_never_yields_an_escaping_name(value in ".*") {
            if let Some(n) = file_name_from_content_disposition(&value) {
                prop_assert!(!n.contains('/') && !n.contains('\\') && !n.starts_with('.'));
            }
        }

        #[test]
        fn plain_file_paths_stay_inside_and_show_what_they_name(path in "[a./\\\\\u{202E}\n-]{0,8}") {
            if check_plain_file_path(&path).is_ok() {
                prop_assert!(!path.starts_with('/') && !path.ends_with('/'));
                for part in path.split('/') {
                    prop_assert!(!part.is_empty() && !part.starts_with(['.', '-']));
                }
                prop_assert!(!path.chars().any(|c| c.is_control() || is_hidden(c) || c == '\\'));
            }
        }

        #[test]
        fn sanitised_names_are_plain_file_names(name in ".*") {
            if let Some(n) = sanitize_file_name(&name) {
                prop_assert!(!n.contains('/') && !n.contains('\\'));
                prop_assert!(!n.starts_with('.'));
                prop_assert!(!n.chars().any(|c| c.is_control() || is_hidden(c)));
                prop_assert!(!n.is_empty() && n.len() <= MAX_NAME_BYTES);
            }
        }
    }
}
