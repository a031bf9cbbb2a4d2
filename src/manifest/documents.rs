//! Manifest bytes to Kubernetes objects, read the way the consumers' decoders read them
//! (`sigs.k8s.io/yaml`, kyaml): every document of a YAML stream, aliases expanded, merge keys
//! (`<<`) resolved with explicit keys winning, keys turned into strings, and `List`s (any
//! object with a top-level `items` array) unwrapped into their items. A document that does not
//! parse fails the whole file: nothing is skipped.

use serde_json::{Map, Value};
use yaml_serde::Value as Yaml;

/// How a file is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// A YAML stream (`.yaml`, `.yml`, kustomize output).
    Yaml,
    /// JSON (`.json`): one value, or several in a row.
    Json,
}

impl Syntax {
    /// The syntax of a manifest file name, or None if consumers do not read it as a manifest.
    pub fn of(name: &str) -> Option<Syntax> {
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Some(Syntax::Yaml)
        } else if name.ends_with(".json") {
            Some(Syntax::Json)
        } else {
            None
        }
    }
}

/// One document of a file: its position (1-based) and value. Null documents are dropped.
pub struct Document {
    /// 1-based position in the stream.
    pub index: usize,
    /// The decoded value.
    pub value: Value,
}

/// Decodes every document of `bytes`. The error names the document and what is wrong.
pub fn parse(bytes: &[u8], syntax: Syntax) -> Result<Vec<Document>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    match syntax {
        Syntax::Json => {
            let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
            for (i, v) in stream.enumerate() {
                let v = v.map_err(|e| format!("document {}: {e}", i + 1))?;
                no_merge_key(&v).map_err(|e| format!("document {}: {e}", i + 1))?;
                if !v.is_null() {
                    out.push(Document {
                        index: i + 1,
                        value: v,
                    });
                }
            }
        }
        Syntax::Yaml => {
            for (i, doc) in yaml_serde::Deserializer::from_str(text).enumerate() {
                let mut y = <Yaml as serde::Deserialize>::deserialize(doc)
                    .map_err(|e| format!("document {}: {e}", i + 1))?;
                merge_keys(&mut y).map_err(|e| format!("document {}: merge key: {e}", i + 1))?;
                let v = to_json(&y).map_err(|e| format!("document {}: {e}", i + 1))?;
                if !v.is_null() {
                    out.push(Document {
                        index: i + 1,
                        value: v,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Resolves the merge keys (`<<`) of `y` as go-yaml does: a merged mapping's own merge keys
/// first (anchors that each merge the previous one), then explicit keys win over merged ones and
/// earlier merged mappings over later ones. No `<<` key is left anywhere.
fn merge_keys(y: &mut Yaml) -> Result<(), String> {
    match y {
        Yaml::Mapping(m) => {
            for v in m.values_mut() {
                merge_keys(v)?;
            }
            let sources = match m.shift_remove("<<") {
                None => Vec::new(),
                Some(Yaml::Mapping(one)) => vec![one],
                Some(Yaml::Sequence(items)) => items
                    .into_iter()
                    .map(|i| match i {
                        Yaml::Mapping(one) => Ok(one),
                        _ => Err("a merged list holds something other than mappings".to_string()),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err("the value is not a mapping or a list of mappings".into()),
            };
            for source in sources {
                for (k, v) in source {
                    m.entry(k).or_insert(v);
                }
            }
        }
        Yaml::Sequence(items) => {
            for v in items {
                merge_keys(v)?;
            }
        }
        Yaml::Tagged(t) => merge_keys(&mut t.value)?,
        _ => {}
    }
    Ok(())
}

/// Refuses a `<<` key in a JSON document: the published render is YAML, where consumers would
/// read it as a merge key and apply fields the gate never saw as such.
fn no_merge_key(v: &Value) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            if m.contains_key("<<") {
                return Err(
                    "the key '<<' would be a YAML merge key in the published render".into(),
                );
            }
            m.values().try_for_each(no_merge_key)
        }
        Value::Array(items) => items.iter().try_for_each(no_merge_key),
        _ => Ok(()),
    }
}

/// A YAML value as the JSON the API server receives (sigs.k8s.io/yaml's conversion): scalar
/// keys become strings; tagged values, complex keys and non-finite floats are refused.
pub fn to_json(y: &Yaml) -> Result<Value, String> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Value::Number(
                    serde_json::Number::from_f64(f)
                        .ok_or_else(|| format!("the number {n} has no JSON form"))?,
                )
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Null => "null".to_string(),
                    _ => return Err("a mapping key is not a scalar".into()),
                };
                if out.insert(key.clone(), to_json(v)?).is_some() {
                    return Err(format!("the key '{key}' appears twice"));
                }
            }
            Value::Object(out)
        }
        Yaml::Tagged(t) => return Err(format!("YAML tag {} is not supported", t.tag)),
    })
}

