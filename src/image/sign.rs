//! `sigil sign image`: cosign-compatible signatures pushed to a registry — the legacy
//! simple-signing layer on the `sha256-<hex>.sig` tag (cosign's exact payload bytes), and
//! optionally a cosign v3 sigstore bundle as an OCI 1.1 referrer, with the referrers tag-schema
//! fallback index maintained for registries without the referrers API.

use std::collections::BTreeMap;

use base64::Engine;

use super::cosign_key::SigningKey;
use super::registry::{Client, OCI_INDEX, OCI_MANIFEST, RegistryError, sha256_digest};
use super::signature::{BUNDLE_V03, SIMPLE_SIGNING};
use super::verify::{COSIGN_SIGN_V1, key_hint, pae};

const EMPTY_CONFIG: &[u8] = b"{}";
const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// cosign's simple-signing payload, byte for byte (Go struct order, no spaces,
/// `"optional":null` without annotations).
pub fn simple_signing_payload(
    repository: &str,
    digest: &str,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let optional = if annotations.is_empty() {
        "null".to_string()
    } else {
        serde_json::to_string(annotations).unwrap_or_else(|_| "null".into())
    };
    format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":{}}},\"image\":{{\"docker-manifest-digest\":{}}},\"type\":\"cosign container image signature\"}},\"optional\":{optional}}}",
        json_str(repository),
        json_str(digest)
    )
    .into_bytes()
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Where and what to sign.
pub struct SignRequest<'a> {
    /// Image registry.
    pub registry: &'a str,
    /// Image repository.
    pub repository: &'a str,
    /// Image manifest digest.
    pub digest: &'a str,
    /// Registry receiving the signatures (the image's, or an alternate signature repository's).
    pub sig_registry: &'a str,
    /// Repository receiving the signatures.
    pub sig_repository: &'a str,
    /// The image manifest's media type and size (the bundle's subject descriptor).
    pub manifest_media_type: &'a str,
    /// Size of the image manifest.
    pub manifest_size: u64,
    /// `-a key=value` annotations.
    pub annotations: &'a BTreeMap<String, String>,
}

/// The `field` list (`layers`, `manifests`) of the manifest already at `tag` in the signature
/// repository, to extend rather than replace; empty if there is none or it is unreadable.
fn existing_entries(
    client: &Client,
    req: &SignRequest<'_>,
    tag: &str,
    field: &str,
) -> Result<Vec<serde_json::Value>, RegistryError> {
    Ok(client
        .manifest(req.sig_registry, req.sig_repository, tag)?
        .and_then(|m| serde_json::from_slice::<serde_json::Value>(&m.bytes).ok())
        .and_then(|v| v.get(field).and_then(|l| l.as_array()).cloned())
        .unwrap_or_default())
}

/// Appends a legacy signature layer to the image's `.sig` manifest (created if absent).
pub fn push_legacy(
    client: &Client,
    key: &SigningKey,
    req: &SignRequest<'_>,
) -> Result<String, RegistryError> {
    let payload = simple_signing_payload(
        &format!("{}/{}", req.registry, req.repository),
        req.digest,
        req.annotations,
    );
    let signature = key.sign(&payload);
    let payload_digest = client.push_blob(req.sig_registry, req.sig_repository, &payload)?;
    let tag = format!("{}.sig", req.digest.replacen(':', "-", 1));
    let mut layers = existing_entries(client, req, &tag, "layers")?;
    let sig_b64 = b64(&signature);
    let already = layers.iter().any(|l| {
        l.get("digest").and_then(|d| d.as_str()) == Some(payload_digest.as_str())
            && l.pointer("/annotations/dev.cosignproject.cosign~1signature")
                .and_then(|s| s.as_str())
                == Some(sig_b64.as_str())
    });
    if !already {
        layers.push(serde_json::json!({
            "mediaType": SIMPLE_SIGNING,
            "size": payload.len(),
            "digest": payload_digest,
            "annotations": { "dev.cosignproject.cosign/signature": sig_b64 },
        }));
    }
    let diff_ids: Vec<&str> = layers
        .iter()
        .filter_map(|l| l.get("digest")?.as_str())
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }))
    .unwrap_or_default();
    let config_digest = client.push_blob(req.sig_registry, req.sig_repository, &config)?;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
        "layers": layers,
    }))
    .unwrap_or_default();
    client.push_manifest(
        req.sig_registry,
        req.sig_repository,
        &tag,
        OCI_MANIFEST,
        &manifest,
    )?;
    Ok(tag)
}

