//! Command-line definitions (clap); completions and the man page are generated from these.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// sigil: SOPS-compatible secrets for GitOps, with signature checks to follow.
#[derive(Parser)]
#[command(
    name = "sigil",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "sops's classic spelling works too: sigil -e -i FILE, sigil -d FILE, \
        sigil --extract '[\"k\"]' -d FILE, sigil --set '[\"k\"] \"v\"' FILE, sigil -r -i FILE, \
        sigil FILE (edit)."
)]
pub struct Cli {
    /// Path to .sops.yaml (default: $SOPS_CONFIG, else .sops.yaml searched upwards from the
    /// current directory, not from the file's directory).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command that reads a sops file.
#[derive(Args, Clone, Default)]
pub struct ReadOpts {
    /// Input store: yaml, json, dotenv, ini or binary (default: by file extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output store (default: by file name; note sops does not follow --input-type here).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Use this name for store and .sops.yaml rule selection (required with stdin).
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<PathBuf>,
    /// OpenPGP key files or directories of *.asc (public for encryption, secret for decryption);
    /// without any, sigil asks gpg as sops does.
    #[arg(
        long = "pgp-key-file",
        env = "SIGIL_PGP_KEY_FILES",
        value_delimiter = ':',
        value_name = "PATH"
    )]
    pub pgp_key_files: Vec<PathBuf>,
    /// Order in which key types are tried.
    #[arg(
        long,
        env = "SOPS_DECRYPTION_ORDER",
        value_delimiter = ',',
        default_value = "age,pgp"
    )]
    pub decryption_order: Vec<String>,
    /// Output indentation (overrides .sops.yaml stores settings).
    #[arg(long)]
    pub indent: Option<i32>,
    /// Refuse OpenPGP recipients weaker than 2048 bits (RSA, DSA, ElGamal) when wrapping the
    /// data key (encrypt, edit, rotate, updatekeys); without it they are used with a warning,
    /// as gpg and sops use them.
    #[arg(
        long,
        env = "SIGIL_STRICT_KEYS",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub strict_keys: bool,
}

/// Options choosing keys and what is encrypted.
#[derive(Args, Clone, Default)]
pub struct EncryptOpts {
    /// age recipients, comma separated.
    #[arg(
        short = 'a',
        long,
        env = "SOPS_AGE_RECIPIENTS",
        value_name = "RECIPIENTS"
    )]
    pub age: Option<String>,
    /// OpenPGP fingerprints, comma separated.
    #[arg(short = 'p', long, env = "SOPS_PGP_FP", value_name = "FINGERPRINTS")]
    pub pgp: Option<String>,
    /// AWS KMS key ARNs, comma separated, each optionally `+ROLE_ARN`.
    #[arg(short = 'k', long, env = "SOPS_KMS_ARN", value_name = "ARNS")]
    pub kms: Option<String>,
    /// KMS encryption context, `key:value,key:value`.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// HashiCorp Vault transit key URIs, comma separated
    /// (`https://vault:8200/v1/<engine>/keys/<name>`).
    #[arg(long, env = "SOPS_VAULT_URIS", value_name = "URIS")]
    pub hc_vault_transit: Option<String>,
    /// The AWS profile (shared config) for the KMS keys given here.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// Keys ending with this suffix stay in plaintext.
    #[arg(long)]
    pub unencrypted_suffix: Option<String>,
    /// Only keys ending with this suffix are encrypted.
    #[arg(long)]
    pub encrypted_suffix: Option<String>,
    /// Keys matching this regex stay in plaintext.
    #[arg(long)]
    pub unencrypted_regex: Option<String>,
    /// Only keys matching this regex are encrypted.
    #[arg(long)]
    pub encrypted_regex: Option<String>,
    /// Values after a comment matching this regex stay in plaintext.
    #[arg(long)]
    pub unencrypted_comment_regex: Option<String>,
    /// Only values after a comment matching this regex are encrypted.
    #[arg(long)]
    pub encrypted_comment_regex: Option<String>,
    /// Compute the MAC over encrypted values only.
    #[arg(long)]
    pub mac_only_encrypted: bool,
    /// Shares needed to recover the data key with several key groups.
    #[arg(long = "shamir-secret-sharing-threshold", value_name = "N")]
    pub shamir_threshold: Option<usize>,
}

