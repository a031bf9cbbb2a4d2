//! `sigil sign image` and `sigil verify images` against a real registry: Debian's
//! docker-registry (distribution 2.8, no referrers API) on a random 127.0.0.1 port, started
//! and stopped by the test. Images are built here as OCI manifests and pushed by sigil's client.

mod common;

use std::path::{Path, PathBuf};

use common::registry::{
    Fake, FakeRequest, Registry, cosign_keypair as keypair, fake_reply, sign_image as sign,
    verdict, verify, verify_cmd,
};
use common::{Scratch, run, sigil};
use sigil::image::registry::{Client, ClientOptions, OCI_MANIFEST, RegistryError, sha256_digest};

/// A cosign key pair made by `sigil keygen --cosign`.
/// A policy with one rule for the test registry.
fn policy(s: &Scratch, rule_extra: &str, keys: &[&Path]) -> PathBuf {
    let authorities: String = keys
        .iter()
        .map(|k| format!("          - key: {}\n", k.display()))
        .collect();
    s.write(
        "policy.yaml",
        format!(
            "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  images:\n    insecureRegistries: [\"127.0.0.1:*\"]\n    rules:\n      - match: \"127.0.0.1:*/**\"\n{rule_extra}        authorities:\n{authorities}"
        )
        .as_bytes(),
    )
}

#[test]
fn legacy_and_bundle_signatures_round_trip() {
    let reg = Registry::start();
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    let p = policy(&s, "", &[&public]);

    let legacy = reg.image("team/legacy", "v1");
    let d1 = reg.push_image("team/legacy", "v1", "legacy");
    sign(&s, &legacy, &key, &[]);
    let v = verify(&s, &p, &[&legacy], &[]);
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(v.image(0)["digest"], d1.as_str());
    assert_eq!(v.image(0)["signatures"][0]["format"], "legacy");
    assert_eq!(v.image(0)["signatures"][0]["result"], "verified");

    // cosign v3 layout: bundle referrer + the sha256-<hex> fallback index (no referrers API here).
    let bundled = reg.image("team/bundled", "v1");
    let d2 = reg.push_image("team/bundled", "v1", "bundled");
    sign(&s, &bundled, &key, &["--bundle", "--bundle-only"]);
    let fallback = reg
        .client()
        .manifest(&reg.host, "team/bundled", &d2.replacen(':', "-", 1))
        .unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&fallback.expect("fallback index").bytes).unwrap();
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert!(
        reg.client()
            .manifest(
                &reg.host,
                "team/bundled",
                &format!("{}.sig", d2.replacen(':', "-", 1))
            )
            .unwrap()
            .is_none()
    );
    let v = verify(&s, &p, &[&bundled], &[]);
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(v.image(0)["signatures"][0]["format"], "bundle");

    // Both images at once, by digest, in parallel.
    let by_digest = [
        format!("{}/team/legacy@{d1}", reg.host),
        format!("{}/team/bundled@{d2}", reg.host),
    ];
    let v = verify(&s, &p, &[&by_digest[0], &by_digest[1]], &["--jobs", "2"]);
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(v.json["images"].as_array().unwrap().len(), 2);
}

/// A `.sig` layer whose descriptor names the size and SHA-256 of cosign's payload for this
/// image is verified from those bytes without a blob request; any other layer is fetched.
#[test]
fn predictable_payloads_are_not_fetched() {
    let reg = Registry::start();
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    let p = policy(&s, "", &[&public]);

    let plain = reg.image("team/plain", "v1");
    let d = reg.push_image("team/plain", "v1", "plain");
    sign(&s, &plain, &key, &[]);
    for blob in reg.sig_layers("team/plain", &d) {
        reg.delete_blob("team/plain", &blob);
    }
    let v = verify(&s, &p, &[&plain], &[]);
    assert_eq!(v.code, 0, "{}", v.json);

    // Signed with an annotation the rule does not ask for: the payload is not predicted, so
    // it is fetched (and verifies); once its blob is gone, the image cannot be verified.
    let extra = reg.image("team/extra", "v1");
    let d = reg.push_image("team/extra", "v1", "extra");
    sign(&s, &extra, &key, &["-a", "team=payments"]);
    assert_eq!(verify(&s, &p, &[&extra], &[]).code, 0);
    for blob in reg.sig_layers("team/extra", &d) {
        reg.delete_blob("team/extra", &blob);
    }
    let v = verify(&s, &p, &[&extra], &[]);
    assert_eq!(v.code, 3, "{}", v.json);
    // A rule requiring that annotation predicts the annotated payload.
    let annotated = policy(&s, "        annotations: {team: payments}\n", &[&public]);
    let v = verify(&s, &annotated, &[&extra], &[]);
    assert_eq!(v.code, 0, "{}", v.json);
}

