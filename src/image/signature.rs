//! The signature candidates of one image, as found in a registry or a file: legacy cosign
//! simple-signing layers (`sha256-<hex>.sig`) and sigstore bundles (OCI 1.1 referrers).
//! Nothing here is trusted; `verify` decides.

use std::collections::BTreeMap;

use super::registry::{self, Client, RegistryError};

/// Layer media type of a legacy cosign signature.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Artifact/layer media type of a sigstore bundle v0.3.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// One signature to check, with where it came from.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where it was found, e.g. `sha256-….sig layer 1` or `referrer sha256:…`.
    pub source: String,
    /// What it is.
    pub kind: CandidateKind,
}

/// The two storage formats.
#[derive(Debug, Clone)]
pub enum CandidateKind {
    /// A legacy `.sig` layer: the payload blob and the layer annotations.
    Legacy {
        /// The exact payload bytes (their digest already matched the descriptor).
        payload: Vec<u8>,
        /// Layer annotations (signature, certificate, chain, bundle).
        annotations: BTreeMap<String, String>,
    },
    /// A sigstore bundle (JSON bytes).
    Bundle {
        /// The bundle document.
        json: Vec<u8>,
    },
    /// Found but unusable before any cryptography (blob digest wrong, unreadable layer):
    /// the reason code and a message.
    Broken {
        /// Reason code.
        reason: &'static str,
        /// Message.
        detail: String,
    },
}

/// Where to look for signatures of an image.
#[derive(Debug, Clone)]
pub struct Location<'a> {
    /// Registry of the image (or of the alternate signature repository).
    pub registry: &'a str,
    /// Repository holding the signatures.
    pub repository: &'a str,
    /// The image manifest digest (`sha256:<hex>`).
    pub digest: &'a str,
    /// Payloads the `.sig` layers probably carry (cosign's bytes for this image). A layer
    /// whose descriptor names exactly the size and SHA-256 of one of them holds those very
    /// bytes, so its blob is not fetched; any other layer is.
    pub expected_payloads: &'a [Vec<u8>],
}

/// The legacy `sha256-<hex>.sig` signature layers: one manifest request, plus one blob
/// request per layer whose payload is not one of `at.expected_payloads`.
pub fn discover_legacy(
    client: &Client,
    at: &Location<'_>,
) -> Result<Vec<Candidate>, RegistryError> {
    let sig_tag = format!("{}.sig", at.digest.replacen(':', "-", 1));
    match client.manifest(at.registry, at.repository, &sig_tag)? {
        Some(m) => legacy_candidates(client, at, &sig_tag, &m.bytes),
        None => Ok(Vec::new()),
    }
}

/// The sigstore bundles among the OCI 1.1 referrers (API, then the tag-schema index).
pub fn discover_bundles(
    client: &Client,
    at: &Location<'_>,
) -> Result<Vec<Candidate>, RegistryError> {
    let mut out = Vec::new();
    if let Some(index) = client.referrers(at.registry, at.repository, at.digest)? {
        for (digest, artifact_type) in referrer_entries(&index.bytes) {
            if !artifact_type.as_deref().is_none_or(is_bundle_type) {
                continue;
            }
            out.extend(bundle_candidates(client, at, &digest)?);
        }
    }
    Ok(out)
}

fn is_bundle_type(t: &str) -> bool {
    t.starts_with("application/vnd.dev.sigstore.bundle")
}

/// `(digest, artifactType)` of each entry of a referrers index.
fn referrer_entries(index: &[u8]) -> Vec<(String, Option<String>)> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(index) else {
        return Vec::new();
    };
    v.get("manifests")
        .and_then(|m| m.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    let d = e.get("digest")?.as_str()?.to_string();
                    let t = e
                        .get("artifactType")
                        .and_then(|t| t.as_str())
                        .map(str::to_string);
                    Some((d, t))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn bundle_candidates(
    client: &Client,
    at: &Location<'_>,
    digest: &str,
) -> Result<Vec<Candidate>, RegistryError> {
    let source = format!("referrer {digest}");
    let Some(m) = client.manifest(at.registry, at.repository, digest)? else {
        return Ok(vec![broken(
            &source,
            "malformed-signature",
            "referrer manifest listed but missing".into(),
        )]);
    };
    let layers = match layers(&m.bytes) {
        Ok(l) => l,
        Err(e) => return Ok(vec![broken(&source, "malformed-signature", e)]),
    };
    let mut out = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        if !is_bundle_type(&layer.media_type) {
            continue;
        }
        let source = format!("{source} layer {i}");
        match fetch_layer(client, at, layer) {
            Ok(json) => out.push(Candidate {
                source,
                kind: CandidateKind::Bundle { json },
            }),
            Err(FetchError::Registry(e)) => return Err(e),
            Err(FetchError::Broken(reason, detail)) => out.push(broken(&source, reason, detail)),
        }
    }
    Ok(out)
}

