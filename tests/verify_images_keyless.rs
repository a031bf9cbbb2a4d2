//! Keyless cosign signatures end to end against a real registry (Debian docker-registry on
//! 127.0.0.1): a private CA (root → intermediate → short-lived leaf with codeSigning, an email
//! or workflow-URI SAN and the Fulcio issuer extension) made with the `openssl` CLI, and a
//! private "Rekor" log key made here that signs the SET over a hashedrekord (or dsse) body.
//! Legacy `.sig` layers (and one v0.3 bundle referrer) are assembled by hand and pushed with
//! sigil's registry client; `sigil verify images --format json` must accept or refuse each with
//! its stable reason. Every accepting case has a refused twin that differs in one thing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::RandomizedSigner;
use p256::ecdsa::{Signature, SigningKey};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use common::Scratch;
use common::registry::{Registry, Verdict, verify};
use common::sigstore_pki::*;
use sigil::image::registry::{OCI_INDEX, OCI_MANIFEST, sha256_digest};
use sigil::image::sign::simple_signing_payload;
use sigil::image::signature::{BUNDLE_V03, SIMPLE_SIGNING};
use sigil::image::verify::{COSIGN_SIGN_V1, pae};

const WORKFLOW: &str = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1";

const SIG: &str = "dev.cosignproject.cosign/signature";
const CERT: &str = "dev.sigstore.cosign/certificate";
const CHAIN: &str = "dev.sigstore.cosign/chain";
const BUNDLE: &str = "dev.sigstore.cosign/bundle";
const TIMESTAMP: &str = "dev.sigstore.cosign/rfc3161timestamp";

impl Pki {
    /// A keyless legacy layer: signature over `payload` by the leaf, the leaf, the chain
    /// (intermediate then root) and a Rekor bundle with a SET at `at`.
    fn layer(&self, leaf: &Leaf, payload: &[u8], at: i64) -> Layer {
        let sig = sign(&leaf.key, payload);
        self.layer_with_signature(leaf, payload, sig, at)
    }

    fn layer_with_signature(&self, leaf: &Leaf, payload: &[u8], sig: Vec<u8>, at: i64) -> Layer {
        let body = hashedrekord(payload, &sig, &leaf.pem);
        let mut ann = BTreeMap::new();
        ann.insert(SIG.to_string(), B64.encode(&sig));
        ann.insert(CERT.to_string(), leaf.pem.clone());
        ann.insert(CHAIN.to_string(), format!("{}{}", self.inter, self.root));
        ann.insert(BUNDLE.to_string(), rekor_bundle(&self.rekor, &body, at, 7));
        Layer {
            payload: payload.to_vec(),
            ann,
        }
    }
}

/// The legacy `dev.sigstore.cosign/bundle` annotation.
fn rekor_bundle(log: &SigningKey, body: &[u8], at: i64, index: i64) -> String {
    serde_json::json!({
        "SignedEntryTimestamp": B64.encode(set(log, body, at, index)),
        "Payload": {
            "body": B64.encode(body),
            "integratedTime": at,
            "logIndex": index,
            "logID": hex(&log_id(log)),
        },
    })
    .to_string()
}

/// One layer of a `.sig` manifest.
#[derive(Clone)]
struct Layer {
    payload: Vec<u8>,
    ann: BTreeMap<String, String>,
}

impl Layer {
    fn without(mut self, key: &str) -> Layer {
        self.ann.remove(key);
        self
    }
    fn with(mut self, key: &str, value: String) -> Layer {
        self.ann.insert(key.to_string(), value);
        self
    }
}

/// An image pushed to the test registry, and cosign's payload for it.
struct Image {
    repo: String,
    digest: String,
    /// `host/repo@digest`.
    reference: String,
    payload: Vec<u8>,
}

/// A registry, a scratch directory and a PKI.
struct Bench {
    reg: Registry,
    s: Scratch,
    pki: Pki,
}

impl Bench {
    fn new() -> Bench {
        let s = Scratch::new();
        let pki = Pki::new(&s);
        Bench {
            reg: Registry::start(),
            s,
            pki,
        }
    }

    fn image(&self, repo: &str) -> Image {
        let digest = self.reg.push_image(repo, "v1", repo);
        Image {
            repo: repo.to_string(),
            reference: format!("{}/{repo}@{digest}", self.reg.host),
            payload: simple_signing_payload(
                &format!("{}/{repo}", self.reg.host),
                &digest,
                &BTreeMap::new(),
            ),
            digest,
        }
    }

