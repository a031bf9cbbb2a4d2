//! Signature verifiers for git objects: OpenPGP (sequoia) and SSH (sshsig, allowed_signers).

pub mod allowed_signers;
pub mod openpgp;
pub mod openpgp_mpi;
pub mod ssh;
pub mod sshsig;

/// Why a signature is refused: a stable reason code and a human explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable kebab-case reason code.
    pub code: &'static str,
    /// What happened and what to do.
    pub detail: String,
}
