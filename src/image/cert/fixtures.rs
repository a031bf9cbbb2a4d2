//! The cosign vectors the certificate tests share (`../shared/vectors/cosign`): Fulcio and
//! private-PKI leaves and chains, the public-good trusted root, and certificate editing helpers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use der::asn1::ObjectIdentifier;
use serde_json::Value;

use super::der_walk::{children, der_element, read_tlv, rebuild_tbs_extensions, tbs_fields};
use super::{CertError, Certificate};
use crate::image::pubkey::PublicKey;
use crate::image::trust_root::{CertificateAuthority, TrustedKey};

pub(super) const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/cosign");
/// Rekor integrated time (SET) of `dir-img-cosign-fulcio-rekor-valid`.
pub(super) const SET_TIME: i64 = 1674247893;
/// Rekor integrated time of `bundle_v03.json`.
pub(super) const BUNDLE_TIME: i64 = 1775719409;

pub(super) fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{VECTORS}/{path}")).unwrap()
}

pub(super) fn fixture(name: &str) -> String {
    read(&format!("containers-image/signature/fixtures/{name}"))
}

pub(super) fn certs(text: &str) -> Vec<Certificate> {
    Certificate::parse_pem_chain(text).unwrap()
}

/// The leaf and chain annotations of a containers/image `dir:` signature file.
pub(super) fn signature_certs(dir: &str) -> (Certificate, Vec<Certificate>) {
    let raw = std::fs::read(format!(
        "{VECTORS}/containers-image/signature/fixtures/{dir}/signature-1"
    ))
    .unwrap();
    let prefix = b"\0sigstore-json\n";
    assert!(raw.starts_with(prefix));
    let json: Value = serde_json::from_slice(&raw[prefix.len()..]).unwrap();
    let ann = &json["annotations"];
    let mut leaf = certs(ann["dev.sigstore.cosign/certificate"].as_str().unwrap());
    assert_eq!(leaf.len(), 1);
    let chain = certs(ann["dev.sigstore.cosign/chain"].as_str().unwrap());
    (leaf.remove(0), chain)
}

pub(super) fn authority(certs: &[Certificate]) -> CertificateAuthority {
    CertificateAuthority {
        chain: certs.iter().map(|c| c.der().to_vec()).collect(),
        valid_from: None,
        valid_to: None,
    }
}

pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(super) fn rfc3339(s: &str) -> i64 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

pub(super) fn window(v: &Value) -> (Option<i64>, Option<i64>) {
    (
        v["start"].as_str().map(rfc3339),
        v["end"].as_str().map(rfc3339),
    )
}

/// Fulcio CAs and CT logs of the public-good `trusted_root.json`.
pub(super) fn prod_root() -> (Vec<CertificateAuthority>, Vec<TrustedKey>) {
    let j: Value =
        serde_json::from_str(&read("sigstore-rs/trust_root/prod/trusted_root.json")).unwrap();
    let cas = j["certificateAuthorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ca| {
            let (valid_from, valid_to) = window(&ca["validFor"]);
            let chain = ca["certChain"]["certificates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| B64.decode(c["rawBytes"].as_str().unwrap()).unwrap())
                .collect();
            CertificateAuthority {
                chain,
                valid_from,
                valid_to,
            }
        })
        .collect();
    let ctlogs = j["ctlogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|log| {
            let key = PublicKey::from_spki_der(
                &B64.decode(log["publicKey"]["rawBytes"].as_str().unwrap())
                    .unwrap(),
            )
            .unwrap();
            let log_id: [u8; 32] = B64
                .decode(log["logId"]["keyId"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            assert_eq!(log_id, key.log_id());
            let (valid_from, valid_to) = window(&log["publicKey"]["validFor"]);
            TrustedKey {
                log_id,
                key,
                valid_from,
                valid_to,
            }
        })
        .collect();
    (cas, ctlogs)
}

pub(super) fn bundle_leaf() -> Certificate {
    let j: Value = serde_json::from_str(&read("sigstore-rs/tests/data/bundle_v03.json")).unwrap();
    let raw = j["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .unwrap();
    Certificate::from_der(&B64.decode(raw).unwrap()).unwrap()
}

/// `cert` with its TBSCertificate replaced (the signature is kept, so it no longer verifies).
pub(super) fn with_tbs(cert: &Certificate, tbs: &[u8]) -> Certificate {
    let (outer, _) = read_tlv(cert.der()).unwrap();
    let parts = children(outer.content).unwrap();
    let mut content = tbs.to_vec();
    for p in &parts[1..] {
        content.extend_from_slice(p.all);
    }
    Certificate::from_der(&der_element(0x30, &content)).unwrap()
}

/// `cert` with TBS field `index` replaced by `field`.
pub(super) fn with_tbs_field(cert: &Certificate, index: usize, field: &[u8]) -> Certificate {
    let fields = tbs_fields(cert.tbs_der()).unwrap();
    let mut content = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        content.extend_from_slice(if i == index { field } else { f.all });
    }
    with_tbs(cert, &der_element(0x30, &content))
}

/// `cert` with its extension list edited.
pub(super) fn with_extensions(
    cert: &Certificate,
    edit: impl FnOnce(Vec<&[u8]>) -> Vec<Vec<u8>>,
) -> Certificate {
    let tbs = rebuild_tbs_extensions(cert.tbs_der(), |e| Ok(edit(e))).unwrap();
    with_tbs(cert, &tbs)
}

pub(super) fn extension(oid: &ObjectIdentifier, critical: bool, value: &[u8]) -> Vec<u8> {
    let mut content = der_element(0x06, oid.as_bytes());
    if critical {
        content.extend_from_slice(&[0x01, 0x01, 0xff]);
    }
    content.extend(der_element(0x04, value));
    der_element(0x30, &content)
}

pub(super) fn is_not_valid_at(r: Result<Vec<Certificate>, CertError>, what: &str, at: i64) -> bool {
    matches!(r, Err(CertError::NotValidAt { which, t }) if which.contains(what) && t == at)
}
