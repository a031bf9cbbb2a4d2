//! Trust material for keyless and transparency-log verification, always from local files:
//! a sigstore `trusted_root.json`, or PEM files (Fulcio chain, Rekor and CT log keys).

use super::pubkey::PublicKey;

/// A transparency-log or CT-log key with the window in which it may be used.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// SHA-256 of the key's DER SubjectPublicKeyInfo (how entries and SCTs name their log).
    pub log_id: [u8; 32],
    /// The key.
    pub key: PublicKey,
    /// Unix seconds from which the key is valid (inclusive), if bounded.
    pub valid_from: Option<i64>,
    /// Unix seconds until which the key is valid (inclusive), if bounded.
    pub valid_to: Option<i64>,
}

/// A certificate authority (e.g. Fulcio): DER certificates, the issuing one first, the root last.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    /// DER certificates, leaf-most first; the last one is the trust anchor.
    pub chain: Vec<Vec<u8>>,
    /// Unix seconds from which this CA may have issued (inclusive), if bounded.
    pub valid_from: Option<i64>,
    /// Unix seconds until which this CA may have issued (inclusive), if bounded.
    pub valid_to: Option<i64>,
}

/// Everything trusted for keyless verification.
#[derive(Debug, Clone, Default)]
pub struct TrustRoot {
    /// Rekor keys.
    pub tlogs: Vec<TrustedKey>,
    /// Certificate-transparency log keys (for SCTs).
    pub ctlogs: Vec<TrustedKey>,
    /// Fulcio (or private PKI) authorities.
    pub certificate_authorities: Vec<CertificateAuthority>,
}

impl TrustedKey {
    /// Whether the key may be used at `t` (unix seconds).
    pub fn valid_at(&self, t: i64) -> bool {
        self.valid_from.is_none_or(|f| f <= t) && self.valid_to.is_none_or(|e| t <= e)
    }
}
