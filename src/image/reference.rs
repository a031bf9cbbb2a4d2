//! Container image references (the distribution reference grammar), normalised as the
//! container runtimes do: `nginx` → `docker.io/library/nginx:latest`.

use std::fmt;

/// A parsed, normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (and port) in canonical form (see [`canonical_registry`]), e.g.
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`: the identity rules match and requests use.
    pub registry: String,
    /// Repository path, e.g. `library/nginx`.
    pub repository: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest (`sha256:<hex>`), if any.
    pub digest: Option<String>,
}

fn path_component_ok(c: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_lowercase() || b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        // An empty `sep` is a character outside the grammar (and would never advance `i`).
        let ok = !sep.is_empty()
            && (sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-'));
        if !ok || i == b.len() {
            return false;
        }
    }
    true
}

/// The distribution grammar's domain: dot-separated labels of letters, digits and inner
/// hyphens, or a bracketed IPv6 address, then an optional decimal port.
fn host_ok(h: &str) -> bool {
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, after)) => {
                if v6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                match after {
                    "" => return true,
                    p => ("x", p.strip_prefix(':').unwrap_or("bad")),
                }
            }
            None => return false,
        }
    } else {
        match h.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (h, "0"),
        }
    };
    let port_ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    port_ok && !host.is_empty() && host.len() <= 253 && host.split('.').all(label_ok)
}

fn tag_ok(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

fn digest_ok(d: &str) -> bool {
    match d.split_once(':') {
        Some(("sha256", hex)) => {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        Some(("sha512", hex)) => {
            hex.len() == 128
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        _ => false,
    }
}

impl Reference {
    /// Parses and normalises a reference; errors say what is wrong.
    pub fn parse(s: &str) -> Result<Reference, String> {
        let bad = |why: &str| format!("invalid image reference '{s}': {why}");
        if s.is_empty() || s.len() > 4096 || s.trim() != s {
            return Err(bad("empty, too long or padded with spaces"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !digest_ok(d) {
                    return Err(bad(
                        "the digest must be sha256:<64 hex> or sha512:<128 hex>",
                    ));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag
            && !tag_ok(t)
        {
            return Err(bad("invalid tag"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.')
                    || first.contains(':')
                    || first.eq_ignore_ascii_case("localhost") =>
            {
                (first.to_string(), path.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        if !host_ok(&registry) {
            return Err(bad(
                "the registry must be a host name or IP address with an optional :port",
            ));
        }
        let registry = canonical_registry(&registry);
        let path = if registry == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.is_empty() || !path.split('/').all(path_component_ok) {
            return Err(bad(
                "repository names are lowercase letters, digits and . _ - separators",
            ));
        }
        Ok(Reference {
            registry,
            repository: path,
            tag: tag.map(String::from),
            digest,
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// A registry host in the one form rules, signature repositories, credentials and requests
/// use: lower case (DNS names are case-insensitive; repository paths are not and stay as they
/// are), without the HTTPS default port `:443`, and Docker Hub's other host names
/// (`index.docker.io`, `registry-1.docker.io`) as `docker.io`. A registry reached over plain
/// HTTP on port 443 is therefore not expressible (it would become port 80).
pub fn canonical_registry(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    // Dropping the port must leave a name that still reads as a registry (a dot, a colon or
    // `localhost`): `intranet:443/app` stays as it is, or its display would name Docker Hub.
    let host = match host.strip_suffix(":443") {
        Some(h) if h.contains('.') || h.contains(':') || h == "localhost" => h,
        _ => &host,
    };
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// `registry/repository` (a name or a glob over names) with its registry part in canonical
/// form; the repository part is left as it is.
pub fn canonical_name(name: &str) -> String {
    match name.split_once('/') {
        Some((host, path)) => format!("{}/{path}", canonical_registry(host)),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalisation() {
        for (input, want) in [
            ("nginx", "docker.io/library/nginx"),
            ("nginx:1.27", "docker.io/library/nginx:1.27"),
            ("bitnami/redis", "docker.io/bitnami/redis"),
            ("index.docker.io/library/nginx", "docker.io/library/nginx"),
            ("ghcr.io/org/app:v1", "ghcr.io/org/app:v1"),
            ("localhost/app", "localhost/app"),
            ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000/a/b:t"),
            ("[::1]:5000/a", "[::1]:5000/a"),
            ("My-Registry.example.com/a", "my-registry.example.com/a"),
        ] {
            assert_eq!(
                Reference::parse(input).unwrap().to_string(),
                want,
                "{input}"
            );
        }
        let r = Reference::parse(&format!("ghcr.io/org/app:v1@{D}")).unwrap();
        assert_eq!(
            (r.tag.as_deref(), r.digest.as_deref()),
            (Some("v1"), Some(D))
        );
        for bad in [
            "",
            "UPPER/case",
            "a//b",
            "app:",
            "app@sha256:abc",
            "app:-x",
            " nginx",
            "a b.c/x",
            "ev\nil.io/x",
            "evil.com#.good.io/x",
            "evil.com?x=.io/y",
            "host:port/x",
            "[::1/x",
            "aA",
            "ngin%x",
            "org/app:v1x/Y",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registry_hosts_are_canonical() {
        for input in [
            "GHCR.IO/org/app",
            "ghcr.io:443/org/app",
            "Ghcr.Io:443/org/app",
            "ghcr.io/org/app",
        ] {
            let r = Reference::parse(input).unwrap();
            assert_eq!(
                (r.registry.as_str(), r.name()),
                ("ghcr.io", "ghcr.io/org/app".into())
            );
        }
        for (input, want) in [
            ("LOCALHOST/app", "localhost/app"),
            ("DOCKER.IO/nginx", "docker.io/library/nginx"),
            ("index.docker.io:443/x/y", "docker.io/x/y"),
            ("[::1]:443/a", "[::1]/a"),
            ("ghcr.io:4430/a", "ghcr.io:4430/a"),
            ("0:443/y", "0:443/y"),
            ("intranet:443/app", "intranet:443/app"),
            ("localhost:443/app", "localhost/app"),
            ("ghcr.io:5000/a", "ghcr.io:5000/a"),
        ] {
            assert_eq!(Reference::parse(input).unwrap().name(), want, "{input}");
        }
        // Only the host is case-insensitive: repository paths keep the grammar's lower case.
        assert!(Reference::parse("ghcr.io/Org/app").is_err());
        assert_eq!(canonical_name("GHCR.io:443/org/**"), "ghcr.io/org/**");
    }
}
