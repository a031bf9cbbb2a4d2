//! Policies: who may sign what. Loaded from outside the revision being verified; every problem
//! in a file is reported at once; trust material is pinned (full fingerprints, exact keys).

pub mod images;
pub mod in_repo;
pub mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sequoia_openpgp::Cert;
use sha2::{Digest, Sha256};
use ssh_key::public::KeyData;

use crate::signature::allowed_signers::{self, AllowedSigner};
use crate::signature::openpgp::load_certs;

/// A named signer with its trust material.
pub struct Signer {
    /// Name used by rules.
    pub name: String,
    /// Identities for `requireCommitterMatch`.
    pub emails: Vec<String>,
    /// OpenPGP certificates.
    pub certs: Vec<Cert>,
    /// Plain SSH keys.
    pub ssh_keys: Vec<KeyData>,
    /// allowed_signers entries.
    pub allowed: Vec<AllowedSigner>,
    /// Revoked SSH keys.
    pub revoked: Vec<KeyData>,
    /// CAs for X.509 (gpgsm) signatures.
    pub x509_roots: Vec<crate::image::trust_root::CertificateAuthority>,
    /// Certificate emails (`*` globs) allowed for X.509 signatures.
    pub x509_emails: Vec<String>,
    /// A Sigstore keyless identity and its trust root (gitsign commit and tag signatures).
    pub keyless: Option<crate::image::verify::Keyless>,
    /// Exempt from `requireCommitterMatch`.
    pub bot: bool,
}

/// A compiled commit rule.
pub struct Rule {
    /// Position in the file (for messages and verdicts).
    pub index: usize,
    refs: Vec<(String, glob::Pattern)>,
    paths: Vec<(String, glob::Pattern)>,
    /// Indexes into [`Policy::signers`].
    pub signers: Vec<usize>,
    /// Signer identity must equal the committer email.
    pub require_committer_match: bool,
}

impl Rule {
    /// A short description (`rule 2 (refs/heads/* × clusters/**)`).
    pub fn describe(&self) -> String {
        let r: Vec<&str> = self.refs.iter().map(|(s, _)| s.as_str()).collect();
        let p: Vec<&str> = self.paths.iter().map(|(s, _)| s.as_str()).collect();
        format!(
            "commits.rules[{}] ({} × {})",
            self.index,
            r.join(","),
            p.join(",")
        )
    }
}

/// Whether commits are checked one by one or only the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only the target commit.
    Head,
    /// Every commit of the range.
    Range,
    /// Each commit authorised by the policy its parent carries (`openpgp-policy.toml`),
    /// back to a trust root pinned here.
    InRepo,
}

/// The pinned start of an in-repository policy's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InRepoRoot {
    /// A commit (full id): trusted as it is.
    Commit(String),
    /// A policy file's SHA-256: any commit whose `openpgp-policy.toml` has it and whose own
    /// signature that policy authorises.
    PolicyDigest([u8; 32]),
}

/// `spec.commits`, compiled.
pub struct CommitPolicy {
    /// Head or range.
    pub mode: Mode,
    /// Accept SHA-1 OpenPGP signatures.
    pub allow_sha1: bool,
    /// Allowed clock skew.
    pub max_skew: Duration,
    /// Signed merges vouch for their side branches.
    pub merges_vouch: bool,
    /// The rules.
    pub rules: Vec<Rule>,
    /// The trust root, in `in-repo` mode.
    pub in_repo: Option<InRepoRoot>,
}

/// A compiled tag rule.
pub struct TagRule {
    /// The glob text.
    pub pattern: String,
    glob: glob::Pattern,
    /// Allowed signers.
    pub signers: Vec<usize>,
    /// Check the tagged commit too.
    pub verify_commit: bool,
}

/// A loaded policy.
pub struct Policy {
    /// SHA-256 of the policy file and every trust file it reads, in order.
    pub digest: String,
    /// The policy file and every trust file it read (to notice when they change).
    pub files: Vec<PathBuf>,
    /// Signers.
    pub signers: Vec<Signer>,
    /// Every signer's OpenPGP certificates, flattened once (with their owner's index).
    pub certs: Vec<Cert>,
    /// Owner (index into `signers`) of each entry of `certs`.
    pub cert_owner: Vec<usize>,
    /// Commit rules.
    pub commits: CommitPolicy,
    /// Tag rules.
    pub tags: Vec<TagRule>,
    /// Image rules.
    pub images: images::ImagePolicy,
    /// Kinds that must be SOPS-encrypted (`spec.secrets.requireSops`; default `Secret`).
    pub require_sops: Vec<String>,
    /// Reconciler sources a render may contain (`spec.sources.allow`).
    pub allowed_sources: Vec<crate::manifest::check::AllowedSource>,
}

