//! Raw commit and tag objects: headers, the exact signed payload git hashes, and refusal of
//! ambiguous objects (duplicate or stray signature headers, NUL bytes, data after a tag's
//! signature). Objects are never re-serialised: the payload is cut from the raw bytes.

use std::ops::Range;

/// The repository's object format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgo {
    /// SHA-1 (with collision detection, as git does).
    Sha1,
    /// SHA-256.
    Sha256,
}

impl HashAlgo {
    /// The commit header git signs with in this format.
    pub fn signature_header(self) -> &'static [u8] {
        match self {
            HashAlgo::Sha1 => b"gpgsig",
            HashAlgo::Sha256 => b"gpgsig-sha256",
        }
    }

    /// Length of an object id in hex.
    pub fn hex_len(self) -> usize {
        match self {
            HashAlgo::Sha1 => 40,
            HashAlgo::Sha256 => 64,
        }
    }

    /// Hashes an object as git does (`<kind> <len>\0<body>`), lowercase hex.
    pub fn object_id(self, kind: &str, body: &[u8]) -> String {
        let header = format!("{kind} {}\0", body.len());
        match self {
            HashAlgo::Sha1 => {
                use sha1collisiondetection::Sha1CD;
                use sha2::Digest;
                let mut h = Sha1CD::default();
                h.update(header.as_bytes());
                h.update(body);
                hex::encode(h.finalize())
            }
            HashAlgo::Sha256 => {
                use sha2::Digest;
                let mut h = sha2::Sha256::new();
                h.update(header.as_bytes());
                h.update(body);
                hex::encode(h.finalize())
            }
        }
    }
}

/// Why an object is refused before any signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRefusal {
    /// Stable reason code.
    pub code: &'static str,
    /// What exactly is wrong.
    pub detail: String,
}

fn refuse(code: &'static str, detail: impl Into<String>) -> ObjectRefusal {
    ObjectRefusal {
        code,
        detail: detail.into(),
    }
}

/// A person line (`author`, `committer`, `tagger`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// The email, without angle brackets.
    pub email: String,
    /// Seconds since the epoch, as written (signer-controlled).
    pub time: i64,
    /// The time zone, e.g. `+0200`.
    pub tz: String,
}

fn parse_ident(v: &[u8]) -> Result<Ident, ObjectRefusal> {
    let bad = || refuse("malformed-object", "malformed identity line");
    let s = std::str::from_utf8(v).map_err(|_| bad())?;
    let lt = s.find('<').ok_or_else(bad)?;
    let gt = s[lt..].find('>').ok_or_else(bad)? + lt;
    let name = s[..lt].trim_end().to_string();
    let email = s[lt + 1..gt].to_string();
    let mut rest = s[gt + 1..].split_whitespace();
    let time = rest.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
    let tz = rest.next().unwrap_or("+0000").to_string();
    if rest.next().is_some() {
        return Err(bad());
    }
    Ok(Ident {
        name,
        email,
        time,
        tz,
    })
}

/// The signature format, from its armor line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigFormat {
    /// `-----BEGIN PGP SIGNATURE-----` (or `PGP MESSAGE`).
    OpenPgp,
    /// `-----BEGIN SSH SIGNATURE-----`.
    Ssh,
    /// `-----BEGIN SIGNED MESSAGE-----` (gpgsm, gitsign).
    X509,
    /// A `SIGNED MESSAGE` whose signer certificate is a Sigstore (Fulcio) one: gitsign.
    /// Never returned by [`SigFormat::of`]; the verifier tells it from the certificate.
    Gitsign,
    /// Anything else.
    Unknown,
}

