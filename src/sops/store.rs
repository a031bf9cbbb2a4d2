//! Stores: turning files into document trees and back (yaml, json, dotenv, ini, binary).

pub mod dotenv;
pub mod flatten;
pub mod ini;
pub mod json;
pub mod yaml;
