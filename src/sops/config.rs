//! `.sops.yaml`: creation rules (keys, key groups, selection rules) and store options.
//!
//! Discovery is sops's: `--config`, then `$SOPS_CONFIG`, then `.sops.yaml` in the current
//! directory and its parents (up to 100 levels). It starts from the current directory, not
//! from the file's directory: run sigil from the repository root.

use std::path::{Path, PathBuf};

use regex::Regex;
use yaml_serde::Value as Y;

use super::error::Error;
use super::format::Layout;
use super::keys::KeySpec;
use super::keys::kms::KmsKey;
use super::keys::vault::VaultKey;
use super::rules::Selection;

/// One `creation_rules` entry.
pub struct CreationRule {
    /// Position in `creation_rules` (for messages: `creation_rules[2]`).
    pub index: usize,
    /// `path_regex` (unanchored search on the path relative to the config's directory).
    pub path_regex: Option<Regex>,
    /// Key groups (flat keys form one group).
    pub groups: Vec<Vec<KeySpec>>,
    /// `shamir_threshold`.
    pub threshold: usize,
    /// The selection rule.
    pub selection: Selection,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// Why the rule's keys cannot be used by sigil (a cloud KMS key type), if so. Only
    /// encryption needs the keys: matching paths (`check secrets`) works regardless.
    pub unsupported: Option<String>,
}

/// A loaded `.sops.yaml`.
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Creation rules, first match wins.
    pub rules: Vec<CreationRule>,
    /// Output layout from `stores`.
    pub layout: Layout,
}

/// Finds the config file: explicit path, `$SOPS_CONFIG`, or `.sops.yaml` upwards from `cwd`.
pub fn locate(explicit: Option<&Path>) -> Result<Option<PathBuf>, Error> {
    if let Some(p) = explicit {
        return Ok(Some(p.to_path_buf()));
    }
    if let Some(p) = std::env::var_os("SOPS_CONFIG").filter(|v| !v.is_empty()) {
        return Ok(Some(PathBuf::from(p)));
    }
    let mut dir =
        std::env::current_dir().map_err(|e| Error::Config(format!("current directory: {e}")))?;
    for _ in 0..100 {
        let candidate = dir.join(".sops.yaml");
        if candidate.is_file() {
            return Ok(Some(candidate));
        }
        if !dir.pop() {
            break;
        }
    }
    Ok(None)
}

fn strs(v: &Y, what: &str) -> Result<Vec<String>, Error> {
    match v {
        Y::Null => Ok(Vec::new()),
        Y::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        Y::Sequence(items) => items
            .iter()
            .map(|i| match i {
                Y::String(s) => Ok(s.trim().to_string()),
                _ => Err(Error::Config(format!(
                    "{what}: every entry must be a string"
                ))),
            })
            .collect(),
        _ => Err(Error::Config(format!(
            "{what} must be a string or a list of strings"
        ))),
    }
}

/// The first key type of `map` sigil cannot use, described.
fn unsupported(map: &yaml_serde::Mapping, ctx: &str) -> Option<String> {
    for k in ["gcp_kms", "azure_keyvault", "hckms"] {
        if let Some(v) = map.get(k)
            && !matches!(v, Y::Null)
            && !strs(v, k).map(|l| l.is_empty()).unwrap_or(false)
        {
            return Some(format!(
                "{ctx}: '{k}' keys are not supported by sigil (only age, pgp, AWS kms and hc_vault); use sops for them"
            ));
        }
    }
    None
}

/// `kms:` of a rule (a comma string or list of `ARN[+ROLE]`, with the rule's `aws_profile`)
/// or of a key group (a list of `{arn, role, context, aws_profile}`).
fn kms_keys(map: &yaml_serde::Mapping, ctx: &str) -> Result<Vec<KeySpec>, Error> {
    let text = |m: &yaml_serde::Mapping, k: &str| -> Result<String, Error> {
        match m.get(k) {
            None | Some(Y::Null) => Ok(String::new()),
            Some(Y::String(s)) => Ok(s.clone()),
            Some(_) => Err(Error::Config(format!("{ctx}.{k} must be a string"))),
        }
    };
    let profile = text(map, "aws_profile")?;
    let mut out = Vec::new();
    match map.get("kms") {
        None | Some(Y::Null) => {}
        Some(Y::Sequence(items)) if items.iter().any(|i| matches!(i, Y::Mapping(_))) => {
            for (i, item) in items.iter().enumerate() {
                let Y::Mapping(m) = item else {
                    return Err(Error::Config(format!("{ctx}.kms[{i}] must be a mapping")));
                };
                let mut context = Vec::new();
                match m.get("context") {
                    None | Some(Y::Null) => {}
                    Some(Y::Mapping(c)) => {
                        for (k, v) in c {
                            let (Y::String(k), Y::String(v)) = (k, v) else {
                                return Err(Error::Config(format!(
                                    "{ctx}.kms[{i}].context: keys and values must be strings"
                                )));
                            };
                            context.push((k.clone(), v.clone()));
                        }
                    }
                    Some(_) => {
                        return Err(Error::Config(format!(
                            "{ctx}.kms[{i}].context must be a mapping"
                        )));
                    }
                }
                context.sort();
                let mut key =
                    KmsKey::from_arn_string(&text(m, "arn")?, &context, &text(m, "aws_profile")?);
                key.role = text(m, "role")?;
                if key.arn.is_empty() {
                    return Err(Error::Config(format!("{ctx}.kms[{i}] has no arn")));
                }
                out.push(KeySpec::Kms(key));
            }
        }
        Some(v) => {
            for arn in strs(v, "kms")? {
                out.push(KeySpec::Kms(KmsKey::from_arn_string(&arn, &[], &profile)));
            }
        }
    }
    Ok(out)
}

