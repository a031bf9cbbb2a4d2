//! sigil: SOPS-compatible secrets, signature verification and a GitOps gate.

pub mod atomic;
pub mod aws;
pub mod cache_key;
pub mod cli;
pub mod gate;
pub mod git;
pub mod http;
pub mod image;
pub mod manifest;
pub mod policy;
pub mod process;
pub mod redact;
pub mod signature;
pub mod sops;
pub mod user_dirs;
pub mod verdict;