    /// Replaces the image's `.sig` manifest with these layers.
    fn attach(&self, img: &Image, layers: &[&Layer]) {
        let c = self.reg.client();
        let host = &self.reg.host;
        let mut descriptors = Vec::new();
        for l in layers {
            let digest = c.push_blob(host, &img.repo, &l.payload).unwrap();
            descriptors.push(serde_json::json!({
                "mediaType": SIMPLE_SIGNING,
                "size": l.payload.len(),
                "digest": digest,
                "annotations": l.ann,
            }));
        }
        let diff_ids: Vec<&serde_json::Value> = descriptors.iter().map(|d| &d["digest"]).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "", "os": "", "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let config_digest = c.push_blob(host, &img.repo, &config).unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
            "layers": descriptors,
        }))
        .unwrap();
        let tag = format!("{}.sig", img.digest.replacen(':', "-", 1));
        c.push_manifest(host, &img.repo, &tag, OCI_MANIFEST, &manifest)
            .unwrap();
    }

    /// A keyless policy for the test registry: `issuer`, `subject`, `caChain` (the root alone),
    /// `rekorKeys` and `ignoreSct: true`, with `fields` replacing or adding keys (an
    /// `issuerRegExp`/`subjectRegExp` replaces the exact one).
    fn policy(&self, name: &str, fields: &[(&str, &str)]) -> PathBuf {
        let root = self.pki.root_file.display().to_string();
        let mut keyless: Vec<(&str, &str)> =
            vec![("issuer", ISSUER), ("subject", EMAIL), ("caChain", &root)];
        for &(k, v) in fields {
            let replaces = k.strip_suffix("RegExp").unwrap_or(k);
            keyless.retain(|(have, _)| *have != replaces && *have != k);
            keyless.push((k, v));
        }
        let quote = |v: &str| format!("'{}'", v.replace('\'', "''"));
        let mut yaml = String::new();
        for (k, v) in keyless {
            yaml.push_str(&format!("              {k}: {}\n", quote(v)));
        }
        yaml.push_str(&format!(
            "              rekorKeys: [{}]\n              ignoreSct: true\n",
            quote(&self.pki.rekor_pub.display().to_string())
        ));
        self.s.write(
            name,
            format!(
                "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  images:\n    insecureRegistries: [\"127.0.0.1:*\"]\n    rules:\n      - match: \"127.0.0.1:*/**\"\n        authorities:\n          - keyless:\n{yaml}"
            )
            .as_bytes(),
        )
    }

    fn verify(&self, img: &Image, policy: &Path) -> Verdict {
        verify(&self.s, policy, &[&img.reference], &[])
    }

    /// Attaches `layers` and verifies.
    fn check(&self, img: &Image, layers: &[&Layer], policy: &Path) -> Verdict {
        self.attach(img, layers);
        self.verify(img, policy)
    }
}

#[track_caller]
fn refused(v: &Verdict, reason: &str) {
    assert_eq!((v.code, v.reason(0)), (1, reason), "{:#}", v.json);
}

/// Passed, by the keyless authority, with this identity and signing time.
#[track_caller]
fn passed(v: &Verdict, identity: &str, at: i64) {
    assert_eq!(v.code, 0, "{:#}", v.json);
    let sigs = v.image(0)["signatures"].as_array().unwrap();
    let sig = sigs
        .iter()
        .find(|s| s["result"] == "verified")
        .unwrap_or_else(|| panic!("no verified signature: {:#}", v.json));
    assert_eq!(sig["format"], "legacy", "{:#}", v.json);
    assert_eq!(sig["authority"], "keyless", "{:#}", v.json);
    assert_eq!(sig["identity"], identity, "{:#}", v.json);
    assert_eq!(sig["signedAt"], at, "{:#}", v.json);
}

fn email_identity() -> String {
    format!("{ISSUER} {EMAIL}")
}

#[test]
fn keyless_legacy_signature_with_set_verifies() {
    let b = Bench::new();
    let img = b.image("team/app");
    let leaf = b.pki.email_leaf("leaf");
    let at = now();
    let good = b.pki.layer(&leaf, &img.payload, at);
    let p = b.policy("policy.yaml", &[]);
    passed(&b.check(&img, &[&good], &p), &email_identity(), at);
    // By tag too.
    let v = verify(&b.s, &p, &[&b.reg.image("team/app", "v1")], &[]);
    assert_eq!(v.code, 0, "{:#}", v.json);
    assert_eq!(v.image(0)["digest"], img.digest.as_str());

    // One flipped bit of the SET.
    let mut bundle: serde_json::Value = serde_json::from_str(&good.ann[BUNDLE]).unwrap();
    let mut set = B64
        .decode(bundle["SignedEntryTimestamp"].as_str().unwrap())
        .unwrap();
    let last = set.len() - 2;
    set[last] ^= 1;
    bundle["SignedEntryTimestamp"] = B64.encode(&set).into();
    let flipped = good.clone().with(BUNDLE, bundle.to_string());
    refused(&b.check(&img, &[&flipped], &p), "tlog-mismatch");

    // The integrated time moved by one second under the same SET.
    let mut bundle: serde_json::Value = serde_json::from_str(&good.ann[BUNDLE]).unwrap();
    bundle["Payload"]["integratedTime"] = (at - 1).into();
    let moved = good.clone().with(BUNDLE, bundle.to_string());
    refused(&b.check(&img, &[&moved], &p), "tlog-mismatch");

    // A SET by a log the policy does not trust.
    let rogue_log = SigningKey::random(&mut OsRng);
    let body = hashedrekord(
        &img.payload,
        &B64.decode(&good.ann[SIG]).unwrap(),
        &leaf.pem,
    );
    let other_log = good
        .clone()
        .with(BUNDLE, rekor_bundle(&rogue_log, &body, at, 7));
    refused(&b.check(&img, &[&other_log], &p), "tlog-mismatch");

    // No Rekor bundle at all.
    refused(
        &b.check(&img, &[&good.clone().without(BUNDLE)], &p),
        "tlog-missing",
    );

    // The signature flipped: it no longer verifies with the certificate's key.
    let mut sig = B64.decode(&good.ann[SIG]).unwrap();
    let last = sig.len() - 2;
    sig[last] ^= 1;
    let bad = good.clone().with(SIG, B64.encode(&sig));
    refused(&b.check(&img, &[&bad], &p), "bad-signature");

    // Back to the good layer, behind a broken one: one passing layer is enough.
    passed(&b.check(&img, &[&bad, &good], &p), &email_identity(), at);
}

