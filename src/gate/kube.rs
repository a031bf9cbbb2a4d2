//! The Flux ExternalArtifact's status, patched through the Kubernetes API, so that
//! kustomize-controller sees each new verified artifact: a JSON merge patch of the `status`
//! subresource of `source.toolkit.fluxcd.io/v1` `ExternalArtifact`, authenticated with the
//! pod's service-account token (re-read on every call, as projected tokens rotate) over TLS
//! checked against the cluster CA.

use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

/// In-cluster defaults.
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// The cluster CA of the in-cluster service account.
pub const SERVICE_ACCOUNT_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// Which object to patch, and how to reach the API server.
#[derive(Debug, Clone)]
pub struct ExternalArtifactTarget {
    /// Namespace of the ExternalArtifact.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `https://host:port` (plain `http://` only for a loopback host).
    pub api_server: String,
    /// Bearer token file.
    pub token_file: PathBuf,
    /// PEM CA bundle for the API server's certificate (None: system roots).
    pub ca_file: Option<PathBuf>,
}

impl ExternalArtifactTarget {
    /// The in-cluster API server from `KUBERNETES_SERVICE_HOST`/`_PORT`, if set.
    pub fn in_cluster_api_server() -> Option<String> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        Some(format!("https://{host}:{port}"))
    }

    /// Whether `url` is acceptable as an API server: https, or http to a loopback host.
    pub fn api_server_allowed(url: &str) -> bool {
        if url.starts_with("https://") {
            return true;
        }
        let Some(rest) = url.strip_prefix("http://") else {
            return false;
        };
        let host = rest.split('/').next().unwrap_or(rest);
        let host = host
            .rsplit_once(':')
            .map(|(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            })
            .unwrap_or(host);
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    }

    fn url(&self) -> String {
        format!(
            "{}/apis/source.toolkit.fluxcd.io/v1/namespaces/{}/externalartifacts/{}/status",
            self.api_server.trim_end_matches('/'),
            self.namespace,
            self.name
        )
    }
}

/// Sets `status` on the ExternalArtifact (merge patch of the status subresource).
pub fn patch_status(t: &ExternalArtifactTarget, status: &serde_json::Value) -> Result<(), String> {
    let token = super::config::read_bearer_token(&t.token_file)?;
    let roots = match &t.ca_file {
        Some(ca) => crate::http::roots_from_pem_file(ca)?,
        None => ureq::tls::RootCerts::PlatformVerifier,
    };
    let agent = crate::http::agent(roots, Duration::from_secs(15), 0);
    let body =
        serde_json::to_vec(&serde_json::json!({ "status": status })).map_err(|e| e.to_string())?;
    let bearer = Zeroizing::new(format!("Bearer {}", token.as_str()));
    let mut resp = agent
        .patch(&t.url())
        .header("Authorization", bearer.as_str())
        .header("Content-Type", "application/merge-patch+json")
        .header("Accept", "application/json")
        .send(&body[..])
        .map_err(|e| format!("Kubernetes API {}: {e}", t.api_server))?;
    let code = resp.status().as_u16();
    if code == 200 {
        return Ok(());
    }
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default();
    // The API's Status object says why (never echoes the token).
    let why = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.chars().take(200).collect());
    Err(format!(
        "patching ExternalArtifact {}/{} status: HTTP {code}: {why}",
        t.namespace, t.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_server_urls() {
        assert!(ExternalArtifactTarget::api_server_allowed(
            "https://10.0.0.1:443"
        ));
        assert!(ExternalArtifactTarget::api_server_allowed(
            "http://127.0.0.1:6443"
        ));
        assert!(ExternalArtifactTarget::api_server_allowed(
            "http://[::1]:80"
        ));
        assert!(!ExternalArtifactTarget::api_server_allowed(
            "http://10.0.0.1:443"
        ));
        assert!(!ExternalArtifactTarget::api_server_allowed(
            "http://127.0.0.1.evil.example:80"
        ));
        assert!(!ExternalArtifactTarget::api_server_allowed("ftp://x"));
    }
}
