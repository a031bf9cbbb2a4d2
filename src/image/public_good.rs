//! The Sigstore public-good trust root pinned into the binary: the production
//! `trusted_root.json` served by Sigstore's TUF repository (tuf-repo-cdn.sigstore.dev), as
//! sigstore-python 4.5.1 pins it. Named by the start of its newest key's validity
//! (2025-09-23, the Rekor v2 log `log2025-1`). `sigil trust-root update` writes a newer one.

use super::trust_root::{TrustRoot, TrustRootError};

/// The pinned `trusted_root.json`.
pub const JSON: &[u8] = include_bytes!("roots/public-good-2025-09-23.json");

/// How verdicts name the pinned root.
pub const NAME: &str = "sigstore public-good 2025-09-23 (pinned)";

/// The pinned root, parsed.
pub fn root() -> Result<TrustRoot, TrustRootError> {
    TrustRoot::from_json(JSON)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pinned_root_parses_with_every_log_and_authority() {
        let (root, skipped) = super::TrustRoot::from_json_report(super::JSON).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(root.tlogs.len(), 2);
        assert_eq!(root.ctlogs.len(), 2);
        assert_eq!(root.certificate_authorities.len(), 2);
        assert_eq!(root.timestamp_authorities.len(), 1);
    }
}
