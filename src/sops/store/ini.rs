//! The INI store (sops `stores/ini/store.go` on gopkg.in/ini.v1 v1.67.0 with
//! `AllowNonUniqueSections`).
//!
//! Tree shape: the document is a list of `Entry::Pair(section, Value::Map(items))` in file
//! order. The first section is always `DEFAULT` (keys before the first header; often empty),
//! as in sops. A section's comment is the first item of its map; a key's comment (the
//! comment lines above it and an inline comment) is the item right after the key. Every
//! value is a string.
//!
//! Loading follows go-ini's parser (quotes and triple quotes stripped, `\` continuation
//! lines, `#`/`;` start an inline comment, `key: value` accepted) but is stricter: a key
//! given twice in one section is an error (go-ini keeps the last value). Emitting
//! reproduces go-ini's writer as sops 3.11 uses it; where that writer would produce a file
//! that reads back differently (or where go-ini panics), sigil refuses with `Error::Emit`.

use std::collections::HashSet;

use zeroize::Zeroizing;

use super::dotenv::val_to_string;
use super::flatten;
use crate::sops::error::Error;
use crate::sops::tree::{Bytes, Entry, Value};

/// Name of the section holding the keys before the first header.
pub const DEFAULT_SECTION: &str = "DEFAULT";
/// Name of the metadata section.
pub const SOPS_SECTION: &str = "sops";

// ---------------------------------------------------------------------------------------
// Whitespace as Go's unicode.IsSpace sees it, on possibly invalid UTF-8.

const UNICODE_SPACES: [&[u8]; 17] = [
    b"\xc2\x85",
    b"\xc2\xa0",
    b"\xe1\x9a\x80",
    b"\xe2\x80\x80",
    b"\xe2\x80\x81",
    b"\xe2\x80\x82",
    b"\xe2\x80\x83",
    b"\xe2\x80\x84",
    b"\xe2\x80\x85",
    b"\xe2\x80\x86",
    b"\xe2\x80\x87",
    b"\xe2\x80\x88",
    b"\xe2\x80\x89",
    b"\xe2\x80\x8a",
    b"\xe2\x80\xa8",
    b"\xe2\x80\xa9",
    b"\xe2\x80\xaf",
];
const MORE_SPACES: [&[u8]; 2] = [b"\xe2\x81\x9f", b"\xe3\x80\x80"];

fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

fn space_prefix(s: &[u8]) -> usize {
    match s.first() {
        None => 0,
        Some(&b) if is_ascii_space(b) => 1,
        Some(&b) if b < 0x80 => 0,
        Some(_) => UNICODE_SPACES
            .iter()
            .chain(MORE_SPACES.iter())
            .find(|sp| s.starts_with(sp))
            .map_or(0, |sp| sp.len()),
    }
}

fn space_suffix(s: &[u8]) -> usize {
    match s.last() {
        None => 0,
        Some(&b) if is_ascii_space(b) => 1,
        Some(&b) if b < 0x80 => 0,
        Some(_) => UNICODE_SPACES
            .iter()
            .chain(MORE_SPACES.iter())
            .find(|sp| s.ends_with(sp))
            .map_or(0, |sp| sp.len()),
    }
}

fn trim_left(mut s: &[u8]) -> &[u8] {
    loop {
        let n = space_prefix(s);
        if n == 0 {
            return s;
        }
        s = &s[n..];
    }
}

fn trim_right(mut s: &[u8]) -> &[u8] {
    loop {
        let n = space_suffix(s);
        if n == 0 {
            return s;
        }
        s = &s[..s.len() - n];
    }
}

fn trim(s: &[u8]) -> &[u8] {
    trim_right(trim_left(s))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(hay.len());
    }
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn find_any(hay: &[u8], set: &[u8]) -> Option<usize> {
    hay.iter().position(|b| set.contains(b))
}

/// Joins pieces into one exactly-sized zeroizing buffer.
fn concat(pieces: &[&[u8]]) -> Bytes {
    let mut out: Bytes = Zeroizing::new(Vec::with_capacity(pieces.iter().map(|p| p.len()).sum()));
    for p in pieces {
        out.extend_from_slice(p);
    }
    out
}

/// Go `hasSurroundedQuote`: first and last bytes are the quote and no other one is inside.
fn has_surrounded_quote(s: &[u8], q: u8) -> bool {
    s.len() >= 2
        && s[0] == q
        && s[s.len() - 1] == q
        && s[1..].iter().position(|&b| b == q) == Some(s.len() - 2)
}

// ---------------------------------------------------------------------------------------
// Parsing.

struct RawKey {
    name: String,
    value: Bytes,
    comment: String,
}

struct RawSection {
    name: String,
    comment: String,
    keys: Vec<RawKey>,
}

struct Parser<'a> {
    lines: Vec<&'a [u8]>,
    next: usize,
    /// Pending comment text (go-ini's `p.comment`).
    comment: Zeroizing<Vec<u8>>,
}

