//! The policy file (YAML, Kubernetes-style, `sigil.dev/v1alpha1` `Policy`). Unknown fields are
//! errors so a typo can never weaken a policy.

use serde::Deserialize;

/// The whole file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyFile {
    /// Must be `sigil.dev/v1alpha1`.
    pub api_version: String,
    /// Must be `Policy`.
    pub kind: String,
    /// Free-form metadata (`name`, labels...).
    #[serde(default)]
    pub metadata: Option<yaml_serde::Value>,
    /// The policy.
    pub spec: Spec,
}

/// `spec`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    /// Who may sign.
    #[serde(default)]
    pub signers: Vec<SignerSpec>,
    /// Commit rules.
    #[serde(default)]
    pub commits: Option<CommitsSpec>,
    /// Tag rules.
    #[serde(default)]
    pub tags: Vec<TagRule>,
    /// Image rules (checked by `verify images`).
    #[serde(default)]
    pub images: Option<super::images::ImagesSpec>,
    /// Secrets rules (checked by the gate).
    #[serde(default)]
    pub secrets: Option<SecretsSpec>,
    /// Objects that make a reconciler fetch content itself (HelmRelease, Application...).
    #[serde(default)]
    pub sources: Option<SourcesSpec>,
}

/// `spec.sources`: reconciler sources (Flux HelmRelease, HelmChart, OCIRepository,
/// GitRepository, Bucket, Kustomization; Argo CD Application, ApplicationSet) a render may
/// contain. Each fetches or renders content the gate never sees, so all are refused unless
/// allowed here.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourcesSpec {
    /// Allowed objects.
    #[serde(default)]
    pub allow: Vec<AllowedSourceSpec>,
}

/// One allowed reconciler source.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AllowedSourceSpec {
    /// The kind (`HelmRelease`).
    pub kind: String,
    /// Namespace glob (any when absent).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Name glob.
    pub name: String,
}

/// A named signer.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignerSpec {
    /// Referenced by rules.
    pub name: String,
    /// Identities (for `requireCommitterMatch`).
    #[serde(default)]
    pub emails: Vec<String>,
    /// OpenPGP certificate files.
    #[serde(default)]
    pub openpgp: Vec<String>,
    /// SSH public key files or inline `ssh-… AAAA…` lines.
    #[serde(default)]
    pub ssh: Vec<String>,
    /// An allowed_signers file (ssh-keygen grammar).
    #[serde(default)]
    pub allowed_signers: Option<String>,
    /// Revoked SSH keys; configured but missing is a configuration error.
    #[serde(default)]
    pub revoked_keys: Option<String>,
    /// X.509 commit signatures (gpgsm): the CAs and the certificate emails allowed.
    #[serde(default)]
    pub x509: Option<X509Spec>,
    /// Keyless identity (cosign/gitsign), used by image rules.
    #[serde(default)]
    pub keyless: Option<yaml_serde::Value>,
    /// A bot or platform key: exempt from `requireCommitterMatch`.
    #[serde(default)]
    pub bot: bool,
}

/// `signers[].x509`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct X509Spec {
    /// PEM file of CA certificates; each is a trust anchor.
    pub ca_bundle: String,
    /// Certificate emails (`*` globs) this signer may sign with; default: `emails`.
    #[serde(default)]
    pub emails: Vec<String>,
}

/// `spec.commits`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommitsSpec {
    /// `head`, `range` (every commit new since the last verified one) or `in-repo` (the
    /// repository's own `openpgp-policy.toml`, from a pinned trust root).
    #[serde(default = "default_mode")]
    pub mode: String,
    /// Accept SHA-1 OpenPGP signatures (old GnuPG history); off by default.
    #[serde(default)]
    pub allow_sha1_signatures: bool,
    /// Allowed distance between signature and commit time, e.g. `10m` (default 10m).
    #[serde(default)]
    pub max_clock_skew: Option<String>,
    /// A verified merge also accepts unsigned commits it brings from side branches.
    #[serde(default)]
    pub signed_merges_vouch_for_side_branches: bool,
    /// Rules; the most specific matching (ref, path) rule applies.
    #[serde(default)]
    pub rules: Vec<CommitRule>,
    /// The trust root of `mode: in-repo`.
    #[serde(default)]
    pub in_repo: Option<InRepoSpec>,
}

/// `spec.commits.inRepo`: where the repository's own policy history starts. Exactly one.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InRepoSpec {
    /// A full commit id, trusted as it is (sequoia-git's `--trust-root`).
    #[serde(default)]
    pub trust_root: Option<String>,
    /// `sha256:<hex>` of an `openpgp-policy.toml`: a commit carrying exactly that file, signed
    /// as it allows, is a trust root.
    #[serde(default)]
    pub policy_digest: Option<String>,
}

fn default_mode() -> String {
    "range".into()
}

/// One commit rule.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommitRule {
    /// Ref globs (`refs/heads/main`, `refs/heads/*`).
    pub refs: Vec<String>,
    /// Path globs (`clusters/prod/**`); default `**`.
    #[serde(default = "all_paths")]
    pub paths: Vec<String>,
    /// Signer names allowed.
    pub signers: Vec<String>,
    /// The signer's identity must equal the committer email (bots exempt).
    #[serde(default)]
    pub require_committer_match: bool,
}

fn all_paths() -> Vec<String> {
    vec!["**".into()]
}

/// One tag rule.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TagRule {
    /// Tag name glob (`v*`).
    pub pattern: String,
    /// Signer names allowed.
    pub signers: Vec<String>,
    /// Also verify the tagged commit against the commit rules (default true).
    #[serde(default = "yes")]
    pub verify_commit: bool,
}

fn yes() -> bool {
    true
}

/// `spec.secrets`: which manifests must be SOPS-encrypted in the repositories the gate follows.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretsSpec {
    /// Kinds that must be SOPS-encrypted (default: `[{kind: Secret}]`).
    #[serde(default)]
    pub require_sops: Option<Vec<KindSelector>>,
    /// Not read here: the gate's `publish.volume.decryptSecrets` decides (an error if set).
    #[serde(default)]
    pub decrypt_on_publish: Option<bool>,
    /// Not read here: the gate's `secrets.ageKeyFile` holds the keys (an error if set).
    #[serde(default)]
    pub keys: Option<yaml_serde::Value>,
}

/// A manifest selector.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KindSelector {
    /// The Kubernetes kind.
    pub kind: String,
}
