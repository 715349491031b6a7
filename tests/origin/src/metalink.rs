//! Metalink 4 documents (RFC 5854) describing an object of the origin, for
//! multi-source downloads: its size, SHA-256 digests of the whole object
//! and of each piece, and the URLs that serve it.

use sha2::{Digest, Sha256};

use crate::content::Content;

/// The Metalink 4 namespace (RFC 5854 §4).
pub const METALINK_NAMESPACE: &str = "urn:ietf:params:xml:ns:metalink";

/// Bytes generated at a time while hashing: whole 1 MiB pieces fit.
const HASH_BLOCK: usize = 1 << 20;

/// A Metalink 4 document for object `name` (version 0, as `/o/{name}`
/// serves it before any replacement) of `size` bytes, fetched from `urls`.
///
/// The document has one `<file name="{name}">` with `<size>`, a whole-object
/// `<hash type="sha-256">` when `whole_hash` is set, `<pieces
/// length="{piece_length}" type="sha-256">` with one `<hash>` per piece (the
/// last one shorter) when `piece_length` is given, and one `<url
/// priority="N">` per URL in order, from priority 1. Digests are of the
/// bytes `/o/{name}` serves ([`crate::expected_content`]); text is
/// XML-escaped, so URLs may carry `&`.
///
/// # Panics
/// If `piece_length` is `Some(0)`.
pub fn metalink(
    name: &str,
    size: u64,
    urls: &[String],
    piece_length: Option<u64>,
    whole_hash: bool,
) -> String {
    assert!(piece_length != Some(0), "a piece length must not be zero");
    let content = Content::of(name, 0);
    let mut whole = Sha256::new();
    let mut pieces = Vec::new();
    let mut piece = Sha256::new();
    let mut piece_filled = 0u64;
    let mut buffer = vec![0; HASH_BLOCK];
    let mut offset = 0u64;
    while offset < size {
        let mut len = (size - offset).min(HASH_BLOCK as u64);
        if let Some(length) = piece_length {
            len = len.min(length - piece_filled);
        }
        let block = &mut buffer[..len as usize];
        content.fill(offset, block);
        if whole_hash {
            whole.update(&*block);
        }
        if let Some(length) = piece_length {
            piece.update(&*block);
            piece_filled += len;
            if piece_filled == length || offset + len == size {
                pieces.push(hex(&std::mem::take(&mut piece).finalize()));
                piece_filled = 0;
            }
        }
        offset += len;
    }

    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml += &format!("<metalink xmlns=\"{METALINK_NAMESPACE}\">\n");
    xml += "  <generator>rangeget-test-origin</generator>\n";
    xml += &format!("  <file name=\"{}\">\n", escape(name));
    xml += &format!("    <size>{size}</size>\n");
    if whole_hash {
        xml += &format!(
            "    <hash type=\"sha-256\">{}</hash>\n",
            hex(&whole.finalize())
        );
    }
    if let Some(length) = piece_length {
        xml += &format!("    <pieces length=\"{length}\" type=\"sha-256\">\n");
        for digest in &pieces {
            xml += &format!("      <hash>{digest}</hash>\n");
        }
        xml += "    </pieces>\n";
    }
    for (priority, url) in (1..).zip(urls) {
        xml += &format!("    <url priority=\"{priority}\">{}</url>\n", escape(url));
    }
    xml += "  </file>\n</metalink>\n";
    xml
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Escapes text for an XML attribute or element.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expected_content;

    /// The text of every `<tag …>…</tag>` in `xml`, in order.
    fn elements<'a>(xml: &'a str, open: &str, close: &str) -> Vec<&'a str> {
        xml.split(open)
            .skip(1)
            .map(|rest| {
                let body = &rest[rest.find('>').unwrap() + 1..];
                &body[..body.find(close).unwrap()]
            })
            .collect()
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    #[test]
    fn piece_and_whole_digests_are_those_of_the_object() {
        let size = 2 * 1024 * 1024 + 12_345;
        let length = 512 * 1024;
        let urls = ["http://127.0.0.1:1/o/m.bin?size=1&fault=throttle&rate=4M".to_owned()];
        let xml = metalink("m.bin", size, &urls, Some(length), true);
        let object = expected_content("m.bin", 0, size);
        let pieces: Vec<String> = object.chunks(length as usize).map(sha256_hex).collect();
        assert_eq!(pieces.len(), 5);
        let hashes = elements(&xml, "<hash", "</hash>");
        assert_eq!(hashes[0], sha256_hex(&object), "the whole-object hash");
        assert_eq!(hashes[1..], pieces);
        assert!(xml.contains("<pieces length=\"524288\" type=\"sha-256\">"));
        assert!(xml.contains(&format!("<size>{size}</size>")));
        assert!(xml.contains("xmlns=\"urn:ietf:params:xml:ns:metalink\""));
        assert!(xml.contains("<file name=\"m.bin\">"));
        assert!(xml.contains("size=1&amp;fault=throttle&amp;rate=4M</url>"));
    }

    #[test]
    fn pieces_longer_than_a_hash_block_and_no_whole_hash() {
        let size = 3 * HASH_BLOCK as u64 + 1;
        let length = 2 * HASH_BLOCK as u64;
        let xml = metalink("big", size, &[], Some(length), false);
        let object = expected_content("big", 0, size);
        let expected: Vec<String> = object.chunks(length as usize).map(sha256_hex).collect();
        assert_eq!(elements(&xml, "<hash", "</hash>"), expected);
        assert!(!xml.contains("type=\"sha-256\">") || xml.contains("<pieces"));
        assert!(!xml.contains("<url"));
    }

    #[test]
    fn urls_get_priorities_in_order_and_no_pieces_without_a_length() {
        let urls = ["http://a/o/x".to_owned(), "http://b/twin/x".to_owned()];
        let xml = metalink("x", 10, &urls, None, true);
        assert!(!xml.contains("<pieces"));
        assert!(xml.contains("<url priority=\"1\">http://a/o/x</url>"));
        assert!(xml.contains("<url priority=\"2\">http://b/twin/x</url>"));
        assert_eq!(
            elements(&xml, "<hash", "</hash>"),
            [sha256_hex(&expected_content("x", 0, 10))]
        );
    }

    #[test]
    fn an_empty_object_has_no_pieces() {
        let xml = metalink("e", 0, &[], Some(1024), true);
        assert_eq!(
            elements(&xml, "<hash", "</hash>"),
            [sha256_hex(&[])],
            "{xml}"
        );
    }
}