fn legacy_candidates(
    client: &Client,
    at: &Location<'_>,
    tag: &str,
    manifest: &[u8],
) -> Result<Vec<Candidate>, RegistryError> {
    let layers = match layers(manifest) {
        Ok(l) => l,
        Err(e) => return Ok(vec![broken(tag, "malformed-signature", e)]),
    };
    let mut out = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        if layer.media_type != SIMPLE_SIGNING {
            continue;
        }
        let source = format!("{tag} layer {i}");
        let known = at
            .expected_payloads
            .iter()
            .find(|p| p.len() as u64 == layer.size && digest_of(p) == layer.digest);
        let fetched = match known {
            Some(p) => Ok(p.clone()),
            None => fetch_layer(client, at, layer),
        };
        match fetched {
            Ok(payload) => out.push(Candidate {
                source,
                kind: CandidateKind::Legacy {
                    payload,
                    annotations: layer.annotations.clone(),
                },
            }),
            Err(FetchError::Registry(e)) => return Err(e),
            Err(FetchError::Broken(reason, detail)) => out.push(broken(&source, reason, detail)),
        }
    }
    Ok(out)
}

fn broken(source: &str, reason: &'static str, detail: String) -> Candidate {
    Candidate {
        source: source.to_string(),
        kind: CandidateKind::Broken { reason, detail },
    }
}

/// A manifest layer descriptor.
#[derive(Debug, Clone)]
pub struct Layer {
    /// `mediaType`.
    pub media_type: String,
    /// `digest`.
    pub digest: String,
    /// `size`.
    pub size: u64,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// The layers of an image manifest.
pub fn layers(manifest: &[u8]) -> Result<Vec<Layer>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| format!("manifest is not JSON: {e}"))?;
    let list = v
        .get("layers")
        .and_then(|l| l.as_array())
        .ok_or("manifest has no layers")?;
    list.iter()
        .map(|l| {
            let s = |k: &str| l.get(k).and_then(|x| x.as_str()).map(str::to_string);
            let annotations = l
                .get("annotations")
                .and_then(|a| a.as_object())
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Layer {
                media_type: s("mediaType").ok_or("layer without mediaType")?,
                digest: s("digest").ok_or("layer without digest")?,
                size: l
                    .get("size")
                    .and_then(|x| x.as_u64())
                    .ok_or("layer without size")?,
                annotations,
            })
        })
        .collect()
}

enum FetchError {
    Registry(RegistryError),
    Broken(&'static str, String),
}

fn fetch_layer(client: &Client, at: &Location<'_>, layer: &Layer) -> Result<Vec<u8>, FetchError> {
    match client.blob(at.registry, at.repository, &layer.digest) {
        Ok(b) if b.len() as u64 == layer.size => Ok(b),
        Ok(b) => Err(FetchError::Broken(
            "tampered-payload",
            format!(
                "layer size {} differs from the descriptor's {}",
                b.len(),
                layer.size
            ),
        )),
        Err(RegistryError::DigestMismatch {
            expected, actual, ..
        }) => Err(FetchError::Broken(
            "tampered-payload",
            format!("payload blob hashes to {actual}, the signature manifest names {expected}"),
        )),
        Err(e @ RegistryError::TooLarge { .. }) => {
            Err(FetchError::Broken("oversized", e.to_string()))
        }
        Err(e) => Err(FetchError::Registry(e)),
    }
}

/// Reads containers/image's on-disk form of one signature (`\0sigstore-json\n{mimeType,
/// payload, annotations}`) as a legacy candidate; used for `dir:` layouts and the public vectors.
pub fn from_containers_image_file(source: &str, bytes: &[u8]) -> Candidate {
    use base64::Engine;
    let Some(json) = bytes.strip_prefix(b"\0sigstore-json\n") else {
        return broken(
            source,
            "malformed-signature",
            "not a sigstore-json signature file".into(),
        );
    };
    let parsed = serde_json::from_slice::<serde_json::Value>(json)
        .ok()
        .and_then(|v| {
            let mime = v.get("mimeType")?.as_str()?.to_string();
            let payload = base64::engine::general_purpose::STANDARD
                .decode(v.get("payload")?.as_str()?)
                .ok()?;
            let annotations: BTreeMap<String, String> = v
                .get("annotations")?
                .as_object()?
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
            Some((mime, payload, annotations))
        });
    match parsed {
        Some((mime, payload, annotations)) if mime == SIMPLE_SIGNING => Candidate {
            source: source.to_string(),
            kind: CandidateKind::Legacy {
                payload,
                annotations,
            },
        },
        Some((mime, ..)) => broken(
            source,
            "not-a-signature",
            format!("attachment of type {mime} ignored"),
        ),
        None => broken(
            source,
            "malformed-signature",
            "unreadable sigstore-json signature".into(),
        ),
    }
}

/// `sha256:<hex>` helper re-exported for callers hashing manifests.
pub fn digest_of(bytes: &[u8]) -> String {
    registry::sha256_digest(bytes)
}
