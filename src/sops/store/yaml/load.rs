//! YAML → document trees, with comments placed where sops places them.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use granit_parser::{Event, Parser, Placement, ScalarStyle};
use zeroize::Zeroizing;

use super::resolve::{Resolved, resolve_plain, to_value};
use crate::sops::error::Error;
use crate::sops::tree::{Entry, Text, Value};

enum Frame {
    Map {
        entries: Vec<Entry>,
        key: Option<Text>,
        /// Comments met between a key and its value: sops puts them above the key.
        between: Vec<Text>,
        seen: HashSet<String>,
        anchor: usize,
        /// Column of the keys (known after the first key).
        col: Option<usize>,
        /// For a mapping that is a list item: comments indented past the key owning the list
        /// still belong to it (go-yaml makes them its foot comments).
        floor: Option<usize>,
        /// Trailing comments written at or left of the enclosing list's dashes: they move to
        /// the list if another item follows (go-yaml reads them as that item's head).
        dedented_tail: usize,
    },
    Seq {
        items: Vec<Value>,
        anchor: usize,
        /// Column of the dashes.
        col: Option<usize>,
        /// Column of the key whose value this list is.
        owner: Option<usize>,
    },
}

impl Frame {
    /// The smallest column an own-line comment may have to stay in this collection.
    fn col(&self) -> Option<usize> {
        match self {
            Frame::Map { floor: Some(f), .. } => Some(*f),
            Frame::Map { col, .. } | Frame::Seq { col, .. } => *col,
        }
    }
}

struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Vec<Entry>>,
    /// Comments outside the root mapping of the current document.
    loose_before: Vec<Text>,
    loose_after: Vec<Text>,
    root: Option<Vec<Entry>>,
    anchors: HashMap<usize, Value>,
    in_doc: bool,
    /// Own-line comments after a key whose value has not started: they belong to the value's
    /// collection (or above the key when the value is a scalar).
    carry: Vec<Text>,
    /// Own-line comments indented left of the current collection: they belong to an
    /// enclosing one and are placed once the inner collections close.
    outer: Vec<(usize, Text)>,
    /// Line of the last value completed (a same-line comment belongs to it).
    last_line: usize,
    /// Line of the event being handled.
    line: usize,
    /// Column of the event being handled.
    col: usize,
    /// Trailing comments of the last closed list-item mapping that move if an item follows.
    movable: usize,
}

/// Integers beyond 64 bits cannot be encrypted (sops exit 23); other scalar errors are parse errors.
fn value_err(line: usize, msg: String) -> Error {
    if msg.contains("64 bits") {
        Error::EncryptTree(format!("YAML line {line}: {msg}"))
    } else {
        err_at(line, msg)
    }
}

fn err_at(line: usize, msg: impl std::fmt::Display) -> Error {
    Error::Parse(format!("YAML line {line}: {msg}"))
}

