//! The binding of a logged entry body to the signature being verified: the body must name this
//! payload hash, signature and key or certificate (`hashedrekord`, `dsse` and `intoto`, and
//! Rekor v2's forms).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::entry::{b64_bytes, hex_decode};
use super::{MAX_BODY, TlogError, malformed};

/// What a log entry body must describe.
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    /// `hashedrekord` v0.0.1, or 0.0.2 (Rekor v2) with a SHA-256 digest (legacy cosign
    /// signatures and bundles' message signatures).
    HashedRekord {
        /// SHA-256 of the signed payload.
        payload_sha256: [u8; 32],
        /// The raw (decoded) signature.
        signature: &'a [u8],
        /// The verifying key or certificate, PEM or DER.
        verifier_pem_or_der: &'a [u8],
    },
    /// A DSSE envelope (sigstore bundles): `dsse` v0.0.1, or Rekor v2's `hashedrekord` 0.0.2
    /// over the PAE (and the withdrawn `dsse` 0.0.2).
    Dsse {
        /// SHA-256 of the decoded DSSE payload.
        payload_sha256: [u8; 32],
        /// The DSSE pre-authentication encoding (what the signature covers).
        pae: &'a [u8],
        /// The raw (decoded) DSSE signature.
        signature: &'a [u8],
        /// The verifying key or certificate, PEM or DER.
        verifier: &'a [u8],
    },
    /// `intoto` v0.0.2 (legacy cosign `.att` attestations).
    Intoto {
        /// SHA-256 of the decoded DSSE payload.
        payload_sha256: [u8; 32],
        /// The raw (decoded) DSSE signature.
        signature: &'a [u8],
        /// The verifying key or certificate, PEM or DER.
        verifier: &'a [u8],
    },
}

/// A parsed entry body: its kind, API version and `spec` object.
pub(super) struct Body {
    pub(super) kind: String,
    pub(super) api_version: String,
    spec: Value,
}

pub(super) fn parse_body(body: &[u8]) -> Result<Body, TlogError> {
    if body.len() > MAX_BODY {
        return Err(malformed("entry body is too large"));
    }
    let mut v: Value =
        serde_json::from_slice(body).map_err(|e| malformed(format!("entry body: {e}")))?;
    let text = |v: &Value, name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| malformed(format!("entry body has no {name}")))
    };
    let (kind, api_version) = (text(&v, "kind")?, text(&v, "apiVersion")?);
    let spec = v.get_mut("spec").map(Value::take).filter(Value::is_object);
    let spec = spec.ok_or_else(|| malformed("entry body has no spec object"))?;
    Ok(Body {
        kind,
        api_version,
        spec,
    })
}