#[test]
fn integrated_time_outside_the_leaf_validity_is_cert_expired() {
    let b = Bench::new();
    let img = b.image("team/app");
    let t = now();
    // Valid from a minute ago for a day.
    let leaf = b.pki.email_leaf("leaf");
    let p = b.policy("policy.yaml", &[]);
    passed(
        &b.check(&img, &[&b.pki.layer(&leaf, &img.payload, t)], &p),
        &email_identity(),
        t,
    );
    // Logged two days before the leaf existed: the SET is genuine, the time is not in the
    // leaf's window.
    let early = b.pki.layer(&leaf, &img.payload, t - 2 * DAY);
    let v = b.check(&img, &[&early], &p);
    refused(&v, "cert-expired");
    let detail = v.image(0)["detail"].as_str().unwrap_or("");
    assert!(detail.contains("leaf"), "{detail}");
    // Logged two days later, after the leaf's notAfter.
    let late = b.pki.layer(&leaf, &img.payload, t + 2 * DAY);
    refused(&b.check(&img, &[&late], &p), "cert-expired");

    // The leaf is valid at the signing time but its intermediate is not: every certificate on
    // the path is checked at the signing time, not only the leaf.
    let old_inter = issue(
        &b.pki.dir,
        "old-inter",
        "sigil test old intermediate",
        Some("root"),
        INTER_EXT,
        t - 20 * DAY,
        t - 10 * DAY,
    );
    let old_leaf = b.pki.leaf(
        "old-leaf",
        "old-inter",
        &leaf_ext(Some("codeSigning"), &format!("email:{EMAIL}")),
        t - 20 * DAY,
        t + DAY,
    );
    let at = t - 15 * DAY;
    let inside = b
        .pki
        .layer(&old_leaf, &img.payload, at)
        .with(CHAIN, format!("{old_inter}{}", b.pki.root));
    passed(&b.check(&img, &[&inside], &p), &email_identity(), at);
    let after = b
        .pki
        .layer(&old_leaf, &img.payload, t - 5 * DAY)
        .with(CHAIN, format!("{old_inter}{}", b.pki.root));
    refused(&b.check(&img, &[&after], &p), "cert-expired");
}

#[test]
fn identity_issuer_and_anchored_subject() {
    let b = Bench::new();
    let img = b.image("team/app");
    let leaf = b.pki.email_leaf("leaf");
    let at = now();
    let layer = b.pki.layer(&leaf, &img.payload, at);
    b.attach(&img, &[&layer]);
    let id = email_identity();

    let wrong_issuer = b.policy(
        "wrong-issuer.yaml",
        &[("issuer", "https://token.example.org")],
    );
    refused(&b.verify(&img, &wrong_issuer), "identity-mismatch");
    let wrong_subject = b.policy("wrong-subject.yaml", &[("subject", "cd@example.com")]);
    refused(&b.verify(&img, &wrong_subject), "identity-mismatch");
    // Regular expressions match the whole value: `ci@example` is only a prefix.
    let prefix = b.policy("prefix.yaml", &[("subjectRegExp", "ci@example")]);
    refused(&b.verify(&img, &prefix), "identity-mismatch");
    let suffix = b.policy("suffix.yaml", &[("subjectRegExp", "example\\.com")]);
    refused(&b.verify(&img, &suffix), "identity-mismatch");
    let issuer_prefix = b.policy(
        "issuer-prefix.yaml",
        &[("issuerRegExp", "https://token\\.example")],
    );
    refused(&b.verify(&img, &issuer_prefix), "identity-mismatch");
    let exact = b.policy("exact.yaml", &[("subjectRegExp", "ci@example\\.com")]);
    passed(&b.verify(&img, &exact), &id, at);
    let both = b.policy(
        "both.yaml",
        &[
            ("issuerRegExp", "https://token\\.example\\.(com|org)"),
            ("subjectRegExp", ".*@example\\.com"),
        ],
    );
    passed(&b.verify(&img, &both), &id, at);

    // A GitHub Actions style workflow identity in a URI SAN.
    let wf = b.pki.leaf(
        "workflow",
        "inter",
        &leaf_ext(Some("codeSigning"), &format!("URI:{WORKFLOW}")),
        at - 60,
        at + DAY,
    );
    b.attach(&img, &[&b.pki.layer(&wf, &img.payload, at)]);
    let wf_id = format!("{ISSUER} {WORKFLOW}");
    let by_uri = b.policy("uri.yaml", &[("subject", WORKFLOW)]);
    passed(&b.verify(&img, &by_uri), &wf_id, at);
    let tags = b.policy(
        "tags.yaml",
        &[(
            "subjectRegExp",
            "https://github\\.com/org/repo/\\.github/workflows/release\\.yml@refs/tags/v[0-9]+",
        )],
    );
    passed(&b.verify(&img, &tags), &wf_id, at);
    let other_repo = b.policy(
        "other-repo.yaml",
        &[("subjectRegExp", "https://github\\.com/org/other/.*")],
    );
    refused(&b.verify(&img, &other_repo), "identity-mismatch");
    refused(&b.verify(&img, &exact), "identity-mismatch");
}