fn literal_len(p: &str) -> usize {
    p.chars()
        .filter(|c| !matches!(c, '*' | '?' | '[' | ']'))
        .count()
}

fn glob_opts() -> glob::MatchOptions {
    glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    }
}

/// Parses `10m`, `30s`, `2h`, `1d`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    Some(Duration::from_secs(
        n * match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            _ => return None,
        },
    ))
}

struct Loader<'a> {
    dir: &'a Path,
    errors: Vec<String>,
    hasher: Sha256,
    files: Vec<PathBuf>,
}

impl Loader<'_> {
    fn read(&mut self, rel: &str, what: &str) -> Option<Vec<u8>> {
        let p = if Path::new(rel).is_absolute() {
            PathBuf::from(rel)
        } else {
            self.dir.join(rel)
        };
        self.files.push(p.clone());
        match std::fs::read(&p) {
            Ok(d) => {
                self.hasher.update(p.to_string_lossy().as_bytes());
                self.hasher.update([0]);
                self.hasher.update((d.len() as u64).to_be_bytes());
                self.hasher.update(&d);
                Some(d)
            }
            Err(e) => {
                self.errors
                    .push(format!("{what}: cannot read {}: {e}", p.display()));
                None
            }
        }
    }

    fn glob(&mut self, p: &str, what: &str) -> Option<glob::Pattern> {
        match glob::Pattern::new(p) {
            Ok(g) => Some(g),
            Err(e) => {
                self.errors.push(format!("{what}: invalid glob '{p}': {e}"));
                None
            }
        }
    }
}

impl images::TrustFiles for Loader<'_> {
    fn read_file(&mut self, rel: &str, what: &str) -> Option<Vec<u8>> {
        self.read(rel, what)
    }

    fn error(&mut self, msg: String) {
        self.errors.push(msg);
    }
}

