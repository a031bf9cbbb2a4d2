//! `sigil verify blob` on bundles made at test time: keyless with the private Sigstore PKI of
//! the image tests (CA, Rekor key with SETs and inclusion proofs, an openssl TSA, a
//! `trusted_root.json` naming them), message signatures and in-toto DSSE, Rekor v1 and v2
//! style entries; and key-signed bundles from `sigil sign blob` with cosign key files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use common::Scratch;
use common::sigstore_pki::*;
use sigil::sops::time::format_unix;

const IN_TOTO: &str = "application/vnd.in-toto+json";

struct Lab {
    s: Scratch,
    pki: Pki,
    root: PathBuf,
    file: PathBuf,
    artifact: Vec<u8>,
}

impl Lab {
    fn new() -> Lab {
        let s = Scratch::new();
        let pki = Pki::new(&s);
        pki.tsa();
        let root = s.write("trusted_root.json", &pki.trusted_root_json());
        let artifact = b"release-1.2.3.tar.gz contents\n".to_vec();
        let file = s.write("release.tar.gz", &artifact);
        Lab {
            s,
            pki,
            root,
            file,
            artifact,
        }
    }

    fn digest(&self) -> String {
        format!("sha256:{}", hex(&Sha256::digest(&self.artifact)))
    }

    /// A v0.3 bundle with a message signature over `signed` by `leaf`, logged (SET at `at`
    /// and an inclusion proof) as a hashedrekord of `logged`.
    fn message_bundle(&self, leaf: &Leaf, signed: &[u8], logged: &[u8], at: i64) -> Vec<u8> {
        let sig = sign(&leaf.key, signed);
        let logged_sig = if logged == signed {
            sig.clone()
        } else {
            sign(&leaf.key, logged)
        };
        let body = hashedrekord(logged, &logged_sig, &leaf.pem);
        serde_json::to_vec(&serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": B64.encode(cert_der(&leaf.pem))},
                "tlogEntries": [self.entry(&body, at, "hashedrekord")],
            },
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(Sha256::digest(signed))},
                "signature": B64.encode(&sig),
            },
        }))
        .unwrap()
    }

    fn entry(&self, body: &[u8], at: i64, kind: &str) -> serde_json::Value {
        serde_json::json!({
            "logIndex": "7",
            "logId": {"keyId": B64.encode(log_id(&self.pki.rekor))},
            "kindVersion": {"kind": kind, "version": "0.0.1"},
            "integratedTime": at.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": B64.encode(set(&self.pki.rekor, body, at, 7))},
            "inclusionProof": single_leaf_proof(&self.pki, body),
            "canonicalizedBody": B64.encode(body),
        })
    }

    /// A v0.3 bundle with a DSSE in-toto statement naming `subject_sha256`, logged as `dsse`.
    fn dsse_bundle(&self, leaf: &Leaf, subject_sha256: &str, at: i64) -> Vec<u8> {
        let statement = serde_json::to_vec(&serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "release.tar.gz", "digest": {"sha256": subject_sha256}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {}},
        }))
        .unwrap();
        let sig = sign(&leaf.key, &sigil::image::verify::pae(IN_TOTO, &statement));
        let body = serde_json::to_vec(&serde_json::json!({
            "apiVersion": "0.0.1", "kind": "dsse",
            "spec": {
                "payloadHash": {"algorithm": "sha256", "value": hex(&Sha256::digest(&statement))},
                "signatures": [{"signature": B64.encode(&sig), "verifier": B64.encode(&leaf.pem)}],
            },
        }))
        .unwrap();
        serde_json::to_vec(&serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": B64.encode(cert_der(&leaf.pem))},
                "tlogEntries": [self.entry(&body, at, "dsse")],
            },
            "dsseEnvelope": {"payload": B64.encode(&statement), "payloadType": IN_TOTO, "signatures": [{"sig": B64.encode(&sig), "keyid": ""}]},
        }))
        .unwrap()
    }

    /// Runs `sigil verify blob --format json` on `bundle` for `input`; (exit code, JSON).
    fn verify(&self, bundle: &[u8], input: &str, args: &[&str]) -> (i32, serde_json::Value) {
        let path = self.s.write("bundle.json", bundle);
        let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
            .env("XDG_DATA_HOME", "/nonexistent/sigil-test")
            .args(["verify", "blob", "--format", "json", "--bundle"])
            .arg(&path)
            .args(args)
            .arg(input)
            .output()
            .unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&out.stderr).into_owned())
        });
        (out.status.code().unwrap_or(-1), v)
    }

    fn keyless(&self, bundle: &[u8], input: &str, email: &str) -> (i32, serde_json::Value) {
        self.keyless_with(bundle, input, email, &["--insecure-ignore-sct"])
    }

    /// Keyless verification for `email` and the test issuer under the lab's trust root, plus
    /// `extra` arguments.
    fn keyless_with(
        &self,
        bundle: &[u8],
        input: &str,
        email: &str,
        extra: &[&str],
    ) -> (i32, serde_json::Value) {
        let root = self.root.to_str().unwrap();
        let mut args = vec![
            "--certificate-identity",
            email,
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            root,
        ];
        args.extend_from_slice(extra);
        self.verify(bundle, input, &args)
    }
}