#[test]
fn a_set_for_another_signature_is_tlog_mismatch() {
    let b = Bench::new();
    let img = b.image("team/app");
    let other = b.image("team/other");
    let leaf = b.pki.email_leaf("leaf");
    let at = now();
    let p = b.policy("policy.yaml", &[]);
    let a = b.pki.layer(&leaf, &img.payload, at);
    passed(&b.check(&img, &[&a], &p), &email_identity(), at);

    // Signature B: the same leaf over the same payload, another (randomised) ECDSA signature,
    // carrying A's genuine Rekor bundle.
    let sig_b: Signature = leaf.key.sign_with_rng(&mut OsRng, &img.payload);
    let sig_b = sig_b.to_der().as_bytes().to_vec();
    assert_ne!(B64.encode(&sig_b), a.ann[SIG]);
    let b_own = b
        .pki
        .layer_with_signature(&leaf, &img.payload, sig_b.clone(), at);
    passed(&b.check(&img, &[&b_own], &p), &email_identity(), at);
    let grafted = b_own.clone().with(BUNDLE, a.ann[BUNDLE].clone());
    refused(&b.check(&img, &[&grafted], &p), "tlog-mismatch");

    // The bundle of a valid signature of another image, on this image's valid signature.
    let x = b.pki.layer(&leaf, &other.payload, at);
    passed(&b.check(&other, &[&x], &p), &email_identity(), at);
    let from_other = a.clone().with(BUNDLE, x.ann[BUNDLE].clone());
    refused(&b.check(&img, &[&from_other], &p), "tlog-mismatch");

    // A genuine SET over a body naming this payload and signature but another certificate.
    let stranger = b.pki.email_leaf("stranger");
    let body = hashedrekord(
        &img.payload,
        &B64.decode(&a.ann[SIG]).unwrap(),
        &stranger.pem,
    );
    let other_cert = a
        .clone()
        .with(BUNDLE, rekor_bundle(&b.pki.rekor, &body, at, 7));
    refused(&b.check(&img, &[&other_cert], &p), "tlog-mismatch");

    // A genuine SET over a body with the right hash and certificate, wrong signature content.
    let body = hashedrekord(&img.payload, &sig_b, &leaf.pem);
    let wrong_sig = a
        .clone()
        .with(BUNDLE, rekor_bundle(&b.pki.rekor, &body, at, 7));
    refused(&b.check(&img, &[&wrong_sig], &p), "tlog-mismatch");
}

#[test]
fn a_leaf_without_code_signing_is_cert_untrusted() {
    let b = Bench::new();
    let img = b.image("team/app");
    let t = now();
    let p = b.policy("policy.yaml", &[]);
    let email = format!("email:{EMAIL}");
    let server = b.pki.leaf(
        "server",
        "inter",
        &leaf_ext(Some("serverAuth"), &email),
        t - 60,
        t + DAY,
    );
    let v = b.check(&img, &[&b.pki.layer(&server, &img.payload, t)], &p);
    refused(&v, "cert-untrusted");
    assert!(
        v.image(0)["detail"]
            .as_str()
            .unwrap_or("")
            .contains("code signing"),
        "{:#}",
        v.json
    );
    // The twin with codeSigning among other EKUs passes.
    let both = b.pki.leaf(
        "both",
        "inter",
        &leaf_ext(Some("serverAuth,codeSigning"), &email),
        t - 60,
        t + DAY,
    );
    passed(
        &b.check(&img, &[&b.pki.layer(&both, &img.payload, t)], &p),
        &email_identity(),
        t,
    );
    // A leaf with no extendedKeyUsage at all: with a transparency log (Fulcio-style, even
    // without SCTs) codeSigning is required; only the PKI mode without Rekor (ignoreTlog,
    // long-lived certificates, read as Go's x509.Verify does) treats it as unrestricted.
    let none = b
        .pki
        .leaf("no-eku", "inter", &leaf_ext(None, &email), t - 60, t + DAY);
    refused(
        &b.check(&img, &[&b.pki.layer(&none, &img.payload, t)], &p),
        "cert-untrusted",
    );
}

/// As Go's `x509.Verify` (which sigstore-go relies on): an intermediate whose
/// extendedKeyUsage lacks codeSigning (and anyExtendedKeyUsage) breaks the chain of a
/// codeSigning leaf; an intermediate without extendedKeyUsage (every other test) does not.
#[test]
fn an_intermediate_whose_eku_lacks_code_signing_is_cert_untrusted() {
    let b = Bench::new();
    let img = b.image("team/app");
    let t = now();
    let p = b.policy("policy.yaml", &[]);
    let email = format!("email:{EMAIL}");
    for (name, eku, allowed) in [
        ("server-inter", "serverAuth", false),
        ("code-inter", "serverAuth,codeSigning", true),
        ("any-inter", "anyExtendedKeyUsage", true),
    ] {
        let inter = issue(
            &b.pki.dir,
            name,
            &format!("sigil test {name}"),
            Some("root"),
            &format!("{INTER_EXT}extendedKeyUsage = {eku}\n"),
            t - DAY,
            t + DAY,
        );
        let leaf = b.pki.leaf(
            &format!("{name}-leaf"),
            name,
            &leaf_ext(Some("codeSigning"), &email),
            t - 60,
            t + DAY,
        );
        let layer = b
            .pki
            .layer(&leaf, &img.payload, t)
            .with(CHAIN, format!("{inter}{}", b.pki.root));
        let v = b.check(&img, &[&layer], &p);
        if allowed {
            passed(&v, &email_identity(), t);
        } else {
            refused(&v, "cert-untrusted");
            let detail = v.image(0)["detail"].as_str().unwrap_or("");
            assert!(detail.contains("issuing certificate"), "{detail}");
        }
    }
}

