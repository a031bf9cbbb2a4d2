//! Git: raw commit/tag objects, signed payloads, reading objects and walking ranges.

pub mod diff;
pub mod object;
pub mod repo;
pub mod tree;
pub mod verify;