/// Checks that a log entry body describes this signature, payload and key:
///
/// * `hashedrekord` 0.0.1: `spec.data.hash` is `{algorithm: sha256, value: hex}` of the
///   payload; `spec.signature.content` decodes to the signature;
///   `spec.signature.publicKey.content` decodes to the same key or certificate.
/// * `dsse` 0.0.1: `spec.payloadHash` as above; some `spec.signatures[]` element has both
///   `signature` = the signature and `verifier` = the key or certificate. `envelopeHash` is
///   not checked (its serialisation differs between clients; the signature over the PAE and
///   the payload hash already pin the envelope).
/// * `intoto` 0.0.2 (best effort): `spec.content.payloadHash` as above; some
///   `spec.content.envelope.signatures[]` element has `publicKey` = the key or certificate and
///   `sig` = the signature (Rekor stores it base64 of the base64 text; single encoding is
///   accepted too). `spec.content.hash` (envelope hash) is not checked.
///
/// * Rekor v2's `hashedrekord` 0.0.2 (and the withdrawn `dsse` 0.0.2): see
///   [`check_body_v002`].
///
/// Keys and certificates are compared as DER, whatever their PEM formatting; a PEM text
/// must hold exactly one `PUBLIC KEY` or `CERTIFICATE` block. Any other kind or version is
/// an error.
pub fn check_body(entry_body: &[u8], expect: &Expected<'_>) -> Result<(), TlogError> {
    let body = parse_body(entry_body)?;
    let accepted: &[(&str, &str)] = match expect {
        Expected::HashedRekord { .. } => &[("hashedrekord", "0.0.1"), ("hashedrekord", "0.0.2")],
        Expected::Dsse { .. } => &[
            ("dsse", "0.0.1"),
            ("intoto", "0.0.2"),
            ("hashedrekord", "0.0.2"),
            ("dsse", "0.0.2"),
        ],
        Expected::Intoto { .. } => &[("intoto", "0.0.2")],
    };
    const KNOWN: [(&str, &str); 5] = [
        ("hashedrekord", "0.0.1"),
        ("hashedrekord", "0.0.2"),
        ("dsse", "0.0.1"),
        ("dsse", "0.0.2"),
        ("intoto", "0.0.2"),
    ];
    let pair = (body.kind.as_str(), body.api_version.as_str());
    if KNOWN.contains(&pair) && !accepted.contains(&pair) {
        return Err(TlogError::BodyMismatch { what: "entry kind" });
    }
    if !accepted
        .iter()
        .any(|(k, v)| *k == body.kind && *v == body.api_version)
    {
        return Err(TlogError::UnsupportedKind(format!(
            "{}/{}",
            body.kind, body.api_version
        )));
    }
    if body.api_version == "0.0.2" && body.kind != "intoto" {
        return check_body_v002(&body, expect);
    }
    // A DSSE envelope logged as an `intoto` entry (sigstore clients before `dsse` existed).
    let expect = match *expect {
        Expected::Dsse {
            payload_sha256,
            signature,
            verifier,
            ..
        } if body.kind == "intoto" => Expected::Intoto {
            payload_sha256,
            signature,
            verifier,
        },
        other => other,
    };
    let spec = &body.spec;
    match expect {
        Expected::HashedRekord {
            payload_sha256,
            signature,
            verifier_pem_or_der,
        } => {
            check_hash(spec.pointer("/data/hash"), &payload_sha256, "payload hash")?;
            let sig = b64_bytes(spec.pointer("/signature/content"), "spec.signature.content")?;
            if sig != signature {
                return Err(TlogError::BodyMismatch { what: "signature" });
            }
            let logged = b64_bytes(
                spec.pointer("/signature/publicKey/content"),
                "spec.signature.publicKey.content",
            )?;
            if !same_verifier(&logged, verifier_pem_or_der)? {
                return Err(TlogError::BodyMismatch {
                    what: "public key or certificate",
                });
            }
        }
        Expected::Dsse {
            payload_sha256,
            signature,
            verifier,
            ..
        } => {
            check_hash(spec.get("payloadHash"), &payload_sha256, "payload hash")?;
            let sigs = signature_list(spec.get("signatures"))?;
            return find_signer(
                sigs,
                verifier,
                |s| Ok(b64_bytes(s.get("signature"), "spec.signatures[].signature")? == signature),
                |s| b64_bytes(s.get("verifier"), "spec.signatures[].verifier"),
            );
        }
        Expected::Intoto {
            payload_sha256,
            signature,
            verifier,
        } => {
            let content = spec.get("content");
            check_hash(
                content.and_then(|c| c.get("payloadHash")),
                &payload_sha256,
                "payload hash",
            )?;
            let sigs = signature_list(content.and_then(|c| c.pointer("/envelope/signatures")))?;
            return find_signer(
                sigs,
                verifier,
                |s| {
                    let once = b64_bytes(s.get("sig"), "envelope.signatures[].sig")?;
                    let twice = std::str::from_utf8(&once)
                        .ok()
                        .and_then(|t| B64.decode(t.trim()).ok());
                    Ok(once == signature || twice.as_deref() == Some(signature))
                },
                |s| b64_bytes(s.get("publicKey"), "envelope.signatures[].publicKey"),
            );
        }
    }
    Ok(())
}

