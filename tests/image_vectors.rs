//! The public cosign vectors (containers/image legacy signatures, the sigstore-rs v0.3 bundle)
//! through sigil's whole per-signature verifier, with the outcomes shared/vectors/README.md gives.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use sigil::image::cert::Certificate;
use sigil::image::pubkey::PublicKey;
use sigil::image::signature::{Candidate, CandidateKind, digest_of, from_containers_image_file};
use sigil::image::trust_root::{CertificateAuthority, TrustRoot};
use sigil::image::verify::{Authority, Keyless, Matcher, Requirements, Trust, verify_candidate};

fn vectors(rel: &str) -> Vec<u8> {
    let p = format!(
        "{}/../shared/vectors/cosign/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn fixture(rel: &str) -> Vec<u8> {
    vectors(&format!("containers-image/signature/fixtures/{rel}"))
}

fn key(rel: &str) -> PublicKey {
    PublicKey::from_pem(&String::from_utf8(fixture(rel)).unwrap()).unwrap()
}

fn rekor() -> PublicKey {
    PublicKey::from_pem(
        &String::from_utf8(vectors(
            "containers-image/signature/internal/testdata/rekor.pub",
        ))
        .unwrap(),
    )
    .unwrap()
}

fn key_authority(k: PublicKey, rekor_key: Option<PublicKey>) -> Authority {
    let tlog = rekor_key
        .map(|r| Arc::new(TrustRoot::from_pem(None, &[r.to_pem().as_str()], &[]).unwrap()));
    Authority {
        name: format!("key {}", k.kind()),
        trust: Trust::Key { key: k, tlog },
    }
}

fn digest(dir: &str) -> String {
    digest_of(&fixture(&format!("{dir}/manifest.json")))
}

fn sig(dir: &str, n: u8) -> Candidate {
    from_containers_image_file(
        &format!("{dir}/signature-{n}"),
        &fixture(&format!("{dir}/signature-{n}")),
    )
}

/// The verdict for a set of candidates: Ok(identity) if any passes, else the reasons.
fn outcome(
    cands: &[Candidate],
    image_digest: &str,
    authorities: &[Authority],
) -> Result<String, Vec<&'static str>> {
    outcome_with(cands, image_digest, authorities, &BTreeMap::new())
}

fn outcome_with(
    cands: &[Candidate],
    image_digest: &str,
    authorities: &[Authority],
    annotations: &BTreeMap<String, String>,
) -> Result<String, Vec<&'static str>> {
    let req = Requirements {
        image_digest,
        annotations,
        authorities,
    };
    let reports: Vec<_> = cands.iter().map(|c| verify_candidate(c, &req)).collect();
    if let Some(p) = reports.iter().find_map(|r| r.result.as_ref().ok()) {
        return Ok(p.identity.clone());
    }
    Err(reports
        .iter()
        .map(|r| r.result.as_ref().unwrap_err().reason)
        .collect())
}

fn with_annotation(c: &Candidate, key: &str, value: Option<&str>) -> Candidate {
    let mut c = c.clone();
    if let CandidateKind::Legacy { annotations, .. } = &mut c.kind {
        match value {
            Some(v) => annotations.insert(key.to_string(), v.to_string()),
            None => annotations.remove(key),
        };
    }
    c
}

const VALID: &str = "dir-img-cosign-valid";

