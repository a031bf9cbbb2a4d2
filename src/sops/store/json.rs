//! The JSON store: a strict streaming parser that keeps key order, and an emitter that
//! reproduces sops 3.11's output (Go `encoding/json` marshalling followed by `json.Indent`).
//!
//! Parsing differs from sops on purpose in a few places (sigil is stricter):
//! duplicate keys in one object, trailing data after the top-level object, raw bytes that
//! are not UTF-8 and numbers outside the float64 range are errors. Integers that fit an
//! `i64` load as [`Value::Int`] (like sops 3.13.2), other numbers as [`Value::Float`].

use std::collections::HashSet;

use zeroize::Zeroizing;

use crate::sops::error::Error;
use crate::sops::tree::{Bytes, Entry, Value};

/// Deepest nesting of objects and arrays accepted on load.
pub const MAX_DEPTH: usize = 512;

/// Parses a JSON document whose top level is an object into its entries (in file order).
pub fn load(input: &[u8]) -> Result<Vec<Entry>, Error> {
    let text = std::str::from_utf8(input).map_err(|e| {
        let (line, col) = location(input, e.valid_up_to());
        Error::Parse(format!(
            "invalid JSON: input is not valid UTF-8 at line {line}, column {col}"
        ))
    })?;
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    p.skip_ws();
    match p.peek() {
        Some(b'{') => {}
        None => return Err(p.err("the input is empty; expected a JSON object")),
        Some(_) => {
            return Err(
                p.err("sops only supports JSON files with a top-level object (starting with '{')")
            );
        }
    }
    p.pos += 1;
    let entries = p.object(1)?;
    p.skip_ws();
    if p.pos < p.s.len() {
        return Err(p.err("unexpected data after the top-level object"));
    }
    Ok(entries)
}