impl Policy {
    /// Loads and checks a policy file; returns every problem found.
    pub fn load(path: &Path) -> Result<Policy, Vec<String>> {
        let bytes = std::fs::read(path)
            .map_err(|e| vec![format!("cannot read policy {}: {e}", path.display())])?;
        let file: schema::PolicyFile =
            yaml_serde::from_slice(&bytes).map_err(|e| vec![format!("{}: {e}", path.display())])?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut l = Loader {
            dir,
            errors: Vec::new(),
            hasher: Sha256::new(),
            files: vec![path.to_path_buf()],
        };
        l.hasher.update(&bytes);
        if file.api_version != "sigil.dev/v1alpha1" {
            l.errors.push(format!(
                "apiVersion must be sigil.dev/v1alpha1, not '{}'",
                file.api_version
            ));
        }
        if file.kind != "Policy" {
            l.errors
                .push(format!("kind must be Policy, not '{}'", file.kind));
        }
        let mut signers = Vec::new();
        for (i, s) in file.spec.signers.iter().enumerate() {
            let what = format!("signers[{i}] ({})", s.name);
            if file.spec.signers[..i].iter().any(|o| o.name == s.name) {
                l.errors.push(format!("{what}: duplicate signer name"));
            }
            let mut signer = Signer {
                name: s.name.clone(),
                emails: s.emails.clone(),
                certs: Vec::new(),
                ssh_keys: Vec::new(),
                allowed: Vec::new(),
                revoked: Vec::new(),
                x509_roots: Vec::new(),
                x509_emails: Vec::new(),
                keyless: None,
                bot: s.bot,
            };
            if let Some(v) = &s.keyless {
                match yaml_serde::from_value::<images::KeylessSpec>(v.clone()) {
                    Ok(spec) => {
                        signer.keyless =
                            images::compile_keyless(&spec, &format!("{what} keyless"), &mut l)
                    }
                    Err(e) => l.errors.push(format!("{what}: keyless: {e}")),
                }
            }
            if let Some(x) = &s.x509
                && let Some(d) = l.read(&x.ca_bundle, &what)
            {
                match crate::image::cert::Certificate::parse_pem_chain(&String::from_utf8_lossy(&d))
                {
                    Ok(certs) if !certs.is_empty() => {
                        signer.x509_roots = certs
                            .iter()
                            .map(|c| crate::image::trust_root::CertificateAuthority {
                                chain: vec![c.der().to_vec()],
                                valid_from: None,
                                valid_to: None,
                            })
                            .collect();
                        signer.x509_emails = if x.emails.is_empty() {
                            s.emails.clone()
                        } else {
                            x.emails.clone()
                        };
                    }
                    Ok(_) => l.errors.push(format!(
                        "{what}: x509.caBundle {} holds no certificate",
                        x.ca_bundle
                    )),
                    Err(e) => l
                        .errors
                        .push(format!("{what}: x509.caBundle {}: {e}", x.ca_bundle)),
                }
            }
            for f in &s.openpgp {
                if let Some(d) = l.read(f, &what) {
                    match load_certs(&d, f) {
                        Ok(mut c) => signer.certs.append(&mut c),
                        Err(e) => l.errors.push(format!("{what}: {e}")),
                    }
                }
            }
            for k in &s.ssh {
                let text =
                    if k.starts_with("ssh-") || k.starts_with("ecdsa-") || k.starts_with("sk-") {
                        l.hasher.update(k.as_bytes());
                        Some(k.clone().into_bytes())
                    } else {
                        l.read(k, &what)
                    };
                if let Some(t) = text {
                    for line in String::from_utf8_lossy(&t)
                        .lines()
                        .filter(|x| !x.trim().is_empty() && !x.starts_with('#'))
                    {
                        match ssh_key::PublicKey::from_openssh(line.trim()) {
                            Ok(pk) => signer.ssh_keys.push(pk.key_data().clone()),
                            Err(e) => l.errors.push(format!(
                                "{what}: invalid SSH key '{}…': {e}",
                                line.chars().take(20).collect::<String>()
                            )),
                        }
                    }
                }
            }
            if let Some(f) = &s.allowed_signers
                && let Some(d) = l.read(f, &what)
            {
                match allowed_signers::parse(&String::from_utf8_lossy(&d), f) {
                    Ok(a) => signer.allowed = a,
                    Err(mut e) => l.errors.append(&mut e),
                }
            }
            if let Some(f) = &s.revoked_keys
                && let Some(d) = l.read(
                    f,
                    &format!("{what} revokedKeys (a configured revocation list must exist)"),
                )
            {
                match allowed_signers::parse_revoked(&d, f) {
                    Ok(r) => signer.revoked = r,
                    Err(e) => l.errors.push(e),
                }
            }
            if s.openpgp.is_empty()
                && s.ssh.is_empty()
                && s.allowed_signers.is_none()
                && s.keyless.is_none()
                && s.x509.is_none()
            {
                l.errors.push(format!(
                    "{what}: no trust material (openpgp, ssh, allowedSigners, x509 or keyless)"
                ));
            }
            signers.push(signer);
        }
        let find = |l: &mut Loader<'_>, names: &[String], what: &str| -> Vec<usize> {
            names
                .iter()
                .filter_map(|n| {
                    let i = signers.iter().position(|s| &s.name == n);
                    if i.is_none() {
                        l.errors.push(format!("{what}: unknown signer '{n}'"));
                    }
                    i
                })
                .collect()
        };
        let commits_spec = file.spec.commits.as_ref();
        let mut rules = Vec::new();
        for (i, r) in commits_spec
            .map(|c| c.rules.as_slice())
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let what = format!("commits.rules[{i}]");
            let refs = r
                .refs
                .iter()
                .filter_map(|p| l.glob(p, &what).map(|g| (p.clone(), g)))
                .collect();
            let paths = r
                .paths
                .iter()
                .filter_map(|p| l.glob(p, &what).map(|g| (p.clone(), g)))
                .collect();
            if r.signers.is_empty() {
                l.errors.push(format!("{what}: no signers"));
            }
            let s = find(&mut l, &r.signers, &what);
            rules.push(Rule {
                index: i,
                refs,
                paths,
                signers: s,
                require_committer_match: r.require_committer_match,
            });
        }
        for (i, a) in file
            .spec
            .commits
            .iter()
            .flat_map(|c| c.rules.iter())
            .enumerate()
        {
            for (j, b) in file
                .spec
                .commits
                .iter()
                .flat_map(|c| c.rules.iter())
                .enumerate()
                .skip(i + 1)
            {
                if a.refs.iter().any(|x| b.refs.contains(x))
                    && a.paths.iter().any(|x| b.paths.contains(x))
                {
                    l.errors.push(format!("commits.rules[{i}] and commits.rules[{j}] have the same ref and path pattern: ambiguous"));
                }
            }
        }
        let mode = match commits_spec.map(|c| c.mode.as_str()).unwrap_or("range") {
            "range" => Mode::Range,
            "head" => Mode::Head,
            "in-repo" => Mode::InRepo,
            other => {
                l.errors.push(format!(
                    "commits.mode must be head, range or in-repo, not '{other}'"
                ));
                Mode::Range
            }
        };
        let in_repo = in_repo_root(&file.spec, mode, &mut l.errors);
        let max_skew = match commits_spec.and_then(|c| c.max_clock_skew.as_deref()) {
            None => Duration::from_secs(600),
            Some(s) => parse_duration(s).unwrap_or_else(|| {
                l.errors.push(format!(
                    "commits.maxClockSkew '{s}' is not a duration like 10m"
                ));
                Duration::from_secs(600)
            }),
        };
        let mut tags = Vec::new();
        for (i, t) in file.spec.tags.iter().enumerate() {
            let what = format!("tags[{i}]");
            let s = find(&mut l, &t.signers, &what);
            if let Some(g) = l.glob(&t.pattern, &what) {
                tags.push(TagRule {
                    pattern: t.pattern.clone(),
                    glob: g,
                    signers: s,
                    verify_commit: t.verify_commit,
                });
            }
        }
        let keyless_of = |name: &str| {
            let i = file.spec.signers.iter().position(|s| s.name == name)?;
            Some(match (&file.spec.signers[i].keyless, &signers[i].keyless) {
                (None, _) => images::SignerKeyless::Absent,
                (Some(_), None) => images::SignerKeyless::Invalid,
                (Some(_), Some(k)) => images::SignerKeyless::Valid(k.clone()),
            })
        };
        let images = images::ImagePolicy::compile(
            file.spec
                .images
                .as_ref()
                .unwrap_or(&images::ImagesSpec::default()),
            &mut l,
            &keyless_of,
        );
        let mut require_sops = vec!["Secret".to_string()];
        if let Some(sec) = &file.spec.secrets {
            if let Some(kinds) = &sec.require_sops {
                require_sops = kinds.iter().map(|k| k.kind.clone()).collect();
            }
            if sec.decrypt_on_publish.is_some() || sec.keys.is_some() {
                l.errors.push(
                    "secrets.decryptOnPublish and secrets.keys belong in the gate configuration (publish.volume.decryptSecrets, secrets.ageKeyFile), not the policy".into(),
                );
            }
        }
        let mut allowed_sources = Vec::new();
        for (i, a) in file
            .spec
            .sources
            .iter()
            .flat_map(|s| s.allow.iter())
            .enumerate()
        {
            let what = format!("sources.allow[{i}] ({})", a.kind);
            let pattern = |p: &str, l: &mut Loader<'_>| match glob::Pattern::new(p) {
                Ok(g) => Some(g),
                Err(e) => {
                    l.errors.push(format!("{what}: invalid glob '{p}': {e}"));
                    None
                }
            };
            let name = pattern(&a.name, &mut l);
            let namespace = a.namespace.as_deref().map(|n| pattern(n, &mut l));
            if let (Some(name), Some(namespace)) = (
                name,
                namespace.unwrap_or(Some(glob::Pattern::new("*").expect("valid"))),
            ) {
                allowed_sources.push(crate::manifest::check::AllowedSource {
                    kind: a.kind.clone(),
                    namespace: a.namespace.as_ref().map(|_| namespace),
                    name,
                });
            }
        }
        if !l.errors.is_empty() {
            return Err(l.errors);
        }
        let digest = format!("sha256:{}", hex::encode(l.hasher.finalize()));
        let (mut certs, mut cert_owner) = (Vec::new(), Vec::new());
        for (i, s) in signers.iter().enumerate() {
            for c in &s.certs {
                certs.push(c.clone());
                cert_owner.push(i);
            }
        }
        Ok(Policy {
            digest,
            files: l.files,
            signers,
            certs,
            cert_owner,
            commits: CommitPolicy {
                mode,
                allow_sha1: commits_spec.is_some_and(|c| c.allow_sha1_signatures),
                max_skew,
                merges_vouch: commits_spec.is_some_and(|c| c.signed_merges_vouch_for_side_branches),
                rules,
                in_repo,
            },
            tags,
            images,
            require_sops,
            allowed_sources,
        })
    }

    /// The tag rule for a tag name (the most specific pattern); ties are an error.
    pub fn tag_rule(&self, name: &str) -> Result<Option<&TagRule>, String> {
        let mut best: Vec<&TagRule> = Vec::new();
        for t in &self.tags {
            if t.glob.matches_with(name, glob_opts()) {
                match best
                    .first()
                    .map(|b| literal_len(&b.pattern).cmp(&literal_len(&t.pattern)))
                {
                    None | Some(std::cmp::Ordering::Equal) => best.push(t),
                    Some(std::cmp::Ordering::Less) => best = vec![t],
                    Some(std::cmp::Ordering::Greater) => {}
                }
            }
        }
        match best.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(format!(
                "tag '{name}' matches several equally specific tag rules"
            )),
        }
    }
}