fn group(
    map: &yaml_serde::Mapping,
    ctx: &str,
    unusable: &mut Option<String>,
) -> Result<Vec<KeySpec>, Error> {
    if unusable.is_none() {
        *unusable = unsupported(map, ctx);
    }
    let mut keys = Vec::new();
    for r in strs(map.get("age").unwrap_or(&Y::Null), "age")? {
        keys.push(KeySpec::Age(r));
    }
    for fp in strs(map.get("pgp").unwrap_or(&Y::Null), "pgp")? {
        keys.push(KeySpec::Pgp(fp));
    }
    keys.extend(kms_keys(map, ctx)?);
    // Flat rules name Vault keys `hc_vault_transit_uri`, key groups `hc_vault`.
    for field in ["hc_vault_transit_uri", "hc_vault"] {
        for uri in strs(map.get(field).unwrap_or(&Y::Null), field)? {
            let key = VaultKey::from_uri(&uri)
                .map_err(|e| Error::Config(format!("{ctx}.{field}: {e}")))?;
            keys.push(KeySpec::Vault(key));
        }
    }
    if let Some(Y::Sequence(merged)) = map.get("merge") {
        for m in merged {
            if let Y::Mapping(mm) = m {
                keys.extend(group(mm, ctx, unusable)?);
            }
        }
    }
    let mut dedup: Vec<KeySpec> = Vec::new();
    for k in keys {
        if !dedup.contains(&k) {
            dedup.push(k);
        }
    }
    Ok(dedup)
}