/// An object as consumers apply it: a list (any object with a top-level `items` array, as
/// Argo CD and kubectl unwrap them) becomes its items, recursively; anything else is itself.
pub fn unwrap_lists(value: Value, out: &mut Vec<(String, Value)>, pointer: String) {
    match value {
        Value::Object(mut m) if m.get("items").is_some_and(Value::is_array) => {
            if let Some(Value::Array(items)) = m.remove("items") {
                for (i, item) in items.into_iter().enumerate() {
                    unwrap_lists(item, out, format!("{pointer}/items/{i}"));
                }
            }
        }
        v => out.push((pointer, v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_resolve_like_go_yaml() {
        let docs = parse(
            b"a: &c {name: app, image: evil}\nlist:\n  - <<: *c\n    image: ok\n  - <<: [*c, {x: 1}]\n",
            Syntax::Yaml,
        )
        .unwrap();
        let v = &docs[0].value;
        assert_eq!(v["list"][0]["image"], "ok");
        assert_eq!(v["list"][0]["name"], "app");
        assert_eq!(v["list"][1]["image"], "evil");
        assert_eq!(v["list"][1]["x"], 1);
    }

    #[test]
    fn chained_merge_keys_resolve_and_no_merge_key_survives() {
        // An anchor that merges another, merged again (the fuzzer's find): every field of the
        // chain is visible, and nothing re-emits as a `<<` key that would merge on reading.
        let docs = parse(
            b"x-base: &base {pullPolicy: Always, limits: {cpu: 1}}\nx-app: &app\n  <<: *base\n  image: app:v1\nc:\n  <<: *app\n  name: web\n  image: ok\n",
            Syntax::Yaml,
        )
        .unwrap();
        let c = &docs[0].value["c"];
        assert_eq!(
            c,
            &serde_json::json!({"name": "web", "image": "ok", "pullPolicy": "Always", "limits": {"cpu": 1}})
        );
        let docs = parse(b"x: &b {}\n-: &a\n <<: *b\n<<: *a\n", Syntax::Yaml).unwrap();
        assert_eq!(docs[0].value, serde_json::json!({"x": {}, "-": {}}));
        assert!(parse(b"a: {<<: [{x: 1}, 2]}\n", Syntax::Yaml).is_err());
        let e = parse(
            b"{\"kind\": \"Secret\", \"<<\": {\"stringData\": {\"a\": \"b\"}}}",
            Syntax::Json,
        )
        .err()
        .unwrap();
        assert!(e.contains("merge key"), "{e}");
    }

    #[test]
    fn a_bad_later_document_fails_the_file() {
        let e = parse(b"kind: A\n---\nkind: [unclosed\n", Syntax::Yaml)
            .err()
            .unwrap();
        assert!(e.starts_with("document 2"), "{e}");
        assert!(parse(b"a: 1\na: 2\n", Syntax::Yaml).is_err());
        assert!(parse(b"a: !custom x\n", Syntax::Yaml).is_err());
    }

    #[test]
    fn json_streams_lists_and_keys() {
        let docs = parse(b"{\"kind\":\"A\"} {\"kind\":\"B\"}", Syntax::Json).unwrap();
        assert_eq!(docs.len(), 2);
        let docs = parse(b"1: x\ntrue: y\n---\n---\n", Syntax::Yaml).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].value["1"], "x");
        assert_eq!(docs[0].value["true"], "y");
        let mut out = Vec::new();
        let list = serde_json::json!({"kind": "List", "items": [{"kind": "A"}, {"kind": "ConfigMapList", "items": [{"kind": "B"}]}]});
        unwrap_lists(list, &mut out, String::new());
        let kinds: Vec<&str> = out
            .iter()
            .map(|(_, v)| v["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["A", "B"]);
        assert_eq!(out[1].0, "/items/1/items/0");
    }
}