/// Checks `commits.inRepo` against the mode and compiles the trust root.
fn in_repo_root(spec: &schema::Spec, mode: Mode, errors: &mut Vec<String>) -> Option<InRepoRoot> {
    let commits = spec.commits.as_ref();
    let section = commits.and_then(|c| c.in_repo.as_ref());
    if mode != Mode::InRepo {
        if section.is_some() {
            errors.push("commits.inRepo is set but commits.mode is not in-repo".into());
        }
        return None;
    }
    if commits.is_some_and(|c| !c.rules.is_empty()) {
        errors.push(
            "commits.rules do not apply in in-repo mode: the repository's openpgp-policy.toml says who may sign; remove them".into(),
        );
    }
    if !spec.tags.is_empty() {
        errors.push(
            "tags rules do not apply in in-repo mode: sign_tag in the tagged commit's openpgp-policy.toml says who may sign tags; remove them".into(),
        );
    }
    let full_hex = |s: &str, lens: &[usize]| {
        lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
    };
    match section.map(|s| (s.trust_root.as_deref(), s.policy_digest.as_deref())) {
        Some((Some(c), None)) if full_hex(c, &[40, 64]) => {
            Some(InRepoRoot::Commit(c.to_ascii_lowercase()))
        }
        Some((Some(c), None)) => {
            errors.push(format!(
                "commits.inRepo.trustRoot '{c}' must be a full commit id (a branch or tag name could move)"
            ));
            None
        }
        Some((None, Some(d))) => match d.strip_prefix("sha256:").filter(|h| full_hex(h, &[64])) {
            Some(h) => {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out).ok()?;
                Some(InRepoRoot::PolicyDigest(out))
            }
            None => {
                errors.push(format!(
                    "commits.inRepo.policyDigest '{d}' must be sha256:<64 hex digits>"
                ));
                None
            }
        },
        _ => {
            errors.push(
                "in-repo mode needs exactly one of commits.inRepo.trustRoot (a commit id) and commits.inRepo.policyDigest (sha256 of an openpgp-policy.toml)".into(),
            );
            None
        }
    }
}