#[test]
fn the_chain_annotation_supplies_intermediates_never_roots() {
    let b = Bench::new();
    let img = b.image("team/app");
    let leaf = b.pki.email_leaf("leaf");
    let at = now();
    let root_only = b.policy("root-only.yaml", &[]);
    let good = b.pki.layer(&leaf, &img.payload, at);
    // Without the chain annotation nothing links the leaf to the trusted root.
    refused(
        &b.check(&img, &[&good.clone().without(CHAIN)], &root_only),
        "cert-untrusted",
    );
    // The intermediate alone is enough.
    let inter_only = good.clone().with(CHAIN, b.pki.inter.clone());
    passed(
        &b.check(&img, &[&inter_only], &root_only),
        &email_identity(),
        at,
    );
    // A policy that holds the intermediate needs no chain annotation.
    let chain_file = b.pki.chain_file.display().to_string();
    let full = b.policy("full.yaml", &[("caChain", &chain_file)]);
    passed(
        &b.check(&img, &[&good.clone().without(CHAIN)], &full),
        &email_identity(),
        at,
    );
    // The root alone in the annotation does not help.
    let root_chain = good.clone().with(CHAIN, b.pki.root.clone());
    refused(&b.check(&img, &[&root_chain], &root_only), "cert-untrusted");

    // A rogue CA with the same names as the real ones: its chain in the annotation never
    // becomes a trust anchor.
    let t = now();
    let rogue_root = issue(
        &b.pki.dir,
        "rogue-root",
        "sigil test root",
        None,
        ROOT_EXT,
        t - DAY,
        t + DAY,
    );
    let rogue_inter = issue(
        &b.pki.dir,
        "rogue-inter",
        "sigil test intermediate",
        Some("rogue-root"),
        INTER_EXT,
        t - DAY,
        t + DAY,
    );
    let rogue_leaf = b.pki.leaf(
        "rogue-leaf",
        "rogue-inter",
        &leaf_ext(Some("codeSigning"), &format!("email:{EMAIL}")),
        t - 60,
        t + DAY,
    );
    let rogue = b
        .pki
        .layer(&rogue_leaf, &img.payload, at)
        .with(CHAIN, format!("{rogue_inter}{rogue_root}"));
    refused(&b.check(&img, &[&rogue], &root_only), "cert-untrusted");
    refused(&b.check(&img, &[&rogue], &full), "cert-untrusted");
}

/// A cosign v3 bundle: DSSE in-toto statement signed by the leaf, with a dsse Rekor entry and
/// its SET at `at`. `body_sig` replaces the signature named in the Rekor body.
fn keyless_bundle(
    pki: &Pki,
    leaf: &Leaf,
    host: &str,
    img: &Image,
    at: i64,
    body_sig: Option<&[u8]>,
) -> Vec<u8> {
    let statement = serde_json::to_vec(&serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": format!("{host}/{}", img.repo), "digest": {"sha256": img.digest.strip_prefix("sha256:").unwrap()}}],
        "predicateType": COSIGN_SIGN_V1,
        "predicate": {},
    }))
    .unwrap();
    let payload_type = "application/vnd.in-toto+json";
    let sig = sign(&leaf.key, &pae(payload_type, &statement));
    let envelope = serde_json::json!({
        "payload": B64.encode(&statement),
        "payloadType": payload_type,
        "signatures": [{"sig": B64.encode(&sig), "keyid": ""}],
    });
    let body = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hex(&Sha256::digest(serde_json::to_vec(&envelope).unwrap()))},
            "payloadHash": {"algorithm": "sha256", "value": hex(&Sha256::digest(&statement))},
            "signatures": [{"signature": B64.encode(body_sig.unwrap_or(&sig)), "verifier": B64.encode(&leaf.pem)}],
        },
    }))
    .unwrap();
    serde_json::to_vec(&serde_json::json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "certificate": {"rawBytes": B64.encode(cert_der(&leaf.pem))},
            "tlogEntries": [{
                "logIndex": "7",
                "logId": {"keyId": B64.encode(log_id(&pki.rekor))},
                "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                "integratedTime": at.to_string(),
                "inclusionPromise": {"signedEntryTimestamp": B64.encode(set(&pki.rekor, &body, at, 7))},
                "inclusionProof": single_leaf_proof(pki, &body),
                "canonicalizedBody": B64.encode(&body),
            }],
        },
        "dsseEnvelope": envelope,
    }))
    .unwrap()
}

impl Bench {
    /// Pushes `bundle` as the image's only referrer (through the tag-schema fallback index,
    /// as docker-registry 2.8 has no referrers API).
    fn attach_bundle(&self, img: &Image, bundle: &[u8]) {
        let c = self.reg.client();
        let host = &self.reg.host;
        let bundle_digest = c.push_blob(host, &img.repo, bundle).unwrap();
        let config_digest = c.push_blob(host, &img.repo, b"{}").unwrap();
        let manifest = self
            .reg
            .client()
            .manifest(host, &img.repo, &img.digest)
            .unwrap()
            .unwrap();
        let referrer = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": config_digest},
            "layers": [{"mediaType": BUNDLE_V03, "size": bundle.len(), "digest": bundle_digest}],
            "subject": {"mediaType": OCI_MANIFEST, "size": manifest.bytes.len(), "digest": img.digest},
        }))
        .unwrap();
        let referrer_digest = sha256_digest(&referrer);
        c.push_manifest(host, &img.repo, &referrer_digest, OCI_MANIFEST, &referrer)
            .unwrap();
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "artifactType": BUNDLE_V03, "size": referrer.len(), "digest": referrer_digest}],
        }))
        .unwrap();
        let tag = img.digest.replacen(':', "-", 1);
        c.push_manifest(host, &img.repo, &tag, OCI_INDEX, &index)
            .unwrap();
    }
}

