//! OpenPGP key wrapping, in process with sequoia; the `gpg` binary is only a fallback for keys
//! that are not in a key file (smartcards, agent-held keys).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use openpgp::Cert;
use openpgp::crypto::SessionKey;
use openpgp::packet::{PKESK, SKESK};
use openpgp::parse::Parse;
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper,
};
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message};
use openpgp::types::SymmetricAlgorithm;
use sequoia_openpgp as openpgp;
use zeroize::Zeroizing;

use crate::sops::error::Error;

/// Largest decrypted payload accepted (a data key is 32 bytes, a share 33).
const MAX_KEY_PAYLOAD: u64 = 4096;

/// Certificates loaded from armored or binary key files (public or secret).
#[derive(Default)]
pub struct Keyring {
    /// Every certificate read.
    pub certs: Vec<Cert>,
    /// Files that could not be read.
    pub problems: Vec<String>,
    /// Refuse recipients whose only encryption subkeys are weaker than sequoia's standard
    /// policy allows (RSA, DSA or ElGamal below 2048 bits) instead of encrypting to them with
    /// a warning, as gpg (hence sops) does (`--strict-keys`).
    pub strict_keys: bool,
}

impl Keyring {
    /// Reads every certificate in `paths`; a directory contributes its `*.asc`, `*.gpg` and
    /// `*.pgp` files (like Flux's decryption secret).
    pub fn load(paths: &[PathBuf]) -> Keyring {
        let mut ring = Keyring::default();
        for p in paths {
            if p.is_dir() {
                let mut files: Vec<PathBuf> = match std::fs::read_dir(p) {
                    Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                    Err(e) => {
                        ring.problems.push(format!("{}: {e}", p.display()));
                        continue;
                    }
                };
                files.retain(|f| {
                    matches!(
                        f.extension().and_then(|e| e.to_str()),
                        Some("asc" | "gpg" | "pgp")
                    )
                });
                files.sort();
                for f in files {
                    ring.add_file(&f);
                }
            } else {
                ring.add_file(p);
            }
        }
        ring
    }

    fn add_file(&mut self, path: &Path) {
        let data = match std::fs::read(path) {
            Ok(d) => Zeroizing::new(d),
            Err(e) => {
                self.problems.push(format!("{}: {e}", path.display()));
                return;
            }
        };
        match openpgp::cert::CertParser::from_bytes(&data[..]) {
            Ok(parser) => {
                for c in parser {
                    match c {
                        Ok(c) => self.certs.push(c),
                        Err(e) => self.problems.push(format!("{}: {e}", path.display())),
                    }
                }
            }
            Err(e) => self.problems.push(format!("{}: {e}", path.display())),
        }
    }

    /// Finds a certificate by fingerprint (full, or a 16-hex key id; primary or subkey).
    pub fn find(&self, fp: &str) -> Option<&Cert> {
        let want = normalize_fp(fp);
        self.certs.iter().find(|c| {
            c.keys().any(|k| {
                let f = k.key().fingerprint().to_hex();
                f == want || (want.len() == 16 && f.ends_with(&want))
            })
        })
    }
}

/// Uppercase hex without spaces or a trailing `!`.
pub fn normalize_fp(fp: &str) -> String {
    fp.chars()
        .filter(|c| !c.is_whitespace() && *c != '!')
        .collect::<String>()
        .to_uppercase()
}

fn gpg_program() -> String {
    std::env::var("SOPS_GPG_EXEC").unwrap_or_else(|_| "gpg".into())
}

fn gpg_export(fp: &str) -> Result<Cert, String> {
    let out = Command::new(gpg_program())
        .args(["--batch", "--export", &normalize_fp(fp)])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run gpg to find key {fp}: {e}"))?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(format!(
            "OpenPGP key {fp} is neither in a key file nor in gpg's keyring"
        ));
    }
    Cert::from_bytes(&out.stdout).map_err(|e| format!("gpg exported an unreadable key {fp}: {e}"))
}

