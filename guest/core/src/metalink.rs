//! Metalink input: the files a Metalink 4 document (RFC 5854, `.meta4`)
//! or a Metalink 3 one (`.metalink`) describes, each with its mirrors in
//! the order to try them, its size and the hashes to check it by.
//!
//! A metalink usually comes from someone else, so everything in it is
//! checked before anything is fetched, and a mistake is an error naming
//! the file entry (its place, name and line): a name that would leave the
//! output directory or hide what it says, a size or hash that cannot be
//! right, two entries writing one file. What rangeget cannot use is
//! skipped, not refused: mirrors of other schemes (ftp, BitTorrent's
//! `<metaurl>`) and hashes of types it does not know, unless nothing usable
//! is left for a file. Nothing here fetches or verifies: [`Hasher`] is for
//! the engine, which feeds it the bytes.

use std::collections::HashMap;

use roxmltree::{Document, Node, ParsingOptions};

use crate::naming::{check_plain_file_path, PathFault};
pub use crate::pieces::{FileHash, HashKind, Hasher, PieceHashes};

/// The namespace of Metalink 4 (RFC 5854).
const METALINK4: &str = "urn:ietf:params:xml:ns:metalink";
/// The namespace of Metalink 3.
const METALINK3: &str = "http://www.metalinker.org/";

/// The longest metalink read: a list of a hundred thousand files with
/// piece hashes fits; a larger text is more likely a mistake or an attack
/// on memory (the parsed tree is a few times the text).
pub const MAX_TEXT_BYTES: usize = 64 << 20;
/// The most XML nodes (elements, text, comments) a metalink may hold: the
/// parsed tree costs tens of bytes a node, and 64 MiB of `<a/>` would
/// make sixteen million. A hundred thousand files with a few mirrors and
/// hashes each need a few million.
const MAX_NODES: u32 = 8_000_000;
/// The most files one metalink may list.
pub const MAX_FILES: usize = 100_000;
/// The most `<url>`s one file may have, of any scheme.
pub const MAX_URLS_PER_FILE: usize = 1_000;

/// What a metalink describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metalink {
    /// In document order; at least one, no two with one name.
    pub files: Vec<MetalinkFile>,
}

/// One file of a metalink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetalinkFile {
    /// Where to write it, relative to the output directory; may hold `/`
    /// (RFC 5854 allows subdirectories), never `..`, an absolute path, an
    /// empty, hidden (`.x`) or option-like (`-x`) part, nor control or
    /// invisible characters.
    pub name: String,
    /// Its length in bytes, when given.
    pub size: Option<u64>,
    /// The strongest whole-file hash given of a kind rangeget knows.
    pub hash: Option<FileHash>,
    /// The strongest piece hashes given of a kind rangeget knows.
    pub pieces: Option<PieceHashes>,
    /// Its http(s) sources, most preferred first (RFC 5854 `priority`, lower
    /// first; Metalink 3 `preference`, higher first; those without one
    /// last), in document order among equals; at least one, none twice.
    pub urls: Vec<String>,
}

/// The spellings [`HashKind::name`] gives, for messages.
const SUPPORTED_HASHES: &str = "md5, sha-1, sha-256, sha-384, sha-512";

/// Which metalink a document is, and so where its parts are.
#[derive(Clone, Copy)]
struct Format {
    namespace: Option<&'static str>,
    /// Metalink 3: files in `<files>`, hashes in `<verification>`, urls in
    /// `<resources>` with a `preference`.
    three: bool,
}

/// Every file of a metalink document (see the module's doc).
pub fn parse_metalink(text: &str) -> Result<Metalink, String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "the metalink is {} bytes, more than the {} MiB rangeget reads; split it into \
             several metalinks",
            text.len(),
            MAX_TEXT_BYTES >> 20
        ));
    }
    // A DTD is refused: a metalink needs none, and entities are a way to
    // make a small text expand into a huge one.
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
    };
    let document = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => format!(
            "the metalink holds more than {MAX_NODES} XML nodes, more than rangeget reads; \
             split it into several metalinks"
        ),
        e => format!("the metalink is not well-formed XML: {e}"),
    })?;
    let root = document.root_element();
    let format = format_of(root)?;
    let nodes: Vec<Node> = if format.three {
        kids(root, format, "files")
            .flat_map(|files| kids(files, format, "file"))
            .collect()
    } else {
        kids(root, format, "file").collect()
    };
    if nodes.is_empty() {
        return Err("the metalink lists no <file>; there is nothing to download".into());
    }
    if nodes.len() > MAX_FILES {
        return Err(format!(
            "the metalink lists {} files, more than the {MAX_FILES} rangeget takes at once; \
             split it into several metalinks",
            nodes.len()
        ));
    }
    let mut files = Vec::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        let file = parse_file(*node, format).map_err(|why| entry(index, *node, &why))?;
        files.push(file);
    }
    check_names_apart(&files, &nodes)?;
    Ok(Metalink { files })
}

