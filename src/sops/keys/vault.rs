//! HashiCorp Vault transit master keys as sops 3.11 reads and writes them: `hc_vault:`
//! entries (`vault_address`, `engine_path`, `key_name`, `created_at`, `enc` = the transit
//! ciphertext `vault:v1:…`), URIs `https://vault:8200/v1/<engine>/keys/<name>` from
//! `--hc-vault-transit`/`SOPS_VAULT_URIS`/`.sops.yaml`, the token from `VAULT_TOKEN` or
//! `~/.vault-token`, `VAULT_NAMESPACE` sent as `X-Vault-Namespace`, `VAULT_CACERT` as the CA
//! of a private Vault.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::sops::error::Error;
use crate::sops::metadata::entry_text;
use crate::sops::tree::{Entry, Value};

/// A transit key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultKey {
    /// `scheme://host[:port]` of the Vault server.
    pub address: String,
    /// The transit engine's mount path (`transit`, `sops/team`).
    pub engine_path: String,
    /// The key's name.
    pub key_name: String,
}

/// Time allowed for one Vault request.
const TIMEOUT: Duration = Duration::from_secs(20);

impl VaultKey {
    /// `https://vault.example.com:8200/v1/<engine>/keys/<name>` (sops's rules: a scheme, a
    /// `/v<N>/` API prefix at the root, `keys` before the name).
    pub fn from_uri(uri: &str) -> Result<VaultKey, Error> {
        let bad = |why: &str| {
            Error::Config(format!(
                "{uri}: {why} (the form is https://vault.example.com:8200/v1/transit/keys/keyName)"
            ))
        };
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| bad("missing scheme in Vault URL"))?;
        if scheme.is_empty() {
            return Err(bad("missing scheme in Vault URL"));
        }
        let (host, path) = rest.split_once('/').ok_or_else(|| bad("no key path"))?;
        let path = path
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .trim_matches('/');
        let dirs: Vec<&str> = path.split('/').collect();
        let versioned = |d: &str| {
            d.len() > 1 && d.starts_with('v') && d[1..].bytes().all(|b| b.is_ascii_digit())
        };
        if dirs.len() < 4 || dirs.iter().any(|d| d.is_empty()) {
            return Err(bad("vault path does not seem to be formatted correctly"));
        }
        if !versioned(dirs[0]) {
            return Err(bad("running Vault with a prefixed URL is not supported"));
        }
        Ok(VaultKey {
            address: format!("{scheme}://{host}"),
            engine_path: dirs[1..dirs.len() - 2].join("/"),
            key_name: dirs[dirs.len() - 1].to_string(),
        })
    }

    /// An `hc_vault:` entry of a file's metadata.
    pub fn from_fields(fields: &Value) -> Result<VaultKey, String> {
        let text =
            |k: &str| entry_text(fields, k).ok_or_else(|| format!("an hc_vault entry has no {k}"));
        Ok(VaultKey {
            address: text("vault_address")?,
            engine_path: text("engine_path")?,
            key_name: text("key_name")?,
        })
    }

    /// The entry sops writes for this key holding `enc`.
    pub fn to_fields(&self, created_at: &str, enc: &str) -> Value {
        let pair = |k: &str, v: &str| Entry::Pair(Zeroizing::new(k.to_string()), Value::str(v));
        Value::Map(vec![
            pair("vault_address", &self.address),
            pair("engine_path", &self.engine_path),
            pair("key_name", &self.key_name),
            pair("created_at", created_at),
            pair("enc", enc),
        ])
    }

    /// sops's string form (the URI), which `--rm-hc-vault-transit` matches.
    pub fn to_sops_string(&self) -> String {
        format!(
            "{}/v1/{}/keys/{}",
            self.address, self.engine_path, self.key_name
        )
    }

    fn call(&self, op: &str, body: serde_json::Value) -> Result<serde_json::Value, String> {
        let token = token()?;
        let url = format!(
            "{}/v1/{}/{op}/{}",
            self.address.trim_end_matches('/'),
            self.engine_path,
            self.key_name
        );
        // VAULT_CACERT names the CA of a private Vault, as Vault's own client reads it.
        let roots = match std::env::var_os("VAULT_CACERT").filter(|c| !c.is_empty()) {
            Some(ca) => crate::http::roots_from_pem_file(std::path::Path::new(&ca))
                .map_err(|e| format!("VAULT_CACERT: {e}"))?,
            None => ureq::tls::RootCerts::PlatformVerifier,
        };
        let agent = crate::http::agent(roots, TIMEOUT, 0);
        let mut req = agent.post(&url).header("Content-Type", "application/json");
        if let Some(t) = &token {
            req = req.header("X-Vault-Token", t.as_str());
        }
        if let Some(ns) = std::env::var("VAULT_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty())
        {
            req = req.header("X-Vault-Namespace", ns);
        }
        let payload = Zeroizing::new(body.to_string());
        let resp = req
            .send(payload.as_bytes())
            .map_err(|e| format!("cannot reach Vault at {}: {e}", self.address))?;
        let status = resp.status().as_u16();
        let bytes = Zeroizing::new(
            resp.into_body()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .map_err(|e| format!("Vault at {}: cannot read the answer: {e}", self.address))?,
        );
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if status != 200 {
            let errors = v
                .get("errors")
                .and_then(|e| e.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            let hint = match status {
                403 if token.is_none() => " (no token: set VAULT_TOKEN or write ~/.vault-token)",
                403 => " (the token may not use this key: check its policy)",
                _ => "",
            };
            return Err(format!(
                "Vault transit {op} with {} answered {status}: {errors}{hint}",
                self.to_sops_string()
            ));
        }
        Ok(v)
    }

    /// Wraps `payload` (the data key or a share); returns `enc`.
    pub fn wrap(&self, payload: &[u8]) -> Result<String, Error> {
        let v = self
            .call(
                "encrypt",
                serde_json::json!({"plaintext": B64.encode(payload)}),
            )
            .map_err(|e| Error::Generic(format!("Could not generate data key: {e}")))?;
        v.pointer("/data/ciphertext")
            .and_then(|c| c.as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Generic(
                    "Could not generate data key: Vault's answer has no data.ciphertext".into(),
                )
            })
    }

    /// Unwraps `enc`.
    pub fn unwrap(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let v = self.call("decrypt", serde_json::json!({"ciphertext": enc}))?;
        let plain = v
            .pointer("/data/plaintext")
            .and_then(|p| p.as_str())
            .ok_or("Vault's answer has no data.plaintext")?;
        B64.decode(plain)
            .map(Zeroizing::new)
            .map_err(|_| "cannot decode base64 plaintext into data key bytes".into())
    }
}