/// Encrypts `payload` to the certificate with fingerprint `fp` (from `ring`, else exported
/// from gpg's keyring) as an armored message without a trailing newline, like sops.
pub fn wrap(fp: &str, payload: &[u8], ring: &Keyring) -> Result<String, Error> {
    let exported;
    let cert = match ring.find(fp) {
        Some(c) => c,
        None => {
            exported = gpg_export(fp).map_err(Error::NoEncryptionKey)?;
            &exported
        }
    };
    let policy = StandardPolicy::new();
    let weak_policy = weak_policy();
    let err = |e: anyhow::Error| Error::EncryptTree(format!("OpenPGP encryption to {fp}: {e}"));
    let mut recipients = encryption_keys(cert, &policy);
    if recipients.is_empty() {
        recipients = encryption_keys(cert, &weak_policy);
        if recipients.is_empty() {
            return Err(Error::NoEncryptionKey(format!(
                "OpenPGP key {fp} has no valid encryption subkey (expired, revoked or unsupported)"
            )));
        }
        let weak = recipients
            .iter()
            .map(|ka| describe_key(ka.key()))
            .collect::<Vec<_>>()
            .join(", ");
        if ring.strict_keys {
            return Err(Error::Strict(format!(
                "OpenPGP key {fp} encrypts only with {weak}, weaker than 2048 bits: refused (--strict-keys / SIGIL_STRICT_KEYS)"
            )));
        }
        eprintln!(
            "sigil: warning: OpenPGP key {fp} encrypts only with {weak}, weaker than 2048 bits and breakable: encrypting to it anyway, as gpg and sops do; replace the key (--strict-keys refuses such keys)"
        );
    }
    let mut sink = Vec::new();
    {
        let message = Message::new(&mut sink);
        let message = Armorer::new(message).build().map_err(err)?;
        let message = Encryptor::for_recipients(message, recipients)
            .build()
            .map_err(err)?;
        let mut w = LiteralWriter::new(message).build().map_err(err)?;
        w.write_all(payload).map_err(|e| err(e.into()))?;
        w.finalize().map_err(err)?;
    }
    let text =
        String::from_utf8(sink).map_err(|_| Error::EncryptTree("armor is not UTF-8".into()))?;
    Ok(text.trim().to_string())
}

/// Subkeys of `cert` valid for encryption under `policy`.
fn encryption_keys<'a>(
    cert: &'a Cert,
    policy: &'a dyn openpgp::policy::Policy,
) -> Vec<
    openpgp::cert::amalgamation::key::ValidErasedKeyAmalgamation<
        'a,
        openpgp::packet::key::PublicParts,
    >,
> {
    cert.keys()
        .with_policy(policy, None)
        .supported()
        .alive()
        .revoked(false)
        .for_storage_encryption()
        .for_transport_encryption()
        .collect()
}

/// The standard policy, except that it accepts the asymmetric algorithms it rejects as too
/// weak (RSA, DSA and ElGamal keys below 2048 bits): gpg, which sops encrypts with, accepts
/// them. Used only when the standard policy finds no encryption subkey, and then with a
/// warning (or a refusal with `--strict-keys`).
fn weak_policy() -> StandardPolicy<'static> {
    use openpgp::policy::AsymmetricAlgorithm as A;
    let mut p = StandardPolicy::new();
    for a in [A::RSA1024, A::DSA1024, A::ElGamal1024] {
        p.accept_asymmetric_algo(a);
    }
    p
}

/// E.g. `RSA-1024 subkey EA21E43623FA56D04982323A5C5525B581705783`.
fn describe_key<R: openpgp::packet::key::KeyRole>(
    key: &openpgp::packet::Key<openpgp::packet::key::PublicParts, R>,
) -> String {
    use openpgp::types::PublicKeyAlgorithm as P;
    #[allow(deprecated)]
    let algo = match key.pk_algo() {
        P::RSAEncryptSign | P::RSAEncrypt | P::RSASign => "RSA".to_string(),
        P::ElGamalEncrypt | P::ElGamalEncryptSign => "ElGamal".to_string(),
        P::DSA => "DSA".to_string(),
        other => other.to_string(),
    };
    let size = key
        .mpis()
        .bits()
        .map(|b| format!("-{b}"))
        .unwrap_or_default();
    format!("{algo}{size} subkey {}", key.fingerprint().to_hex())
}

