//! sops's classic top-level spelling, which sops 3.x still accepts and most scripts use:
//! `sigil -e -i FILE`, `sigil -d FILE`, `sigil -r FILE`, `sigil --set '["a"] "v"' FILE`,
//! `sigil --extract '["a"]' -d FILE`, `sigil FILE` (edit). The command line is read as sops
//! 3.11 reads it (Go's flag package: one or two dashes, `-name=value` or `-name value`, flags
//! before the file) and rewritten to the subcommand that does the work, before clap parses.
//!
//! sops's checks come first, in its order and with its exit codes: no file (100), `--in-place`
//! with `--output` (8), a missing file (49 when adding or removing keys, else 100 for
//! -e/-d/-r). Where sops only warns, sigil refuses (exit 8; see the README's "Stricter than
//! sops"): more than one of -e/-d/-r/--set (sops runs each and keeps the last output),
//! anything after the file (sops ignores it, flags included), and `--output` with `--set` or
//! edit (sops ignores it and rewrites the file).

use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::sops::Error;

/// What a flag takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Text,
    Int,
}

/// The top-level flags of sops 3.11 (`app.Flags`, plus urfave/cli's help and version) and
/// sigil's own read options: (names, kind).
const FLAGS: &[(&[&str], Kind)] = &[
    (&["decrypt", "d"], Kind::Bool),
    (&["encrypt", "e"], Kind::Bool),
    (&["rotate", "r"], Kind::Bool),
    (&["disable-version-check"], Kind::Bool),
    (&["check-for-updates"], Kind::Bool),
    (&["kms", "k"], Kind::Text),
    (&["aws-profile"], Kind::Text),
    (&["gcp-kms"], Kind::Text),
    (&["azure-kv"], Kind::Text),
    (&["hc-vault-transit"], Kind::Text),
    (&["pgp", "p"], Kind::Text),
    (&["age", "a"], Kind::Text),
    (&["in-place", "i"], Kind::Bool),
    (&["extract"], Kind::Text),
    (&["input-type"], Kind::Text),
    (&["output-type"], Kind::Text),
    (&["show-master-keys", "s"], Kind::Bool),
    (&["add-gcp-kms"], Kind::Text),
    (&["rm-gcp-kms"], Kind::Text),
    (&["add-azure-kv"], Kind::Text),
    (&["rm-azure-kv"], Kind::Text),
    (&["add-kms"], Kind::Text),
    (&["rm-kms"], Kind::Text),
    (&["add-hc-vault-transit"], Kind::Text),
    (&["rm-hc-vault-transit"], Kind::Text),
    (&["add-age"], Kind::Text),
    (&["rm-age"], Kind::Text),
    (&["add-pgp"], Kind::Text),
    (&["rm-pgp"], Kind::Text),
    (&["ignore-mac"], Kind::Bool),
    (&["mac-only-encrypted"], Kind::Bool),
    (&["unencrypted-suffix"], Kind::Text),
    (&["encrypted-suffix"], Kind::Text),
    (&["unencrypted-regex"], Kind::Text),
    (&["encrypted-regex"], Kind::Text),
    (&["unencrypted-comment-regex"], Kind::Text),
    (&["encrypted-comment-regex"], Kind::Text),
    (&["config"], Kind::Text),
    (&["encryption-context"], Kind::Text),
    (&["set"], Kind::Text),
    (&["shamir-secret-sharing-threshold"], Kind::Int),
    (&["indent"], Kind::Int),
    (&["verbose"], Kind::Bool),
    (&["output"], Kind::Text),
    (&["filename-override"], Kind::Text),
    (&["decryption-order"], Kind::Text),
    (&["enable-local-keyservice"], Kind::Bool),
    (&["keyservice"], Kind::Text),
    (&["help", "h"], Kind::Bool),
    (&["version", "v"], Kind::Bool),
    // sigil's own.
    (&["pgp-key-file"], Kind::Text),
    (&["strict-keys"], Kind::Bool),
];

