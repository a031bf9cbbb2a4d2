//! The registry API calls of a [`Client`]: manifests, blobs, referrers and pushes, and the one
//! request path under them (auth negotiation, redirects checked hop by hop, retries).

use std::time::Duration;

use ureq::http::Uri;

use super::auth::hop;
use super::{
    Client, MANIFEST_TYPES, MAX_REDIRECTS, Manifest, OCI_INDEX, RegistryError, sha256_digest,
};
use crate::image::origin::{self, Origin};

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
}

fn backoff(attempt: u32) {
    std::thread::sleep(Duration::from_millis(200u64 << attempt.min(5)));
}
