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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use ureq::http::Uri;

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

struct Reply {
    status: u16,
    content_type: String,
    location: Option<String>,
    challenge: Option<String>,
    body: Vec<u8>,
}

/// What the referrers endpoint said.
enum ReferrersApi {
    /// An OCI index of referrers.
    Index(Manifest),
    /// No referrers API (404, 400, 405, or not an index).
    Absent,
    /// Anything else (a push still treats it as "no API", discovery as an error).
    Unexpected(RegistryError),
}

enum Body<'a> {
    None,
    Bytes(&'a [u8], &'a str),
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

    /// Whether an insecure-registry pattern matches `origin` (`host:port`, or `host` alone on
    /// the default port).
    fn is_insecure_origin(&self, origin: &Origin) -> bool {
        origin.names().iter().any(|n| self.is_insecure(n))
    }

    /// Whether Basic credentials or an identity token for the registry at `home` may be sent
    /// to the token `realm`: over https to any host (docker's behaviour: Docker Hub's realm is
    /// auth.docker.io); over plain HTTP only from a plain-HTTP registry, and only to a host the
    /// policy lists as insecure or to the insecure registry's own host (a token server next to
    /// a local registry, as `sign image --allow-http-registry` lists only the registry).
    fn realm_allowed(&self, home: &Origin, realm: &Origin) -> Result<(), String> {
        if realm.is_https() {
            Ok(())
        } else if home.is_https() {
            Err(format!(
                "token realm {realm} is not https (the registry is)"
            ))
        } else if self.is_insecure_origin(realm) || realm.host() == home.host() {
            Ok(())
        } else {
            Err(format!(
                "token realm {realm} is not https and its host is not listed as insecure"
            ))
        }
    }

    /// Fetches a manifest by tag or digest; `Ok(None)` when the registry says it does not exist.
    /// A digest reference is checked against the bytes.
    pub fn manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        self.manifest_accepting(registry, repo, reference, MANIFEST_TYPES)
    }

    fn manifest_accepting(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
        accept: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base(registry));
        let what = format!("manifest {registry}/{repo}:{reference}");
        let reply = self.send(
            registry,
            repo,
            "GET",
            &url,
            accept,
            Body::None,
            self.opts.max_manifest,
            &what,
        )?;
        match reply.status {
            200 => {}
            404 => return Ok(None),
            s => return Err(self.unexpected(registry, &what, s, &reply.body)),
        }
        let digest = sha256_digest(&reply.body);
        if reference.contains(':') && reference != digest {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: reference.to_string(),
                actual: digest,
            });
        }
        Ok(Some(Manifest {
            media_type: reply.content_type,
            bytes: reply.body,
            digest,
        }))
    }

    /// Fetches a blob and checks its digest.
    pub fn blob(&self, registry: &str, repo: &str, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base(registry));
        let what = format!("blob {registry}/{repo}@{digest}");
        let reply = self.send(
            registry,
            repo,
            "GET",
            &url,
            "*/*",
            Body::None,
            self.opts.max_blob,
            &what,
        )?;
        if reply.status != 200 {
            return Err(self.unexpected(registry, &what, reply.status, &reply.body));
        }
        let actual = sha256_digest(&reply.body);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(reply.body)
    }

    /// The OCI 1.1 referrers of `digest`: the referrers API, falling back to the referrers
    /// tag schema (`sha256-<hex>` index). `Ok(None)` when there are none.
    pub fn referrers(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let fallback_tag = digest.replacen(':', "-", 1);
        let known_absent = self
            .no_referrers_api
            .lock()
            .is_ok_and(|s| s.contains(registry));
        if !known_absent {
            match self.referrers_api(registry, repo, digest)? {
                ReferrersApi::Index(m) => return Ok(Some(m)),
                ReferrersApi::Absent => {
                    // Remember it, so later images go straight to the tag schema.
                    if let Ok(mut s) = self.no_referrers_api.lock() {
                        s.insert(registry.to_string());
                    }
                }
                ReferrersApi::Unexpected(e) => return Err(e),
            }
        }
        self.manifest_accepting(registry, repo, &fallback_tag, OCI_INDEX)
    }

    /// Whether the registry implements the OCI 1.1 referrers API (else writers keep the
    /// `sha256-<hex>` fallback index themselves).
    pub fn has_referrers_api(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        Ok(matches!(
            self.referrers_api(registry, repo, digest)?,
            ReferrersApi::Index(_)
        ))
    }

    /// One `GET /v2/<repo>/referrers/<digest>`, classified.
    fn referrers_api(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
    ) -> Result<ReferrersApi, RegistryError> {
        let url = format!("{}/v2/{repo}/referrers/{digest}", self.base(registry));
        let what = format!("referrers of {registry}/{repo}@{digest}");
        let reply = self.send(
            registry,
            repo,
            "GET",
            &url,
            OCI_INDEX,
            Body::None,
            self.opts.max_manifest,
            &what,
        )?;
        Ok(
            if reply.status == 200 && reply.content_type.starts_with(OCI_INDEX) {
                let digest = sha256_digest(&reply.body);
                ReferrersApi::Index(Manifest {
                    media_type: reply.content_type,
                    bytes: reply.body,
                    digest,
                })
            } else if matches!(reply.status, 200 | 400 | 404 | 405) {
                ReferrersApi::Absent
            } else {
                ReferrersApi::Unexpected(self.unexpected(
                    registry,
                    &what,
                    reply.status,
                    &reply.body,
                ))
            },
        )
    }

    /// Uploads a blob (monolithic POST + PUT) unless the registry already has it; returns its digest.
    pub fn push_blob(
        &self,
        registry: &str,
        repo: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let digest = sha256_digest(bytes);
        let what = format!("blob upload to {registry}/{repo}");
        let head = format!("{}/v2/{repo}/blobs/{digest}", self.base(registry));
        if self
            .send(registry, repo, "HEAD", &head, "*/*", Body::None, 0, &what)?
            .status
            == 200
        {
            return Ok(digest);
        }
        let url = format!("{}/v2/{repo}/blobs/uploads/", self.base(registry));
        let started = self.send(
            registry,
            repo,
            "POST",
            &url,
            "*/*",
            Body::Bytes(b"", "application/octet-stream"),
            1 << 16,
            &what,
        )?;
        if started.status != 202 {
            return Err(self.unexpected(registry, &what, started.status, &started.body));
        }
        let location = started.location.ok_or_else(|| RegistryError::Protocol {
            registry: registry.to_string(),
            why: "blob upload started without a Location".into(),
        })?;
        // The distribution spec lets the upload URL be on another server ("offloading to
        // another server can be a better strategy"), so it is not refused: `send` gives it the
        // registry's credentials only when it is on the registry's origin, and refuses a
        // userinfo or an https-to-http step.
        let put = origin::parse(&url)
            .and_then(|base| origin::resolve(&base, &location))
            .and_then(|u| origin::with_query(&u, &format!("digest={digest}")))
            .map_err(|why| RegistryError::Protocol {
                registry: registry.to_string(),
                why: format!("blob upload Location: {why}"),
            })?
            .to_string();
        let done = self.send(
            registry,
            repo,
            "PUT",
            &put,
            "*/*",
            Body::Bytes(bytes, "application/octet-stream"),
            1 << 16,
            &what,
        )?;
        if done.status != 201 {
            return Err(self.unexpected(registry, &what, done.status, &done.body));
        }
        Ok(digest)
    }

    /// Pushes a manifest under a tag or its digest; returns its digest.
    pub fn push_manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base(registry));
        let what = format!("manifest push to {registry}/{repo}:{reference}");
        let done = self.send(
            registry,
            repo,
            "PUT",
            &url,
            "*/*",
            Body::Bytes(bytes, media_type),
            1 << 16,
            &what,
        )?;
        if done.status != 201 {
            return Err(self.unexpected(registry, &what, done.status, &done.body));
        }
        Ok(sha256_digest(bytes))
    }

    fn unexpected(&self, registry: &str, what: &str, status: u16, body: &[u8]) -> RegistryError {
        let text: String = String::from_utf8_lossy(body)
            .chars()
            .take(200)
            .filter(|c| !c.is_control())
            .collect();
        let why = format!("{what}: HTTP {status} {text}");
        match status {
            401 | 403 => RegistryError::Denied {
                registry: registry.to_string(),
                why,
            },
            500..=599 | 429 => RegistryError::Unreachable {
                registry: registry.to_string(),
                why,
            },
            _ => RegistryError::Protocol {
                registry: registry.to_string(),
                why,
            },
        }
    }

    /// One request with auth negotiation, redirects and retries (connection failures, 429,
    /// 5xx). The registry's credentials and tokens go only to URLs on its origin; a GET or HEAD
    /// follows up to [`MAX_REDIRECTS`] redirects (ureq follows none), each hop checked like the
    /// first: no userinfo, never from https to http, credentials only on the registry's origin.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        registry: &str,
        repo: &str,
        method: &str,
        url: &str,
        accept: &str,
        body: Body<'_>,
        limit: u64,
        what: &str,
    ) -> Result<Reply, RegistryError> {
        let home = self.home(registry)?;
        let refused = |why: String| RegistryError::Protocol {
            registry: registry.to_string(),
            why: format!("{what}: {why}"),
        };
        let mut target = origin::parse(url).map_err(refused)?;
        let mut authed = false;
        let mut attempt = 0;
        let mut redirects = 0;
        loop {
            let on_home = Origin::of(&target)
                .and_then(|here| hop(&home, &here))
                .map_err(refused)?;
            attempt += 1;
            let auth = if on_home {
                self.cached_auth(registry, repo)
            } else {
                None
            };
            match self.send_once(method, &target, accept, &body, auth.as_deref(), limit, what) {
                Ok(reply) if reply.status == 401 && on_home && !authed => {
                    authed = true;
                    let challenge = reply.challenge.clone().unwrap_or_default();
                    self.authenticate(registry, repo, &challenge)?;
                    attempt -= 1;
                }
                Ok(reply)
                    if matches!(reply.status, 301 | 302 | 303 | 307 | 308)
                        && matches!(method, "GET" | "HEAD") =>
                {
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(refused(format!("more than {MAX_REDIRECTS} redirects")));
                    }
                    let location = reply
                        .location
                        .ok_or_else(|| refused("a redirect without a Location".into()))?;
                    target = origin::resolve(&target, &location)
                        .map_err(|why| refused(format!("redirect: {why}")))?;
                    attempt -= 1;
                }
                Ok(reply)
                    if (reply.status >= 500 || reply.status == 429)
                        && attempt < self.opts.attempts =>
                {
                    backoff(attempt);
                }
                Ok(reply) => return Ok(reply),
                Err(e @ RegistryError::Unreachable { .. }) if attempt < self.opts.attempts => {
                    let _ = e;
                    backoff(attempt);
                }
                Err(RegistryError::Unreachable { why, .. }) => {
                    return Err(RegistryError::Unreachable {
                        registry: registry.to_string(),
                        why,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_once(
        &self,
        method: &str,
        url: &Uri,
        accept: &str,
        body: &Body<'_>,
        auth: Option<&str>,
        limit: u64,
        what: &str,
    ) -> Result<Reply, RegistryError> {
        let unreachable = |e: ureq::Error| RegistryError::Unreachable {
            registry: String::new(),
            why: e.to_string(),
        };
        let result = match method {
            "GET" | "HEAD" => {
                let mut req = if method == "GET" {
                    self.agent.get(url.clone())
                } else {
                    self.agent.head(url.clone())
                };
                req = req.header("Accept", accept);
                if let Some(a) = auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            _ => {
                let mut req = if method == "PUT" {
                    self.agent.put(url.clone())
                } else {
                    self.agent.post(url.clone())
                };
                req = req.header("Accept", accept);
                if let Some(a) = auth {
                    req = req.header("Authorization", a);
                }
                match body {
                    Body::Bytes(bytes, ct) => req.header("Content-Type", *ct).send(*bytes),
                    Body::None => req.send_empty(),
                }
            }
        };
        let mut resp = result.map_err(unreachable)?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type").unwrap_or_default();
        let location = header("location");
        let challenge = header("www-authenticate");
        let status = resp.status().as_u16();
        if let Some(len) = header("content-length").and_then(|l| l.parse::<u64>().ok())
            && status == 200
            && method == "GET"
            && len > limit
        {
            return Err(RegistryError::TooLarge {
                what: what.to_string(),
                limit,
            });
        }
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            match resp
                .body_mut()
                .with_config()
                .limit(limit.max(1 << 16))
                .read_to_vec()
            {
                Ok(b) => b,
                Err(ureq::Error::BodyExceedsLimit(_)) => {
                    return Err(RegistryError::TooLarge {
                        what: what.to_string(),
                        limit,
                    });
                }
                Err(e) => return Err(unreachable(e)),
            }
        };
        if status == 200 && method == "GET" && body.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                what: what.to_string(),
                limit,
            });
        }
        Ok(Reply {
            status,
            content_type,
            location,
            challenge,
            body,
        })
    }

    fn cached_auth(&self, registry: &str, repo: &str) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(&format!("{registry}/{repo}"))
            .or_else(|| tokens.get(registry))
            .cloned()
    }

    /// The docker config's credentials for `registry`, found once per process.
    fn credential(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        let cached = || {
            self.credentials
                .lock()
                .ok()
                .and_then(|m| m.get(registry).cloned())
        };
        if let Some(c) = cached() {
            return Ok(c);
        }
        // One lookup at a time, so parallel checks run a helper once per registry (a helper
        // may prompt or call a cloud API).
        let _one = self.credential_lookup.lock();
        if let Some(c) = cached() {
            return Ok(c);
        }
        let c = self
            .docker_config
            .credential(registry)
            .map_err(|why| RegistryError::Denied {
                registry: registry.to_string(),
                why,
            })?;
        if let Ok(mut m) = self.credentials.lock() {
            m.insert(registry.to_string(), c.clone());
        }
        Ok(c)
    }

    /// Answers a `WWW-Authenticate` challenge: basic credentials, or a bearer token from the realm.
    fn authenticate(
        &self,
        registry: &str,
        repo: &str,
        challenge: &str,
    ) -> Result<(), RegistryError> {
        let creds = self.credential(registry)?;
        let basic = match &creds {
            Some(Credential::Basic { user, password }) => Some(Zeroizing::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", password.as_str()))
            ))),
            _ => None,
        };
        let denied = |why: String| RegistryError::Denied {
            registry: registry.to_string(),
            why,
        };
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let value = if scheme.eq_ignore_ascii_case("basic") {
            match (&basic, &creds) {
                (Some(b), _) => b.to_string(),
                (None, Some(Credential::IdentityToken(_))) => {
                    return Err(denied(
                        "basic auth required; the docker config holds only an identity token"
                            .into(),
                    ));
                }
                (None, _) => {
                    return Err(denied(
                        "basic auth required and no credentials in docker config".into(),
                    ));
                }
            }
        } else if scheme.eq_ignore_ascii_case("bearer") {
            let params = parse_challenge(params);
            let realm = params
                .get("realm")
                .ok_or_else(|| denied("bearer challenge without realm".into()))?;
            let realm =
                origin::parse(realm).map_err(|why| denied(format!("token realm: {why}")))?;
            let realm_origin =
                Origin::of(&realm).map_err(|why| denied(format!("token realm: {why}")))?;
            self.realm_allowed(&self.home(registry)?, &realm_origin)
                .map_err(denied)?;
            let scope = params
                .get("scope")
                .cloned()
                .unwrap_or_else(|| format!("repository:{repo}:pull"));
            let mut query = String::new();
            if let Some(s) = params.get("service") {
                query.push_str(&format!("service={}&", percent(s)));
            }
            query.push_str(&format!("scope={}", percent(&scope)));
            // The agent follows no redirects: the token endpoint's answer is used as it is.
            let reply = match &creds {
                // OAuth2 refresh-token grant, as docker does with identity tokens.
                Some(Credential::IdentityToken(token)) => {
                    let form = Zeroizing::new(format!(
                        "grant_type=refresh_token&client_id=sigil&{query}&refresh_token={}",
                        percent(token)
                    ));
                    self.agent
                        .post(realm)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .send(form.as_bytes())
                }
                _ => {
                    let url = origin::with_query(&realm, &query)
                        .map_err(|why| denied(format!("token realm: {why}")))?;
                    let mut req = self.agent.get(url);
                    if let Some(b) = &basic {
                        req = req.header("Authorization", b.as_str());
                    }
                    req.call()
                }
            };
            let mut resp = reply.map_err(|e| RegistryError::Unreachable {
                registry: registry.to_string(),
                why: format!("token endpoint: {e}"),
            })?;
            if resp.status().as_u16() != 200 {
                return Err(denied(format!(
                    "token endpoint answered HTTP {}",
                    resp.status().as_u16()
                )));
            }
            let body = resp
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .map_err(|e| denied(format!("token endpoint: {e}")))?;
            let json: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| denied(format!("token endpoint: {e}")))?;
            let token = json
                .get("token")
                .or_else(|| json.get("access_token"))
                .and_then(|t| t.as_str())
                .ok_or_else(|| denied("token endpoint returned no token".into()))?;
            format!("Bearer {token}")
        } else {
            return Err(denied(format!("unsupported auth challenge {scheme:?}")));
        };
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(format!("{registry}/{repo}"), value);
        }
        Ok(())
    }
}

