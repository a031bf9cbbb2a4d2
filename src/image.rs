//! Container images: references and finding them in manifests (signature verification of
//! images is not built yet).

pub mod manifests;
pub mod reference;