#[test]
fn refusals_each_with_their_reason() {
    let reg = Registry::start();
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    let (_, other_public) = keypair(&s, "other");
    let p = policy(&s, "", &[&public]);

    // Unsigned.
    let unsigned = reg.image("team/unsigned", "v1");
    reg.push_image("team/unsigned", "v1", "unsigned");
    let v = verify(&s, &p, &[&unsigned], &[]);
    assert_eq!((v.code, v.reason(0)), (1, "unsigned"), "{}", v.json);

    // Wrong key.
    let signed = reg.image("team/app", "v1");
    let good = reg.push_image("team/app", "v1", "good");
    sign(&s, &signed, &key, &["--bundle"]);
    let wrong = policy(&s, "", &[&other_public]);
    let v = verify(&s, &wrong, &[&signed], &[]);
    assert_eq!((v.code, v.reason(0)), (1, "untrusted-key"), "{}", v.json);

    // The tag is re-pointed to an unsigned digest: refused; the signed digest still verifies.
    let p = policy(&s, "", &[&public]);
    let evil = reg.push_image("team/app", "v1", "evil");
    let v = verify(&s, &p, &[&signed], &[]);
    assert_eq!(
        (v.code, v.reason(0), v.image(0)["digest"].as_str()),
        (1, "unsigned", Some(evil.as_str())),
        "{}",
        v.json
    );
    let pinned = format!("{}/team/app@{good}", reg.host);
    assert_eq!(verify(&s, &p, &[&pinned], &[]).code, 0);

    // The good image's signatures copied onto the evil digest: signed digest ≠ image digest.
    let c = reg.client();
    let sig_tag = |d: &str| format!("{}.sig", d.replacen(':', "-", 1));
    let legacy = c
        .manifest(&reg.host, "team/app", &sig_tag(&good))
        .unwrap()
        .unwrap();
    c.push_manifest(
        &reg.host,
        "team/app",
        &sig_tag(&evil),
        OCI_MANIFEST,
        &legacy.bytes,
    )
    .unwrap();
    let v = verify(&s, &p, &[&signed], &[]);
    assert_eq!((v.code, v.reason(0)), (1, "digest-mismatch"), "{}", v.json);

    // A tampered bundle payload that still names the trusted key: bad signature. (A tampered
    // legacy payload carries no key hint, so it reads as an untrusted key.)
    let tampered = reg.image("team/tampered", "v1");
    let td = reg.push_image("team/tampered", "v1", "tampered");
    sign(&s, &tampered, &key, &["--bundle", "--bundle-only"]);
    let index = c
        .manifest(&reg.host, "team/tampered", &td.replacen(':', "-", 1))
        .unwrap()
        .unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index.bytes).unwrap();
    let referrer_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let referrer = c
        .manifest(&reg.host, "team/tampered", &referrer_digest)
        .unwrap()
        .unwrap();
    let mut referrer: serde_json::Value = serde_json::from_slice(&referrer.bytes).unwrap();
    let bundle_digest = referrer["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&c.blob(&reg.host, "team/tampered", &bundle_digest).unwrap())
            .unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut statement: serde_json::Value = serde_json::from_slice(
        &b64.decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    statement["subject"][0]["annotations"] = serde_json::json!({"env": "prod"});
    bundle["dsseEnvelope"]["payload"] = b64.encode(serde_json::to_vec(&statement).unwrap()).into();
    let bundle = serde_json::to_vec(&bundle).unwrap();
    let new_digest = c.push_blob(&reg.host, "team/tampered", &bundle).unwrap();
    referrer["layers"][0]["digest"] = new_digest.into();
    referrer["layers"][0]["size"] = bundle.len().into();
    let referrer = serde_json::to_vec(&referrer).unwrap();
    let rd = sigil::image::registry::sha256_digest(&referrer);
    c.push_manifest(&reg.host, "team/tampered", &rd, OCI_MANIFEST, &referrer)
        .unwrap();
    let new_index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json", "size": referrer.len(), "digest": rd}],
    }))
    .unwrap();
    c.push_manifest(
        &reg.host,
        "team/tampered",
        &td.replacen(':', "-", 1),
        "application/vnd.oci.image.index.v1+json",
        &new_index,
    )
    .unwrap();
    let v = verify(&s, &p, &[&tampered], &[]);
    assert_eq!((v.code, v.reason(0)), (1, "bad-signature"), "{}", v.json);

    // Signed annotations: required env=prod, signed without it; then signed with it.
    let annotated = policy(&s, "        annotations: {env: prod}\n", &[&public]);
    let v = verify(&s, &annotated, &[&pinned], &[]);
    assert_eq!((v.code, v.reason(0)), (1, "claim-mismatch"), "{}", v.json);
    sign(&s, &pinned, &key, &["-a", "env=prod"]);
    assert_eq!(verify(&s, &annotated, &[&pinned], &[]).code, 0);
}