/// Key types sigil cannot use, by the flag that names them.
const CLOUD_KEYS: &[(&str, &str)] = &[("gcp-kms", "GCP KMS"), ("azure-kv", "Azure Key Vault")];

fn lookup(name: &str) -> Option<(&'static str, Kind)> {
    FLAGS
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(names, kind)| (names[0], *kind))
}

/// The flags given (canonical name → last value; booleans as "true"/"false") and the
/// arguments after them.
struct Parsed {
    flags: Vec<(&'static str, OsString)>,
    args: Vec<OsString>,
}

impl Parsed {
    /// A flag's value; an empty string counts as absent, as in sops.
    fn text(&self, name: &str) -> Option<&OsStr> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_os_str())
            .filter(|v| !v.is_empty())
    }
    fn on(&self, name: &str) -> bool {
        self.text(name).is_some_and(|v| v == "true")
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses like Go's `flag.FlagSet.Parse`: flags until the first argument that is not one
/// (or after `--`). Errors are sops's "Incorrect Usage" (exit 1).
fn parse(args: &[OsString]) -> Result<Parsed, Error> {
    let usage = |msg: String| Error::Generic(format!("{msg} (sigil --help lists the commands)"));
    let mut flags = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let raw = &args[i];
        let text = raw.to_string_lossy();
        if text == "--" {
            i += 1;
            break;
        }
        if !text.starts_with('-') || text == "-" {
            break;
        }
        let body = text.strip_prefix("--").unwrap_or(&text[1..]);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(usage(format!("bad flag syntax: {text}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, _)) => {
                // The value keeps its bytes (paths need not be UTF-8).
                let bytes = std::os::unix::ffi::OsStrExt::as_bytes(raw.as_os_str());
                let at = bytes.iter().position(|b| *b == b'=').unwrap_or(bytes.len());
                let value: &OsStr = std::os::unix::ffi::OsStrExt::from_bytes(&bytes[at + 1..]);
                (n.to_string(), Some(value.to_os_string()))
            }
            None => (body.to_string(), None),
        };
        let Some((canonical, kind)) = lookup(&name) else {
            return Err(usage(format!("flag provided but not defined: -{name}")));
        };
        let value = match (kind, inline) {
            (Kind::Bool, None) => OsString::from("true"),
            (Kind::Bool, Some(v)) => match v.to_str().and_then(go_bool) {
                Some(b) => OsString::from(b.to_string()),
                None => {
                    return Err(usage(format!(
                        "invalid boolean value {:?} for -{name}: parse error",
                        v.to_string_lossy()
                    )));
                }
            },
            (_, Some(v)) => v,
            (_, None) => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| usage(format!("flag needs an argument: -{name}")))?
            }
        };
        if kind == Kind::Int && value.to_str().and_then(|v| v.parse::<i64>().ok()).is_none() {
            return Err(usage(format!(
                "invalid value {:?} for flag -{name}: parse error",
                value.to_string_lossy()
            )));
        }
        flags.push((canonical, value));
        i += 1;
    }
    Ok(Parsed {
        flags,
        args: args[i.min(args.len())..].to_vec(),
    })
}

/// The first argument that is not a flag or a flag's value (flags taking a value are known
/// from the table; others are taken as switches).
fn first_positional(args: &[OsString]) -> Option<&OsString> {
    let mut i = 0;
    while i < args.len() {
        let text = args[i].to_string_lossy();
        if text == "--" {
            return args.get(i + 1);
        }
        if !text.starts_with('-') || text == "-" {
            return Some(&args[i]);
        }
        let body = text.trim_start_matches('-');
        if !body.contains('=') && lookup(body).is_some_and(|(_, k)| k != Kind::Bool) {
            i += 1;
        }
        i += 1;
    }
    None
}

