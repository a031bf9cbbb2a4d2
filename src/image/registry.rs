//! A small OCI distribution client: manifests, blobs and referrers, pushes for `sign image`.
//! Every manifest and blob is bounded in size and re-hashed locally; plain HTTP only for
//! registries the policy lists as insecure; anonymous, bearer-token (incl. identity-token
//! refresh) and basic auth with credentials from the docker config (`docker_config`);
//! timeouts and retries with backoff.
//!
//! Credentials stay on their origin (scheme, host and port; see [`super::origin`]): the
//! registry's Basic credentials and the tokens it grants go only to the registry's own origin,
//! and Basic credentials or an identity token also to the token realm when exchanging them
//! (docker's behaviour; the realm may be another host, over https, or over plain HTTP on a
//! host the policy lists as insecure). Nothing is ever sent from an https registry to an http
//! URL. Redirects are followed here, not by ureq, so each hop is checked the same way.

mod auth;
mod client;

/// The `WWW-Authenticate` parameter parser, public for its fuzz target only.
#[doc(hidden)]
pub use auth::parse_challenge;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::docker_config::{Credential, DockerConfig};
use super::origin::{self, Origin};

/// Media types a manifest GET accepts.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Redirects followed for one GET or HEAD.
const MAX_REDIRECTS: u32 = 5;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Connection refused, DNS, TLS, timeouts or 5xx after every retry: retryable.
    #[error("registry {registry} unreachable: {why}")]
    Unreachable {
        /// Registry host.
        registry: String,
        /// What happened.
        why: String,
    },
    /// 401/403 after authenticating.
    #[error("registry {registry} denied access: {why}")]
    Denied {
        /// Registry host.
        registry: String,
        /// What happened.
        why: String,
    },
    /// A manifest or blob larger than the configured bound.
    #[error("{what} is larger than the {limit}-byte limit")]
    TooLarge {
        /// What was fetched.
        what: String,
        /// The bound.
        limit: u64,
    },
    /// The bytes served do not hash to the digest asked for.
    #[error("{what}: the registry served bytes with digest {actual}, not {expected}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// Asked for.
        expected: String,
        /// Computed locally.
        actual: String,
    },
    /// Any other unexpected answer.
    #[error("registry {registry}: {why}")]
    Protocol {
        /// Registry host.
        registry: String,
        /// What happened.
        why: String,
    },
}

/// Limits and transport options.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Registry host patterns (`127.0.0.1:*`, `localhost:5000`) reached over plain HTTP; a
    /// plain-HTTP token realm is asked only on such a host (or on the insecure registry's own).
    pub insecure: Vec<String>,
    /// Largest manifest accepted.
    pub max_manifest: u64,
    /// Largest signature/bundle blob accepted.
    pub max_blob: u64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts for retryable failures (≥ 1).
    pub attempts: u32,
    /// Directory holding `config.json` (default `$DOCKER_CONFIG` or `~/.docker`).
    pub docker_config_dir: Option<std::path::PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure: Vec::new(),
            max_manifest: 4 << 20,
            max_blob: 16 << 20,
            timeout: Duration::from_secs(30),
            attempts: 3,
            docker_config_dir: None,
        }
    }
}

/// A fetched manifest: its bytes, the media type the registry declared, and the digest
/// computed here.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `Content-Type` as served.
    pub media_type: String,
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// `sha256:<hex>` of `bytes`, computed locally.
    pub digest: String,
}

/// The client. Cheap to share between threads.
pub struct Client {
    agent: ureq::Agent,
    opts: ClientOptions,
    insecure: Vec<glob::Pattern>,
    docker_config: DockerConfig,
    /// Credentials per registry, found once (a helper runs at most once per registry).
    credentials: Mutex<HashMap<String, Option<Credential>>>,
    credential_lookup: Mutex<()>,
    tokens: Mutex<HashMap<String, String>>,
    /// Registries that answered the referrers API with 404/400/405: only the tag schema is read.
    no_referrers_api: Mutex<std::collections::HashSet<String>>,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Client {
    /// A client with these options.
    pub fn new(opts: ClientOptions) -> Result<Client, String> {
        // No redirects in ureq: `send` follows them itself, checking each hop's origin.
        let agent = crate::http::agent(ureq::tls::RootCerts::PlatformVerifier, opts.timeout, 0);
        let insecure = opts
            .insecure
            .iter()
            .map(|p| {
                glob::Pattern::new(p).map_err(|e| format!("insecure registry pattern {p:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let docker_config = DockerConfig::load(opts.docker_config_dir.as_deref())?;
        Ok(Client {
            agent,
            opts,
            insecure,
            docker_config,
            credentials: Mutex::new(HashMap::new()),
            credential_lookup: Mutex::new(()),
            tokens: Mutex::new(HashMap::new()),
            no_referrers_api: Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// Whether `registry` is reached over plain HTTP (host names match case-insensitively).
    pub fn is_insecure(&self, registry: &str) -> bool {
        let opts = glob::MatchOptions {
            case_sensitive: false,
            ..Default::default()
        };
        self.insecure.iter().any(|p| p.matches_with(registry, opts))
    }

    fn base(&self, registry: &str) -> String {
        let host = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        let scheme = if self.is_insecure(registry) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}")
    }

    /// The registry's origin: where its credentials and tokens may be sent.
    fn home(&self, registry: &str) -> Result<Origin, RegistryError> {
        origin::parse(&self.base(registry))
            .and_then(|u| Origin::of(&u))
            .map_err(|why| RegistryError::Protocol {
                registry: registry.to_string(),
                why: format!("registry name: {why}"),
            })
    }
}