#[test]
fn legacy_key_signatures() {
    let d = digest(VALID);
    assert!(d.starts_with("sha256:634a8f35"));
    let cosign = || key_authority(key("cosign.pub"), None);
    let cosign2 = || key_authority(key("cosign2.pub"), None);
    assert!(outcome(&[sig(VALID, 1)], &d, &[cosign()]).is_ok());
    assert!(outcome(&[sig(VALID, 1)], &d, &[cosign2(), cosign()]).is_ok());
    assert_eq!(
        outcome(&[sig(VALID, 1)], &d, &[cosign2()]),
        Err(vec!["untrusted-key"])
    );
    // Signature annotation removed, or replaced by base64 of garbage.
    let s = sig(VALID, 1);
    let gone = with_annotation(&s, "dev.cosignproject.cosign/signature", None);
    assert_eq!(
        outcome(&[gone], &d, &[cosign()]),
        Err(vec!["malformed-signature"])
    );
    let garbage = base64::engine::general_purpose::STANDARD.encode("invalid signature");
    let bad = with_annotation(&s, "dev.cosignproject.cosign/signature", Some(&garbage));
    assert_eq!(outcome(&[bad], &d, &[cosign()]), Err(vec!["untrusted-key"]));
    // Two valid signatures; a mixed pair where only the second is by the trusted key.
    let d2 = digest("dir-img-cosign-valid-2");
    assert!(
        outcome(
            &[
                sig("dir-img-cosign-valid-2", 1),
                sig("dir-img-cosign-valid-2", 2)
            ],
            &d2,
            &[cosign()]
        )
        .is_ok()
    );
    let dm = digest("dir-img-cosign-mixed");
    let mixed = [
        sig("dir-img-cosign-mixed", 1),
        sig("dir-img-cosign-mixed", 2),
    ];
    assert!(outcome(&mixed, &dm, &[cosign()]).is_ok());
    assert_eq!(
        outcome(&mixed[..1], &dm, &[cosign()]),
        Err(vec!["untrusted-key"])
    );
    let unknown = from_containers_image_file("unknown", &fixture("unknown-cosign-key.signature"));
    assert_eq!(
        outcome(&[unknown], &d, &[cosign(), cosign2()]),
        Err(vec!["untrusted-key"])
    );
    // A tag-identity signature by containers/image (optional carries creator/timestamp).
    let dt = digest("dir-img-cosign-valid-with-tag");
    assert!(outcome(&[sig("dir-img-cosign-valid-with-tag", 1)], &dt, &[cosign()]).is_ok());
}

#[test]
fn legacy_digest_and_attachment_refusals() {
    let cosign = key_authority(key("cosign.pub"), None);
    // The manifest was modified: its digest is not the signed one.
    let dm = digest("dir-img-cosign-modified-manifest");
    assert!(dm.starts_with("sha256:d9dcafdb"));
    assert_eq!(
        outcome(
            &[sig("dir-img-cosign-modified-manifest", 1)],
            &dm,
            std::slice::from_ref(&cosign)
        ),
        Err(vec!["digest-mismatch"])
    );
    // A non-signature attachment is not a signature at all.
    let d = digest("dir-img-cosign-other-attachment");
    let other = sig("dir-img-cosign-other-attachment", 1);
    assert!(matches!(
        other.kind,
        CandidateKind::Broken {
            reason: "not-a-signature",
            ..
        }
    ));
    assert_eq!(
        outcome(&[other], &d, &[cosign]),
        Err(vec!["not-a-signature"])
    );
}

#[test]
fn legacy_signed_annotations_are_per_signature() {
    let d = digest("dir-img-cosign-valid-with-tag");
    let cosign = [key_authority(key("cosign.pub"), None)];
    let s = sig("dir-img-cosign-valid-with-tag", 1);
    let want = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
    assert!(
        outcome_with(
            std::slice::from_ref(&s),
            &d,
            &cosign,
            &want("creator", "containers/image 5.21.2-dev")
        )
        .is_ok()
    );
    assert_eq!(
        outcome_with(
            std::slice::from_ref(&s),
            &d,
            &cosign,
            &want("creator", "someone else")
        ),
        Err(vec!["claim-mismatch"])
    );
}

const KEY_REKOR: &str = "dir-img-cosign-key-rekor-valid";

