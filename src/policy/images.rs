//! `spec.images`: image rules by glob → authorities (cosign keys, keyless identities with a
//! trusted root), digest pinning, threshold and signed annotations.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::image::pubkey::PublicKey;
use crate::image::reference::canonical_name;
use crate::image::trust_root::TrustRoot;
use crate::image::verify::{Authority, Keyless, Matcher, Trust};

/// `spec.images` as written.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImagesSpec {
    /// `deny` (default) or `allow` images that match no rule.
    #[serde(default)]
    pub unmatched: Option<String>,
    /// Registries reached over plain HTTP (host[:port] globs, e.g. `127.0.0.1:*`).
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Rules; the most specific matching pattern wins.
    #[serde(default)]
    pub rules: Vec<ImageRuleSpec>,
    /// Kinds whose pod specs or image fields sigil does not know (custom resources).
    #[serde(default)]
    pub pod_specs: Vec<PodSpecSpec>,
}

/// `images.podSpecs[]`: where a kind holds a pod spec or an image reference.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodSpecSpec {
    /// The kind (`Service`).
    pub kind: String,
    /// Its apiVersion (`serving.knative.dev/v1`); any when absent.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Path of a pod spec (`spec.template.spec`; `[]` for every list item).
    #[serde(default)]
    pub pod_spec: Option<String>,
    /// Path of an image reference (`spec.steps[].image`).
    #[serde(default)]
    pub image: Option<String>,
}

/// One rule as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageRuleSpec {
    /// Glob over `registry/repository` (`ghcr.io/org/**`); its registry part is compared in
    /// canonical form (lower case, no `:443`).
    #[serde(rename = "match")]
    pub pattern: String,
    /// Refuse references without a digest.
    #[serde(default)]
    pub require_digest: bool,
    /// Distinct authorities that must each vouch (default 1).
    #[serde(default)]
    pub threshold: Option<usize>,
    /// Signatures live in this repository (`registry/repo`) instead of the image's.
    #[serde(default)]
    pub signature_repository: Option<String>,
    /// Annotations every accepted signature must carry in its signed claims.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Who may vouch.
    #[serde(default)]
    pub authorities: Vec<AuthoritySpec>,
}

/// One authority as written: exactly one of `key`, `keyless`, `signer`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthoritySpec {
    /// A cosign public key file (PEM).
    #[serde(default)]
    pub key: Option<String>,
    /// With `key`: require a Rekor entry verified with these trust files.
    #[serde(default)]
    pub tlog: Option<TlogSpec>,
    /// A keyless identity.
    #[serde(default)]
    pub keyless: Option<KeylessSpec>,
    /// A signer of `spec.signers` whose `keyless` identity vouches.
    #[serde(default)]
    pub signer: Option<String>,
}

/// Rekor trust for key-based signatures.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlogSpec {
    /// A sigstore `trusted_root.json` (with no `trustedRoot` nor PEM files: the Sigstore
    /// public-good root pinned in sigil).
    #[serde(default)]
    pub trusted_root: Option<String>,
    /// PEM Rekor public keys.
    #[serde(default)]
    pub rekor_keys: Vec<String>,
}

/// A keyless identity (also the shape of `signers[].keyless`).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeylessSpec {
    /// OIDC issuer, exact.
    #[serde(default)]
    pub issuer: Option<String>,
    /// OIDC issuer, regular expression matched against the whole value.
    #[serde(default)]
    pub issuer_reg_exp: Option<String>,
    /// Subject (any SAN), exact.
    #[serde(default)]
    pub subject: Option<String>,
    /// Subject, regular expression matched against the whole value.
    #[serde(default)]
    pub subject_reg_exp: Option<String>,
    /// A sigstore `trusted_root.json` (with no `trustedRoot` nor PEM files: the Sigstore
    /// public-good root pinned in sigil).
    #[serde(default)]
    pub trusted_root: Option<String>,
    /// Instead of a trusted root: a PEM CA chain (intermediates then root)...
    #[serde(default)]
    pub ca_chain: Option<String>,
    /// ...PEM Rekor public keys...
    #[serde(default)]
    pub rekor_keys: Vec<String>,
    /// ...and PEM CT log keys.
    #[serde(default)]
    pub ct_log_keys: Vec<String>,
    /// gitsign's online mode: the Rekor server (`https://rekor.sigstore.dev`) to search for
    /// the entry of a commit or tag signature that does not carry one. Off by default.
    #[serde(default)]
    pub rekor_search: Option<String>,
    /// A PEM RFC 3161 timestamp authority chain (the TSA's signing certificate first, root
    /// last), in addition to a trusted root's `timestampAuthorities`.
    #[serde(default)]
    pub tsa_chain: Option<String>,
    /// Accept certificates without a verified SCT (private CAs without CT). Default false.
    #[serde(default)]
    pub ignore_sct: bool,
    /// Accept signatures without a Rekor entry, checking the certificate at the current time
    /// (private PKI with long-lived certificates). Default false.
    #[serde(default)]
    pub ignore_tlog: bool,
}