#[test]
fn policy_rules_digest_threshold_unmatched() {
    let reg = Registry::start();
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    let (key2, public2) = keypair(&s, "second");
    let image = reg.image("team/app", "v1");
    let d = reg.push_image("team/app", "v1", "app");
    sign(&s, &image, &key, &[]);

    let strict = policy(&s, "        requireDigest: true\n", &[&public]);
    let v = verify(&s, &strict, &[&image], &[]);
    assert_eq!((v.code, v.reason(0)), (1, "tag-only"), "{}", v.json);
    let pinned = format!("{}/team/app:v1@{d}", reg.host);
    assert_eq!(verify(&s, &strict, &[&pinned], &[]).code, 0);

    let two = policy(&s, "        threshold: 2\n", &[&public, &public2]);
    let v = verify(&s, &two, &[&pinned], &[]);
    assert_eq!((v.code, v.reason(0)), (1, "threshold"), "{}", v.json);
    sign(&s, &pinned, &key2, &[]);
    let v = verify(&s, &two, &[&pinned], &[]);
    assert_eq!(v.code, 0, "{}", v.json);

    // An image no rule matches is refused by default.
    let v = verify(
        &s,
        &strict,
        &[
            "ghcr.io/org/elsewhere@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
        &[],
    );
    assert_eq!((v.code, v.reason(0)), (1, "no-rule"), "{}", v.json);

    // A policy error is reported with exit 2.
    let bad = s.write(
        "bad.yaml",
        b"apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  images:\n    rules:\n      - match: \"x/**\"\n        threshold: 3\n        authorities: [{key: missing.pub}]\n",
    );
    let mut c = s.cmd(sigil());
    c.args(["verify", "images", "--policy"])
        .arg(&bad)
        .arg("x/y:1");
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.pub") && err.contains("threshold 3"),
        "{err}"
    );
}

