//! Verification of one signature candidate against a rule's authorities. Every check runs on
//! the same signature: payload/subject digest, the signature itself, the trust binding (a
//! configured key, or a certificate chained to the trusted root at the signing time with its
//! SCT, codeSigning EKU and an issuer/subject match), the transparency-log entry bound to this
//! payload, signature and key, and the claims. A passing signature is a [`Passed`], which only
//! this module can construct. How each image signature format becomes the material checked is
//! in `candidate`; blobs ([`super::blob`]) and gitsign ([`verify_detached`]) feed it too.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::bundle::{self, Bundle, Content};
use super::cert::{self, Certificate};
use super::pubkey::PublicKey;
use super::tlog::{self, TlogEntry};
use super::trust_root::TrustRoot;
use super::tsa;
use crate::sops::time::{format_unix, now_unix};

/// Predicate of a cosign v3 image signature.
pub const COSIGN_SIGN_V1: &str = "https://sigstore.dev/cosign/sign/v1";

mod candidate;
pub use candidate::verify_candidate;

/// An identity matcher: exact string, or a regular expression that must match the whole value.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equality.
    Exact(String),
    /// Whole-value match (the pattern is anchored when compiled).
    Regex(regex::Regex),
}

impl Matcher {
    /// An anchored regex matcher: `^(?:pattern)$`, so `example.com` never matches `evil-example.com.org`.
    pub fn regex(pattern: &str) -> Result<Matcher, String> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .map(Matcher::Regex)
            .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))
    }

    /// The matcher a rule names as an exact value or a regular expression: `Ok(None)` unless
    /// exactly one of the two is given; `Err` for a regular expression that does not compile.
    pub fn exact_or_regex(
        exact: Option<&str>,
        regex: Option<&str>,
    ) -> Result<Option<Matcher>, String> {
        match (exact, regex) {
            (Some(e), None) => Ok(Some(Matcher::Exact(e.to_string()))),
            (None, Some(r)) => Matcher::regex(r).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.is_match(value),
        }
    }
}

/// Keyless trust: a trusted root and the identity that must have signed.
#[derive(Debug, Clone)]
pub struct Keyless {
    /// Fulcio CAs, Rekor and CT log keys.
    pub root: Arc<TrustRoot>,
    /// OIDC issuer.
    pub issuer: Matcher,
    /// Subject (any SAN).
    pub subject: Matcher,
    /// Require a valid embedded SCT (default true).
    pub require_sct: bool,
    /// Require a Rekor entry (default true); without it the certificate is checked at the
    /// current time (private PKI with long-lived certificates).
    pub require_tlog: bool,
    /// A Rekor server to search for the entry of a gitsign signature that carries none
    /// (gitsign's online mode); `None`: such signatures are refused.
    pub rekor_search: Option<String>,
}

/// What may vouch for a signature.
#[derive(Debug, Clone)]
pub enum Trust {
    /// A public key; with `tlog`, a Rekor entry bound to the signature is required too.
    Key {
        /// The key.
        key: PublicKey,
        /// Rekor keys, when the transparency log is required.
        tlog: Option<Arc<TrustRoot>>,
    },
    /// Keyless (Fulcio certificate + Rekor).
    Keyless(Box<Keyless>),
}

/// A named authority of an image rule.
#[derive(Debug, Clone)]
pub struct Authority {
    /// Shown in reports (`key keys/cosign.pub`, `signer release-bot`).
    pub name: String,
    /// Its trust material.
    pub trust: Trust,
}

/// What one signature must satisfy.
pub struct Requirements<'a> {
    /// The image manifest digest (`sha256:<hex>`).
    pub image_digest: &'a str,
    /// Annotations that must appear in the signed claims.
    pub annotations: &'a BTreeMap<String, String>,
    /// Any of these may vouch.
    pub authorities: &'a [Authority],
}

mod seal {
    #[derive(Debug, Clone)]
    pub struct Seal;
}

/// A signature that passed every check (constructible only by the verifier).
#[derive(Debug, Clone)]
pub struct Passed {
    /// The authority that vouched.
    pub authority: String,
    /// Who signed: `key <fingerprint>` or `<issuer> <subject>`.
    pub identity: String,
    /// Trusted signing time (transparency log), unix seconds.
    pub signed_at: Option<i64>,
    _seal: seal::Seal,
}

