//! What a consumer will apply: the tree rendered as Flux's kustomize-controller, Argo CD or
//! `kubectl apply` builds it (kustomize, sandboxed and offline, or the directory rules), the
//! rendered objects (pod specs and their images, Secrets, sources the reconciler would fetch
//! itself, post-build substitutions), the checks on them that `check secrets`, `verify images`,
//! `render` and the gate all share, and the pinned output that is published.

pub mod check;
pub mod directory;
pub mod documents;
pub mod inspect;
pub mod kustomization;
pub mod kustomize;
pub mod local;
pub mod output;
pub mod render;
pub mod secrets;
pub mod substitute;
pub mod tree_index;
pub mod workspace;