impl SigFormat {
    /// The format of an armored signature.
    pub fn of(sig: &[u8]) -> SigFormat {
        let first = sig.split(|&b| b == b'\n').next().unwrap_or(b"");
        match first {
            b"-----BEGIN PGP SIGNATURE-----" | b"-----BEGIN PGP MESSAGE-----" => SigFormat::OpenPgp,
            b"-----BEGIN SSH SIGNATURE-----" => SigFormat::Ssh,
            b"-----BEGIN SIGNED MESSAGE-----" => SigFormat::X509,
            _ => SigFormat::Unknown,
        }
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            SigFormat::OpenPgp => "openpgp",
            SigFormat::Ssh => "ssh",
            SigFormat::X509 => "x509",
            SigFormat::Gitsign => "gitsign",
            SigFormat::Unknown => "unknown",
        }
    }
}

const ARMOR_STARTS: [&[u8]; 4] = [
    b"-----BEGIN PGP SIGNATURE-----",
    b"-----BEGIN PGP MESSAGE-----",
    b"-----BEGIN SSH SIGNATURE-----",
    b"-----BEGIN SIGNED MESSAGE-----",
];

struct Header {
    name: Range<usize>,
    /// Value with continuation lines joined by `\n` (leading space removed).
    value: Vec<u8>,
    /// The whole header including continuation lines and their newlines.
    span: Range<usize>,
}

/// Splits the header block; returns headers and the offset where the message starts.
fn headers(raw: &[u8]) -> Result<(Vec<Header>, usize), ObjectRefusal> {
    let mut out: Vec<Header> = Vec::new();
    let mut pos = 0;
    loop {
        if pos >= raw.len() {
            return Err(refuse(
                "malformed-object",
                "missing blank line between headers and message",
            ));
        }
        let end = raw[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i)
            .ok_or_else(|| {
                refuse(
                    "malformed-object",
                    "missing blank line between headers and message",
                )
            })?;
        let line = &raw[pos..end];
        if line.contains(&0) {
            return Err(refuse("nul-in-header", "a NUL byte in the object headers"));
        }
        if line.is_empty() {
            return Ok((out, end + 1));
        }
        if line[0] == b' ' {
            let h = out
                .last_mut()
                .ok_or_else(|| refuse("malformed-object", "continuation line without a header"))?;
            h.value.push(b'\n');
            h.value.extend_from_slice(&line[1..]);
            h.span.end = end + 1;
        } else {
            let sp = line.iter().position(|&b| b == b' ').ok_or_else(|| {
                refuse(
                    "malformed-object",
                    format!(
                        "header line without a value: {}",
                        String::from_utf8_lossy(line)
                    ),
                )
            })?;
            out.push(Header {
                name: pos..pos + sp,
                value: line[sp + 1..].to_vec(),
                span: pos..end + 1,
            });
        }
        pos = end + 1;
    }
}

/// A parsed commit with the exact bytes that were signed.
#[derive(Debug)]
pub struct Commit {
    /// The tree id.
    pub tree: String,
    /// Parent ids in order.
    pub parents: Vec<String>,
    /// The author.
    pub author: Ident,
    /// The committer.
    pub committer: Ident,
    /// The armored signature (continuation indent removed), if any.
    pub signature: Option<Vec<u8>>,
    /// The raw object minus the signature header: what the signature covers.
    pub payload: Vec<u8>,
    /// Embedded signed tags of merged tags (`mergetag`), as tag object bytes.
    pub mergetags: Vec<Vec<u8>>,
    /// The message.
    pub message: Vec<u8>,
}