struct Helper<'a> {
    certs: &'a [Cert],
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _: &[openpgp::KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }
    fn check(&mut self, _: MessageStructure) -> openpgp::Result<()> {
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        // Every unencrypted secret key is tried: the user's own key decrypts even if a strict
        // policy would no longer let us encrypt to it (e.g. the RSA-1024 sops test key).
        for pkesk in pkesks {
            for cert in self.certs {
                for ka in cert.keys().unencrypted_secret() {
                    let matches = match pkesk.recipient() {
                        Some(handle) => handle.aliases(ka.key().key_handle()),
                        None => true,
                    };
                    if !matches {
                        continue;
                    }
                    let Ok(mut pair) = ka.key().clone().into_keypair() else {
                        continue;
                    };
                    if let Some((algo, sk)) = pkesk.decrypt(&mut pair, sym_algo) {
                        if decrypt(algo, &sk) {
                            return Ok(Some(cert.clone()));
                        }
                    }
                }
            }
        }
        Err(anyhow::anyhow!(
            "no secret key in the key files matches this message"
        ))
    }
}

/// Decrypts an armored message with secret keys from the key files. Messages whose PKESK
/// MPIs carry a non-canonical bit count (written by Go's old OpenPGP library, e.g. sops's own
/// test fixtures) are repaired in memory and retried; nothing else is relaxed.
pub fn unwrap_in_process(enc: &str, ring: &Keyring) -> Result<Zeroizing<Vec<u8>>, String> {
    if !ring.certs.iter().any(|c| c.is_tsk()) {
        return Err("no OpenPGP secret key in the key files".into());
    }
    match decrypt_message(enc.as_bytes(), ring) {
        Ok(k) => Ok(k),
        Err(first) => {
            // Go's old OpenPGP library wrote non-canonical MPIs and short partial chunks.
            let binary = dearmor(enc).ok_or(first.clone())?;
            let fixed = canonicalize_pkesk_mpis(&binary).unwrap_or(binary);
            legacy_decrypt(&fixed, ring).map_err(|e| format!("{first}; {e}"))
        }
    }
}

/// Unwraps the session key with sequoia, then decodes the Go-style SEIPD with the narrow
/// legacy decoder.
fn legacy_decrypt(msg: &[u8], ring: &Keyring) -> Result<Zeroizing<Vec<u8>>, String> {
    let pile = openpgp::PacketPile::from_bytes(msg).map_err(|e| e.to_string())?;
    for p in pile.children() {
        let openpgp::Packet::PKESK(pkesk) = p else {
            continue;
        };
        for cert in &ring.certs {
            for ka in cert.keys().unencrypted_secret() {
                if let Some(h) = pkesk.recipient()
                    && !h.aliases(ka.key().key_handle())
                {
                    continue;
                }
                let Ok(mut pair) = ka.key().clone().into_keypair() else {
                    continue;
                };
                if let Some((Some(algo), sk)) = pkesk.decrypt(&mut pair, None) {
                    return super::pgp_legacy::decrypt_seipd(
                        msg,
                        u8::from(algo),
                        &sk,
                        MAX_KEY_PAYLOAD as usize,
                    );
                }
            }
        }
    }
    Err("no secret key in the key files matches this message".into())
}

fn dearmor(enc: &str) -> Option<Vec<u8>> {
    let mut r = openpgp::armor::Reader::from_bytes(
        enc.as_bytes(),
        openpgp::armor::ReaderMode::Tolerant(Some(openpgp::armor::Kind::Message)),
    );
    let mut out = Vec::new();
    r.read_to_end(&mut out).ok()?;
    Some(out)
}