/// `VAULT_TOKEN`, else `~/.vault-token` (trimmed), else none.
fn token() -> Result<Option<Zeroizing<String>>, String> {
    if let Some(t) = std::env::var("VAULT_TOKEN").ok().filter(|t| !t.is_empty()) {
        return Ok(Some(Zeroizing::new(t)));
    }
    let Some(home) = std::env::var_os("HOME") else {
        return Ok(None);
    };
    let path = std::path::Path::new(&home).join(".vault-token");
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(Zeroizing::new(t.trim().to_string())).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Reads the `enc` of a metadata entry and unwraps it.
pub fn unwrap_entry(fields: &Value) -> Result<Zeroizing<Vec<u8>>, String> {
    let key = VaultKey::from_fields(fields)?;
    let enc = entry_text(fields, "enc")
        .ok_or_else(|| format!("hc_vault {}: no enc", key.to_sops_string()))?;
    key.unwrap(&enc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_as_sops_reads_them() {
        let k =
            VaultKey::from_uri("https://vault.example.com:8200/v1/sops/team/keys/first").unwrap();
        assert_eq!(
            (
                k.address.as_str(),
                k.engine_path.as_str(),
                k.key_name.as_str()
            ),
            ("https://vault.example.com:8200", "sops/team", "first")
        );
        assert_eq!(
            k.to_sops_string(),
            "https://vault.example.com:8200/v1/sops/team/keys/first"
        );
        assert_eq!(
            VaultKey::from_fields(&k.to_fields("2026-01-01T00:00:00Z", "vault:v1:x")).unwrap(),
            k
        );
        for bad in [
            "vault.example.com/v1/transit/keys/k",
            "https://vault.example.com/prefix/v1/transit/keys/k",
            "https://vault.example.com/v1/keys/k",
            "https://vault.example.com",
        ] {
            assert!(VaultKey::from_uri(bad).is_err(), "{bad}");
        }
    }
}
