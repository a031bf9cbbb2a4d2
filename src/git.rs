//! Git: raw commit/tag objects, signed payloads, reading objects and walking ranges.

pub mod diff;
pub mod object;
pub mod repo;
pub mod tree;
pub mod verify;

/// The first 12 characters of an object id, for messages.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
