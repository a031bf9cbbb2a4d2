//! Origins of the URLs a registry client talks to: where a credential may be sent.
//!
//! Every URL a registry hands back (a bearer challenge's `realm`, a blob upload `Location`, a
//! redirect's `Location`) is parsed here with `http::Uri`, the parser ureq itself connects
//! with (re-exported as `ureq::http`), and the parsed [`Uri`] (not the string) is what the
//! request is then sent to: the host checked is the host connected to, with no second parser
//! to disagree. URLs with userinfo (`user@host`) are refused: a registry has no use for them,
//! and they only serve to make a URL look as if it named another host
//! (`http://localhost:1@evil.example/` is a request to `evil.example`).

use std::fmt;

use ureq::http::Uri;

/// `scheme://host:port` of an absolute `http`/`https` URL: the host in lower case, the port
/// explicit (80 or 443 when the URL has none). Two URLs share an origin when all three are
/// equal (RFC 6454).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    https: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of a URL [`parse`] accepted.
    pub fn of(uri: &Uri) -> Result<Origin, String> {
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            _ => {
                return Err(format!(
                    "{} is not an http or https URL",
                    redacted(&uri.to_string())
                ));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{} names no host", redacted(&uri.to_string())))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "{} carries userinfo (user@host)",
                redacted(&uri.to_string())
            ));
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("{} names no host", redacted(&uri.to_string())));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Origin { https, host, port })
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host, lower case, without the port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The names a registry pattern (`127.0.0.1:*`, `localhost:5000`, `registry.local`) is
    /// matched against: `host:port`, and also `host` alone when the port is the scheme's
    /// default.
    pub fn names(&self) -> Vec<String> {
        let mut names = vec![format!("{}:{}", self.host, self.port)];
        if self.port == if self.https { 443 } else { 80 } {
            names.push(self.host.clone());
        }
        names
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// Parses an absolute `http`/`https` URL with a host and no userinfo.
pub fn parse(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{:?} is not a URL: {e}", redacted(url)))?;
    Origin::of(&uri)?;
    Ok(uri)
}

/// Resolves a `Location` header value against the URL of the request it answered: an absolute
/// URL, a network-path (`//host/p`), absolute-path (`/p`), query-only (`?q`) or relative-path
/// (`p`, `../p`) reference (RFC 9110 §10.2.2, RFC 3986 §5.2), then checks it as [`parse`] does.
pub fn resolve(base: &Uri, location: &str) -> Result<Uri, String> {
    let location = location.trim();
    if location.is_empty() {
        return Err("empty Location".into());
    }
    let scheme = base.scheme_str().unwrap_or("https");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    let has_scheme = location
        .split_once(':')
        .is_some_and(|(s, _)| is_scheme(s) && !s.contains('/'));
    let joined = if has_scheme {
        location.to_string()
    } else if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{}", remove_dot_segments(location))
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{}{location}", base.path())
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!(
            "{scheme}://{authority}{}",
            remove_dot_segments(&format!("{dir}/{location}"))
        )
    };
    parse(&joined)
}

/// `uri` with `extra` (`name=value&…`, already percent-encoded) appended to its query.
pub fn with_query(uri: &Uri, extra: &str) -> Result<Uri, String> {
    let s = uri.to_string();
    let sep = if uri.query().is_some() { '&' } else { '?' };
    parse(&format!("{s}{sep}{extra}"))
}

/// RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// RFC 3986 §5.2.4 on an absolute path (query kept as is).
fn remove_dot_segments(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    s
}

