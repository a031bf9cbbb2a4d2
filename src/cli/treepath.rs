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

/// Sets a value, creating missing mapping keys. Returns false when the value was already equal.
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
    set_in(slot, rest, value)
}

fn set_in(slot: &mut Value, steps: &[Step], value: Value) -> Result<bool, Error> {
    let Some((step, rest)) = steps.split_first() else {
        if slot.same_as(&value) {
            return Ok(false);
        }
        *slot = value;
        return Ok(true);
    };
    match step {
        Step::Key(k) => {
            if !matches!(slot, Value::Map(_)) {
                *slot = Value::Map(Vec::new());
            }
            let Value::Map(entries) = slot else {
                unreachable!("just made a map")
            };
            set(entries, &[Step::Key(k.clone())], Value::Null).ok();
            let pos = entries
                .iter()
                .position(|e| matches!(e, Entry::Pair(key, _) if key.as_str() == k))
                .ok_or_else(|| Error::TreePath("key vanished".into()))?;
            let Entry::Pair(_, v) = &mut entries[pos] else {
                unreachable!("pair")
            };
            set_in(v, rest, value)
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
                    set_in(&mut items[last], rest, value)
                }
                None => Err(Error::TreePath(format!(
                    "index [{i}] is past the end of the list"
                ))),
            }
        }
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
}
