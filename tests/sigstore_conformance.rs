//! Every offline case of Sigstore's client conformance suite
//! (`../shared/vectors/sigstore-conformance/test/assets/bundle-verify/`), run both ways (the
//! artifact's path, and `sha256:<hex>`) through `scripts/sigstore-conformance-client` and the
//! `sigil` binary exactly as the suite's harness calls a client. A case passes only with the
//! right exit code and, for `_fail` cases, the reason code and a detail naming what failed:
//! no refusal for the wrong reason.

use std::path::{Path, PathBuf};
use std::process::Command;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Each `_fail` case: the reason code and a fragment of the detail that names the failure.
const REFUSALS: &[(&str, &str, &str)] = &[
    (
        "bundle-empty-certificate-chain_fail",
        "malformed-signature",
        "certificate chain is empty",
    ),
    (
        "bundle-from-wrong-instance_fail",
        "tlog-mismatch",
        "is not a trusted Rekor log",
    ),
    (
        "bundle-invalid-base64-signature_fail",
        "malformed-signature",
        "messageSignature.signature is missing or not base64",
    ),
    (
        "bundle-malformed-json_fail",
        "malformed-signature",
        "EOF while parsing",
    ),
    (
        "bundle-negative-log-index_fail",
        "tlog-mismatch",
        "logIndex is not a non-negative integer",
    ),
    (
        "bundle-unknown-version_fail",
        "unsupported-signature-format",
        "version=99.9",
    ),
    (
        "bundle-with-root-cert_fail",
        "malformed-signature",
        "self-signed root certificate",
    ),
    (
        "checkpoint-bad-keyhint_fail",
        "tlog-mismatch",
        "checkpoint does not verify: no valid signature by the log's key",
    ),
    (
        "checkpoint-wrong-roothash_fail",
        "tlog-mismatch",
        "checkpoint does not verify",
    ),
    (
        "dsse-invalid-sig_fail",
        "bad-signature",
        "does not verify with its certificate's key",
    ),
    (
        "dsse-mismatch-envelope_fail",
        "tlog-mismatch",
        "about another payload hash",
    ),
    (
        "dsse-mismatch-sig_fail",
        "tlog-mismatch",
        "about another signature",
    ),
    (
        "inclusion-proof-corrupted-hash_fail",
        "tlog-mismatch",
        "inclusion proof does not verify",
    ),
    (
        "incorrect-public-key_fail",
        "tlog-mismatch",
        "signed entry timestamp does not verify",
    ),
    (
        "integrated-time-in-future_fail",
        "cert-expired",
        "leaf certificate (empty subject) is not valid at",
    ),
    (
        "intoto-expired-certificate_fail",
        "cert-expired",
        "is not valid at",
    ),
    (
        "intoto-log-entry-mismatch_fail",
        "tlog-mismatch",
        "the Rekor entry is not for this signature",
    ),
    (
        "intoto-missing-inclusion-proof_fail",
        "tlog-mismatch",
        "no inclusion proof",
    ),
    (
        "intoto-set-outside-signing-cert-validity_fail",
        "cert-expired",
        "leaf certificate (empty subject) is not valid at",
    ),
    (
        "intoto-tsa-timestamp-outside-cert-validity_fail",
        "cert-expired",
        "not valid at the RFC 3161 timestamp",
    ),
    (
        "invalid-checkpoint-signature_fail",
        "tlog-mismatch",
        "checkpoint does not verify: no valid signature by the log's key",
    ),
    (
        "invalid-ct-key_fail",
        "sct-invalid",
        "no SCT is from a trusted CT log",
    ),
    (
        "invalid-inclusion-proof_fail",
        "tlog-mismatch",
        "inclusion proof does not verify",
    ),
    (
        "managed-key-no-key_fail",
        "cert-untrusted",
        "needs a certificate and the signature has none",
    ),
    ("managed-key-wrong-key_fail", "untrusted-key", "key.pub"),
    (
        "message-digest-mismatch_fail",
        "digest-mismatch",
        "the bundle's message digest is",
    ),
    (
        "rekor2-checkpoint-missing-log-signature_fail",
        "tlog-mismatch",
        "checkpoint does not verify: no signature lines",
    ),
    (
        "rekor2-checkpoint-missing-origin_fail",
        "tlog-mismatch",
        "checkpoint does not verify: tree size line is not a number",
    ),
    (
        "rekor2-checkpoint-missing-root-hash_fail",
        "tlog-mismatch",
        "checkpoint does not verify: root hash",
    ),
    (
        "rekor2-checkpoint-missing-size_fail",
        "tlog-mismatch",
        "checkpoint does not verify: tree size line is not a number",
    ),
    (
        "rekor2-checkpoint-no-matching-signature_fail",
        "tlog-mismatch",
        "no valid signature by the log's key",
    ),
    (
        "rekor2-dsse-invalid-sig_fail",
        "bad-signature",
        "does not verify with its certificate's key",
    ),
    (
        "rekor2-dsse-mismatch-envelope_fail",
        "tlog-mismatch",
        "about another signed digest",
    ),
    (
        "rekor2-dsse-mismatch-sig_fail",
        "tlog-mismatch",
        "about another signature",
    ),
    (
        "rekor2-no-inclusion-proof_fail",
        "tlog-mismatch",
        "missing transparency-log proof: no inclusion proof",
    ),
    (
        "rekor2-no-timestamp_fail",
        "tlog-missing",
        "no trusted RFC 3161 timestamp",
    ),
    (
        "rekor2-timestamp-outside-trust-root-tsa-validity_fail",
        "tsa-invalid",
        "(validity window) is not valid at",
    ),
    (
        "rekor2-timestamp-outside-tsa-cert-validity_fail",
        "tsa-invalid",
        "leaf certificate CN=Test TSA Timestamping,O=local is not valid at",
    ),
    (
        "rekor2-timestamp-payload-mismatch_fail",
        "tsa-invalid",
        "the timestamp is for other bytes",
    ),
    (
        "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        "tsa-invalid",
        "timestamp authority not trusted",
    ),
    (
        "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail",
        "tsa-invalid",
        "timestamp authority not trusted",
    ),
    (
        "rekor2-timestamp-with-incorrect-time_fail",
        "cert-expired",
        "not valid at the RFC 3161 timestamp",
    ),
    (
        "set-invalid-signature_fail",
        "tlog-mismatch",
        "signed entry timestamp does not verify",
    ),
    (
        "signature-mismatch_fail",
        "bad-signature",
        "does not verify with its certificate's key",
    ),
    (
        "trust-root-tlog-missing-validity-start_fail",
        "trust-root-invalid",
        "validFor: has no start",
    ),
    (
        "wrong-hashedrekord-artifact_fail",
        "tlog-mismatch",
        "about another payload hash",
    ),
    (
        "wrong-hashedrekord-cert-and-sig_fail",
        "tlog-mismatch",
        "about another signature",
    ),
    (
        "wrong-hashedrekord-entry_fail",
        "tlog-mismatch",
        "about another payload hash",
    ),
    (
        "wrong-material_fail",
        "bad-signature",
        "does not verify with its certificate's key",
    ),
];

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors/sigstore-conformance/test/assets/bundle-verify")
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// The suite's call for one case and input, as upstream `test/client.py` builds it.
fn run_case(case: &Path, input: &str) -> (i32, String) {
    let mut cmd = Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sigstore-conformance-client"),
    );
    cmd.env("SIGIL", env!("CARGO_BIN_EXE_sigil"))
        .env("XDG_DATA_HOME", "/nonexistent/sigil-test")
        .arg("verify-bundle")
        .arg("--bundle")
        .arg(case.join("bundle.sigstore.json"));
    let key = case.join("key.pub");
    if key.exists() {
        cmd.arg("--key").arg(key);
    } else {
        let read = |f: &str, default: &str| {
            std::fs::read_to_string(case.join(f))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| default.to_string())
        };
        cmd.arg("--certificate-identity")
            .arg(read("identity", IDENTITY))
            .arg("--certificate-oidc-issuer")
            .arg(read("issuer", ISSUER));
    }
    let root = case.join("trusted_root.json");
    if root.exists() {
        cmd.arg("--trusted-root").arg(root);
    }
    let out = cmd.arg(input).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn every_offline_case_both_ways() {
    let mut names: Vec<String> = std::fs::read_dir(cases_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 70, "the suite's offline cases");
    let mut failures = Vec::new();
    let mut verdicts = 0;
    for name in &names {
        let case = cases_dir().join(name);
        let artifact = if case.join("artifact").exists() {
            case.join("artifact")
        } else {
            cases_dir().join("a.txt")
        };
        let digest = format!("sha256:{}", sha256_hex(&artifact));
        for input in [artifact.to_string_lossy().into_owned(), digest] {
            verdicts += 1;
            let (code, text) = run_case(&case, &input);
            let how = if input.starts_with("sha256:") {
                "digest"
            } else {
                "path"
            };
            if let Some(&(_, reason, fragment)) = REFUSALS.iter().find(|(n, ..)| n == name) {
                let wanted = format!("): {reason} — ");
                if code != 1 || !text.contains(&wanted) || !text.contains(fragment) {
                    failures.push(format!(
                        "{name} [{how}]: want exit 1, {reason}, {fragment:?}; got {code}: {text}"
                    ));
                }
            } else if code != 0 || !text.starts_with("VERIFIED ") {
                failures.push(format!("{name} [{how}]: want verified; got {code}: {text}"));
            }
        }
    }
    assert!(
        names.iter().filter(|n| n.ends_with("_fail")).count() == REFUSALS.len(),
        "every _fail case has an expected reason"
    );
    assert_eq!(verdicts, 140);
    assert!(
        failures.is_empty(),
        "{} of 140 verdicts wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Verified keyless cases name the signer and the trusted time; the pinned root is named.
#[test]
fn a_verified_bundle_names_its_signer_time_and_root() {
    let case = cases_dir().join("happy-path-v0.3");
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .env("XDG_DATA_HOME", "/nonexistent/sigil-test")
        .args(["verify", "blob", "--format", "json", "--bundle"])
        .arg(case.join("bundle.sigstore.json"))
        .args([
            "--certificate-identity-regexp",
            "https://github\\.com/sigstore-conformance/.*",
        ])
        .args(["--certificate-oidc-issuer", ISSUER])
        .arg(cases_dir().join("a.txt"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "verified");
    assert_eq!(v["trustRoot"], "sigstore public-good 2025-09-23 (pinned)");
    let sig = &v["artifacts"][0]["signatures"][0];
    assert_eq!(sig["identity"], format!("{ISSUER} {IDENTITY}").as_str());
    assert!(sig["signedAt"].as_str().unwrap().starts_with("20"));
    // A regexp is anchored: a prefix of the identity does not match it.
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .env("XDG_DATA_HOME", "/nonexistent/sigil-test")
        .args(["verify", "blob", "--bundle"])
        .arg(case.join("bundle.sigstore.json"))
        .args([
            "--certificate-identity-regexp",
            "https://github\\.com/sigstore-conformance",
        ])
        .args(["--certificate-oidc-issuer", ISSUER])
        .arg(cases_dir().join("a.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("identity-mismatch"));
}

/// Usage errors are exit 2, not refusals.
#[test]
fn usage_errors_exit_2() {
    let case = cases_dir().join("happy-path-v0.3");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sigil"))
            .env("XDG_DATA_HOME", "/nonexistent/sigil-test")
            .args(["verify", "blob"])
            .args(args)
            .output()
            .unwrap()
            .status
            .code()
    };
    let bundle = case.join("bundle.sigstore.json");
    let bundle = bundle.to_str().unwrap();
    let a = cases_dir().join("a.txt");
    let a = a.to_str().unwrap();
    // No identity and no key.
    assert_eq!(run(&["--bundle", bundle, a]), Some(2));
    // An identity without an issuer.
    assert_eq!(
        run(&["--bundle", bundle, "--certificate-identity", IDENTITY, a]),
        Some(2)
    );
    // A missing artifact that is not a digest (one hex digit short).
    let short = format!("sha256:{}", &"0".repeat(63));
    assert_eq!(
        run(&[
            "--bundle",
            bundle,
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
            &short
        ]),
        Some(2)
    );
    // A missing bundle.
    assert_eq!(
        run(&[
            "--bundle",
            "/nonexistent",
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
            a
        ]),
        Some(2)
    );
}