#[test]
fn manifests_kustomize_cache_and_unreachable_registry() {
    let reg = Registry::start();
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    let d = reg.push_image("team/web", "v2", "web");
    sign(&s, &reg.image("team/web", "v2"), &key, &[]);
    reg.push_image("team/web", "v1", "old web, unsigned");
    let deploy = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  template:\n    spec:\n      initContainers: [{{name: init, image: \"{0}/team/web:v1\"}}]\n      containers: [{{name: web, image: \"{0}/team/web:v1\"}}]\n",
        reg.host
    );
    s.write("app/deploy.yaml", deploy.as_bytes());
    let p = policy(&s, "", &[&public]);
    // Without the kustomization the manifest names the unsigned v1.
    let v = verify(&s, &p, &["app"], &[]);
    assert_eq!((v.code, v.reason(0)), (1, "unsigned"), "{}", v.json);
    assert_eq!(v.image(0)["sources"].as_array().unwrap().len(), 2);
    // kustomization images: pins the signed digest.
    s.write(
        "app/kustomization.yaml",
        format!(
            "resources: [deploy.yaml]\nimages:\n  - name: {}/team/web\n    digest: {d}\n",
            reg.host
        )
        .as_bytes(),
    );
    let cache = s.path("cache");
    let cache_arg = cache.to_str().unwrap();
    let v = verify(&s, &p, &["app"], &["--cache-dir", cache_arg]);
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(v.image(0)["digest"], d.as_str());
    assert_eq!(v.image(0)["cached"], false);
    // Cached: verified again without the registry.
    reg.stop_holding_port();
    let v = verify(&s, &p, &["app"], &["--cache-dir", cache_arg]);
    assert_eq!(
        (v.code, v.image(0)["cached"].as_bool()),
        (0, Some(true)),
        "{}",
        v.json
    );
    // Not cached and the registry is gone: exit 3, never a pass.
    let v = verify(&s, &p, &["app"], &[]);
    assert_eq!((v.code, v.reason(0)), (3, "unreachable"), "{}", v.json);
}

/// The cache key of an image verdict, computed as `image::check` does: what anyone who can
/// write the cache directory can compute too.
fn image_cache_key(name: &str, digest: &str, rule: &str, policy_digest: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [name, digest, rule, policy_digest, env!("CARGO_PKG_VERSION")] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Image cache entries must authenticate under the local cache key (its file name bound in):
/// a forged entry (valid JSON, no MAC or a wrong one) is a miss, so an unsigned image is still
/// refused and a signed one verified from scratch.
#[test]
fn forged_image_cache_entries_are_misses() {
    let reg = Registry::start();
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    let unsigned = reg.push_image("team/unsigned", "v1", "unsigned");
    let signed = reg.push_image("team/signed", "v1", "signed");
    sign(&s, &reg.image("team/signed", "v1"), &key, &[]);
    let p = policy(&s, "", &[&public]);
    let cache = s.path("cache");
    let cache_args = ["--cache-dir", cache.to_str().unwrap()];
    let image = |repo: &str, d: &str| format!("{}/{repo}@{d}", reg.host);
    let (unsigned_ref, signed_ref) = (
        image("team/unsigned", &unsigned),
        image("team/signed", &signed),
    );
    let v = verify(&s, &p, &[&unsigned_ref], &cache_args);
    assert_eq!((v.code, v.reason(0)), (1, "unsigned"), "{}", v.json);
    let policy_digest = v.json["policyDigest"].as_str().unwrap().to_string();
    let entry = |repo: &str, d: &str| {
        let name = format!("{}/{repo}", reg.host);
        cache.join(image_cache_key(&name, d, "127.0.0.1:*/**", &policy_digest))
    };
    let forged = r#"{"signatures":[{"source":"forged","format":"legacy","identity":"forged"}]}"#;
    std::fs::create_dir_all(&cache).unwrap();
    for text in [forged.to_string(), format!("{}\t{forged}", "0".repeat(64))] {
        std::fs::write(entry("team/unsigned", &unsigned), &text).unwrap();
        let v = verify(&s, &p, &[&unsigned_ref], &cache_args);
        assert_eq!((v.code, v.reason(0)), (1, "unsigned"), "{}", v.json);
        std::fs::write(entry("team/signed", &signed), &text).unwrap();
        let v = verify(&s, &p, &[&signed_ref], &cache_args);
        assert_eq!(
            (v.code, v.image(0)["cached"].as_bool()),
            (0, Some(false)),
            "{}",
            v.json
        );
        assert_ne!(v.image(0)["signatures"][0]["source"], "forged");
    }
    // The genuine entry just written is used; moved to the unsigned image's name it is not.
    let v = verify(&s, &p, &[&signed_ref], &cache_args);
    assert_eq!(
        (v.code, v.image(0)["cached"].as_bool()),
        (0, Some(true)),
        "{}",
        v.json
    );
    std::fs::copy(
        entry("team/signed", &signed),
        entry("team/unsigned", &unsigned),
    )
    .unwrap();
    let v = verify(&s, &p, &[&unsigned_ref], &cache_args);
    assert_eq!((v.code, v.reason(0)), (1, "unsigned"), "{}", v.json);
    // A key file others can read is not used: a warning, and every image verified afresh.
    let key_file = s.path("home/.local/state/sigil/cache.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(verify_cmd(&s, &p, &[&signed_ref], &cache_args));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("running without the verdict cache"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (out.status.code(), v["images"][0]["cached"].as_bool()),
        (Some(0), Some(false))
    );
}

#[test]
fn oversized_manifest_is_refused() {
    let reg = Registry::start();
    let s = Scratch::new();
    let (_, public) = keypair(&s, "cosign");
    let c = reg.client();
    let layer_digest = c.push_blob(&reg.host, "team/big", b"x").unwrap();
    let config_digest = c.push_blob(&reg.host, "team/big", b"{}").unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 1, "digest": layer_digest}],
        "annotations": {"padding": "x".repeat(3 << 20)},
    }))
    .unwrap();
    c.push_manifest(&reg.host, "team/big", "v1", OCI_MANIFEST, &manifest)
        .unwrap();
    let p = policy(&s, "", &[&public]);
    let big = reg.image("team/big", "v1");
    let v = verify(&s, &p, &[&big], &["--max-manifest-bytes", "1048576"]);
    assert_eq!((v.code, v.reason(0)), (1, "oversized"), "{}", v.json);
    // Under the default 4 MiB bound it is fetched (and then refused as unsigned).
    let v = verify(&s, &p, &[&big], &[]);
    assert_eq!((v.code, v.reason(0)), (1, "unsigned"), "{}", v.json);
}