fn refused(r: &(i32, serde_json::Value), reason: &str) {
    assert_eq!(r.0, 1, "{:#}", r.1);
    assert_eq!(r.1["reason"], reason, "{:#}", r.1);
}

fn verified_at(r: &(i32, serde_json::Value), at: i64) {
    assert_eq!(r.0, 0, "{:#}", r.1);
    let sig = &r.1["artifacts"][0]["signatures"][0];
    assert_eq!(sig["identity"], format!("{ISSUER} {EMAIL}").as_str());
    assert_eq!(sig["signedAt"], format_unix(at).as_str(), "{:#}", r.1);
}

#[test]
fn keyless_message_signatures() {
    let lab = Lab::new();
    let leaf = lab.pki.email_leaf("leaf");
    let at = now();
    let good = lab.message_bundle(&leaf, &lab.artifact, &lab.artifact, at);
    let file = lab.file.to_str().unwrap();
    verified_at(&lab.keyless(&good, file, EMAIL), at);
    verified_at(&lab.keyless(&good, &lab.digest(), EMAIL), at);
    assert!(
        lab.keyless(&good, file, EMAIL).1["trustRoot"]
            .as_str()
            .unwrap()
            .contains("trusted_root.json (sha256:")
    );
    // Another identity, another issuer.
    refused(
        &lab.keyless(&good, file, "eve@example.com"),
        "identity-mismatch",
    );
    let root = lab.root.to_str().unwrap();
    refused(
        &lab.verify(
            &good,
            file,
            &[
                "--certificate-identity",
                EMAIL,
                "--certificate-oidc-issuer-regexp",
                "https://accounts\\.google\\.com",
                "--trusted-root",
                root,
                "--insecure-ignore-sct",
            ],
        ),
        "identity-mismatch",
    );
    // Another artifact.
    let other = lab.s.write("other.tar.gz", b"something else");
    refused(
        &lab.keyless(&good, other.to_str().unwrap(), EMAIL),
        "bad-signature",
    );
    // Logged before the certificate was valid.
    let early = lab.message_bundle(&leaf, &lab.artifact, &lab.artifact, at - 2 * DAY);
    refused(&lab.keyless(&early, file, EMAIL), "cert-expired");
    // The log entry is for another artifact (the SET is genuine, for that entry).
    let mismatched = lab.message_bundle(&leaf, &lab.artifact, b"other", at);
    refused(&lab.keyless(&mismatched, file, EMAIL), "tlog-mismatch");
    // No log entry.
    let mut unlogged: serde_json::Value = serde_json::from_slice(&good).unwrap();
    unlogged["verificationMaterial"]["tlogEntries"] = serde_json::json!([]);
    let unlogged = serde_json::to_vec(&unlogged).unwrap();
    refused(&lab.keyless(&unlogged, file, EMAIL), "tlog-missing");
    // Unless the log is explicitly not required (private PKI): then the time is now.
    let r = lab.keyless_with(
        &unlogged,
        file,
        EMAIL,
        &["--insecure-ignore-sct", "--insecure-ignore-tlog"],
    );
    assert_eq!(r.0, 0, "{:#}", r.1);
    // Without --insecure-ignore-sct, the private CA's leaf (no SCT) is refused.
    refused(&lab.keyless_with(&good, file, EMAIL, &[]), "sct-invalid");
    // Against the pinned public-good root, the private CA and log are unknown.
    let r = lab.verify(
        &good,
        file,
        &[
            "--certificate-identity",
            EMAIL,
            "--certificate-oidc-issuer",
            ISSUER,
        ],
    );
    assert_eq!(r.0, 1, "{:#}", r.1);
    assert_eq!(r.1["trustRoot"], "sigstore public-good 2025-09-23 (pinned)");
}

