//! age key wrapping: one armored age file per recipient, identities from every source sops reads.

use std::io::{BufReader, Read};

use std::path::PathBuf;
use std::str::FromStr;

use age::armor::ArmoredReader;
use zeroize::Zeroizing;

use crate::sops::error::Error;

/// Largest payload accepted from an age file holding a data key or Shamir share.
const MAX_KEY_PAYLOAD: u64 = 4096;

/// Parses a recipient string as sops does: `age1…` (X25519), `age1<plugin>1…` (an age plugin
/// found on PATH) or `ssh-ed25519`/`ssh-rsa` keys.
pub fn parse_recipient(s: &str) -> Result<Box<dyn age::Recipient + Send>, Error> {
    let s = s.trim();
    let bad = |why: &str| Error::Config(format!("invalid age recipient '{s}': {why}"));
    if s.starts_with("ssh-") {
        return age::ssh::Recipient::from_str(s)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|e| bad(&format!("{e:?}")));
    }
    if s.starts_with("age1pq1") {
        return Err(bad(
            "post-quantum age recipients are not supported by sigil yet",
        ));
    }
    // `age1<plugin>1…`: run `age-plugin-<plugin>` from PATH, as age does.
    if s.starts_with("age1") && s.matches('1').count() > 1 {
        let r = age::plugin::Recipient::from_str(s).map_err(&bad)?;
        let name = r.plugin().to_string();
        return age::plugin::RecipientPluginV1::new(&name, &[r], &[], super::prompt::TtyPrompt)
            .map(|p| Box::new(p) as Box<dyn age::Recipient + Send>)
            .map_err(|e| bad(&format!("{e}")));
    }
    age::x25519::Recipient::from_str(s)
        .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
        .map_err(bad)
}

/// Encrypts `payload` to one recipient as an armored age file (the `enc` field).
pub fn wrap(recipient: &str, payload: &[u8]) -> Result<String, Error> {
    let r = parse_recipient(recipient)?;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&*r as &dyn age::Recipient))
        .map_err(|e| Error::EncryptTree(format!("age: {e}")))?;
    let mut out = Vec::new();
    let armored = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| Error::EncryptTree(format!("age armor: {e}")))?;
    let mut w = encryptor
        .wrap_output(armored)
        .map_err(|e| Error::EncryptTree(format!("age: {e}")))?;
    std::io::Write::write_all(&mut w, payload)
        .map_err(|e| Error::EncryptTree(format!("age: {e}")))?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| Error::EncryptTree(format!("age: {e}")))?;
    String::from_utf8(out).map_err(|_| Error::EncryptTree("age armor is not UTF-8".into()))
}

/// Why an age file did not decrypt, in the classes the age test vectors (C2SP CCTV) use.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The header parsed but no identity matched a stanza.
    NoMatch(String),
    /// A file key was unwrapped but the header MAC is wrong.
    Hmac,
    /// The header or its armor is malformed.
    Header(String),
    /// The payload failed authentication or is truncated (released bytes stay in `out`).
    Payload(String),
    /// The payload is larger than the caller's limit.
    TooLarge,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoMatch(m) => write!(f, "no identity matched: {m}"),
            Failure::Hmac => write!(f, "the age header MAC is wrong (file altered)"),
            Failure::Header(m) => write!(f, "not a valid age file: {m}"),
            Failure::Payload(m) => write!(f, "age payload failed: {m}"),
            Failure::TooLarge => write!(f, "age payload is too large for a data key"),
        }
    }
}

fn classify(e: age::DecryptError) -> Failure {
    use age::DecryptError as E;
    match e {
        E::NoMatchingKeys => {
            Failure::NoMatch("identity did not match any of the recipients".into())
        }
        E::KeyDecryptionFailed | E::DecryptionFailed => Failure::NoMatch(e.to_string()),
        E::InvalidMac => Failure::Hmac,
        E::ExcessiveWork { .. } => Failure::Header(e.to_string()),
        other => Failure::Header(other.to_string()),
    }
}

