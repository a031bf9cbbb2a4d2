//! What a verifier decided about one commit, tag or signature, as a type rather than a
//! string: a verdict says `verified` only where a verifier set [`Decision::Verified`].

use serde::Serialize;

/// The decision on one object or signature (serialised `verified` / `refused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Every check passed.
    Verified,
    /// A check failed; the verdict carries the reason.
    Refused,
}

impl Decision {
    /// `verified` or `refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Verified => "verified",
            Decision::Refused => "refused",
        }
    }
}