#[test]
fn alternate_signature_repository() {
    let reg = Registry::start();
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    let image = reg.image("team/app", "v1");
    reg.push_image("team/app", "v1", "app");
    let sigs = format!("{}/signatures/app", reg.host);
    sign(
        &s,
        &image,
        &key,
        &["--signature-repository", &sigs, "--bundle"],
    );
    // Looked for beside the image: unsigned. Looked for where the rule says: verified.
    let beside = policy(&s, "", &[&public]);
    let v = verify(&s, &beside, &[&image], &[]);
    assert_eq!((v.code, v.reason(0)), (1, "unsigned"), "{}", v.json);
    let elsewhere = policy(
        &s,
        &format!("        signatureRepository: {sigs}\n"),
        &[&public],
    );
    let v = verify(&s, &elsewhere, &[&image], &[]);
    assert_eq!(v.code, 0, "{}", v.json);
    // The legacy signature satisfies the rule, so no referrer lookup was needed.
    assert_eq!(
        v.image(0)["signatures"][0]["format"],
        "legacy",
        "{}",
        v.json
    );
    // A bundle-only signature in the alternate repository is found through its fallback index.
    let image2 = reg.image("team/app2", "v1");
    reg.push_image("team/app2", "v1", "app2");
    sign(
        &s,
        &image2,
        &key,
        &["--signature-repository", &sigs, "--bundle", "--bundle-only"],
    );
    let v = verify(&s, &elsewhere, &[&image2], &[]);
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(
        v.image(0)["signatures"][0]["format"],
        "bundle",
        "{}",
        v.json
    );
}

#[test]
fn basic_auth_from_the_docker_config() {
    let reg = Registry::start_with_basic_auth("ci", "hunter2");
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    reg.push_image("team/private", "v1", "private");
    let image = reg.image("team/private", "v1");
    let docker_config = reg.docker_config.clone().unwrap();
    // Signing and verifying with the credentials of the docker config.
    let mut c = s.cmd(sigil());
    c.args(["sign", "image", &image, "--allow-http-registry", "--key"])
        .arg(&key)
        .env("COSIGN_PASSWORD", "test-only")
        .env("DOCKER_CONFIG", &docker_config);
    let out = run(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = policy(&s, "", &[&public]);
    let verify_with = |config: Option<&Path>| {
        let mut c = verify_cmd(&s, &p, &[&image], &[]);
        match config {
            Some(d) => c.env("DOCKER_CONFIG", d),
            None => c.env_remove("DOCKER_CONFIG"),
        };
        let v = verdict(c);
        (
            Some(v.code),
            v.image(0)["reason"].as_str().map(str::to_string),
        )
    };
    assert_eq!(verify_with(Some(&docker_config)), (Some(0), None));
    // Without credentials: denied, an operational error (exit 3), never a pass.
    assert_eq!(
        verify_with(None),
        (Some(3), Some("registry-denied".to_string()))
    );
    // Wrong credentials: the same.
    let wrong = s.path("wrong-docker");
    std::fs::create_dir_all(&wrong).unwrap();
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode("ci:wrong");
    std::fs::write(
        wrong.join("config.json"),
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{token}\"}}}}}}",
            reg.host
        ),
    )
    .unwrap();
    assert_eq!(
        verify_with(Some(&wrong)),
        (Some(3), Some("registry-denied".to_string()))
    );
}

#[test]
fn bearer_token_auth() {
    let (reg, tokens) = Registry::start_with_token_auth();
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    reg.push_image("team/tok", "v1", "tok");
    let image = reg.image("team/tok", "v1");
    sign(&s, &image, &key, &[]);
    let p = policy(&s, "", &[&public]);
    let before = tokens.issued.load(std::sync::atomic::Ordering::SeqCst);
    let v = verify(&s, &p, &[&image], &[]);
    assert_eq!(v.code, 0, "{}", v.json);
    let used = tokens.issued.load(std::sync::atomic::Ordering::SeqCst) - before;
    // One token for the repository, reused for the manifest, .sig and blob requests.
    assert!(
        (1..=2).contains(&used),
        "{used} tokens for one image ({})",
        tokens.realm
    );
}

