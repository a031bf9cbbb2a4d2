//! sops tree paths: `["key"]['other'][0]`.

use zeroize::Zeroizing;

use crate::sops::Error;
use crate::sops::tree::{Entry, Value};

/// One step of a path.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Parses `["a"]["b"][0]` (single or double quotes; bare integers index lists).
pub fn parse(path: &str) -> Result<Vec<Step>, Error> {
    let bad = |why: &str| {
        Error::TreePath(format!(
            "invalid tree path '{path}': {why} (expected e.g. '[\"key\"][0]')"
        ))
    };
    let mut steps = Vec::new();
    let mut rest = path.trim();
    if rest.is_empty() {
        return Err(bad("empty path"));
    }
    while !rest.is_empty() {
        rest = rest.strip_prefix('[').ok_or_else(|| bad("missing '['"))?;
        if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let body = &rest[1..];
            let end = body.find(q).ok_or_else(|| bad("unterminated quote"))?;
            steps.push(Step::Key(body[..end].to_string()));
            rest = body[end + 1..]
                .strip_prefix(']')
                .ok_or_else(|| bad("missing ']'"))?;
        } else {
            let end = rest.find(']').ok_or_else(|| bad("missing ']'"))?;
            let idx = rest[..end]
                .trim()
                .parse()
                .map_err(|_| bad("index is not a number"))?;
            steps.push(Step::Index(idx));
            rest = &rest[end + 1..];
        }
    }
    Ok(steps)
}

/// Follows a path through one document.
pub fn get<'a>(doc: &'a [Entry], steps: &[Step]) -> Option<&'a Value> {
    let (first, rest) = steps.split_first()?;
    let Step::Key(k) = first else { return None };
    let mut cur = crate::sops::tree::get(doc, k)?;
    for step in rest {
        cur = match (step, cur) {
            (Step::Key(k), Value::Map(e)) => crate::sops::tree::get(e, k)?,
            (Step::Index(i), Value::Seq(items)) => items
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .nth(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn key_entry(k: &str, v: Value) -> Entry {
    Entry::Pair(Zeroizing::new(k.to_string()), v)
}

/// Sets a value, creating missing mapping keys. Returns whether the tree changed, as sops's
/// `Set`: false only when the value was already there and equal (a key or list item created,
/// even for `null`, or a scalar replaced by a mapping, is a change).
pub fn set(doc: &mut Vec<Entry>, steps: &[Step], value: Value) -> Result<bool, Error> {
    let (first, rest) = steps
        .split_first()
        .ok_or_else(|| Error::TreePath("empty path".into()))?;
    let Step::Key(k) = first else {
        return Err(Error::TreePath(
            "a document is a mapping; the path must start with a key".into(),
        ));
    };
    let pos = doc
        .iter()
        .position(|e| matches!(e, Entry::Pair(key, _) if key.as_str() == k));
    let created = pos.is_none();
    let slot = match pos {
        Some(p) => match &mut doc[p] {
            Entry::Pair(_, v) => v,
            Entry::Comment(_) => unreachable!("matched a pair"),
        },
        None => {
            doc.push(key_entry(k, Value::Null));
            match doc.last_mut() {
                Some(Entry::Pair(_, v)) => v,
                _ => unreachable!("just pushed a pair"),
            }
        }
    };
    Ok(set_in(slot, rest, value)? || created)
}

fn set_in(slot: &mut Value, steps: &[Step], value: Value) -> Result<bool, Error> {
    let Some((step, rest)) = steps.split_first() else {
        if already(slot, &value) {
            return Ok(false);
        }
        *slot = value;
        return Ok(true);
    };
    match step {
        Step::Key(_) => {
            let replaced = !matches!(slot, Value::Map(_));
            if replaced {
                *slot = Value::Map(Vec::new());
            }
            let Value::Map(entries) = slot else {
                unreachable!("just made a map")
            };
            Ok(set(entries, steps, value)? || replaced)
        }
        Step::Index(i) => {
            let Value::Seq(items) = slot else {
                return Err(Error::TreePath(format!(
                    "index [{i}] used on something that is not a list"
                )));
            };
            let real: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, v)| !matches!(v, Value::Comment(_)))
                .map(|(n, _)| n)
                .collect();
            match real.get(*i) {
                Some(&n) => set_in(&mut items[n], rest, value),
                None if *i == real.len() => {
                    items.push(Value::Null);
                    let last = items.len() - 1;
                    set_in(&mut items[last], rest, value)?;
                    Ok(true)
                }
                None => Err(Error::TreePath(format!(
                    "index [{i}] is past the end of the list"
                ))),
            }
        }
    }
}

/// Whether `set` finds `new` already in place: as [`Value::same_as`], except that numbers
/// compare by value (the JSON `1` given to `set` equals the `1.0` of a JSON file sops wrote,
/// where every number is a float; sops compares them as floats too).
fn already(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Float(f), Value::Int(i)) | (Value::Int(i), Value::Float(f)) => *f == *i as f64,
        (Value::Map(a), Value::Map(b)) => {
            a.len() == b.len()
                && a.iter().zip(b).all(|pair| match pair {
                    (Entry::Pair(k, v), Entry::Pair(l, w)) => k[..] == l[..] && already(v, w),
                    (Entry::Comment(c), Entry::Comment(d)) => c[..] == d[..],
                    _ => false,
                })
        }
        (Value::Seq(a), Value::Seq(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| already(v, w))
        }
        _ => old.same_as(new),
    }
}