#[test]
fn keyless_in_toto_statements() {
    let lab = Lab::new();
    let leaf = lab.pki.email_leaf("leaf");
    let at = now();
    let hex_digest = lab.digest()["sha256:".len()..].to_string();
    let good = lab.dsse_bundle(&leaf, &hex_digest, at);
    verified_at(&lab.keyless(&good, lab.file.to_str().unwrap(), EMAIL), at);
    verified_at(&lab.keyless(&good, &lab.digest(), EMAIL), at);
    // A statement about another artifact.
    let other = lab.dsse_bundle(&leaf, &"ab".repeat(32), at);
    refused(
        &lab.keyless(&other, lab.file.to_str().unwrap(), EMAIL),
        "digest-mismatch",
    );
}

/// A Rekor v2 style entry: hashedrekord 0.0.2, an inclusion proof and no SET, so the signing
/// time must come from the RFC 3161 timestamp.
#[test]
fn keyless_rekor_v2_entry_with_a_timestamp() {
    let lab = Lab::new();
    let leaf = lab.pki.email_leaf("leaf");
    let good: serde_json::Value =
        serde_json::from_slice(&lab.message_bundle(&leaf, &lab.artifact, &lab.artifact, now()))
            .unwrap();
    let sig = B64
        .decode(good["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    let body = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.2", "kind": "hashedrekord",
        "spec": {"hashedRekordV002": {
            "data": {"algorithm": "SHA2_256", "digest": B64.encode(Sha256::digest(&lab.artifact))},
            "signature": {"content": B64.encode(&sig), "verifier": {
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "x509Certificate": {"rawBytes": B64.encode(cert_der(&leaf.pem))},
            }},
        }},
    }))
    .unwrap();
    let bundle = |stamp: Option<&[u8]>| {
        let mut v = good.clone();
        v["verificationMaterial"]["tlogEntries"] = serde_json::json!([{
            "logIndex": "0",
            "logId": {"keyId": B64.encode(log_id(&lab.pki.rekor))},
            "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
            "inclusionProof": single_leaf_proof(&lab.pki, &body),
            "canonicalizedBody": B64.encode(&body),
        }]);
        if let Some(stamped) = stamp {
            v["verificationMaterial"]["timestampVerificationData"] = serde_json::json!(
                {"rfc3161Timestamps": [{"signedTimestamp": B64.encode(lab.pki.timestamp(stamped))}]}
            );
        }
        serde_json::to_vec(&v).unwrap()
    };
    let file = lab.file.to_str().unwrap();
    let r = lab.keyless(&bundle(Some(&sig)), file, EMAIL);
    assert_eq!(r.0, 0, "{:#}", r.1);
    refused(&lab.keyless(&bundle(None), file, EMAIL), "tlog-missing");
    // A timestamp over other bytes is not a time for this signature.
    refused(
        &lab.keyless(&bundle(Some(b"other")), file, EMAIL),
        "tsa-invalid",
    );
}

fn sigil_sign_blob(key: &Path, file: &Path, out: &Path, password: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["sign", "blob"])
        .arg(file)
        .arg("--key")
        .arg(key)
        .arg("--bundle")
        .arg(out)
        .env("COSIGN_PASSWORD", password)
        .output()
        .unwrap()
}

