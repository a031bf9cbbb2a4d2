//! The cryptographic part of image verification, in process: one legacy cosign signature
//! (the containers/image vector) through sigil's whole per-signature check (base64, ECDSA
//! P-256 over the payload, payload parse, digest and claims), against raw ECDSA P-256
//! verification of the same bytes. Target: within 2× of raw. Run: `cargo bench --bench images`.

mod support;
use support::per_op;

use std::collections::BTreeMap;

use sigil::image::pubkey::PublicKey;
use sigil::image::signature::{CandidateKind, digest_of, from_containers_image_file};
use sigil::image::verify::{Authority, Requirements, Trust, verify_candidate};

fn fixture(rel: &str) -> Vec<u8> {
    let p = format!(
        "{}/../shared/vectors/cosign/containers-image/signature/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn main() {
    let key = PublicKey::from_pem(&String::from_utf8(fixture("cosign.pub")).unwrap()).unwrap();
    let candidate = from_containers_image_file("sig", &fixture("dir-img-cosign-valid/signature-1"));
    let digest = digest_of(&fixture("dir-img-cosign-valid/manifest.json"));
    let authorities = [Authority {
        name: "key".into(),
        trust: Trust::Key {
            key: key.clone(),
            tlog: None,
        },
    }];
    let none = BTreeMap::new();
    let req = Requirements {
        image_digest: &digest,
        annotations: &none,
        authorities: &authorities,
    };
    assert!(verify_candidate(&candidate, &req).result.is_ok());
    let CandidateKind::Legacy {
        payload,
        annotations,
    } = &candidate.kind
    else {
        unreachable!()
    };
    use base64::Engine;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(&annotations["dev.cosignproject.cosign/signature"])
        .unwrap();
    let PublicKey::P256(vk) = &key else {
        unreachable!()
    };
    let raw = per_op(2000, || {
        use p256::ecdsa::signature::Verifier;
        let s = p256::ecdsa::Signature::from_der(&sig).unwrap();
        assert!(vk.verify(payload, &s).is_ok());
    });
    let pem = fixture("cosign.pub");
    let ossl_key = openssl::ec::EcKey::public_key_from_pem(&pem).unwrap();
    let ossl_sig = openssl::ecdsa::EcdsaSig::from_der(&sig).unwrap();
    let raw_ossl = per_op(2000, || {
        use sha2::Digest;
        let d = sha2::Sha256::digest(payload);
        assert!(ossl_sig.verify(&d, &ossl_key).unwrap());
    });
    let whole = per_op(2000, || {
        assert!(verify_candidate(&candidate, &req).result.is_ok());
    });
    println!(
        "raw ECDSA P-256 verify, p256 crate: {:>7.1} µs",
        raw.as_secs_f64() * 1e6
    );
    println!(
        "raw ECDSA P-256 verify, OpenSSL:    {:>7.1} µs",
        raw_ossl.as_secs_f64() * 1e6
    );
    println!(
        "sigil per-signature verification:   {:>7.1} µs  ({:.2}× raw OpenSSL; target ≤ 2×)",
        whole.as_secs_f64() * 1e6,
        whole.as_secs_f64() / raw_ossl.as_secs_f64()
    );
}