/// 1-based line and column (in characters) of a byte offset.
fn location(s: &[u8], pos: usize) -> (usize, usize) {
    let pos = pos.min(s.len());
    let before = &s[..pos];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // Count characters, not bytes: continuation bytes don't start a character.
    let col = before[start..]
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count()
        + 1;
    (line, col)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> Error {
        self.err_at(self.pos, msg)
    }

    fn err_at(&self, pos: usize, msg: &str) -> Error {
        let (line, col) = location(self.s, pos);
        Error::Parse(format!("invalid JSON at line {line}, column {col}: {msg}"))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn unexpected(&self, wanted: &str) -> Error {
        match self.peek() {
            None => self.err(&format!("unexpected end of input, expected {wanted}")),
            Some(_) => {
                let end = (self.pos + 4).min(self.s.len());
                let c = String::from_utf8_lossy(&self.s[self.pos..end])
                    .chars()
                    .next()
                    .unwrap_or('?');
                self.err(&format!(
                    "unexpected character {}, expected {wanted}",
                    describe(c)
                ))
            }
        }
    }

    /// Parses the members of an object whose `{` was consumed.
    fn object(&mut self, depth: usize) -> Result<Vec<Entry>, Error> {
        if depth > MAX_DEPTH {
            return Err(self.err(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let mut entries = Vec::new();
        let mut key_pos = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(entries);
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("an object key (a string)"));
            }
            key_pos.push(self.pos);
            let key = self.string()?;
            // Escapes always decode to valid UTF-8 and the input was checked to be UTF-8.
            let key = String::from_utf8(key.to_vec())
                .map_err(|_| self.err_at(self.pos, "object key is not valid UTF-8"))?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("':' after an object key"));
            }
            self.pos += 1;
            let value = self.value(depth)?;
            entries.push(Entry::Pair(Zeroizing::new(key), value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.unexpected("',' or '}' in an object")),
            }
        }
        let mut seen: HashSet<&str> = HashSet::with_capacity(entries.len());
        for (entry, pos) in entries.iter().zip(&key_pos) {
            if let Entry::Pair(k, _) = entry
                && !seen.insert(k.as_str())
            {
                return Err(self.err_at(
                    *pos,
                    &format!("duplicate key \"{}\" in an object", k.as_str()),
                ));
            }
        }
        Ok(entries)
    }

    /// Parses the items of an array whose `[` was consumed.
    fn array(&mut self, depth: usize) -> Result<Vec<Value>, Error> {
        if depth > MAX_DEPTH {
            return Err(self.err(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => return Err(self.unexpected("',' or ']' in an array")),
            }
        }
    }

    /// Parses any value; `depth` is the nesting level of the container holding it.
    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                Ok(Value::Map(self.object(depth + 1)?))
            }
            Some(b'[') => {
                self.pos += 1;
                Ok(Value::Seq(self.array(depth + 1)?))
            }
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.unexpected("a value")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, Error> {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal (expected true, false or null)"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.err("invalid number: leading zeros are not allowed"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number: expected a digit")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number: expected a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number: expected a digit in the exponent"));
            }
        }
        // The slice is ASCII (checked above), so this cannot fail.
        let text = std::str::from_utf8(&self.s[start..self.pos])
            .map_err(|_| self.err_at(start, "invalid number"))?;
        // `-0` stays a float: an int would lose the sign, and sops hashes it as `-0`.
        if integer
            && text != "-0"
            && let Ok(i) = text.parse::<i64>()
        {
            return Ok(Value::Int(i));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(self.err_at(start, "number out of the range of a 64-bit float")),
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.s.get(at..at + 4)?;
        let mut v = 0u32;
        for &c in h {
            v = v * 16 + (c as char).to_digit(16)?;
        }
        Some(v)
    }

    /// Parses a string at the opening quote; returns its UTF-8 bytes.
    fn string(&mut self) -> Result<Bytes, Error> {
        let open = self.pos;
        self.pos += 1;
        // Find the closing quote first so the buffer never reallocates (no stray copies).
        let mut end = self.pos;
        loop {
            match self.s.get(end) {
                None => return Err(self.err_at(open, "unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => end += 2,
                Some(_) => end += 1,
            }
        }
        let mut out: Bytes = Zeroizing::new(Vec::with_capacity(end - self.pos));
        while self.pos < end {
            let c = self.s[self.pos];
            match c {
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos + 1) else {
                        return Err(self.err("unterminated escape sequence"));
                    };
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(0x08),
                        b'f' => Some(0x0c),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => return Err(self.err("invalid escape sequence in string")),
                    };
                    if let Some(b) = simple {
                        out.push(b);
                        self.pos += 2;
                        continue;
                    }
                    let Some(u) = self.hex4(self.pos + 2) else {
                        return Err(self.err("invalid \\u escape in string"));
                    };
                    self.pos += 6;
                    let ch = if (0xD800..0xDC00).contains(&u) {
                        // A high surrogate: combine with a following low surrogate escape,
                        // else it stands alone and becomes U+FFFD (as Go does).
                        let low = if self.s.get(self.pos..self.pos + 2) == Some(b"\\u") {
                            self.hex4(self.pos + 2)
                                .filter(|l| (0xDC00..0xE000).contains(l))
                        } else {
                            None
                        };
                        match low {
                            Some(l) => {
                                self.pos += 6;
                                char::from_u32(0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00))
                            }
                            None => None,
                        }
                    } else {
                        char::from_u32(u)
                    };
                    let ch = ch.unwrap_or('\u{FFFD}');
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(self.err("control character in string (must be escaped)")),
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos = end + 1;
        Ok(out)
    }
}

fn describe(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("'{c}'")
    }
}

/// Emits a document like sops 3.11's JSON store: `indent` -1 is one tab, 0 a newline per
/// element without indentation, N > 0 that many spaces; a trailing newline ends the output.
/// Comments are dropped (JSON has none).
pub fn emit(doc: &[Entry], indent: i32) -> Result<Vec<u8>, Error> {
    let unit = indent_unit(indent)?;
    let mut out = Vec::new();
    write_map(&mut out, doc, &unit, 0)?;
    out.push(b'\n');
    Ok(out)
}