/// The format of a document whose root is `root`; an error if it is no
/// metalink.
fn format_of(root: Node) -> Result<Format, String> {
    let tag = root.tag_name();
    let namespace = tag.namespace();
    match (namespace, tag.name()) {
        (Some(METALINK4), "metalink") => Ok(Format {
            namespace: Some(METALINK4),
            three: false,
        }),
        (Some(METALINK3), "metalink") => Ok(Format {
            namespace: Some(METALINK3),
            three: true,
        }),
        // Some Metalink 3 generators leave out the namespace.
        (None, "metalink")
            if root
                .attribute("version")
                .is_some_and(|v| v.starts_with('3')) =>
        {
            Ok(Format {
                namespace: None,
                three: true,
            })
        }
        (namespace, name) => Err(format!(
            "not a metalink: the document is a <{name}> in namespace {}; expected <metalink> in \
             {METALINK4} (Metalink 4, .meta4) or {METALINK3} (Metalink 3)",
            namespace.map_or("(none)".to_string(), shown)
        )),
    }
}

/// `node`'s child elements called `name` in the metalink's namespace;
/// elements of other namespaces (extensions RFC 5854 allows) are not.
fn kids<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    format: Format,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children().filter(move |kid| {
        kid.is_element()
            && kid.tag_name().name() == name
            && kid.tag_name().namespace() == format.namespace
    })
}

/// The elements called `name` where the format keeps them in a file:
/// directly in it (Metalink 4) or in its `holder` (Metalink 3).
fn file_kids<'a, 'input: 'a>(
    file: Node<'a, 'input>,
    format: Format,
    holder: &'static str,
    name: &'static str,
) -> Vec<Node<'a, 'input>> {
    if format.three {
        kids(file, format, holder)
            .flat_map(|holder| kids(holder, format, name))
            .collect()
    } else {
        kids(file, format, name).collect()
    }
}

/// "metalink file 3 "a.iso" (line 40): why": which entry a mistake is in.
/// The name is quoted with its control and invisible characters escaped.
fn entry(index: usize, node: Node, why: &str) -> String {
    let line = node.document().text_pos_at(node.range().start).row;
    let name = match node.attribute("name") {
        Some(name) => format!(" {name:?}"),
        None => String::new(),
    };
    format!("metalink file {}{name} (line {line}): {why}", index + 1)
}

/// One `<file>`; a mistake is said without naming the entry.
fn parse_file(node: Node, format: Format) -> Result<MetalinkFile, String> {
    let name = node
        .attribute("name")
        .ok_or("has no name; give it one: <file name=\"...\">")?;
    check_plain_file_path(name).map_err(|fault| name_fault(&fault))?;
    let size = parse_size(node, format)?;
    let hash = strongest_file_hash(&file_kids(node, format, "verification", "hash"))?;
    let pieces = strongest_pieces(
        &file_kids(node, format, "verification", "pieces"),
        format,
        size,
    )?;
    let urls = ordered_urls(&file_kids(node, format, "resources", "url"), format)?;
    Ok(MetalinkFile {
        name: name.to_string(),
        size,
        hash,
        pieces,
        urls,
    })
}

/// Why a name is refused; the name itself is in the entry's label.
fn name_fault(fault: &PathFault) -> String {
    let what = match fault {
        PathFault::Leaves => "is not a path inside the output directory (-d); the metalink \
                              must give a relative path without '..'"
            .to_string(),
        fault => fault.explain(),
    };
    format!("its name {what}")
}

/// `<size>`, if given.
fn parse_size(node: Node, format: Format) -> Result<Option<u64>, String> {
    let Some(size) = kids(node, format, "size").next() else {
        return Ok(None);
    };
    let text = size.text().unwrap_or_default().trim();
    text.parse::<u64>().map(Some).map_err(|_| {
        format!(
            "<size> {} is not a number of bytes; the metalink must give a whole number",
            shown(text)
        )
    })
}

