//! The gate: fetch into quarantine, verify commits, secrets and images, publish only verified
//! revisions (git-sync-compatible volume, Flux artifact, Argo CD plugin), serve status.

pub mod config;
pub mod http;
pub mod kube;
pub mod notify;
pub mod publish;
pub mod quarantine;
pub mod reload;
pub mod render;
pub mod run;
pub mod state;
pub mod sync;
