//! cosign key pairs against an independent implementation: `sigil keygen --cosign` output is
//! decrypted by Python (PyNaCl secretbox + hashlib.scrypt + cryptography), and keys written by
//! Python (the recipe of the cosign lab script) are decrypted by sigil's library.
//! Needs python3 with `nacl` and `cryptography` (installed by scripts/peers.sh).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use sigil::image::cosign_key::{CosignKeyError, decrypt};
use sigil::image::pubkey::PublicKey;

fn sigil() -> Command {
    let mut c = Command::cargo_bin("sigil").expect("sigil binary");
    c.env_remove("COSIGN_PASSWORD");
    c
}

/// Runs a Python program with arguments; panics with its stderr on failure.
fn python(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(program)
        .args(args)
        .output()
        .expect("python3 is needed for the cosign key interop tests");
    assert!(
        out.status.success(),
        "python failed (needs python3 with nacl and cryptography; see scripts/peers.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Python oracle: decrypts a cosign key file and prints the matching public key as PEM, after
/// checking the envelope (label, compact JSON in cosign's field order, scrypt N=32768 r=8 p=1,
/// 32-byte salt, 24-byte nonce) and that the plaintext is a PKCS#8 key.
const PY_DECRYPT: &str = r#"
import sys, json, base64, hashlib
import nacl.secret
from cryptography.hazmat.primitives import serialization as s
path, pw = sys.argv[1], sys.argv[2].encode()
text = open(path).read()
lines = text.splitlines()
assert lines[0] == "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----", lines[0]
assert lines[-1] == "-----END ENCRYPTED COSIGN PRIVATE KEY-----", lines[-1]
assert text.endswith("\n")
body = lines[1:-1]
assert all(len(l) == 64 for l in body[:-1]) and 0 < len(body[-1]) <= 64, body
raw = base64.b64decode("".join(body), validate=True)
doc = json.loads(raw)
assert list(doc) == ["kdf", "cipher", "ciphertext"], list(doc)
assert list(doc["kdf"]) == ["name", "params", "salt"]
assert list(doc["kdf"]["params"]) == ["N", "r", "p"]
assert list(doc["cipher"]) == ["name", "nonce"]
assert raw == json.dumps(doc, separators=(",", ":")).encode(), "not compact JSON"
assert doc["kdf"]["name"] == "scrypt" and doc["cipher"]["name"] == "nacl/secretbox"
p = doc["kdf"]["params"]
assert (p["N"], p["r"], p["p"]) == (32768, 8, 1), p
salt = base64.b64decode(doc["kdf"]["salt"], validate=True)
nonce = base64.b64decode(doc["cipher"]["nonce"], validate=True)
assert len(salt) == 32 and len(nonce) == 24
key = hashlib.scrypt(pw, salt=salt, n=p["N"], r=8, p=1, dklen=32, maxmem=512 * 1024 * 1024)
pkcs8 = nacl.secret.SecretBox(key).decrypt(base64.b64decode(doc["ciphertext"], validate=True), nonce)
k = s.load_der_private_key(pkcs8, password=None)
sys.stdout.write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode())
"#;

/// Python oracle: verifies an ECDSA P-256/SHA-256 DER signature (hex) over a message with
/// the public key in a PEM file.
const PY_VERIFY: &str = r#"
import sys
from cryptography.hazmat.primitives import serialization as s, hashes
from cryptography.hazmat.primitives.asymmetric import ec
pub = s.load_pem_public_key(open(sys.argv[1], "rb").read())
pub.verify(bytes.fromhex(sys.argv[3]), sys.argv[2].encode(), ec.ECDSA(hashes.SHA256()))
print("ok")
"#;

/// Python writer (the cosign lab recipe): args out-prefix, PEM label, scrypt N, key type
/// (p256, p384, ed25519), password.
const PY_WRITE: &str = r#"
import sys, os, json, base64, hashlib, textwrap
import nacl.secret
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives import serialization as s
out, label, n, kind, pw = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5].encode()
k = {"p256": lambda: ec.generate_private_key(ec.SECP256R1()),
     "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
     "ed25519": ed25519.Ed25519PrivateKey.generate}[kind]()
pkcs8 = k.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
salt, nonce = os.urandom(32), os.urandom(24)
key = hashlib.scrypt(pw, salt=salt, n=n, r=8, p=1, dklen=32, maxmem=512 * 1024 * 1024)
ct = nacl.secret.SecretBox(key).encrypt(pkcs8, nonce).ciphertext
b64 = lambda b: base64.b64encode(b).decode()
blob = json.dumps({"kdf": {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1}, "salt": b64(salt)},
                   "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
                   "ciphertext": b64(ct)}, separators=(",", ":")).encode()