/// Parses a commit. Refuses duplicate singleton headers, more than one signature header,
/// `gpgsig*` headers other than this format's, and NUL bytes in the headers.
pub fn parse_commit(raw: &[u8], algo: HashAlgo) -> Result<Commit, ObjectRefusal> {
    let (hdrs, msg_start) = headers(raw)?;
    let name = |h: &Header| &raw[h.name.clone()];
    let sig_name = algo.signature_header();
    let mut tree = None;
    let mut parents = Vec::new();
    let (mut author, mut committer, mut encoding) = (None, None, 0);
    let mut signature: Option<&Header> = None;
    let mut mergetags = Vec::new();
    for (i, h) in hdrs.iter().enumerate() {
        let n = name(h);
        match n {
            b"tree" => {
                if i != 0 || tree.is_some() {
                    return Err(refuse(
                        "duplicate-header",
                        "tree must be the first and only tree header",
                    ));
                }
                tree = Some(oid(&h.value, algo)?);
            }
            b"parent" => {
                if author.is_some() || committer.is_some() {
                    return Err(refuse("malformed-object", "parent after author/committer"));
                }
                parents.push(oid(&h.value, algo)?);
            }
            b"author" => {
                if author.is_some() {
                    return Err(refuse("duplicate-header", "two author headers"));
                }
                author = Some(parse_ident(&h.value)?);
            }
            b"committer" => {
                if committer.is_some() {
                    return Err(refuse("duplicate-header", "two committer headers"));
                }
                committer = Some(parse_ident(&h.value)?);
            }
            b"encoding" => {
                encoding += 1;
                if encoding > 1 {
                    return Err(refuse("duplicate-header", "two encoding headers"));
                }
            }
            b"mergetag" => mergetags.push(with_newline(&h.value)),
            _ if n == sig_name => {
                if signature.is_some() {
                    return Err(refuse(
                        "duplicate-signature",
                        "more than one signature header",
                    ));
                }
                signature = Some(h);
            }
            _ if n.starts_with(b"gpgsig") => {
                return Err(refuse(
                    "stray-signature-header",
                    format!(
                        "header '{}' is dropped from the signed bytes by git, so it is unsigned",
                        String::from_utf8_lossy(n)
                    ),
                ));
            }
            _ => {}
        }
    }
    let tree = tree.ok_or_else(|| refuse("malformed-object", "no tree header"))?;
    let author = author.ok_or_else(|| refuse("malformed-object", "no author header"))?;
    let committer = committer.ok_or_else(|| refuse("malformed-object", "no committer header"))?;
    let (payload, signature) = match signature {
        Some(h) => {
            let mut p = Vec::with_capacity(raw.len());
            p.extend_from_slice(&raw[..h.span.start]);
            p.extend_from_slice(&raw[h.span.end..]);
            (p, Some(with_newline(&h.value)))
        }
        None => (raw.to_vec(), None),
    };
    Ok(Commit {
        tree,
        parents,
        author,
        committer,
        signature,
        payload,
        mergetags,
        message: raw[msg_start..].to_vec(),
    })
}

fn with_newline(v: &[u8]) -> Vec<u8> {
    let mut s = v.to_vec();
    s.push(b'\n');
    s
}

fn oid(v: &[u8], algo: HashAlgo) -> Result<String, ObjectRefusal> {
    let s =
        std::str::from_utf8(v).map_err(|_| refuse("malformed-object", "object id is not hex"))?;
    if s.len() != algo.hex_len()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(refuse(
            "malformed-object",
            format!("'{s}' is not an object id of this repository's format"),
        ));
    }
    Ok(s.to_string())
}

/// A parsed annotated tag.
#[derive(Debug)]
pub struct Tag {
    /// The tagged object id.
    pub object: String,
    /// The tagged object's type (`commit`, `tag`, ...).
    pub kind: String,
    /// The tag name stored in the object.
    pub name: String,
    /// The tagger (absent in some very old tags).
    pub tagger: Option<Ident>,
    /// The armored signature, if any.
    pub signature: Option<Vec<u8>>,
    /// What the signature covers: the object up to the signature block.
    pub payload: Vec<u8>,
}