/// Why a signature did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Reason code (kebab-case, stable).
    pub reason: &'static str,
    /// Human explanation.
    pub detail: String,
}

/// The outcome for one candidate.
#[derive(Debug, Clone)]
pub struct SignatureReport {
    /// Where the signature was found.
    pub source: String,
    /// `legacy` or `bundle`.
    pub format: &'static str,
    /// Passed, or the most advanced failure over all authorities.
    pub result: Result<Passed, Failure>,
}

pub(super) fn fail(reason: &'static str, detail: impl Into<String>) -> Failure {
    Failure {
        reason,
        detail: detail.into(),
    }
}

/// How far a failure got: later stages are more informative than earlier ones.
pub fn rank(reason: &str) -> u8 {
    match reason {
        "malformed-signature" | "unsupported-signature-format" => 0,
        "untrusted-key" | "bad-signature" => 1,
        "digest-mismatch" | "wrong-type" => 2,
        "tlog-missing" | "tlog-mismatch" | "tsa-invalid" => 3,
        "cert-untrusted" | "cert-expired" | "sct-invalid" => 4,
        "identity-mismatch" => 5,
        _ => 6,
    }
}

/// What a signature covers.
pub(super) enum Signed {
    /// These bytes (a payload, or a DSSE PAE).
    Bytes(Vec<u8>),
    /// An artifact known by its SHA-256 digest (a bundle's message signature).
    Sha256([u8; 32]),
}

impl Signed {
    fn verify_with(&self, key: &PublicKey, signature: &[u8]) -> bool {
        match self {
            Signed::Bytes(b) => key.verify(b, signature).is_ok(),
            Signed::Sha256(d) => key.verify_digest("sha256", d, signature).is_ok(),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Signed::Bytes(b) => b,
            Signed::Sha256(_) => &[],
        }
    }
}

/// The material of one signature, normalised across formats.
pub(super) struct Material<'a> {
    /// What the signature covers.
    pub(super) signed: Signed,
    pub(super) signature: Vec<u8>,
    pub(super) certificate: Option<Certificate>,
    pub(super) chain: Vec<Certificate>,
    pub(super) tlog: Vec<TlogEntry>,
    /// Which log proofs each entry must carry.
    pub(super) tlog_requirement: tlog::TlogRequirement,
    /// sha256 of the payload (for the Rekor body).
    pub(super) payload_sha256: [u8; 32],
    /// Bundle (DSSE) or legacy (hashedrekord) binding.
    pub(super) dsse: bool,
    /// The key the signature says it was made with (bundle `publicKey.hint`).
    pub(super) key_hint: Option<String>,
    /// RFC 3161 timestamps over `signature` as carried (DER TimeStampResp, or the legacy
    /// annotation's JSON text); unverified, read only when a TSA is trusted.
    pub(super) timestamps: Vec<Timestamp>,
    /// Claims check for this format, run after the signature verified.
    pub(super) claims: &'a dyn Fn() -> Result<(), Failure>,
}

impl<'a> Material<'a> {
    /// The material of a parsed bundle; `signed` is what its signature covers.
    pub(super) fn of_bundle(
        b: &Bundle,
        signed: Signed,
        payload_sha256: [u8; 32],
        claims: &'a dyn Fn() -> Result<(), Failure>,
    ) -> Material<'a> {
        let (signature, dsse) = match &b.content {
            Content::Message { signature, .. } => (signature.clone(), false),
            Content::Dsse { signature, .. } => (signature.clone(), true),
        };
        Material {
            signed,
            signature,
            certificate: b.certificate.clone(),
            chain: b.chain.clone(),
            tlog: b.tlog.clone(),
            // v0.1 bundles promise inclusion (a SET); later ones prove it.
            tlog_requirement: if b.version == bundle::Version::V01 {
                tlog::TlogRequirement::Set
            } else {
                tlog::TlogRequirement::Proof
            },
            payload_sha256,
            dsse,
            key_hint: b.key_hint.clone(),
            timestamps: b.timestamps.iter().cloned().map(Timestamp::Der).collect(),
            claims,
        }
    }
}