#[test]
fn legacy_key_with_rekor() {
    let d = digest(KEY_REKOR);
    let s = sig(KEY_REKOR, 1);
    let ok = |rk| key_authority(key("cosign2.pub"), Some(rk));
    assert!(outcome(std::slice::from_ref(&s), &d, &[ok(rekor())]).is_ok());
    assert!(
        outcome(
            std::slice::from_ref(&s),
            &d,
            &[key_authority(key("cosign.pub"), None), ok(rekor())]
        )
        .is_ok()
    );
    // The SET does not verify with another "Rekor" key.
    assert_eq!(
        outcome(std::slice::from_ref(&s), &d, &[ok(key("cosign.pub"))]),
        Err(vec!["tlog-mismatch"])
    );
    // Rekor required, bundle missing or unparsable.
    let gone = with_annotation(&s, "dev.sigstore.cosign/bundle", None);
    assert_eq!(
        outcome(&[gone], &d, &[ok(rekor())]),
        Err(vec!["tlog-missing"])
    );
    let junk = with_annotation(
        &s,
        "dev.sigstore.cosign/bundle",
        Some("this is not a valid SET"),
    );
    assert_eq!(
        outcome(&[junk], &d, &[ok(rekor())]),
        Err(vec!["tlog-mismatch"])
    );
    // A valid SET grafted onto another signature: the entry is not about this signature.
    let bundle = match &s.kind {
        CandidateKind::Legacy { annotations, .. } => {
            annotations["dev.sigstore.cosign/bundle"].clone()
        }
        _ => unreachable!(),
    };
    let grafted = with_annotation(&sig(VALID, 1), "dev.sigstore.cosign/bundle", Some(&bundle));
    let both = [key_authority(key("cosign.pub"), Some(rekor())), ok(rekor())];
    assert_eq!(
        outcome(&[grafted], &digest(VALID), &both),
        Err(vec!["tlog-mismatch"])
    );
}

/// Fulcio root from the fixtures, CT logs from the public-good trusted root.
fn fulcio_root(chain_pem: &str, with_ct: bool) -> TrustRoot {
    let mut root = TrustRoot::from_pem(Some(chain_pem), &[rekor().to_pem().as_str()], &[]).unwrap();
    if with_ct {
        let prod = TrustRoot::from_json(&vectors("sigstore-rs/trust_root/prod/trusted_root.json"))
            .unwrap();
        root.ctlogs = prod.ctlogs;
    }
    root
}

fn keyless(root: TrustRoot, issuer: Matcher, subject: Matcher) -> Authority {
    Authority {
        name: "keyless".into(),
        trust: Trust::Keyless(Box::new(Keyless {
            root: Arc::new(root),
            issuer,
            subject,
            require_sct: true,
            require_tlog: true,
            rekor_search: None,
        })),
    }
}

const FULCIO: &str = "dir-img-cosign-fulcio-rekor-valid";
const GITHUB: &str = "https://github.com/login/oauth";

fn exact(s: &str) -> Matcher {
    Matcher::Exact(s.into())
}