/// `sigil sign blob` with a cosign key pair from `sigil keygen --cosign`, and with an
/// unencrypted ECDSA key from sigstore-rs's test data; `verify blob --key` checks them.
#[test]
fn key_signed_bundles() {
    let lab = Lab::new();
    let dir = lab.s.path("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let mut keygen = Command::new(env!("CARGO_BIN_EXE_sigil"));
    keygen
        .args(["keygen", "--cosign"])
        .current_dir(&dir)
        .env("COSIGN_PASSWORD", "pw");
    common::ok(keygen);
    let vectors = common::vectors().join("cosign/sigstore-rs/tests/data/keys");
    let plain_pub = dir.join("ecdsa.pub");
    let mut pubout = Command::new("openssl");
    pubout
        .args(["pkey", "-pubout", "-in"])
        .arg(vectors.join("ecdsa_private.key"))
        .arg("-out")
        .arg(&plain_pub);
    common::ok(pubout);
    for (key, public, password) in [
        (dir.join("cosign.key"), dir.join("cosign.pub"), "pw"),
        (vectors.join("ecdsa_private.key"), plain_pub.clone(), ""),
    ] {
        let bundle = lab.s.path("signed.sigstore.json");
        let out = sigil_sign_blob(&key, &lab.file, &bundle, password);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&bundle).unwrap();
        let public = public.to_str().unwrap();
        let file = lab.file.to_str().unwrap();
        let r = lab.verify(&bytes, file, &["--key", public, "--insecure-ignore-tlog"]);
        assert_eq!(r.0, 0, "{:#}", r.1);
        assert!(
            r.1["artifacts"][0]["signatures"][0]["identity"]
                .as_str()
                .unwrap()
                .starts_with("key sha256:")
        );
        let r = lab.verify(
            &bytes,
            &lab.digest(),
            &["--key", public, "--insecure-ignore-tlog"],
        );
        assert_eq!(r.0, 0, "{:#}", r.1);
        // The transparency log is required unless waived.
        refused(
            &lab.verify(&bytes, file, &["--key", public]),
            "tlog-missing",
        );
        // Another file: the bundle names this key, so the signature was altered.
        let other = lab.s.write("other", b"other");
        refused(
            &lab.verify(
                &bytes,
                other.to_str().unwrap(),
                &["--key", public, "--insecure-ignore-tlog"],
            ),
            "bad-signature",
        );
    }
    // The other key does not vouch.
    let bundle = lab.s.path("signed.sigstore.json");
    assert!(
        sigil_sign_blob(&dir.join("cosign.key"), &lab.file, &bundle, "pw")
            .status
            .success()
    );
    let bytes = std::fs::read(&bundle).unwrap();
    refused(
        &lab.verify(
            &bytes,
            lab.file.to_str().unwrap(),
            &[
                "--key",
                plain_pub.to_str().unwrap(),
                "--insecure-ignore-tlog",
            ],
        ),
        "untrusted-key",
    );
    // Ed25519 keys sign whole messages: a digest bundle cannot be made with one.
    let out = sigil_sign_blob(&vectors.join("ed25519_private.key"), &lab.file, &bundle, "");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Public production bundles from the shared vectors (cosign v3 image signature from the
/// kubewarden release workflow, via sigstore-rs; a cosign attestation by a GitHub login, via
/// cosign's test data) verified as blobs for the digest their statement names, against the
/// pinned public-good root; the same bundles for another digest are refused.
#[test]
fn public_bundles_verify_against_the_pinned_root() {
    let v = common::vectors().join("cosign");
    let cases = [
        (
            "sigstore-rs/tests/data/bundle_v03.json",
            "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172",
            "--certificate-identity-regexp",
            "https://github\\.com/kubewarden/.*",
            "--certificate-oidc-issuer",
            "https://token.actions.githubusercontent.com",
            "2026-04-09T07:23:29Z",
        ),
        (
            "cosign/pkg/cosign/testdata/oci-attestation.sigstore.json",
            "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4",
            "--certificate-identity",
            "cody@soyland.com",
            "--certificate-oidc-issuer",
            "https://github.com/login/oauth",
            "2025-02-28T19:18:11Z",
        ),
    ];
    for (bundle, digest, id_flag, id, iss_flag, iss, at) in cases {
        let run = |digest: &str| {
            let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
                .env("XDG_DATA_HOME", "/nonexistent/sigil-test")
                .args(["verify", "blob", "--format", "json", "--bundle"])
                .arg(v.join(bundle))
                .args([id_flag, id, iss_flag, iss, digest])
                .output()
                .unwrap();
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            (out.status.code(), json)
        };
        let (code, json) = run(digest);
        assert_eq!(code, Some(0), "{bundle}: {json:#}");
        assert_eq!(json["artifacts"][0]["signatures"][0]["signedAt"], at);
        let other = format!("sha256:{}", "0".repeat(64));
        let (code, json) = run(&other);
        assert_eq!(
            (code, json["reason"].as_str()),
            (Some(1), Some("digest-mismatch")),
            "{json:#}"
        );
    }
}