/// A carried RFC 3161 timestamp.
pub(super) enum Timestamp {
    /// A bundle's `signedTimestamp`, decoded.
    Der(Vec<u8>),
    /// cosign's `{"SignedRFC3161Timestamp": b64(DER)}` annotation.
    Annotation(String),
}

impl Timestamp {
    fn der(&self) -> Result<Vec<u8>, String> {
        match self {
            Timestamp::Der(b) => Ok(b.clone()),
            Timestamp::Annotation(text) => serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("SignedRFC3161Timestamp")?.as_str().and_then(b64))
                .ok_or_else(|| "the RFC 3161 timestamp annotation is not cosign's JSON".into()),
        }
    }
}

/// Timestamps looked at per signature (a bundle could repeat one many times).
const MAX_TIMESTAMPS: usize = 8;

/// A signature over `signed` carried outside any bundle (gitsign's CMS signature over its
/// signed attributes), checked exactly as a bundle's message signature: the signature with the
/// certificate's key, the Rekor entry (logged as a `hashedrekord` of SHA-256(`signed`)) bound to
/// it, the certificate path at the trusted time, SCTs and the identity. `timestamps` are DER
/// RFC 3161 tokens over the signature.
pub fn verify_detached(
    signed: &[u8],
    signature: &[u8],
    certificate: &Certificate,
    chain: &[Certificate],
    tlog: Vec<TlogEntry>,
    timestamps: Vec<Vec<u8>>,
    authority: &Authority,
) -> Result<Passed, Failure> {
    let claims = || Ok(());
    let m = Material {
        signed: Signed::Bytes(signed.to_vec()),
        signature: signature.to_vec(),
        certificate: Some(certificate.clone()),
        chain: chain.to_vec(),
        tlog,
        tlog_requirement: tlog::TlogRequirement::Either,
        payload_sha256: Sha256::digest(signed).into(),
        dsse: false,
        key_hint: None,
        timestamps: timestamps.into_iter().map(Timestamp::Der).collect(),
        claims: &claims,
    };
    check_one(&m, authority)
}

/// The key hint of sigil's key-signed bundles: base64 of SHA-256 of the DER public key.
pub fn key_hint(spki_der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki_der))
}

/// DSSE pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE payload read as an in-toto statement (v0.1 or v1).
pub(super) fn in_toto_statement(payload: &[u8]) -> Result<serde_json::Value, Failure> {
    let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| {
        fail(
            "malformed-signature",
            format!("the in-toto statement is not JSON: {e}"),
        )
    })?;
    let ty = v.get("_type").and_then(|t| t.as_str()).unwrap_or("");
    if ty != "https://in-toto.io/Statement/v1" && ty != "https://in-toto.io/Statement/v0.1" {
        return Err(fail("wrong-type", format!("statement type {ty:?}")));
    }
    Ok(v)
}

/// Runs every authority; returns the first pass, or the most advanced failure.
pub(super) fn check_all(m: &Material<'_>, authorities: &[Authority]) -> Result<Passed, Failure> {
    if authorities.is_empty() {
        return Err(fail("untrusted-key", "the rule has no authorities"));
    }
    let mut best: Option<Failure> = None;
    for a in authorities {
        match check_one(m, a) {
            Ok(p) => return Ok(p),
            Err(f) => {
                if best
                    .as_ref()
                    .is_none_or(|b| rank(f.reason) > rank(b.reason))
                {
                    best = Some(Failure {
                        reason: f.reason,
                        detail: format!("{}: {}", a.name, f.detail),
                    });
                }
            }
        }
    }
    let mut best = best.unwrap_or_else(|| fail("untrusted-key", "no authority"));
    // A signature that names a trusted key yet does not verify under it was altered.
    if best.reason == "untrusted-key"
        && let Some(hint) = &m.key_hint
        && let Some(a) = authorities.iter().find(|a| match &a.trust {
            Trust::Key { key, .. } => &key_hint(&key.to_spki_der()) == hint,
            Trust::Keyless(_) => false,
        })
    {
        best = fail(
            "bad-signature",
            format!(
                "{}: the signature names this trusted key but does not verify: the signed payload or the signature was altered",
                a.name
            ),
        );
    }
    Err(best)
}