/// A compiled image rule.
#[derive(Debug)]
pub struct ImageRule {
    /// The glob text.
    pub pattern: String,
    glob: glob::Pattern,
    /// Refuse tag-only references.
    pub require_digest: bool,
    /// Distinct authorities needed.
    pub threshold: usize,
    /// Alternate signature repository (`registry/repo`).
    pub signature_repository: Option<(String, String)>,
    /// Required signed annotations.
    pub annotations: BTreeMap<String, String>,
    /// Who may vouch.
    pub authorities: Vec<Authority>,
}

/// Compiled `spec.images`.
#[derive(Debug, Default)]
pub struct ImagePolicy {
    /// Allow images matching no rule (default: refuse them).
    pub allow_unmatched: bool,
    /// Plain-HTTP registries.
    pub insecure_registries: Vec<String>,
    /// Rules.
    pub rules: Vec<ImageRule>,
    /// Pod specs and image fields of kinds sigil does not know.
    pub fields: Vec<crate::manifest::inspect::ImageField>,
}

/// What the compiler needs from the policy loader: reading trust files (hashed into the policy
/// digest) and the signers' keyless identities.
pub trait TrustFiles {
    /// Reads a file relative to the policy; records an error and returns None on failure.
    fn read_file(&mut self, rel: &str, what: &str) -> Option<Vec<u8>>;
    /// Records a configuration error.
    fn error(&mut self, msg: String);
}

fn literal_len(p: &str) -> usize {
    p.chars()
        .filter(|c| !matches!(c, '*' | '?' | '[' | ']'))
        .count()
}

impl ImagePolicy {
    /// The rule for `registry/repository`: the most specific matching pattern. The registry
    /// host is compared in canonical form (lower case, no `:443`), on both sides.
    pub fn rule_for(&self, name: &str) -> Option<&ImageRule> {
        let name = &canonical_name(name);
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.rules
            .iter()
            .filter(|r| r.glob.matches_with(name, opts))
            .max_by_key(|r| {
                (
                    literal_len(r.glob.as_str()),
                    std::cmp::Reverse(r as *const _ as usize),
                )
            })
    }

