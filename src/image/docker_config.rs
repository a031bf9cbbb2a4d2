//! Registry credentials the way the docker CLI finds them in `config.json`: a per-registry
//! `credHelpers` entry, else the `credsStore` helper, else the `auths` entry. Helpers are
//! `docker-credential-<name>` programs on `PATH`, run lazily (once per registry and process)
//! with the server address on stdin, answering `{"ServerURL","Username","Secret"}`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use zeroize::Zeroizing;

/// Docker Hub's key in `auths` and the server address its helpers are asked for.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Longest a credential helper may run.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest helper answer read.
const HELPER_OUTPUT_LIMIT: usize = 64 << 10;

/// Credentials for one registry. No `Debug`: they are secrets.
#[derive(Clone)]
pub enum Credential {
    /// Username and password (or a registry token used as a password): basic auth, and
    /// basic auth at the token endpoint.
    Basic {
        /// User name.
        user: String,
        /// Password or token.
        password: Zeroizing<String>,
    },
    /// An OAuth2 refresh token (a helper's `Username` of `<token>`, or `identitytoken` in
    /// `auths`), exchanged at the token endpoint by POST `grant_type=refresh_token`.
    IdentityToken(Zeroizing<String>),
}

/// Where credentials come from, as parsed from `config.json`.
#[derive(Default)]
pub struct DockerConfig {
    path: Option<PathBuf>,
    auths: HashMap<String, Credential>,
    cred_helpers: HashMap<String, String>,
    creds_store: Option<String>,
}

impl DockerConfig {
    /// Reads `dir/config.json` (default `$DOCKER_CONFIG`, else `~/.docker`); a missing file
    /// means no credentials.
    pub fn load(dir: Option<&Path>) -> Result<DockerConfig, String> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => match std::env::var_os("DOCKER_CONFIG") {
                Some(d) => d.into(),
                None => match std::env::var_os("HOME") {
                    Some(h) => Path::new(&h).join(".docker"),
                    None => return Ok(DockerConfig::default()),
                },
            },
        };
        let path = dir.join("config.json");
        let text = match std::fs::read(&path) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig::default());
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        DockerConfig::parse(&text)
            .map(|mut c| {
                c.path = Some(path.clone());
                c
            })
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the JSON text of a `config.json`.
    pub fn parse(text: &[u8]) -> Result<DockerConfig, String> {
        let json: serde_json::Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let mut out = DockerConfig::default();
        if let Some(auths) = json.get("auths").and_then(|a| a.as_object()) {
            for (server, entry) in auths {
                if let Some(c) = auth_entry(server, entry)? {
                    out.auths.insert(registry_key(server), c);
                }
            }
        }
        if let Some(helpers) = json.get("credHelpers").and_then(|h| h.as_object()) {
            for (server, name) in helpers {
                let name = name
                    .as_str()
                    .ok_or_else(|| format!("credHelpers.{server} is not a string"))?;
                out.cred_helpers
                    .insert(registry_key(server), helper_name(name)?);
            }
        }
        if let Some(store) = json.get("credsStore").and_then(|s| s.as_str())
            && !store.is_empty()
        {
            out.creds_store = Some(helper_name(store)?);
        }
        Ok(out)
    }

    /// The credentials for `registry` (`docker.io` for Docker Hub), in docker's order:
    /// `credHelpers`, `credsStore`, `auths`. `Ok(None)` is anonymous access (also when a
    /// helper reports "credentials not found"); a helper that fails otherwise is an error.
    pub fn credential(&self, registry: &str) -> Result<Option<Credential>, String> {
        let registry = &super::reference::canonical_registry(registry);
        let helper = self
            .cred_helpers
            .get(registry)
            .or(self.creds_store.as_ref());
        match helper {
            Some(name) => run_helper(name, &server_address(registry)).map_err(|e| {
                let from = self
                    .path
                    .as_ref()
                    .map(|p| format!(" (from {})", p.display()))
                    .unwrap_or_default();
                format!("credential helper docker-credential-{name}{from}: {e}")
            }),
            None => Ok(self.auths.get(registry).cloned()),
        }
    }
}

/// What a helper is asked for: the registry host, or Docker Hub's legacy v1 URL.
fn server_address(registry: &str) -> String {
    if registry == "docker.io" {
        DOCKER_HUB_SERVER.to_string()
    } else {
        registry.to_string()
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `https://ghcr.io/` → `ghcr.io`.
fn registry_key(server: &str) -> String {
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    super::reference::canonical_registry(host)
}

/// A helper name becomes part of a program name: no path separators, nothing odd.
fn helper_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "credential helper name {name:?} is not a plain name"
        ))
    }
}