fn check_one(m: &Material<'_>, a: &Authority) -> Result<Passed, Failure> {
    match &a.trust {
        Trust::Key { key, tlog } => {
            if !m.signed.verify_with(key, &m.signature) {
                return Err(fail(
                    "untrusted-key",
                    format!("the signature does not verify with this {} key", key.kind()),
                ));
            }
            (m.claims)()?;
            let signed_at = match tlog {
                Some(root) => check_tlog(m, root, &key.to_spki_der(), false, None)?,
                None => None,
            };
            Ok(Passed {
                authority: a.name.clone(),
                identity: format!("key sha256:{}", hex::encode(key.log_id())),
                signed_at,
                _seal: seal::Seal,
            })
        }
        Trust::Keyless(k) => {
            let leaf = m.certificate.as_ref().ok_or_else(|| {
                fail(
                    "cert-untrusted",
                    "keyless trust needs a certificate and the signature has none",
                )
            })?;
            let leaf_key = leaf
                .public_key()
                .map_err(|e| fail("malformed-signature", format!("certificate key: {e}")))?;
            if !m.signed.verify_with(&leaf_key, &m.signature) {
                return Err(fail(
                    "bad-signature",
                    "the signature does not verify with its certificate's key",
                ));
            }
            (m.claims)()?;
            let (stamped, stamp_error) = check_timestamps(m, &k.root);
            let at = if k.require_tlog {
                match check_tlog(m, &k.root, leaf.der(), true, stamped.first().copied())? {
                    Some(t) => t,
                    None => stamped.first().copied().ok_or_else(|| match &stamp_error {
                        Some(e) => fail(
                            "tsa-invalid",
                            format!("the Rekor entry has no signed entry timestamp and no RFC 3161 timestamp verifies: {e}"),
                        ),
                        None => fail("tlog-missing", "the Rekor entry has no signed entry timestamp and there is no trusted RFC 3161 timestamp, so there is no trusted signing time"),
                    })?,
                }
            } else {
                stamped.first().copied().unwrap_or_else(now_unix)
            };
            // Every trusted time must fall inside the leaf's validity.
            if let Some(t) = stamped.iter().find(|t| !leaf.valid_at(**t)) {
                return Err(fail(
                    "cert-expired",
                    format!(
                        "the leaf certificate is not valid at the RFC 3161 timestamp {}",
                        format_unix(*t)
                    ),
                ));
            }
            let path = cert::verify_path(leaf, &m.chain, &k.root.certificate_authorities, at)
                .map_err(|e| {
                    let reason = if matches!(e, cert::CertError::NotValidAt { .. }) {
                        "cert-expired"
                    } else {
                        "cert-untrusted"
                    };
                    fail(
                        reason,
                        format!("certificate at the signing time {}: {e}", format_unix(at)),
                    )
                })?;
            // Fulcio-style certificates (short-lived, logged) must list codeSigning; only a
            // private PKI without a transparency log is read as Go's x509 does (no
            // extendedKeyUsage means unrestricted), as containers/image does for PKI.
            let eku = if k.require_tlog {
                cert::check_code_signing(leaf)
            } else {
                cert::check_code_signing_or_unrestricted(leaf)
            };
            eku.map_err(|e| fail("cert-untrusted", e.to_string()))?;
            cert::check_issuers_allow_code_signing(&path[1..])
                .map_err(|e| fail("cert-untrusted", e.to_string()))?;
            if k.require_sct {
                let issuer = path
                    .get(1)
                    .ok_or_else(|| fail("sct-invalid", "no issuer certificate for the SCT"))?;
                cert::verify_embedded_scts(leaf, issuer, &k.root.ctlogs)
                    .map_err(|e| fail("sct-invalid", e.to_string()))?;
            }
            let id = cert::identity(leaf)
                .map_err(|e| fail("malformed-signature", format!("certificate identity: {e}")))?;
            let issuer = id.issuer.clone().unwrap_or_default();
            if !k.issuer.matches(&issuer) {
                return Err(fail(
                    "identity-mismatch",
                    format!("issuer {issuer:?} is not trusted by this rule"),
                ));
            }
            let Some(subject) = id
                .sans
                .iter()
                .map(|s| s.as_str())
                .find(|s| k.subject.matches(s))
            else {
                let sans: Vec<&str> = id.sans.iter().map(|s| s.as_str()).collect();
                return Err(fail(
                    "identity-mismatch",
                    format!("subject {sans:?} does not match this rule"),
                ));
            };
            Ok(Passed {
                authority: a.name.clone(),
                identity: format!("{issuer} {subject}"),
                signed_at: Some(at),
                _seal: seal::Seal,
            })
        }
    }
}

