//! The dotenv store (sops `stores/dotenv/store.go`).
//!
//! Lines are split on `\n`; empty lines are skipped; a line starting with `#` is a comment
//! (the text after `#`); any other line is `KEY=VALUE` split at the first `=`, with no
//! trimming, quote or `export` handling. The two characters `\n` in a value are a newline.
//! Every value is a string. The metadata goes in trailing `sops_*` lines
//! ([`metadata_entries`], [`take_metadata`]).

use zeroize::Zeroizing;

use super::flatten;
use crate::sops::error::Error;
use crate::sops::tree::{Bytes, Entry, Value};

/// Prefix of the metadata keys.
pub const SOPS_PREFIX: &str = "sops_";

/// Parses a dotenv file into comments and string pairs, in file order.
/// A key given twice is refused (sops keeps both; a shell would silently take the last).
pub fn load(input: &[u8]) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in input.split(|&b| b == b'\n').enumerate() {
        let lineno = n + 1;
        if line.is_empty() {
            continue;
        }
        if line[0] == b'#' {
            let text = std::str::from_utf8(&line[1..]).map_err(|_| {
                Error::Parse(format!(
                    "invalid dotenv input: line {lineno}: comment is not valid UTF-8"
                ))
            })?;
            entries.push(Entry::Comment(Zeroizing::new(text.to_string())));
            continue;
        }
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            return Err(Error::Parse(format!(
                "invalid dotenv input: line {lineno} has no '=' (expected KEY=VALUE or a # comment)"
            )));
        };
        let key = std::str::from_utf8(&line[..eq]).map_err(|_| {
            Error::Parse(format!(
                "invalid dotenv input: line {lineno}: key is not valid UTF-8"
            ))
        })?;
        if !seen.insert(key.to_string()) {
            return Err(Error::Parse(format!(
                "invalid dotenv input: line {lineno}: duplicate key '{key}' (sops would keep both)"
            )));
        }
        entries.push(Entry::Pair(
            Zeroizing::new(key.to_string()),
            Value::Str(unescape(&line[eq + 1..])),
        ));
    }
    Ok(entries)
}