/// What sops's JSON store `EmitValue` prints (used by `--extract` for values that are not
/// strings): the marshalled, re-indented value without a trailing newline. A string is
/// printed as a JSON string here; sops's `--extract` prints strings raw before reaching this.
pub fn emit_value(v: &Value, indent: i32) -> Result<Vec<u8>, Error> {
    let unit = indent_unit(indent)?;
    let mut out = Vec::new();
    write_value(&mut out, v, &unit, 0)?;
    Ok(out)
}

fn indent_unit(indent: i32) -> Result<Vec<u8>, Error> {
    match indent {
        -1 => Ok(b"\t".to_vec()),
        n if n >= 0 => Ok(vec![b' '; n as usize]),
        _ => Err(Error::Emit(
            "JSON Indentation parameter smaller than -1 is not accepted".into(),
        )),
    }
}

fn newline(out: &mut Vec<u8>, unit: &[u8], depth: usize) {
    out.push(b'\n');
    for _ in 0..depth {
        out.extend_from_slice(unit);
    }
}

fn write_map(out: &mut Vec<u8>, entries: &[Entry], unit: &[u8], depth: usize) -> Result<(), Error> {
    out.push(b'{');
    let mut empty = true;
    for e in entries {
        let Entry::Pair(k, v) = e else { continue };
        if !empty {
            out.push(b',');
        }
        empty = false;
        newline(out, unit, depth + 1);
        write_string(out, k.as_bytes());
        out.extend_from_slice(b": ");
        write_value(out, v, unit, depth + 1)?;
    }
    if !empty {
        newline(out, unit, depth);
    }
    out.push(b'}');
    Ok(())
}

fn write_value(out: &mut Vec<u8>, v: &Value, unit: &[u8], depth: usize) -> Result<(), Error> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => out.extend_from_slice(format_float(*f)?.as_bytes()),
        Value::Str(s) => write_string(out, s),
        Value::Time(t) => write_string(out, t.as_bytes()),
        Value::Comment(_) => {
            return Err(Error::Emit(
                "a comment cannot be emitted as a JSON value".into(),
            ));
        }
        Value::Map(entries) => write_map(out, entries, unit, depth)?,
        Value::Seq(items) => {
            out.push(b'[');
            let mut empty = true;
            for item in items {
                if let Value::Comment(_) = item {
                    continue;
                }
                if !empty {
                    out.push(b',');
                }
                empty = false;
                newline(out, unit, depth + 1);
                write_value(out, item, unit, depth + 1)?;
            }
            if !empty {
                newline(out, unit, depth);
            }
            out.push(b']');
        }
    }
    Ok(())
}

