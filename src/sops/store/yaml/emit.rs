//! Document trees → YAML, laid out as sops 3.11 (go-yaml v3, indent 4) prints them.

use base64::Engine;

use super::resolve::{Resolved, resolve_plain};
use crate::sops::error::Error;
use crate::sops::tree::{Entry, Value};

/// Emits documents separated by `---`, each a block mapping (`{}` when empty).
///
/// With `comment_quirks`, comments trailing a list that ends with a block collection are
/// written where go-yaml writes them (at the next foot flush point, possibly under another
/// mapping), so decrypted output matches sops byte for byte. Encrypted files are written
/// without the quirk: a moved encrypted comment would no longer authenticate under its path.
pub fn emit(docs: &[Vec<Entry>], indent: usize, comment_quirks: bool) -> Result<Vec<u8>, Error> {
    let indent = if (2..=9).contains(&indent) { indent } else { 2 };
    let hint: usize = docs.iter().map(|d| entries_len(d)).sum();
    let mut e = Emitter {
        out: Vec::with_capacity(hint + 1024),
        indent,
        pending_foot: Vec::new(),
        quirks: comment_quirks,
    };
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            e.out.extend_from_slice(b"---\n");
        }
        if !doc.iter().any(|x| matches!(x, Entry::Pair(..))) {
            for c in doc {
                if let Entry::Comment(c) = c {
                    e.comment(c, 0, false);
                }
            }
            e.out.extend_from_slice(b"{}\n");
        } else {
            e.entries(doc, 0, false)?;
        }
        if !e.pending_foot.is_empty() {
            // At the document end go-yaml writes a leaked foot after a blank line.
            e.out.push(b'\n');
            e.flush_foot(0);
        }
    }
    Ok(e.out)
}

/// A capacity guess for the emitted text: every key, value and comment plus a little per
/// node. Large documents are then written without reallocating, which is faster and leaves
/// no stray copies of decrypted text in freed buffers.
fn entries_len(entries: &[Entry]) -> usize {
    entries
        .iter()
        .map(|e| match e {
            Entry::Pair(k, v) => k.len() + 8 + value_len(v),
            Entry::Comment(c) => c.len() + 8,
        })
        .sum()
}

fn value_len(v: &Value) -> usize {
    match v {
        Value::Str(b) => b.len() + 8,
        Value::Time(t) | Value::Comment(t) => t.len() + 8,
        Value::Map(m) => entries_len(m),
        Value::Seq(items) => items.iter().map(|i| value_len(i) + 4).sum(),
        Value::Null | Value::Int(_) | Value::Float(_) | Value::Bool(_) => 24,
    }
}

/// Emits a single value for `--extract` (a mapping as a document, a scalar on its own line).
pub fn emit_value(v: &Value, indent: usize) -> Result<Vec<u8>, Error> {
    let indent = if (2..=9).contains(&indent) { indent } else { 2 };
    let mut e = Emitter {
        out: Vec::with_capacity(value_len(v) + 64),
        indent,
        pending_foot: Vec::new(),
        quirks: true,
    };
    match v {
        Value::Map(entries) if !entries.is_empty() => e.entries(entries, 0, false)?,
        Value::Seq(items) if !items.is_empty() => e.items(items, 0, false)?,
        Value::Map(_) => e.out.extend_from_slice(b"{}\n"),
        Value::Seq(_) => e.out.extend_from_slice(b"[]\n"),
        scalar => {
            let s = render(scalar)?;
            e.scalar_body(&s, indent, 0)?;
        }
    }
    Ok(e.out)
}