#[test]
fn legacy_keyless_fulcio_rekor() {
    let d = digest(FULCIO);
    let s = sig(FULCIO, 1);
    let fulcio = String::from_utf8(fixture("fulcio_v1.crt.pem")).unwrap();
    let good = || {
        keyless(
            fulcio_root(&fulcio, true),
            exact(GITHUB),
            exact("mitr@redhat.com"),
        )
    };
    assert_eq!(
        outcome(std::slice::from_ref(&s), &d, &[good()]),
        Ok(format!("{GITHUB} mitr@redhat.com"))
    );
    // Anchored regexes: a whole-value pattern passes, a fragment that cosign's unanchored
    // matching would accept does not.
    let re = |p: &str| Matcher::regex(p).unwrap();
    assert!(
        outcome(
            std::slice::from_ref(&s),
            &d,
            &[keyless(
                fulcio_root(&fulcio, true),
                exact(GITHUB),
                re(r"[a-z]+@redhat\.com")
            )]
        )
        .is_ok()
    );
    assert_eq!(
        outcome(
            std::slice::from_ref(&s),
            &d,
            &[keyless(
                fulcio_root(&fulcio, true),
                exact(GITHUB),
                re("mitr@redhat")
            )]
        ),
        Err(vec!["identity-mismatch"])
    );
    assert_eq!(
        outcome(
            std::slice::from_ref(&s),
            &d,
            &[keyless(
                fulcio_root(&fulcio, true),
                exact(GITHUB),
                exact("this-does-not-match@example.com")
            )]
        ),
        Err(vec!["identity-mismatch"])
    );
    assert_eq!(
        outcome(
            std::slice::from_ref(&s),
            &d,
            &[keyless(
                fulcio_root(&fulcio, true),
                exact("https://accounts.google.com"),
                exact("mitr@redhat.com")
            )]
        ),
        Err(vec!["identity-mismatch"])
    );
    // The SET checked with the wrong "Rekor" key.
    let mut wrong_rekor = fulcio_root(&fulcio, true);
    wrong_rekor.tlogs = TrustRoot::from_pem(None, &[key("cosign.pub").to_pem().as_str()], &[])
        .unwrap()
        .tlogs;
    assert_eq!(
        outcome(
            std::slice::from_ref(&s),
            &d,
            &[keyless(
                wrong_rekor,
                exact(GITHUB),
                exact("mitr@redhat.com")
            )]
        ),
        Err(vec!["tlog-mismatch"])
    );
    // No CT log key known: the SCT cannot be checked.
    assert_eq!(
        outcome(
            std::slice::from_ref(&s),
            &d,
            &[keyless(
                fulcio_root(&fulcio, false),
                exact(GITHUB),
                exact("mitr@redhat.com")
            )]
        ),
        Err(vec!["sct-invalid"])
    );
    // Without the chain annotation only the root is known: no path.
    let no_chain = with_annotation(&s, "dev.sigstore.cosign/chain", None);
    assert_eq!(
        outcome(std::slice::from_ref(&no_chain), &d, &[good()]),
        Err(vec!["cert-untrusted"])
    );
    // ...unless the intermediate+root from the annotation are the configured CA.
    let chain = match &s.kind {
        CandidateKind::Legacy { annotations, .. } => {
            annotations["dev.sigstore.cosign/chain"].clone()
        }
        _ => unreachable!(),
    };
    assert!(
        outcome(
            &[no_chain],
            &d,
            &[keyless(
                fulcio_root(&chain, true),
                exact(GITHUB),
                exact("mitr@redhat.com")
            )]
        )
        .is_ok()
    );
    // Bundle removed, certificate removed or garbage.
    let no_set = with_annotation(&s, "dev.sigstore.cosign/bundle", None);
    assert_eq!(outcome(&[no_set], &d, &[good()]), Err(vec!["tlog-missing"]));
    let no_cert = with_annotation(&s, "dev.sigstore.cosign/certificate", None);
    assert_eq!(
        outcome(&[no_cert], &d, &[good()]),
        Err(vec!["cert-untrusted"])
    );
    let junk_cert = with_annotation(&s, "dev.sigstore.cosign/certificate", Some("garbage"));
    assert_eq!(
        outcome(&[junk_cert], &d, &[good()]),
        Err(vec!["malformed-signature"])
    );
    // A Fulcio CA whose validity window (trust root validFor) ends before the signing time.
    let mut expired_ca = fulcio_root(&fulcio, true);
    for ca in &mut expired_ca.certificate_authorities {
        ca.valid_to = Some(1_600_000_000);
    }
    assert_eq!(
        outcome(
            std::slice::from_ref(&s),
            &d,
            &[keyless(expired_ca, exact(GITHUB), exact("mitr@redhat.com"))]
        ),
        Err(vec!["cert-expired"])
    );
}

#[test]
fn trusted_key_plus_claim_from_an_untrusted_signature_is_refused() {
    // The sigstore crate lets one layer satisfy the key and another the annotation. Here the
    // trusted layer (valid/signature-1, optional: null) has no annotation, and a second layer
    // for the same digest carries it but is signed by an untrusted key: no single signature
    // has both, so the image is refused.
    let d = digest(VALID);
    let cosign = [key_authority(key("cosign.pub"), None)];
    let want = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    let intruder = sigil::image::cosign_key::SigningKey::generate_p256();
    let payload = sigil::image::sign::simple_signing_payload(
        "192.168.64.2:5000/cosign-signed-single-sample",
        &d,
        &want,
    );
    let forged = Candidate {
        source: "untrusted layer".into(),
        kind: CandidateKind::Legacy {
            annotations: BTreeMap::from([(
                "dev.cosignproject.cosign/signature".to_string(),
                b64e(&intruder.sign(&payload)),
            )]),
            payload,
        },
    };
    let cands = [sig(VALID, 1), forged.clone()];
    assert_eq!(
        outcome_with(&cands, &d, &cosign, &want),
        Err(vec!["claim-mismatch", "untrusted-key"])
    );
    // The same layer signed by the intruder passes once the intruder's key is trusted.
    let both = [
        key_authority(key("cosign.pub"), None),
        key_authority(intruder.public_key(), None),
    ];
    assert!(outcome_with(&[forged], &d, &both, &want).is_ok());
    // Without the annotation requirement the trusted layer alone passes.
    assert!(outcome(&cands, &d, &cosign).is_ok());
}

