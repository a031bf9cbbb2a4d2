//! Which files a directory consumer applies (Argo CD directory apps, `kubectl apply -f DIR`,
//! git-sync readers): `.yaml`, `.yml` and `.json` files under the path (subdirectories only with
//! `recurse`), filtered by Argo CD's `include`/`exclude` globs. Jsonnet is a manifest format the
//! gate does not evaluate, so a `.jsonnet` file in a rendered path is a refusal.

use regex::Regex;

/// An Argo CD `directory.include`/`exclude` pattern: matched against the path relative to the
/// application path, `*` and `?` also match `/` (gobwas/glob without separators), `{a,b}`
/// alternatives and `[...]`/`[!...]` classes.
pub struct Glob(Regex);

impl Glob {
    /// Compiles `pattern`; an invalid pattern is a configuration error (Argo CD silently
    /// matches nothing instead, which would exclude nothing or include nothing).
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let mut re = String::from("^(?s:");
        let mut chars = pattern.chars().peekable();
        let mut depth = 0usize;
        while let Some(c) = chars.next() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                '{' => {
                    depth += 1;
                    re.push_str("(?:");
                }
                '}' if depth > 0 => {
                    depth -= 1;
                    re.push(')');
                }
                ',' if depth > 0 => re.push('|'),
                '[' => {
                    re.push('[');
                    if chars.peek() == Some(&'!') {
                        chars.next();
                        re.push('^');
                    }
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == ']' {
                            closed = true;
                            break;
                        }
                        if c == '\\' || c == '[' || c == '&' || c == '~' {
                            re.push('\\');
                        }
                        re.push(c);
                    }
                    if !closed {
                        return Err(format!("glob '{pattern}': unclosed ["));
                    }
                    re.push(']');
                }
                '\\' => match chars.next() {
                    Some(n) => re.push_str(&regex::escape(&n.to_string())),
                    None => return Err(format!("glob '{pattern}': trailing \\")),
                },
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        if depth != 0 {
            return Err(format!("glob '{pattern}': unclosed {{"));
        }
        re.push_str(")$");
        Regex::new(&re)
            .map(Glob)
            .map_err(|e| format!("glob '{pattern}': {e}"))
    }

    /// Whether `rel` matches.
    pub fn matches(&self, rel: &str) -> bool {
        self.0.is_match(rel)
    }
}

/// The selection rule of one directory source.
pub struct Selection {
    /// Enter subdirectories.
    pub recurse: bool,
    /// Only files matching this.
    pub include: Option<Glob>,
    /// Never files matching this (checked first).
    pub exclude: Option<Glob>,
}

/// What to do with a file at `rel` (relative to the application path).
#[derive(Debug, PartialEq, Eq)]
pub enum Pick {
    /// Not a manifest for this consumer.
    Skip,
    /// Read it.
    Read,
    /// A manifest format the gate cannot render (refuse).
    Unsupported,
}

impl Selection {
    /// Decides for one file.
    pub fn pick(&self, rel: &str) -> Pick {
        if !self.recurse && rel.contains('/') {
            return Pick::Skip;
        }
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let manifest = name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json");
        let jsonnet = name.ends_with(".jsonnet");
        if !manifest && !jsonnet {
            return Pick::Skip;
        }
        if self.exclude.as_ref().is_some_and(|g| g.matches(rel)) {
            return Pick::Skip;
        }
        if self.include.as_ref().is_some_and(|g| !g.matches(rel)) {
            return Pick::Skip;
        }
        if jsonnet {
            Pick::Unsupported
        } else {
            Pick::Read
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argo_cd_glob_semantics() {
        let g = Glob::new("*.yaml").unwrap();
        assert!(g.matches("a.yaml"));
        assert!(
            g.matches("sub/a.yaml"),
            "* matches / as in gobwas/glob without separators"
        );
        assert!(!g.matches("a.yml"));
        let g = Glob::new("{config.json,env-usw2/*}").unwrap();
        assert!(g.matches("config.json"));
        assert!(g.matches("env-usw2/x.yaml"));
        assert!(!g.matches("env-use1/x.yaml"));
        let g = Glob::new("[!s]*.yaml").unwrap();
        assert!(g.matches("a.yaml"));
        assert!(!g.matches("secret.yaml"));
        assert!(Glob::new("{a,b").is_err());
        assert!(Glob::new("[ab").is_err());
        let g = Glob::new("a.b+c(d).yaml").unwrap();
        assert!(g.matches("a.b+c(d).yaml"));
        assert!(!g.matches("aXb+c(d).yaml"));
    }

    #[test]
    fn picks_like_argo_cd() {
        let s = Selection {
            recurse: false,
            include: None,
            exclude: Some(Glob::new("skip*").unwrap()),
        };
        assert_eq!(s.pick("a.yaml"), Pick::Read);
        assert_eq!(s.pick("a.json"), Pick::Read);
        assert_eq!(s.pick("sub/a.yaml"), Pick::Skip);
        assert_eq!(s.pick("skip.yaml"), Pick::Skip);
        assert_eq!(s.pick("README.md"), Pick::Skip);
        assert_eq!(s.pick("app.jsonnet"), Pick::Unsupported);
        let s = Selection {
            recurse: true,
            include: Some(Glob::new("*.yaml").unwrap()),
            exclude: None,
        };
        assert_eq!(s.pick("sub/a.yaml"), Pick::Read);
        assert_eq!(s.pick("sub/a.json"), Pick::Skip);
    }
}
