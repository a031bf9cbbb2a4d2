//! Whole-file operations: encrypt a plaintext tree, decrypt and verify an encrypted one.

use super::cipher::{Cipher, DataKey, IvCache};
use super::error::Error;
use super::keys::{KeySpec, Unlocker, pgp, wrap_groups};
use super::metadata::{Metadata, WRITE_VERSION};
use super::rules::Selection;
use super::time;
use super::tree::Entry;
use super::walk;

/// How a new file is encrypted.
pub struct EncryptParams {
    /// Key groups (one group = no Shamir).
    pub groups: Vec<Vec<KeySpec>>,
    /// Shamir threshold (0 = number of groups).
    pub threshold: usize,
    /// Which values are encrypted.
    pub selection: Selection,
    /// Hash only encrypted values.
    pub mac_only_encrypted: bool,
}

/// Encrypts plaintext documents in place under a fresh data key and returns the metadata.
pub fn encrypt_new(
    docs: &mut [Vec<Entry>],
    params: &EncryptParams,
    ring: &pgp::Keyring,
    binary: bool,
) -> Result<Metadata, Error> {
    let key = DataKey::generate();
    let (key_groups, threshold) = wrap_groups(&params.groups, params.threshold, &key, ring)?;
    // The binary store records no selection rule (sops warns and drops it).
    let selection = if binary {
        Selection::default()
    } else {
        params.selection.clone().with_default()
    };
    let mut meta = Metadata {
        shamir_threshold: threshold,
        key_groups,
        last_modified: String::new(),
        mac: String::new(),
        selection,
        mac_only_encrypted: params.mac_only_encrypted && !binary,
        version: WRITE_VERSION.to_string(),
    };
    seal(docs, &mut meta, &Cipher::new(&key))?;
    Ok(meta)
}

/// Encrypts plaintext documents with an existing data key and cipher (edit, set, rotate),
/// stamping a new `lastmodified` and MAC.
pub fn seal(docs: &mut [Vec<Entry>], meta: &mut Metadata, cipher: &Cipher) -> Result<(), Error> {
    let selector = meta.selection.clone().with_default().compile()?;
    let mac = walk::encrypt(docs, cipher, &selector, meta.mac_only_encrypted)?;
    meta.last_modified = time::now_utc();
    let aad = time::mac_aad(&meta.last_modified).expect("we just formatted it");
    meta.mac = cipher.encrypt_bytes(mac.as_bytes(), "str", &aad);
    Ok(())
}

/// What decryption produced besides the plaintext tree.
pub struct Decrypted {
    /// The data key, for re-encryption (edit/set).
    pub key: DataKey,
    /// A cipher that remembers IVs, so unchanged values re-encrypt identically.
    pub cipher: Cipher,
    /// Plain comments found where encrypted ones were expected (files from sops < 3.4).
    pub plaintext_comments: usize,
}

/// Recovers the data key, decrypts every value in place and verifies the MAC before
/// returning. With `ignore_mac` the MAC check is skipped (the caller must say so loudly).
/// With `remember_ivs`, the IVs of every value are kept so re-encryption (edit, set) leaves
/// unchanged values byte-identical; plain decryption does not need them.
pub fn decrypt(
    docs: &mut [Vec<Entry>],
    meta: &Metadata,
    unlocker: &mut Unlocker,
    ignore_mac: bool,
    remember_ivs: bool,
) -> Result<Decrypted, Error> {
    let key = unlocker.recover(meta)?;
    decrypt_with_key(docs, meta, key, ignore_mac, remember_ivs)
}

/// Like [`decrypt`] with a known data key.
pub fn decrypt_with_key(
    docs: &mut [Vec<Entry>],
    meta: &Metadata,
    key: DataKey,
    ignore_mac: bool,
    remember_ivs: bool,
) -> Result<Decrypted, Error> {
    let mut cipher = Cipher::new(&key);
    if remember_ivs {
        cipher.ivs = Some(IvCache::default());
    }
    let selector = meta.selection.clone().with_default().compile()?;
    let (computed, report) = walk::decrypt(docs, &mut cipher, &selector, meta.mac_only_encrypted)?;
    if !ignore_mac {
        verify_mac(meta, &mut cipher, &computed)?;
    }
    Ok(Decrypted {
        key,
        cipher,
        plaintext_comments: report.plaintext_comments,
    })
}

fn verify_mac(meta: &Metadata, cipher: &mut Cipher, computed: &str) -> Result<(), Error> {
    if meta.mac.is_empty() {
        return Err(Error::MacMismatch(
            "MAC mismatch: the file has no MAC, so its integrity cannot be checked (--ignore-mac decrypts it anyway)".into(),
        ));
    }
    let aad = time::mac_aad(&meta.last_modified)
        .ok_or_else(|| Error::MacMismatch("lastmodified is not an RFC 3339 time".into()))?;
    let (stored, _) = cipher.decrypt_raw(&meta.mac, &aad).map_err(|_| {
        Error::MacMismatch(
            "cannot decrypt the MAC: the MAC or lastmodified was changed, or the data key does not belong to this file".into(),
        )
    })?;
    let stored = String::from_utf8_lossy(&stored).into_owned();
    if !walk::mac_equal(&stored, computed) {
        return Err(Error::MacMismatch(
            "MAC mismatch: the file's values do not match its MAC; it was altered after encryption (or was merged by hand)".into(),
        ));
    }
    Ok(())
}