/// Where output goes.
#[derive(Args, Clone, Default)]
pub struct OutputOpts {
    /// Write the result back to the input file (atomically, permissions kept).
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the result to this file (created atomically; 0600 for plaintext).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Commands.
#[derive(Subcommand)]
pub enum Command {
    /// Encrypt a plaintext file (stdin when FILE is omitted).
    Encrypt {
        /// The file.
        file: Option<PathBuf>,
        #[command(flatten)]
        read: ReadOpts,
        #[command(flatten)]
        keys: EncryptOpts,
        #[command(flatten)]
        out: OutputOpts,
    },
    /// Decrypt a file after verifying every value and the MAC.
    Decrypt {
        /// The file (stdin when omitted).
        file: Option<PathBuf>,
        #[command(flatten)]
        read: ReadOpts,
        #[command(flatten)]
        out: OutputOpts,
        /// Print only this part, e.g. '["data"]["password"]'.
        #[arg(long, value_name = "PATH")]
        extract: Option<String>,
        /// DANGEROUS: skip the MAC check (the output may have been tampered with).
        #[arg(long)]
        ignore_mac: bool,
    },
    /// Edit a file in $SOPS_EDITOR/$EDITOR and re-encrypt it if it changed.
    Edit {
        /// The file (a missing file starts from an example document).
        file: PathBuf,
        #[command(flatten)]
        read: ReadOpts,
        #[command(flatten)]
        keys: EncryptOpts,
        /// DANGEROUS: open even if the MAC does not verify.
        #[arg(long)]
        ignore_mac: bool,
    },
    /// Re-encrypt with a new data key for the same (optionally changed) recipients.
    Rotate {
        /// The file.
        file: PathBuf,
        #[command(flatten)]
        read: ReadOpts,
        #[command(flatten)]
        out: OutputOpts,
        /// Add age recipients (comma separated) to the first key group.
        #[arg(long)]
        add_age: Option<String>,
        /// Remove age recipients.
        #[arg(long)]
        rm_age: Option<String>,
        /// Add OpenPGP fingerprints to the first key group.
        #[arg(long)]
        add_pgp: Option<String>,
        /// Remove OpenPGP fingerprints.
        #[arg(long)]
        rm_pgp: Option<String>,
        /// Add AWS KMS keys (`ARN[+ROLE_ARN]`, comma separated) to the first key group.
        #[arg(long)]
        add_kms: Option<String>,
        /// Remove AWS KMS keys (matched with --encryption-context and --aws-profile).
        #[arg(long)]
        rm_kms: Option<String>,
        /// Add Vault transit keys (URIs, comma separated) to the first key group.
        #[arg(long)]
        add_hc_vault_transit: Option<String>,
        /// Remove Vault transit keys.
        #[arg(long)]
        rm_hc_vault_transit: Option<String>,
        /// KMS encryption context of the keys added or removed, `key:value,…`.
        #[arg(long, value_name = "CONTEXT")]
        encryption_context: Option<String>,
        /// The AWS profile of the keys added or removed.
        #[arg(long, value_name = "PROFILE")]
        aws_profile: Option<String>,
        /// DANGEROUS: rotate a file whose MAC does not verify.
        #[arg(long)]
        ignore_mac: bool,
    },
    /// Re-wrap the data key for the recipients of the matching .sops.yaml rule.
    Updatekeys {
        /// The file.
        file: PathBuf,
        #[command(flatten)]
        read: ReadOpts,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Set a value: sigil set FILE '["key"]["sub"]' '"json value"' (the file is written even
    /// when the value is unchanged, unless --idempotent).
    Set {
        /// The file.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// The path, e.g. '["data"][0]'.
        #[arg(value_name = "PATH")]
        path: Option<String>,
        /// The JSON value; with --value-file, a file holding it; omitted with --value-stdin.
        #[arg(value_name = "VALUE", allow_hyphen_values = true)]
        value: Option<String>,
        /// VALUE names a file to read the JSON value from (keeps secrets out of process
        /// listings), as sops's --value-file.
        #[arg(long)]
        value_file: bool,
        /// Read the JSON value from stdin (give only FILE and PATH), as sops's --value-stdin.
        #[arg(long)]
        value_stdin: bool,
        /// Do not write the file (exit 0) when the value is already set.
        #[arg(long)]
        idempotent: bool,
        #[command(flatten)]
        read: ReadOpts,
        /// DANGEROUS: accept a file whose MAC does not verify.
        #[arg(long)]
        ignore_mac: bool,
    },
    /// Remove a key or list item (the file is written unless --idempotent finds nothing to
    /// remove).
    Unset {
        /// The file.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// The path.
        #[arg(value_name = "PATH")]
        path: Option<String>,
        /// A missing key is not an error (and the file is not written).
        #[arg(long)]
        idempotent: bool,
        #[command(flatten)]
        read: ReadOpts,
        /// DANGEROUS: accept a file whose MAC does not verify.
        #[arg(long)]
        ignore_mac: bool,
    },
    /// Run a command with the file's top-level keys as environment variables.
    ExecEnv {
        /// The file.
        file: PathBuf,
        /// The command, run with /bin/sh -c.
        command: String,
        /// Start from an empty environment.
        #[arg(long)]
        pristine: bool,
        #[command(flatten)]
        read: ReadOpts,
    },
    /// Run a command with the plaintext in a FIFO (or a tmpfs file) whose path replaces {}.
    ExecFile {
        /// The file.
        file: PathBuf,
        /// The command, run with /bin/sh -c; {} is replaced by the plaintext's path.
        command: String,
        /// Write a regular file (0600, on tmpfs when available) instead of a FIFO.
        #[arg(long)]
        no_fifo: bool,
        /// File name to use inside the temporary directory.
        #[arg(long)]
        filename: Option<String>,
        #[command(flatten)]
        read: ReadOpts,
    },
    /// Print {"encrypted":true|false}.
    Filestatus {
        /// The file.
        file: PathBuf,
        #[command(flatten)]
        read: ReadOpts,
    },
    /// Generate an age identity (written with mode 0600), or with --cosign a cosign key pair.
    Keygen {
        /// Write to this file (refuses to overwrite) instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Generate a cosign key pair instead, like `cosign generate-key-pair`: PREFIX.key
        /// (ECDSA P-256, encrypted with the password in COSIGN_PASSWORD, which may be empty,
        /// or else asked twice on the terminal; mode 0600) and PREFIX.pub. Existing files are
        /// not overwritten.
        #[arg(long, conflicts_with = "output")]
        cosign: bool,
        /// File name prefix of the cosign key pair [default: cosign].
        #[arg(long, value_name = "PREFIX", requires = "cosign")]
        output_key_prefix: Option<PathBuf>,
    },
    /// Check that secrets are encrypted: files matched by .sops.yaml rules are valid sops
    /// files and no Kubernetes Secret carries plaintext data.
    Check {
        /// What to check.
        #[command(subcommand)]
        what: CheckCommand,
    },
    /// Verify signatures of commits, tags or container images against a policy, or a sigstore bundle of any file (exit 0 verified, 1 refused,
    /// 2 usage or configuration error, 3 operational error).
    Verify {
        /// What to verify.
        #[command(subcommand)]
        what: VerifyCommand,
    },
    /// Sign with a cosign key: container images (a legacy simple-signing signature on the
    /// `sha256-<hex>.sig` tag and, with --bundle, a cosign v3 sigstore bundle referrer) or
    /// files (a sigstore bundle).
    Sign {
        /// What to sign.
        #[command(subcommand)]
        what: SignCommand,
    },
    /// The Sigstore trust root used when `verify blob` is given none.
    TrustRoot {
        /// What to do.
        #[command(subcommand)]
        what: TrustRootCommand,
    },
    /// Run the gate: fetch each source into quarantine, verify commits, secrets and images,
    /// publish only verified revisions, serve /livez /readyz /metrics /status and webhooks
    /// (exit 0 on SIGTERM; with --once: 0 published or unchanged, 1 refused, 3 error; 2 bad config).
    Gate {
        /// The gate configuration (`kind: Gate`).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Sync every source once and exit.
        #[arg(long)]
        once: bool,
    },
    /// Argo CD plugin generate command: verify ARGOCD_APP_REVISION with the repository's .git and
    /// print the manifests of that verified commit (exit 1 with a reason to refuse).
    Render {
        /// The policy file (outside the repository).
        #[arg(long, env = "SIGIL_POLICY", value_name = "FILE")]
        policy: PathBuf,
        /// The revision to render [default: $ARGOCD_APP_REVISION].
        #[arg(long, value_name = "REV")]
        revision: Option<String>,
        /// The ref the revision is verified for [default: from $ARGOCD_APP_SOURCE_TARGET_REVISION].
        #[arg(long = "ref", value_name = "REF")]
        refname: Option<String>,
        /// The application directory [default: the current directory].
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// age identities to verify SOPS MACs (and, with --decrypt, to decrypt).
        #[arg(long, env = "SIGIL_AGE_KEY_FILE", value_name = "FILE")]
        age_key_file: Option<PathBuf>,
        /// Unwrap AWS KMS keys with the AWS credentials of the environment (e.g. IRSA).
        #[arg(long)]
        aws_kms: bool,
        /// Unwrap Vault transit keys with the environment's Vault token (VAULT_TOKEN).
        #[arg(long)]
        vault_transit: bool,
        /// Print Secrets decrypted (Argo CD caches rendered manifests: see deploy/README.md).
        #[arg(long)]
        decrypt: bool,
        /// Skip image signature verification.
        #[arg(long)]
        no_images: bool,
        /// Enter subdirectories (directory mode; Argo CD's `directory.recurse`).
        #[arg(long)]
        recurse: bool,
        #[command(flatten)]
        render: RenderOpts,
    },
    /// Print shell completions.
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// How a path is rendered before it is checked (shared by `render`, `verify images`, `check
/// secrets`).
#[derive(Args, Clone, Default)]
pub struct RenderOpts {
    /// How the consumer builds the path: `auto` (kustomize where the path has a
    /// kustomization, else the directory's files), `kustomize` or `directory` [default: auto;
    /// check secrets: directory].
    #[arg(long = "render", value_name = "MODE", value_parser = ["auto", "kustomize", "directory"])]
    pub mode: Option<String>,
    /// Directory mode: only files matching this Argo CD glob (relative to the path).
    #[arg(long, value_name = "GLOB")]
    pub include: Option<String>,
    /// Directory mode: never files matching this Argo CD glob.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Option<String>,
    /// The kustomize (or kubectl) program [default: kustomize, else kubectl, on PATH].
    #[arg(long = "kustomize", value_name = "PROGRAM")]
    pub kustomize: Option<PathBuf>,
    /// kustomize's default load restrictor (files only below each kustomization, as Argo
    /// CD builds) instead of kustomize-controller's (anywhere in the repository).
    #[arg(long)]
    pub load_restrictor_root_only: bool,
    /// A Flux postBuild variable (repeatable): substituted into every object before checks.
    #[arg(long = "substitute", value_name = "VAR=VALUE")]
    pub substitute: Vec<String>,
}

impl RenderOpts {
    /// The render choice (`default` mode unless `--render`; `recurse` for directory mode).
    pub fn choice(&self, default: &str, recurse: bool) -> crate::manifest::render::Choice {
        crate::manifest::render::Choice {
            mode: self.mode.clone().unwrap_or_else(|| default.to_string()),
            recurse,
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            binary: self.kustomize.clone(),
            load_restrictions_none: !self.load_restrictor_root_only,
        }
    }

    /// The `--substitute` variables.
    pub fn variables(&self) -> Result<std::collections::BTreeMap<String, String>, String> {
        let mut out = std::collections::BTreeMap::new();
        for s in &self.substitute {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| format!("--substitute '{s}' is not VAR=VALUE"))?;
            out.insert(k.to_string(), v.to_string());
        }
        crate::manifest::substitute::check_vars(&out)?;
        Ok(out)
    }
}

/// `sigil sign …`.
#[derive(Subcommand)]
pub enum SignCommand {
    /// Sign a file: write a sigstore v0.3 bundle (a message signature over its SHA-256, no
    /// transparency-log entry), as `cosign sign-blob --key K --bundle B --tlog-upload=false`.
    Blob {
        /// The file to sign.
        file: PathBuf,
        /// A cosign private key, ECDSA (password from COSIGN_PASSWORD or the terminal).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the bundle.
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
    },
    /// Sign one image (a tag is resolved to its digest once; the digest is what is signed).
    Image(SignImageArgs),
}

/// `sigil check …`.
#[derive(Subcommand)]
pub enum CheckCommand {
    /// Check files and what they render to (default: the current directory).
    Secrets {
        /// Files or directories.
        paths: Vec<PathBuf>,
        /// age identities: also verify the MAC of every SOPS file a Secret comes from.
        #[arg(long, env = "SIGIL_AGE_KEY_FILE", value_name = "FILE")]
        age_key_file: Option<PathBuf>,
        #[command(flatten)]
        render: RenderOpts,
    },
}

/// Options shared by `sigil verify …`.
#[derive(Args, Clone)]
pub struct VerifyOpts {
    /// The policy file (read from outside the repository being verified).
    #[arg(long, env = "SIGIL_POLICY", value_name = "FILE")]
    pub policy: PathBuf,
    /// The repository (default: the current directory).
    #[arg(long, default_value = ".", value_name = "PATH")]
    pub repo: PathBuf,
    /// `human` or `json`.
    #[arg(long, default_value = "human", value_parser = ["human", "json"])]
    pub format: String,
    /// When the objects were first seen (RFC 3339), e.g. from the gate's ledger: keys must also be
    /// valid then, which defeats backdated commits.
    #[arg(long, value_name = "TIME")]
    pub first_seen: Option<String>,
    /// A commit (or tag) whose history was already accepted (repeatable): commits it reaches
    /// are judged by their signature time only, not again by --first-seen, so a key that
    /// expired after signing them does not refuse them.
    #[arg(long = "trust-anchor", value_name = "REV")]
    pub trust_anchors: Vec<String>,
    /// A verdict cache file: verified commits are remembered per (commit, ref, policy and
    /// trust digest, first-seen time, sigil version) and not verified again.
    #[arg(long, env = "SIGIL_CACHE", value_name = "FILE")]
    pub cache: Option<PathBuf>,
    /// The key authenticating the verdict cache (created 0600 on first use; default
    /// `$XDG_STATE_HOME/sigil/cache.key`, else `~/.local/state/sigil/cache.key`). Keep it out
    /// of any directory CI restores with the cache.
    #[arg(long, env = "SIGIL_CACHE_KEY", value_name = "FILE")]
    pub cache_key: Option<PathBuf>,
}

/// `sigil verify …`.
#[derive(Subcommand)]
pub enum VerifyCommand {
    /// Verify one commit or every commit of a range `A..B`.
    Commits {
        /// A revision or a range `A..B`.
        rev: Option<String>,
        /// The ref the commits are verified for (default: the revision's full ref name).
        #[arg(long = "ref", value_name = "REF")]
        refname: Option<String>,
        /// Verify what is new since the commit recorded in this file, then record the new head.
        /// With a range `A..B`, every commit of the range is verified and B must also descend
        /// from the recorded commit; B is recorded when both hold.
        #[arg(long, value_name = "STATEFILE")]
        since_last_verified: Option<PathBuf>,
        #[command(flatten)]
        opts: VerifyOpts,
    },
    /// Verify an annotated tag (name, type, signature) and, per policy, the commit it points at.
    Tag {
        /// The tag name (without refs/tags/).
        tag: String,
        #[command(flatten)]
        opts: VerifyOpts,
    },
    /// Verify a sigstore bundle for any artifact (a file, or `sha256:<hex>`), offline, as
    /// `cosign verify-blob` does: keyless (identity and issuer) or with a key.
    Blob(BlobArgs),
    /// Verify cosign signatures (legacy .sig and sigstore bundles) of every container image in
    /// Kubernetes manifests, or of image references given directly.
    Images {
        /// Manifest files or directories (YAML/JSON, kustomization.yaml images: applied), or
        /// image references.
        #[arg(required = true, value_name = "PATH|IMAGE")]
        targets: Vec<String>,
        /// The policy file (its `images` section).
        #[arg(long, env = "SIGIL_POLICY", value_name = "FILE")]
        policy: PathBuf,
        /// `human` or `json`.
        #[arg(long, default_value = "human", value_parser = ["human", "json"])]
        format: String,
        /// Verdict cache directory: images verified under the same policy digest are not fetched again.
        #[arg(long, env = "SIGIL_IMAGE_CACHE", value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// The key authenticating the verdict cache (as for `verify commits --cache-key`).
        #[arg(long, env = "SIGIL_CACHE_KEY", value_name = "FILE")]
        cache_key: Option<PathBuf>,
        /// Images checked in parallel.
        #[arg(long, default_value_t = 4, value_name = "N")]
        jobs: usize,
        /// Per-request registry timeout in seconds.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        timeout: u64,
        /// Largest image or signature manifest accepted, in bytes.
        #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
        max_manifest_bytes: u64,
        #[command(flatten)]
        render: RenderOpts,
    },
}

/// `sigil verify blob`.
#[derive(Args)]
pub struct BlobArgs {
    /// The artifact: a file, or `sha256:<64 hex>` when that is not a file on disk.
    #[arg(value_name = "FILE|sha256:HEX")]
    pub artifact: String,
    /// The sigstore bundle (v0.1 to v0.3).
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// The exact identity (a SAN: email, URI) the signing certificate must name.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "certificate_identity_regexp"
    )]
    pub certificate_identity: Option<String>,
    /// A regular expression (anchored) the identity must match.
    #[arg(long, value_name = "RE")]
    pub certificate_identity_regexp: Option<String>,
    /// The exact OIDC issuer of the signing certificate.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "certificate_oidc_issuer_regexp"
    )]
    pub certificate_oidc_issuer: Option<String>,
    /// A regular expression (anchored) the OIDC issuer must match.
    #[arg(long, value_name = "RE")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// Verify with this public key (PEM) instead of a certificate identity.
    #[arg(long, value_name = "KEY.pem", conflicts_with_all = ["certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer", "certificate_oidc_issuer_regexp"])]
    pub key: Option<PathBuf>,
    /// A sigstore `trusted_root.json` (default: the one `sigil trust-root update` wrote, else
    /// the public-good root pinned in sigil; `sigil trust-root show` tells which).
    #[arg(long, env = "SIGIL_TRUSTED_ROOT", value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Do not require a transparency-log entry (private keys or PKI without Rekor).
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
    /// Do not require an SCT in the signing certificate (private PKI without a CT log).
    #[arg(long)]
    pub insecure_ignore_sct: bool,
    /// `human` or `json`.
    #[arg(long, default_value = "human", value_parser = ["human", "json"])]
    pub format: String,
}