body = "\n".join(textwrap.wrap(base64.b64encode(blob).decode(), 64))
open(out + ".key", "w").write(f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
open(out + ".pub", "wb").write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
"#;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn keygen_cosign_output_decrypts_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("release");
    let out = sigil()
        .args(["keygen", "--cosign", "--output-key-prefix"])
        .arg(&prefix)
        .env("COSIGN_PASSWORD", "correct horse")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let key = dir.path().join("release.key");
    let public = dir.path().join("release.pub");
    assert!(
        stderr(&out).contains(&*key.to_string_lossy()),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&*public.to_string_lossy()),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&public), 0o644);
    // Nothing else (no leftover temporary files).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    let pub_pem = std::fs::read_to_string(&public).unwrap();
    assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let py_pub = python(PY_DECRYPT, &[key.to_str().unwrap(), "correct horse"]);
    assert_eq!(
        py_pub, pub_pem,
        "Python's public key of release.key equals release.pub"
    );

    // The same key, read back by sigil, signs; Python verifies under release.pub.
    let sk = decrypt(&std::fs::read_to_string(&key).unwrap(), b"correct horse").unwrap();
    assert_eq!(sk.kind(), "ecdsa-p256");
    let msg = "{\"critical\":{},\"optional\":null}";
    let sig: String = sk
        .sign(msg.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let verdict = python(PY_VERIFY, &[public.to_str().unwrap(), msg, &sig]);
    assert_eq!(verdict.trim(), "ok");

    // A wrong password does not open it (in Python either).
    assert_eq!(
        decrypt(&std::fs::read_to_string(&key).unwrap(), b"wrong").unwrap_err(),
        CosignKeyError::WrongPassword
    );
    let bad = std::process::Command::new("python3")
        .arg("-c")
        .arg(PY_DECRYPT)
        .args([key.to_str().unwrap(), "wrong"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn keygen_cosign_default_prefix_and_empty_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = sigil()
        .args(["keygen", "--cosign"])
        .current_dir(dir.path())
        .env("COSIGN_PASSWORD", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let key = dir.path().join("cosign.key");
    let public = dir.path().join("cosign.pub");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&public), 0o644);
    let py_pub = python(PY_DECRYPT, &[key.to_str().unwrap(), ""]);
    assert_eq!(py_pub, std::fs::read_to_string(&public).unwrap());
    let pk = PublicKey::from_pem(&py_pub).unwrap();
    assert_eq!(pk.kind(), "ecdsa-p256");
}

#[test]
fn keygen_cosign_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        sigil()
            .args(["keygen", "--cosign"])
            .current_dir(dir.path())
            .env("COSIGN_PASSWORD", "pw")
            .output()
            .unwrap()
    };
    assert!(run().status.success());
    let key = dir.path().join("cosign.key");
    let public = dir.path().join("cosign.pub");
    let before = (
        std::fs::read(&key).unwrap(),
        std::fs::read(&public).unwrap(),
    );
    let again = run();
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("cosign.key already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        (
            std::fs::read(&key).unwrap(),
            std::fs::read(&public).unwrap()
        ),
        before
    );

    // Only the public half present: still refused, and no private key is written.
    std::fs::remove_file(&key).unwrap();
    let again = run();
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("cosign.pub already exists"),
        "{}",
        stderr(&again)
    );
    assert!(!key.exists());
    assert_eq!(std::fs::read(&public).unwrap(), before.1);
}

#[test]
fn keygen_flag_combinations_and_age_default() {
    let dir = tempfile::tempdir().unwrap();
    // --output-key-prefix needs --cosign; --cosign does not take -o.
    for args in [
        &["keygen", "--output-key-prefix", "x"][..],
        &["keygen", "--cosign", "-o", "x"][..],
    ] {
        let out = sigil()
            .args(args)
            .current_dir(dir.path())
            .env("COSIGN_PASSWORD", "pw")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // Plain `keygen` still prints an age identity.
    let out = sigil().arg("keygen").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("# created: "), "{text}");
    assert!(text.contains("\nAGE-SECRET-KEY-1"), "{text}");
}

#[test]
fn python_written_keys_decrypt_in_sigil() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("ENCRYPTED COSIGN PRIVATE KEY", "32768", "p256"),
        ("ENCRYPTED SIGSTORE PRIVATE KEY", "32768", "p256"),
        ("ENCRYPTED COSIGN PRIVATE KEY", "65536", "p256"),
        ("ENCRYPTED SIGSTORE PRIVATE KEY", "65536", "p256"),
        ("ENCRYPTED SIGSTORE PRIVATE KEY", "131072", "p256"),
        ("ENCRYPTED COSIGN PRIVATE KEY", "32768", "p384"),
        ("ENCRYPTED SIGSTORE PRIVATE KEY", "32768", "ed25519"),
    ];
    for (i, (label, n, kind)) in cases.into_iter().enumerate() {
        let prefix = dir.path().join(format!("k{i}"));
        let password = if i == 1 { "" } else { "lab-passphrase" };
        python(
            PY_WRITE,
            &[prefix.to_str().unwrap(), label, n, kind, password],
        );
        let text = std::fs::read_to_string(prefix.with_extension("key")).unwrap();
        let pub_pem = std::fs::read_to_string(prefix.with_extension("pub")).unwrap();
        let key = decrypt(&text, password.as_bytes())
            .unwrap_or_else(|e| panic!("{label} N={n} {kind}: {e}"));
        let expected = PublicKey::from_pem(&pub_pem).unwrap();
        assert_eq!(
            key.public_key().to_spki_der(),
            expected.to_spki_der(),
            "{label} N={n} {kind}"
        );
        let sig = key.sign(b"payload");
        expected.verify(b"payload", &sig).unwrap();
        assert_eq!(
            decrypt(&text, b"not the password").unwrap_err(),
            CosignKeyError::WrongPassword,
            "{label} N={n} {kind}"
        );
    }
}