/// Pushes a cosign v3 bundle (DSSE in-toto statement, key-signed, no transparency-log entry)
/// as a referrer of the image, and updates the `sha256-<hex>` fallback index.
pub fn push_bundle(
    client: &Client,
    key: &SigningKey,
    req: &SignRequest<'_>,
) -> Result<String, RegistryError> {
    let hex = req.digest.strip_prefix("sha256:").unwrap_or(req.digest);
    let mut subject = serde_json::json!({
        "name": format!("{}/{}", req.registry, req.repository),
        "digest": {"sha256": hex},
    });
    if !req.annotations.is_empty() {
        subject["annotations"] = serde_json::json!(req.annotations);
    }
    let statement = serde_json::to_vec(&serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [subject],
        "predicateType": COSIGN_SIGN_V1,
        "predicate": {},
    }))
    .unwrap_or_default();
    let payload_type = "application/vnd.in-toto+json";
    let signature = key.sign(&pae(payload_type, &statement));
    let public = key.public_key();
    let bundle = serde_json::to_vec(&serde_json::json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "publicKey": {"hint": key_hint(&public.to_spki_der())},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": b64(&statement),
            "payloadType": payload_type,
            "signatures": [{"sig": b64(&signature), "keyid": ""}],
        },
    }))
    .unwrap_or_default();
    let bundle_digest = client.push_blob(req.sig_registry, req.sig_repository, &bundle)?;
    let config_digest = client.push_blob(req.sig_registry, req.sig_repository, EMPTY_CONFIG)?;
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let annotations = serde_json::json!({
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": COSIGN_SIGN_V1,
        "org.opencontainers.image.created": created,
    });
    let referrer = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_V03,
        "config": {"mediaType": EMPTY_TYPE, "artifactType": BUNDLE_V03, "size": 2, "digest": config_digest},
        "layers": [{"mediaType": BUNDLE_V03, "size": bundle.len(), "digest": bundle_digest}],
        "subject": {"mediaType": req.manifest_media_type, "size": req.manifest_size, "digest": req.digest},
        "annotations": annotations,
    }))
    .unwrap_or_default();
    let referrer_digest = sha256_digest(&referrer);
    client.push_manifest(
        req.sig_registry,
        req.sig_repository,
        &referrer_digest,
        OCI_MANIFEST,
        &referrer,
    )?;
    if !client.has_referrers_api(req.sig_registry, req.sig_repository, req.digest)? {
        let tag = format!("sha256-{hex}");
        let mut entries = existing_entries(client, req, &tag, "manifests")?;
        entries
            .retain(|e| e.get("digest").and_then(|d| d.as_str()) != Some(referrer_digest.as_str()));
        entries.push(serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "size": referrer.len(),
            "digest": referrer_digest,
            "annotations": annotations,
        }));
        entries.sort_by(|a, b| {
            a.get("digest")
                .and_then(|d| d.as_str())
                .cmp(&b.get("digest").and_then(|d| d.as_str()))
        });
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": entries,
        }))
        .unwrap_or_default();
        client.push_manifest(
            req.sig_registry,
            req.sig_repository,
            &tag,
            OCI_INDEX,
            &index,
        )?;
    }
    Ok(referrer_digest)
}

/// A sigstore v0.3 bundle with a message signature over an artifact whose SHA-256 is
/// `artifact_sha256` (what `cosign sign-blob --key --bundle --tlog-upload=false` writes: the
/// key's hint, no transparency-log entry). `None` for a key that cannot sign a digest.
pub fn blob_bundle(key: &SigningKey, artifact_sha256: &[u8; 32]) -> Option<Vec<u8>> {
    let signature = key.sign_sha256_digest(artifact_sha256)?;
    serde_json::to_vec(&serde_json::json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "publicKey": {"hint": key_hint(&key.public_key().to_spki_der())},
            "tlogEntries": [],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(artifact_sha256)},
            "signature": b64(&signature),
        },
    }))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_bytes_match_cosign() {
        use crate::image::signature::{CandidateKind, from_containers_image_file};
        let file = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/vectors/cosign/containers-image/signature/fixtures/dir-img-cosign-valid/signature-1"
        ))
        .unwrap();
        let CandidateKind::Legacy { payload, .. } = from_containers_image_file("v", &file).kind
        else {
            panic!("not a legacy signature")
        };
        let d = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00";
        let mine = simple_signing_payload(
            "192.168.64.2:5000/cosign-signed-single-sample",
            d,
            &BTreeMap::new(),
        );
        assert_eq!(
            String::from_utf8(mine).unwrap(),
            String::from_utf8(payload).unwrap()
        );
    }
}