/// The strongest of the whole-file `<hash>`es of a kind rangeget knows;
/// others are skipped. Each known one must be a digest of its kind.
fn strongest_file_hash(nodes: &[Node]) -> Result<Option<FileHash>, String> {
    let mut best: Option<FileHash> = None;
    for node in nodes {
        let Some(kind) = node.attribute("type").and_then(HashKind::from_name) else {
            continue;
        };
        let digest = digest_of(*node, kind)?;
        if best.as_ref().is_none_or(|best| kind > best.kind) {
            best = Some(FileHash { kind, digest });
        }
    }
    Ok(best)
}

/// The digest a `<hash>` of `kind` holds, from hex.
fn digest_of(node: Node, kind: HashKind) -> Result<Vec<u8>, String> {
    let text = node.text().unwrap_or_default().trim();
    from_hex(text, kind.digest_len()).ok_or_else(|| {
        format!(
            "<hash type=\"{}\"> {} is not a {} digest ({} hex digits); the metalink is \
             damaged: get it again",
            kind.name(),
            shown(text),
            kind.name(),
            kind.digest_len() * 2
        )
    })
}

/// The strongest `<pieces>` of a kind rangeget knows. Pieces only of kinds
/// it does not know are refused: the metalink asks for a check rangeget
/// cannot make.
fn strongest_pieces(
    nodes: &[Node],
    format: Format,
    size: Option<u64>,
) -> Result<Option<PieceHashes>, String> {
    let mut best: Option<PieceHashes> = None;
    let mut unknown = None;
    for node in nodes {
        let kind_name = node.attribute("type").unwrap_or_default();
        let Some(kind) = HashKind::from_name(kind_name) else {
            unknown = Some(kind_name);
            continue;
        };
        let pieces = parse_pieces(*node, format, kind, size)?;
        if best.as_ref().is_none_or(|best| kind > best.kind) {
            best = Some(pieces);
        }
    }
    match (best, unknown) {
        (None, Some(kind_name)) => Err(format!(
            "<pieces type={}> is not a hash rangeget can check (it knows \
             {SUPPORTED_HASHES}); give pieces of one of those, or leave them out",
            shown(kind_name)
        )),
        (best, _) => Ok(best),
    }
}

/// One `<pieces>` of a known `kind`: as many digests as `size` has pieces,
/// in order (Metalink 3 numbers them with `piece`).
fn parse_pieces(
    node: Node,
    format: Format,
    kind: HashKind,
    size: Option<u64>,
) -> Result<PieceHashes, String> {
    let length_text = node.attribute("length").unwrap_or_default();
    let length: u64 = length_text.trim().parse().map_err(|_| {
        format!(
            "<pieces length={}> is not a number of bytes; give one",
            shown(length_text)
        )
    })?;
    if length == 0 {
        return Err("<pieces length=\"0\">: a piece must hold at least one byte".into());
    }
    let size = size.ok_or(
        "<pieces> without a <size>: the pieces cannot be placed; the metalink must give the \
         file's <size>",
    )?;
    let mut numbered = Vec::new();
    for (position, hash) in kids(node, format, "hash").enumerate() {
        let number = match hash.attribute("piece") {
            Some(piece) => piece.trim().parse::<u64>().map_err(|_| {
                format!(
                    "<hash piece={}> is not a piece number; number them from 0",
                    shown(piece)
                )
            })?,
            None => position as u64,
        };
        numbered.push((number, digest_of(hash, kind)?));
    }
    numbered.sort_by_key(|(number, _)| *number);
    if numbered
        .iter()
        .enumerate()
        .any(|(i, (n, _))| *n != i as u64)
    {
        return Err(
            "<pieces> numbers its hashes other than 0, 1, 2... each once; \
                    the metalink is damaged: get it again"
                .into(),
        );
    }
    let expected = size.div_ceil(length);
    if numbered.len() as u64 != expected {
        return Err(format!(
            "<pieces length=\"{length}\"> has {} hashes, but {size} bytes make {expected} \
             pieces of that length; the metalink is inconsistent: get it again",
            numbered.len()
        ));
    }
    let digests = numbered.into_iter().map(|(_, digest)| digest).collect();
    Ok(PieceHashes {
        kind,
        length,
        digests,
    })
}