/// Decrypts an age file (armored or binary) with the identities, or with `passphrase` for a
/// passphrase (scrypt) file, writing at most `limit` plaintext bytes into `out`. On a payload
/// failure `out` holds exactly what was released before the error.
pub fn decrypt_into(
    enc: &[u8],
    identities: &[Box<dyn age::Identity>],
    passphrase: Option<&age::secrecy::SecretString>,
    limit: u64,
    out: &mut Zeroizing<Vec<u8>>,
) -> Result<(), Failure> {
    // De-armor completely first, so an armor error can never surface as a payload error, then
    // check the header's stanza structure strictly (the age crate tolerates malformed bodies of
    // unknown stanzas).
    let trimmed = enc.trim_ascii();
    let binary: Zeroizing<Vec<u8>>;
    let input: &[u8] = if trimmed.starts_with(b"-----BEGIN") {
        let mut buf = Zeroizing::new(Vec::new());
        ArmoredReader::new(trimmed)
            .take(limit.saturating_mul(2).saturating_add(1 << 16))
            .read_to_end(&mut buf)
            .map_err(|e| Failure::Header(format!("armor: {e}")))?;
        binary = buf;
        &binary
    } else {
        enc
    };
    check_header(input).map_err(Failure::Header)?;
    let decryptor = age::Decryptor::new_buffered(input).map_err(classify)?;
    let scrypt;
    let mut reader = if decryptor.is_scrypt() {
        let pass = passphrase.ok_or_else(|| Failure::NoMatch("a passphrase is needed".into()))?;
        let mut id = age::scrypt::Identity::new(pass.clone());
        // Like Go age: work factors up to 2^22 are accepted, whatever this machine's speed.
        id.set_max_work_factor(22);
        scrypt = id;
        decryptor
            .decrypt(std::iter::once(&scrypt as &dyn age::Identity))
            .map_err(classify)?
    } else {
        if identities.is_empty() {
            return Err(Failure::NoMatch("no age identity available".into()));
        }
        decryptor
            .decrypt(identities.iter().map(|i| &**i as &dyn age::Identity))
            .map_err(classify)?
    };
    let mut chunk = Zeroizing::new([0u8; 8192]);
    loop {
        match reader.read(&mut chunk[..]) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if out.len() as u64 + n as u64 > limit {
                    return Err(Failure::TooLarge);
                }
                out.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::Payload(e.to_string())),
        }
    }
}

/// Checks the age v1 header layout: version line, stanzas (`-> ` arguments, then base64 body
/// lines of 64 columns ending with a shorter line), and the `--- ` MAC line.
fn check_header(data: &[u8]) -> Result<(), String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut lines = data.split(|&b| b == b'\n');
    if lines.next() != Some(b"age-encryption.org/v1".as_slice()) {
        return Err("unsupported or missing version line".into());
    }
    let mut line = lines.next().ok_or("truncated header")?;
    loop {
        if line.starts_with(b"--- ") {
            return Ok(());
        }
        let args = line
            .strip_prefix(b"-> ")
            .ok_or("expected a stanza or the MAC line")?;
        if args.is_empty()
            || args
                .split(|&b| b == b' ')
                .any(|a| a.is_empty() || !a.iter().all(|c| (0x21..=0x7e).contains(c)))
        {
            return Err("malformed stanza arguments".into());
        }
        loop {
            let body = lines.next().ok_or("truncated stanza body")?;
            if body.len() > 64 || b64.decode(body).is_err() {
                return Err("malformed stanza body line".into());
            }
            if body.len() < 64 {
                break;
            }
        }
        line = lines.next().ok_or("truncated header")?;
    }
}