/// How a scalar is written.
enum Scalar<'a> {
    Plain(std::borrow::Cow<'a, str>),
    Single(std::borrow::Cow<'a, str>),
    Double(std::borrow::Cow<'a, str>),
    /// A literal block: header (`|`, `|-`, `|4+`…) and the text.
    Literal(String, String),
}

struct Emitter {
    out: Vec<u8>,
    indent: usize,
    /// Trailing comments of a sequence that ended with a block collection: go-yaml carries
    /// them on the collection's end event and writes them at the next foot flush point.
    pending_foot: Vec<String>,
    /// Reproduce go-yaml's comment displacement (plaintext output only).
    quirks: bool,
}

impl Emitter {
    /// go-yaml's child indent: the parent indent rounded down to the grid, plus one step.
    fn snap(&self, col: usize) -> usize {
        self.indent * ((col + self.indent) / self.indent)
    }

    fn pad(&mut self, col: usize) {
        self.out.extend(std::iter::repeat_n(b' ', col));
    }

    fn comment(&mut self, text: &str, col: usize, first_inline: bool) {
        if !first_inline {
            self.pad(col);
        }
        self.out.push(b'#');
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'\n');
    }

    fn flush_foot(&mut self, col: usize) {
        for c in std::mem::take(&mut self.pending_foot) {
            self.comment(&c, col, false);
        }
    }

    /// A block mapping whose keys start at `col`; with `first_inline` the cursor already sits
    /// there (after `- `).
    fn entries(&mut self, entries: &[Entry], col: usize, first_inline: bool) -> Result<(), Error> {
        let mut inline = first_inline;
        for entry in entries {
            match entry {
                Entry::Comment(c) => self.comment(c, col, inline),
                Entry::Pair(k, v) => {
                    if !inline {
                        self.pad(col);
                    }
                    let key = string_style(k);
                    if k.len() > 128 || k.contains(is_break) {
                        // libyaml writes long or multi-line keys as complex keys.
                        self.out.extend_from_slice(b"? ");
                        self.scalar_body(&key, self.snap(col), col)?;
                        self.pad(col);
                        self.out.push(b':');
                        self.after_complex_key(v, col)?;
                    } else {
                        self.key(&key, k)?;
                        self.after_key(v, col)?;
                    }
                    if !self.pending_foot.is_empty() && !is_block_collection(v) {
                        self.flush_foot(col);
                    }
                }
            }
            inline = false;
        }
        Ok(())
    }

    fn key(&mut self, key: &Scalar<'_>, raw: &str) -> Result<(), Error> {
        if raw == "<<" {
            self.out.extend_from_slice(b"!!merge <<:");
            return Ok(());
        }
        match key {
            Scalar::Plain(s) | Scalar::Single(s) | Scalar::Double(s) => {
                self.out.extend_from_slice(s.as_bytes())
            }
            Scalar::Literal(..) => {
                let d = double_quoted(raw);
                self.out.extend_from_slice(d.as_bytes());
            }
        }
        self.out.push(b':');
        Ok(())
    }

    /// The value after a complex key's `:`, which counts as indentation: a block collection
    /// starts on the same line, padded to the child indent.
    fn after_complex_key(&mut self, v: &Value, col: usize) -> Result<(), Error> {
        let child = self.snap(col);
        let leading_comment = match v {
            Value::Map(e) => matches!(e.first(), Some(Entry::Comment(_))),
            Value::Seq(i) => matches!(i.first(), Some(Value::Comment(_))),
            _ => false,
        };
        match v {
            // A comment cannot follow `:` on its line (it would read back as the key's comment).
            _ if leading_comment => self.after_key(v, col),
            Value::Map(e) if !e.is_empty() => {
                self.pad(child - col - 1);
                self.entries(e, child, true)
            }
            Value::Seq(i) if !i.is_empty() => {
                self.pad(child - col - 1);
                self.items(i, child, true)
            }
            other => self.after_key(other, col),
        }
    }

    fn after_key(&mut self, v: &Value, col: usize) -> Result<(), Error> {
        match v {
            Value::Map(e) if e.is_empty() => self.out.extend_from_slice(b" {}\n"),
            Value::Seq(i) if i.is_empty() => self.out.extend_from_slice(b" []\n"),
            Value::Map(e) => {
                self.out.push(b'\n');
                self.flush_foot(col);
                self.entries(e, self.snap(col), false)?;
            }
            Value::Seq(items) => {
                self.out.push(b'\n');
                self.flush_foot(col);
                self.items(items, self.snap(col), false)?;
            }
            Value::Comment(c) => {
                // A comment in value position cannot occur in sops trees; keep it visible.
                self.out.push(b'\n');
                self.comment(c, self.snap(col), false);
            }
            scalar => {
                self.out.push(b' ');
                let s = render(scalar)?;
                self.scalar_body(&s, self.snap(col), col)?;
            }
        }
        Ok(())
    }

    /// Writes a scalar at the cursor; block content goes at `content_col`.
    /// Writes a scalar at the cursor; block content goes at `content_col`, and an explicit
    /// indentation indicator is relative to `parent_col` (go-yaml always writes the indent step,
    /// which is wrong off the grid and would not parse back).
    fn scalar_body(
        &mut self,
        s: &Scalar<'_>,
        content_col: usize,
        parent_col: usize,
    ) -> Result<(), Error> {
        match s {
            Scalar::Plain(t) | Scalar::Single(t) | Scalar::Double(t) => {
                self.out.extend_from_slice(t.as_bytes());
                self.out.push(b'\n');
            }
            Scalar::Literal(header, text) => {
                let step = content_col.saturating_sub(parent_col);
                let header = if header.contains(char::is_numeric) && (1..=9).contains(&step) {
                    header.replace(|c: char| c.is_ascii_digit(), &step.to_string())
                } else {
                    header.clone()
                };
                self.out.extend_from_slice(header.as_bytes());
                self.out.push(b'\n');
                let body = text.strip_suffix('\n').unwrap_or(text);
                for line in body.split('\n') {
                    if !line.is_empty() {
                        self.pad(content_col);
                        self.out.extend_from_slice(line.as_bytes());
                    }
                    self.out.push(b'\n');
                }
                if text.ends_with('\n') && header.ends_with('+') {
                    // `|+` keeps the final break, already implied by the loop above.
                }
            }
        }
        Ok(())
    }

    fn items(&mut self, items: &[Value], col: usize, first_inline: bool) -> Result<(), Error> {
        let mut inline = first_inline;
        let tail = items
            .iter()
            .rposition(|v| !matches!(v, Value::Comment(_)))
            .map_or(0, |i| i + 1);
        let (items, trailing) = match items.get(tail.wrapping_sub(1)) {
            Some(last)
                if self.quirks && tail > 0 && is_block_collection(last) && tail < items.len() =>
            {
                items.split_at(tail)
            }
            _ => (items, &[][..]),
        };
        for item in items {
            if let Value::Comment(c) = item {
                self.comment(c, col, inline);
                inline = false;
                continue;
            }
            // Leading comments of a collection item are printed before its dash.
            let lead = match item {
                Value::Map(e) => e
                    .iter()
                    .take_while(|x| matches!(x, Entry::Comment(_)))
                    .count(),
                Value::Seq(i) => i
                    .iter()
                    .take_while(|x| matches!(x, Value::Comment(_)))
                    .count(),
                _ => 0,
            };
            match item {
                Value::Map(e) => {
                    for c in &e[..lead] {
                        if let Entry::Comment(c) = c {
                            self.comment(c, col, inline);
                            inline = false;
                        }
                    }
                }
                Value::Seq(i) => {
                    for c in &i[..lead] {
                        if let Value::Comment(c) = c {
                            self.comment(c, col, inline);
                            inline = false;
                        }
                    }
                }
                _ => {}
            }
            if !inline {
                self.pad(col);
            }
            inline = false;
            self.out.extend_from_slice(b"- ");
            match item {
                Value::Map(e) if e.len() > lead => self.entries(&e[lead..], col + 2, true)?,
                Value::Seq(i) if i.len() > lead => self.items(&i[lead..], col + 2, true)?,
                Value::Map(_) => self.out.extend_from_slice(b"{}\n"),
                Value::Seq(_) => self.out.extend_from_slice(b"[]\n"),
                scalar => {
                    let s = render(scalar)?;
                    self.scalar_body(&s, col + 2, col)?;
                    self.flush_foot(col);
                }
            }
        }
        for c in trailing {
            if let Value::Comment(c) = c {
                self.pending_foot.push(c.to_string());
            }
        }
        Ok(())
    }
}

/// A non-empty mapping or sequence (written as a block, not on the key's line).
fn is_block_collection(v: &Value) -> bool {
    match v {
        Value::Map(e) => e.iter().any(|x| matches!(x, Entry::Pair(..))),
        Value::Seq(i) => i.iter().any(|x| !matches!(x, Value::Comment(_))),
        _ => false,
    }
}

/// go-yaml v3's `FormatFloat(f, 'g', -1, 64)` with YAML spellings for the specials.
fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{f:e}"); // shortest digits: d[.ddd]e<exp>
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

fn render(v: &Value) -> Result<Scalar<'_>, Error> {
    Ok(match v {
        Value::Null => Scalar::Plain("null".into()),
        Value::Bool(b) => Scalar::Plain(b.to_string().into()),
        Value::Int(i) => Scalar::Plain(i.to_string().into()),
        Value::Float(f) => Scalar::Plain(yaml_float(*f).into()),
        Value::Time(t) => Scalar::Plain(t.as_str().into()),
        Value::Comment(c) => Scalar::Plain(format!("#{}", c.as_str()).into()),
        Value::Str(bytes) => match std::str::from_utf8(bytes) {
            Ok(s) => string_style(s),
            Err(_) => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes[..]);
                if b64.len() > 70 {
                    let lines: Vec<&str> = b64
                        .as_bytes()
                        .chunks(70)
                        .map(|c| std::str::from_utf8(c).unwrap_or(""))
                        .collect();
                    Scalar::Literal("!!binary |".into(), format!("{}\n", lines.join("\n")))
                } else {
                    Scalar::Plain(format!("!!binary {b64}").into())
                }
            }
        },
        Value::Map(_) | Value::Seq(_) => {
            return Err(Error::Emit(
                "a collection cannot be written as a scalar".into(),
            ));
        }
    })
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        if i < b.len()
            && (b'0'..=b'5').contains(&b[i])
            && i + 1 < b.len()
            && b[i + 1].is_ascii_digit()
        {
            i += 2;
        } else if i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