/// The two characters `\n` become a newline (sops replaces them left to right).
fn unescape(raw: &[u8]) -> Bytes {
    let mut out: Bytes = Zeroizing::new(Vec::with_capacity(raw.len()));
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && raw.get(i + 1) == Some(&b'n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// Emits `#comment` and `KEY=VALUE` lines like sops 3.11. String values have newlines written
/// as `\n`; other leaves use sops's `ValToString`. Maps and lists are an error, and so is a key
/// that would not read back (empty is fine; `=`, a newline or a leading `#` are not).
/// A comment spanning several lines is written as one `#` line per line.
pub fn emit(doc: &[Entry]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    for e in doc {
        match e {
            Entry::Comment(c) => {
                for line in c.split('\n') {
                    out.push(b'#');
                    out.extend_from_slice(line.as_bytes());
                    out.push(b'\n');
                }
            }
            Entry::Pair(k, v) => {
                if matches!(v, Value::Map(_) | Value::Seq(_)) {
                    return Err(Error::Emit(format!(
                        "cannot use complex value in dotenv file; offending key {}",
                        k.as_str()
                    )));
                }
                if k.contains(['=', '\n']) || k.starts_with('#') {
                    return Err(Error::Emit(format!(
                        "the key {:?} cannot be written to a dotenv file",
                        k.as_str()
                    )));
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                match v {
                    Value::Str(s) => {
                        for &b in s.iter() {
                            if b == b'\n' {
                                out.extend_from_slice(b"\\n");
                            } else {
                                out.push(b);
                            }
                        }
                    }
                    other => out.extend_from_slice(&val_to_string(other)?),
                }
                out.push(b'\n');
            }
        }
    }
    Ok(out)
}

/// sops `stores.ValToString` for leaves: strings as they are, integers in decimal, floats in
/// Go `%G` form with `.0` added when they would look like integers (`3.0`, `1E+20`),
/// booleans `true`/`false`, times in RFC 3339 with whole seconds, null as Go's `<nil>`.
/// Maps, lists and comments are an error.
pub fn val_to_string(v: &Value) -> Result<Bytes, Error> {
    let text = match v {
        Value::Str(s) => return Ok(s.clone()),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            let g = format_float_g(*f);
            if g.contains(['.', 'E']) {
                g
            } else if f.is_finite() {
                format!("{f:.1}")
            } else {
                g
            }
        }
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => crate::sops::time::parse(t)
            .map_or_else(|| t.to_string(), crate::sops::time::format_seconds),
        Value::Null => "<nil>".to_string(),
        Value::Comment(_) | Value::Map(_) | Value::Seq(_) => {
            return Err(Error::Emit(
                "a complex value cannot be written as a string".into(),
            ));
        }
    };
    Ok(Zeroizing::new(text.into_bytes()))
}

/// Go `strconv.FormatFloat(f, 'G', -1, 64)`: shortest digits, `%E` form when the decimal
/// exponent is below -4 or at least 6 (`1E+06`, `1.5E-05`), plain digits otherwise.
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let abs = f.abs();
    let e = format!("{abs:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if abs != 0.0 && !(-4..6).contains(&exp) {
        let (esign, eabs) = if exp < 0 { ('-', -exp) } else { ('+', exp) };
        format!("{sign}{mant}E{esign}{eabs:02}")
    } else {
        format!("{sign}{abs}")
    }
}

/// The metadata as trailing dotenv lines: flattened, prefixed with `sops_`, sorted bytewise
/// (newlines are escaped by [`emit`]).
pub fn metadata_entries(meta: &Value) -> Vec<Entry> {
    flatten::flatten(meta)
        .into_iter()
        .map(|(k, v)| Entry::Pair(Zeroizing::new(format!("{SOPS_PREFIX}{k}")), Value::str(&v)))
        .collect()
}

/// Does the document carry metadata (any key starting with `sops_`)?
pub fn has_metadata(doc: &[Entry]) -> bool {
    doc.iter()
        .any(|e| matches!(e, Entry::Pair(k, _) if k.starts_with(SOPS_PREFIX)))
}

/// Removes the `sops_*` lines from a loaded document and rebuilds the metadata tree from
/// them (all leaves strings); `None` when there are none.
pub fn take_metadata(doc: &mut Vec<Entry>) -> Result<Option<Value>, Error> {
    if !has_metadata(doc) {
        return Ok(None);
    }
    let mut pairs = Vec::new();
    for e in doc.iter() {
        let Entry::Pair(k, v) = e else { continue };
        let Some(name) = k.strip_prefix(SOPS_PREFIX) else {
            continue;
        };
        let text = match v {
            Value::Str(s) => std::str::from_utf8(s).map_err(|_| {
                Error::Parse(format!(
                    "sops metadata value of {} is not UTF-8",
                    k.as_str()
                ))
            })?,
            _ => {
                return Err(Error::Parse(format!(
                    "sops metadata value of {} is not a string",
                    k.as_str()
                )));
            }
        };
        pairs.push((name.to_string(), flatten::unescape_newlines(text)));
    }
    let meta = flatten::unflatten(&pairs)?;
    doc.retain(|e| !matches!(e, Entry::Pair(k, _) if k.starts_with(SOPS_PREFIX)));
    Ok(Some(meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: &str, v: Value) -> Entry {
        Entry::Pair(Zeroizing::new(k.to_string()), v)
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn load_raw_semantics() {
        let input = b"# top\n\nexport EXP=1\nSPACED = v \nQUOTED=\"q\"\nEMPTY=\nEQ=a=b\nML=line1\\nline2\\n\n#\n=noKey\nCR=x\r\nNUM=42";
        let doc = load(input).unwrap();
        let want: Vec<(Option<&str>, &[u8])> = vec![
            (None, b" top"),
            (Some("export EXP"), b"1"),
            (Some("SPACED "), b" v "),
            (Some("QUOTED"), b"\"q\""),
            (Some("EMPTY"), b""),
            (Some("EQ"), b"a=b"),
            (Some("ML"), b"line1\nline2\n"),
            (None, b""),
            (Some(""), b"noKey"),
            (Some("CR"), b"x\r"),
            (Some("NUM"), b"42"),
        ];
        assert_eq!(doc.len(), want.len());
        for (e, (k, v)) in doc.iter().zip(want) {
            match (e, k) {
                (Entry::Comment(c), None) => assert_eq!(c.as_bytes(), v),
                (Entry::Pair(key, Value::Str(val)), Some(k)) => {
                    assert_eq!(key.as_str(), k);
                    assert_eq!(&val[..], v);
                }
                _ => panic!("shape mismatch at {k:?}"),
            }
        }
    }

    #[test]
    fn round_trip_is_byte_exact() {
        let input = "# comment\nexport EXP=1\nSPACED = v \nQUOTED=\"q\"\nEMPTY=\nML=line1\\nline2\\n\n#\nfoo = bar\n";
        let doc = load(input.as_bytes()).unwrap();
        assert_eq!(text(emit(&doc).unwrap()), input);
        // The sops 3.11 reference output.
        let path =
            "../shared/vectors/sops/decrypted-by-sops-3.11.0/functional-tests/res/format.enc.env";
        if let Ok(reference) = std::fs::read(path) {
            assert_eq!(emit(&load(&reference).unwrap()).unwrap(), reference);
        }
        // Blank lines are dropped, a missing final newline is added.
        assert_eq!(
            text(emit(&load(b"\n\nA=1\n\n\nB=2").unwrap()).unwrap()),
            "A=1\nB=2\n"
        );
        assert_eq!(emit(&load(b"").unwrap()).unwrap(), b"");
    }

    #[test]
    fn line_without_equals_is_an_error() {
        match load(b"A=1\n# ok\nNOPE secret\nB=2\n") {
            Err(Error::Parse(m)) => {
                assert!(m.contains("line 3"), "{m}");
                assert!(!m.contains("secret"), "{m}");
            }
            _ => panic!("accepted"),
        }
        assert!(load(b"A=1\n \n").is_err());
        assert!(load(b"\r\n").is_err());
        assert!(load(b"A=1\n\xff\xfe=x\n").is_err());
        assert!(load(b"#\xff\n").is_err());
        // Non-UTF-8 values are kept as bytes.
        let doc = load(b"A=\xff\xfe\n").unwrap();
        assert!(matches!(&doc[0], Entry::Pair(_, Value::Str(v)) if &v[..] == b"\xff\xfe"));
        assert_eq!(emit(&doc).unwrap(), b"A=\xff\xfe\n");
    }

    #[test]
    fn emit_non_strings_like_val_to_string() {
        let doc = vec![
            pair("I", Value::Int(-42)),
            pair("F1", Value::Float(3.0)),
            pair("F2", Value::Float(1e20)),
            pair("F3", Value::Float(25.4)),
            pair("F4", Value::Float(123456.0)),
            pair("F5", Value::Float(1e6)),
            pair("F6", Value::Float(0.00001)),
            pair("F7", Value::Float(-0.0)),
            pair("B", Value::Bool(true)),
            pair(
                "T",
                Value::Time(Zeroizing::new("2020-01-02T03:04:05.123+01:00".into())),
            ),
            pair("N", Value::Null),
            pair("S", Value::str("a\nb")),
            Entry::Comment(Zeroizing::new("two\nlines".into())),
        ];
        // Floats checked against Go's strconv.FormatFloat(v, 'G', -1, 64) rule.
        assert_eq!(
            text(emit(&doc).unwrap()),
            "I=-42\nF1=3.0\nF2=1E+20\nF3=25.4\nF4=123456.0\nF5=1E+06\nF6=1E-05\nF7=-0.0\nB=true\nT=2020-01-02T03:04:05+01:00\nN=<nil>\nS=a\\nb\n#two\n#lines\n"
        );
    }

    #[test]
    fn go_g_format() {
        for (f, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (1e20, "1E+20"),
            (1e21, "1E+21"),
            (1e-6, "1E-06"),
            (1.5e-7, "1.5E-07"),
            (123456789.123, "1.23456789123E+08"),
            (1e100, "1E+100"),
            (5e-324, "5E-324"),
            (f64::MAX, "1.7976931348623157E+308"),
            (100000.0, "100000"),
            (0.0001, "0.0001"),
            (-2.5e-10, "-2.5E-10"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(format_float_g(f), want, "{f:e}");
        }
        assert_eq!(&val_to_string(&Value::Float(f64::NAN)).unwrap()[..], b"NaN");
        assert_eq!(&val_to_string(&Value::Float(0.0)).unwrap()[..], b"0.0");
    }

    #[test]
    fn complex_values_and_bad_keys_are_errors() {
        for doc in [
            vec![pair("M", Value::Map(vec![]))],
            vec![pair("L", Value::Seq(vec![Value::str("x")]))],
            vec![pair("A=B", Value::str("x"))],
            vec![pair("A\nB", Value::str("x"))],
            vec![pair("#A", Value::str("x"))],
        ] {
            assert!(matches!(emit(&doc), Err(Error::Emit(_))));
        }
        assert!(emit(&[pair("", Value::str("x"))]).is_ok());
    }

    #[test]
    fn metadata_lines() {
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
            pair("unencrypted_suffix", Value::str("_unencrypted")),
            pair("version", Value::str("3.11.0")),
        ]);
        let mut doc = load(b"#c\nA=1\n").unwrap();
        doc.extend(metadata_entries(&meta));
        let out = text(emit(&doc).unwrap());
        assert_eq!(
            out,
            "#c\nA=1\n\
             sops_age__list_0__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\nYWdl\\n-----END AGE ENCRYPTED FILE-----\\n\n\
             sops_age__list_0__map_recipient=age1abc\n\
             sops_lastmodified=2025-01-01T00:00:00Z\n\
             sops_mac=ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n\
             sops_unencrypted_suffix=_unencrypted\n\
             sops_version=3.11.0\n"
        );
        let mut back = load(out.as_bytes()).unwrap();
        assert!(has_metadata(&back));
        let m = take_metadata(&mut back).unwrap().unwrap();
        assert_eq!(back.len(), 2);
        assert!(!has_metadata(&back));
        assert_eq!(super::flatten::flatten(&m), super::flatten::flatten(&meta));
        let mut plain = load(b"A=1\n").unwrap();
        assert!(take_metadata(&mut plain).unwrap().is_none());
        assert_eq!(plain.len(), 1);
    }

    #[test]
    fn sops_fixture_metadata_parses() {
        let path = "../shared/vectors/sops/functional-tests/res/format.enc.env";
        let Ok(input) = std::fs::read(path) else {
            return;
        };
        let mut doc = load(&input).unwrap();
        let meta = take_metadata(&mut doc).unwrap().unwrap();
        assert_eq!(doc.len(), 1);
        let md = crate::sops::metadata::Metadata::from_value(&meta).unwrap();
        assert_eq!(md.version, "3.13.1");
        assert_eq!(md.key_groups.len(), 1);
        assert!(
            matches!(&md.key_groups[0].0[0], crate::sops::metadata::MasterKey::Pgp { enc, .. }
            if enc.starts_with("-----BEGIN PGP MESSAGE-----\n\nwcBM") && enc.ends_with("\n-----END PGP MESSAGE-----"))
        );
    }
}