#[test]
fn pki_keyless_without_rekor() {
    let d = digest("dir-img-cosign-pki-valid");
    let s = sig("dir-img-cosign-pki-valid", 1);
    let roots =
        Certificate::parse_pem_chain(&String::from_utf8(fixture("pki_root_crts.pem")).unwrap())
            .unwrap();
    let inter = Certificate::parse_pem_chain(
        &String::from_utf8(fixture("pki_intermediate_crts.pem")).unwrap(),
    )
    .unwrap();
    let authority = |with_intermediates: bool| {
        let cas = roots
            .iter()
            .map(|r| {
                let mut chain: Vec<Vec<u8>> = if with_intermediates {
                    inter.iter().map(|c| c.der().to_vec()).collect()
                } else {
                    Vec::new()
                };
                chain.push(r.der().to_vec());
                CertificateAuthority {
                    chain,
                    valid_from: None,
                    valid_to: None,
                }
            })
            .collect();
        Authority {
            name: "pki".into(),
            trust: Trust::Keyless(Box::new(Keyless {
                root: Arc::new(TrustRoot {
                    certificate_authorities: cas,
                    ..TrustRoot::default()
                }),
                issuer: Matcher::regex(".*").unwrap(),
                subject: exact("qiwan@redhat.com"),
                require_sct: false,
                require_tlog: false,
                rekor_search: None,
            })),
        }
    };
    // A private PKI leaf without extendedKeyUsage is unrestricted (Go's reading); no tlog, no SCT.
    assert_eq!(
        outcome(std::slice::from_ref(&s), &d, &[authority(true)]),
        Ok(" qiwan@redhat.com".to_string())
    );
    // The chain annotation supplies the intermediate when the configuration does not.
    assert!(outcome(std::slice::from_ref(&s), &d, &[authority(false)]).is_ok());
    let no_chain = with_annotation(&s, "dev.sigstore.cosign/chain", None);
    assert_eq!(
        outcome(&[no_chain], &d, &[authority(false)]),
        Err(vec!["cert-untrusted"])
    );
    let no_cert = with_annotation(&s, "dev.sigstore.cosign/certificate", None);
    assert_eq!(
        outcome(&[no_cert], &d, &[authority(true)]),
        Err(vec!["cert-untrusted"])
    );
}

fn bundle_candidate(json: Vec<u8>) -> Candidate {
    Candidate {
        source: "bundle".into(),
        kind: CandidateKind::Bundle { json },
    }
}

const KUBEWARDEN: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const WORKFLOW: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";

fn prod_keyless(subject: Matcher) -> Authority {
    keyless(
        TrustRoot::from_json(&vectors("sigstore-rs/trust_root/prod/trusted_root.json")).unwrap(),
        exact(ACTIONS),
        subject,
    )
}

fn edit_bundle(f: impl Fn(&mut serde_json::Value)) -> Candidate {
    let mut v: serde_json::Value =
        serde_json::from_slice(&vectors("sigstore-rs/tests/data/bundle_v03.json")).unwrap();
    f(&mut v);
    bundle_candidate(serde_json::to_vec(&v).unwrap())
}

