//! Sigstore bundles (`application/vnd.dev.sigstore.bundle…`, v0.1 to v0.3), parsed but not
//! verified: the signed content (a message signature over an artifact digest, or a DSSE
//! envelope), the verification material (a certificate, a chain, or a key hint), the
//! transparency-log entries and the RFC 3161 timestamps. Anything the format forbids or this
//! verifier does not understand is an error here, so `verify` only sees well-formed bundles.

use base64::Engine;
use serde_json::Value;

use super::cert::Certificate;
use super::tlog::{TlogEntry, TlogError};

/// Largest bundle accepted (public-good bundles are a few KiB; DSSE payloads can be larger).
pub const MAX_BUNDLE: usize = 16 << 20;
/// Most log entries, timestamps and chain certificates read from one bundle.
const MAX_ITEMS: usize = 16;

/// The bundle format version, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// `application/vnd.dev.sigstore.bundle+json;version=0.1`: log entries need a SET.
    V01,
    /// `…;version=0.2`: log entries need an inclusion proof.
    V02,
    /// `…;version=0.3` or `application/vnd.dev.sigstore.bundle.v0.3+json`: a single
    /// certificate rather than a chain.
    V03,
}

/// What the signature covers.
#[derive(Debug, Clone)]
pub enum Content {
    /// A signature over an artifact (hashedrekord).
    Message {
        /// The bundle's `messageDigest` (SHA-256), an unauthenticated hint.
        digest_hint: Option<[u8; 32]>,
        /// The raw signature.
        signature: Vec<u8>,
    },
    /// A DSSE envelope with exactly one signature.
    Dsse {
        /// `payloadType`.
        payload_type: String,
        /// The decoded payload.
        payload: Vec<u8>,
        /// The raw signature over the PAE.
        signature: Vec<u8>,
    },
}

/// A parsed sigstore bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Format version.
    pub version: Version,
    /// Signed content.
    pub content: Content,
    /// The signing certificate (the chain's first), if any.
    pub certificate: Option<Certificate>,
    /// Intermediate certificates carried after the leaf (v0.1/v0.2 chains).
    pub chain: Vec<Certificate>,
    /// `publicKey.hint` for key-signed bundles.
    pub key_hint: Option<String>,
    /// Transparency-log entries.
    pub tlog: Vec<TlogEntry>,
    /// RFC 3161 timestamps (DER `TimeStampResp`/token bytes), not yet verified.
    pub timestamps: Vec<Vec<u8>>,
}

/// Why a bundle cannot be read; `reason` is a verdict reason code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError {
    /// `malformed-signature`, `unsupported-signature-format` or `tlog-mismatch`.
    pub reason: &'static str,
    /// What is wrong.
    pub detail: String,
}

fn malformed(why: impl Into<String>) -> BundleError {
    BundleError {
        reason: "malformed-signature",
        detail: format!("bundle: {}", why.into()),
    }
}