/// Rekor v2 bodies (protobuf JSON, JCS-canonical; bytes are standard base64):
///
/// * `hashedrekord` 0.0.2: `spec.hashedRekordV002.data` is `{algorithm: SHA2_256|SHA2_384|
///   SHA2_512, digest}` of the signed bytes (the payload; for a DSSE envelope, its PAE),
///   `signature.content` is the signature and `signature.verifier` holds
///   `x509Certificate.rawBytes` or `publicKey.rawBytes` (DER) equal to the verifier.
/// * `dsse` 0.0.2 (withdrawn, still in 2025 staging logs): `spec.dsseV002.payloadHash` is the
///   SHA-256 of the payload, and `signatures` holds exactly one `{content, verifier}`, this
///   signature and verifier.
fn check_body_v002(body: &Body, expect: &Expected<'_>) -> Result<(), TlogError> {
    let (payload_sha256, signed, signature, verifier) = match *expect {
        Expected::HashedRekord {
            payload_sha256,
            signature,
            verifier_pem_or_der,
        } => (payload_sha256, None, signature, verifier_pem_or_der),
        Expected::Dsse {
            payload_sha256,
            pae,
            signature,
            verifier,
        } => (payload_sha256, Some(pae), signature, verifier),
        Expected::Intoto { .. } => {
            return Err(TlogError::UnsupportedKind("intoto/0.0.2 as v2".into()));
        }
    };
    let check_signature = |s: Option<&Value>| -> Result<(), TlogError> {
        let s = s.ok_or_else(|| malformed("entry body has no signature"))?;
        if b64_bytes(s.get("content"), "signature.content")? != signature {
            return Err(TlogError::BodyMismatch { what: "signature" });
        }
        let v = s.get("verifier");
        let logged = match (
            v.and_then(|v| v.pointer("/x509Certificate/rawBytes")),
            v.and_then(|v| v.pointer("/publicKey/rawBytes")),
        ) {
            (Some(c), None) => b64_bytes(Some(c), "verifier.x509Certificate.rawBytes")?,
            (None, Some(k)) => b64_bytes(Some(k), "verifier.publicKey.rawBytes")?,
            _ => {
                return Err(malformed(
                    "the signature's verifier is not one certificate or key",
                ));
            }
        };
        if !same_verifier(&logged, verifier)? {
            return Err(TlogError::BodyMismatch {
                what: "public key or certificate",
            });
        }
        Ok(())
    };
    if body.kind == "hashedrekord" {
        let spec = body
            .spec
            .get("hashedRekordV002")
            .ok_or_else(|| malformed("entry body has no hashedRekordV002"))?;
        let data = spec
            .get("data")
            .ok_or_else(|| malformed("entry body has no data"))?;
        let logged = b64_bytes(data.get("digest"), "data.digest")?;
        let expected = match (data.get("algorithm").and_then(Value::as_str), signed) {
            (Some("SHA2_256"), None) => payload_sha256.to_vec(),
            (Some("SHA2_256"), Some(pae)) => Sha256::digest(pae).to_vec(),
            (Some("SHA2_384"), Some(pae)) => sha2::Sha384::digest(pae).to_vec(),
            (Some("SHA2_512"), Some(pae)) => sha2::Sha512::digest(pae).to_vec(),
            _ => {
                return Err(TlogError::BodyMismatch {
                    what: "hash algorithm",
                });
            }
        };
        if logged != expected {
            return Err(TlogError::BodyMismatch {
                what: "signed digest",
            });
        }
        return check_signature(spec.get("signature"));
    }
    // dsse 0.0.2
    let spec = body
        .spec
        .get("dsseV002")
        .ok_or_else(|| malformed("entry body has no dsseV002"))?;
    let hash = spec.get("payloadHash");
    if hash
        .and_then(|h| h.get("algorithm"))
        .and_then(Value::as_str)
        != Some("SHA2_256")
    {
        return Err(TlogError::BodyMismatch {
            what: "hash algorithm",
        });
    }
    if b64_bytes(hash.and_then(|h| h.get("digest")), "payloadHash.digest")? != payload_sha256 {
        return Err(TlogError::BodyMismatch {
            what: "payload hash",
        });
    }
    match signature_list(spec.get("signatures"))? {
        [only] => check_signature(Some(only)),
        _ => Err(TlogError::BodyMismatch {
            what: "signature count",
        }),
    }
}