/// The times of the signature's RFC 3161 timestamps that verify over the raw signature bytes
/// against the trust root's timestamp authorities, and why the first one that did not verify
/// failed. With no authority configured, timestamps are not evidence and are not read. A
/// timestamp that does not verify is skipped (a signer may add stamps from TSAs this policy
/// does not trust), as sigstore-go does; it only matters when a time is needed and none
/// verified.
fn check_timestamps(m: &Material<'_>, root: &TrustRoot) -> (Vec<i64>, Option<String>) {
    if root.timestamp_authorities.is_empty() {
        return (Vec::new(), None);
    }
    let mut times = Vec::new();
    let mut first_error = None;
    for t in m.timestamps.iter().take(MAX_TIMESTAMPS) {
        match t.der().and_then(|der| {
            tsa::verify(&der, &m.signature, &root.timestamp_authorities).map_err(|e| e.to_string())
        }) {
            Ok(at) => times.push(at),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    (times, first_error)
}

/// A verified Rekor entry bound to this signature; returns its integrated time if a SET vouches for it.
///
/// `stamped_at`, a time from a verified RFC 3161 timestamp, is when the log key must be valid
/// for an entry without a SET (whose integrated time is only a claim).
fn check_tlog(
    m: &Material<'_>,
    root: &TrustRoot,
    verifier_der: &[u8],
    is_cert: bool,
    stamped_at: Option<i64>,
) -> Result<Option<i64>, Failure> {
    if m.tlog.is_empty() {
        return Err(fail(
            "tlog-missing",
            "a transparency-log entry is required and the signature has none",
        ));
    }
    let verifier_pem = der_to_pem(
        if is_cert { "CERTIFICATE" } else { "PUBLIC KEY" },
        verifier_der,
    );
    let mut last = None;
    let mut proof_only = false;
    for entry in &m.tlog {
        let verified = match tlog::verify_entry_at(entry, root, m.tlog_requirement, stamped_at) {
            Ok(v) => v,
            Err(e) => {
                last = Some(fail("tlog-mismatch", format!("Rekor entry: {e}")));
                continue;
            }
        };
        let expected = if m.dsse {
            tlog::Expected::Dsse {
                payload_sha256: m.payload_sha256,
                pae: m.signed.bytes(),
                signature: &m.signature,
                verifier: verifier_pem.as_bytes(),
            }
        } else {
            tlog::Expected::HashedRekord {
                payload_sha256: m.payload_sha256,
                signature: &m.signature,
                verifier_pem_or_der: verifier_pem.as_bytes(),
            }
        };
        match tlog::check_body(&entry.canonicalized_body, &expected) {
            // An entry whose SET gives a time wins; a proof-only one is kept as a fallback.
            Ok(()) if verified.integrated_time().is_some() => {
                return Ok(verified.integrated_time());
            }
            Ok(()) => proof_only = true,
            Err(e) => {
                last = Some(fail(
                    "tlog-mismatch",
                    format!("the Rekor entry is not for this signature: {e}"),
                ))
            }
        }
    }
    if proof_only {
        return Ok(None);
    }
    Err(last.unwrap_or_else(|| fail("tlog-missing", "no usable transparency-log entry")))
}

fn der_to_pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// Standard base64, ignoring line breaks and spaces (some signers wrap the annotation).
fn b64(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}
