//! The local key that authenticates verdict caches (commit verdicts and their range tips, image
//! verdicts): whoever can write a cache file must not be able to mark a commit or an image
//! verified. Every cache entry carries an HMAC-SHA256 under a 32-byte random key kept in a
//! file of its own, mode 0600; an entry that does not authenticate is a cache miss.
//!
//! The key file is created atomically on first use (a temporary file linked into place, so
//! concurrent first uses agree on one key). A key file that is not a regular 32-byte file, is
//! readable or writable by group or others, or is owned by another user is refused: the caller
//! then runs without its cache and says so once.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Length of the key in bytes.
const KEY_LEN: usize = 32;

/// Length of a MAC in hex.
pub const TAG_HEX_LEN: usize = 64;

/// The cache key. No `Debug` and no `Clone`: it is a secret.
pub struct CacheKey(Zeroizing<[u8; KEY_LEN]>);

impl CacheKey {
    /// Reads the key at `path`, creating it (mode 0600, parent directories 0700) if missing.
    pub fn open(path: &Path) -> Result<CacheKey, String> {
        match read_key(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create_key(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                read_key(path).map_err(|e| format!("{}: {e}", path.display()))
            }
            r => r.map_err(|e| format!("{}: {e}", path.display())),
        }
    }

    /// A key from raw bytes (tests and benchmarks).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> CacheKey {
        CacheKey(Zeroizing::new(bytes))
    }

    /// HMAC-SHA256 accepts keys of any length, so this is never `None` in practice.
    fn mac(&self, domain: &str, parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0[..]).ok()?;
        // Length-prefixed, so that no two different entries feed the same bytes.
        for part in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        Some(mac)
    }

    /// The MAC (lowercase hex) of `parts` for the cache kind `domain`.
    pub fn tag(&self, domain: &str, parts: &[&[u8]]) -> String {
        self.mac(domain, parts)
            .map(|m| hex::encode(m.finalize().into_bytes()))
            .unwrap_or_default()
    }

    /// Whether `tag_hex` is the MAC of `parts` for `domain` (compared in constant time).
    pub fn verify(&self, domain: &str, parts: &[&[u8]], tag_hex: &str) -> bool {
        let (Ok(tag), Some(mac)) = (hex::decode(tag_hex), self.mac(domain, parts)) else {
            return false;
        };
        mac.verify_slice(&tag).is_ok()
    }

    /// `<tag>\t<body>`: one authenticated record of `domain`, bound to `context` (e.g. the
    /// cache key the record is stored under).
    pub fn seal(&self, domain: &str, context: &[u8], body: &[u8]) -> Vec<u8> {
        let mut out = self.tag(domain, &[context, body]).into_bytes();
        out.push(b'\t');
        out.extend_from_slice(body);
        out
    }

    /// The body of a record made by [`CacheKey::seal`] with the same `domain` and `context`;
    /// `None` when it does not authenticate (or is in another format).
    pub fn open_sealed<'a>(
        &self,
        domain: &str,
        context: &[u8],
        record: &'a [u8],
    ) -> Option<&'a [u8]> {
        let tag = record.get(..TAG_HEX_LEN)?;
        let body = record.get(TAG_HEX_LEN..)?.strip_prefix(b"\t")?;
        let tag = std::str::from_utf8(tag).ok()?;
        self.verify(domain, &[context, body], tag).then_some(body)
    }
}

/// The CLI's default key file: `$XDG_STATE_HOME/sigil/cache.key`, else
/// `~/.local/state/sigil/cache.key` (outside any cache directory CI restores).
pub fn default_path() -> Option<PathBuf> {
    crate::user_dirs::path("XDG_STATE_HOME", ".local/state", "sigil/cache.key")
}

fn read_key(path: &Path) -> std::io::Result<CacheKey> {
    let f = File::open(path)?;
    let meta = f.metadata()?;
    let refuse = |why: String| Err(std::io::Error::other(why));
    if !meta.is_file() {
        return refuse("the cache key is not a regular file".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return refuse(format!(
            "the cache key is owned by uid {}, not by this user (uid {me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return refuse(format!(
            "the cache key has mode {:o}; it must be accessible to its owner only (chmod 600)",
            meta.mode() & 0o777
        ));
    }
    if meta.len() != KEY_LEN as u64 {
        return refuse(format!("the cache key is not {KEY_LEN} bytes long"));
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    (&f).take(KEY_LEN as u64).read_exact(&mut key[..])?;
    Ok(CacheKey(key))
}

fn create_key(path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key[..]);
    let tmp = dir.join(format!(
        ".cache.key.{}.{}.tmp",
        std::process::id(),
        hex::encode(&key[..4])
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(&key[..])?;
            f.sync_all()
        });
    // A link never replaces a key another process created meanwhile; both then use that one.
    let placed = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        r => r,
    });
    let _ = std::fs::remove_file(&tmp);
    placed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_mode_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/sigil/cache.key");
        let a = CacheKey::open(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.mode() & 0o777, meta.len()), (0o600, 32));
        let parent = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(parent.mode() & 0o077, 0);
        let b = CacheKey::open(&path).unwrap();
        assert_eq!(a.tag("d", &[b"x"]), b.tag("d", &[b"x"]));
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn unsafe_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.key");
        CacheKey::open(&path).unwrap();
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = CacheKey::open(&path).err().unwrap();
            assert!(e.contains("chmod 600"), "{e}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"short").unwrap();
        assert!(CacheKey::open(&path).err().unwrap().contains("32 bytes"));
        let d = dir.path().join("a-directory");
        std::fs::create_dir(&d).unwrap();
        assert!(CacheKey::open(&d).is_err());
    }

    #[test]
    fn sealed_records_authenticate_their_body_and_context() {
        let k = CacheKey::from_bytes([7; 32]);
        let other = CacheKey::from_bytes([8; 32]);
        let rec = k.seal("image", b"key-a", b"{\"signatures\":[]}");
        assert_eq!(
            k.open_sealed("image", b"key-a", &rec),
            Some(&b"{\"signatures\":[]}"[..])
        );
        assert_eq!(k.open_sealed("image", b"key-b", &rec), None, "moved");
        assert_eq!(k.open_sealed("commit", b"key-a", &rec), None, "other kind");
        assert_eq!(
            other.open_sealed("image", b"key-a", &rec),
            None,
            "other key"
        );
        let mut forged = rec.clone();
        let last = forged.len() - 2;
        forged[last] ^= 1;
        assert_eq!(k.open_sealed("image", b"key-a", &forged), None, "altered");
        for bad in [&b""[..], b"{\"signatures\":[]}", &rec[..TAG_HEX_LEN]] {
            assert_eq!(k.open_sealed("image", b"key-a", bad), None);
        }
        // Length prefixes: moving bytes between parts changes the MAC.
        assert_ne!(k.tag("d", &[b"ab", b"c"]), k.tag("d", &[b"a", b"bc"]));
    }
}