impl CommitPolicy {
    /// Do any rules depend on the paths a commit touches? (If not, paths are not computed.)
    pub fn path_sensitive(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.paths.iter().any(|(p, _)| p != "**"))
    }

    /// The most specific rule for (ref, path); two equally specific matches are an error.
    pub fn rule_for(&self, refname: &str, path: &str) -> Result<Option<&Rule>, String> {
        let mut best: Option<((usize, usize), Vec<&Rule>)> = None;
        for r in &self.rules {
            let rs = r
                .refs
                .iter()
                .filter(|(_, g)| g.matches_with(refname, glob_opts()))
                .map(|(s, _)| literal_len(s))
                .max();
            let ps = r
                .paths
                .iter()
                .filter(|(s, g)| {
                    g.matches_with(path, glob_opts()) || (path.is_empty() && s == "**")
                })
                .map(|(s, _)| literal_len(s))
                .max();
            if let (Some(rs), Some(ps)) = (rs, ps) {
                match &mut best {
                    Some((score, list)) if *score == (rs, ps) => list.push(r),
                    Some((score, _)) if *score > (rs, ps) => {}
                    _ => best = Some(((rs, ps), vec![r])),
                }
            }
        }
        match best {
            None => Ok(None),
            Some((_, list)) if list.len() == 1 => Ok(Some(list[0])),
            Some((_, list)) => Err(format!(
                "{} and {} match {refname} {path} equally: the policy is ambiguous",
                list[0].describe(),
                list[1].describe()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
    }
}