/// Writes an executable `docker-credential-<name>` into the scratch `bin/` (first on PATH
/// for sigil run by the tests): it logs the server address asked for, then runs `body`.
fn credential_helper(s: &Scratch, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let log = s.path(&format!("{name}.calls"));
    let p = s.write(
        &format!("bin/docker-credential-{name}"),
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server || true\necho \"$server\" >> '{}'\n{body}\n",
            log.display()
        )
        .as_bytes(),
    );
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn helper_calls(s: &Scratch, name: &str) -> Vec<String> {
    std::fs::read_to_string(s.path(&format!("{name}.calls")))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn docker_config(s: &Scratch, json: serde_json::Value) {
    s.write("home/.docker/config.json", json.to_string().as_bytes());
}

#[test]
fn credential_helpers_from_the_docker_config() {
    let reg = Registry::start_with_basic_auth("ci", "hunter2");
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    reg.push_image("team/private", "v1", "private");
    let image = reg.image("team/private", "v1");
    let p = policy(&s, "", &[&public]);
    credential_helper(
        &s,
        "sigiltest",
        &format!(
            "[ \"$server\" = '{}' ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"ci\",\"Secret\":\"hunter2\"}}' \"$server\"",
            reg.host
        ),
    );
    credential_helper(
        &s,
        "sigilnone",
        "echo 'credentials not found in native keychain'; exit 1",
    );
    credential_helper(&s, "sigilbroken", "echo 'keychain locked' >&2; exit 1");

    // credHelpers for this registry: sign and verify, the helper asked once per process.
    docker_config(
        &s,
        serde_json::json!({"credHelpers": {&reg.host: "sigiltest"}}),
    );
    sign(&s, &image, &key, &[]);
    let before = helper_calls(&s, "sigiltest").len();
    let v = verify(&s, &p, &[&image], &[]);
    assert_eq!(v.code, 0, "{}", v.json);
    assert_eq!(
        helper_calls(&s, "sigiltest")[before..].join(","),
        reg.host,
        "one helper call for the registry"
    );
    // credsStore for every registry.
    docker_config(&s, serde_json::json!({"credsStore": "sigiltest"}));
    assert_eq!(verify(&s, &p, &[&image], &[]).code, 0);
    // credHelpers wins over credsStore, and "not found" means anonymous: denied, exit 3.
    docker_config(
        &s,
        serde_json::json!({"credsStore": "sigiltest", "credHelpers": {&reg.host: "sigilnone"}}),
    );
    let v = verify(&s, &p, &[&image], &[]);
    assert_eq!((v.code, v.reason(0)), (3, "registry-denied"), "{}", v.json);
    // credHelpers also wins over an auths entry with working credentials.
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("ci:hunter2");
    docker_config(
        &s,
        serde_json::json!({"auths": {&reg.host: {"auth": auth}}, "credHelpers": {&reg.host: "sigilnone"}}),
    );
    assert_eq!(verify(&s, &p, &[&image], &[]).code, 3);
    // A failing helper is an error naming it, never a pass.
    docker_config(&s, serde_json::json!({"credsStore": "sigilbroken"}));
    let v = verify(&s, &p, &[&image], &[]);
    assert_eq!((v.code, v.reason(0)), (3, "registry-denied"), "{}", v.json);
    assert!(
        v.image(0)["detail"]
            .as_str()
            .unwrap_or("")
            .contains("docker-credential-sigilbroken"),
        "{}",
        v.json
    );
}

#[test]
fn identity_tokens_are_exchanged_at_the_token_endpoint() {
    let (reg, _tokens) = Registry::start_with_refresh_token_auth("rt-4d2f");
    let s = Scratch::new();
    let (key, public) = keypair(&s, "cosign");
    reg.push_image("team/idt", "v1", "idt");
    let image = reg.image("team/idt", "v1");
    let p = policy(&s, "", &[&public]);

    docker_config(
        &s,
        serde_json::json!({"auths": {&reg.host: {"identitytoken": "rt-4d2f"}}}),
    );
    sign(&s, &image, &key, &[]);
    assert_eq!(verify(&s, &p, &[&image], &[]).code, 0);
    // A helper answering Username "<token>" gives an identity token too.
    credential_helper(
        &s,
        "sigiltoken",
        "printf '{\"ServerURL\":\"%s\",\"Username\":\"<token>\",\"Secret\":\"rt-4d2f\"}' \"$server\"",
    );
    docker_config(&s, serde_json::json!({"credsStore": "sigiltoken"}));
    assert_eq!(verify(&s, &p, &[&image], &[]).code, 0);
    // A wrong refresh token, or none: denied (exit 3).
    docker_config(
        &s,
        serde_json::json!({"auths": {&reg.host: {"identitytoken": "rt-wrong"}}}),
    );
    let v = verify(&s, &p, &[&image], &[]);
    assert_eq!((v.code, v.reason(0)), (3, "registry-denied"), "{}", v.json);
    docker_config(&s, serde_json::json!({}));
    assert_eq!(verify(&s, &p, &[&image], &[]).code, 3);
}

// Credentials stay on the origin they were issued for (issue 16). docker-registry cannot be
// made to hand out odd realms or Locations, so these use hand-written fakes; a second fake is
// the "other host" that must receive no credential.

/// `ci:hunter2`, the credentials the docker config holds for the fake registries.
const BASIC: &str = "Basic Y2k6aHVudGVyMg==";
/// The bearer token the fake registries' token endpoint hands out.
const TOKEN: &str = "tok-7f3a9c";

/// A client whose docker config holds `ci:hunter2` for `registry`.
fn client_for(s: &Scratch, registry: &str, insecure: &[&str]) -> Client {
    let dir = s.path(&format!("docker-{}", registry.replace(':', "_")));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({"auths": {registry: {"auth": &BASIC[6..]}}}).to_string(),
    )
    .unwrap();
    Client::new(ClientOptions {
        insecure: insecure.iter().map(|p| p.to_string()).collect(),
        docker_config_dir: Some(dir),
        timeout: std::time::Duration::from_secs(5),
        attempts: 1,
        ..ClientOptions::default()
    })
    .unwrap()
}