/// The http(s) `<url>`s, most preferred first; others are skipped, but
/// one must be left.
fn ordered_urls(nodes: &[Node], format: Format) -> Result<Vec<String>, String> {
    if nodes.len() > MAX_URLS_PER_FILE {
        return Err(format!(
            "has {} <url>s, more than the {MAX_URLS_PER_FILE} rangeget takes for one file; \
             keep the best of them",
            nodes.len()
        ));
    }
    let mut ranked: Vec<(u64, &str)> = Vec::new();
    for node in nodes {
        let url = node.text().unwrap_or_default().trim();
        if !is_http(url) || !http_by_type(*node, format) {
            continue;
        }
        url::Url::parse(url)
            .map_err(|e| format!("<url> {} is not a valid URL ({e})", shown(url)))?;
        ranked.push((rank(*node, format), url));
    }
    // Stable: equals keep the document's order.
    ranked.sort_by_key(|(rank, _)| *rank);
    let mut urls: Vec<String> = Vec::with_capacity(ranked.len());
    for (_, url) in ranked {
        if !urls.iter().any(|seen| seen == url) {
            urls.push(url.to_string());
        }
    }
    if urls.is_empty() {
        let skipped = match nodes.len() {
            0 => "no <url> at all".to_string(),
            n => format!("{n} skipped: other schemes, or a Metalink 3 type other than http"),
        };
        return Err(format!(
            "has no http:// or https:// <url> ({skipped}); rangeget fetches over HTTP only: \
             add an http(s) mirror"
        ));
    }
    Ok(urls)
}

/// Whether a Metalink 3 `<url>`'s `type`, if given, says it is a plain
/// http(s) source: `bittorrent` names a .torrent, which may well be an
/// http URL but is no mirror of the file.
fn http_by_type(node: Node, format: Format) -> bool {
    let kind = node.attribute("type").filter(|_| format.three);
    kind.is_none_or(|kind| kind.eq_ignore_ascii_case("http") || kind.eq_ignore_ascii_case("https"))
}

/// Whether `url` is one rangeget fetches (the scheme in any case).
fn is_http(url: &str) -> bool {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    scheme.is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
}

/// Where a `<url>` goes, lowest first: RFC 5854's `priority` (1 is the
/// most preferred) as it is; Metalink 3's `preference` (100 is the most
/// preferred) reversed; a URL without one (or an unreadable one, which
/// only orders) after all that have one.
fn rank(node: Node, format: Format) -> u64 {
    let (attribute, reversed) = match format.three {
        true => ("preference", true),
        false => ("priority", false),
    };
    let given = node
        .attribute(attribute)
        .and_then(|v| v.trim().parse::<u32>().ok());
    match (given, reversed) {
        (Some(value), false) => u64::from(value),
        (Some(value), true) => u64::from(u32::MAX - value),
        (None, _) => u64::MAX,
    }
}

/// No two files may be written to one path, nor may one file's name be a
/// directory another's passes through (`a` and `a/b`).
fn check_names_apart(files: &[MetalinkFile], nodes: &[Node]) -> Result<(), String> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        if let Some(first) = seen.insert(&file.name, index) {
            let why = format!(
                "the same name as file {}: both would write one file; the metalink must list \
                 each file once",
                first + 1
            );
            return Err(entry(index, nodes[index], &why));
        }
    }
    for (index, file) in files.iter().enumerate() {
        let directories = file.name.match_indices('/').map(|(at, _)| &file.name[..at]);
        for directory in directories {
            if let Some(&other) = seen.get(directory) {
                let why = format!(
                    "its name passes through {directory:?}, which file {} names as a file; \
                     rename one",
                    other + 1
                );
                return Err(entry(index, nodes[index], &why));
            }
        }
    }
    Ok(())
}

/// Text from the metalink as a message shows it: quoted, with control and
/// invisible characters escaped (they could rewrite the terminal or hide
/// what the text says), and cut short, as it may be huge.
fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{:?}...", &text[..end]),
        None => format!("{text:?}"),
    }
}