/// `sigil sign image`.
#[derive(Args)]
pub struct SignImageArgs {
    /// The image reference.
    pub image: String,
    /// A cosign private key (password from COSIGN_PASSWORD or the terminal).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Also push a cosign v3 sigstore bundle as an OCI 1.1 referrer (with the referrers
    /// tag-schema fallback index on registries without the referrers API).
    #[arg(long)]
    pub bundle: bool,
    /// Push only the bundle, no legacy .sig signature.
    #[arg(long, requires = "bundle")]
    pub bundle_only: bool,
    /// Signed annotation `key=value` (repeatable), as cosign's -a.
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// Reach the image's registry over plain HTTP.
    #[arg(long)]
    pub allow_http_registry: bool,
    /// Push signatures to this repository (`registry/repo`) instead of the image's, as
    /// cosign's COSIGN_REPOSITORY (match it with `signatureRepository` in the policy).
    #[arg(long, value_name = "REPO")]
    pub signature_repository: Option<String>,
    /// Per-request registry timeout in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub timeout: u64,
}

/// `sigil trust-root …`.
#[derive(Subcommand)]
pub enum TrustRootCommand {
    /// Fetch the current `trusted_root.json` through TUF (the root chain verified from the
    /// Sigstore TUF root pinned in sigil), and write it where `verify blob` looks by default.
    Update {
        /// The TUF repository.
        #[arg(long, default_value = crate::image::tuf::SIGSTORE_TUF_URL, value_name = "URL")]
        tuf_url: String,
        /// The trusted TUF `root.json` to start the chain from (default: Sigstore's, pinned).
        #[arg(long, value_name = "FILE")]
        tuf_root: Option<PathBuf>,
        /// Where to write the trust root (default: $XDG_DATA_HOME/sigil/trusted_root.json).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Where verified TUF metadata is kept between updates, against rollback (default:
        /// $XDG_CACHE_HOME/sigil/tuf/<host>).
        #[arg(long, value_name = "DIR")]
        datastore: Option<PathBuf>,
        /// Per-request timeout in seconds.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        timeout: u64,
    },
    /// Print which trust root `verify blob` uses without --trusted-root.
    Show,
}