fn is_printable(c: char) -> bool {
    let c = c as u32;
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || is_break(c) || c == '\0',
    }
}

struct Analysis {
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// libyaml's `yaml_emitter_analyze_scalar`, block context.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut special, mut tabs, mut line_breaks) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let mut it = s.chars().peekable();
    let mut first = true;
    while let Some(c) = it.next() {
        let next = it.peek().copied();
        let last = next.is_none();
        let followed_by_ws = is_blankz(next);
        if first {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                block_indicators = true;
            }
            if (c == '?' || c == ':') && followed_by_ws {
                block_indicators = true;
            }
            if c == '-' && followed_by_ws {
                block_indicators = true;
            }
        } else {
            if c == ':' && followed_by_ws {
                block_indicators = true;
            }
            if c == '#' && preceded_by_ws {
                block_indicators = true;
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if first {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            if first {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blankz(Some(c));
        first = false;
    }
    let mut a = Analysis {
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special || tabs {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Bytes that never affect libyaml's plain-scalar analysis away from the first position.
#[inline]
fn is_safe_byte(b: u8) -> bool {
    (b | 0x20).wrapping_sub(b'a') < 26
        || b.wrapping_sub(b'0') < 10
        || matches!(
            b,
            b'+' | b'/' | b'=' | b',' | b':' | b'[' | b']' | b'_' | b'.' | b'-'
        )
}

/// Whether every byte is safe. Chunks are checked without early exit so the compiler can
/// vectorise them (multi-megabyte ENC values pass through here).
fn all_safe(s: &[u8]) -> bool {
    s.chunks(64)
        .all(|chunk| chunk.iter().fold(true, |ok, &b| ok & is_safe_byte(b)))
}

/// go-yaml v3 `stringv` plus libyaml's style selection (block context, unlimited width).
fn string_style(s: &str) -> Scalar<'_> {
    // Fast path for long runs of safe ASCII (ENC[…] values, tokens, base64): no spaces, breaks
    // or indicator characters, so libyaml's analysis would allow plain style.
    if s.len() > 64
        && all_safe(s.as_bytes())
        && !b"[],:-".contains(&s.as_bytes()[0])
        && !s.ends_with(':')
        && matches!(resolve_plain(s), Resolved::Str)
        && !is_base60_float(s)
    {
        return Scalar::Plain(s.into());
    }
    let can_use_plain =
        matches!(resolve_plain_or_str(s), Resolved::Str) && !(is_base60_float(s) || is_old_bool(s));
    let a = analyze(s);
    if s.contains('\n') {
        if a.block_allowed {
            return Scalar::Literal(literal_header(s), s.to_string());
        }
        return Scalar::Double(double_quoted(s).into());
    }
    if can_use_plain && a.block_plain_allowed {
        return Scalar::Plain(s.into());
    }
    if can_use_plain && a.single_quoted_allowed {
        return Scalar::Single(format!("'{}'", s.replace('\'', "''")).into());
    }
    Scalar::Double(double_quoted(s).into())
}

fn resolve_plain_or_str(s: &str) -> Resolved {
    if s.is_empty() {
        Resolved::Null
    } else {
        resolve_plain(s)
    }
}

fn literal_header(s: &str) -> String {
    let mut h = String::from("|");
    if s.starts_with(' ') || s.starts_with(is_break) {
        h.push('4');
    }
    let mut rev = s.chars().rev();
    match rev.next() {
        Some(c) if is_break(c) => {
            if s.chars().count() == 1 || rev.next().is_some_and(is_break) {
                h.push('+');
            }
        }
        _ => h.push('-'),
    }
    h
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let bom = s.starts_with('\u{FEFF}');
    for c in s.chars() {
        let code = c as u32;
        if bom || !is_printable(c) || is_break(c) || c == '"' || c == '\\' {
            out.push('\\');
            match c {
                '\0' => out.push('0'),
                '\u{7}' => out.push('a'),
                '\u{8}' => out.push('b'),
                '\t' => out.push('t'),
                '\n' => out.push('n'),
                '\u{b}' => out.push('v'),
                '\u{c}' => out.push('f'),
                '\r' => out.push('r'),
                '\u{1b}' => out.push('e'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '\u{85}' => out.push('N'),
                '\u{a0}' => out.push('_'),
                '\u{2028}' => out.push('L'),
                '\u{2029}' => out.push('P'),
                _ if code <= 0xFF => out.push_str(&format!("x{code:02X}")),
                _ if code <= 0xFFFF => out.push_str(&format!("u{code:04X}")),
                _ => out.push_str(&format!("U{code:08X}")),
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_bytes_are_exactly_alphanumerics_and_base64_punctuation() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"+/=,:[]_.-".contains(&b);
            assert_eq!(is_safe_byte(b), expected, "byte {b:#04x}");
        }
        let long = format!("ENC[AES256_GCM,data:{}==,type:str]", "Ab9+/".repeat(40));
        assert!(all_safe(long.as_bytes()));
        let mut bad = long.clone().into_bytes();
        bad[150] = b' ';
        assert!(!all_safe(&bad));
        bad[150] = 0xC3;
        assert!(!all_safe(&bad));
    }

    fn style(s: &str) -> String {
        match string_style(s) {
            Scalar::Plain(t) | Scalar::Single(t) | Scalar::Double(t) => t.into_owned(),
            Scalar::Literal(h, t) => format!("{h}\n{t}"),
        }
    }

    #[test]
    fn quoting_like_go_yaml() {
        for (input, want) in [
            ("demo", "demo"),
            ("", "\"\""),
            ("yes", "\"yes\""),
            ("y", "\"y\""),
            ("123", "\"123\""),
            ("1:20", "\"1:20\""),
            ("2026-11-26T08:12:05Z", "\"2026-11-26T08:12:05Z\""),
            ("true", "\"true\""),
            ("~", "\"~\""),
            (" lead", "' lead'"),
            ("a: b", "'a: b'"),
            ("#x", "'#x'"),
            ("a #b", "'a #b'"),
            ("-x", "-x"),
            ("- x", "'- x'"),
            ("it's", "it's"),
            ("tab\there", "\"tab\\there\""),
            ("emoji\u{1F600}", "\"emoji\\U0001F600\""),
            (
                &format!("{}:", "k".repeat(70)),
                &format!("'{}:'", "k".repeat(70)),
            ),
            ("x\u{85}y", "\"x\\Ny\""),
            ("ünï", "ünï"),
            (
                "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]",
                "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]",
            ),
        ] {
            assert_eq!(style(input), want, "{input:?}");
        }
        assert_eq!(literal_header("a\nb\n"), "|");
        assert_eq!(literal_header("a\nb"), "|-");
        assert_eq!(literal_header("a\n\n"), "|+");
        assert_eq!(literal_header(" a\n"), "|4");
    }

    #[test]
    fn literal_indentation_indicator_reads_back() {
        use crate::sops::tree::Entry;
        use zeroize::Zeroizing;
        let text = " x\ny";
        let item = Value::Map(vec![Entry::Pair(
            Zeroizing::new("k".into()),
            Value::str(text),
        )]);
        let doc = vec![Entry::Pair(
            Zeroizing::new("a".into()),
            Value::Seq(vec![Value::str(text), item]),
        )];
        let out = emit(&[doc], 4, true).unwrap();
        let back = super::super::load(&out).unwrap();
        let Entry::Pair(_, Value::Seq(items)) = &back[0][0] else {
            panic!("{}", String::from_utf8_lossy(&out))
        };
        assert!(
            matches!(&items[0], Value::Str(s) if &s[..] == text.as_bytes()),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn floats_like_go_yaml() {
        assert_eq!(yaml_float(1e20), "1e+20");
        assert_eq!(yaml_float(3.0), "3");
        assert_eq!(yaml_float(0.5), "0.5");
        assert_eq!(yaml_float(1234568000.0), "1.234568e+09");
        assert_eq!(yaml_float(0.0001), "0.0001");
        assert_eq!(yaml_float(0.00001), "1e-05");
        assert_eq!(yaml_float(123456.0), "123456");
        assert_eq!(yaml_float(1234567.0), "1.234567e+06");
    }
}
