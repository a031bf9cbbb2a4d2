//! Container images: references, registry access, and cosign signature verification
//! (keys, trust roots, transparency-log proofs, certificates).

pub mod blob;
pub mod bundle;
pub mod cert;
pub mod check;
pub mod cosign_key;
pub mod docker_config;
pub mod origin;
pub mod pubkey;
pub mod public_good;
pub mod reference;
pub mod registry;
pub mod sign;
pub mod signature;
pub mod tlog;
pub mod trust_root;
pub mod tsa;
pub mod tuf;
pub mod verify;