    /// Compiles `spec`; `signer_keyless(name)` returns a signer's compiled `keyless` identity
    /// (`None` for an unknown signer).
    pub fn compile(
        spec: &ImagesSpec,
        files: &mut dyn TrustFiles,
        signer_keyless: &dyn Fn(&str) -> Option<SignerKeyless>,
    ) -> ImagePolicy {
        let allow_unmatched = match spec.unmatched.as_deref() {
            None | Some("deny") => false,
            Some("allow") => true,
            Some(other) => {
                files.error(format!(
                    "images.unmatched must be deny or allow, not '{other}'"
                ));
                false
            }
        };
        for p in &spec.insecure_registries {
            if let Err(e) = glob::Pattern::new(p) {
                files.error(format!(
                    "images.insecureRegistries: invalid pattern '{p}': {e}"
                ));
            }
        }
        let mut rules = Vec::new();
        for (i, r) in spec.rules.iter().enumerate() {
            let what = format!("images.rules[{i}] ({})", r.pattern);
            let glob = match glob::Pattern::new(&canonical_name(&r.pattern)) {
                Ok(g) => g,
                Err(e) => {
                    files.error(format!("{what}: invalid glob: {e}"));
                    continue;
                }
            };
            if spec.rules[..i]
                .iter()
                .any(|o| canonical_name(&o.pattern) == glob.as_str())
            {
                files.error(format!("{what}: duplicate pattern (ambiguous)"));
            }
            let mut authorities = Vec::new();
            for (j, a) in r.authorities.iter().enumerate() {
                let what = format!("{what}.authorities[{j}]");
                if let Some(auth) = compile_authority(a, &what, files, signer_keyless) {
                    authorities.push(auth);
                }
            }
            if authorities.is_empty() && r.authorities.is_empty() {
                files.error(format!(
                    "{what}: no authorities (every image would be refused)"
                ));
            }
            let threshold = r.threshold.unwrap_or(1);
            if threshold == 0 || threshold > r.authorities.len().max(1) {
                files.error(format!(
                    "{what}: threshold {threshold} must be between 1 and the number of authorities ({})",
                    r.authorities.len()
                ));
            }
            let signature_repository = r.signature_repository.as_ref().and_then(|s| {
                match crate::image::reference::Reference::parse(s) {
                    Ok(rf) if rf.tag.is_none() && rf.digest.is_none() => {
                        Some((rf.registry, rf.repository))
                    }
                    _ => {
                        files.error(format!(
                            "{what}: signatureRepository '{s}' must be registry/repository"
                        ));
                        None
                    }
                }
            });
            rules.push(ImageRule {
                pattern: r.pattern.clone(),
                glob,
                require_digest: r.require_digest,
                threshold,
                signature_repository,
                annotations: r.annotations.clone(),
                authorities,
            });
        }
        let mut fields = Vec::new();
        for (i, f) in spec.pod_specs.iter().enumerate() {
            let what = format!("images.podSpecs[{i}] ({})", f.kind);
            let path = |p: &Option<String>, files: &mut dyn TrustFiles| {
                p.as_deref().and_then(|p| {
                    crate::manifest::inspect::FieldPath::parse(p)
                        .map_err(|e| files.error(format!("{what}: {e}")))
                        .ok()
                })
            };
            let pod_spec = path(&f.pod_spec, files);
            let image = path(&f.image, files);
            if f.pod_spec.is_none() && f.image.is_none() {
                files.error(format!("{what}: give podSpec or image"));
            }
            fields.push(crate::manifest::inspect::ImageField {
                kind: f.kind.clone(),
                api_version: f.api_version.clone(),
                pod_spec,
                image,
            });
        }
        ImagePolicy {
            allow_unmatched,
            insecure_registries: spec.insecure_registries.clone(),
            rules,
            fields,
        }
    }
}

fn compile_authority(
    a: &AuthoritySpec,
    what: &str,
    files: &mut dyn TrustFiles,
    signer_keyless: &dyn Fn(&str) -> Option<SignerKeyless>,
) -> Option<Authority> {
    let count = a.key.is_some() as u8 + a.keyless.is_some() as u8 + a.signer.is_some() as u8;
    if count != 1 {
        files.error(format!(
            "{what}: exactly one of key, keyless or signer is required"
        ));
        return None;
    }
    if a.tlog.is_some() && a.key.is_none() {
        files.error(format!(
            "{what}: tlog applies to key authorities (keyless always requires Rekor)"
        ));
    }
    if let Some(path) = &a.key {
        let text = files.read_file(path, what)?;
        let key = match PublicKey::from_pem(&String::from_utf8_lossy(&text)) {
            Ok(k) => k,
            Err(e) => {
                files.error(format!("{what}: {path}: {e}"));
                return None;
            }
        };
        let tlog = match &a.tlog {
            None => None,
            Some(t) => Some(Arc::new(load_root(
                t.trusted_root.as_deref(),
                None,
                &t.rekor_keys,
                &[],
                None,
                what,
                files,
            )?)),
        };
        if tlog.as_ref().is_some_and(|t| t.tlogs.is_empty()) {
            files.error(format!("{what}: tlog is configured but has no Rekor key"));
        }
        return Some(Authority {
            name: format!("key {path}"),
            trust: Trust::Key { key, tlog },
        });
    }
    let (keyless, name) = match (&a.keyless, &a.signer) {
        (Some(k), _) => (compile_keyless(k, what, files)?, "keyless".to_string()),
        (None, Some(s)) => match signer_keyless(s) {
            None => {
                files.error(format!("{what}: unknown signer '{s}'"));
                return None;
            }
            Some(SignerKeyless::Absent) => {
                files.error(format!("{what}: signer '{s}' has no keyless identity"));
                return None;
            }
            // Its errors were reported with the signer.
            Some(SignerKeyless::Invalid) => return None,
            Some(SignerKeyless::Valid(k)) => (k, format!("signer {s}")),
        },
        (None, None) => return None,
    };
    Some(Authority {
        name,
        trust: Trust::Keyless(Box::new(keyless)),
    })
}

