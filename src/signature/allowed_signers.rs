//! The `allowed_signers` file of ssh-keygen(1): principals, options (`cert-authority`,
//! `namespaces=`, `valid-after=`, `valid-before=`), key. Every problem in a file is reported.

use std::str::FromStr;

use ssh_key::public::KeyData;

/// One line of an allowed_signers file.
#[derive(Debug, Clone)]
pub struct AllowedSigner {
    /// Principal patterns (`*`, `?`, `!` negation).
    pub principals: Vec<String>,
    /// The key is a CA: signatures by certificates it issued are accepted.
    pub cert_authority: bool,
    /// Namespace patterns the key may sign for (None = any).
    pub namespaces: Option<Vec<String>>,
    /// Not valid before this time (Unix seconds).
    pub valid_after: Option<i64>,
    /// Not valid at or after this time (Unix seconds).
    pub valid_before: Option<i64>,
    /// The key (or CA key).
    pub key: KeyData,
    /// Line number, for messages.
    pub line: usize,
}

/// Splits at whitespace outside double quotes; returns (token, rest).
fn token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let mut in_q = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_q = !in_q,
            ' ' | '\t' if !in_q => return (&s[..i], &s[i..]),
            _ => {}
        }
    }
    (s, "")
}

fn unquote(v: &str) -> Result<String, String> {
    let inner = v.strip_prefix('"').ok_or("missing start quote")?;
    let inner = inner.strip_suffix('"').ok_or("missing end quote")?;
    if inner.contains('"') {
        return Err("stray quote".into());
    }
    Ok(inner.to_string())
}

