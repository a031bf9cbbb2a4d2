//! The YAML store: yaml.v3's typing and comment placement on load, its layout on output.

mod emit;
mod load;
mod resolve;

pub use emit::{emit, emit_value};
pub use load::load;
