//! The one way sigil builds HTTP clients (registries, notifications, the Kubernetes API):
//! ureq over native-tls (OpenSSL), statuses returned as values rather than errors, one
//! deadline per request, sigil's user agent.

use std::time::Duration;

/// A client trusting `roots`, giving up after `timeout` and following at most
/// `max_redirects` redirects.
pub fn agent(roots: ureq::tls::RootCerts, timeout: Duration, max_redirects: u32) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::NativeTls)
        .root_certs(roots)
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(max_redirects)
        .tls_config(tls)
        .user_agent(concat!("sigil/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Roots from a PEM file of CA certificates (a cluster CA, `VAULT_CACERT`).
pub fn roots_from_pem_file(path: &std::path::Path) -> Result<ureq::tls::RootCerts, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!("{}: no CERTIFICATE in the CA file", path.display()));
    }
    Ok(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
}