/// A signer's keyless identity, as compiled with the signer (once, for commits and images).
pub enum SignerKeyless {
    /// The signer has none.
    Absent,
    /// It did not compile (the errors are already reported).
    Invalid,
    /// The identity.
    Valid(Keyless),
}

/// A keyless identity as written (`keyless:` of an authority or a signer): issuer and subject
/// matchers, and its trust root (`trustedRoot`, or PEM files, or else the Sigstore public-good
/// root pinned in sigil).
pub fn compile_keyless(
    spec: &KeylessSpec,
    what: &str,
    files: &mut dyn TrustFiles,
) -> Option<Keyless> {
    let issuer = matcher(
        spec.issuer.as_deref(),
        spec.issuer_reg_exp.as_deref(),
        "issuer",
        what,
        files,
    )?;
    let subject = matcher(
        spec.subject.as_deref(),
        spec.subject_reg_exp.as_deref(),
        "subject",
        what,
        files,
    )?;
    let root = load_root(
        spec.trusted_root.as_deref(),
        spec.ca_chain.as_deref(),
        &spec.rekor_keys,
        &spec.ct_log_keys,
        spec.tsa_chain.as_deref(),
        what,
        files,
    )?;
    if root.certificate_authorities.is_empty() {
        files.error(format!(
            "{what}: keyless trust needs a certificate authority (trustedRoot or caChain)"
        ));
    }
    if !spec.ignore_tlog && root.tlogs.is_empty() {
        files.error(format!(
            "{what}: keyless trust needs at least one Rekor key (trustedRoot or rekorKeys)"
        ));
    }
    if !spec.ignore_sct && root.ctlogs.is_empty() {
        files.error(format!(
            "{what}: no CT log key to check SCTs (add ctLogKeys, or ignoreSct: true)"
        ));
    }
    Some(Keyless {
        root: Arc::new(root),
        issuer,
        subject,
        require_sct: !spec.ignore_sct,
        require_tlog: !spec.ignore_tlog,
        rekor_search: rekor_search(spec.rekor_search.as_deref(), what, files),
    })
}

/// `rekorSearch`: an https URL (plain http only to this machine, for a local log).
fn rekor_search(url: Option<&str>, what: &str, files: &mut dyn TrustFiles) -> Option<String> {
    let url = url?;
    match url::Url::parse(url) {
        Ok(u)
            if u.scheme() == "https"
                || (u.scheme() == "http"
                    && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))) =>
        {
            Some(url.trim_end_matches('/').to_string())
        }
        _ => {
            files.error(format!(
                "{what}: rekorSearch '{url}' must be an https URL (http only for 127.0.0.1)"
            ));
            None
        }
    }
}

fn matcher(
    exact: Option<&str>,
    regex: Option<&str>,
    field: &str,
    what: &str,
    files: &mut dyn TrustFiles,
) -> Option<Matcher> {
    match Matcher::exact_or_regex(exact, regex) {
        Ok(Some(m)) => Some(m),
        Ok(None) => {
            files.error(format!(
                "{what}: exactly one of {field} or {field}RegExp is required"
            ));
            None
        }
        Err(e) => {
            files.error(format!("{what}: {field}RegExp: {e}"));
            None
        }
    }
}

