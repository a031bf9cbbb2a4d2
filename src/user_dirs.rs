//! The user's base directories as the XDG specification names them: `$XDG_…_HOME` when set
//! and not empty, else its default under `$HOME`.

use std::path::PathBuf;

/// `$<xdg_var>/<rel>`, else `$HOME/<home_default>/<rel>`; `None` without either.
pub fn path(xdg_var: &str, home_default: &str, rel: &str) -> Option<PathBuf> {
    let non_empty = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty());
    match non_empty(xdg_var) {
        Some(d) => Some(PathBuf::from(d).join(rel)),
        None => non_empty("HOME").map(|h| PathBuf::from(h).join(home_default).join(rel)),
    }
}