/// Parses a tag. Refuses more than one signature block, data after the signature, and
/// `gpgsig*` headers (git strips them from the signed bytes).
pub fn parse_tag(raw: &[u8], algo: HashAlgo) -> Result<Tag, ObjectRefusal> {
    let (hdrs, msg_start) = headers(raw)?;
    let (mut object, mut kind, mut name, mut tagger) = (None, None, None, None);
    for h in &hdrs {
        let n = &raw[h.name.clone()];
        let dup = |x: bool, what: &str| {
            if x {
                Err(refuse("duplicate-header", format!("two {what} headers")))
            } else {
                Ok(())
            }
        };
        match n {
            b"object" => {
                dup(object.is_some(), "object")?;
                object = Some(oid(&h.value, algo)?);
            }
            b"type" => {
                dup(kind.is_some(), "type")?;
                kind = Some(String::from_utf8_lossy(&h.value).into_owned());
            }
            b"tag" => {
                dup(name.is_some(), "tag")?;
                name = Some(
                    String::from_utf8(h.value.clone())
                        .map_err(|_| refuse("malformed-object", "tag name is not UTF-8"))?,
                );
            }
            b"tagger" => {
                dup(tagger.is_some(), "tagger")?;
                tagger = Some(parse_ident(&h.value)?);
            }
            _ if n.starts_with(b"gpgsig") => {
                return Err(refuse(
                    "stray-signature-header",
                    format!(
                        "tag header '{}' is not covered by the tag's signature",
                        String::from_utf8_lossy(n)
                    ),
                ));
            }
            _ => {}
        }
    }
    let object = object.ok_or_else(|| refuse("malformed-object", "tag without object"))?;
    let kind = kind.ok_or_else(|| refuse("malformed-object", "tag without type"))?;
    let name = name.ok_or_else(|| refuse("malformed-object", "tag without name"))?;
    // Signature blocks start at the beginning of a line of the message.
    let mut starts = Vec::new();
    let mut pos = msg_start;
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| pos + i);
        if ARMOR_STARTS.iter().any(|a| &raw[pos..end] == *a) {
            starts.push(pos);
        }
        pos = end + 1;
    }
    let (signature, payload) = match starts.as_slice() {
        [] => (None, raw.to_vec()),
        [start] => {
            let sig = &raw[*start..];
            let end_marker = sig
                .windows(9)
                .position(|w| w == b"-----END ")
                .ok_or_else(|| refuse("malformed-object", "signature block without an END line"))?;
            let line_end = sig[end_marker..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| end_marker + i + 1);
            match line_end {
                Some(e) if e == sig.len() => {}
                _ => {
                    return Err(refuse(
                        "tag-trailing-data",
                        "bytes after the tag's signature block are not signed (git ignores them)",
                    ));
                }
            }
            (Some(sig.to_vec()), raw[..*start].to_vec())
        }
        _ => {
            return Err(refuse(
                "duplicate-signature",
                "the tag message holds more than one signature block",
            ));
        }
    };
    Ok(Tag {
        object,
        kind,
        name,
        tagger,
        signature,
        payload,
    })
}

/// Tree entry mode of a regular file.
pub const MODE_FILE: u32 = 0o100644;
/// Tree entry mode of an executable file.
pub const MODE_EXEC: u32 = 0o100755;
/// Tree entry mode of a symbolic link.
pub const MODE_SYMLINK: u32 = 0o120000;
/// Tree entry mode of a subtree.
pub const MODE_TREE: u32 = 0o040000;
/// Tree entry mode of a submodule (a commit id).
pub const MODE_GITLINK: u32 = 0o160000;
/// git's `canon_mode`.
pub fn canon_mode(mode: u32) -> u32 {
    match mode & 0o170000 {
        0o100000 => {
            if mode & 0o100 != 0 {
                MODE_EXEC
            } else {
                MODE_FILE
            }
        }
        0o120000 => MODE_SYMLINK,
        0o040000 => MODE_TREE,
        _ => MODE_GITLINK,
    }
}

/// The `tree <id>` header of a commit object (always its first line).
pub fn commit_tree_id(body: &[u8], algo: HashAlgo) -> Option<String> {
    let line = body.split(|&b| b == b'\n').next()?;
    let id = std::str::from_utf8(line.strip_prefix(b"tree ")?).ok()?;
    (id.len() == algo.hex_len() && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| id.to_string())
}

/// One entry of a tree object: name, canonical mode, id.
pub type TreeItem = (Vec<u8>, u32, String);

