//! URLs made safe to show: wherever a URL is logged, served (`/status`, the HTML page),
//! notified or put into an error message, it goes through this module first.
//!
//! The shown form keeps what locates the resource and marks what may authenticate it:
//! - `scheme://user:pass@host:port/path?query#fragment` → `scheme://***@host:port/path?***#***`
//!   (scheme, host, port and path kept; userinfo, query and fragment each replaced by `***`,
//!   so a reader still sees that something was there);
//! - scp-like git locations `user@host:path` → `***@host:path` (an ssh user name is not a
//!   secret, but one rule for every userinfo is easier to trust);
//! - anything else (a local path) keeps its text up to a `?` or `#`, whose rest is replaced.

/// `u` with its userinfo, query and fragment replaced by `***` (see the module docs).
pub fn url(u: &str) -> String {
    let (head, rest) = match u.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => {
            // The authority ends at the first `/`; a `?`, `#` or `@` before it that is not
            // the userinfo's `@` only makes us hide more, never less.
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => (format!("{scheme}://***@"), &rest[at + 1..]),
                None => (format!("{scheme}://"), rest),
            }
        }
        _ => match scp_userinfo_end(u) {
            Some(at) => ("***@".to_string(), &u[at + 1..]),
            None => (String::new(), u),
        },
    };
    let mut out = head;
    match rest.find(['?', '#']) {
        Some(i) => {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if tail.starts_with('?') {
                out.push_str("?***");
            }
            if tail.contains('#') {
                out.push_str("#***");
            }
        }
        None => out.push_str(rest),
    }
    out
}

/// Only `scheme://host[:port]` of `u` (or `host[:port]` without a scheme): for endpoints whose
/// path is itself the secret, such as Slack incoming webhooks.
pub fn origin(u: &str) -> String {
    let (scheme, rest) = match u.split_once("://") {
        Some((s, r)) if is_scheme(s) => (s, r),
        _ => ("", u),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if scheme.is_empty() {
        host.to_string()
    } else {
        format!("{scheme}://{host}")
    }
}

/// `s` with every `scheme://…` URL in it redacted by [`url`]; a URL ends at white space or
/// a quote.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |j| j + 1);
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '<' | '>'))
            .map_or(rest.len(), |j| i + j);
        out.push_str(&rest[..start]);
        let candidate = &rest[start..end];
        if is_scheme(&rest[start..i]) {
            out.push_str(&url(candidate));
        } else {
            out.push_str(candidate);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `s` redacted by [`text`], and every secret part of the `known` URL (`userinfo@`, query,
/// fragment) replaced wherever it still appears: git names a `file://` or local source by its
/// bare path, which [`text`] cannot recognise as a URL. Parts shorter than 4 characters are
/// left to [`text`] (replacing `a` everywhere would leave nothing readable).
pub fn scrub(s: &str, known: &str) -> String {
    let mut out = text(s);
    let mut parts = secret_parts(known);
    parts.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    for (part, with) in parts {
        if part.len() >= 4 {
            out = out.replace(part, with);
        }
    }
    out
}

/// The parts of `u` that [`url`] hides, each with what replaces it.
fn secret_parts(u: &str) -> Vec<(&str, &'static str)> {
    let mut parts = Vec::new();
    let rest = match u.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => {
                    parts.push((&rest[..=at], "***@"));
                    &rest[at + 1..]
                }
                None => rest,
            }
        }
        _ => match scp_userinfo_end(u) {
            Some(at) => {
                parts.push((&u[..=at], "***@"));
                &u[at + 1..]
            }
            None => u,
        },
    };
    if let Some(i) = rest.find(['?', '#']) {
        let tail = &rest[i + 1..];
        match tail.split_once('#') {
            Some((query, fragment)) if rest[i..].starts_with('?') => {
                parts.push((query, "***"));
                parts.push((fragment, "***"));
            }
            _ => parts.push((tail, "***")),
        }
    }
    parts
}

/// An RFC 3986 scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// For git's scp-like syntax (`[user@]host:path`, a `:` before any `/`), the index of the `@`
/// ending the user part.
fn scp_userinfo_end(u: &str) -> Option<usize> {
    let colon = u.find(':')?;
    if u[..colon].contains('/') {
        return None;
    }
    u[..colon].rfind('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for (input, want) in [
            (
                "https://user:tok@git.example.com:8443/org/repo.git?private_token=abc#frag",
                "https://***@git.example.com:8443/org/repo.git?***#***",
            ),
            (
                "https://git.example.com/org/repo.git?private_token=abc",
                "https://git.example.com/org/repo.git?***",
            ),
            ("https://tok@host/x.git", "https://***@host/x.git"),
            ("https://host?token=x", "https://host?***"),
            ("https://u:p@ss@host/x", "https://***@host/x"),
            ("ssh://git@host:22/x.git", "ssh://***@host:22/x.git"),
            ("file:///srv/repo.git#f", "file:///srv/repo.git#***"),
            ("git@github.com:org/repo.git", "***@github.com:org/repo.git"),
            ("github.com:org/repo.git?x=1", "github.com:org/repo.git?***"),
            ("/srv/repo?private_token=abc", "/srv/repo?***"),
            ("/srv/a@b:c/repo", "/srv/a@b:c/repo"),
            ("https://host/plain.git", "https://host/plain.git"),
        ] {
            assert_eq!(url(input), want, "{input}");
            assert_eq!(url(want), want, "idempotent: {want}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://hooks.slack.com/services/T/B/SECRET?x=1"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            origin("https://user:pw@example.com:8443/p?token=t#f"),
            "https://example.com:8443"
        );
        assert_eq!(origin("example.com/a?b"), "example.com");
    }

    #[test]
    fn free_text() {
        assert_eq!(
            text("fatal: unable to access 'https://user:tok@github.com/x.git/': 403"),
            "fatal: unable to access 'https://***@github.com/x.git/': 403"
        );
        assert_eq!(
            text("see http://h/p?token=SECRET and git+ssh://u@h/x; done"),
            "see http://h/p?*** and git+ssh://***@h/x; done"
        );
        assert_eq!(text("no url here"), "no url here");
        assert_eq!(text("no url here: a://"), "no url here: a://");
        assert_eq!(text("odd ://x?y"), "odd ://x?y");
    }

    #[test]
    fn known_url_parts_are_scrubbed_in_any_form() {
        let known = "file://alice:USECRET@localhost/srv/repo?private_token=QSECRET#FSECRET";
        let shown = scrub(
            "fatal: '/srv/repo?private_token=QSECRET#FSECRET' does not appear to be a git \
             repository (file://alice:USECRET@localhost/srv/repo)",
            known,
        );
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("/srv/repo"), "{shown}");
        // An ssh user name is replaced only together with its `@`.
        assert_eq!(
            scrub("git fetch: git@host:x failed", "git@host:x"),
            "git fetch: ***@host:x failed"
        );
    }
}