#[test]
fn keyless_v03_bundle_referrer() {
    let b = Bench::new();
    let img = b.image("team/bundled");
    let leaf = b.pki.email_leaf("leaf");
    let at = now();
    let host = b.reg.host.clone();
    // A v0.3 bundle carries the leaf alone: the policy holds the intermediate.
    let chain_file = b.pki.chain_file.display().to_string();
    let full = b.policy("full.yaml", &[("caChain", &chain_file)]);
    b.attach_bundle(&img, &keyless_bundle(&b.pki, &leaf, &host, &img, at, None));
    let v = b.verify(&img, &full);
    assert_eq!(v.code, 0, "{:#}", v.json);
    let sig = &v.image(0)["signatures"][0];
    assert_eq!(
        (
            sig["format"].as_str(),
            sig["identity"].as_str(),
            sig["signedAt"].as_i64()
        ),
        (Some("bundle"), Some(email_identity().as_str()), Some(at)),
        "{:#}",
        v.json
    );
    // Only the root trusted, and the bundle brings no intermediate.
    let root_only = b.policy("root-only.yaml", &[]);
    refused(&b.verify(&img, &root_only), "cert-untrusted");
    // The dsse Rekor body names another signature.
    let other_sig = sign(&leaf.key, b"something else");
    b.attach_bundle(
        &img,
        &keyless_bundle(&b.pki, &leaf, &host, &img, at, Some(&other_sig)),
    );
    refused(&b.verify(&img, &full), "tlog-mismatch");
    // Logged before the leaf existed.
    b.attach_bundle(
        &img,
        &keyless_bundle(&b.pki, &leaf, &host, &img, at - 2 * DAY, None),
    );
    refused(&b.verify(&img, &full), "cert-expired");
    // A v0.3 bundle must prove inclusion; a SET alone (a v0.1 bundle's promise) is refused.
    let mut set_only: serde_json::Value =
        serde_json::from_slice(&keyless_bundle(&b.pki, &leaf, &host, &img, at, None)).unwrap();
    set_only["verificationMaterial"]["tlogEntries"][0]
        .as_object_mut()
        .unwrap()
        .remove("inclusionProof");
    b.attach_bundle(&img, &serde_json::to_vec(&set_only).unwrap());
    let v = b.verify(&img, &full);
    refused(&v, "tlog-mismatch");
    assert!(
        v.json.to_string().contains("no inclusion proof"),
        "{:#}",
        v.json
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 3161 timestamps from a real TSA (`openssl ts -reply`) as the trusted signing time.

/// cosign's legacy annotation for a timestamp.
fn timestamp_annotation(der: &[u8]) -> String {
    serde_json::json!({"SignedRFC3161Timestamp": B64.encode(der)}).to_string()
}

#[test]
fn rfc3161_timestamps_on_legacy_signatures() {
    let b = Bench::new();
    let tsa_chain = b.pki.tsa().display().to_string();
    let img = b.image("team/stamped");
    let leaf = b.pki.email_leaf("leaf");
    let at = now();
    let sig = sign(&leaf.key, &img.payload);
    let stamped = b
        .pki
        .layer_with_signature(&leaf, &img.payload, sig.clone(), at)
        .with(TIMESTAMP, timestamp_annotation(&b.pki.timestamp(&sig)));
    let with_tsa = b.policy("tsa.yaml", &[("tsaChain", &tsa_chain)]);
    let without = b.policy("plain.yaml", &[]);
    passed(
        &b.check(&img, &[&stamped], &with_tsa),
        &email_identity(),
        at,
    );
    // Without a TSA in the policy the timestamp is no evidence: the SET alone decides.
    passed(&b.verify(&img, &without), &email_identity(), at);
    // A timestamp that does not verify (over other bytes, or from a TSA the policy does not
    // trust) is skipped, as sigstore-go does: the SET still gives the time.
    let wrong = b
        .pki
        .layer_with_signature(&leaf, &img.payload, sig.clone(), at)
        .with(
            TIMESTAMP,
            timestamp_annotation(&b.pki.timestamp(b"other bytes")),
        );
    passed(&b.check(&img, &[&wrong], &with_tsa), &email_identity(), at);
    let inter_only = b.s.write("inter-only.pem", b.pki.inter.as_bytes());
    let other = b.policy(
        "other-tsa.yaml",
        &[("tsaChain", &inter_only.display().to_string())],
    );
    passed(&b.check(&img, &[&stamped], &other), &email_identity(), at);
    // A garbled annotation is read only when a TSA is trusted, and then only skipped.
    let garbled = b
        .pki
        .layer_with_signature(&leaf, &img.payload, sig.clone(), at)
        .with(TIMESTAMP, "not json".into());
    passed(&b.check(&img, &[&garbled], &without), &email_identity(), at);
    passed(
        &b.check(&img, &[&garbled], &with_tsa),
        &email_identity(),
        at,
    );
}

/// A bundle whose Rekor entry has an inclusion proof with a signed checkpoint but no SET (as
/// Rekor v2 entries): `integratedTime` is 0 and the trusted time must come from a timestamp.
fn proof_only_bundle(
    pki: &Pki,
    leaf: &Leaf,
    host: &str,
    img: &Image,
    ts: Option<Vec<u8>>,
) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&keyless_bundle(pki, leaf, host, img, now(), None)).unwrap();
    let entry = &mut v["verificationMaterial"]["tlogEntries"][0];
    let obj = entry.as_object_mut().unwrap();
    obj.remove("inclusionPromise");
    obj.insert("integratedTime".into(), "0".into());
    obj.insert("logIndex".into(), "0".into());
    if let Some(ts) = ts {
        v["verificationMaterial"]["timestampVerificationData"] =
            serde_json::json!({"rfc3161Timestamps": [{"signedTimestamp": B64.encode(ts)}]});
    }
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn a_proof_only_rekor_entry_takes_its_time_from_a_timestamp() {
    let b = Bench::new();
    let tsa_chain = b.pki.tsa().display().to_string();
    let img = b.image("team/tiles");
    let host = b.reg.host.clone();
    let chain_file = b.pki.chain_file.display().to_string();
    let policy = b.policy(
        "tsa.yaml",
        &[("caChain", &chain_file), ("tsaChain", &tsa_chain)],
    );
    let leaf = b.pki.email_leaf("leaf");
    // The timestamp is over the DSSE signature: read it back from the bundle made without one.
    let unstamped = proof_only_bundle(&b.pki, &leaf, &host, &img, None);
    let v: serde_json::Value = serde_json::from_slice(&unstamped).unwrap();
    let sig = B64
        .decode(v["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    // No SET and no timestamp: there is no trusted signing time.
    b.attach_bundle(&img, &unstamped);
    refused(&b.verify(&img, &policy), "tlog-missing");
    // The same entry with a timestamp over the signature: the TSA's time is the signing time.
    let mut stamped: serde_json::Value = v.clone();
    stamped["verificationMaterial"]["timestampVerificationData"] = serde_json::json!(
        {"rfc3161Timestamps": [{"signedTimestamp": B64.encode(b.pki.timestamp(&sig))}]}
    );
    b.attach_bundle(&img, &serde_json::to_vec(&stamped).unwrap());
    let verdict = b.verify(&img, &policy);
    assert_eq!(verdict.code, 0, "{:#}", verdict.json);
    let signed_at = verdict.image(0)["signatures"][0]["signedAt"]
        .as_i64()
        .unwrap();
    assert!((signed_at - now()).abs() < 300, "{signed_at}");
    // With only a timestamp over other bytes, there is no trusted time: tsa-invalid.
    let mut wrong_stamp: serde_json::Value = v.clone();
    wrong_stamp["verificationMaterial"]["timestampVerificationData"] = serde_json::json!(
        {"rfc3161Timestamps": [{"signedTimestamp": B64.encode(b.pki.timestamp(b"other"))}]}
    );
    b.attach_bundle(&img, &serde_json::to_vec(&wrong_stamp).unwrap());
    refused(&b.verify(&img, &policy), "tsa-invalid");
    // A checkpoint that names another tree does not count as a log entry.
    let mut forged = stamped.clone();
    let cp = forged["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
        ["envelope"]
        .as_str()
        .unwrap()
        .replace("sigil-test-log\n1\n", "sigil-test-log\n2\n");
    forged["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"] =
        cp.into();
    b.attach_bundle(&img, &serde_json::to_vec(&forged).unwrap());
    refused(&b.verify(&img, &policy), "tlog-mismatch");
    // A leaf that only becomes valid after the timestamp: cert-expired at the TSA's time.
    let t = now();
    let late = b.pki.leaf(
        "late",
        "inter",
        &leaf_ext(Some("codeSigning"), &format!("email:{EMAIL}")),
        t + 3600,
        t + DAY,
    );
    let late_bundle = proof_only_bundle(&b.pki, &late, &host, &img, None);
    let mut lv: serde_json::Value = serde_json::from_slice(&late_bundle).unwrap();
    let late_sig = B64
        .decode(lv["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    lv["verificationMaterial"]["timestampVerificationData"] = serde_json::json!(
        {"rfc3161Timestamps": [{"signedTimestamp": B64.encode(b.pki.timestamp(&late_sig))}]}
    );
    b.attach_bundle(&img, &serde_json::to_vec(&lv).unwrap());
    refused(&b.verify(&img, &policy), "cert-expired");
}

/// A Rekor v2 ("rekor-tiles") style entry end to end, trusted through a `trusted_root.json`:
/// an Ed25519 log key whose log id is the signed-note key hash
/// SHA-256(origin ‖ "\n" ‖ 0x01 ‖ key), a `hashedrekord` 0.0.2 body over the DSSE PAE, an
/// inclusion proof with a checkpoint signed as a note (no SET, `integratedTime` absent), and the
/// signing time from an RFC 3161 timestamp of a TSA listed in `timestampAuthorities`.
#[test]
fn rekor_v2_entry_with_a_timestamp_through_a_trusted_root() {
    use ed25519_dalek::Signer as _;
    use sigil::sops::time::format_unix;
    let b = Bench::new();
    b.pki.tsa();
    let img = b.image("team/v2");
    let host = b.reg.host.clone();
    let leaf = b.pki.email_leaf("leaf");
    let origin = "rekor-v2.sigil.test";
    let log = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let raw = log.verifying_key().to_bytes();
    let mut id_input = format!("{origin}\n").into_bytes();
    id_input.push(0x01);
    id_input.extend_from_slice(&raw);
    let log_id = Sha256::digest(&id_input).to_vec();

    let trusted_root = |log_from: i64| {
        use ed25519_dalek::pkcs8::EncodePublicKey as _;
        let der = |pem: &str| B64.encode(cert_der(pem));
        let tsa_pem = std::fs::read_to_string(b.pki.dir.join("tsa.pem")).unwrap();
        let since = serde_json::json!({"start": format_unix(now() - 30 * DAY)});
        let root = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": format!("https://{origin}"), "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(log.verifying_key().to_public_key_der().unwrap().as_bytes()),
                    "keyDetails": "PKIX_ED25519",
                    "validFor": {"start": format_unix(log_from)},
                },
                "logId": {"keyId": B64.encode(&log_id)},
            }],
            "certificateAuthorities": [{"certChain": {"certificates": [{"rawBytes": der(&b.pki.inter)}, {"rawBytes": der(&b.pki.root)}]}, "validFor": since}],
            "ctlogs": [],
            "timestampAuthorities": [{"certChain": {"certificates": [{"rawBytes": der(&tsa_pem)}, {"rawBytes": der(&b.pki.root)}]}, "validFor": since}],
        });
        let file = b.s.write(
            &format!("trusted-root-{log_from}.json"),
            root.to_string().as_bytes(),
        );
        let quoted = file.display().to_string().replace('\'', "''");
        b.s.write(
            &format!("v2-{log_from}.yaml"),
            format!(
                "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  images:\n    insecureRegistries: [\"127.0.0.1:*\"]\n    rules:\n      - match: \"127.0.0.1:*/**\"\n        authorities:\n          - keyless:\n              issuer: '{ISSUER}'\n              subject: '{EMAIL}'\n              trustedRoot: '{quoted}'\n              ignoreSct: true\n"
            )
            .as_bytes(),
        )
    };

    // The DSSE signature, and a v2 entry for it; `digest_of_payload` logs the hash of the
    // payload instead of the PAE (another signed object).
    let base: serde_json::Value =
        serde_json::from_slice(&keyless_bundle(&b.pki, &leaf, &host, &img, now(), None)).unwrap();
    let env = &base["dsseEnvelope"];
    let payload = B64.decode(env["payload"].as_str().unwrap()).unwrap();
    let sig = B64
        .decode(env["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let bundle = |digest_of_payload: bool, stamp: bool| {
        let signed = if digest_of_payload {
            payload.clone()
        } else {
            pae("application/vnd.in-toto+json", &payload)
        };
        let body = serde_json::to_vec(&serde_json::json!({
            "apiVersion": "0.0.2", "kind": "hashedrekord",
            "spec": {"hashedRekordV002": {
                "data": {"algorithm": "SHA2_256", "digest": B64.encode(Sha256::digest(&signed))},
                "signature": {"content": B64.encode(&sig), "verifier": {
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "x509Certificate": {"rawBytes": B64.encode(cert_der(&leaf.pem))},
                }},
            }},
        }))
        .unwrap();
        let mut leaf_input = vec![0u8];
        leaf_input.extend_from_slice(&body);
        let root_hash = Sha256::digest(&leaf_input);
        let note = format!("{origin}\n1\n{}\n", B64.encode(root_hash));
        let mut line = log_id[..4].to_vec();
        line.extend_from_slice(&log.sign(note.as_bytes()).to_bytes());
        let checkpoint = format!("{note}\n\u{2014} {origin} {}\n", B64.encode(line));
        let mut v = base.clone();
        v["verificationMaterial"]["tlogEntries"] = serde_json::json!([{
            "logIndex": "0",
            "logId": {"keyId": B64.encode(&log_id)},
            "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
            "inclusionProof": {"logIndex": "0", "rootHash": B64.encode(root_hash), "treeSize": "1", "hashes": [], "checkpoint": {"envelope": checkpoint}},
            "canonicalizedBody": B64.encode(&body),
        }]);
        if stamp {
            v["verificationMaterial"]["timestampVerificationData"] = serde_json::json!(
                {"rfc3161Timestamps": [{"signedTimestamp": B64.encode(b.pki.timestamp(&sig))}]}
            );
        }
        serde_json::to_vec(&v).unwrap()
    };

    let policy = trusted_root(now() - DAY);
    b.attach_bundle(&img, &bundle(false, true));
    let v = b.verify(&img, &policy);
    assert_eq!(v.code, 0, "{:#}", v.json);
    let signed_at = v.image(0)["signatures"][0]["signedAt"].as_i64().unwrap();
    assert!((signed_at - now()).abs() < 300, "{signed_at}");
    // No timestamp: the entry proves inclusion but gives no time.
    b.attach_bundle(&img, &bundle(false, false));
    refused(&b.verify(&img, &policy), "tlog-missing");
    // The body logs another digest than the PAE's.
    b.attach_bundle(&img, &bundle(true, true));
    refused(&b.verify(&img, &policy), "tlog-mismatch");
    // The log key is valid only from tomorrow: not at the timestamp's time.
    let later = trusted_root(now() + DAY);
    b.attach_bundle(&img, &bundle(false, true));
    refused(&b.verify(&img, &later), "tlog-mismatch");
}