impl<'a> Parser<'a> {
    /// The next raw line (with its `\n`), or `None` at the end of the input.
    fn read_line(&mut self) -> Option<&'a [u8]> {
        let line = self.lines.get(self.next).copied();
        if line.is_some() {
            self.next += 1;
        }
        line
    }

    fn err(&self, msg: &str) -> Error {
        Error::Parse(format!("invalid INI at line {}: {msg}", self.next))
    }

    fn utf8(&self, b: &[u8], what: &str) -> Result<String, Error> {
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| self.err(&format!("{what} is not valid UTF-8")))
    }

    fn take_comment(&mut self) -> Result<String, Error> {
        let text = self.utf8(trim(&self.comment), "comment")?;
        self.comment.clear();
        Ok(text)
    }

    /// go-ini `readValue` on the part of a key line after the delimiter.
    fn value(&mut self, rest: &'a [u8]) -> Result<Bytes, Error> {
        let line = trim_left(rest);
        if line.is_empty() {
            return Ok(Zeroizing::new(Vec::new()));
        }
        let quote: &[u8] = if line.len() > 3 && line.starts_with(b"\"\"\"") {
            b"\"\"\""
        } else if line[0] == b'`' {
            b"`"
        } else {
            b""
        };
        if !quote.is_empty() {
            let body = &line[quote.len()..];
            return match rfind(body, quote) {
                Some(pos) => Ok(Zeroizing::new(body[..pos].to_vec())),
                None => self.multiline(body, quote),
            };
        }
        let mut line = trim(line);
        if line.last() == Some(&b'\\') {
            return Ok(self.continuation(&line[..line.len() - 1]));
        }
        if let Some(i) = find_any(line, b"#;") {
            self.comment.extend_from_slice(&line[i..]);
            line = trim(&line[..i]);
        }
        if has_surrounded_quote(line, b'\'') || has_surrounded_quote(line, b'"') {
            line = &line[1..line.len() - 1];
        }
        Ok(Zeroizing::new(line.to_vec()))
    }

    /// go-ini `readMultilines`: a quoted value continues until the closing quote.
    fn multiline(&mut self, first: &'a [u8], quote: &[u8]) -> Result<Bytes, Error> {
        let mut pieces = vec![first];
        loop {
            let Some(next) = self.read_line() else {
                return Err(self.err("missing closing quote of a multi-line value"));
            };
            if let Some(pos) = rfind(next, quote) {
                pieces.push(&next[..pos]);
                if let Some(i) = find_any(&next[pos..], b"#;") {
                    self.comment.extend_from_slice(trim(&next[pos + i..]));
                }
                return Ok(concat(&pieces));
            }
            pieces.push(next);
            if !next.ends_with(b"\n") {
                return Err(self.err("missing closing quote of a multi-line value"));
            }
        }
    }

    /// go-ini `readContinuationLines`: a value ending in `\` continues on the next lines.
    fn continuation(&mut self, first: &'a [u8]) -> Bytes {
        let mut pieces = vec![first];
        while let Some(raw) = self.read_line() {
            let next = trim(raw);
            match next.split_last() {
                None => break,
                Some((b'\\', rest)) => pieces.push(rest),
                Some(_) => {
                    pieces.push(next);
                    break;
                }
            }
        }
        concat(&pieces)
    }

    /// go-ini `readKeyName`: the key and the offset just after its delimiter.
    fn key_name(&self, line: &[u8]) -> Result<(Vec<u8>, usize), Error> {
        let quote: &[u8] = if line[0] == b'"' {
            if line.len() > 6 && line.starts_with(b"\"\"\"") {
                b"\"\"\""
            } else {
                b"\""
            }
        } else if line[0] == b'`' {
            b"`"
        } else {
            b""
        };
        if !quote.is_empty() {
            let q = quote.len();
            let Some(pos) = find(&line[q..], quote) else {
                return Err(self.err("missing closing key quote"));
            };
            let pos = pos + q;
            let Some(i) = find_any(&line[pos + q..], b"=:") else {
                return Err(self.err("key-value delimiter ('=' or ':') not found"));
            };
            return Ok((trim(&line[q..pos]).to_vec(), pos + q + i + 1));
        }
        match find_any(line, b"=:") {
            None => Err(self.err("key-value delimiter ('=' or ':') not found")),
            Some(0) => Err(self.err("empty key name")),
            Some(end) => Ok((trim(&line[..end]).to_vec(), end + 1)),
        }
    }

    fn parse(&mut self) -> Result<Vec<RawSection>, Error> {
        let mut sections = vec![RawSection {
            name: DEFAULT_SECTION.to_string(),
            comment: String::new(),
            keys: Vec::new(),
        }];
        let mut seen: HashSet<String> = HashSet::new();
        let mut auto = 1usize;
        while let Some(raw) = self.read_line() {
            let line = trim_left(raw);
            if line.is_empty() {
                continue;
            }
            if line[0] == b'#' || line[0] == b';' {
                self.comment.extend_from_slice(line);
                continue;
            }
            if line[0] == b'[' {
                let Some(close) = line.iter().rposition(|&b| b == b']') else {
                    return Err(self.err("unclosed section header"));
                };
                let name = &line[1..close];
                if name.is_empty() {
                    return Err(self.err("empty section name"));
                }
                let name = self.utf8(name, "section name")?;
                if let Some(i) = find_any(&line[close + 1..], b"#;") {
                    self.comment.extend_from_slice(&line[close + 1 + i..]);
                }
                let comment = self.take_comment()?;
                sections.push(RawSection {
                    name,
                    comment,
                    keys: Vec::new(),
                });
                seen.clear();
                auto = 1;
                continue;
            }
            let (name, offset) = self.key_name(line)?;
            let mut name = self.utf8(&name, "key name")?;
            if name == "-" {
                name = format!("#{auto}");
                auto += 1;
            }
            let value = self.value(&line[offset..])?;
            if name.is_empty() {
                return Err(self.err("empty key name"));
            }
            if !seen.insert(name.clone()) {
                return Err(self.err(&format!("duplicate key \"{name}\" in one section")));
            }
            let comment = self.take_comment()?;
            if let Some(section) = sections.last_mut() {
                section.keys.push(RawKey {
                    name,
                    value,
                    comment,
                });
            }
        }
        Ok(sections)
    }
}

fn parse_sections(input: &[u8]) -> Result<Vec<RawSection>, Error> {
    let input = if let Some(rest) = input.strip_prefix(b"\xef\xbb\xbf") {
        rest
    } else if input.starts_with(b"\xfe\xff") || input.starts_with(b"\xff\xfe") {
        return Err(Error::Parse(
            "invalid INI: UTF-16 input is not supported".into(),
        ));
    } else {
        input
    };
    let mut p = Parser {
        lines: input.split_inclusive(|&b| b == b'\n').collect(),
        next: 0,
        comment: Zeroizing::new(Vec::with_capacity(input.len())),
    };
    p.parse()
}

