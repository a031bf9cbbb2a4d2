//! The gate's configuration (`sigil.dev/v1alpha1` `Gate`): every problem is collected and
//! reported at once at start-up (exit 2). Unknown fields are errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::policy::{Policy, parse_duration};

/// The file as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GateFile {
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: Option<yaml_serde::Value>,
    spec: SpecFile,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecFile {
    #[serde(default)]
    http: Option<HttpFile>,
    state_dir: String,
    sources: Vec<SourceFile>,
    #[serde(default)]
    notify: Vec<NotifyFile>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HttpFile {
    bind: String,
    #[serde(default)]
    probe_bind: Option<String>,
    #[serde(default)]
    webhook_secret_file: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SourceFile {
    name: String,
    url: String,
    #[serde(rename = "ref")]
    refname: String,
    #[serde(default)]
    interval: Option<String>,
    policy: String,
    #[serde(default)]
    credentials: Option<CredentialsFile>,
    #[serde(default)]
    allow_rollback: bool,
    #[serde(default)]
    trust_anchors: Vec<String>,
    #[serde(default)]
    checks: Option<ChecksFile>,
    #[serde(default)]
    secrets: Option<SecretsFile>,
    #[serde(default)]
    render: Option<RenderFile>,
    publish: PublishFile,
}

/// `render`: how the consumer builds the source (exactly one of kustomize, directory).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RenderFile {
    #[serde(default)]
    kustomize: Option<KustomizeFile>,
    #[serde(default)]
    directory: Option<DirectoryFile>,
    #[serde(default)]
    post_build: Option<PostBuildFile>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KustomizeFile {
    paths: Vec<String>,
    #[serde(default)]
    binary: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    max_output_bytes: Option<usize>,
    #[serde(default)]
    load_restrictor: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DirectoryFile {
    paths: Vec<String>,
    #[serde(default)]
    recurse: bool,
    #[serde(default)]
    include: Option<String>,
    #[serde(default)]
    exclude: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PostBuildFile {
    #[serde(default)]
    substitute: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CredentialsFile {
    #[serde(default)]
    ssh_key_file: Option<String>,
    #[serde(default)]
    known_hosts_file: Option<String>,
    #[serde(default)]
    token_file: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChecksFile {
    #[serde(default = "yes")]
    secrets: bool,
    #[serde(default = "yes")]
    images: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SecretsFile {
    #[serde(default)]
    age_key_file: Option<String>,
    /// Unwrap AWS KMS keys with the gate's AWS credentials (IRSA).
    #[serde(default)]
    aws_kms: bool,
    /// Unwrap Vault transit keys with the gate's Vault token (`VAULT_TOKEN`).
    #[serde(default)]
    vault_transit: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PublishFile {
    #[serde(default)]
    rendered: Option<bool>,
    #[serde(default)]
    volume: Option<VolumeFile>,
    #[serde(default)]
    artifact: Option<ArtifactFile>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VolumeFile {
    root: String,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    keep_versions: Option<usize>,
    #[serde(default)]
    grace: Option<String>,
    #[serde(default)]
    decrypt_secrets: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ArtifactFile {
    base_url: String,
    #[serde(default)]
    status_file: Option<String>,
    #[serde(default)]
    external_artifact: Option<ExternalArtifactFile>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExternalArtifactFile {
    namespace: String,
    name: String,
    #[serde(default)]
    api_server: Option<String>,
    #[serde(default)]
    token_file: Option<String>,
    #[serde(default)]
    ca_file: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NotifyFile {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    url_file: Option<String>,
    #[serde(default)]
    secret_file: Option<String>,
}

/// A bearer token from a file (read at each use: projected tokens rotate), trimmed; refused if
/// empty or holding spaces or control characters (it goes into an HTTP header).
pub fn read_bearer_token(path: &Path) -> Result<zeroize::Zeroizing<String>, String> {
    let raw = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    let token = zeroize::Zeroizing::new(raw.trim().to_string());
    if token.is_empty() || token.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(format!("{}: not a bearer token", path.display()));
    }
    Ok(token)
}

/// Git credentials of a source (files, read at each fetch).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// SSH private key.
    pub ssh_key_file: Option<PathBuf>,
    /// known_hosts for SSH (strict host key checking).
    pub known_hosts_file: Option<PathBuf>,
    /// HTTPS bearer token.
    pub token_file: Option<PathBuf>,
}

/// The git-sync-compatible volume publisher.
#[derive(Debug, Clone)]
pub struct VolumeConfig {
    /// The shared root.
    pub root: PathBuf,
    /// Link name under the root.
    pub link: String,
    /// Versions kept besides the current one.
    pub keep_versions: usize,
    /// How long a superseded version stays for readers.
    pub grace: Duration,
    /// Decrypt SOPS files into the published tree (root must be a tmpfs).
    pub decrypt_secrets: bool,
}

/// The HTTP artifact publisher (Flux ExternalArtifact).
#[derive(Debug, Clone)]
pub struct ArtifactConfig {
    /// Base URL consumers use to reach the gate.
    pub base_url: String,
    /// Where the ExternalArtifact status document is written.
    pub status_file: Option<PathBuf>,
    /// The ExternalArtifact whose status the gate patches through the Kubernetes API.
    pub external_artifact: Option<crate::gate::kube::ExternalArtifactTarget>,
}

/// One source.
#[derive(Clone)]
pub struct SourceConfig {
    /// Name (`[a-z0-9-]`).
    pub name: String,
    /// Git URL or local path.
    pub url: String,
    /// `refs/heads/<b>`, `refs/tags/<name or glob>`.
    pub refname: String,
    /// Poll interval.
    pub interval: Duration,
    /// The policy file.
    pub policy_path: PathBuf,
    /// The loaded policy.
    pub policy: std::sync::Arc<Policy>,
    /// Credentials.
    pub credentials: Credentials,
    /// Publish a commit that does not descend from the published one.
    pub allow_rollback: bool,
    /// Commits whose history was already accepted: judged by signature time only, not by the
    /// time the gate first saw them.
    pub trust_anchors: Vec<String>,
    /// Verify SOPS files and refuse plaintext Secrets.
    pub check_secrets: bool,
    /// Verify images.
    pub check_images: bool,
    /// age identities for MAC verification / decryption.
    pub age_key_file: Option<PathBuf>,
    /// AWS KMS keys unwrapped with the gate's AWS credentials.
    pub aws_kms: bool,
    /// Vault transit keys unwrapped with the gate's Vault token.
    pub vault_transit: bool,
    /// Volume publisher.
    pub volume: Option<VolumeConfig>,
    /// Artifact publisher.
    pub artifact: Option<ArtifactConfig>,
    /// How the consumer builds the source (kept across syncs: it caches kustomize builds).
    pub renderer: std::sync::Arc<crate::manifest::render::Renderer>,
    /// Flux postBuild variables, when the consumer substitutes.
    pub substitute: Option<std::sync::Arc<std::collections::BTreeMap<String, String>>>,
    /// The volume receives the verified render (not the repository tree).
    pub volume_rendered: bool,
    /// The artifact holds the verified render (not the repository tree).
    pub artifact_rendered: bool,
}

/// A notification target.
pub enum NotifyConfig {
    /// Slack-compatible incoming webhook.
    Slack {
        /// The URL (secret).
        url: String,
    },
    /// Generic JSON webhook, HMAC-signed when a secret is set.
    Webhook {
        /// The URL.
        url: String,
        /// HMAC secret.
        secret: Option<Zeroizing<Vec<u8>>>,
    },
}

/// The loaded configuration.
pub struct GateConfig {
    /// HTTP bind address (None: no server).
    pub bind: Option<String>,
    /// Address of the listener serving only `/livez` and `/readyz`, so that no other client
    /// can starve the probes (see [`crate::gate::server`]).
    pub probe_bind: Option<String>,
    /// Webhook HMAC secret.
    pub webhook_secret: Option<Zeroizing<Vec<u8>>>,
    /// State directory.
    pub state_dir: PathBuf,
    /// Sources.
    pub sources: Vec<SourceConfig>,
    /// Notification targets.
    pub notify: Vec<NotifyConfig>,
}

/// The ExternalArtifact target of a source: in a cluster the API server, token and CA come
/// from the pod; elsewhere `apiServer` is required.
fn external_artifact(
    e: &ExternalArtifactFile,
    base: &Path,
    what: &str,
    errors: &mut Vec<String>,
) -> Option<crate::gate::kube::ExternalArtifactTarget> {
    use crate::gate::kube::{ExternalArtifactTarget, SERVICE_ACCOUNT_CA, SERVICE_ACCOUNT_TOKEN};
    let dns = |v: &str| {
        !v.is_empty()
            && v.len() <= 253
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    if !dns(&e.namespace) || !dns(&e.name) {
        errors.push(format!(
            "{what}: publish.artifact.externalArtifact namespace and name must be DNS names"
        ));
    }
    let in_cluster = e.api_server.is_none();
    let Some(api_server) = e
        .api_server
        .clone()
        .or_else(ExternalArtifactTarget::in_cluster_api_server)
    else {
        errors.push(format!("{what}: publish.artifact.externalArtifact needs apiServer outside a cluster (KUBERNETES_SERVICE_HOST is not set)"));
        return None;
    };
    if !ExternalArtifactTarget::api_server_allowed(&api_server) {
        errors.push(format!("{what}: publish.artifact.externalArtifact.apiServer must be https (plain http only to a loopback host)"));
    }
    let ca_file = match &e.ca_file {
        Some(f) => Some(resolve(base, f)),
        None if in_cluster => Some(PathBuf::from(SERVICE_ACCOUNT_CA)),
        None => None,
    };
    Some(ExternalArtifactTarget {
        namespace: e.namespace.clone(),
        name: e.name.clone(),
        api_server: api_server.trim_end_matches('/').to_string(),
        token_file: e.token_file.as_ref().map_or_else(
            || PathBuf::from(SERVICE_ACCOUNT_TOKEN),
            |f| resolve(base, f),
        ),
        ca_file,
    })
}

/// The renderer and substitutions of a source's `render` section.
#[allow(clippy::type_complexity)]
fn render_config(
    r: Option<&RenderFile>,
    state_dir: &Path,
    what: &str,
    errors: &mut Vec<String>,
) -> Option<(
    std::sync::Arc<crate::manifest::render::Renderer>,
    Option<std::sync::Arc<std::collections::BTreeMap<String, String>>>,
)> {
    use crate::manifest::render::{DirectorySpec, KustomizeSpec, Mode, Renderer, normalise_path};
    let Some(r) = r else {
        errors.push(format!(
            "{what}: render is required: say how the consumer builds this source, e.g. render: {{kustomize: {{paths: [clusters/prod]}}}} (Flux Kustomization, Argo CD kustomize app) or render: {{directory: {{paths: [apps], recurse: true}}}} (kubectl apply -f, Argo CD directory app)"
        ));
        return None;
    };
    let paths = |ps: &[String], errors: &mut Vec<String>| -> Vec<String> {
        if ps.is_empty() {
            errors.push(format!("{what}: render paths are empty"));
        }
        ps.iter()
            .filter_map(|p| {
                normalise_path(p)
                    .map_err(|e| errors.push(format!("{what}: {e}")))
                    .ok()
            })
            .collect()
    };
    let mode = match (&r.kustomize, &r.directory) {
        (Some(k), None) => {
            let timeout = match k.timeout.as_deref() {
                None => Duration::from_secs(60),
                Some(t) => parse_duration(t).unwrap_or_else(|| {
                    errors.push(format!(
                        "{what}: render.kustomize.timeout '{t}' is not a duration"
                    ));
                    Duration::from_secs(60)
                }),
            };
            let load_restrictions_none = match k.load_restrictor.as_deref() {
                None | Some("none") => true,
                Some("rootOnly") => false,
                Some(other) => {
                    errors.push(format!(
                        "{what}: render.kustomize.loadRestrictor must be none (kustomize-controller) or rootOnly (kustomize's default, Argo CD), not '{other}'"
                    ));
                    true
                }
            };
            Mode::Kustomize(KustomizeSpec {
                paths: paths(&k.paths, errors),
                binary: k.binary.as_ref().map(PathBuf::from),
                timeout,
                max_output: k.max_output_bytes.unwrap_or(64 << 20),
                load_restrictions_none,
            })
        }
        (None, Some(d)) => Mode::Directory(DirectorySpec {
            paths: paths(&d.paths, errors),
            recurse: d.recurse,
            include: d.include.clone(),
            exclude: d.exclude.clone(),
        }),
        _ => {
            errors.push(format!(
                "{what}: render needs exactly one of kustomize or directory"
            ));
            return None;
        }
    };
    let substitute = match &r.post_build {
        Some(pb) if !pb.substitute.is_empty() => {
            if let Err(e) = crate::manifest::substitute::check_vars(&pb.substitute) {
                errors.push(format!("{what}: render.postBuild.substitute: {e}"));
            }
            Some(std::sync::Arc::new(pb.substitute.clone()))
        }
        _ => None,
    };
    let work = state_dir.join("render");
    if let Err(e) = std::fs::create_dir_all(&work).and_then(|_| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o700))
    }) {
        errors.push(format!("{what}: {}: {e}", work.display()));
    }
    match Renderer::new(mode, work) {
        Ok(r) => Some((std::sync::Arc::new(r), substitute)),
        Err(e) => {
            errors.push(format!("{what}: render: {e}"));
            None
        }
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn read_secret(path: &Path, what: &str, errors: &mut Vec<String>) -> Option<Zeroizing<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(mut d) => {
            while d.last().is_some_and(|b| b.is_ascii_whitespace()) {
                d.pop();
            }
            if d.is_empty() {
                errors.push(format!("{what}: {} is empty", path.display()));
            }
            Some(Zeroizing::new(d))
        }
        Err(e) => {
            errors.push(format!("{what}: cannot read {}: {e}", path.display()));
            None
        }
    }
}

/// Whether `path` is on a tmpfs (where decrypted secrets may be written).
pub fn is_tmpfs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct; the path is a valid C string.
    unsafe {
        let mut buf: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut buf) == 0 && buf.f_type as i64 == 0x0102_1994
    }
}

/// Whether two listeners would want the same socket.
fn clash(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

impl GateConfig {
    /// Loads and checks the configuration; returns every problem found.
    pub fn load(path: &Path) -> Result<GateConfig, Vec<String>> {
        let bytes = std::fs::read(path)
            .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
        let file: GateFile =
            yaml_serde::from_slice(&bytes).map_err(|e| vec![format!("{}: {e}", path.display())])?;
        let base = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut errors = Vec::new();
        if file.api_version != "sigil.dev/v1alpha1" {
            errors.push(format!(
                "apiVersion must be sigil.dev/v1alpha1, not '{}'",
                file.api_version
            ));
        }
        if file.kind != "Gate" {
            errors.push(format!("kind must be Gate, not '{}'", file.kind));
        }
        let _ = &file.metadata;
        let spec = file.spec;
        let state_dir = resolve(base, &spec.state_dir);
        if let Err(e) = std::fs::create_dir_all(&state_dir) {
            errors.push(format!("stateDir {}: {e}", state_dir.display()));
        }
        let (bind, probe_bind, webhook_secret) = match &spec.http {
            Some(h) => {
                let main = h.bind.parse::<std::net::SocketAddr>();
                if main.is_err() {
                    errors.push(format!(
                        "http.bind '{}' is not host:port (e.g. 0.0.0.0:8080)",
                        h.bind
                    ));
                }
                if let Some(p) = &h.probe_bind {
                    match p.parse::<std::net::SocketAddr>() {
                        Err(_) => errors.push(format!(
                            "http.probeBind '{p}' is not host:port (e.g. 0.0.0.0:8081)"
                        )),
                        Ok(a) if main.is_ok_and(|m| clash(m, a)) => errors.push(format!(
                            "http.probeBind '{p}' must be another address than http.bind"
                        )),
                        Ok(_) => {}
                    }
                }
                let secret = h.webhook_secret_file.as_ref().and_then(|f| {
                    read_secret(&resolve(base, f), "http.webhookSecretFile", &mut errors)
                });
                (Some(h.bind.clone()), h.probe_bind.clone(), secret)
            }
            None => (None, None, None),
        };
        if spec.sources.is_empty() {
            errors.push("spec.sources is empty".into());
        }
        let mut sources = Vec::new();
        for (i, s) in spec.sources.iter().enumerate() {
            let what = format!("sources[{i}] ({})", s.name);
            if s.name.is_empty()
                || s.name.len() > 63
                || !s
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                errors.push(format!("{what}: name must be 1-63 characters of [a-z0-9-]"));
            }
            if spec.sources[..i].iter().any(|o| o.name == s.name) {
                errors.push(format!("{what}: duplicate source name"));
            }
            if s.url.is_empty() || s.url.starts_with('-') {
                errors.push(format!("{what}: url is empty or starts with '-'"));
            }
            if !(s.refname.starts_with("refs/heads/") || s.refname.starts_with("refs/tags/"))
                || s.refname.contains("..")
                || s.refname.contains(char::is_whitespace)
            {
                errors.push(format!(
                    "{what}: ref must be refs/heads/<branch> or refs/tags/<name or glob>"
                ));
            }
            let interval = match s.interval.as_deref() {
                None => Duration::from_secs(60),
                Some(t) => parse_duration(t)
                    .filter(|d| d.as_secs() >= 1)
                    .unwrap_or_else(|| {
                        errors.push(format!(
                            "{what}: interval '{t}' is not a duration like 30s, 1m"
                        ));
                        Duration::from_secs(60)
                    }),
            };
            let policy_path = resolve(base, &s.policy);
            let policy = match Policy::load(&policy_path) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.extend(
                        e.into_iter()
                            .map(|m| format!("{what}: policy {}: {m}", policy_path.display())),
                    );
                    None
                }
            };
            let c = s.credentials.as_ref();
            let file = |f: &Option<String>, field: &str, errors: &mut Vec<String>| {
                f.as_ref().map(|f| {
                    let p = resolve(base, f);
                    if !p.is_file() {
                        errors.push(format!(
                            "{what}: credentials.{field} {} does not exist",
                            p.display()
                        ));
                    }
                    p
                })
            };
            let credentials = Credentials {
                ssh_key_file: c.and_then(|c| file(&c.ssh_key_file, "sshKeyFile", &mut errors)),
                known_hosts_file: c
                    .and_then(|c| file(&c.known_hosts_file, "knownHostsFile", &mut errors)),
                token_file: c.and_then(|c| file(&c.token_file, "tokenFile", &mut errors)),
            };
            if credentials.ssh_key_file.is_some() && credentials.known_hosts_file.is_none() {
                errors.push(format!("{what}: credentials.sshKeyFile needs knownHostsFile (host keys are always checked)"));
            }
            let age_key_file = s
                .secrets
                .as_ref()
                .and_then(|x| x.age_key_file.as_ref())
                .map(|f| resolve(base, f));
            let aws_kms = s.secrets.as_ref().is_some_and(|x| x.aws_kms);
            let vault_transit = s.secrets.as_ref().is_some_and(|x| x.vault_transit);
            if let Some(k) = &age_key_file
                && let Err(e) = crate::sops::keys::Unlocker::from_age_file(k)
            {
                errors.push(format!("{what}: secrets.ageKeyFile: {e}"));
            }
            let volume = s.publish.volume.as_ref().map(|v| {
                let root = resolve(base, &v.root);
                if let Err(e) = std::fs::create_dir_all(&root) {
                    errors.push(format!("{what}: publish.volume.root {}: {e}", root.display()));
                }
                let link = v.link.clone().unwrap_or_else(|| "current".into());
                if link.is_empty() || link.contains('/') || link.starts_with('.') {
                    errors.push(format!("{what}: publish.volume.link must be a plain name"));
                }
                if v.decrypt_secrets {
                    if age_key_file.is_none() && !aws_kms && !vault_transit {
                        errors.push(format!("{what}: publish.volume.decryptSecrets needs secrets.ageKeyFile, secrets.awsKms or secrets.vaultTransit"));
                    }
                    if !is_tmpfs(&root) {
                        errors.push(format!(
                            "{what}: publish.volume.decryptSecrets writes plaintext: {} must be a tmpfs (emptyDir medium: Memory)",
                            root.display()
                        ));
                    }
                }
                let grace = v.grace.as_deref().map_or(Duration::from_secs(60), |g| {
                    parse_duration(g).unwrap_or_else(|| {
                        errors.push(format!("{what}: publish.volume.grace '{g}' is not a duration"));
                        Duration::from_secs(60)
                    })
                });
                VolumeConfig {
                    root,
                    link,
                    keep_versions: v.keep_versions.unwrap_or(2).max(1),
                    grace,
                    decrypt_secrets: v.decrypt_secrets,
                }
            });
            let artifact = s.publish.artifact.as_ref().map(|a| {
                if !(a.base_url.starts_with("http://") || a.base_url.starts_with("https://")) {
                    errors.push(format!(
                        "{what}: publish.artifact.baseUrl must be an http(s) URL"
                    ));
                }
                if bind.is_none() {
                    errors.push(format!(
                        "{what}: publish.artifact needs spec.http (artifacts are served over HTTP)"
                    ));
                }
                let external_artifact = a
                    .external_artifact
                    .as_ref()
                    .and_then(|e| external_artifact(e, base, &what, &mut errors));
                ArtifactConfig {
                    base_url: a.base_url.trim_end_matches('/').to_string(),
                    status_file: a.status_file.as_ref().map(|f| resolve(base, f)),
                    external_artifact,
                }
            });
            if volume.is_none() && artifact.is_none() {
                errors.push(format!("{what}: publish needs volume and/or artifact"));
            }
            for a in &s.trust_anchors {
                if a.is_empty() || a.starts_with('-') || a.contains(char::is_whitespace) {
                    errors.push(format!("{what}: trustAnchors: '{a}' is not a revision"));
                }
            }
            let render = render_config(s.render.as_ref(), &state_dir, &what, &mut errors);
            let (volume_rendered, artifact_rendered) = match s.publish.rendered {
                Some(r) => (r, r),
                None => (false, true),
            };
            let checks = s.checks.as_ref();
            if let (Some(policy), Some((renderer, substitute))) = (policy, render) {
                sources.push(SourceConfig {
                    name: s.name.clone(),
                    url: s.url.clone(),
                    refname: s.refname.clone(),
                    interval,
                    policy_path,
                    policy: policy.into(),
                    credentials,
                    allow_rollback: s.allow_rollback,
                    trust_anchors: s.trust_anchors.clone(),
                    check_secrets: checks.is_none_or(|c| c.secrets),
                    check_images: checks.is_none_or(|c| c.images),
                    age_key_file,
                    aws_kms,
                    vault_transit,
                    volume,
                    artifact,
                    renderer,
                    substitute,
                    volume_rendered,
                    artifact_rendered,
                });
            }
        }
        let mut notify = Vec::new();
        for (i, n) in spec.notify.iter().enumerate() {
            let what = format!("notify[{i}]");
            let url = match (&n.url, &n.url_file) {
                (Some(u), None) => Some(u.clone()),
                (None, Some(f)) => {
                    read_secret(&resolve(base, f), &format!("{what}.urlFile"), &mut errors)
                        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                }
                _ => {
                    errors.push(format!("{what}: exactly one of url or urlFile"));
                    None
                }
            };
            if let Some(u) = &url
                && !(u.starts_with("https://") || u.starts_with("http://"))
            {
                errors.push(format!("{what}: the URL must be http(s)"));
            }
            let secret = n.secret_file.as_ref().and_then(|f| {
                read_secret(
                    &resolve(base, f),
                    &format!("{what}.secretFile"),
                    &mut errors,
                )
            });
            match (n.kind.as_str(), url) {
                ("slack", Some(url)) => notify.push(NotifyConfig::Slack { url }),
                ("webhook", Some(url)) => notify.push(NotifyConfig::Webhook { url, secret }),
                ("slack" | "webhook", None) => {}
                (other, _) => errors.push(format!(
                    "{what}: type must be slack or webhook, not '{other}'"
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(GateConfig {
            bind,
            probe_bind,
            webhook_secret,
            state_dir,
            sources,
            notify,
        })
    }
}
