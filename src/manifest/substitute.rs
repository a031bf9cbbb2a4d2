//! Flux `postBuild` variable substitution, as kustomize-controller applies it after the build:
//! on each object's YAML text (objects labelled or annotated
//! `kustomize.toolkit.fluxcd.io/substitute: disabled` are left alone), `${VAR}` and the default
//! forms (`${VAR:-x}`, `${VAR:=x}`, `-`, `=`, `:+`, `+`, `:?`, `?`, which Flux's envsubst all
//! treats as `:-`), `$$` as a literal `$`, strict (an unset variable without a default is an
//! error, Flux's default since v1.9). Other forms are refused rather than guessed.

use std::collections::BTreeMap;

use serde_json::Value;

use super::documents::{Syntax, parse};

const DISABLED: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Most defaults nested in one another (`${A:-${B:-…}}`): the expansion recurses per level, and
/// a render is checked on threads with a default-size stack.
const MAX_NESTING: usize = 64;

fn name_ok(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f == '_' || f.is_alphabetic())
        && c.all(|x| x == '_' || x.is_alphanumeric())
}

/// Checks variable names as Flux does (`^[_[:alpha:]][_[:alpha:][:digit:]]*$`).
pub fn check_vars(vars: &BTreeMap<String, String>) -> Result<(), String> {
    for k in vars.keys() {
        if !name_ok(k) || !k.is_ascii() {
            return Err(format!(
                "'{k}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
            ));
        }
    }
    Ok(())
}

/// Expands `text`.
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let (out, end) = expand_until(&chars, 0, vars, 0)?;
    debug_assert_eq!(end, chars.len());
    Ok(out)
}