/// Rewrites a classic sops command line to the equivalent subcommand; other command lines
/// (a subcommand, `--help`, `-V`, no argument) are returned unchanged. `subcommands` are the
/// names clap knows.
pub fn rewrite(argv: Vec<OsString>, subcommands: &[String]) -> Result<Vec<OsString>, Error> {
    let Some((program, rest)) = argv.split_first() else {
        return Ok(argv);
    };
    let untouched = rest.is_empty()
        || rest.iter().all(|a| {
            matches!(
                a.to_str(),
                Some("--help" | "-h" | "--version" | "-V" | "help")
            )
        })
        || first_positional(rest)
            .and_then(|a| a.to_str())
            .is_some_and(|a| subcommands.iter().any(|s| s == a));
    if untouched {
        return Ok(argv);
    }
    let p = parse(rest)?;
    let program = program.clone();
    if p.on("help") {
        return Ok(vec![program, "--help".into()]);
    }
    if p.on("version") {
        return Ok(vec![program, "--version".into()]);
    }
    translate(program, &p)
}

fn translate(program: OsString, p: &Parsed) -> Result<Vec<OsString>, Error> {
    let Some(file) = p.args.first() else {
        return Err(Error::NoFile("no file specified".into()));
    };
    if p.args.len() > 1 {
        let ignored: Vec<String> = p.args[1..]
            .iter()
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect();
        return Err(Error::Conflict(format!(
            "more than one argument: sops would use '{}' and silently ignore {} (flags go before the file; one file per command)",
            file.to_string_lossy(),
            ignored.join(" ")
        )));
    }
    let in_place = p.on("in-place");
    let output = p.text("output");
    if in_place && output.is_some() {
        return Err(Error::Conflict(
            "cannot operate on both --output and --in-place".into(),
        ));
    }
    let modes: Vec<&str> = [
        ("encrypt", p.on("encrypt")),
        ("decrypt", p.on("decrypt")),
        ("rotate", p.on("rotate")),
        ("set", p.text("set").is_some()),
    ]
    .into_iter()
    .filter_map(|(m, on)| on.then_some(m))
    .collect();
    let key_changes = [
        "add-kms",
        "add-pgp",
        "add-gcp-kms",
        "add-hc-vault-transit",
        "add-azure-kv",
        "add-age",
        "rm-kms",
        "rm-pgp",
        "rm-gcp-kms",
        "rm-hc-vault-transit",
        "rm-azure-kv",
        "rm-age",
    ];
    if !Path::new(file).exists() {
        let shown = std::path::absolute(file).unwrap_or_else(|_| file.into());
        if key_changes.iter().any(|k| p.text(k).is_some()) {
            return Err(Error::KeysOfMissingFile(format!(
                "cannot add or remove keys on non-existent file {:?}, use --age and --pgp instead",
                shown.display().to_string()
            )));
        }
        if modes.iter().any(|m| *m != "set") {
            return Err(Error::NoFile(format!(
                "cannot operate on non-existent file {:?}",
                shown.display().to_string()
            )));
        }
    }
    if modes.len() > 1 {
        return Err(Error::Conflict(format!(
            "more than one command: {} (sops 3.11 runs each and keeps only the last one's output, a deprecated behaviour); give one",
            modes
                .iter()
                .map(|m| format!("--{m}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if p.text("keyservice").is_some() {
        return Err(Error::Generic(
            "--keyservice: sigil has no key service client; it uses age and OpenPGP keys directly"
                .into(),
        ));
    }
    let mode = modes.first().copied().unwrap_or("edit");
    let mut out: Vec<OsString> = vec![program];
    if let Some(c) = p.text("config") {
        out.push(with_value("config", c));
    }
    out.push(mode.into());
    for name in [
        "input-type",
        "output-type",
        "filename-override",
        "decryption-order",
        "indent",
        "pgp-key-file",
    ] {
        if let Some(v) = p.text(name) {
            out.push(with_value(name, v));
        }
    }
    if p.on("strict-keys") {
        out.push("--strict-keys".into());
    }
    let refuse_cloud = |prefix: &str| -> Result<(), Error> {
        for (flag, what) in CLOUD_KEYS {
            let name = format!("{prefix}{flag}");
            if p.text(&name).is_some() {
                return Err(Error::Generic(format!(
                    "--{name}: sigil cannot use {what} keys (only age, OpenPGP, AWS KMS and Vault transit); use sops for them"
                )));
            }
        }
        Ok(())
    };
    let encrypt_opts = |out: &mut Vec<OsString>| {
        for name in [
            "age",
            "pgp",
            "unencrypted-suffix",
            "encrypted-suffix",
            "unencrypted-regex",
            "encrypted-regex",
            "unencrypted-comment-regex",
            "encrypted-comment-regex",
            "shamir-secret-sharing-threshold",
            "kms",
            "encryption-context",
            "aws-profile",
            "hc-vault-transit",
        ] {
            if let Some(v) = p.text(name) {
                out.push(with_value(name, v));
            }
        }
        if p.on("mac-only-encrypted") {
            out.push("--mac-only-encrypted".into());
        }
    };
    let output_opts = |out: &mut Vec<OsString>| {
        if in_place {
            out.push("--in-place".into());
        }
        if let Some(o) = output {
            out.push(with_value("output", o));
        }
    };
    let in_place_only = |what: &str| -> Result<(), Error> {
        match output {
            Some(_) => Err(Error::Conflict(format!(
                "--output cannot be used with {what}, which always rewrites the file (sops would ignore --output)"
            ))),
            None => Ok(()),
        }
    };
    let ignore_mac = |out: &mut Vec<OsString>| {
        if p.on("ignore-mac") {
            out.push("--ignore-mac".into());
        }
    };
    match mode {
        "encrypt" => {
            refuse_cloud("")?;
            encrypt_opts(&mut out);
            output_opts(&mut out);
        }
        "decrypt" => {
            output_opts(&mut out);
            ignore_mac(&mut out);
            if let Some(x) = p.text("extract") {
                out.push(with_value("extract", x));
            }
        }
        "rotate" => {
            refuse_cloud("add-")?;
            refuse_cloud("rm-")?;
            output_opts(&mut out);
            ignore_mac(&mut out);
            for name in [
                "add-age",
                "rm-age",
                "add-pgp",
                "rm-pgp",
                "add-kms",
                "rm-kms",
                "add-hc-vault-transit",
                "rm-hc-vault-transit",
                "encryption-context",
                "aws-profile",
            ] {
                if let Some(v) = p.text(name) {
                    out.push(with_value(name, v));
                }
            }
        }
        "set" => {
            in_place_only("--set")?;
            ignore_mac(&mut out);
            let (path, value) = split_set(p.text("set").unwrap_or_default())?;
            out.extend(["--".into(), file.clone(), path.into(), value.into()]);
            return Ok(out);
        }
        _ => {
            in_place_only("edit (no -e, -d, -r or --set)")?;
            if p.on("show-master-keys") {
                return Err(Error::Generic(
                    "--show-master-keys: sigil's editor shows the values only; the keys are in the file's sops section"
                        .into(),
                ));
            }
            refuse_cloud("")?;
            encrypt_opts(&mut out);
            ignore_mac(&mut out);
        }
    }
    out.extend(["--".into(), file.clone()]);
    Ok(out)
}

fn with_value(name: &str, value: &OsStr) -> OsString {
    let mut s = OsString::from(format!("--{name}="));
    s.push(value);
    s
}

/// Splits `--set`'s argument as sops does: at the first `"] "`, the path (trailing spaces
/// trimmed) before it and the JSON value after it (exit 7 without one).
fn split_set(arg: &OsStr) -> Result<(String, String), Error> {
    let text = arg
        .to_str()
        .ok_or_else(|| Error::SetFormat("Invalid --set format: not UTF-8".into()))?;
    let at = text.find("] ").ok_or_else(|| {
        Error::SetFormat(
            "Invalid --set format: expected a path and a JSON value, e.g. --set '[\"key\"] \"value\"'"
                .into(),
        )
    })?;
    Ok((
        text[..at + 1].trim_end_matches(' ').to_string(),
        text[at + 2..].to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs() -> Vec<String> {
        ["encrypt", "decrypt", "edit", "rotate", "set", "help"]
            .map(String::from)
            .to_vec()
    }

    fn rw(args: &[&str]) -> Result<Vec<String>, Error> {
        let argv = std::iter::once("sigil")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        rewrite(argv, &subs()).map(|v| {
            v.into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        })
    }

    /// An existing file (the current directory's Cargo.toml).
    const F: &str = "Cargo.toml";

    #[test]
    fn subcommands_and_help_pass_through() {
        for args in [
            &[][..],
            &["--help"],
            &["-V"],
            &["decrypt", F],
            &["--config", "x.yaml", "encrypt", "-i", F],
            &["set", F, "[\"a\"]", "1"],
            &["help", "decrypt"],
        ] {
            let want: Vec<String> = std::iter::once("sigil")
                .chain(args.iter().copied())
                .map(String::from)
                .collect();
            assert_eq!(rw(args).ok(), Some(want), "{args:?}");
        }
        assert_eq!(rw(&["-v"]).ok().unwrap(), ["sigil", "--version"]);
        assert_eq!(rw(&["-help"]).ok().unwrap(), ["sigil", "--help"]);
    }

    #[test]
    fn classic_spellings_become_subcommands() {
        for (args, want) in [
            (
                &["-e", "-i", F][..],
                &["encrypt", "--in-place", "--", F][..],
            ),
            (
                &["--encrypt", "--age=A", F],
                &["encrypt", "--age=A", "--", F],
            ),
            (
                &["-e", "-age", "A", "-p", "P", F],
                &["encrypt", "--age=A", "--pgp=P", "--", F],
            ),
            (&["-d", F], &["decrypt", "--", F]),
            (&["--d", "-i", F], &["decrypt", "--in-place", "--", F]),
            (
                &["--extract", "[\"a\"]", "-d", "--age", "ignored", F],
                &["decrypt", "--extract=[\"a\"]", "--", F],
            ),
            (
                &["-r", "-i", "--add-age", "A", "--ignore-mac", F],
                &[
                    "rotate",
                    "--in-place",
                    "--ignore-mac",
                    "--add-age=A",
                    "--",
                    F,
                ],
            ),
            (
                &["--set", "[\"a\"] \"v\"", "-i", F],
                &["set", "--", F, "[\"a\"]", "\"v\""],
            ),
            (
                &["--set", "[\"a\"][\"b\"]  {\"x\": 1}", F],
                &["set", "--", F, "[\"a\"][\"b\"]", " {\"x\": 1}"],
            ),
            (&[F], &["edit", "--", F]),
            (&["--set=", F], &["edit", "--", F]),
            (
                &["--config", "c.yaml", "-d", "--output-type", "json", F],
                &["--config=c.yaml", "decrypt", "--output-type=json", "--", F],
            ),
            (&["-d", "--", F], &["decrypt", "--", F]),
        ] {
            let mut full = vec!["sigil".to_string()];
            full.extend(want.iter().map(|s| s.to_string()));
            assert_eq!(rw(args).ok(), Some(full), "{args:?}");
        }
    }

    #[test]
    fn sops_refusals_keep_their_exit_codes() {
        for (args, code) in [
            (&["-d"][..], 100),
            (&["-d", "-i", "--output", "x", F], 8),
            (&["-d", "missing.yaml"], 100),
            (&["-r", "--add-age", "A", "missing.yaml"], 49),
            (&["-ei", F], 1),
            (&["--nope", F], 1),
            (&["-d=maybe", F], 1),
            (&["--indent", "x", "-d", F], 1),
            (&["--extract"], 1),
            (&["--set", "bad", F], 7),
            // sigil is stricter here (sops warns and carries on).
            (&["-e", "-d", F], 8),
            (&["-d", F, "-i"], 8),
            (&["-d", F, "other.yaml"], 8),
            (&["--set", "[\"a\"] 1", "--output", "x", F], 8),
            (&["--output", "x", F], 8),
            (&["-e", "--gcp-kms", "projects/p", F], 1),
            (&["-d", "--keyservice", "tcp://x", F], 1),
            (&["-s", F], 1),
        ] {
            let got = rw(args).map_err(|e| e.exit_code());
            assert_eq!(got.err(), Some(code), "{args:?}");
        }
    }
}