/// Some logged signature must be `signature` (per `is_signature`) with `verifier` as its key or
/// certificate (per `verifier_of`); otherwise says which of the two did not match.
fn find_signer(
    sigs: &[Value],
    verifier: &[u8],
    is_signature: impl Fn(&Value) -> Result<bool, TlogError>,
    verifier_of: impl Fn(&Value) -> Result<Vec<u8>, TlogError>,
) -> Result<(), TlogError> {
    let mut sig_seen = false;
    for s in sigs {
        if !is_signature(s)? {
            continue;
        }
        sig_seen = true;
        if same_verifier(&verifier_of(s)?, verifier)? {
            return Ok(());
        }
    }
    let what = if sig_seen {
        "public key or certificate"
    } else {
        "signature"
    };
    Err(TlogError::BodyMismatch { what })
}

fn signature_list(v: Option<&Value>) -> Result<&[Value], TlogError> {
    match v {
        Some(Value::Array(items)) if !items.is_empty() => Ok(items),
        _ => Err(malformed("entry body has no signatures")),
    }
}

/// `{algorithm: "sha256", value: hex}` equal to `want`.
fn check_hash(v: Option<&Value>, want: &[u8; 32], what: &'static str) -> Result<(), TlogError> {
    let Some(h) = v.filter(|h| h.is_object()) else {
        return Err(malformed(format!("entry body has no {what}")));
    };
    if h.get("algorithm").and_then(Value::as_str) != Some("sha256") {
        return Err(TlogError::BodyMismatch {
            what: "hash algorithm",
        });
    }
    let value = h
        .get("value")
        .and_then(Value::as_str)
        .and_then(|s| hex_decode(s, false))
        .ok_or_else(|| malformed(format!("{what} is not hex")))?;
    if value.as_slice() != want.as_slice() {
        return Err(TlogError::BodyMismatch { what });
    }
    Ok(())
}

/// The DER of a key or certificate given as one PEM block or as DER.
fn verifier_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.contains("-----BEGIN "));
    let Some(text) = text else {
        return if bytes.is_empty() {
            Err("empty".into())
        } else {
            Ok(bytes.to_vec())
        };
    };
    if text.matches("-----BEGIN ").count() != 1 {
        return Err("more than one PEM block".into());
    }
    // Read leniently: some clients log PEM with the base64 on one line of any length.
    let block = crate::image::pubkey::first_pem_block(text);
    let mut lines = block.lines().map(str::trim).filter(|l| !l.is_empty());
    let label = lines
        .next()
        .and_then(|l| l.strip_prefix("-----BEGIN "))
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or("PEM: no BEGIN line")?;
    if label != "PUBLIC KEY" && label != "CERTIFICATE" {
        return Err(format!("unexpected PEM block {label}"));
    }
    let end = format!("-----END {label}-----");
    if !block.contains(&end) {
        return Err("PEM: no END line".into());
    }
    let body: String = lines.take_while(|l| *l != end).collect();
    B64.decode(body).map_err(|e| format!("PEM: {e}"))
}