fn load_root(
    trusted_root: Option<&str>,
    ca_chain: Option<&str>,
    rekor_keys: &[String],
    ct_log_keys: &[String],
    tsa_chain: Option<&str>,
    what: &str,
    files: &mut dyn TrustFiles,
) -> Option<TrustRoot> {
    let mut root = match trusted_root {
        Some(path) => {
            let bytes = files.read_file(path, what)?;
            match TrustRoot::from_json(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    files.error(format!("{what}: {path}: {e}"));
                    return None;
                }
            }
        }
        // Nothing named: the Sigstore public-good root pinned in sigil.
        None if ca_chain.is_none() && rekor_keys.is_empty() && ct_log_keys.is_empty() => {
            match crate::image::public_good::root() {
                Ok(r) => r,
                Err(e) => {
                    files.error(format!("{what}: the pinned public-good root: {e}"));
                    return None;
                }
            }
        }
        None => TrustRoot::default(),
    };
    let read_all = |paths: &[String], files: &mut dyn TrustFiles| -> Option<Vec<String>> {
        paths
            .iter()
            .map(|p| {
                files
                    .read_file(p, what)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
            })
            .collect()
    };
    let chain = match ca_chain {
        Some(p) => Some(String::from_utf8_lossy(&files.read_file(p, what)?).into_owned()),
        None => None,
    };
    let rekor = read_all(rekor_keys, files)?;
    let ct = read_all(ct_log_keys, files)?;
    if chain.is_some() || !rekor.is_empty() || !ct.is_empty() {
        let rekor_refs: Vec<&str> = rekor.iter().map(String::as_str).collect();
        let ct_refs: Vec<&str> = ct.iter().map(String::as_str).collect();
        match TrustRoot::from_pem(chain.as_deref(), &rekor_refs, &ct_refs) {
            Ok(extra) => {
                root.tlogs.extend(extra.tlogs);
                root.ctlogs.extend(extra.ctlogs);
                root.certificate_authorities
                    .extend(extra.certificate_authorities);
            }
            Err(e) => {
                files.error(format!("{what}: {e}"));
                return None;
            }
        }
    }
    if let Some(p) = tsa_chain {
        let text = String::from_utf8_lossy(&files.read_file(p, what)?).into_owned();
        match crate::image::trust_root::authority_from_pem(&text, "TSA certificate chain") {
            Ok(tsa) => root.timestamp_authorities.push(tsa),
            Err(e) => {
                files.error(format!("{what}: {p}: {e}"));
                return None;
            }
        }
    }
    Some(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::reference::Reference;

    struct NoFiles;
    impl TrustFiles for NoFiles {
        fn read_file(&mut self, _: &str, _: &str) -> Option<Vec<u8>> {
            None
        }
        fn error(&mut self, _: String) {}
    }

    #[test]
    fn registry_hosts_are_matched_in_canonical_form() {
        let spec: ImagesSpec = yaml_serde::from_str(
            "rules:\n\
             - {match: 'ghcr.io/org/**', signatureRepository: 'GHCR.IO:443/org/sigs'}\n\
             - {match: 'Quay.IO:443/team/*'}\n\
             - {match: 'docker.io/**'}\n",
        )
        .unwrap();
        let p = ImagePolicy::compile(&spec, &mut NoFiles, &|_| None);
        let rule = |image: &str| p.rule_for(image).map(|r| r.pattern.as_str());
        for image in ["GHCR.IO/org/app", "ghcr.io:443/org/app", "Ghcr.io/org/a/b"] {
            let name = Reference::parse(image).unwrap().name();
            assert_eq!(rule(&name), Some("ghcr.io/org/**"), "{image}");
            assert_eq!(rule(image), Some("ghcr.io/org/**"), "{image} as written");
        }
        assert_eq!(rule("quay.io/team/app"), Some("Quay.IO:443/team/*"));
        assert_eq!(rule("ghcr.io:5000/org/app"), None);
        assert_eq!(rule("ghcr.io/Org/app"), None, "paths stay case-sensitive");
        assert_eq!(
            p.rules[0].signature_repository,
            Some(("ghcr.io".into(), "org/sigs".into()))
        );
    }
}
