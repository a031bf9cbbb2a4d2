//! sigil: SOPS-compatible secrets, signature verification and a GitOps gate.

pub mod cli;
pub mod sops;
