//! The SOPS file format: value cipher, MAC, metadata, stores, key wrapping and `.sops.yaml`.

pub mod cipher;
pub mod config;
pub mod error;
pub mod format;
pub mod keys;
pub mod metadata;
pub mod ops;
pub mod rules;
pub mod shamir;
pub mod store;
pub mod time;
pub mod tree;
pub mod walk;

pub use error::Error;