fn b64e(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn b64d(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn cosign_v3_bundle_keyless() {
    let b = bundle_candidate(vectors("sigstore-rs/tests/data/bundle_v03.json"));
    let good = || prod_keyless(exact(WORKFLOW));
    assert_eq!(
        outcome(std::slice::from_ref(&b), KUBEWARDEN, &[good()]),
        Ok(format!("{ACTIONS} {WORKFLOW}"))
    );
    let zero = format!("sha256:{}", "0".repeat(64));
    assert_eq!(
        outcome(std::slice::from_ref(&b), &zero, &[good()]),
        Err(vec!["digest-mismatch"])
    );
    assert_eq!(
        outcome(
            std::slice::from_ref(&b),
            KUBEWARDEN,
            &[prod_keyless(
                Matcher::regex("https://github.com/kubewarden/").unwrap()
            )]
        ),
        Err(vec!["identity-mismatch"])
    );
    assert!(
        outcome(
            std::slice::from_ref(&b),
            KUBEWARDEN,
            &[prod_keyless(
                Matcher::regex(r"https://github\.com/kubewarden/.+").unwrap()
            )]
        )
        .is_ok()
    );
    // Payload type, DSSE signature count.
    let t = edit_bundle(|v| v["dsseEnvelope"]["payloadType"] = "application/json".into());
    assert_eq!(
        outcome(&[t], KUBEWARDEN, &[good()]),
        Err(vec!["wrong-type"])
    );
    let none = edit_bundle(|v| v["dsseEnvelope"]["signatures"] = serde_json::json!([]));
    assert_eq!(
        outcome(&[none], KUBEWARDEN, &[good()]),
        Err(vec!["malformed-signature"])
    );
    let two = edit_bundle(|v| {
        let s = v["dsseEnvelope"]["signatures"][0].clone();
        v["dsseEnvelope"]["signatures"] = serde_json::json!([s.clone(), s]);
    });
    assert_eq!(
        outcome(&[two], KUBEWARDEN, &[good()]),
        Err(vec!["malformed-signature"])
    );
    // Tampered statement (same signature): the signature no longer verifies.
    let tampered = edit_bundle(|v| {
        let mut st: serde_json::Value =
            serde_json::from_slice(&b64d(v["dsseEnvelope"]["payload"].as_str().unwrap())).unwrap();
        st["predicateType"] = "https://example.com/other".into();
        v["dsseEnvelope"]["payload"] = b64e(&serde_json::to_vec(&st).unwrap()).into();
    });
    assert_eq!(
        outcome(&[tampered], KUBEWARDEN, &[good()]),
        Err(vec!["bad-signature"])
    );
    // Tampered Rekor body (hashedrekord kind): the SET fails before anything else.
    let body = edit_bundle(|v| {
        let e = &mut v["verificationMaterial"]["tlogEntries"][0];
        let mut b: serde_json::Value =
            serde_json::from_slice(&b64d(e["canonicalizedBody"].as_str().unwrap())).unwrap();
        b["kind"] = "hashedrekord".into();
        e["canonicalizedBody"] = b64e(&serde_json::to_vec(&b).unwrap()).into();
    });
    assert_eq!(
        outcome(&[body], KUBEWARDEN, &[good()]),
        Err(vec!["tlog-mismatch"])
    );
    // No Rekor key known.
    let mut no_rekor =
        TrustRoot::from_json(&vectors("sigstore-rs/trust_root/prod/trusted_root.json")).unwrap();
    no_rekor.tlogs.clear();
    assert_eq!(
        outcome(
            std::slice::from_ref(&b),
            KUBEWARDEN,
            &[keyless(no_rekor, exact(ACTIONS), exact(WORKFLOW))]
        ),
        Err(vec!["tlog-mismatch"])
    );
    // A key authority cannot vouch for a Fulcio-signed bundle.
    assert_eq!(
        outcome(
            std::slice::from_ref(&b),
            KUBEWARDEN,
            &[key_authority(key("cosign.pub"), None)]
        ),
        Err(vec!["untrusted-key"])
    );
}

#[test]
fn cosign_attestation_bundle_is_not_an_image_signature() {
    // The cosign attestation bundle verifies cryptographically, but its predicate is an
    // attestation, not a cosign image signature: `verify images` must not count it.
    let b = bundle_candidate(vectors(
        "cosign/pkg/cosign/testdata/oci-attestation.sigstore.json",
    ));
    let st: serde_json::Value = {
        let v: serde_json::Value = serde_json::from_slice(&vectors(
            "cosign/pkg/cosign/testdata/oci-attestation.sigstore.json",
        ))
        .unwrap();
        serde_json::from_slice(&b64d(v["dsseEnvelope"]["payload"].as_str().unwrap())).unwrap()
    };
    let d = format!(
        "sha256:{}",
        st["subject"][0]["digest"]["sha256"].as_str().unwrap()
    );
    let a = keyless(
        TrustRoot::from_json(&vectors("sigstore-rs/trust_root/prod/trusted_root.json")).unwrap(),
        exact(GITHUB),
        exact("cody@soyland.com"),
    );
    assert_eq!(outcome(&[b], &d, &[a]), Err(vec!["wrong-type"]));
}