/// sops `stripCommentChar`: drops a leading run of `;`/space or `#`/space.
fn strip_comment_char(c: &str) -> &str {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' '])
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' '])
    } else {
        c
    }
}

/// Parses an INI file into sections (see the module documentation for the tree shape).
pub fn load(input: &[u8]) -> Result<Vec<Entry>, Error> {
    let sections = parse_sections(input)?;
    let text = |s: &str| Zeroizing::new(s.to_string());
    Ok(sections
        .into_iter()
        .map(|sec| {
            let mut items = Vec::with_capacity(sec.keys.len() + 1);
            // Comments with no text (a bare `;`) carry nothing and would not be written back.
            if !strip_comment_char(&sec.comment).is_empty() {
                items.push(Entry::Comment(text(strip_comment_char(&sec.comment))));
            }
            for key in sec.keys {
                items.push(Entry::Pair(Zeroizing::new(key.name), Value::Str(key.value)));
                if !strip_comment_char(&key.comment).is_empty() {
                    items.push(Entry::Comment(text(strip_comment_char(&key.comment))));
                }
            }
            Entry::Pair(Zeroizing::new(sec.name), Value::Map(items))
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Emitting.

struct OutKey<'a> {
    name: &'a str,
    value: Bytes,
    comment: Option<&'a str>,
}

fn emit_err(msg: String) -> Error {
    Error::Emit(format!("cannot write INI: {msg}"))
}

/// go-ini's key quoting on write.
fn goini_key(k: &str) -> String {
    if k.contains(['"', '=', ':']) {
        format!("`{k}`")
    } else if k.contains('`') {
        format!("\"\"\"{k}\"\"\"")
    } else {
        k.to_string()
    }
}

/// How a key is written: go-ini's choice when it reads back unchanged, else another quoting
/// go-ini's reader understands (e.g. `` `#key` ``), else `None`.
fn write_key(k: &str) -> Option<String> {
    [
        goini_key(k),
        format!("`{k}`"),
        format!("\"\"\"{k}\"\"\""),
        format!("\"{k}\""),
    ]
    .into_iter()
    .find(|q| reads_back(format!("{q} = x\n").as_bytes(), k, b"x"))
}

/// go-ini's value quoting on write.
fn goini_value(v: &[u8]) -> (&'static [u8], &'static [u8]) {
    if v.contains(&b'\n') || v.contains(&b'`') {
        (b"\"\"\"", b"\"\"\"")
    } else if v.contains(&b'#') || v.contains(&b';') {
        (b"`", b"`")
    } else if trim(v).len() != v.len() {
        (b"\"", b"\"")
    } else {
        (b"", b"")
    }
}

/// The `key = value` line: go-ini's quoting of the value when it reads back unchanged, else
/// backticks or triple quotes (e.g. for `C:\dir\` or `"x"`), else `None`.
fn write_line(qkey: &str, align: usize, key: &str, v: &[u8]) -> Option<Bytes> {
    let quotes: [(&[u8], &[u8]); 3] = [goini_value(v), (b"`", b"`"), (b"\"\"\"", b"\"\"\"")];
    quotes.into_iter().find_map(|(open, close)| {
        let mut line: Bytes = Zeroizing::new(Vec::with_capacity(align + v.len() + 10));
        line.extend_from_slice(qkey.as_bytes());
        line.resize(align.max(qkey.len()), b' ');
        line.extend_from_slice(b" = ");
        line.extend_from_slice(open);
        line.extend_from_slice(v);
        line.extend_from_slice(close);
        line.push(b'\n');
        reads_back(&line, key, v).then_some(line)
    })
}

/// Writes a (possibly multi-line) comment as go-ini does; `trim_text` is set for key comments.
fn write_comment(out: &mut Vec<u8>, comment: &str, trim_text: bool) {
    for line in comment.split('\n') {
        match line.as_bytes().first() {
            // go-ini indexes line[0] and panics here; write a bare marker instead.
            None => out.push(b';'),
            Some(b'#' | b';') => {
                out.extend_from_slice(&line.as_bytes()[..1]);
                out.push(b' ');
                out.extend_from_slice(trim(&line.as_bytes()[1..]));
            }
            Some(_) => {
                out.extend_from_slice(b"; ");
                let l = line.as_bytes();
                out.extend_from_slice(if trim_text { trim(l) } else { l });
            }
        }
        out.push(b'\n');
    }
}

/// Does `key = value` written as `line` read back as exactly that key and value?
fn reads_back(line: &[u8], key: &str, value: &[u8]) -> bool {
    match parse_sections(line) {
        Ok(sections) => {
            sections.len() == 1
                && sections[0].keys.len() == 1
                && sections[0].keys[0].name == key
                && sections[0].keys[0].value[..] == *value
        }
        Err(_) => false,
    }
}

/// Does the header `[name]` read back as a section of that name?
fn section_reads_back(name: &str) -> bool {
    match parse_sections(format!("[{name}]\n").as_bytes()) {
        Ok(sections) => sections.len() == 2 && sections[1].name == name,
        Err(_) => false,
    }
}

/// Emits sections like sops 3.11 (go-ini `WriteTo`): a section comment above its header, the
/// `DEFAULT` section first without a header, key comments above their key as `; text`,
/// `key = value` with `=` aligned to the section's longest key, and a blank line between
/// sections. Top-level comments are dropped (as sops does); a section that is not a map, a
/// nested map or list, an empty or duplicate key, and a key or value that would not read
/// back unchanged are errors.
pub fn emit(doc: &[Entry]) -> Result<Vec<u8>, Error> {
    let mut sections: Vec<(&str, Option<&str>, Vec<OutKey<'_>>)> = Vec::new();
    for e in doc {
        let Entry::Pair(name, value) = e else {
            continue;
        };
        let Value::Map(items) = value else {
            return Err(emit_err(format!(
                "the value of section [{}] must be a mapping",
                name.as_str()
            )));
        };
        if name.is_empty() {
            return Err(emit_err("empty section name".into()));
        }
        if !section_reads_back(name) {
            return Err(emit_err(format!(
                "section name {:?} cannot be written so that it reads back unchanged",
                name.as_str()
            )));
        }
        let mut rest = &items[..];
        let mut comment = None;
        if let Some(Entry::Comment(c)) = rest.first() {
            comment = Some(c.as_str());
            rest = &rest[1..];
        }
        let mut keys: Vec<OutKey<'_>> = Vec::new();
        let mut seen = HashSet::new();
        for item in rest {
            match item {
                // go-ini keeps one comment per key: the last one wins; one before any key
                // (other than the section comment) has nowhere to go.
                Entry::Comment(c) => {
                    if let Some(last) = keys.last_mut() {
                        last.comment = Some(c.as_str());
                    }
                }
                Entry::Pair(k, v) => {
                    if matches!(v, Value::Map(_) | Value::Seq(_)) {
                        return Err(emit_err(format!(
                            "key {} in section [{}] holds a nested map or list",
                            k.as_str(),
                            name.as_str()
                        )));
                    }
                    if k.is_empty() {
                        return Err(emit_err(format!(
                            "empty key name in section [{}]",
                            name.as_str()
                        )));
                    }
                    if !seen.insert(k.as_str()) {
                        return Err(emit_err(format!(
                            "duplicate key {} in section [{}]",
                            k.as_str(),
                            name.as_str()
                        )));
                    }
                    keys.push(OutKey {
                        name: k.as_str(),
                        value: val_to_string(v)?,
                        comment: None,
                    });
                }
            }
        }
        sections.push((name.as_str(), comment, keys));
    }

    let mut out = Vec::new();
    let last = sections.len().saturating_sub(1);
    for (i, (name, comment, keys)) in sections.iter().enumerate() {
        if let Some(c) = comment.filter(|c| !c.is_empty()) {
            write_comment(&mut out, c, false);
        }
        // sops 3.11 also leaves out the header of a first section named e.g. "default",
        // which then reads back as DEFAULT; sigil writes that header.
        if i > 0 || *name != DEFAULT_SECTION {
            out.push(b'[');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"]\n");
        } else if keys.is_empty() {
            continue;
        }
        let mut names = Vec::with_capacity(keys.len());
        for k in keys {
            let Some(q) = write_key(k.name) else {
                return Err(emit_err(format!(
                    "key {:?} in section [{name}] cannot be written so that it reads back unchanged",
                    k.name
                )));
            };
            names.push(q);
        }
        let align = names.iter().map(String::len).max().unwrap_or(0);
        for (key, qname) in keys.iter().zip(&names) {
            if let Some(c) = key.comment.filter(|c| !c.is_empty()) {
                write_comment(&mut out, c, true);
            }
            let Some(line) = write_line(qname, align, key.name, &key.value) else {
                return Err(emit_err(format!(
                    "the value of key {} in section [{name}] cannot be written so that it reads back unchanged",
                    key.name
                )));
            };
            out.extend_from_slice(&line);
        }
        if i != last {
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// The `[sops]` section for the metadata: flattened keys in bytewise order, newlines in
/// values written as `\n` (like sops 3.11; sops 3.11 itself writes a random order).
pub fn metadata_section(meta: &Value) -> Entry {
    let items = flatten::flatten(meta)
        .into_iter()
        .map(|(k, v)| Entry::Pair(Zeroizing::new(k), Value::str(&flatten::escape_newlines(&v))))
        .collect();
    Entry::Pair(Zeroizing::new(SOPS_SECTION.to_string()), Value::Map(items))
}

/// Does the document have a `[sops]` section?
pub fn has_metadata(doc: &[Entry]) -> bool {
    doc.iter()
        .any(|e| matches!(e, Entry::Pair(k, _) if k.as_str() == SOPS_SECTION))
}

/// Removes the `[sops]` section from a loaded document and rebuilds the metadata tree from
/// it (all leaves strings; `\n` escapes and sops 3.13.0/3.13.1 triple-quoted values both
/// accepted); `None` when there is none. Two `[sops]` sections are an error.
pub fn take_metadata(doc: &mut Vec<Entry>) -> Result<Option<Value>, Error> {
    let mut found = doc.iter().filter_map(|e| match e {
        Entry::Pair(k, v) if k.as_str() == SOPS_SECTION => Some(v),
        _ => None,
    });
    let Some(section) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(Error::Parse(
            "the INI file has more than one [sops] section".into(),
        ));
    }
    let Value::Map(items) = section else {
        return Err(Error::Parse("the [sops] section must be a mapping".into()));
    };
    let mut pairs = Vec::new();
    for item in items {
        let Entry::Pair(k, v) = item else { continue };
        let Value::Str(s) = v else {
            return Err(Error::Parse(format!(
                "sops metadata value of {} is not a string",
                k.as_str()
            )));
        };
        let s = std::str::from_utf8(s).map_err(|_| {
            Error::Parse(format!(
                "sops metadata value of {} is not UTF-8",
                k.as_str()
            ))
        })?;
        pairs.push((k.to_string(), flatten::unescape_newlines(s)));
    }
    let meta = flatten::unflatten(&pairs)?;
    doc.retain(|e| !matches!(e, Entry::Pair(k, _) if k.as_str() == SOPS_SECTION));
    Ok(Some(meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::metadata::{MasterKey, Metadata};

    fn pair(k: &str, v: Value) -> Entry {
        Entry::Pair(Zeroizing::new(k.to_string()), v)
    }

    fn comment(c: &str) -> Entry {
        Entry::Comment(Zeroizing::new(c.to_string()))
    }

    fn section(name: &str, items: Vec<Entry>) -> Entry {
        pair(name, Value::Map(items))
    }

    /// A readable dump of a loaded document: `[name]`, `#comment`, `key=value` lines.
    fn dump(doc: &[Entry]) -> String {
        let mut out = String::new();
        for e in doc {
            let Entry::Pair(name, Value::Map(items)) = e else {
                panic!("not a section")
            };
            out.push_str(&format!("[{}]\n", name.as_str()));
            for it in items {
                match it {
                    Entry::Comment(c) => out.push_str(&format!("#{}\n", c.as_str())),
                    Entry::Pair(k, Value::Str(v)) => {
                        out.push_str(&format!("{}={}\n", k.as_str(), String::from_utf8_lossy(v)))
                    }
                    _ => panic!("unexpected item"),
                }
            }
        }
        out
    }

    fn load_dump(input: &str) -> String {
        dump(&load(input.as_bytes()).unwrap())
    }

    fn emit_str(doc: &[Entry]) -> String {
        String::from_utf8(emit(doc).unwrap()).unwrap()
    }

    fn round_trip(input: &str) -> String {
        emit_str(&load(input.as_bytes()).unwrap())
    }

    const EXAMPLE: &str = "; An example file for use with sops!\n[name]\nfirstName = John\nlastName  = Smith\nage       = 25.4\n\n[address]\ncity          = New York\npostalCode    = 10021-3100\nstate         = NY\nstreetAddress = 21 2nd Street\n\n[phoneNumbers]\nhome   = 212 555-1234\noffice = 646 555-4567\n\n[not private]\nnotsecret_unencrypted = hi there!\n";

    #[test]
    fn example_round_trips_byte_for_byte() {
        let doc = load(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(
            dump(&doc),
            "[DEFAULT]\n[name]\n#An example file for use with sops!\nfirstName=John\nlastName=Smith\nage=25.4\n\
             [address]\ncity=New York\npostalCode=10021-3100\nstate=NY\nstreetAddress=21 2nd Street\n\
             [phoneNumbers]\nhome=212 555-1234\noffice=646 555-4567\n\
             [not private]\nnotsecret_unencrypted=hi there!\n"
        );
        assert_eq!(emit_str(&doc), EXAMPLE);
        let reference = "../shared/vectors/sops/decrypted-by-sops-3.11.0/example.ini";
        if let Ok(text) = std::fs::read_to_string(reference) {
            assert_eq!(text, EXAMPLE);
        }
    }

    #[test]
    fn encrypted_vectors_round_trip_and_give_metadata() {
        let base = std::path::Path::new("../shared/vectors/sops");
        for (file, version) in [
            ("example.ini", "3.5.0"),
            ("functional-tests/res/format.enc.ini", ""),
            ("functional-tests/res/format-2.enc.ini", "3.13.1"),
            ("pr-1031-age-examples/example.ini", ""),
        ] {
            let Ok(input) = std::fs::read(base.join(file)) else {
                continue;
            };
            let mut doc = load(&input).unwrap();
            // sops 3.11 (go-ini v1.67) ends the last section without a blank line; files
            // written by older versions may have one more newline.
            let out = emit(&doc).unwrap();
            let trimmed = if input.ends_with(b"\n\n") {
                &input[..input.len() - 1]
            } else {
                &input[..]
            };
            assert_eq!(out, trimmed, "{file}");
            let meta = take_metadata(&mut doc).unwrap().expect("metadata");
            assert!(!has_metadata(&doc));
            let md = Metadata::from_value(&meta).unwrap();
            if !version.is_empty() {
                assert_eq!(md.version, version);
            }
            for key in &md.key_groups[0].0 {
                if let MasterKey::Pgp { enc, .. } | MasterKey::Age { enc, .. } = key {
                    assert!(enc.starts_with("-----BEGIN "), "{file}");
                    assert!(enc.contains('\n') && !enc.contains("\\n"), "{file}");
                }
            }
        }
    }

    #[test]
    fn triple_quoted_metadata_from_sops_3_13_1() {
        let input = "[foo]\nbar = baz\n\n[sops]\nlastmodified               = 2026-05-22T20:15:23Z\nage__list_0__map_enc       = \"\"\"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n\"\"\"\nage__list_0__map_recipient = age1x\n";
        let mut doc = load(input.as_bytes()).unwrap();
        assert_eq!(emit_str(&doc), input);
        let meta = take_metadata(&mut doc).unwrap().unwrap();
        let flat = flatten::flatten(&meta);
        assert_eq!(
            flat[0],
            (
                "age__list_0__map_enc".to_string(),
                "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"
                    .to_string()
            )
        );
        assert_eq!(emit_str(&doc), "[foo]\nbar = baz\n");
    }

    #[test]
    fn metadata_section_is_sorted_aligned_and_escaped() {
        let meta = Value::Map(vec![
            pair(
                "age",
                Value::Seq(vec![Value::Map(vec![
                    pair("recipient", Value::str("age1abc")),
                    pair(
                        "enc",
                        Value::str(
                            "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n",
                        ),
                    ),
                ])]),
            ),
            pair("lastmodified", Value::str("2025-01-01T00:00:00Z")),
            pair(
                "mac",
                Value::str("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"),
            ),
            pair("unencrypted_regex", Value::str("^(a|b);#")),
            pair("version", Value::str("3.11.0")),
        ]);
        let mut doc = load(b"[s]\nk = v\n").unwrap();
        doc.push(metadata_section(&meta));
        let out = emit_str(&doc);
        assert_eq!(
            out,
            "[s]\nk = v\n\n[sops]\n\
             age__list_0__map_enc       = -----BEGIN AGE ENCRYPTED FILE-----\\nYWdl\\n-----END AGE ENCRYPTED FILE-----\\n\n\
             age__list_0__map_recipient = age1abc\n\
             lastmodified               = 2025-01-01T00:00:00Z\n\
             mac                        = ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n\
             unencrypted_regex          = `^(a|b);#`\n\
             version                    = 3.11.0\n"
        );
        let mut back = load(out.as_bytes()).unwrap();
        let m = take_metadata(&mut back).unwrap().unwrap();
        assert_eq!(flatten::flatten(&m), flatten::flatten(&meta));
        assert_eq!(emit_str(&back), "[s]\nk = v\n");
        let mut two = load(b"[sops]\na=1\n[sops]\nb=2\n").unwrap();
        assert!(matches!(take_metadata(&mut two), Err(Error::Parse(_))));
        let mut none = load(b"[s]\na=1\n").unwrap();
        assert!(take_metadata(&mut none).unwrap().is_none());
    }

    // The expected dumps and outputs below were produced with gopkg.in/ini.v1 v1.67.0 driven
    // the way sops's INI store drives it.

    #[test]
    fn comments_like_go_ini() {
        let input = "; top comment\n# second\n[sec] ; inline\nk = v ; trailing\n; above\nk2 = v2\n";
        assert_eq!(
            load_dump(input),
            "[DEFAULT]\n[sec]\n#top comment\n# second\n; inline\nk=v\n#trailing\nk2=v2\n#above\n"
        );
        assert_eq!(
            round_trip(input),
            "; top comment\n# second\n; inline\n[sec]\n; trailing\nk  = v\n; above\nk2 = v2\n"
        );
        assert_eq!(
            round_trip("[x]\n;; double\nk=v\n#  # hash\nk2=v2\n"),
            "[x]\n; double\nk  = v\n; hash\nk2 = v2\n"
        );
        // Comments after the last key are dropped, a comment before a header is the section's.
        assert_eq!(
            load_dump("[a]\nk = v\n; c1\n; c2\n"),
            "[DEFAULT]\n[a]\nk=v\n"
        );
        assert_eq!(
            load_dump("k = no section\n; dangling\n"),
            "[DEFAULT]\nk=no section\n"
        );
    }

    #[test]
    fn quotes_like_go_ini() {
        let input = "[q]\na = \"quoted\"\nb = 'single'\nc = \"in\"ner\"\nd = \"\"\ne = ''\nf = \"  spaced  \"\n";
        assert_eq!(
            load_dump(input),
            "[DEFAULT]\n[q]\na=quoted\nb=single\nc=\"in\"ner\"\nd=\ne=\nf=  spaced  \n"
        );
        assert_eq!(
            round_trip(input),
            "[q]\na = quoted\nb = single\nc = \"in\"ner\"\nd = \ne = \nf = \"  spaced  \"\n"
        );
        assert_eq!(
            load_dump("[a]\nv = 'a' ; c\nw = \"x\" # y\n"),
            "[DEFAULT]\n[a]\nv=a\n#c\nw=x\n#y\n"
        );
        assert_eq!(
            load_dump("[sec]\nk = \"\"\"a\"\"\"b\"\"\"\n"),
            "[DEFAULT]\n[sec]\nk=a\"\"\"b\n"
        );
    }

    #[test]
    fn multiline_and_backticks_like_go_ini() {
        let input = "[t]\nml = \"\"\"line1\nline2\nline3\"\"\"\nafter = x\none = \"\"\"single\"\"\"\nbt = `back;tick#`\n";
        assert_eq!(
            load_dump(input),
            "[DEFAULT]\n[t]\nml=line1\nline2\nline3\nafter=x\none=single\nbt=back;tick#\n"
        );
        assert_eq!(
            round_trip(input),
            "[t]\nml    = \"\"\"line1\nline2\nline3\"\"\"\nafter = x\none   = single\nbt    = `back;tick#`\n"
        );
        let input = "[a]\nk = \"\"\"\nstarts with newline\n\"\"\"  ; cmt\nj = 2\n";
        assert_eq!(
            load_dump(input),
            "[DEFAULT]\n[a]\nk=\nstarts with newline\n\n#cmt\nj=2\n"
        );
        assert_eq!(
            round_trip(input),
            "[a]\n; cmt\nk = \"\"\"\nstarts with newline\n\"\"\"\nj = 2\n"
        );
        assert_eq!(
            load_dump("[a]\nk = `multi\nline`\n"),
            "[DEFAULT]\n[a]\nk=multi\nline\n"
        );
    }

    #[test]
    fn continuation_and_inline_comments_like_go_ini() {
        let input = "[c]\npath = C:\\\\dir\\\\\nnext = z\ncont = a \\\n  b \\\n  c\nend = 1\n";
        assert_eq!(
            load_dump(input),
            "[DEFAULT]\n[c]\npath=C:\\\\dir\\next = z\ncont=a b c\nend=1\n"
        );
        assert_eq!(
            round_trip(input),
            "[c]\npath = C:\\\\dir\\next = z\ncont = a b c\nend  = 1\n"
        );
        assert_eq!(
            load_dump("[h]\nurl = http://example.com/#frag\nsemi = a;b\n"),
            "[DEFAULT]\n[h]\nurl=http://example.com/\n#frag\nsemi=a\n#b\n"
        );
        assert_eq!(
            load_dump("[a]\nk = v # c\n# c2\nk2 = \\\n"),
            "[DEFAULT]\n[a]\nk=v\n#c\nk2=\n#c2\n"
        );
    }

    #[test]
    fn keys_sections_and_layout_like_go_ini() {
        let input = "\"quoted key\" = v\n`back key` = w\n\"\"\"tri\"key\"\"\" = x\n";
        assert_eq!(
            load_dump(input),
            "[DEFAULT]\nquoted key=v\nback key=w\ntri\"key=x\n"
        );
        assert_eq!(
            round_trip(input),
            "quoted key = v\nback key   = w\n`tri\"key`  = x\n"
        );
        let input = "[s1]\na=1\n[s1]\nb=2\n[DEFAULT]\nc=3\n";
        assert_eq!(
            load_dump(input),
            "[DEFAULT]\n[s1]\na=1\n[s1]\nb=2\n[DEFAULT]\nc=3\n"
        );
        assert_eq!(
            round_trip(input),
            "[s1]\na = 1\n\n[s1]\nb = 2\n\n[DEFAULT]\nc = 3\n"
        );
        assert_eq!(
            round_trip("[a]\nx=1\n\n\n[b]\n\n[c]\ny=2"),
            "[a]\nx = 1\n\n[b]\n\n[c]\ny = 2\n"
        );
        assert_eq!(
            round_trip("a=1\nb = 2\n  c   =   three words  \n[s]\nx: y\n"),
            "a = 1\nb = 2\nc = three words\n\n[s]\nx = y\n"
        );
        assert_eq!(
            load_dump("[ spaced name ]\nk = v\n[a]b]\nk = w\n"),
            "[DEFAULT]\n[ spaced name ]\nk=v\n[a]b]\nk=w\n"
        );
        assert_eq!(
            load_dump("[d]\n- = one\n- = two\n[e]\n- = three\n"),
            "[DEFAULT]\n[d]\n#1=one\n#2=two\n[e]\n#1=three\n"
        );
        // BOM, CRLF, leading whitespace, non-ASCII spaces.
        assert_eq!(load_dump("\u{feff}[bom]\nk=v\n"), "[DEFAULT]\n[bom]\nk=v\n");
        assert_eq!(
            round_trip("[a]\r\nk = v\r\n; c\r\nk2 = v2\r\n"),
            "[a]\nk  = v\n; c\nk2 = v2\n"
        );
        assert_eq!(
            load_dump("[a]\nempty =\nempty2 = \n   indented = yes\n\t[tabbed]\nz=1\n"),
            "[DEFAULT]\n[a]\nempty=\nempty2=\nindented=yes\n[tabbed]\nz=1\n"
        );
        assert_eq!(
            load_dump("[x]\nk=\u{a0}nbsp\u{a0}\nk2=\u{3000}wide\n"),
            "[DEFAULT]\n[x]\nk=nbsp\nk2=wide\n"
        );
    }

    #[test]
    fn emit_like_go_ini() {
        let doc = vec![
            section(
                "DEFAULT",
                vec![
                    pair("a", Value::str("1")),
                    pair("longer_key", Value::str("v")),
                ],
            ),
            section(
                "sec",
                vec![
                    comment("section comment"),
                    pair("k", Value::str("v")),
                    comment("key comment"),
                    pair("k2", Value::str("v2")),
                ],
            ),
        ];
        assert_eq!(
            emit_str(&doc),
            "a          = 1\nlonger_key = v\n\n; section comment\n[sec]\n; key comment\nk  = v\nk2 = v2\n"
        );
        let doc = vec![section(
            "s",
            vec![
                pair("hash", Value::str("a#b")),
                pair("semi", Value::str("a;b")),
                pair("lead", Value::str("  x")),
                pair("trail", Value::str("x  ")),
                pair("nl", Value::str("l1\nl2")),
                pair("bt", Value::str("a`b")),
                pair("empty", Value::str("")),
                pair("both", Value::str(" a;b ")),
                pair("tab", Value::str("\tx")),
                pair("cr", Value::str("a\rb")),
                pair("mlbt", Value::str("a\n`b`")),
            ],
        )];
        assert_eq!(
            emit_str(&doc),
            "[s]\nhash  = `a#b`\nsemi  = `a;b`\nlead  = \"  x\"\ntrail = \"x  \"\nnl    = \"\"\"l1\nl2\"\"\"\nbt    = \"\"\"a`b\"\"\"\nempty = \nboth  = ` a;b `\ntab   = \"\tx\"\ncr    = a\rb\nmlbt  = \"\"\"a\n`b`\"\"\"\n"
        );
        let doc = vec![section(
            "s",
            ["a=b", "c:d", "e\"f", "g`h", "plain"]
                .iter()
                .map(|k| pair(k, Value::str("1")))
                .collect(),
        )];
        assert_eq!(
            emit_str(&doc),
            "[s]\n`a=b`     = 1\n`c:d`     = 1\n`e\"f`     = 1\n\"\"\"g`h\"\"\" = 1\nplain     = 1\n"
        );
        let doc = vec![section(
            "s",
            vec![
                comment("multi\nline\n; already\n# hashed"),
                pair("k", Value::str("v")),
                comment(" spaced \n;  semi\n#hash"),
            ],
        )];
        assert_eq!(
            emit_str(&doc),
            "; multi\n; line\n; already\n# hashed\n[s]\n; spaced\n; semi\n# hash\nk = v\n"
        );
        // A section comment is written even for an empty DEFAULT section; the last of several
        // key comments wins; a second leading comment is dropped; top-level comments too.
        let doc = vec![
            comment("top"),
            section("DEFAULT", vec![comment("only comment")]),
            section(
                "s",
                vec![
                    comment("first"),
                    comment("dropped"),
                    pair("a", Value::str("1")),
                    comment("c1"),
                    comment("c2"),
                ],
            ),
            section("t", vec![]),
        ];
        assert_eq!(
            emit_str(&doc),
            "; only comment\n; first\n[s]\n; c2\na = 1\n\n[t]\n"
        );
        let doc = vec![
            section("first", vec![pair("a", Value::str("1"))]),
            section("DEFAULT", vec![pair("b", Value::str("2"))]),
        ];
        assert_eq!(emit_str(&doc), "[first]\na = 1\n\n[DEFAULT]\nb = 2\n");
        assert_eq!(emit_str(&[]), "");
    }

    #[test]
    fn values_that_go_ini_would_corrupt_get_another_quoting() {
        let doc = vec![section(
            "s",
            vec![
                pair("dq", Value::str("\"x\"")),
                pair("sq", Value::str("'x'")),
                pair("inner", Value::str("a\"b")),
                pair("tri", Value::str("\"\"\"abc")),
                pair("path", Value::str("C:\\dir\\")),
                pair("#k", Value::str("v")),
            ],
        )];
        let out = emit_str(&doc);
        assert_eq!(
            out,
            "[s]\ndq    = `\"x\"`\nsq    = `'x'`\ninner = a\"b\ntri   = `\"\"\"abc`\npath  = `C:\\dir\\`\n`#k`  = v\n"
        );
        assert_eq!(
            load_dump(&out),
            "[DEFAULT]\n[s]\ndq=\"x\"\nsq='x'\ninner=a\"b\ntri=\"\"\"abc\npath=C:\\dir\\\n#k=v\n"
        );
        let doc = vec![section(
            "s",
            vec![pair("[x", Value::str("1")), pair(";c", Value::str("2"))],
        )];
        assert_eq!(emit_str(&doc), "[s]\n`[x` = 1\n`;c` = 2\n");
        assert_eq!(
            load_dump("[s]\n`[x` = 1\n`;c` = 2\n"),
            "[DEFAULT]\n[s]\n[x=1\n;c=2\n"
        );
        for bad in [" k", "k ", "-", "a\nb"] {
            let doc = vec![section("s", vec![pair(bad, Value::str("v"))])];
            assert!(matches!(emit(&doc), Err(Error::Emit(_))), "{bad:?}");
        }
        let doc = vec![section("s", vec![pair("k", Value::str("a\n`\n\"\"\"\nb"))])];
        assert!(matches!(emit(&doc), Err(Error::Emit(_))));
    }

    #[test]
    fn section_names_round_trip_or_fail() {
        let doc = vec![
            section("a\rb", vec![]),
            section("x]y", vec![pair("k", Value::str("v"))]),
        ];
        assert_eq!(emit_str(&doc), "[a\rb]\n\n[x]y]\nk = v\n");
        assert_eq!(
            load_dump("[a\rb]\n\n[x]y]\nk = v\n"),
            "[DEFAULT]\n[a\rb]\n[x]y]\nk=v\n"
        );
        // Values whose inner lines hold a triple quote are written between backticks.
        let doc = vec![section("s", vec![pair("k", Value::str("a\n\"\"\"\nb"))])];
        assert_eq!(emit_str(&doc), "[s]\nk = `a\n\"\"\"\nb`\n");
        // go-ini panics on an empty comment line; sigil writes a bare marker.
        assert_eq!(
            load_dump(";\n; x\n[s]\nk=v\n"),
            "[DEFAULT]\n[s]\n#\n; x\nk=v\n"
        );
        assert_eq!(round_trip(";\n; x\n[s]\nk=v\n"), ";\n; x\n[s]\nk = v\n");
    }

    #[test]
    fn emit_errors() {
        for doc in [
            vec![pair("notasection", Value::str("x"))],
            vec![section("", vec![])],
            vec![section("a\nb", vec![])],
            vec![section("s", vec![pair("m", Value::Map(vec![]))])],
            vec![section("s", vec![pair("l", Value::Seq(vec![]))])],
            vec![section("s", vec![pair("", Value::str("x"))])],
            vec![section(
                "s",
                vec![pair("a", Value::str("1")), pair("a", Value::str("2"))],
            )],
        ] {
            assert!(matches!(emit(&doc), Err(Error::Emit(_))));
        }
    }

    #[test]
    fn non_string_values_use_val_to_string() {
        let doc = vec![section(
            "s",
            vec![
                pair("i", Value::Int(7)),
                pair("f", Value::Float(3.0)),
                pair("g", Value::Float(1e20)),
                pair("b", Value::Bool(false)),
                pair("n", Value::Null),
                pair(
                    "t",
                    Value::Time(Zeroizing::new("2024-05-06T07:08:09.5Z".into())),
                ),
            ],
        )];
        assert_eq!(
            emit_str(&doc),
            "[s]\ni = 7\nf = 3.0\ng = 1E+20\nb = false\nn = <nil>\nt = 2024-05-06T07:08:09Z\n"
        );
    }

    #[test]
    fn malformed_inputs_are_errors() {
        for bad in [
            "[unclosed\nk=v\n",
            "[]\nk=v\n",
            "[a]\nnodelimiter\n",
            "[a]\n=novalue\n",
            "[a]\n:novalue\n",
            "[a]\nk = \"\"\"never closed\nmore\n",
            "[a]\nk = `never closed",
            "[a]\n\"unclosed = v\n",
            "[a]\n\"k\" v\n",
            "[a]\n\"\" = v\n",
            "[a]\nk = 1\nk = 2\n",
            "k = 1\n[a]\nk = 2\nk = 3\n",
        ] {
            assert!(
                matches!(load(bad.as_bytes()), Err(Error::Parse(_))),
                "{bad:?}"
            );
        }
        match load(b"[a]\nk = 1\n\nk = 2\n") {
            Err(Error::Parse(m)) => assert!(m.contains("line 4") && m.contains("\"k\""), "{m}"),
            _ => panic!("accepted"),
        }
        assert!(load(b"\xff\xfe[\x00a\x00]\x00").is_err());
        assert!(load(b"[a]\n\xff = v\n").is_err());
        // Same key in two sections, and duplicate section names, are fine.
        assert!(load(b"[a]\nk=1\n[b]\nk=2\n[a]\nk=3\n").is_ok());
        // Non-UTF-8 values are kept as bytes.
        let doc = load(b"[a]\nk = \xff\n").unwrap();
        assert_eq!(emit(&doc).unwrap(), b"[a]\nk = \xff\n");
    }

    #[test]
    fn no_panics_on_arbitrary_input() {
        let doc = "\u{feff}; c\n[s] # x\n\"k\"=\"\"\"a\nb\"\"\" ;c\n`q`: `v;`\nc = a \\\n b\n- = x\n[t]\nk = 'v'\n";
        for n in 0..=doc.len() {
            if let Ok(d) = load(&doc.as_bytes()[..n]) {
                let _ = emit(&d);
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"[]=:;#\"'`\\\n\r\t -ab\xc2\xa0\xff";
        for _ in 0..3000 {
            let len = (seed % 40) as usize;
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            if let Ok(d) = load(&buf)
                && let Ok(out) = emit(&d)
            {
                // Whatever sigil writes reads back to the same tree.
                let again = load(&out).expect("emitted INI reloads");
                assert_eq!(emit(&again).unwrap(), out);
            }
        }
    }
}
