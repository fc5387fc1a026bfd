//! S3's XML bodies: a ListObjectsV2 page, the text of a tag, and entity escaping.

use crate::error::{Error, Result};
use crate::storage::ObjectMeta;

pub(super) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or(""));
        let tail = rest.get(i..).unwrap_or("");
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = tail.get(1..end).unwrap_or("");
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(e.get(2..).unwrap_or(""), 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e
                .get(1..)
                .and_then(|d| d.parse().ok())
                .and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(tail.get(..=end).unwrap_or("")),
        }
        rest = tail.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// One page of a ListObjectsV2 answer: the objects (paths with the first `strip` bytes of the
/// key removed) and the continuation token when the listing goes on. The body comes from the
/// network: anything malformed is an error or an empty field, never a panic.
pub(crate) fn list_page(body: &[u8], strip: usize) -> Result<(Vec<ObjectMeta>, Option<String>)> {
    let body =
        std::str::from_utf8(body).map_err(|_| Error::storage("LIST: the response is not UTF-8"))?;
    let mut out = Vec::new();
    for item in xml_tags(body, "Contents") {
        let first = |tag: &str| xml_tags(&item, tag).into_iter().next();
        let key = first("Key").unwrap_or_default();
        let size = first("Size").and_then(|s| s.parse().ok()).unwrap_or(0);
        let etag = first("ETag").unwrap_or_default();
        if let Some(path) = key.get(strip..) {
            out.push(ObjectMeta {
                path: path.to_owned(),
                size,
                etag,
            });
        }
    }
    let truncated = xml_tags(body, "IsTruncated").first().map(String::as_str) == Some("true");
    let token = xml_tags(body, "NextContinuationToken").into_iter().next();
    Ok((out, token.filter(|_| truncated)))
}

/// The text of the first `<tag>` element in an XML body.
pub(super) fn xml_tag(body: &[u8], tag: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    xml_tags(s, tag).into_iter().next()
}

/// The text of every `<tag>` element, in order (S3's responses have no nesting of a tag in
/// itself, so a flat search is exact).
pub(super) fn xml_tags(s: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(&open) {
        let after = rest.get(i + open.len()..).unwrap_or("");
        let Some(j) = after.find(&close) else { break };
        out.push(xml_unescape(after.get(..j).unwrap_or("")));
        rest = after.get(j + close.len()..).unwrap_or("");
    }
    out
}