/// Go `encoding/json` float64 formatting: shortest digits, exponent form only below 1e-6 or
/// from 1e21 on (`1e+21`, `1e-7`). NaN and infinities cannot be marshalled.
pub fn format_float(f: f64) -> Result<String, Error> {
    if !f.is_finite() {
        let shown = if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        };
        return Err(Error::Emit(format!("json: unsupported value: {shown}")));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        return Ok(match exp.strip_prefix('-') {
            Some(e) => format!("{mant}e-{e}"),
            None => format!("{mant}e+{exp:0>2}"),
        });
    }
    Ok(format!("{f}"))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Length of the valid UTF-8 sequence starting `s`, or `None` (Go then takes one byte as
/// U+FFFD).
fn utf8_len(s: &[u8]) -> Option<usize> {
    let n = match s.first()? {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let seq = s.get(..n)?;
    std::str::from_utf8(seq).ok().map(|_| n)
}

/// Go `encoding/json` string encoding with HTML escaping (`json.Marshal`).
fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            match b {
                b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                0..=0x1f | b'<' | b'>' | b'&' => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xF) as usize]);
                }
                _ => out.push(b),
            }
            i += 1;
            continue;
        }
        match utf8_len(&s[i..]) {
            None => {
                out.extend_from_slice(b"\\ufffd");
                i += 1;
            }
            Some(n) => {
                let seq = &s[i..i + n];
                if seq == "\u{2028}".as_bytes() {
                    out.extend_from_slice(b"\\u2028");
                } else if seq == "\u{2029}".as_bytes() {
                    out.extend_from_slice(b"\\u2029");
                } else {
                    out.extend_from_slice(seq);
                }
                i += n;
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::str(v)
    }

    fn pair(k: &str, v: Value) -> Entry {
        Entry::Pair(Zeroizing::new(k.to_string()), v)
    }

    fn roundtrip(input: &str, indent: i32) -> String {
        let doc = load(input.as_bytes()).unwrap();
        String::from_utf8(emit(&doc, indent).unwrap()).unwrap()
    }

    fn parse_err(input: &[u8]) -> String {
        match load(input) {
            Err(Error::Parse(m)) => m,
            Err(e) => panic!("wrong error kind: {e}"),
            Ok(_) => panic!("accepted {:?}", String::from_utf8_lossy(input)),
        }
    }

    const EXAMPLE: &str = "{\n\t\"firstName\": \"John\",\n\t\"lastName\": \"Smith\",\n\t\"age\": 25.4,\n\t\"address\": {\n\t\t\"city\": \"New York\",\n\t\t\"postalCode\": \"10021-3100\",\n\t\t\"state\": \"NY\",\n\t\t\"streetAddress\": \"21 2nd Street\"\n\t},\n\t\"phoneNumbers\": [\n\t\t{\n\t\t\t\"number\": \"212 555-1234\",\n\t\t\t\"type\": \"home\"\n\t\t},\n\t\t{\n\t\t\t\"number\": \"646 555-4567\",\n\t\t\t\"type\": \"office\"\n\t\t}\n\t],\n\t\"anEmptyValue\": \"\"\n}\n";

    #[test]
    fn example_round_trips_byte_for_byte() {
        assert_eq!(roundtrip(EXAMPLE, -1), EXAMPLE);
        // The same document written compactly is re-emitted in sops's layout.
        let compact: String = EXAMPLE
            .chars()
            .filter(|c| *c != '\n' && *c != '\t')
            .collect();
        assert_eq!(roundtrip(&compact, -1), EXAMPLE);
    }

    #[test]
    fn reference_vectors_round_trip() {
        let dir = std::path::Path::new("../shared/vectors/sops/decrypted-by-sops-3.11.0");
        for name in [
            "example.json",
            "pr-1031-age-examples/example.json",
            "functional-tests/res/format.enc.json",
            "examples/all_in_one/config/secret.enc.json",
            "examples/per_file/config.enc/static_github.json",
        ] {
            let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
                continue;
            };
            assert_eq!(roundtrip(&text, -1), text, "{name}");
        }
        // Encrypted files written by sops (metadata included) re-emit identically too (some
        // copies in the sops repository lost their final newline).
        let dir = std::path::Path::new("../shared/vectors/sops");
        for name in [
            "example.json",
            "pr-1031-age-examples/example.json",
            "functional-tests/res/format.enc.json",
            "examples/all_in_one/config/secret.enc.json",
            "examples/per_file/config.enc/static_github.json",
        ] {
            let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
                continue;
            };
            let want = if text.ends_with('\n') {
                text.clone()
            } else {
                format!("{text}\n")
            };
            assert_eq!(roundtrip(&text, -1), want, "{name}");
        }
    }

    #[test]
    fn types_and_order() {
        let doc = load(br#"{"z": 1, "a": -2.5, "m": 1e3, "t": true, "f": false, "n": null, "big": 12345678901234567890, "neg": -9223372036854775808}"#).unwrap();
        let keys: Vec<&str> = doc
            .iter()
            .map(|e| match e {
                Entry::Pair(k, _) => k.as_str(),
                Entry::Comment(_) => "#",
            })
            .collect();
        assert_eq!(keys, ["z", "a", "m", "t", "f", "n", "big", "neg"]);
        let vals: Vec<&Value> = doc
            .iter()
            .filter_map(|e| match e {
                Entry::Pair(_, v) => Some(v),
                Entry::Comment(_) => None,
            })
            .collect();
        assert!(matches!(vals[0], Value::Int(1)));
        assert!(matches!(vals[1], Value::Float(f) if *f == -2.5));
        assert!(matches!(vals[2], Value::Float(f) if *f == 1000.0));
        assert!(matches!(vals[3], Value::Bool(true)));
        assert!(matches!(vals[4], Value::Bool(false)));
        assert!(matches!(vals[5], Value::Null));
        assert!(matches!(vals[6], Value::Float(f) if *f == 12345678901234567890.0));
        assert!(matches!(vals[7], Value::Int(i64::MIN)));
        let out = String::from_utf8(emit(&doc, 0).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\n\"z\": 1,\n\"a\": -2.5,\n\"m\": 1000,\n\"t\": true,\n\"f\": false,\n\"n\": null,\n\"big\": 12345678901234567000,\n\"neg\": -9223372036854775808\n}\n"
        );
    }

    #[test]
    fn string_escapes_decode() {
        let doc = load(br#"{"k": "a\"b\\c\/d\be\ff\ng\rh\ti\u00e9\u20ac\ud83d\ude00"}"#).unwrap();
        let Entry::Pair(_, Value::Str(v)) = &doc[0] else {
            panic!()
        };
        assert_eq!(
            &v[..],
            "a\"b\\c/d\u{8}e\u{c}f\ng\rh\ti\u{e9}\u{20ac}\u{1F600}".as_bytes()
        );
        // Lone surrogates become U+FFFD, like Go; the next escape is still read.
        let doc = load(br#"{"k": "\ud800x\udc00\ud800\u0041"}"#).unwrap();
        let Entry::Pair(_, Value::Str(v)) = &doc[0] else {
            panic!()
        };
        assert_eq!(&v[..], "\u{FFFD}x\u{FFFD}\u{FFFD}A".as_bytes());
        // Raw non-ASCII UTF-8 is kept.
        let doc = load("{\"ключ\": \"значение ✓\"}".as_bytes()).unwrap();
        let Entry::Pair(k, Value::Str(v)) = &doc[0] else {
            panic!()
        };
        assert_eq!(k.as_str(), "ключ");
        assert_eq!(&v[..], "значение ✓".as_bytes());
    }

    #[test]
    fn string_encoding_matches_go() {
        // Expected output produced by Go's json.Marshal (Go >= 1.22 writes \b and \f).
        let raw: &[u8] = b"a<b>&c\xe2\x80\xa8\xe2\x80\xa9\x01\x1f\x7f\"\\\n\r\t \xc3\xa9\xff\xe2\x82x\xed\xa0\x80\x08\x0c";
        let mut out = Vec::new();
        write_string(&mut out, raw);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\u0001\\u001f\x7f\\\"\\\\\\n\\r\\t \u{e9}\\ufffd\\ufffd\\ufffdx\\ufffd\\ufffd\\ufffd\\b\\f\""
        );
        let doc = vec![pair("<k>", s("é&"))];
        assert_eq!(
            emit(&doc, -1).unwrap(),
            "{\n\t\"\\u003ck\\u003e\": \"é\\u0026\"\n}\n".as_bytes()
        );
    }

    #[test]
    fn float_formatting_matches_go() {
        // (value, Go json.Marshal)
        for (f, want) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (25.4, "25.4"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (123456789.123, "123456789.123"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (12345678901234567890.0, "12345678901234567000"),
            (-2.5e-10, "-2.5e-10"),
            (1.2345e22, "1.2345e+22"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(format_float(f).unwrap(), want, "{f:e}");
        }
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(format_float(bad), Err(Error::Emit(_))));
            let doc = vec![pair("x", Value::Float(bad))];
            assert!(matches!(emit(&doc, -1), Err(Error::Emit(_))));
        }
    }

    #[test]
    fn indentation_modes() {
        let input = r#"{"a": {}, "b": [], "c": [1, {"d": [ ]}], "e": { }}"#;
        // Expected outputs produced by Go's json.Indent.
        assert_eq!(
            roundtrip(input, 2),
            "{\n  \"a\": {},\n  \"b\": [],\n  \"c\": [\n    1,\n    {\n      \"d\": []\n    }\n  ],\n  \"e\": {}\n}\n"
        );
        assert_eq!(
            roundtrip(input, 0),
            "{\n\"a\": {},\n\"b\": [],\n\"c\": [\n1,\n{\n\"d\": []\n}\n],\n\"e\": {}\n}\n"
        );
        assert_eq!(
            roundtrip(input, -1),
            "{\n\t\"a\": {},\n\t\"b\": [],\n\t\"c\": [\n\t\t1,\n\t\t{\n\t\t\t\"d\": []\n\t\t}\n\t],\n\t\"e\": {}\n}\n"
        );
        assert_eq!(roundtrip("{}", -1), "{}\n");
        assert!(matches!(emit(&[], -2), Err(Error::Emit(_))));
    }

    #[test]
    fn comments_are_dropped() {
        let doc = vec![
            Entry::Comment(Zeroizing::new("top".into())),
            pair(
                "l",
                Value::Seq(vec![
                    Value::Comment(Zeroizing::new("c".into())),
                    Value::Int(1),
                ]),
            ),
            pair(
                "only",
                Value::Seq(vec![Value::Comment(Zeroizing::new("c".into()))]),
            ),
            pair(
                "m",
                Value::Map(vec![Entry::Comment(Zeroizing::new("c".into()))]),
            ),
            pair(
                "t",
                Value::Time(Zeroizing::new("2020-01-02T03:04:05.5+01:00".into())),
            ),
        ];
        assert_eq!(
            String::from_utf8(emit(&doc, -1).unwrap()).unwrap(),
            "{\n\t\"l\": [\n\t\t1\n\t],\n\t\"only\": [],\n\t\"m\": {},\n\t\"t\": \"2020-01-02T03:04:05.5+01:00\"\n}\n"
        );
    }

    #[test]
    fn emit_value_has_no_trailing_newline() {
        let list = Value::Seq(vec![
            s("a"),
            Value::Int(2),
            Value::Map(vec![pair("k", Value::Null)]),
        ]);
        assert_eq!(
            String::from_utf8(emit_value(&list, -1).unwrap()).unwrap(),
            "[\n\t\"a\",\n\t2,\n\t{\n\t\t\"k\": null\n\t}\n]"
        );
        assert_eq!(emit_value(&Value::Int(5), -1).unwrap(), b"5");
        assert_eq!(emit_value(&Value::Bool(false), 4).unwrap(), b"false");
        assert_eq!(emit_value(&Value::Float(1.5), 4).unwrap(), b"1.5");
        assert_eq!(emit_value(&Value::Null, 4).unwrap(), b"null");
        assert_eq!(emit_value(&s("x<"), 4).unwrap(), b"\"x\\u003c\"");
        assert_eq!(emit_value(&Value::Seq(vec![]), 4).unwrap(), b"[]");
        assert_eq!(
            emit_value(&Value::Map(vec![pair("a", Value::Int(1))]), 2).unwrap(),
            b"{\n  \"a\": 1\n}"
        );
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let m = parse_err(b"{\"a\": 1,\n \"b\": {\"x\": 1, \"x\": 2}}");
        assert!(m.contains("duplicate key \"x\""), "{m}");
        assert!(m.contains("line 2"), "{m}");
        let m = parse_err(br#"{"a": 1, "a": 1}"#);
        assert!(m.contains("\"a\""), "{m}");
        // Same key in different objects is fine.
        assert!(load(br#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}"#).is_ok());
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let bad: &[&[u8]] = &[
            b"",
            b"   ",
            b"[]",
            b"\"x\"",
            b"1",
            b"null",
            b"{",
            b"{\"a\"",
            b"{\"a\":",
            b"{\"a\": 1",
            b"{\"a\": 1,}",
            b"{,}",
            b"{\"a\" 1}",
            b"{a: 1}",
            b"{'a': 1}",
            b"{\"a\": [1,]}",
            b"{\"a\": [1 2]}",
            b"{\"a\": 01}",
            b"{\"a\": -01}",
            b"{\"a\": +1}",
            b"{\"a\": .5}",
            b"{\"a\": 1.}",
            b"{\"a\": 1e}",
            b"{\"a\": 1e+}",
            b"{\"a\": -}",
            b"{\"a\": NaN}",
            b"{\"a\": Infinity}",
            b"{\"a\": 1e400}",
            b"{\"a\": tru}",
            b"{\"a\": True}",
            b"{\"a\": nul}",
            b"{\"a\": \"x\\q\"}",
            b"{\"a\": \"x\\u12\"}",
            b"{\"a\": \"x\\u12g4\"}",
            b"{\"a\": \"tab\there\"}",
            b"{\"a\": \"line\nbreak\"}",
            b"{\"a\": \"unterminated}",
            b"{\"a\": \"x\\",
            b"{\"a\": \"\xff\"}",
            b"\xef\xbb\xbf{}",
            b"{} {}",
            b"{}x",
            b"{\"a\": 1} // comment",
            b"{\"a\": 1}\x00",
        ];
        for input in bad {
            parse_err(input);
        }
        let m = parse_err(b"{\n  \"a\": 1,\n  \"b\": x\n}");
        assert!(m.contains("line 3, column 8"), "{m}");
        let m = parse_err("{\"é\": \"\u{e9}\", \"b\": \u{e9}}".as_bytes());
        assert!(
            m.contains("line 1, column 17: unexpected character 'é'"),
            "{m}"
        );
    }

    #[test]
    fn whitespace_and_trailing_whitespace_are_fine() {
        assert!(load(b" \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \r\n\t ").is_ok());
        assert!(load(b"{\"a\": -0, \"b\": 0.0e-5, \"c\": 1E+2, \"d\": -1.5e-3}").is_ok());
    }

    #[test]
    fn nesting_limit() {
        let ok = format!(
            "{}{}{}",
            "{\"a\":".repeat(MAX_DEPTH - 1),
            "{}",
            "}".repeat(MAX_DEPTH - 1)
        );
        assert!(load(ok.as_bytes()).is_ok());
        let deep = format!(
            "{}{}{}",
            "{\"a\":".repeat(MAX_DEPTH),
            "{}",
            "}".repeat(MAX_DEPTH)
        );
        assert!(parse_err(deep.as_bytes()).contains("nesting"));
        let arrays = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_err(arrays.as_bytes()).contains("nesting"));
        // Unclosed deep input fails cleanly too.
        let open = "[".repeat(1_000_000);
        parse_err(format!("{{\"a\":{open}").as_bytes());
    }

    #[test]
    fn every_prefix_of_a_document_is_handled() {
        let doc = br#"{"a": [1, -2.5e3, true, null, {"b": "x\u00e9\ud83d\ude00\n"}], "c": {}}"#;
        for n in 0..doc.len() {
            let _ = load(&doc[..n]);
        }
        assert!(load(doc).is_ok());
    }

    #[test]
    fn deep_emit_round_trip() {
        let input = "{\n    \"a\": [\n        [\n            []\n        ],\n        {\n            \"b\": [\n                \"x\"\n            ]\n        }\n    ]\n}\n";
        assert_eq!(roundtrip(input, 4), input);
    }
}

#[cfg(test)]
mod metadata_tests {
    use super::*;
    use crate::sops::metadata::Metadata;

    #[test]
    fn metadata_block_re_emits_like_sops() {
        let path = "../shared/vectors/sops/functional-tests/res/format.enc.json";
        let Ok(text) = std::fs::read(path) else {
            return;
        };
        let mut doc = load(&text).unwrap();
        let pos = doc
            .iter()
            .position(|e| matches!(e, Entry::Pair(k, _) if k.as_str() == "sops"))
            .unwrap();
        let Entry::Pair(_, meta) = doc.remove(pos) else {
            panic!()
        };
        let md = Metadata::from_value(&meta).unwrap();
        doc.push(Entry::Pair(
            Zeroizing::new("sops".into()),
            md.to_value(true),
        ));
        assert_eq!(emit(&doc, -1).unwrap(), text);
    }
}