/// The bytes `text` spells in hex (either case), if it is `len` of them.
fn from_hex(text: &str, len: usize) -> Option<Vec<u8>> {
    if text.len() != len * 2 {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Metalink 4 document as a release page would publish it.
    fn release(pieces: &str) -> String {
        let sum = "ab".repeat(32);
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink" xmlns:x="urn:example:ext">
  <generator>MirrorBrain/2.19.0</generator>
  <origin dynamic="true">https://example.org/release.meta4</origin>
  <published>2024-05-01T12:00:00Z</published>
  <file name="distro-1.0.iso">
    <size>600000</size>
    <identity>Distro</identity>
    <version>1.0</version>
    <description>Installer image</description>
    <language>en</language>
    <os>Linux-x86_64</os>
    <hash type="md5">{md5}</hash>
    <hash type="sha-256">{sum}</hash>
    <hash type="tiger-tree">notahashwecanread</hash>
    {pieces}
    <x:url>http://extension.example/ignored</x:url>
    <url location="de" priority="2">http://de.example/distro-1.0.iso</url>
    <url location="us" priority="1">https://us.example/distro-1.0.iso</url>
    <url location="fr">http://fr.example/distro-1.0.iso</url>
    <url location="jp" priority="2">http://jp.example/distro-1.0.iso</url>
    <url priority="1">ftp://ftp.example/distro-1.0.iso</url>
    <url location="de" priority="3">http://de.example/distro-1.0.iso</url>
    <metaurl mediatype="torrent" priority="1">http://t.example/distro-1.0.iso.torrent</metaurl>
  </file>
  <file name="docs/README.txt">
    <size>12</size>
    <hash type="SHA-1">{sha1}</hash>
    <url>http://de.example/README.txt</url>
  </file>
</metalink>
"#,
            md5 = "cd".repeat(16),
            sha1 = "EF".repeat(20),
        )
    }

    fn three_pieces() -> String {
        let hashes: String = (0..3)
            .map(|i| format!("<hash>{}</hash>", format!("{i:02}").repeat(32)))
            .collect();
        format!(r#"<pieces length="262144" type="sha-256">{hashes}</pieces>"#)
    }

    #[test]
    fn reads_a_metalink_4_release() {
        let metalink = parse_metalink(&release(&three_pieces())).unwrap();
        let [iso, readme] = metalink.files.as_slice() else {
            panic!("{metalink:?}")
        };
        assert_eq!(iso.name, "distro-1.0.iso");
        assert_eq!(iso.size, Some(600_000));
        let hash = iso.hash.as_ref().unwrap();
        assert_eq!((hash.kind, hash.hex()), (HashKind::Sha256, "ab".repeat(32)));
        let pieces = iso.pieces.as_ref().unwrap();
        assert_eq!((pieces.kind, pieces.length), (HashKind::Sha256, 262_144));
        assert_eq!(pieces.digests, [vec![0; 32], vec![1; 32], vec![2; 32]]);
        // Priority 1, then 2 in document order, then none; ftp, the
        // torrent and the repeated de mirror dropped.
        assert_eq!(
            iso.urls,
            [
                "https://us.example/distro-1.0.iso",
                "http://de.example/distro-1.0.iso",
                "http://jp.example/distro-1.0.iso",
                "http://fr.example/distro-1.0.iso",
            ]
        );
        assert_eq!(
            readme,
            &MetalinkFile {
                name: "docs/README.txt".into(),
                size: Some(12),
                hash: Some(FileHash {
                    kind: HashKind::Sha1,
                    digest: vec![0xef; 20],
                }),
                pieces: None,
                urls: vec!["http://de.example/README.txt".into()],
            }
        );
    }

    #[test]
    fn reads_a_metalink_3_file() {
        let text = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" generator="Metalink Editor">
  <files>
    <file name="tool.tar.gz">
      <size>5</size>
      <verification>
        <hash type="md5">{md5}</hash>
        <hash type="sha1">{sha1}</hash>
        <pieces length="2" type="sha1">
          <hash piece="2">{p2}</hash><hash piece="0">{p0}</hash><hash piece="1">{p1}</hash>
        </pieces>
      </verification>
      <resources>
        <url type="ftp" location="us" preference="100">ftp://a.example/tool.tar.gz</url>
        <url type="http" location="us" preference="10">http://low.example/tool.tar.gz</url>
        <url preference="90">http://high.example/tool.tar.gz</url>
        <url type="bittorrent" preference="100">http://t.example/tool.torrent</url>
      </resources>
    </file>
  </files>
</metalink>"#,
            md5 = "00".repeat(16),
            sha1 = "11".repeat(20),
            p0 = "a0".repeat(20),
            p1 = "a1".repeat(20),
            p2 = "a2".repeat(20),
        );
        let metalink = parse_metalink(&text).unwrap();
        // Some generators leave out the namespace.
        let bare = text.replace(" xmlns=\"http://www.metalinker.org/\"", "");
        assert_eq!(parse_metalink(&bare), Ok(metalink.clone()));
        let [file] = metalink.files.as_slice() else {
            panic!("{metalink:?}")
        };
        assert_eq!(file.hash.as_ref().map(|h| h.kind), Some(HashKind::Sha1));
        let pieces = file.pieces.as_ref().unwrap();
        assert_eq!(
            pieces.digests,
            [vec![0xa0; 20], vec![0xa1; 20], vec![0xa2; 20]]
        );
        // The .torrent is an http URL, but type= says it is no mirror.
        assert_eq!(
            file.urls,
            [
                "http://high.example/tool.tar.gz",
                "http://low.example/tool.tar.gz",
            ]
        );
    }

    /// The error for `release` with `from` replaced by `to`.
    fn refusal(pieces: &str, from: &str, to: &str) -> String {
        let text = release(pieces);
        assert!(text.contains(from), "{from}");
        match parse_metalink(&text.replacen(from, to, 1)) {
            Ok(metalink) => panic!("{from} -> {to}: taken as {metalink:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn refuses_what_cannot_be_right_naming_the_entry() {
        let first = "metalink file 1 \"distro-1.0.iso\" (line 6): ";
        let second = "metalink file 2 \"docs/README.txt\" (line 26): ";
        let pieces = three_pieces();
        for (from, to, starts, says) in [
            ("<size>600000", "<size>600k", first, "not a number"),
            ("<size>12</size>", "<size>-1</size>", second, "not a number"),
            ("<size>600000</size>", "", first, "without a <size>"),
            (
                "length=\"262144\"",
                "length=\"0\"",
                first,
                "at least one byte",
            ),
            (
                "length=\"262144\"",
                "length=\"131072\"",
                first,
                "make 5 pieces",
            ),
            ("length=\"262144\"", "", first, "not a number of bytes"),
            (
                "262144\" type=\"sha-256\"",
                "262144\" type=\"tiger\"",
                first,
                "it knows md5, sha-1",
            ),
            (
                "0202</hash></pieces>",
                "02</hash></pieces>",
                first,
                "64 hex digits",
            ),
            (">abab", ">zbab", first, "not a sha-256 digest"),
            ("EFEF", "EF", second, "not a sha-1 digest (40 hex digits)"),
            (
                "http://de.example/README.txt",
                "ftp://x/README",
                second,
                "no http:// or https:// <url> (1 skipped",
            ),
            (
                "http://de.example/README.txt",
                "http://[x/",
                second,
                "not a valid URL",
            ),
            (
                "docs/README.txt",
                "distro-1.0.iso",
                "metalink file 2 \"distro-1.0.iso\"",
                "the same name as file 1",
            ),
            (
                "docs/README.txt",
                "distro-1.0.iso/README",
                "metalink file 2",
                "passes through \"distro-1.0.iso\"",
            ),
            (
                "docs/README.txt",
                "../README.txt",
                "metalink file 2",
                "without '..'",
            ),
            (
                "docs/README.txt",
                "/etc/passwd",
                "metalink file 2",
                "inside the output directory",
            ),
            (
                "docs/README.txt",
                "docs//README.txt",
                "metalink file 2",
                "empty or '.' part",
            ),
            (
                "docs/README.txt",
                "docs/./README.txt",
                "metalink file 2",
                "empty or '.' part",
            ),
            (
                "docs/README.txt",
                "docs/",
                "metalink file 2",
                "names a directory",
            ),
            (
                "docs/README.txt",
                ".ssh/authorized_keys",
                "metalink file 2",
                "hidden part",
            ),
            ("docs/README.txt", "-rf", "metalink file 2", "option"),
            (
                "docs/README.txt",
                "docs\\README.txt",
                "metalink file 2",
                "separator on Windows",
            ),
            (
                "docs/README.txt",
                "docs/README\u{202E}txt.exe",
                "metalink file 2 \"docs/README\\u{202e}txt.exe\"",
                "U+202E",
            ),
            (
                "docs/README.txt",
                "docs/x&#x85;y&#9;z",
                "metalink file 2 \"docs/x\\u{85}y\\tz\"",
                "U+0085",
            ),
            (
                " name=\"docs/README.txt\"",
                "",
                "metalink file 2 (line 26)",
                "has no name",
            ),
        ] {
            let error = refusal(&pieces, from, to);
            assert!(error.starts_with(starts), "{from} -> {to}: {error}");
            assert!(error.contains(says), "{from} -> {to}: {error}");
        }
    }

    #[test]
    fn refuses_what_is_no_metalink_or_too_big() {
        let cases = [
            ("", "not well-formed"),
            ("<metalink/>", "not a metalink"),
            ("<rss xmlns=\"urn:ietf:params:xml:ns:metalink\"/>", "<rss>"),
            (
                "<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\"/>",
                "no <file>",
            ),
            (
                "<!DOCTYPE metalink [<!ENTITY a \"aaaa\">]>\
                 <metalink xmlns=\"urn:ietf:params:xml:ns:metalink\"/>",
                "not well-formed",
            ),
        ];
        for (text, says) in cases {
            let error = parse_metalink(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
        let nodes = "<a/>".repeat(MAX_NODES as usize);
        let text = format!("<metalink xmlns=\"{METALINK4}\">{nodes}</metalink>");
        assert!(parse_metalink(&text).unwrap_err().contains("XML nodes"));
        let huge = " ".repeat(MAX_TEXT_BYTES + 1);
        assert!(parse_metalink(&huge).unwrap_err().contains("64 MiB"));
        let text = format!("<metalink xmlns=\"{METALINK4}\"><file name=\"x\"/></metalink>");
        assert!(parse_metalink(&text)
            .unwrap_err()
            .contains("no <url> at all"));
        let url = "<url>http://h/x</url>".repeat(MAX_URLS_PER_FILE + 1);
        let text =
            format!("<metalink xmlns=\"{METALINK4}\"><file name=\"x\">{url}</file></metalink>");
        assert!(parse_metalink(&text)
            .unwrap_err()
            .contains("more than the 1000"));
        let files: String = (0..=MAX_FILES)
            .map(|i| format!("<file name=\"f{i}\"><url>http://h/{i}</url></file>"))
            .collect();
        let text = format!("<metalink xmlns=\"{METALINK4}\">{files}</metalink>");
        assert!(parse_metalink(&text)
            .unwrap_err()
            .contains("more than the 100000"));
    }

    #[test]
    fn pieces_of_an_unknown_kind_beside_a_known_one_are_skipped() {
        let pieces = format!(
            r#"<pieces length="262144" type="tiger">{}</pieces>{}"#,
            "<hash>00</hash>",
            three_pieces()
        );
        let metalink = parse_metalink(&release(&pieces)).unwrap();
        let kind = metalink.files[0].pieces.as_ref().map(|p| p.kind);
        assert_eq!(kind, Some(HashKind::Sha256));
    }

    #[test]
    fn hash_kinds_read_both_spellings() {
        for (name, kind) in [
            ("md5", HashKind::Md5),
            ("SHA-1", HashKind::Sha1),
            ("sha1", HashKind::Sha1),
            ("sha-256", HashKind::Sha256),
            ("Sha256", HashKind::Sha256),
            ("sha-384", HashKind::Sha384),
            ("sha-512", HashKind::Sha512),
        ] {
            assert_eq!(HashKind::from_name(name), Some(kind));
            assert_eq!(HashKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(HashKind::from_name("tiger"), None);
    }

    #[test]
    fn the_hasher_gives_the_known_digests() {
        let digest = |kind, parts: &[&[u8]]| {
            let mut hasher = Hasher::new(kind);
            for part in parts {
                hasher.update(part);
            }
            let digest = hasher.finish();
            assert_eq!(digest.len(), kind.digest_len());
            crate::checksum::hex(&digest)
        };
        assert_eq!(
            digest(HashKind::Sha256, &[b"a", b"bc"]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest(HashKind::Md5, &[]),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            digest(HashKind::Sha1, &[b"abc"]),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert!(digest(HashKind::Sha384, &[b"abc"]).starts_with("cb00753f45a35e8b"));
        assert!(digest(HashKind::Sha512, &[b"abc"]).starts_with("ddaf35a193617aba"));
    }
}