/// Splits a comma list outside quotes.
fn split_commas(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut in_q, mut start) = (false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_q = !in_q,
            ',' if !in_q => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]`; read as UTC (ssh-keygen uses local time without `Z`).
pub fn parse_time(v: &str) -> Result<i64, String> {
    let digits = v.strip_suffix(['Z', 'z']).unwrap_or(v);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(format!(
            "invalid time '{v}' (YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z])"
        ));
    }
    let n = |r: std::ops::Range<usize>| {
        digits
            .get(r)
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let month =
        time::Month::try_from(n(4..6) as u8).map_err(|_| format!("invalid month in '{v}'"))?;
    let date = time::Date::from_calendar_date(n(0..4) as i32, month, n(6..8) as u8)
        .map_err(|_| format!("invalid date '{v}'"))?;
    let t = time::Time::from_hms(n(8..10) as u8, n(10..12) as u8, n(12..14) as u8)
        .map_err(|_| format!("invalid time of day in '{v}'"))?;
    Ok(time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp())
}

fn parse_line(line: &str, n: usize) -> Result<Option<AllowedSigner>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (principals_tok, rest) = token(line);
    let principals_raw = if principals_tok.starts_with('"') {
        unquote(principals_tok)?
    } else {
        principals_tok.to_string()
    };
    let principals: Vec<String> = principals_raw.split(',').map(String::from).collect();
    if principals.iter().any(|p| p.is_empty()) {
        return Err("empty principal".into());
    }
    let (mut next, mut rest) = token(rest);
    let mut signer = AllowedSigner {
        principals,
        cert_authority: false,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key: KeyData::Ed25519(ssh_key::public::Ed25519PublicKey([0; 32])),
        line: n,
    };
    if ssh_key::Algorithm::from_str(next).is_err() {
        let mut seen = Vec::new();
        for opt in split_commas(next) {
            let (name, value) = match opt.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
                None => (opt.to_ascii_lowercase(), None),
            };
            if seen.contains(&name) {
                return Err(format!("option '{name}' given twice"));
            }
            seen.push(name.clone());
            match (name.as_str(), value) {
                ("cert-authority", None) => signer.cert_authority = true,
                ("namespaces", Some(v)) => {
                    signer.namespaces = Some(unquote(v)?.split(',').map(String::from).collect());
                }
                ("valid-after", Some(v)) => signer.valid_after = Some(parse_time(&unquote(v)?)?),
                ("valid-before", Some(v)) => signer.valid_before = Some(parse_time(&unquote(v)?)?),
                _ => return Err(format!("unknown or malformed option '{opt}'")),
            }
        }
        (next, rest) = token(rest);
    }
    if let (Some(a), Some(b)) = (signer.valid_after, signer.valid_before)
        && b < a
    {
        return Err("valid-before is earlier than valid-after".into());
    }
    let (blob, _comment) = token(rest);
    let key = ssh_key::PublicKey::from_openssh(&format!("{next} {blob}"))
        .map_err(|e| format!("invalid key: {e}"))?;
    signer.key = key.key_data().clone();
    Ok(Some(signer))
}

/// Parses a whole file; every bad line is reported (`path:line: problem`).
pub fn parse(text: &str, origin: &str) -> Result<Vec<AllowedSigner>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line, i + 1) {
            Ok(Some(s)) => out.push(s),
            Ok(None) => {}
            Err(e) => errors.push(format!("{origin}:{}: {e}", i + 1)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// `ssh_config` PATTERNS: `*` and `?` wildcards.
pub fn match_pattern(s: &str, p: &str) -> bool {
    let (s, p): (Vec<char>, Vec<char>) = (s.chars().collect(), p.chars().collect());
    let (mut si, mut pi, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// A pattern list matches when a positive pattern matches and no negated one does.
pub fn match_pattern_list(s: &str, patterns: &[String]) -> bool {
    let mut ok = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if match_pattern(s, neg) {
                return false;
            }
        } else if match_pattern(s, p) {
            ok = true;
        }
    }
    ok
}

/// A revocation list: plain public keys, one per line (binary KRLs are refused).
pub fn parse_revoked(data: &[u8], origin: &str) -> Result<Vec<KeyData>, String> {
    if data.starts_with(b"SSHKRL\n\0") {
        return Err(format!(
            "{origin}: binary KRLs are not supported yet; list revoked public keys one per line"
        ));
    }
    let text = std::str::from_utf8(data).map_err(|_| format!("{origin}: not text"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let k = ssh_key::PublicKey::from_openssh(line)
            .map_err(|e| format!("{origin}:{}: invalid key: {e}", i + 1))?;
        out.push(k.key_data().clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEQmNkXsHhCgdAs0bDW7sXoGcBX0QXmW6yoiBgTOgJgF";

    #[test]
    fn grammar() {
        let text = format!(
            "# comment\nalice@example.com {KEY}\n*@example.com,!bob@example.com namespaces=\"git,file\",valid-after=\"20200101\",VALID-BEFORE=\"20300101Z\" {KEY} comment\n\"carol@x\" cert-authority {KEY}\n"
        );
        let s = parse(&text, "f").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].namespaces.as_ref().unwrap(), &["git", "file"]);
        assert_eq!(s[1].valid_after, Some(1577836800));
        assert!(s[2].cert_authority && s[2].principals == ["carol@x"]);
        assert!(match_pattern_list("eve@example.com", &s[1].principals));
        assert!(!match_pattern_list("bob@example.com", &s[1].principals));
        let bad = format!(
            "a valid-before=20210101 {KEY}\nb valid-after=\"20300101\",valid-before=\"20200101\" {KEY}\nc namespaces=\"git\",namespaces=\"x\" {KEY}\nd bogus {KEY}\ne ssh-ed25519 AAAA\n"
        );
        assert_eq!(parse(&bad, "f").unwrap_err().len(), 5);
    }

    #[test]
    fn patterns() {
        assert!(match_pattern("a@b.c", "*@b.c"));
        assert!(match_pattern("ab", "a?"));
        assert!(!match_pattern("abc", "a?"));
        assert!(match_pattern("", "*"));
    }
}