/// Decrypts a data key (or Shamir share) wrapped in an age file with any of the identities.
pub fn unwrap(
    enc: &[u8],
    identities: &[Box<dyn age::Identity>],
) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut out = Zeroizing::new(Vec::new());
    decrypt_into(enc, identities, None, MAX_KEY_PAYLOAD, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Identities found in the places sops looks, plus a description of where we looked.
#[derive(Default)]
pub struct Identities {
    /// The loaded identities.
    pub list: Vec<Box<dyn age::Identity>>,
    /// Locations tried, for error reports.
    pub searched: Vec<String>,
    /// Problems met while loading (unreadable files, encrypted keys skipped).
    pub problems: Vec<String>,
}

/// Asks for the passphrase of a protected identity file (`origin` names it).
pub type AskPassphrase<'a> = &'a dyn Fn(&str) -> Option<age::secrecy::SecretString>;

/// Parses identity text (one `AGE-SECRET-KEY-1…` per line, `#` comments). Passphrase-protected
/// identity files (an age file holding the identities) are decrypted with `ask`'s passphrase.
pub fn parse_identity_text(
    text: &[u8],
    origin: &str,
    ask: AskPassphrase<'_>,
) -> Result<Vec<Box<dyn age::Identity>>, String> {
    let trimmed = text.trim_ascii_start();
    if trimmed.starts_with(b"age-encryption.org") || trimmed.starts_with(b"-----BEGIN AGE") {
        let pass =
            ask(&format!("Enter passphrase for identity file {origin}")).ok_or_else(|| {
                format!(
                    "{origin} is passphrase-protected and no terminal is available to ask for it"
                )
            })?;
        let mut inner = Zeroizing::new(Vec::new());
        decrypt_into(trimmed, &[], Some(&pass), 1 << 20, &mut inner)
            .map_err(|e| format!("{origin}: cannot decrypt the protected identity file: {e}"))?;
        return parse_identity_text(&inner, origin, &|_| None);
    }
    let file = age::IdentityFile::from_buffer(BufReader::new(text))
        .map_err(|e| format!("{origin}: {e}"))?;
    // Plugin identities (`AGE-PLUGIN-…`) run their plugin from PATH, with terminal prompts.
    file.with_callbacks(super::prompt::TtyPrompt)
        .into_identities()
        .map(|v| v.into_iter().map(|b| b as Box<dyn age::Identity>).collect())
        .map_err(|e| format!("{origin}: {e}"))
}

fn ssh_identity(path: &PathBuf) -> Result<Option<Box<dyn age::Identity>>, String> {
    let data = match std::fs::read(path) {
        Ok(d) => Zeroizing::new(d),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let id = age::ssh::Identity::from_buffer(&data[..], Some(path.display().to_string()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match id {
        age::ssh::Identity::Unencrypted(_) => Ok(Some(Box::new(id))),
        age::ssh::Identity::Encrypted(_) => {
            Ok(Some(Box::new(id.with_callbacks(super::prompt::TtyPrompt))))
        }
        age::ssh::Identity::Unsupported(_) => Err(format!(
            "{}: unsupported SSH key type for age",
            path.display()
        )),
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// The default identity file: `$XDG_CONFIG_HOME/sops/age/keys.txt` or `~/.config/sops/age/keys.txt`.
pub fn default_keys_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))?;
    Some(base.join("sops").join("age").join("keys.txt"))
}

/// Loads identities from every source sops 3.11 reads, in its order.
pub fn load_identities() -> Identities {
    let mut ids = Identities::default();
    let mut ssh_paths = Vec::new();
    if let Some(p) = std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
        ssh_paths.push(PathBuf::from(p));
    }
    if let Some(h) = home() {
        ssh_paths.push(h.join(".ssh").join("id_ed25519"));
        ssh_paths.push(h.join(".ssh").join("id_rsa"));
    }
    for p in ssh_paths {
        ids.searched.push(p.display().to_string());
        match ssh_identity(&p) {
            Ok(Some(i)) => ids.list.push(i),
            Ok(None) => {}
            Err(e) => ids.problems.push(e),
        }
    }
    let ask = |what: &str| super::prompt::ask_passphrase(what);
    let add_text = |ids: &mut Identities, text: &[u8], origin: &str| match parse_identity_text(
        text, origin, &ask,
    ) {
        Ok(mut l) => ids.list.append(&mut l),
        Err(e) => ids.problems.push(e),
    };
    ids.searched.push("SOPS_AGE_KEY".into());
    if let Some(v) = std::env::var_os("SOPS_AGE_KEY") {
        let v = Zeroizing::new(v.into_encoded_bytes());
        add_text(&mut ids, &v, "SOPS_AGE_KEY");
    }
    ids.searched.push("SOPS_AGE_KEY_FILE".into());
    if let Some(p) = std::env::var_os("SOPS_AGE_KEY_FILE") {
        match std::fs::read(&p) {
            Ok(d) => add_text(
                &mut ids,
                &Zeroizing::new(d),
                &PathBuf::from(&p).display().to_string(),
            ),
            Err(e) => ids.problems.push(format!(
                "SOPS_AGE_KEY_FILE {}: {e}",
                PathBuf::from(&p).display()
            )),
        }
    }
    ids.searched.push("SOPS_AGE_KEY_CMD".into());
    if let Ok(cmd) = std::env::var("SOPS_AGE_KEY_CMD") {
        match run_key_cmd(&cmd) {
            Ok(out) => add_text(&mut ids, &out, "SOPS_AGE_KEY_CMD"),
            Err(e) => ids.problems.push(e),
        }
    }
    if let Some(p) = default_keys_file() {
        ids.searched.push(p.display().to_string());
        match std::fs::read(&p) {
            Ok(d) => add_text(&mut ids, &Zeroizing::new(d), &p.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => ids.problems.push(format!("{}: {e}", p.display())),
        }
    }
    ids
}

fn run_key_cmd(cmd: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let words = shell_words::split(cmd).map_err(|e| format!("SOPS_AGE_KEY_CMD: {e}"))?;
    let (prog, args) = words.split_first().ok_or("SOPS_AGE_KEY_CMD is empty")?;
    let out = std::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("SOPS_AGE_KEY_CMD: cannot run {prog}: {e}"))?;
    if !out.status.success() {
        return Err(format!("SOPS_AGE_KEY_CMD exited with {}", out.status));
    }
    Ok(Zeroizing::new(out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../shared/vectors/sops/age/keysource_test-values/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("shared vectors present")
    }

    #[test]
    fn passphrase_protected_identity_file_like_sops() {
        let ask = |_: &str| Some(age::secrecy::SecretString::from("passphrase".to_string()));
        let ids = parse_identity_text(&vector("encrypted_identity.age"), "test", &ask).unwrap();
        assert_eq!(
            &unwrap(&vector("encrypted_key.age"), &ids).unwrap()[..],
            b"data"
        );
        let wrong = |_: &str| Some(age::secrecy::SecretString::from("nope".to_string()));
        assert!(parse_identity_text(&vector("encrypted_identity.age"), "test", &wrong).is_err());
        assert!(parse_identity_text(&vector("encrypted_identity.age"), "test", &|_| None).is_err());
    }

    #[test]
    fn keysource_vectors() {
        let none = |_: &str| None;
        let ids = parse_identity_text(&vector("identity.txt"), "id", &none).unwrap();
        assert_eq!(
            &unwrap(&vector("encrypted_key.age"), &ids).unwrap()[..],
            b"data"
        );
        let other = parse_identity_text(&vector("other_identity.txt"), "other", &none).unwrap();
        assert!(unwrap(&vector("encrypted_key.age"), &other).is_err());
        let ssh = age::ssh::Identity::from_buffer(&vector("ssh_identity")[..], None).unwrap();
        let ssh: Vec<Box<dyn age::Identity>> = vec![Box::new(ssh)];
        assert_eq!(
            &unwrap(&vector("encrypted_ssh_key.age"), &ssh).unwrap()[..],
            b"data"
        );
        let recipient = String::from_utf8(vector("ssh_recipient.pub")).unwrap();
        assert!(parse_recipient(recipient.trim()).is_ok());
    }
}