/// Whether a request for the registry at `home` may go to `here` (never from https to plain
/// HTTP), and whether it carries the registry's credentials (only on its own origin).
fn hop(home: &Origin, here: &Origin) -> Result<bool, String> {
    if home.is_https() && !here.is_https() {
        return Err(format!(
            "{here} is plain HTTP; the registry is reached over https"
        ));
    }
    Ok(here == home)
}

fn backoff(attempt: u32) {
    std::thread::sleep(Duration::from_millis(200u64 << attempt.min(5)));
}

fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `key="value",key2="value2"` of a `WWW-Authenticate` challenge.
fn parse_challenge(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, n)) => (v.to_string(), n),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v.trim().to_string(), n),
                None => (after.trim().to_string(), ""),
            }
        };
        out.insert(key, value);
        rest = next.trim_start_matches(',').trim();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let p = parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/nginx:pull");
    }

    fn at(url: &str) -> Origin {
        Origin::of(&origin::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn credentials_stay_on_the_registry_origin() {
        let https = at("https://ghcr.io");
        assert_eq!(hop(&https, &at("https://ghcr.io:443/v2/")), Ok(true));
        assert_eq!(hop(&https, &at("https://cdn.example/blob")), Ok(false));
        assert_eq!(hop(&https, &at("https://ghcr.io:8443/v2/")), Ok(false));
        assert!(hop(&https, &at("http://ghcr.io/v2/")).is_err());
        assert!(hop(&https, &at("http://cdn.example/blob")).is_err());
        let local = at("http://127.0.0.1:5000");
        assert_eq!(hop(&local, &at("http://127.0.0.1:5000/v2/")), Ok(true));
        assert_eq!(hop(&local, &at("http://localhost:5000/v2/")), Ok(false));
        assert_eq!(hop(&local, &at("https://127.0.0.1:5000/v2/")), Ok(false));
        assert_eq!(hop(&local, &at("http://127.0.0.1:5001/u")), Ok(false));
    }

    #[test]
    fn token_realms() {
        let dir = tempfile::tempdir().unwrap();
        let c = Client::new(ClientOptions {
            insecure: vec!["localhost:5000".into(), "auth.local:*".into()],
            docker_config_dir: Some(dir.path().to_path_buf()),
            ..ClientOptions::default()
        })
        .unwrap();
        let ok = |home: &str, realm: &str| c.realm_allowed(&at(home), &at(realm)).is_ok();
        // https anywhere (Docker Hub: registry-1.docker.io, realm auth.docker.io).
        assert!(ok(
            "https://registry-1.docker.io",
            "https://auth.docker.io/token"
        ));
        assert!(ok("http://localhost:5000", "https://auth.example/token"));
        // Never from an https registry to an http realm, even on a host listed as insecure.
        assert!(!ok("https://ghcr.io", "http://ghcr.io/token"));
        assert!(!ok("https://ghcr.io", "http://auth.local:80/token"));
        // Plain HTTP from an insecure registry: to listed hosts and its own host only.
        assert!(ok("http://localhost:5000", "http://localhost:5000/token"));
        assert!(ok("http://localhost:5000", "http://localhost:5001/token"));
        assert!(ok("http://localhost:5000", "http://auth.local/token"));
        assert!(ok("http://localhost:5000", "http://auth.local:9000/token"));
        assert!(!ok("http://localhost:5000", "http://evil.example/token"));
        assert!(!ok("http://localhost:5000", "http://127.0.0.1:5001/token"));
        assert!(!ok(
            "http://localhost:5000",
            "http://localhost.evil.example/token"
        ));
    }
}