impl Bundle {
    /// Parses a bundle's JSON.
    pub fn parse(json: &[u8]) -> Result<Bundle, BundleError> {
        if json.len() > MAX_BUNDLE {
            return Err(malformed(format!("larger than {MAX_BUNDLE} bytes")));
        }
        let v: Value = serde_json::from_slice(json).map_err(|e| malformed(e.to_string()))?;
        if !v.is_object() {
            return Err(malformed("not a JSON object"));
        }
        let media = v.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let version = match media {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Version::V01,
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Version::V02,
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => Version::V03,
            other => {
                return Err(BundleError {
                    reason: "unsupported-signature-format",
                    detail: format!("unknown bundle media type {other:?}"),
                });
            }
        };
        let vm = v
            .get("verificationMaterial")
            .filter(|m| m.is_object())
            .ok_or_else(|| malformed("no verificationMaterial"))?;
        let (certificate, chain, key_hint) = material(vm, version)?;
        let tlog = items(vm.get("tlogEntries"), "tlogEntries")?
            .iter()
            .map(|e| {
                TlogEntry::from_bundle_entry(e).map_err(|e: TlogError| BundleError {
                    reason: "tlog-mismatch",
                    detail: format!("bundle tlog entry: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timestamps = items(
            vm.pointer("/timestampVerificationData/rfc3161Timestamps"),
            "rfc3161Timestamps",
        )?
        .iter()
        .map(|t| {
            t.get("signedTimestamp")
                .and_then(Value::as_str)
                .and_then(b64)
                .ok_or_else(|| malformed("an RFC 3161 signedTimestamp is missing or not base64"))
        })
        .collect::<Result<Vec<_>, _>>()?;
        let content = match (v.get("messageSignature"), v.get("dsseEnvelope")) {
            (Some(m), None) => message(m)?,
            (None, Some(e)) => dsse(e)?,
            (Some(_), Some(_)) => {
                return Err(malformed(
                    "both a messageSignature and a dsseEnvelope: a bundle holds one",
                ));
            }
            (None, None) => return Err(malformed("neither a messageSignature nor a dsseEnvelope")),
        };
        Ok(Bundle {
            version,
            content,
            certificate,
            chain,
            key_hint,
            tlog,
            timestamps,
        })
    }
}

type Material = (Option<Certificate>, Vec<Certificate>, Option<String>);

/// The verification material: exactly one of `certificate`, `x509CertificateChain` and
/// `publicKey`. A chain must not be empty and must not carry a self-signed root (roots come
/// from the trust root only).
fn material(vm: &Value, version: Version) -> Result<Material, BundleError> {
    let cert = vm.get("certificate");
    let chain = vm.get("x509CertificateChain");
    let key = vm.get("publicKey");
    let set = [cert, chain, key].iter().filter(|x| x.is_some()).count();
    if set != 1 {
        return Err(malformed(
            "verificationMaterial must hold exactly one of certificate, x509CertificateChain and publicKey",
        ));
    }
    if let Some(key) = key {
        let hint = key.get("hint").and_then(Value::as_str).map(str::to_string);
        return Ok((None, Vec::new(), hint));
    }
    let raws: Vec<&Value> = match (cert, chain) {
        (Some(c), _) => vec![c],
        (_, Some(c)) => {
            if version == Version::V03 {
                return Err(malformed(
                    "a v0.3 bundle carries a single certificate, not x509CertificateChain",
                ));
            }
            items(c.get("certificates"), "x509CertificateChain.certificates")?
                .iter()
                .collect()
        }
        _ => Vec::new(),
    };
    if raws.is_empty() {
        return Err(malformed("the certificate chain is empty"));
    }
    let mut parsed = Vec::with_capacity(raws.len());
    for raw in raws {
        let der = raw
            .get("rawBytes")
            .and_then(Value::as_str)
            .and_then(b64)
            .ok_or_else(|| malformed("a certificate's rawBytes is missing or not base64"))?;
        let c = Certificate::from_der(&der).map_err(|e| malformed(format!("certificate: {e}")))?;
        if c.is_self_signed() {
            return Err(malformed(
                "the bundle carries a self-signed root certificate; roots come only from the trust root",
            ));
        }
        parsed.push(c);
    }
    let mut it = parsed.into_iter();
    let leaf = it.next();
    Ok((leaf, it.collect(), None))
}

/// `messageSignature`: `{messageDigest: {algorithm, digest}, signature}`.
fn message(m: &Value) -> Result<Content, BundleError> {
    let signature = m
        .get("signature")
        .and_then(Value::as_str)
        .and_then(b64)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("messageSignature.signature is missing or not base64"))?;
    let digest_hint = match m.get("messageDigest") {
        None | Some(Value::Null) => None,
        Some(d) => {
            let alg = d.get("algorithm").and_then(Value::as_str).unwrap_or("");
            if alg != "SHA2_256" {
                return Err(BundleError {
                    reason: "unsupported-signature-format",
                    detail: format!("message digest algorithm {alg:?} (only SHA2_256)"),
                });
            }
            let digest = d
                .get("digest")
                .and_then(Value::as_str)
                .and_then(b64)
                .and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok())
                .ok_or_else(|| malformed("messageDigest.digest is not 32 bytes of base64"))?;
            Some(digest)
        }
    };
    Ok(Content::Message {
        digest_hint,
        signature,
    })
}

/// `dsseEnvelope`: `{payload, payloadType, signatures: [{sig, keyid?}]}` with one signature.
fn dsse(e: &Value) -> Result<Content, BundleError> {
    let payload_type = e
        .get("payloadType")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("DSSE payloadType missing"))?
        .to_string();
    let payload = e
        .get("payload")
        .and_then(Value::as_str)
        .and_then(b64)
        .ok_or_else(|| malformed("DSSE payload missing or not base64"))?;
    let sigs = e
        .get("signatures")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let [only] = sigs else {
        return Err(malformed(format!(
            "a DSSE envelope must carry exactly 1 signature, not {}",
            sigs.len()
        )));
    };
    let signature = only
        .get("sig")
        .and_then(Value::as_str)
        .and_then(b64)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("DSSE signature missing or not base64"))?;
    Ok(Content::Dsse {
        payload_type,
        payload,
        signature,
    })
}

