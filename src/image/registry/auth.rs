//! Registry authentication: `WWW-Authenticate` challenges, Basic credentials and bearer tokens
//! (incl. the identity-token refresh grant) from the docker config, and the rule that keeps
//! credentials on the registry's origin (and the token realm's).

use std::collections::HashMap;

use base64::Engine;
use zeroize::Zeroizing;

use super::{Client, RegistryError};
use crate::image::docker_config::Credential;
use crate::image::origin::{self, Origin};

impl Client {
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

    pub(super) fn cached_auth(&self, registry: &str, repo: &str) -> Option<String> {
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
    pub(super) fn authenticate(
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
pub(super) fn hop(home: &Origin, here: &Origin) -> Result<bool, String> {
    if home.is_https() && !here.is_https() {
        return Err(format!(
            "{here} is plain HTTP; the registry is reached over https"
        ));
    }
    Ok(here == home)
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
pub fn parse_challenge(s: &str) -> HashMap<String, String> {
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
    use super::super::ClientOptions;
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