fn rule(i: usize, v: &Y) -> Result<CreationRule, Error> {
    let ctx = format!("creation_rules[{i}]");
    let Y::Mapping(map) = v else {
        return Err(Error::Config(format!("{ctx} must be a mapping")));
    };
    let text = |k: &str| -> Result<String, Error> {
        match map.get(k) {
            None | Some(Y::Null) => Ok(String::new()),
            Some(Y::String(s)) => Ok(s.clone()),
            Some(_) => Err(Error::Config(format!("{ctx}.{k} must be a string"))),
        }
    };
    let path_regex = match text("path_regex")? {
        s if s.is_empty() => None,
        s => Some(Regex::new(&s).map_err(|e| Error::Config(format!("{ctx}.path_regex: {e}")))?),
    };
    let mut selection = Selection::default();
    for name in [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ] {
        *selection.field_mut(name).expect("known") = text(name)?;
    }
    if selection.count_set() > 1 {
        return Err(Error::Config(format!(
            "{ctx}: at most one of the *_suffix/*_regex options may be set"
        )));
    }
    let mut unusable = None;
    let groups = match map.get("key_groups") {
        Some(Y::Sequence(gs)) if !gs.is_empty() => gs
            .iter()
            .enumerate()
            .map(|(gi, g)| match g {
                Y::Mapping(gm) => group(gm, &format!("{ctx}.key_groups[{gi}]"), &mut unusable),
                _ => Err(Error::Config(format!(
                    "{ctx}.key_groups[{gi}] must be a mapping"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            let g = group(map, &ctx, &mut unusable)?;
            if g.is_empty() { Vec::new() } else { vec![g] }
        }
    };
    let threshold = match map.get("shamir_threshold") {
        None | Some(Y::Null) => 0,
        Some(Y::Number(n)) => n.as_u64().ok_or_else(|| {
            Error::Config(format!("{ctx}.shamir_threshold must be a positive integer"))
        })? as usize,
        Some(_) => {
            return Err(Error::Config(format!(
                "{ctx}.shamir_threshold must be an integer"
            )));
        }
    };
    let mac_only_encrypted = matches!(map.get("mac_only_encrypted"), Some(Y::Bool(true)));
    Ok(CreationRule {
        index: i,
        path_regex,
        groups,
        threshold,
        selection,
        mac_only_encrypted,
        unsupported: unusable,
    })
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        let root: Y = yaml_serde::from_str(&text)
            .map_err(|e| Error::Config(format!("{} is not valid YAML: {e}", path.display())))?;
        let mut rules = Vec::new();
        let mut layout = Layout::default();
        if let Y::Mapping(map) = &root {
            if let Some(Y::Sequence(rs)) = map.get("creation_rules") {
                for (i, r) in rs.iter().enumerate() {
                    rules.push(
                        rule(i, r)
                            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?,
                    );
                }
            }
            if let Some(Y::Mapping(stores)) = map.get("stores") {
                let indent = |store: &str| -> Option<i64> {
                    match stores.get(store) {
                        Some(Y::Mapping(m)) => m.get("indent").and_then(Y::as_i64),
                        _ => None,
                    }
                };
                if let Some(i) = indent("yaml") {
                    if i < 0 {
                        return Err(Error::Config(
                            "stores.yaml.indent must not be negative".into(),
                        ));
                    }
                    layout.yaml_indent = i as usize;
                }
                if let Some(i) = indent("json") {
                    layout.json_indent = i as i32;
                }
                if let Some(i) = indent("json_binary") {
                    layout.json_binary_indent = i as i32;
                }
            }
        } else if !matches!(root, Y::Null) {
            return Err(Error::Config(format!(
                "{} must be a mapping",
                path.display()
            )));
        }
        Ok(Config {
            path: path.to_path_buf(),
            rules,
            layout,
        })
    }

    /// The first creation rule matching `file`, for encrypting with its keys (see
    /// [`Config::check_keys`]).
    pub fn keys_for(&self, file: &Path) -> Result<&CreationRule, Error> {
        let rule = self.rule_for(file)?;
        self.check_keys(rule)?;
        Ok(rule)
    }

    /// Whether `rule`'s keys can encrypt: keys sigil cannot use are an error naming the key
    /// type (exit 5); a rule without keys, or with an empty key group, is an error naming the
    /// rule and the group (exit 1, as sops's "empty key group provided").
    pub fn check_keys(&self, rule: &CreationRule) -> Result<(), Error> {
        let file = self.path.display();
        if let Some(why) = &rule.unsupported {
            return Err(Error::Config(format!("{file}: {why}")));
        }
        let matching = match &rule.path_regex {
            Some(re) => format!(" (the rule for path_regex {})", re.as_str()),
            None => String::new(),
        };
        let i = rule.index;
        if rule.groups.is_empty() {
            return Err(Error::Generic(format!(
                "{file}: creation_rules[{i}]{matching} has no keys: give it age, pgp or kms keys (or key_groups), or encrypt with --age/--pgp/--kms"
            )));
        }
        if let Some(g) = rule.groups.iter().position(Vec::is_empty) {
            return Err(Error::Generic(format!(
                "{file}: creation_rules[{i}].key_groups[{g}]{matching} is empty: every key group needs at least one age or pgp key"
            )));
        }
        Ok(())
    }

    /// The first creation rule matching `file` (path made relative to the config's directory).
    pub fn rule_for(&self, file: &Path) -> Result<&CreationRule, Error> {
        let rel = self.relative(file);
        self.rules
            .iter()
            .find(|r| r.path_regex.as_ref().is_none_or(|re| re.is_match(&rel)))
            .ok_or_else(|| {
                Error::Generic(format!(
                    "error loading config: no matching creation rules found for '{rel}' in {}",
                    self.path.display()
                ))
            })
    }

    /// Whether a rule with a `path_regex` claims `file` (used by `check secrets`). The config
    /// file itself is never claimed, though a catch-all `path_regex` matches its name.
    pub fn claims(&self, file: &Path) -> bool {
        if file
            .file_name()
            .is_some_and(|n| n == ".sops.yaml" || n == ".sops.yml")
        {
            return false;
        }
        let rel = self.relative(file);
        self.rules
            .iter()
            .any(|r| r.path_regex.as_ref().is_some_and(|re| re.is_match(&rel)))
    }

    /// `file` relative to the config's directory (absolute when outside it), as sops does.
    fn relative(&self, file: &Path) -> String {
        let abs = if file.is_absolute() {
            file.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(file))
                .unwrap_or_else(|_| file.to_path_buf())
        };
        let dir = self.path.parent().map(|d| {
            if d.is_absolute() {
                d.to_path_buf()
            } else {
                std::env::current_dir()
                    .map(|c| c.join(d))
                    .unwrap_or_default()
            }
        });
        let abs_s = abs.to_string_lossy().to_string();
        let rel = match &dir {
            Some(d) => {
                let prefix = format!("{}/", d.to_string_lossy().trim_end_matches('/'));
                abs_s
                    .strip_prefix(&prefix)
                    .map(String::from)
                    .unwrap_or(abs_s.clone())
            }
            None => abs_s.clone(),
        };
        rel.replace("/./", "/")
    }
}