/// An optional array, at most [`MAX_ITEMS`] long.
fn items<'a>(v: Option<&'a Value>, what: &str) -> Result<&'a [Value], BundleError> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) if a.len() <= MAX_ITEMS => Ok(a),
        Some(Value::Array(_)) => Err(malformed(format!("more than {MAX_ITEMS} {what}"))),
        Some(_) => Err(malformed(format!("{what} is not an array"))),
    }
}

/// Standard base64 (padding required), as protobuf JSON writes bytes; URL-safe is accepted
/// too, and line breaks are skipped (as Go's and Python's decoders do; some clients wrap).
fn b64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let unwrapped: std::borrow::Cow<'_, str> = if s.contains(['\r', '\n']) {
        s.replace(['\r', '\n'], "").into()
    } else {
        s.into()
    };
    STANDARD
        .decode(unwrapped.as_bytes())
        .or_else(|_| URL_SAFE.decode(unwrapped.as_bytes()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../shared/vectors/sigstore-conformance/test/assets/bundle-verify/{name}/bundle.sigstore.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn reads_every_version_and_content() {
        for (name, version, dsse) in [
            ("happy-path-v0.1", Version::V01, false),
            ("happy-path-v0.2", Version::V02, false),
            ("happy-path-v0.3", Version::V03, false),
            ("happy-path-v0.3-new-mediaType", Version::V03, false),
            ("happy-path-intoto-in-dsse-v3", Version::V03, true),
        ] {
            let b = Bundle::parse(&case(name)).unwrap();
            assert_eq!(b.version, version, "{name}");
            assert_eq!(matches!(b.content, Content::Dsse { .. }), dsse, "{name}");
            assert!(b.certificate.is_some() && b.tlog.len() == 1, "{name}");
        }
    }

    #[test]
    fn refuses_what_the_format_forbids() {
        for (name, reason) in [
            ("bundle-malformed-json_fail", "malformed-signature"),
            (
                "bundle-unknown-version_fail",
                "unsupported-signature-format",
            ),
            ("bundle-empty-certificate-chain_fail", "malformed-signature"),
            (
                "bundle-invalid-base64-signature_fail",
                "malformed-signature",
            ),
            ("bundle-with-root-cert_fail", "malformed-signature"),
        ] {
            let e = Bundle::parse(&case(name)).unwrap_err();
            assert_eq!(e.reason, reason, "{name}: {}", e.detail);
        }
    }
}
