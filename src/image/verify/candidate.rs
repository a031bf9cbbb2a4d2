//! What one image signature candidate claims, per storage format: a legacy cosign
//! simple-signing layer (its annotations: signature, certificate, chain, Rekor bundle,
//! timestamp) or a cosign v3 sigstore bundle (an in-toto statement about the image), each
//! turned into the [`Material`] the checks of [`super`] run on.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{
    Bundle, COSIGN_SIGN_V1, Certificate, Content, Failure, Material, Passed, Requirements,
    SignatureReport, Signed, Timestamp, TlogEntry, b64, check_all, fail, in_toto_statement, pae,
    tlog,
};
use crate::image::signature::{Candidate, CandidateKind};

const SIG_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const CERT_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
const TIMESTAMP_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// Verifies one candidate against every authority; passes if any authority accepts it.
pub fn verify_candidate(c: &Candidate, req: &Requirements<'_>) -> SignatureReport {
    let (format, result) = match &c.kind {
        CandidateKind::Broken { reason, detail } => ("legacy", Err(fail(reason, detail.clone()))),
        CandidateKind::Legacy {
            payload,
            annotations,
        } => ("legacy", legacy(payload, annotations, req)),
        CandidateKind::Bundle { json } => ("bundle", bundle(json, req)),
    };
    SignatureReport {
        source: c.source.clone(),
        format,
        result,
    }
}

fn legacy(
    payload: &[u8],
    ann: &BTreeMap<String, String>,
    req: &Requirements<'_>,
) -> Result<Passed, Failure> {
    let sig_b64 = ann
        .get(SIG_ANNOTATION)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            fail(
                "malformed-signature",
                "the layer has no dev.cosignproject.cosign/signature annotation",
            )
        })?;
    let signature = b64(sig_b64).ok_or_else(|| {
        fail(
            "malformed-signature",
            "the signature annotation is not base64",
        )
    })?;
    let certificate = match ann.get(CERT_ANNOTATION).filter(|s| !s.trim().is_empty()) {
        Some(pem) => Some(
            match Certificate::parse_pem_chain(pem)
                .map(Vec::into_iter)
                .as_mut()
                .map(|it| (it.next(), it.next()))
            {
                Ok((Some(leaf), None)) => leaf,
                Ok((Some(_), Some(_))) => {
                    return Err(fail(
                        "malformed-signature",
                        "the certificate annotation holds more than one certificate",
                    ));
                }
                _ => {
                    return Err(fail(
                        "malformed-signature",
                        "the certificate annotation is not a PEM certificate",
                    ));
                }
            },
        ),
        None => None,
    };
    let chain = match ann.get(CHAIN_ANNOTATION).filter(|s| !s.trim().is_empty()) {
        Some(pem) => Certificate::parse_pem_chain(pem)
            .map_err(|e| fail("malformed-signature", format!("the chain annotation: {e}")))?,
        None => Vec::new(),
    };
    let tlog = match ann.get(BUNDLE_ANNOTATION) {
        Some(b) => vec![
            TlogEntry::from_legacy_annotation(b)
                .map_err(|e| fail("tlog-mismatch", format!("the Rekor bundle annotation: {e}")))?,
        ],
        None => Vec::new(),
    };
    let timestamps = ann
        .get(TIMESTAMP_ANNOTATION)
        .map(|t| Timestamp::Annotation(t.clone()))
        .into_iter()
        .collect();
    let digest = req.image_digest;
    let claims = || legacy_claims(payload, digest, req.annotations);
    let m = Material {
        signed: Signed::Bytes(payload.to_vec()),
        signature,
        certificate,
        chain,
        tlog,
        tlog_requirement: tlog::TlogRequirement::Either,
        payload_sha256: Sha256::digest(payload).into(),
        dsse: false,
        key_hint: None,
        timestamps,
        claims: &claims,
    };
    check_all(&m, req.authorities)
}

/// cosign's simple-signing payload: the type, the digest, and the `-a` annotations in `optional`.
fn legacy_claims(
    payload: &[u8],
    digest: &str,
    want: &BTreeMap<String, String>,
) -> Result<(), Failure> {
    let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| {
        fail(
            "malformed-signature",
            format!("the signed payload is not JSON: {e}"),
        )
    })?;
    let critical = v
        .get("critical")
        .ok_or_else(|| fail("malformed-signature", "payload without critical"))?;
    let ty = critical.get("type").and_then(|t| t.as_str()).unwrap_or("");
    if !ty.eq_ignore_ascii_case("cosign container image signature") {
        return Err(fail(
            "wrong-type",
            format!("payload type {ty:?} is not a cosign container image signature"),
        ));
    }
    let signed = critical
        .get("image")
        .and_then(|i| i.get("docker-manifest-digest"))
        .and_then(|d| d.as_str())
        .unwrap_or("");
    if signed != digest {
        return Err(fail(
            "digest-mismatch",
            format!("the signature is for {signed}, the image is {digest}"),
        ));
    }
    check_annotations(v.get("optional"), want)
}

fn check_annotations(
    have: Option<&serde_json::Value>,
    want: &BTreeMap<String, String>,
) -> Result<(), Failure> {
    for (k, expected) in want {
        let got = have.and_then(|o| o.get(k)).and_then(|v| v.as_str());
        if got != Some(expected.as_str()) {
            return Err(fail(
                "claim-mismatch",
                format!(
                    "annotation {k}={expected} is not signed by this signature (found {got:?})"
                ),
            ));
        }
    }
    Ok(())
}

fn bundle(json: &[u8], req: &Requirements<'_>) -> Result<Passed, Failure> {
    let b = Bundle::parse(json).map_err(|e| fail(e.reason, e.detail))?;
    let Content::Dsse {
        payload_type,
        payload,
        ..
    } = &b.content
    else {
        return Err(fail(
            "unsupported-signature-format",
            "bundle has no DSSE envelope (message signatures are for blobs, not images)",
        ));
    };
    if payload_type != "application/vnd.in-toto+json" {
        return Err(fail(
            "wrong-type",
            format!("DSSE payload type {payload_type:?} is not in-toto"),
        ));
    }
    let claims = || statement_claims(payload, req.image_digest, req.annotations);
    let m = Material::of_bundle(
        &b,
        Signed::Bytes(pae(payload_type, payload)),
        Sha256::digest(payload).into(),
        &claims,
    );
    check_all(&m, req.authorities)
}

/// The in-toto statement of a cosign v3 signature: type, predicate and a subject with this digest.
fn statement_claims(
    payload: &[u8],
    digest: &str,
    want: &BTreeMap<String, String>,
) -> Result<(), Failure> {
    let v = in_toto_statement(payload)?;
    let predicate = v
        .get("predicateType")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    if predicate != COSIGN_SIGN_V1 {
        return Err(fail(
            "wrong-type",
            format!("predicate {predicate:?} is not a cosign image signature ({COSIGN_SIGN_V1})"),
        ));
    }
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    let subjects = v
        .get("subject")
        .and_then(|s| s.as_array())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let Some(subject) = subjects
        .iter()
        .find(|s| s.pointer("/digest/sha256").and_then(|d| d.as_str()) == Some(hex))
    else {
        let signed: Vec<&str> = subjects
            .iter()
            .filter_map(|s| s.pointer("/digest/sha256").and_then(|d| d.as_str()))
            .collect();
        return Err(fail(
            "digest-mismatch",
            format!("the statement names {signed:?}, the image is {digest}"),
        ));
    };
    check_annotations(subject.get("annotations"), want)
}
