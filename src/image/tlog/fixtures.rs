//! The cosign vectors the transparency-log tests share (`../shared/vectors/cosign`): legacy
//! `dir:` signatures with their bundle annotations, sigstore bundles and trust roots.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Expected, TlogEntry};
use crate::image::trust_root::TrustRoot;

pub(super) const V: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/cosign");

pub(super) fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{V}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub(super) fn read_str(path: &str) -> String {
    String::from_utf8(read(path)).unwrap()
}

pub(super) fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// A containers/image `dir:` signature file: payload, decoded signature, annotations.
pub(super) struct Legacy {
    pub(super) payload: Vec<u8>,
    pub(super) signature: Vec<u8>,
    pub(super) annotations: serde_json::Map<String, Value>,
}

pub(super) fn legacy(dir: &str) -> Legacy {
    let raw = read(&format!(
        "containers-image/signature/fixtures/{dir}/signature-1"
    ));
    let json = raw
        .strip_prefix(b"\x00sigstore-json\n".as_slice())
        .expect("signature file header");
    let v: Value = serde_json::from_slice(json).unwrap();
    let annotations = v["annotations"].as_object().unwrap().clone();
    let signature = B64
        .decode(
            annotations["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    Legacy {
        payload: B64.decode(v["payload"].as_str().unwrap()).unwrap(),
        signature,
        annotations,
    }
}

impl Legacy {
    pub(super) fn entry(&self) -> TlogEntry {
        TlogEntry::from_legacy_annotation(
            self.annotations["dev.sigstore.cosign/bundle"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
    }
}

pub(super) fn rekor_root() -> TrustRoot {
    let rekor = read_str("containers-image/signature/internal/testdata/rekor.pub");
    TrustRoot::from_pem(None, &[&rekor], &[]).unwrap()
}

pub(super) fn prod_root() -> TrustRoot {
    TrustRoot::from_json(&read("sigstore-rs/trust_root/prod/trusted_root.json")).unwrap()
}

pub(super) fn pem_to_der(pem: &str) -> Vec<u8> {
    der::pem::decode_vec(pem.as_bytes()).unwrap().1
}

/// The DSSE bundle: its tlog entry, payload, signature and leaf certificate (DER).
pub(super) struct Bundle {
    pub(super) json: Value,
    pub(super) payload: Vec<u8>,
    pub(super) signature: Vec<u8>,
    pub(super) cert: Vec<u8>,
}

pub(super) fn bundle(path: &str) -> Bundle {
    let json: Value = serde_json::from_slice(&read(path)).unwrap();
    let env = &json["dsseEnvelope"];
    Bundle {
        payload: B64.decode(env["payload"].as_str().unwrap()).unwrap(),
        signature: B64
            .decode(env["signatures"][0]["sig"].as_str().unwrap())
            .unwrap(),
        cert: B64
            .decode(
                json["verificationMaterial"]["certificate"]["rawBytes"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
        json,
    }
}

impl Bundle {
    pub(super) fn entry_json(&self) -> Value {
        self.json["verificationMaterial"]["tlogEntries"][0].clone()
    }
    pub(super) fn entry(&self) -> TlogEntry {
        TlogEntry::from_bundle_entry(&self.entry_json()).unwrap()
    }
    pub(super) fn expect(&self) -> Expected<'_> {
        Expected::Dsse {
            payload_sha256: sha256(&self.payload),
            pae: &[],
            signature: &self.signature,
            verifier: &self.cert,
        }
    }
}

pub(super) const V03: &str = "sigstore-rs/tests/data/bundle_v03.json";