/// A fake registry's gate: basic auth, or bearer tokens from its own `/token` (the realm on
/// the registry's origin, as distribution is usually deployed); requests that pass go to `then`.
fn guarded(bearer: bool, r: &FakeRequest, then: impl Fn(&FakeRequest) -> Vec<u8>) -> Vec<u8> {
    if bearer && r.target.starts_with("/token") {
        let body = serde_json::json!({"token": TOKEN}).to_string();
        return fake_reply(
            200,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
    }
    let wanted = if bearer {
        format!("Bearer {TOKEN}")
    } else {
        BASIC.to_string()
    };
    if r.header("authorization") == Some(wanted.as_str()) {
        return then(r);
    }
    let challenge = if bearer {
        format!(
            "Bearer realm=\"http://{}/token\",service=\"fake\"",
            r.header("host").unwrap_or("")
        )
    } else {
        "Basic realm=\"fake\"".to_string()
    };
    fake_reply(401, &[("WWW-Authenticate", &challenge)], b"")
}

/// No connection reached `other`, so no credential did either.
fn assert_untouched(other: &Fake) {
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(other.connections(), 0, "{:?}", other.requests());
}

/// Nothing `other` received holds a credential or a token.
fn assert_no_credentials(other: &Fake) {
    for r in other.requests() {
        assert!(r.header("authorization").is_none(), "{r:?}");
        for secret in ["hunter2", &BASIC[6..], TOKEN] {
            assert!(!r.raw.contains(secret), "{secret} in {r:?}");
        }
    }
}

/// A token endpoint that must never be asked.
fn other_token_server() -> Fake {
    Fake::start(|_| {
        fake_reply(
            200,
            &[("Content-Type", "application/json")],
            br#"{"token":"stolen"}"#,
        )
    })
}

#[test]
fn token_realm_with_userinfo_is_refused() {
    let s = Scratch::new();
    let other = other_token_server();
    // `http://localhost:1@127.0.0.1:<other>/t` is a request to 127.0.0.1:<other>; split as a
    // string it looked like the insecure registry's own host (or matched its pattern).
    for (name, pattern, userinfo) in [
        ("localhost", "localhost:*", "localhost:1"),
        ("127.0.0.1", "127.0.0.1:*", "127.0.0.1:1"),
    ] {
        let challenge = format!(
            "Bearer realm=\"http://{userinfo}@127.0.0.1:{}/t\",service=\"fake\"",
            other.port()
        );
        let reg = Fake::start(move |_| fake_reply(401, &[("WWW-Authenticate", &challenge)], b""));
        let registry = format!("{name}:{}", reg.port());
        let e = client_for(&s, &registry, &[pattern])
            .manifest(&registry, "team/app", "v1")
            .expect_err("a realm with userinfo is refused");
        assert!(
            matches!(e, RegistryError::Denied { .. }) && e.to_string().contains("userinfo"),
            "{e}"
        );
        assert_eq!(reg.requests().len(), 1);
        assert_untouched(&other);
    }
}

#[test]
fn plain_http_token_realm_on_another_host_is_refused() {
    let s = Scratch::new();
    let other = other_token_server();
    let challenge = format!(
        "Bearer realm=\"http://localhost:{}/t\",service=\"fake\"",
        other.port()
    );
    let reg = Fake::start(move |_| fake_reply(401, &[("WWW-Authenticate", &challenge)], b""));
    let registry = reg.host.clone();
    // Only the registry itself is insecure (what `sign image --allow-http-registry` lists):
    // the realm's host is another one, over plain HTTP.
    let e = client_for(&s, &registry, &[&registry])
        .manifest(&registry, "team/app", "v1")
        .expect_err("a plain-HTTP realm on another host is refused");
    assert!(
        matches!(e, RegistryError::Denied { .. }) && e.to_string().contains("not https"),
        "{e}"
    );
    assert_untouched(&other);
    // The same realm with its host listed as insecure is asked (with the registry's basic
    // credentials, to exchange them), so the refusal above is the policy, not the set-up.
    let other_host = format!("localhost:{}", other.port());
    let _ =
        client_for(&s, &registry, &[&registry, &other_host]).manifest(&registry, "team/app", "v1");
    let asked = other.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].header("authorization"), Some(BASIC));
}