/// Rewrites the bit counts of RSA/ElGamal MPIs in v3 PKESK packets to their canonical value.
/// Returns None when there is nothing to fix or the packet layout is not understood.
fn canonicalize_pkesk_mpis(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = data.to_vec();
    let mut pos = 0;
    let mut changed = false;
    while pos < out.len() {
        let ctb = out[pos];
        if ctb & 0x80 == 0 {
            return None;
        }
        let (tag, body_start, body_len) = if ctb & 0x40 != 0 {
            let tag = ctb & 0x3f;
            let first = *out.get(pos + 1)? as usize;
            match first {
                0..=191 => (tag, pos + 2, first),
                192..=223 => (
                    tag,
                    pos + 3,
                    ((first - 192) << 8) + *out.get(pos + 2)? as usize + 192,
                ),
                255 => {
                    let b = out.get(pos + 2..pos + 6)?;
                    (
                        tag,
                        pos + 6,
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                    )
                }
                _ => return changed.then_some(out), // partial lengths: only data packets use them
            }
        } else {
            let tag = (ctb >> 2) & 0x0f;
            match ctb & 3 {
                0 => (tag, pos + 2, *out.get(pos + 1)? as usize),
                1 => {
                    let b = out.get(pos + 1..pos + 3)?;
                    (tag, pos + 3, u16::from_be_bytes([b[0], b[1]]) as usize)
                }
                2 => {
                    let b = out.get(pos + 1..pos + 5)?;
                    (
                        tag,
                        pos + 5,
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                    )
                }
                _ => return changed.then_some(out),
            }
        };
        let end = body_start.checked_add(body_len)?;
        if end > out.len() {
            return None;
        }
        // v3 PKESK: version, 8-byte key id, algorithm, MPIs.
        if tag == 1 && body_len > 10 && out[body_start] == 3 {
            let algo = out[body_start + 9];
            let count = match algo {
                1..=3 => 1,
                16 | 20 => 2,
                _ => 0,
            };
            let mut m = body_start + 10;
            for _ in 0..count {
                let bits = u16::from_be_bytes([*out.get(m)?, *out.get(m + 1)?]) as usize;
                let len = bits.div_ceil(8);
                let bytes = out.get(m + 2..m + 2 + len)?;
                let first = *bytes.first()?;
                if first == 0 {
                    return None; // would change the packet length; not handled
                }
                let canonical = (len - 1) * 8 + (8 - first.leading_zeros() as usize);
                if canonical != bits {
                    out[m..m + 2].copy_from_slice(&(canonical as u16).to_be_bytes());
                    changed = true;
                }
                m += 2 + len;
            }
        }
        pos = end;
    }
    changed.then_some(out)
}

fn decrypt_message(msg: &[u8], ring: &Keyring) -> Result<Zeroizing<Vec<u8>>, String> {
    let policy = StandardPolicy::new();
    let mut d = DecryptorBuilder::from_bytes(msg)
        .map_err(|e| format!("not an OpenPGP message: {e}"))?
        .with_policy(&policy, None, Helper { certs: &ring.certs })
        .map_err(|e| e.to_string())?;
    let mut out = Zeroizing::new(Vec::new());
    (&mut d)
        .take(MAX_KEY_PAYLOAD + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("OpenPGP decryption: {e}"))?;
    if out.len() as u64 > MAX_KEY_PAYLOAD || out.is_empty() {
        return Err("OpenPGP payload has the wrong size for a data key".into());
    }
    Ok(out)
}

/// Asks `gpg -d` (as sops does), for keys held by gpg-agent or a smartcard.
pub fn unwrap_with_gpg(enc: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut child = Command::new(gpg_program())
        .args(["--batch", "--quiet", "--no-tty", "-d"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run gpg: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("gpg stdin")?;
    let input = enc.as_bytes().to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(|e| format!("gpg: {e}"))?;
    let _ = writer.join();
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() || stdout.is_empty() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let first = msg.lines().next().unwrap_or("no output").to_string();
        return Err(format!("gpg could not decrypt: {first}"));
    }
    if stdout.len() as u64 > MAX_KEY_PAYLOAD {
        return Err("OpenPGP payload has the wrong size for a data key".into());
    }
    Ok(stdout)
}

/// Is a gpg binary available for the fallback?
pub fn gpg_available() -> bool {
    Command::new(gpg_program())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