/// Whether the logged verifier is the expected one. A logged verifier that cannot be read is
/// a malformed entry; an expected one that cannot be read is a mismatch.
fn same_verifier(logged: &[u8], expected: &[u8]) -> Result<bool, TlogError> {
    let logged = verifier_der(logged).map_err(|e| malformed(format!("logged verifier: {e}")))?;
    Ok(verifier_der(expected).is_ok_and(|der| der == logged))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{V03, bundle, read, sha256};
    use super::*;

    #[test]
    fn bundle_body_binding() {
        let b = bundle(V03);
        let entry = b.entry();
        let body = &entry.canonicalized_body;
        check_body(body, &b.expect()).unwrap();
        // Another bundle's signature, payload and certificate.
        let other = bundle("cosign/pkg/cosign/testdata/oci-attestation.sigstore.json");
        assert_eq!(
            check_body(body, &other.expect()),
            Err(TlogError::BodyMismatch {
                what: "payload hash"
            })
        );
        let mix = |payload: &[u8], signature: &[u8], verifier: &[u8]| {
            check_body(
                body,
                &Expected::Dsse {
                    payload_sha256: sha256(payload),
                    pae: &[],
                    signature,
                    verifier,
                },
            )
        };
        assert_eq!(
            mix(&b.payload, &other.signature, &b.cert),
            Err(TlogError::BodyMismatch { what: "signature" })
        );
        assert_eq!(
            mix(&b.payload, &b.signature, &other.cert),
            Err(TlogError::BodyMismatch {
                what: "public key or certificate"
            })
        );
        // Tampered bodies: algorithm, kind, version, garbage.
        let text = std::str::from_utf8(body).unwrap();
        let tampered = |from: &str, to: &str| {
            assert!(text.contains(from));
            check_body(text.replacen(from, to, 1).as_bytes(), &b.expect())
        };
        assert_eq!(
            tampered(
                r#""payloadHash":{"algorithm":"sha256""#,
                r#""payloadHash":{"algorithm":"sha512""#
            ),
            Err(TlogError::BodyMismatch {
                what: "hash algorithm"
            })
        );
        assert_eq!(
            tampered(r#""kind":"dsse""#, r#""kind":"hashedrekord""#),
            Err(TlogError::BodyMismatch { what: "entry kind" })
        );
        // Relabelled as the v2 form, it lacks that form's fields.
        assert!(matches!(
            tampered(r#""apiVersion":"0.0.1""#, r#""apiVersion":"0.0.2""#),
            Err(TlogError::Malformed(_))
        ));
        assert!(matches!(
            tampered(r#""apiVersion":"0.0.1""#, r#""apiVersion":"0.0.3""#),
            Err(TlogError::UnsupportedKind(_))
        ));
        assert!(matches!(
            tampered(r#""kind":"dsse""#, r#""kind":"rekord""#),
            Err(TlogError::UnsupportedKind(_))
        ));
        assert!(matches!(
            check_body(b"{", &b.expect()),
            Err(TlogError::Malformed(_))
        ));
        assert!(matches!(
            check_body(br#"{"kind":"dsse","apiVersion":"0.0.1"}"#, &b.expect()),
            Err(TlogError::Malformed(_))
        ));
    }

    #[test]
    fn intoto_body_binding() {
        let cert = read("containers-image/signature/fixtures/fulcio-cert");
        let other_key = read("containers-image/signature/fixtures/cosign.pub");
        let payload = b"{\"_type\":\"https://in-toto.io/Statement/v0.1\"}";
        let signature = b"\x30\x06\x02\x01\x01\x02\x01\x02".to_vec();
        let body = |sig_field: String, verifier: &[u8], hash: [u8; 32]| {
            serde_json::json!({
                "apiVersion": "0.0.2",
                "kind": "intoto",
                "spec": {"content": {
                    "envelope": {"payloadType": "application/vnd.in-toto+json",
                                 "signatures": [{"publicKey": B64.encode(verifier), "sig": sig_field}]},
                    "hash": {"algorithm": "sha256", "value": "00"},
                    "payloadHash": {"algorithm": "sha256", "value": hex::encode(hash)}
                }}
            })
            .to_string()
            .into_bytes()
        };
        let expect = Expected::Intoto {
            payload_sha256: sha256(payload),
            signature: &signature,
            verifier: &cert,
        };
        let twice = B64.encode(B64.encode(&signature));
        check_body(&body(twice.clone(), &cert, sha256(payload)), &expect).unwrap();
        check_body(
            &body(B64.encode(&signature), &cert, sha256(payload)),
            &expect,
        )
        .unwrap();
        assert_eq!(
            check_body(&body(twice.clone(), &other_key, sha256(payload)), &expect),
            Err(TlogError::BodyMismatch {
                what: "public key or certificate"
            })
        );
        assert_eq!(
            check_body(&body(B64.encode(b"other"), &cert, sha256(payload)), &expect),
            Err(TlogError::BodyMismatch { what: "signature" })
        );
        assert_eq!(
            check_body(&body(twice, &cert, sha256(b"other")), &expect),
            Err(TlogError::BodyMismatch {
                what: "payload hash"
            })
        );
    }

    #[test]
    fn rekor_v2_bodies() {
        let cert = b"certificate DER".to_vec();
        let sig = b"raw signature".to_vec();
        let payload = b"{\"_type\":\"statement\"}".to_vec();
        let pae = b"DSSEv1 28 application/vnd.in-toto+json 23 {...}".to_vec();
        let payload_sha256 = sha256(&payload);
        let sig_json = |content: &[u8], verifier: &[u8]| {
            serde_json::json!({"content": B64.encode(content), "verifier": {
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "x509Certificate": {"rawBytes": B64.encode(verifier)}}})
        };
        let hashed = |alg: &str, digest: &[u8], s: Value| {
            serde_json::to_vec(&serde_json::json!({"apiVersion": "0.0.2", "kind": "hashedrekord",
                "spec": {"hashedRekordV002": {"data": {"algorithm": alg, "digest": B64.encode(digest)}, "signature": s}}}))
            .unwrap()
        };
        let dsse = Expected::Dsse {
            payload_sha256,
            pae: &pae,
            signature: &sig,
            verifier: &cert,
        };
        let message = Expected::HashedRekord {
            payload_sha256,
            signature: &sig,
            verifier_pem_or_der: &cert,
        };
        // DSSE as hashedrekord 0.0.2: the digest of the PAE, with the algorithm named.
        let ok = hashed("SHA2_256", &sha256(&pae), sig_json(&sig, &cert));
        assert_eq!(check_body(&ok, &dsse), Ok(()));
        let ok384 = hashed(
            "SHA2_384",
            &sha2::Sha384::digest(&pae),
            sig_json(&sig, &cert),
        );
        assert_eq!(check_body(&ok384, &dsse), Ok(()));
        let of_payload = hashed("SHA2_256", &payload_sha256, sig_json(&sig, &cert));
        assert_eq!(
            check_body(&of_payload, &dsse),
            Err(TlogError::BodyMismatch {
                what: "signed digest"
            })
        );
        // A message signature: the payload's SHA-256.
        assert_eq!(check_body(&of_payload, &message), Ok(()));
        assert_eq!(
            check_body(
                &hashed("SHA2_256", &payload_sha256, sig_json(b"other", &cert)),
                &message
            ),
            Err(TlogError::BodyMismatch { what: "signature" })
        );
        assert_eq!(
            check_body(
                &hashed("SHA2_256", &payload_sha256, sig_json(&sig, b"other")),
                &message
            ),
            Err(TlogError::BodyMismatch {
                what: "public key or certificate"
            })
        );
        // The withdrawn dsse 0.0.2: payload hash, exactly one signature.
        let dsse_v2 = |sigs: Vec<Value>| {
            serde_json::to_vec(&serde_json::json!({"apiVersion": "0.0.2", "kind": "dsse",
                "spec": {"dsseV002": {"payloadHash": {"algorithm": "SHA2_256", "digest": B64.encode(payload_sha256)}, "signatures": sigs}}}))
            .unwrap()
        };
        assert_eq!(
            check_body(&dsse_v2(vec![sig_json(&sig, &cert)]), &dsse),
            Ok(())
        );
        assert_eq!(
            check_body(
                &dsse_v2(vec![sig_json(&sig, &cert), sig_json(b"x", &cert)]),
                &dsse
            ),
            Err(TlogError::BodyMismatch {
                what: "signature count"
            })
        );
        // A dsse body where a message signature is expected.
        assert_eq!(
            check_body(&dsse_v2(vec![sig_json(&sig, &cert)]), &message),
            Err(TlogError::BodyMismatch { what: "entry kind" })
        );
    }
}