#[test]
fn upload_location_on_another_origin_gets_no_credentials() {
    let s = Scratch::new();
    let layer = b"signature layer".to_vec();
    let digest = sha256_digest(&layer);
    for bearer in [false, true] {
        // The distribution spec lets a registry hand uploads to another server: the upload
        // goes there, without the registry's credentials.
        let other =
            Fake::start(|r| fake_reply(if r.method == "PUT" { 201 } else { 405 }, &[], b""));
        let location = format!("http://{}/upload/3f2a?state=s1", other.host);
        let reg = Fake::start(move |r| {
            guarded(bearer, r, |r| match r.method.as_str() {
                "POST" => fake_reply(202, &[("Location", &location)], b""),
                _ => fake_reply(404, &[], b""),
            })
        });
        let registry = reg.host.clone();
        let pushed = client_for(&s, &registry, &["127.0.0.1:*"])
            .push_blob(&registry, "team/app", &layer)
            .unwrap();
        assert_eq!(pushed, digest);
        let uploads = other.requests();
        assert_eq!(uploads.len(), 1, "{uploads:?}");
        assert_eq!(uploads[0].method, "PUT");
        assert_eq!(
            uploads[0].target,
            format!("/upload/3f2a?state=s1&digest={digest}")
        );
        assert!(uploads[0].raw.ends_with("signature layer"));
        assert_no_credentials(&other);
        assert!(
            reg.requests()
                .iter()
                .any(|r| r.method == "POST" && r.header("authorization").is_some()),
            "the registry itself got its credentials"
        );

        // A Location with userinfo is refused outright.
        let other = Fake::start(|_| fake_reply(201, &[], b""));
        let location = format!("http://ci@{}/upload/3f2a", other.host);
        let reg = Fake::start(move |r| {
            guarded(bearer, r, |r| match r.method.as_str() {
                "POST" => fake_reply(202, &[("Location", &location)], b""),
                _ => fake_reply(404, &[], b""),
            })
        });
        let registry = reg.host.clone();
        let e = client_for(&s, &registry, &["127.0.0.1:*"])
            .push_blob(&registry, "team/app", &layer)
            .expect_err("userinfo refused");
        assert!(e.to_string().contains("userinfo"), "{e}");
        assert_untouched(&other);
    }
}

#[test]
fn redirects_off_origin_carry_no_credentials() {
    let s = Scratch::new();
    let blob = b"blob behind a redirect".to_vec();
    let digest = sha256_digest(&blob);
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []})
        .to_string()
        .into_bytes();
    let manifest_digest = sha256_digest(&manifest);
    for bearer in [false, true] {
        let served = blob.clone();
        let other = Fake::start(move |_| fake_reply(200, &[], &served));
        let trap = Fake::start(|_| fake_reply(200, &[], b""));
        let (other_host, trap_host) = (other.host.clone(), trap.host.clone());
        let (d, md, m) = (digest.clone(), manifest_digest.clone(), manifest.clone());
        let reg = Fake::start(move |r| {
            guarded(bearer, r, |r| {
                let t = r.target.as_str();
                if t == format!("/v2/team/app/blobs/{d}") {
                    // Off to a CDN, the way registries serve blobs from object storage.
                    let to = format!("http://{other_host}/cdn/{d}?sig=1");
                    fake_reply(307, &[("Location", &to)], b"")
                } else if t == "/v2/team/app/blobs/sha256:trap" {
                    let to = format!("http://ci:hunter2@{trap_host}/cdn");
                    fake_reply(307, &[("Location", &to)], b"")
                } else if t == format!("/v2/team/app/manifests/{md}") {
                    fake_reply(308, &[("Location", "moved")], b"")
                } else if t == "/v2/team/app/manifests/moved" {
                    fake_reply(200, &[("Content-Type", OCI_MANIFEST)], &m)
                } else {
                    fake_reply(404, &[], b"")
                }
            })
        });
        let registry = reg.host.clone();
        let c = client_for(&s, &registry, &["127.0.0.1:*"]);
        assert_eq!(c.blob(&registry, "team/app", &digest).unwrap(), blob);
        assert_eq!(other.requests().len(), 1);
        assert_no_credentials(&other);
        // A redirect on the registry's own origin keeps the credentials.
        let m = c.manifest(&registry, "team/app", &manifest_digest).unwrap();
        assert_eq!(m.map(|m| m.bytes), Some(manifest.clone()));
        // A redirect to a URL with userinfo is refused.
        let e = c
            .blob(&registry, "team/app", "sha256:trap")
            .expect_err("userinfo refused");
        assert!(e.to_string().contains("userinfo"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_untouched(&trap);
    }
}
