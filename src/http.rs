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