/// A URL for an error message: [`crate::redact::url`] (userinfo, query and fragment hidden;
/// signed URLs carry their signature in the query), at most 120 characters.
fn redacted(url: &str) -> String {
    crate::redact::url(url).chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Result<String, String> {
        parse(url)
            .and_then(|u| Origin::of(&u))
            .map(|o| o.to_string())
    }

    #[test]
    fn origins_are_scheme_host_port() {
        assert_eq!(
            origin("https://GHCR.io/v2/").unwrap(),
            "https://ghcr.io:443"
        );
        assert_eq!(
            origin("http://127.0.0.1:5000/t?x=1").unwrap(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(origin("http://[::1]:5000/").unwrap(), "http://[::1]:5000");
        assert_eq!(
            parse("https://ghcr.io").and_then(|u| Origin::of(&u)),
            parse("https://ghcr.io:443/token").and_then(|u| Origin::of(&u))
        );
        assert_ne!(
            origin("http://a.io").unwrap(),
            origin("https://a.io").unwrap()
        );
    }

    #[test]
    fn userinfo_and_odd_urls_are_refused() {
        for url in [
            "http://localhost:1@evil.example/t",
            "http://localhost:1@127.0.0.1:5000/t",
            "https://user:pass@ghcr.io/token",
            "https://@ghcr.io/token",
            "ftp://ghcr.io/token",
            "file:///etc/passwd",
            "/token",
            "ghcr.io/token",
            "https:///token",
            "http://a b/",
            "http://a\\@b/",
        ] {
            assert!(parse(url).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base = parse("http://127.0.0.1:5000/v2/team/app/blobs/uploads/").unwrap();
        let r = |l: &str| resolve(&base, l).map(|u| u.to_string());
        assert_eq!(
            r("/v2/team/app/blobs/uploads/abc?_state=x").unwrap(),
            "http://127.0.0.1:5000/v2/team/app/blobs/uploads/abc?_state=x"
        );
        assert_eq!(
            r("abc?s=1").unwrap(),
            "http://127.0.0.1:5000/v2/team/app/blobs/uploads/abc?s=1"
        );
        assert_eq!(
            r("../../manifests/x").unwrap(),
            "http://127.0.0.1:5000/v2/team/app/manifests/x"
        );
        assert_eq!(r("/a/./b/../c").unwrap(), "http://127.0.0.1:5000/a/c");
        assert_eq!(
            r("?q=1").unwrap(),
            "http://127.0.0.1:5000/v2/team/app/blobs/uploads/?q=1"
        );
        assert_eq!(r("//cdn.example/x").unwrap(), "http://cdn.example/x");
        assert_eq!(
            r("https://cdn.example/x?sig=1").unwrap(),
            "https://cdn.example/x?sig=1"
        );
        assert!(r("http://localhost:1@evil.example/t").is_err());
        assert!(r("//user@evil.example/t").is_err());
        assert!(r("").is_err());
        assert!(r("javascript:alert(1)").is_err());
    }

    #[test]
    fn queries_are_appended() {
        let u = parse("https://auth.example/token").unwrap();
        assert_eq!(
            with_query(&u, "scope=a").unwrap().to_string(),
            "https://auth.example/token?scope=a"
        );
        let u = parse("https://auth.example/token?v=2").unwrap();
        assert_eq!(
            with_query(&u, "scope=a").unwrap().to_string(),
            "https://auth.example/token?v=2&scope=a"
        );
    }

    #[test]
    fn messages_hide_userinfo_and_queries() {
        let e = parse("http://ci:hunter2@evil.example/t?sig=s3cr3t").unwrap_err();
        assert!(e.contains("http://***@evil.example/t?***"), "{e}");
        assert!(!e.contains("hunter2") && !e.contains("s3cr3t"), "{e}");
        let e = parse("ftp://ghcr.io/x?token=s3cr3t").unwrap_err();
        assert!(!e.contains("s3cr3t"), "{e}");
        let e = parse("http://a b/?token=s3cr3t").unwrap_err();
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn pattern_names() {
        let o = Origin::of(&parse("http://localhost/t").unwrap()).unwrap();
        assert_eq!(o.names(), ["localhost:80", "localhost"]);
        let o = Origin::of(&parse("http://localhost:5001/t").unwrap()).unwrap();
        assert_eq!(o.names(), ["localhost:5001"]);
    }
}
