//! Signature verifiers for git objects: OpenPGP (sequoia), SSH (sshsig, allowed_signers) and
//! X.509 (gpgsm's CMS), gitsign (Sigstore keyless CMS).

pub mod allowed_signers;
pub mod cms;
pub mod gitsign;
pub mod openpgp;
pub mod openpgp_mpi;
pub mod ssh;
pub mod sshsig;
pub mod x509;

/// Why a signature is refused: a stable reason code and a human explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable kebab-case reason code.
    pub code: &'static str,
    /// What happened and what to do.
    pub detail: String,
}

/// A verified signature: every policy signer whose trust matched (with the principal or email
/// that matched, if any) and the SHA-256 fingerprint of the signing key or certificate.
#[derive(Debug, Clone)]
pub struct Good {
    /// (signer index, matched identity).
    pub matches: Vec<(usize, Option<String>)>,
    /// SHA-256 fingerprint of the signing key (SSH) or certificate (X.509).
    pub fingerprint: String,
}

/// A refusal with its reason code and detail.
pub(crate) fn refuse(code: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal {
        code,
        detail: detail.into(),
    }
}