/// A raw tree object: `<octal mode> SP <name> NUL <binary id>`*.
pub fn parse_tree(mut body: &[u8], algo: HashAlgo) -> Option<Vec<TreeItem>> {
    let raw_len = algo.hex_len() / 2;
    let mut out = Vec::new();
    while !body.is_empty() {
        let sp = body.iter().position(|&b| b == b' ')?;
        let mode = std::str::from_utf8(&body[..sp]).ok()?;
        if mode.is_empty() || mode.len() > 6 || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        let mode = u32::from_str_radix(mode, 8).ok()?;
        let rest = &body[sp + 1..];
        let nul = rest.iter().position(|&b| b == 0)?;
        let name = rest[..nul].to_vec();
        let id = rest.get(nul + 1..nul + 1 + raw_len)?;
        let hex = hex::encode(id);
        out.push((name, canon_mode(mode), hex));
        body = &rest[nul + 1 + raw_len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n";

    fn commit(extra: &str) -> Vec<u8> {
        format!(
            "{T}author A <a@x> 1700000000 +0000\ncommitter C <c@x> 1700000001 +0100\n{extra}\nmsg\n"
        )
        .into_bytes()
    }

    #[test]
    fn payload_drops_exactly_the_signature_header() {
        let raw =
            commit("gpgsig -----BEGIN SSH SIGNATURE-----\n abc\n \n -----END SSH SIGNATURE-----\n");
        let c = parse_commit(&raw, HashAlgo::Sha1).unwrap();
        assert_eq!(
            c.signature.unwrap(),
            b"-----BEGIN SSH SIGNATURE-----\nabc\n\n-----END SSH SIGNATURE-----\n"
        );
        assert_eq!(c.payload, commit(""));
        assert_eq!(c.committer.email, "c@x");
        assert_eq!(c.committer.time, 1700000001);
    }

    #[test]
    fn ambiguous_commits_are_refused() {
        let sig = "gpgsig -----BEGIN SSH SIGNATURE-----\n x\n -----END SSH SIGNATURE-----\n";
        for (extra, code) in [
            (format!("{sig}{sig}"), "duplicate-signature"),
            (format!("{sig}gpgsigjunk x\n"), "stray-signature-header"),
            (
                "committer D <d@x> 1 +0000\n".to_string(),
                "duplicate-header",
            ),
            ("encoding a\nencoding b\n".to_string(), "duplicate-header"),
        ] {
            assert_eq!(
                parse_commit(&commit(&extra), HashAlgo::Sha1)
                    .unwrap_err()
                    .code,
                code,
                "{extra}"
            );
        }
        let mut nul = commit("");
        nul[5] = 0;
        assert_eq!(
            parse_commit(&nul, HashAlgo::Sha1).unwrap_err().code,
            "nul-in-header"
        );
        // In a SHA-256 repository the SHA-1 signature header is the stray one.
        assert_eq!(
            parse_commit(&commit(sig), HashAlgo::Sha256)
                .unwrap_err()
                .code,
            "malformed-object" // the tree id is not a SHA-256 id
        );
    }

    #[test]
    fn tags() {
        let base = format!(
            "object {}\ntype commit\ntag v1\ntagger T <t@x> 1700000000 +0000\n\nrelease\n",
            &T[5..45]
        );
        let sig = "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n";
        let t = parse_tag(format!("{base}{sig}").as_bytes(), HashAlgo::Sha1).unwrap();
        assert_eq!(t.payload, base.as_bytes());
        assert_eq!(t.name, "v1");
        assert_eq!(
            parse_tag(format!("{base}{sig}junk\n").as_bytes(), HashAlgo::Sha1)
                .unwrap_err()
                .code,
            "tag-trailing-data"
        );
        assert_eq!(
            parse_tag(format!("{base}{sig}{sig}").as_bytes(), HashAlgo::Sha1)
                .unwrap_err()
                .code,
            "duplicate-signature"
        );
    }

    #[test]
    fn object_ids() {
        assert_eq!(
            HashAlgo::Sha1.object_id("tree", b""),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
        assert_eq!(
            HashAlgo::Sha256.object_id("tree", b""),
            "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
        );
    }
}