/// Parses YAML text into documents (each a mapping). Duplicate keys, non-mapping documents,
/// non-string keys and empty input are errors.
pub fn load(input: &[u8]) -> Result<Vec<Vec<Entry>>, Error> {
    let text = std::str::from_utf8(input).map_err(|e| {
        Error::Parse(format!(
            "YAML input is not UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })?;
    // A block scalar whose last line ends the input without a line break has no final line
    // feed (YAML 1.2 `b-chomped-last` allows end of file; go-yaml, hence sops, reads it so):
    // `"a: |\n  x"` is `"x"`, not `"x\n"`.
    let options = granit_parser::options! {
        max_buffered_comment_events: usize::MAX,
        block_scalar_eof_without_line_feed: true,
    };
    let mut b = Builder {
        stack: Vec::new(),
        docs: Vec::new(),
        loose_before: Vec::new(),
        loose_after: Vec::new(),
        root: None,
        anchors: HashMap::new(),
        in_doc: false,
        carry: Vec::new(),
        outer: Vec::new(),
        last_line: 0,
        line: 0,
        col: 0,
        movable: 0,
    };
    for next in Parser::new_from_str_with_options(text, options) {
        let (event, span) = next.map_err(|e| Error::Parse(format!("invalid YAML: {e}")))?;
        let line = span.start.line();
        b.event(event, line, span.start.col())?;
    }
    if b.docs.is_empty() {
        return Err(Error::Parse(
            "the YAML input has no document (only comments or blank lines)".into(),
        ));
    }
    Ok(b.docs)
}

impl Builder {
    fn event(&mut self, event: Event<'_>, line: usize, col: usize) -> Result<(), Error> {
        self.line = line;
        self.col = col;
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Anchor(..) => {}
            Event::DocumentStart(..) => {
                self.in_doc = true;
                self.root = None;
                self.anchors.clear();
            }
            Event::DocumentEnd => {
                self.in_doc = false;
                let mut entries: Vec<Entry> = std::mem::take(&mut self.loose_before)
                    .into_iter()
                    .map(Entry::Comment)
                    .collect();
                match self.root.take() {
                    Some(mut root) => entries.append(&mut root),
                    None => {
                        return Err(Error::Parse(
                            "a YAML document is empty or holds only comments; sops needs a mapping in every document".into(),
                        ));
                    }
                }
                entries.extend(
                    std::mem::take(&mut self.loose_after)
                        .into_iter()
                        .map(Entry::Comment),
                );
                self.docs.push(entries);
            }
            Event::Comment(text, placement) => {
                let text = Zeroizing::new(text.into_owned());
                let inner = self.stack.last().and_then(Frame::col);
                match inner {
                    Some(c) if placement != Placement::Right && col < c && self.stack.len() > 1 => {
                        self.outer.push((col, text));
                    }
                    _ => self.comment(text, placement),
                }
            }
            Event::Alias(id) => {
                let v = self
                    .anchors
                    .get(&id)
                    .map(Value::deep_clone)
                    .ok_or_else(|| err_at(line, "alias to an unknown anchor"))?;
                self.value(v, line)?;
            }
            Event::UnresolvedAlias(name) => {
                return Err(err_at(line, format!("unknown alias *{name}")));
            }
            Event::Scalar(text, style, anchor, tag) => {
                let in_key_position =
                    matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                if in_key_position {
                    let key = self.key_text(&text, style, tag.as_deref(), line)?;
                    if let Some(Frame::Map {
                        key: slot,
                        seen,
                        col: kc,
                        ..
                    }) = self.stack.last_mut()
                    {
                        kc.get_or_insert(col);
                        if !seen.insert(key.to_string()) {
                            return Err(err_at(
                                line,
                                format!(
                                    "duplicate key '{}' (sops would refuse it too)",
                                    key.as_str()
                                ),
                            ));
                        }
                        *slot = Some(key);
                    }
                    return Ok(());
                }
                let v =
                    scalar_value(&text, style, tag.as_deref()).map_err(|m| value_err(line, m))?;
                if anchor != 0 {
                    self.anchors.insert(anchor, v.deep_clone());
                }
                self.value(v, line)?;
            }
            Event::MappingStart(_, anchor, _) => {
                self.refuse_collection_key(line)?;
                let carried = std::mem::take(&mut self.carry)
                    .into_iter()
                    .map(Entry::Comment)
                    .collect();
                let floor = match self.stack.last() {
                    Some(Frame::Seq { owner: Some(o), .. }) => Some(o + 1),
                    _ => None,
                };
                self.stack.push(Frame::Map {
                    entries: carried,
                    key: None,
                    between: Vec::new(),
                    seen: HashSet::new(),
                    anchor,
                    col: None,
                    floor,
                    dedented_tail: 0,
                });
            }
            Event::SequenceStart(_, anchor, _) => {
                self.refuse_collection_key(line)?;
                let carried = std::mem::take(&mut self.carry)
                    .into_iter()
                    .map(Value::Comment)
                    .collect();
                let owner = match self.stack.last() {
                    Some(Frame::Map { col, .. }) => *col,
                    _ => None,
                };
                self.stack.push(Frame::Seq {
                    items: carried,
                    anchor,
                    col: Some(col),
                    owner,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let frame = self
                    .stack
                    .pop()
                    .ok_or_else(|| err_at(line, "unbalanced collection"))?;
                let mut tail = 0;
                let (v, anchor) = match frame {
                    Frame::Map {
                        mut entries,
                        between,
                        anchor,
                        dedented_tail,
                        ..
                    } => {
                        if between.is_empty() {
                            tail = dedented_tail;
                        }
                        entries.extend(between.into_iter().map(Entry::Comment));
                        (Value::Map(entries), anchor)
                    }
                    Frame::Seq { items, anchor, .. } => {
                        self.movable = 0;
                        (Value::Seq(items), anchor)
                    }
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, v.deep_clone());
                }
                self.value(v, line)?;
                if matches!(self.stack.last(), Some(Frame::Seq { .. })) {
                    self.movable = tail;
                }
                // Comments that were dedented to this level come after the closed value.
                let here = self.stack.last().and_then(Frame::col);
                let pending = std::mem::take(&mut self.outer);
                for (c, text) in pending {
                    match here {
                        Some(h) if c < h && self.stack.len() > 1 => self.outer.push((c, text)),
                        _ => self.comment(text, Placement::Above),
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn key_text(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&granit_parser::Tag>,
        line: usize,
    ) -> Result<Text, Error> {
        let v = scalar_value(text, style, tag).map_err(|m| err_at(line, m))?;
        match v {
            Value::Str(b) => Ok(Zeroizing::new(
                String::from_utf8(b.to_vec()).map_err(|_| err_at(line, "key is not UTF-8"))?,
            )),
            _ => Err(Error::EncryptTree(format!(
                "YAML line {line}: key '{text}' is not a string (sops: \"Tree contains a non-string key\"); quote it"
            ))),
        }
    }

    fn comment(&mut self, text: Text, placement: Placement) {
        let n = self.stack.len();
        let dash_col = match n.checked_sub(2).map(|i| &self.stack[i]) {
            Some(Frame::Seq { col, .. }) => *col,
            _ => None,
        };
        let here = self.col;
        match self.stack.last_mut() {
            None => {
                if self.root.is_some() {
                    self.loose_after.push(text);
                } else {
                    self.loose_before.push(text);
                }
            }
            Some(Frame::Map {
                entries,
                key,
                between,
                dedented_tail,
                ..
            }) => {
                if key.is_some() && placement != Placement::Right {
                    self.carry.push(text);
                } else if key.is_some() {
                    between.push(text);
                } else if placement == Placement::Right
                    && let Some(pos) = entries.iter().rposition(|e| matches!(e, Entry::Pair(..)))
                {
                    entries.insert(pos, Entry::Comment(text));
                } else {
                    entries.push(Entry::Comment(text));
                    if dash_col.is_some_and(|d| here <= d) {
                        *dedented_tail += 1;
                    } else {
                        *dedented_tail = 0;
                    }
                }
            }
            Some(Frame::Seq { items, .. }) => {
                // `- # text` before a collection item belongs to the next item, not the last.
                if placement == Placement::Right
                    && self.line == self.last_line
                    && let Some(pos) = items.iter().rposition(|v| !matches!(v, Value::Comment(_)))
                {
                    items.insert(pos, Value::Comment(text));
                } else {
                    items.push(Value::Comment(text));
                }
            }
        }
    }

    /// A mapping or sequence where a mapping key is expected (a complex key) is refused.
    fn refuse_collection_key(&self, line: usize) -> Result<(), Error> {
        if matches!(self.stack.last(), Some(Frame::Map { key: None, .. })) {
            return Err(err_at(
                line,
                "mapping keys must be strings (complex keys are not supported)",
            ));
        }
        Ok(())
    }

    fn value(&mut self, v: Value, line: usize) -> Result<(), Error> {
        self.last_line = line;
        match self.stack.last_mut() {
            None => {
                if !self.in_doc {
                    return Err(err_at(line, "content outside a document"));
                }
                match v {
                    Value::Map(entries) => self.root = Some(entries),
                    _ => {
                        return Err(err_at(
                            line,
                            "the top level of a YAML document must be a mapping (sops cannot encrypt a list or a scalar document)",
                        ));
                    }
                }
            }
            Some(Frame::Map {
                entries,
                key,
                between,
                dedented_tail,
                ..
            }) => {
                let k = key
                    .take()
                    .ok_or_else(|| err_at(line, "value without key"))?;
                entries.extend(between.drain(..).map(Entry::Comment));
                entries.extend(self.carry.drain(..).map(Entry::Comment));
                entries.push(Entry::Pair(k, v));
                *dedented_tail = 0;
            }
            Some(Frame::Seq { items, .. }) => {
                // Leading comments of a collection item are written before its dash, where they
                // read back as comments of this sequence; hoist them so a round trip is stable.
                // Lists add nothing to the AAD path, so this never changes a comment's AAD.
                let mut v = v;
                let movable = std::mem::take(&mut self.movable);
                if movable > 0
                    && let Some(pos) = items.iter().rposition(|x| !matches!(x, Value::Comment(_)))
                    && let Value::Map(prev) = &mut items[pos]
                    && prev.len() >= movable
                {
                    let moved: Vec<Value> = prev
                        .drain(prev.len() - movable..)
                        .filter_map(|e| match e {
                            Entry::Comment(c) => Some(Value::Comment(c)),
                            Entry::Pair(..) => None,
                        })
                        .collect();
                    let at = pos + 1;
                    items.splice(at..at, moved);
                }
                match &mut v {
                    Value::Map(e) => {
                        let n = e
                            .iter()
                            .take_while(|x| matches!(x, Entry::Comment(_)))
                            .count();
                        if n < e.len() {
                            for c in e.drain(..n) {
                                if let Entry::Comment(c) = c {
                                    items.push(Value::Comment(c));
                                }
                            }
                        }
                    }
                    Value::Seq(inner) => {
                        let n = inner
                            .iter()
                            .take_while(|x| matches!(x, Value::Comment(_)))
                            .count();
                        if n < inner.len() {
                            items.extend(inner.drain(..n));
                        }
                    }
                    _ => {}
                }
                items.push(v);
            }
        }
        Ok(())
    }
}

/// Types a scalar: quoted and block scalars are strings; tags `!!binary`, `!!str` and the core
/// types are honoured; other tags are dropped (the text stays a string).
fn scalar_value(
    text: &str,
    style: ScalarStyle,
    tag: Option<&granit_parser::Tag>,
) -> Result<Value, String> {
    // The tag's name in the yaml.org namespace (`!!binary`, `!!timestamp` and the core
    // schema's seven), whatever spelling or %TAG directive resolved it.
    if let Some(name) = tag.and_then(|t| t.suffix_in_namespace("tag:yaml.org,2002:")) {
        return match name.as_ref() {
            "binary" => {
                let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map(|b| Value::Str(Zeroizing::new(b)))
                    .map_err(|_| "!!binary value is not valid base64".to_string())
            }
            "str" => Ok(Value::str(text)),
            "null" => Ok(Value::Null),
            "bool" | "int" | "float" | "timestamp" => to_value(text, resolve_plain(text)),
            _ => Ok(Value::str(text)),
        };
    }
    if tag.is_some() || style != ScalarStyle::Plain {
        return Ok(Value::str(text));
    }
    let resolved = resolve_plain(text);
    if matches!(resolved, Resolved::Merge) {
        return Ok(Value::str(text));
    }
    to_value(text, resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Vec<u8> {
        let docs = load(text.as_bytes()).unwrap();
        match &docs[0][0] {
            Entry::Pair(_, Value::Str(s)) => s.to_vec(),
            _ => panic!("not a string pair"),
        }
    }

    #[test]
    fn block_scalar_chomping_at_end_of_file() {
        // (header, text after the last content line, value): YAML 1.2 chomping, where the end
        // of the input may stand for the last line break (as go-yaml and sops read it).
        for (h, tail, want) in [
            ("|", "", "multi\nline"),
            ("|", "\n", "multi\nline\n"),
            ("|", "\n\n", "multi\nline\n"),
            ("|-", "", "multi\nline"),
            ("|-", "\n\n", "multi\nline"),
            ("|+", "", "multi\nline"),
            ("|+", "\n", "multi\nline\n"),
            ("|+", "\n\n", "multi\nline\n\n"),
            ("|+", "\n  \n", "multi\nline\n\n"),
            (">", "", "multi line"),
            (">+", "\n\n", "multi line\n\n"),
        ] {
            let text = format!("multiline: {h}\n  multi\n  line{tail}");
            assert_eq!(value(&text), want.as_bytes(), "{text:?}");
        }
    }
}