/// Removes the value at the path. Returns false when it did not exist.
pub fn unset(doc: &mut Vec<Entry>, steps: &[Step]) -> bool {
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    if parents.is_empty() {
        let Step::Key(k) = last else { return false };
        let before = doc.len();
        doc.retain(|e| !matches!(e, Entry::Pair(key, _) if key.as_str() == k));
        return doc.len() != before;
    }
    let Step::Key(first) = &parents[0] else {
        return false;
    };
    let Some(mut cur) = doc.iter_mut().find_map(|e| match e {
        Entry::Pair(k, v) if k.as_str() == first => Some(v),
        _ => None,
    }) else {
        return false;
    };
    for step in &parents[1..] {
        let next = match (step, cur) {
            (Step::Key(k), Value::Map(e)) => e.iter_mut().find_map(|x| match x {
                Entry::Pair(key, v) if key.as_str() == k => Some(v),
                _ => None,
            }),
            (Step::Index(i), Value::Seq(items)) => items
                .iter_mut()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .nth(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match (last, cur) {
        (Step::Key(k), Value::Map(e)) => {
            let before = e.len();
            e.retain(|x| !matches!(x, Entry::Pair(key, _) if key.as_str() == k));
            e.len() != before
        }
        (Step::Index(i), Value::Seq(items)) => {
            let real: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, v)| !matches!(v, Value::Comment(_)))
                .map(|(n, _)| n)
                .collect();
            match real.get(*i) {
                Some(&n) => {
                    items.remove(n);
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        assert_eq!(
            parse(r#"["a"]['b'][0]"#).unwrap(),
            vec![Step::Key("a".into()), Step::Key("b".into()), Step::Index(0)]
        );
        for bad in ["", "a", "[\"a\"", "[x]", "[\"a\"]b"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_reports_created_keys_and_items_as_changes() {
        let doc = || {
            vec![
                key_entry("a", Value::Null),
                key_entry("s", Value::Str(Zeroizing::new(b"x".to_vec()))),
                key_entry("l", Value::Seq(vec![Value::Int(1)])),
            ]
        };
        for (path, value, changed) in [
            (r#"["a"]"#, Value::Null, false),
            (r#"["a"]"#, Value::Int(1), true),
            (r#"["new"]"#, Value::Null, true),
            (r#"["new"]["deeper"]"#, Value::Null, true),
            (r#"["s"]["k"]"#, Value::Null, true),
            (r#"["l"][0]"#, Value::Int(1), false),
            (r#"["l"][0]"#, Value::Float(1.0), false),
            (
                r#"["l"][0]"#,
                Value::Str(Zeroizing::new(b"1".to_vec())),
                true,
            ),
            (r#"["l"][1]"#, Value::Null, true),
        ] {
            let mut d = doc();
            assert_eq!(
                set(&mut d, &parse(path).unwrap(), value).unwrap(),
                changed,
                "{path}"
            );
        }
    }
}