/// Expands from `i` to the end (or, `depth` defaults deep, to the `}` closing a default),
/// returning the text and the position after it.
fn expand_until(
    c: &[char],
    mut i: usize,
    vars: &BTreeMap<String, String>,
    depth: usize,
) -> Result<(String, usize), String> {
    if depth > MAX_NESTING {
        return Err(format!(
            "variable substitution failed: defaults nested more than {MAX_NESTING} deep"
        ));
    }
    let nested = depth > 0;
    let mut out = String::new();
    while i < c.len() {
        match c[i] {
            '}' if nested => return Ok((out, i)),
            '$' if c.get(i + 1) == Some(&'$') => {
                out.push('$');
                i += 2;
            }
            '$' if c.get(i + 1) == Some(&'{') => {
                let (v, next) = expression(c, i + 2, vars, depth)?;
                out.push_str(&v);
                i = next;
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    if nested {
        return Err("variable substitution failed: missing closing brace".into());
    }
    Ok((out, i))
}

/// `${` … `}` starting after the brace.
fn expression(
    c: &[char],
    start: usize,
    vars: &BTreeMap<String, String>,
    depth: usize,
) -> Result<(String, usize), String> {
    let mut i = start;
    while i < c.len() && (c[i] == '_' || c[i].is_alphanumeric()) {
        i += 1;
    }
    let name: String = c[start..i].iter().collect();
    if name.is_empty() || !name_ok(&name) {
        return Err("variable substitution failed: unable to parse variable name".into());
    }
    let value = vars.get(&name).filter(|v| !v.is_empty());
    match c.get(i) {
        Some('}') => match value {
            Some(v) => Ok((v.clone(), i + 1)),
            None => Err(format!("variable not set (strict mode): \"{name}\"")),
        },
        Some(':') | Some('-') | Some('=') | Some('+') | Some('?') => {
            let op_len = if c[i] == ':' { 2 } else { 1 };
            if c[i] == ':' && !matches!(c.get(i + 1), Some('-' | '=' | '+' | '?')) {
                return Err(format!(
                    "substitution ${{{name}:…}} (substring) is not supported by the gate"
                ));
            }
            let (default, end) = expand_until(c, i + op_len, vars, depth + 1)?;
            Ok((value.cloned().unwrap_or(default), end + 1))
        }
        Some(other) => Err(format!(
            "substitution form ${{{name}{other}…}} is not supported by the gate (only ${{VAR}} and the default forms)"
        )),
        None => Err("variable substitution failed: missing closing brace".into()),
    }
}

/// Whether Flux leaves this object alone.
fn disabled(obj: &Value) -> bool {
    ["labels", "annotations"].iter().any(|f| {
        obj.pointer(&format!("/metadata/{f}/{}", DISABLED.replace('/', "~1")))
            .and_then(Value::as_str)
            == Some("disabled")
    })
}

/// Substitutes one object as kustomize-controller does (YAML text, then parsed again).
/// Variable values lose their newlines, as in Flux.
pub fn substitute(obj: &Value, vars: &BTreeMap<String, String>) -> Result<Value, String> {
    if vars.is_empty() || disabled(obj) {
        return Ok(obj.clone());
    }
    let clean: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.replace('\n', "")))
        .collect();
    let text = yaml_serde::to_string(obj).map_err(|e| e.to_string())?;
    let expanded = expand(&text, &clean)?;
    let mut docs = parse(expanded.as_bytes(), Syntax::Yaml)?;
    match docs.len() {
        1 => Ok(docs.remove(0).value),
        _ => Err("substitution changed the object's structure".into()),
    }
}

/// Whether a string still holds a substitution.
pub fn unresolved(s: &str) -> bool {
    s.contains("${")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flux_envsubst_forms() {
        let v = vars(&[("TAG", "v2"), ("EMPTY", "")]);
        assert_eq!(expand("app:${TAG}", &v).unwrap(), "app:v2");
        assert_eq!(expand("${MISSING:-v1}", &v).unwrap(), "v1");
        assert_eq!(
            expand("${EMPTY:=x}${MISSING-y}${MISSING+z}", &v).unwrap(),
            "xyz"
        );
        assert_eq!(expand("${MISSING:-${TAG}}", &v).unwrap(), "v2");
        assert_eq!(
            expand("$$HOME $${TAG} $TAG", &v).unwrap(),
            "$HOME ${TAG} $TAG"
        );
        assert!(expand("${MISSING}", &v).unwrap_err().contains("strict"));
        assert!(expand("${TAG", &v).is_err());
        assert!(expand("${foo.bar}", &v).is_err());
        assert!(expand("${TAG:1:2}", &v).is_err());
        assert!(expand("${TAG/a/b}", &v).is_err());
        assert!(check_vars(&vars(&[("1X", "")])).is_err());
    }

    #[test]
    fn deeply_nested_defaults_are_refused_not_a_stack_overflow() {
        let nested = |n: usize| format!("{}x{}", "${A:-".repeat(n), "}".repeat(n));
        let v = vars(&[]);
        assert_eq!(expand(&nested(MAX_NESTING), &v).unwrap(), "x");
        // On a small stack, as the gate's threads have: refused, the process survives.
        let deep = nested(100_000);
        let r = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || expand(&deep, &vars(&[])))
            .unwrap()
            .join()
            .unwrap();
        assert!(r.unwrap_err().contains("nested"));
    }

    #[test]
    fn objects_like_kustomize_controller() {
        let d = json!({"kind": "Deployment", "spec": {"replicas": "${R}", "image": "app:${TAG}"}});
        let out = substitute(&d, &vars(&[("R", "3"), ("TAG", "v2")])).unwrap();
        assert_eq!(
            out["spec"]["replicas"], 3,
            "retyped after substitution, as in Flux"
        );
        assert_eq!(out["spec"]["image"], "app:v2");
        let off = json!({"kind": "X", "metadata": {"annotations": {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}}, "v": "${TAG}"});
        assert_eq!(
            substitute(&off, &vars(&[("TAG", "v2")])).unwrap()["v"],
            "${TAG}"
        );
        assert_eq!(substitute(&d, &BTreeMap::new()).unwrap(), d);
    }
}