fn auth_entry(server: &str, entry: &serde_json::Value) -> Result<Option<Credential>, String> {
    let field = |k: &str| {
        entry
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    if let Some(token) = field("identitytoken") {
        return Ok(Some(Credential::IdentityToken(Zeroizing::new(
            token.to_string(),
        ))));
    }
    if let Some(auth) = field("auth") {
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(auth)
                .map_err(|e| format!("auth for {server}: {e}"))?,
        );
        let raw =
            std::str::from_utf8(&raw).map_err(|_| format!("auth for {server} is not UTF-8"))?;
        let (user, password) = raw
            .split_once(':')
            .ok_or_else(|| format!("auth for {server} is not user:password"))?;
        return Ok(Some(Credential::Basic {
            user: user.to_string(),
            password: Zeroizing::new(password.to_string()),
        }));
    }
    Ok(match (field("username"), field("password")) {
        (Some(u), Some(p)) => Some(Credential::Basic {
            user: u.to_string(),
            password: Zeroizing::new(p.to_string()),
        }),
        _ => None,
    })
}

/// Runs `docker-credential-<name> get` with `server` on stdin.
fn run_helper(name: &str, server: &str) -> Result<Option<Credential>, String> {
    let program = format!("docker-credential-{name}");
    let mut c = Command::new(&program);
    c.arg("get");
    // Own process group, stdout and stderr drained together, killed as a group on the
    // deadline: a chatty or stuck helper (or a child it leaves behind) cannot hold sigil.
    let limits = crate::process::Limits {
        timeout: HELPER_TIMEOUT,
        max_stdout: HELPER_OUTPUT_LIMIT,
        max_stderr: HELPER_OUTPUT_LIMIT,
    };
    let done = crate::process::run(c, Some(server.as_bytes().to_vec()), limits, &program).map_err(
        |e| match e {
            crate::process::RunError::Timeout(..) => {
                format!("did not answer within {}s", HELPER_TIMEOUT.as_secs())
            }
            crate::process::RunError::Spawn(_, err) => format!("cannot run {program}: {err}"),
            other => other.to_string(),
        },
    )?;
    let status = done.status;
    let out = Zeroizing::new(done.stdout);
    let err = done.stderr;
    let text = String::from_utf8_lossy(&out);
    if !status.success() {
        let message = format!("{}{}", text.trim(), String::from_utf8_lossy(&err).trim());
        // The docker-credential-helpers protocol's "not found" answer: anonymous access.
        if message.contains("credentials not found") {
            return Ok(None);
        }
        let message: String = message.chars().take(300).collect();
        return Err(format!("failed ({status}): {message}"));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&out).map_err(|e| format!("answer is not JSON ({e})"))?;
    let field = |k: &str| json.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let (user, secret) = (field("Username"), field("Secret"));
    if secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if user == "<token>" {
        Credential::IdentityToken(Zeroizing::new(secret.to_string()))
    } else {
        Credential::Basic {
            user: user.to_string(),
            password: Zeroizing::new(secret.to_string()),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(c: Option<Credential>) -> (String, String) {
        match c {
            Some(Credential::Basic { user, password }) => (user, password.to_string()),
            _ => panic!("not basic credentials"),
        }
    }

    #[test]
    fn auths_entries() {
        let c = DockerConfig::parse(
            br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"ghcr.io":{"username":"u","password":"p"},"quay.io":{"identitytoken":"rt"},"empty.io":{}}}"#,
        )
        .unwrap();
        assert_eq!(
            basic(c.credential("docker.io").unwrap()),
            ("user".into(), "pass".into())
        );
        assert_eq!(
            basic(c.credential("ghcr.io").unwrap()),
            ("u".into(), "p".into())
        );
        assert!(matches!(
            c.credential("quay.io").unwrap(),
            Some(Credential::IdentityToken(t)) if t.as_str() == "rt"
        ));
        assert!(c.credential("empty.io").unwrap().is_none());
        assert!(c.credential("other.io").unwrap().is_none());
    }

    #[test]
    fn registry_hosts_are_looked_up_canonically() {
        let c = DockerConfig::parse(
            br#"{"auths":{"https://GHCR.IO:443/":{"username":"u","password":"p"}},"credHelpers":{"Quay.IO":"x"}}"#,
        )
        .unwrap();
        for host in ["ghcr.io", "GHCR.io", "ghcr.io:443"] {
            assert_eq!(
                basic(c.credential(host).unwrap()),
                ("u".into(), "p".into()),
                "{host}"
            );
        }
        assert!(c.credential("ghcr.io:5000").unwrap().is_none());
        assert_eq!(c.cred_helpers.get("quay.io").map(String::as_str), Some("x"));
    }

    #[test]
    fn helper_names_are_plain() {
        assert!(DockerConfig::parse(br#"{"credsStore":"../../bin/sh"}"#).is_err());
        assert!(DockerConfig::parse(br#"{"credHelpers":{"a.io":"x/y"}}"#).is_err());
        assert!(DockerConfig::parse(br#"{"credHelpers":{"a.io":"ecr-login"}}"#).is_ok());
    }

    #[test]
    fn missing_helper_is_an_error_not_anonymous() {
        let c = DockerConfig::parse(br#"{"credsStore":"sigil-no-such-helper"}"#).unwrap();
        let e = c.credential("ghcr.io").err().unwrap();
        assert!(e.contains("docker-credential-sigil-no-such-helper"), "{e}");
    }
}
