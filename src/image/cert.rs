//! X.509 checks for keyless (Fulcio) and private-PKI cosign signatures, fully offline.
//!
//! * [`verify_path`] builds a certification path from a leaf through intermediates to a trust
//!   anchor taken from the trust root (never from the signature), and checks every link and every
//!   certificate at the *signing time*.
//! * [`check_code_signing`] checks the leaf's extended key usage, and
//!   [`check_issuers_allow_code_signing`] that of the certificates above it.
//! * [`verify_embedded_scts`] verifies the RFC 6962 precertificate SCTs embedded in a leaf.
//! * [`identity`] reads the OIDC issuer (Fulcio extensions) and the subject alternative names.
//!
//! Certificates are parsed with `x509-cert`; the bytes that are signed (the TBSCertificate, the
//! issuer's SubjectPublicKeyInfo, the precertificate TBS) are taken from the original DER, never
//! from a re-encoding of the parsed form.

use std::fmt;
use std::net::IpAddr;

use der::Decode;
use der::asn1::{ObjectIdentifier, Utf8StringRef};
use sha2::{Digest, Sha256, Sha384};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::pubkey::{PublicKey, pem_blocks};
use super::trust_root::{CertificateAuthority, TrustedKey};

/// Why a certificate, a certification path, an SCT or an identity was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    /// The certificate (or an extension or SCT list inside it) is not well-formed DER/TLS.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// No chain of issuers leads from the leaf to a trusted anchor.
    #[error("no certification path to a trusted root")]
    NoPathToRoot,
    /// A certificate on the path (or an authority's validity window) does not cover the time.
    #[error("{which} is not valid at {t} (unix seconds)")]
    NotValidAt {
        /// Which certificate or window, for messages.
        which: String,
        /// The time checked (unix seconds).
        t: i64,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("certificate signature does not verify: {0}")]
    BadCertSignature(String),
    /// The certificate or signature algorithm is not one this verifier accepts.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// An issuing certificate is not a CA (no basicConstraints cA, no keyCertSign, or its
    /// pathLenConstraint is exceeded).
    #[error("issuing certificate is not allowed to issue certificates: {0}")]
    NotCa(String),
    /// The leaf's extended key usage does not allow code signing.
    #[error("certificate is not valid for code signing")]
    NoCodeSigning,
    /// An issuing certificate's extended key usage does not allow code signing.
    #[error(
        "issuing certificate is not valid for code signing (extendedKeyUsage without codeSigning): {0}"
    )]
    IssuerNoCodeSigning(String),
    /// A critical extension this verifier does not implement.
    #[error("unhandled critical extension {0}")]
    UnhandledCriticalExtension(String),
    /// A certificate on the path carries nameConstraints, which this verifier does not implement.
    #[error("certificate carries name constraints, which are not supported: {0}")]
    NameConstraints(String),
    /// The leaf has no embedded SCT.
    #[error("certificate has no embedded SCT")]
    NoSct,
    /// An SCT is malformed, or its signature does not verify with the log's key.
    #[error("bad SCT: {0}")]
    BadSct(String),
    /// No embedded SCT names a CT log that is trusted (at the SCT's time).
    #[error("no SCT is from a trusted CT log")]
    UnknownCtLog,
}

/// Certificates larger than this are refused (Fulcio certificates are about 1 KiB, an RSA-4096
/// PKI certificate about 2 KiB).
const MAX_CERT_LEN: usize = 32 * 1024;
/// At most this many certificates are read from one PEM text or accepted as intermediates.
const MAX_CERTS: usize = 32;
/// At most this many certificates on a path (leaf and anchor included).
const MAX_PATH_LEN: usize = 8;
/// At most this many signature verifications while searching for a path.
const MAX_SIGNATURE_CHECKS: usize = 128;
/// At most this many SCTs in a list.
const MAX_SCTS: usize = 32;

pub(crate) const OID_BASIC_CONSTRAINTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
pub(crate) const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const OID_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_NAME_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.30");
const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const OID_ANY_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");
const OID_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
const OID_FULCIO_ISSUER_V1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
const OID_FULCIO_USERNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
const OID_FULCIO_ISSUER_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
pub(crate) const OID_ECDSA_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
pub(crate) const OID_ECDSA_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
pub(crate) const OID_RSA_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
pub(crate) const OID_RSA_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
pub(crate) const OID_ECDSA_SHA512: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
pub(crate) const OID_RSA_SHA512: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// Critical extensions this module implements (nameConstraints is "understood" only in that a
/// path containing it is refused, see [`CertError::NameConstraints`]).
const UNDERSTOOD_CRITICAL: [ObjectIdentifier; 5] = [
    OID_BASIC_CONSTRAINTS,
    OID_KEY_USAGE,
    OID_EXT_KEY_USAGE,
    OID_SUBJECT_ALT_NAME,
    OID_NAME_CONSTRAINTS,
];

/// A parsed X.509 certificate together with its exact DER bytes.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    /// Byte range of the TBSCertificate inside `der`.
    tbs: std::ops::Range<usize>,
    parsed: x509_cert::Certificate,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Certificate(subject={:?}, issuer={:?})",
            self.subject_string(),
            self.parsed.tbs_certificate.issuer.to_string()
        )
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Parses one DER certificate (the whole input must be the certificate). Refuses oversized
    /// input and certificates with a repeated extension.
    pub fn from_der(der: &[u8]) -> Result<Certificate, CertError> {
        if der.len() > MAX_CERT_LEN {
            return Err(CertError::Malformed(format!(
                "certificate of {} bytes exceeds the {MAX_CERT_LEN}-byte limit",
                der.len()
            )));
        }
        let parsed = x509_cert::Certificate::from_der(der)
            .map_err(|e| CertError::Malformed(format!("X.509: {e}")))?;
        let (outer, rest) = read_tlv(der)?;
        if outer.tag != 0x30 || !rest.is_empty() {
            return Err(malformed("certificate is not one DER SEQUENCE"));
        }
        let (tbs, _) = read_tlv(outer.content)?;
        if tbs.tag != 0x30 {
            return Err(malformed("TBSCertificate is not a SEQUENCE"));
        }
        let start = header_len(outer);
        let tbs = start..start + tbs.all.len();
        if let Some(exts) = &parsed.tbs_certificate.extensions {
            for (i, e) in exts.iter().enumerate() {
                if exts.iter().skip(i + 1).any(|o| o.extn_id == e.extn_id) {
                    return Err(CertError::Malformed(format!(
                        "extension {} appears twice",
                        e.extn_id
                    )));
                }
            }
        }
        Ok(Certificate {
            der: der.to_vec(),
            tbs,
            parsed,
        })
    }

    /// Every `CERTIFICATE` block of a PEM text, in order (other blocks are ignored). At least one
    /// block is required, and at most 32 are read.
    pub fn parse_pem_chain(text: &str) -> Result<Vec<Certificate>, CertError> {
        let blocks = pem_blocks(text, "CERTIFICATE").map_err(CertError::Malformed)?;
        if blocks.is_empty() {
            return Err(malformed("no CERTIFICATE block"));
        }
        if blocks.len() > MAX_CERTS {
            return Err(CertError::Malformed(format!(
                "more than {MAX_CERTS} certificates"
            )));
        }
        blocks
            .iter()
            .map(|der| Certificate::from_der(der))
            .collect()
    }

    /// The exact DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The exact DER bytes of the TBSCertificate (what the issuer signed).
    pub fn tbs_der(&self) -> &[u8] {
        self.der.get(self.tbs.clone()).unwrap_or_default()
    }

    /// The parsed certificate.
    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.parsed
    }

    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey, CertError> {
        PublicKey::from_spki_der(self.spki_der()?)
            .map_err(|e| CertError::UnsupportedAlgorithm(format!("subject public key: {e}")))
    }

    /// NotBefore as unix seconds.
    pub fn not_before(&self) -> i64 {
        unix_seconds(self.parsed.tbs_certificate.validity.not_before)
    }

    /// NotAfter as unix seconds.
    pub fn not_after(&self) -> i64 {
        unix_seconds(self.parsed.tbs_certificate.validity.not_after)
    }

    /// Whether NotBefore ≤ `t` ≤ NotAfter.
    pub fn valid_at(&self, t: i64) -> bool {
        self.not_before() <= t && t <= self.not_after()
    }

    /// The subject name as an RFC 4514 string (empty for Fulcio leaves).
    pub fn subject_string(&self) -> String {
        self.parsed.tbs_certificate.subject.to_string()
    }

    /// The exact DER bytes of the SubjectPublicKeyInfo.
    fn spki_der(&self) -> Result<&[u8], CertError> {
        let fields = tbs_fields(self.tbs_der())?;
        let index = if fields.first().is_some_and(|f| f.tag == 0xa0) {
            6
        } else {
            5
        };
        fields
            .get(index)
            .filter(|f| f.tag == 0x30)
            .map(|f| f.all)
            .ok_or_else(|| malformed("TBSCertificate has no SubjectPublicKeyInfo"))
    }

    fn extension(&self, oid: &ObjectIdentifier) -> Option<&Extension> {
        self.parsed
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| &e.extn_id == oid)
    }

    /// Decodes the extension `oid` of this certificate, if present.
    pub fn decode_extension<'a, T: Decode<'a>>(
        &'a self,
        oid: &ObjectIdentifier,
    ) -> Result<Option<T>, CertError> {
        match self.extension(oid) {
            None => Ok(None),
            Some(e) => T::from_der(e.extn_value.as_bytes())
                .map(Some)
                .map_err(|err| CertError::Malformed(format!("extension {oid}: {err}"))),
        }
    }

    /// A short description for messages.
    fn describe(&self) -> String {
        let subject = self.subject_string();
        if subject.is_empty() {
            "(empty subject)".to_string()
        } else {
            subject
        }
    }
}

fn unix_seconds(t: x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn malformed(what: &str) -> CertError {
    CertError::Malformed(what.to_string())
}

// ---------------------------------------------------------------------------------------------
// Minimal strict DER walking (for exact signed bytes and the precertificate TBS).

/// One DER element.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    /// The whole element (header and content).
    all: &'a [u8],
    content: &'a [u8],
}

fn header_len(t: Tlv<'_>) -> usize {
    t.all.len() - t.content.len()
}

/// Reads one DER element (low tag numbers only, definite minimal lengths below 16 MiB) and
/// returns it with the rest of the input.
fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), CertError> {
    let bad = || malformed("bad DER element");
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    if tag & 0x1f == 0x1f {
        return Err(bad());
    }
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 {
            return Err(bad());
        }
        let (bytes, r) = rest.split_at_checked(n).ok_or_else(bad)?;
        rest = r;
        if bytes.first() == Some(&0) {
            return Err(bad());
        }
        let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
        if len < 0x80 {
            return Err(bad());
        }
        len
    };
    let header = input.len() - rest.len();
    let (content, after) = rest.split_at_checked(len).ok_or_else(bad)?;
    let all = input.get(..header + len).ok_or_else(bad)?;
    Ok((Tlv { tag, all, content }, after))
}

/// The elements of a DER SEQUENCE's content.
fn children(mut content: &[u8]) -> Result<Vec<Tlv<'_>>, CertError> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (t, rest) = read_tlv(content)?;
        out.push(t);
        content = rest;
    }
    Ok(out)
}

/// The fields of a TBSCertificate.
fn tbs_fields(tbs: &[u8]) -> Result<Vec<Tlv<'_>>, CertError> {
    let (seq, rest) = read_tlv(tbs)?;
    if seq.tag != 0x30 || !rest.is_empty() {
        return Err(malformed("TBSCertificate is not one SEQUENCE"));
    }
    children(seq.content)
}

/// DER definite length octets.
fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    let mut out = vec![0x80 | significant.len() as u8];
    out.extend_from_slice(significant);
    out
}

fn der_element(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// Re-encodes a TBSCertificate with its extension list replaced by `edit(old list)` (each entry
/// a whole Extension element); every other field keeps its exact bytes. An empty result drops
/// the `[3]` field.
fn rebuild_tbs_extensions(
    tbs: &[u8],
    edit: impl FnOnce(Vec<&[u8]>) -> Result<Vec<Vec<u8>>, CertError>,
) -> Result<Vec<u8>, CertError> {
    let fields = tbs_fields(tbs)?;
    let mut content = Vec::with_capacity(tbs.len());
    let mut edit = Some(edit);
    for field in fields {
        if field.tag != 0xa3 {
            content.extend_from_slice(field.all);
            continue;
        }
        let (list, rest) = read_tlv(field.content)?;
        if list.tag != 0x30 || !rest.is_empty() {
            return Err(malformed("extensions field is not one SEQUENCE"));
        }
        let exts: Vec<&[u8]> = children(list.content)?.iter().map(|t| t.all).collect();
        let f = edit
            .take()
            .ok_or_else(|| malformed("two extensions fields"))?;
        let kept = f(exts)?.concat();
        if !kept.is_empty() {
            content.extend(der_element(0xa3, &der_element(0x30, &kept)));
        }
    }
    if edit.is_some() {
        return Err(malformed("no extensions"));
    }
    Ok(der_element(0x30, &content))
}

/// The OID of a whole Extension element.
fn extension_oid(ext: &[u8]) -> Result<&[u8], CertError> {
    let (seq, _) = read_tlv(ext)?;
    let (id, _) = read_tlv(seq.content)?;
    if seq.tag != 0x30 || id.tag != 0x06 {
        return Err(malformed("bad Extension"));
    }
    Ok(id.content)
}

// ---------------------------------------------------------------------------------------------
// Certificate signatures and path building.

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyFamily {
    Ecdsa,
    Rsa,
}

/// The hash name (for [`PublicKey::verify_digest`]) and key family of a signature algorithm.
fn signature_scheme(
    alg: &AlgorithmIdentifierOwned,
) -> Result<(&'static str, KeyFamily), CertError> {
    let (hash, family) = match alg.oid {
        OID_ECDSA_SHA256 => ("sha256", KeyFamily::Ecdsa),
        OID_ECDSA_SHA384 => ("sha384", KeyFamily::Ecdsa),
        OID_RSA_SHA256 => ("sha256", KeyFamily::Rsa),
        OID_RSA_SHA384 => ("sha384", KeyFamily::Rsa),
        OID_ECDSA_SHA512 => ("sha512", KeyFamily::Ecdsa),
        OID_RSA_SHA512 => ("sha512", KeyFamily::Rsa),
        other => {
            return Err(CertError::UnsupportedAlgorithm(format!(
                "signature algorithm {other}"
            )));
        }
    };
    let params_ok = match (&alg.parameters, family) {
        (None, _) => true,
        (Some(p), KeyFamily::Rsa) => p.is_null(),
        (Some(_), KeyFamily::Ecdsa) => false,
    };
    if !params_ok {
        return Err(CertError::Malformed(format!(
            "unexpected parameters for {}",
            alg.oid
        )));
    }
    Ok((hash, family))
}

/// Verifies that `parent`'s key signed `child`.
fn verify_signed_by(child: &Certificate, parent: &Certificate) -> Result<(), CertError> {
    let alg = &child.parsed.signature_algorithm;
    if &child.parsed.tbs_certificate.signature != alg {
        return Err(malformed("inner and outer signature algorithms differ"));
    }
    let (hash, family) = signature_scheme(alg)?;
    let key = parent.public_key()?;
    let key_family = match key {
        PublicKey::P256(_) | PublicKey::P384(_) | PublicKey::P521(_) => KeyFamily::Ecdsa,
        PublicKey::Rsa(_) => KeyFamily::Rsa,
        PublicKey::Ed25519(_) => {
            return Err(CertError::UnsupportedAlgorithm("Ed25519 issuer key".into()));
        }
    };
    if key_family != family {
        return Err(CertError::BadCertSignature(format!(
            "{} is signed with {}, but the issuer has a {} key",
            child.describe(),
            alg.oid,
            key.kind()
        )));
    }
    let digest = match hash {
        "sha384" => Sha384::digest(child.tbs_der()).to_vec(),
        "sha512" => sha2::Sha512::digest(child.tbs_der()).to_vec(),
        _ => Sha256::digest(child.tbs_der()).to_vec(),
    };
    let sig = child
        .parsed
        .signature
        .as_bytes()
        .ok_or_else(|| malformed("signature bit string"))?;
    key.verify_digest(hash, &digest, sig).map_err(|_| {
        CertError::BadCertSignature(format!("{} by {}", child.describe(), parent.describe()))
    })
}

/// Every critical extension must be understood, and nameConstraints are refused.
fn check_extensions(cert: &Certificate) -> Result<(), CertError> {
    for e in cert.parsed.tbs_certificate.extensions.iter().flatten() {
        if e.extn_id == OID_NAME_CONSTRAINTS {
            return Err(CertError::NameConstraints(cert.describe()));
        }
        if e.critical && !UNDERSTOOD_CRITICAL.contains(&e.extn_id) {
            return Err(CertError::UnhandledCriticalExtension(format!(
                "{} in {}",
                e.extn_id,
                cert.describe()
            )));
        }
    }
    Ok(())
}

fn check_time(cert: &Certificate, at: i64, role: &str) -> Result<(), CertError> {
    if cert.valid_at(at) {
        Ok(())
    } else {
        Err(CertError::NotValidAt {
            which: format!("{role} {}", cert.describe()),
            t: at,
        })
    }
}

/// `parent` may issue a certificate that has `below` CA certificates between it and the leaf.
fn check_ca(parent: &Certificate, below: usize) -> Result<(), CertError> {
    let bc: BasicConstraints = parent
        .decode_extension(&OID_BASIC_CONSTRAINTS)?
        .ok_or_else(|| {
            CertError::NotCa(format!("{} has no basicConstraints", parent.describe()))
        })?;
    if !bc.ca {
        return Err(CertError::NotCa(format!(
            "{} has cA=false",
            parent.describe()
        )));
    }
    if let Some(limit) = bc.path_len_constraint
        && below > usize::from(limit)
    {
        return Err(CertError::NotCa(format!(
            "{} allows {limit} intermediates below it, the path has {below}",
            parent.describe()
        )));
    }
    if let Some(ku) = parent.decode_extension::<KeyUsage>(&OID_KEY_USAGE)?
        && !ku.key_cert_sign()
    {
        return Err(CertError::NotCa(format!(
            "{} lacks keyCertSign",
            parent.describe()
        )));
    }
    Ok(())
}

/// Depth-first path search towards one anchor, with a bounded number of signature checks.
struct PathSearch<'a> {
    pool: Vec<&'a Certificate>,
    anchor: &'a Certificate,
    at: i64,
    budget: usize,
    /// The most informative failure seen, with its rank.
    error: Option<(u8, CertError)>,
}

impl<'a> PathSearch<'a> {
    fn note(&mut self, e: CertError) {
        let rank = match e {
            CertError::BadCertSignature(_) | CertError::UnsupportedAlgorithm(_) => 1,
            _ => 2,
        };
        if self.error.as_ref().is_none_or(|(r, _)| rank > *r) {
            self.error = Some((rank, e));
        }
    }

    /// Checks that `parent` issued `path.last()`.
    fn link(
        &mut self,
        path: &[&Certificate],
        parent: &Certificate,
        role: &str,
    ) -> Result<(), CertError> {
        let child = path.last().ok_or(CertError::NoPathToRoot)?;
        self.budget = self.budget.saturating_sub(1);
        verify_signed_by(child, parent)?;
        check_extensions(parent)?;
        check_ca(parent, path.len() - 1)?;
        check_time(parent, self.at, role)
    }

    fn extend(&mut self, path: &mut Vec<&'a Certificate>) -> bool {
        let Some(child) = path.last().copied() else {
            return false;
        };
        let issuer = &child.parsed.tbs_certificate.issuer;
        let anchor = self.anchor;
        if self.budget > 0 && issuer == &anchor.parsed.tbs_certificate.subject {
            match self.link(path, anchor, "trust anchor") {
                Ok(()) => {
                    path.push(anchor);
                    return true;
                }
                Err(e) => self.note(e),
            }
        }
        // Room is needed for one more intermediate and then the anchor.
        if path.len() + 2 > MAX_PATH_LEN {
            return false;
        }
        let pool = self.pool.clone();
        for cand in pool {
            if self.budget == 0 {
                return false;
            }
            if issuer != &cand.parsed.tbs_certificate.subject || path.contains(&cand) {
                continue;
            }
            match self.link(path, cand, "intermediate certificate") {
                Ok(()) => {
                    path.push(cand);
                    if self.extend(path) {
                        return true;
                    }
                    path.pop();
                }
                Err(e) => self.note(e),
            }
        }
        false
    }
}

/// Builds and checks a certification path `leaf → intermediates… → anchor`, valid at `at`
/// (unix seconds; the signing time, not "now"), and returns it (leaf first, anchor last).
///
/// * Anchors are only the **last** certificates of the `authorities`' chains. Intermediates come
///   from `intermediates` (e.g. the signature's chain annotation, or configured intermediates) and
///   from the authority's own chain; a self-signed certificate supplied as an intermediate never
///   becomes an anchor.
/// * Each link: the child's issuer name equals the parent's subject, and the child's signature
///   (ecdsa-with-SHA256/384 or sha256/384WithRSAEncryption; nothing else) verifies with the
///   parent's key; the parent has basicConstraints cA=true (pathLenConstraint honoured), and
///   keyUsage keyCertSign if it has keyUsage.
/// * Every certificate on the path, anchor included, satisfies NotBefore ≤ `at` ≤ NotAfter, has
///   no critical extension other than basicConstraints, keyUsage, extKeyUsage and
///   subjectAltName, and carries no nameConstraints (not implemented, so refused).
/// * The authority's validity window, where bounded, covers `at`.
/// * Paths have at most 8 certificates; the search stops after 128 signature checks.
pub fn verify_path(
    leaf: &Certificate,
    intermediates: &[Certificate],
    authorities: &[CertificateAuthority],
    at: i64,
) -> Result<Vec<Certificate>, CertError> {
    if intermediates.len() > MAX_CERTS {
        return Err(CertError::Malformed(format!(
            "more than {MAX_CERTS} intermediates"
        )));
    }
    check_extensions(leaf)?;
    check_time(leaf, at, "leaf certificate")?;
    let mut budget = MAX_SIGNATURE_CHECKS;
    let mut best: Option<(u8, CertError)> = None;
    for authority in authorities {
        if authority.chain.len() > MAX_CERTS {
            best.get_or_insert((0, malformed("certificate authority chain too long")));
            continue;
        }
        let chain = match authority
            .chain
            .iter()
            .map(|d| Certificate::from_der(d))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(c) => c,
            Err(e) => {
                best.get_or_insert((0, e));
                continue;
            }
        };
        let Some((anchor, ca_intermediates)) = chain.split_last() else {
            continue;
        };
        let pool: Vec<&Certificate> = intermediates
            .iter()
            .chain(ca_intermediates)
            .filter(|c| *c != anchor)
            .collect();
        let mut search = PathSearch {
            pool,
            anchor,
            at,
            budget,
            error: None,
        };
        let mut path = vec![leaf];
        let found = search.extend(&mut path);
        budget = search.budget;
        if found {
            let inside = authority.valid_from.is_none_or(|f| f <= at)
                && authority.valid_to.is_none_or(|e| at <= e);
            if inside {
                return Ok(path.into_iter().cloned().collect());
            }
            search.note(CertError::NotValidAt {
                which: format!(
                    "certificate authority {} (validity window)",
                    anchor.describe()
                ),
                t: at,
            });
        }
        if let Some((rank, e)) = search.error
            && best.as_ref().is_none_or(|(r, _)| rank > *r)
        {
            best = Some((rank, e));
        }
    }
    Err(best.map(|(_, e)| e).unwrap_or(CertError::NoPathToRoot))
}

/// Requires the leaf's extendedKeyUsage to list codeSigning (1.3.6.1.5.5.7.3.3) explicitly, as
/// Fulcio certificates do. A leaf without extendedKeyUsage is refused; see
/// [`check_code_signing_or_unrestricted`] for the Go (x509.Verify) reading.
pub fn check_code_signing(leaf: &Certificate) -> Result<(), CertError> {
    match leaf.decode_extension::<ExtendedKeyUsage>(&OID_EXT_KEY_USAGE)? {
        Some(eku) if eku.0.contains(&OID_CODE_SIGNING) => Ok(()),
        _ => Err(CertError::NoCodeSigning),
    }
}

/// Go's `x509.Verify` reading of codeSigning, which containers/image uses for private PKI
/// certificates: a leaf *without* extendedKeyUsage is unrestricted, and anyExtendedKeyUsage
/// also allows code signing; otherwise codeSigning must be listed.
pub fn check_code_signing_or_unrestricted(leaf: &Certificate) -> Result<(), CertError> {
    match leaf.decode_extension::<ExtendedKeyUsage>(&OID_EXT_KEY_USAGE)? {
        None => Ok(()),
        Some(eku) if eku.0.contains(&OID_CODE_SIGNING) || eku.0.contains(&OID_ANY_EKU) => Ok(()),
        Some(_) => Err(CertError::NoCodeSigning),
    }
}

/// The chain rule of Go's `x509.Verify` with codeSigning requested (sigstore-go relies on
/// it), for the certificates above the leaf (`issuers`: intermediates and anchor): one that
/// carries extendedKeyUsage must list codeSigning or anyExtendedKeyUsage; one without the
/// extension does not restrict the chain.
pub fn check_issuers_allow_code_signing(issuers: &[Certificate]) -> Result<(), CertError> {
    for c in issuers {
        if let Some(eku) = c.decode_extension::<ExtendedKeyUsage>(&OID_EXT_KEY_USAGE)?
            && !eku.0.contains(&OID_CODE_SIGNING)
            && !eku.0.contains(&OID_ANY_EKU)
        {
            return Err(CertError::IssuerNoCodeSigning(c.describe()));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Signed certificate timestamps (RFC 6962 §3.2, precertificate entries).

/// One SCT from the embedded list.
struct Sct<'a> {
    log_id: &'a [u8],
    timestamp_ms: u64,
    extensions: &'a [u8],
    hash_alg: u8,
    sig_alg: u8,
    signature: &'a [u8],
}

/// A bounds-checked reader of TLS presentation-language data.
struct TlsReader<'a>(&'a [u8]);

impl<'a> TlsReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CertError> {
        let (head, rest) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| CertError::BadSct("truncated SCT data".into()))?;
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, CertError> {
        Ok(self.take(1)?.iter().fold(0, |_, &b| b))
    }

    fn u16(&mut self) -> Result<usize, CertError> {
        Ok(self
            .take(2)?
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b)))
    }

    fn u64(&mut self) -> Result<u64, CertError> {
        Ok(self
            .take(8)?
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }

    /// An opaque vector with a 2-byte length.
    fn vec16(&mut self) -> Result<&'a [u8], CertError> {
        let n = self.u16()?;
        self.take(n)
    }
}

/// Parses a TLS `SignedCertificateTimestampList` strictly.
fn parse_sct_list(data: &[u8]) -> Result<Vec<Sct<'_>>, CertError> {
    let mut outer = TlsReader(data);
    let mut list = TlsReader(outer.vec16()?);
    if !outer.0.is_empty() {
        return Err(CertError::BadSct("trailing data after the SCT list".into()));
    }
    let mut out = Vec::new();
    while !list.0.is_empty() {
        if out.len() >= MAX_SCTS {
            return Err(CertError::BadSct(format!("more than {MAX_SCTS} SCTs")));
        }
        let mut r = TlsReader(list.vec16()?);
        let version = r.u8()?;
        if version != 0 {
            return Err(CertError::BadSct(format!(
                "unsupported SCT version {version}"
            )));
        }
        let sct = Sct {
            log_id: r.take(32)?,
            timestamp_ms: r.u64()?,
            extensions: r.vec16()?,
            hash_alg: r.u8()?,
            sig_alg: r.u8()?,
            signature: r.vec16()?,
        };
        if !r.0.is_empty() {
            return Err(CertError::BadSct("trailing data in an SCT".into()));
        }
        out.push(sct);
    }
    Ok(out)
}

/// Verifies one SCT signature with one log key.
fn verify_sct(
    sct: &Sct<'_>,
    key: &PublicKey,
    issuer_key_hash: &[u8],
    tbs: &[u8],
) -> Result<(), CertError> {
    let hash = match sct.hash_alg {
        4 => "sha256",
        5 => "sha384",
        other => {
            return Err(CertError::BadSct(format!(
                "unsupported hash algorithm {other}"
            )));
        }
    };
    let family_ok = matches!(
        (sct.sig_alg, key),
        (3, PublicKey::P256(_) | PublicKey::P384(_)) | (1, PublicKey::Rsa(_))
    );
    if !family_ok {
        return Err(CertError::BadSct(format!(
            "signature algorithm {} does not match the log's {} key",
            sct.sig_alg,
            key.kind()
        )));
    }
    let tbs_len = u32::try_from(tbs.len())
        .ok()
        .filter(|n| *n < 1 << 24)
        .ok_or_else(|| CertError::BadSct("TBSCertificate too long".into()))?;
    let ext_len = u16::try_from(sct.extensions.len())
        .map_err(|_| CertError::BadSct("SCT extensions too long".into()))?;
    let mut msg = Vec::with_capacity(tbs.len() + sct.extensions.len() + 64);
    msg.push(0); // sct_version v1
    msg.push(0); // signature_type certificate_timestamp
    msg.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    msg.extend_from_slice(issuer_key_hash);
    msg.extend_from_slice(tbs_len.to_be_bytes().get(1..).unwrap_or_default());
    msg.extend_from_slice(tbs);
    msg.extend_from_slice(&ext_len.to_be_bytes());
    msg.extend_from_slice(sct.extensions);
    let digest = match hash {
        "sha384" => Sha384::digest(&msg).to_vec(),
        _ => Sha256::digest(&msg).to_vec(),
    };
    key.verify_digest(hash, &digest, sct.signature)
        .map_err(|_| {
            CertError::BadSct(format!(
                "signature from log {} does not verify",
                hex::encode(sct.log_id)
            ))
        })
}

/// Verifies the leaf's embedded SCTs (extension 1.3.6.1.4.1.11129.2.4.2) as RFC 6962
/// precertificate timestamps: the signed data is the leaf's TBSCertificate without the SCT
/// extension, bound to SHA-256 of `issuer`'s SubjectPublicKeyInfo. Each SCT's log is looked up by
/// log id among `ctlogs` (keys whose window, if bounded, covers the SCT time). Succeeds when at
/// least one SCT verifies; the list must parse completely.
///
/// Errors: [`CertError::NoSct`] without SCTs, [`CertError::UnknownCtLog`] when no SCT names a
/// trusted log, [`CertError::BadSct`] when the list is malformed or a trusted log's SCT does not
/// verify.
pub fn verify_embedded_scts(
    leaf: &Certificate,
    issuer: &Certificate,
    ctlogs: &[TrustedKey],
) -> Result<(), CertError> {
    let ext = leaf.extension(&OID_SCT_LIST).ok_or(CertError::NoSct)?;
    let (octets, rest) = read_tlv(ext.extn_value.as_bytes())
        .map_err(|_| CertError::BadSct("SCT extension is not an OCTET STRING".into()))?;
    if octets.tag != 0x04 || !rest.is_empty() {
        return Err(CertError::BadSct(
            "SCT extension is not an OCTET STRING".into(),
        ));
    }
    let scts = parse_sct_list(octets.content)?;
    if scts.is_empty() {
        return Err(CertError::NoSct);
    }
    let sct_oid = OID_SCT_LIST.as_bytes();
    let tbs = rebuild_tbs_extensions(leaf.tbs_der(), |exts| {
        let mut kept = Vec::with_capacity(exts.len());
        for e in exts {
            if extension_oid(e)? != sct_oid {
                kept.push(e.to_vec());
            }
        }
        Ok(kept)
    })?;
    let issuer_key_hash = Sha256::digest(issuer.spki_der()?);
    let mut failure = None;
    for sct in &scts {
        let Ok(seconds) = i64::try_from(sct.timestamp_ms / 1000) else {
            continue;
        };
        for log in ctlogs
            .iter()
            .filter(|k| k.log_id == sct.log_id && k.valid_at(seconds))
        {
            match verify_sct(sct, &log.key, &issuer_key_hash, &tbs) {
                Ok(()) => return Ok(()),
                Err(e) => failure = Some(e),
            }
        }
    }
    Err(failure.unwrap_or(CertError::UnknownCtLog))
}

// ---------------------------------------------------------------------------------------------
// Identity.

/// A subject alternative name of the leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    /// rfc822Name.
    Email(String),
    /// uniformResourceIdentifier (GitHub Actions workflow identities).
    Uri(String),
    /// dNSName.
    Dns(String),
    /// iPAddress, in the usual text form.
    Ip(String),
    /// Fulcio's username OtherName (1.3.6.1.4.1.57264.1.7, a UTF8String).
    OtherName(String),
}

impl San {
    /// The name's value as text.
    pub fn as_str(&self) -> &str {
        match self {
            San::Email(s) | San::Uri(s) | San::Dns(s) | San::Ip(s) | San::OtherName(s) => s,
        }
    }
}

/// Who a keyless certificate was issued to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// The OIDC issuer: Fulcio extension 1.3.6.1.4.1.57264.1.8 (DER UTF8String), or else the
    /// deprecated 1.3.6.1.4.1.57264.1.1 (raw string bytes).
    pub issuer: Option<String>,
    /// The subject alternative names (email, URI, DNS, IP, Fulcio username), in order.
    /// Directory names, EDI party names, registered IDs and other OtherName types are omitted.
    pub sans: Vec<San>,
}

/// Reads the identity of a (Fulcio or PKI) leaf certificate. A malformed issuer extension or SAN
/// is an error, never silently skipped.
pub fn identity(leaf: &Certificate) -> Result<Identity, CertError> {
    let issuer = if let Some(e) = leaf.extension(&OID_FULCIO_ISSUER_V2) {
        let s = Utf8StringRef::from_der(e.extn_value.as_bytes())
            .map_err(|err| CertError::Malformed(format!("issuer extension (v2): {err}")))?;
        Some(s.as_str().to_string())
    } else if let Some(e) = leaf.extension(&OID_FULCIO_ISSUER_V1) {
        let s = std::str::from_utf8(e.extn_value.as_bytes())
            .map_err(|_| malformed("issuer extension (v1) is not UTF-8"))?;
        Some(s.to_string())
    } else {
        None
    };
    let mut sans = Vec::new();
    if let Some(SubjectAltName(names)) = leaf.decode_extension(&OID_SUBJECT_ALT_NAME)? {
        for name in names {
            match name {
                GeneralName::Rfc822Name(s) => sans.push(San::Email(s.to_string())),
                GeneralName::UniformResourceIdentifier(s) => sans.push(San::Uri(s.to_string())),
                GeneralName::DnsName(s) => sans.push(San::Dns(s.to_string())),
                GeneralName::IpAddress(o) => {
                    let ip = match o.as_bytes() {
                        b if b.len() == 4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
                        b if b.len() == 16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    let ip = ip.ok_or_else(|| malformed("IP address SAN of bad length"))?;
                    sans.push(San::Ip(ip.to_string()));
                }
                GeneralName::OtherName(other) if other.type_id == OID_FULCIO_USERNAME => {
                    let s = Utf8StringRef::try_from(&other.value)
                        .map_err(|e| CertError::Malformed(format!("username SAN: {e}")))?;
                    sans.push(San::OtherName(s.as_str().to_string()));
                }
                _ => {}
            }
        }
    }
    Ok(Identity { issuer, sans })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde_json::Value;

    const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/cosign");
    /// Rekor integrated time (SET) of `dir-img-cosign-fulcio-rekor-valid`.
    const SET_TIME: i64 = 1674247893;
    /// Rekor integrated time of `bundle_v03.json`.
    const BUNDLE_TIME: i64 = 1775719409;

    fn read(path: &str) -> String {
        std::fs::read_to_string(format!("{VECTORS}/{path}")).unwrap()
    }

    fn fixture(name: &str) -> String {
        read(&format!("containers-image/signature/fixtures/{name}"))
    }

    fn certs(text: &str) -> Vec<Certificate> {
        Certificate::parse_pem_chain(text).unwrap()
    }

    /// The leaf and chain annotations of a containers/image `dir:` signature file.
    fn signature_certs(dir: &str) -> (Certificate, Vec<Certificate>) {
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

    fn authority(certs: &[Certificate]) -> CertificateAuthority {
        CertificateAuthority {
            chain: certs.iter().map(|c| c.der().to_vec()).collect(),
            valid_from: None,
            valid_to: None,
        }
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn rfc3339(s: &str) -> i64 {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    }

    fn window(v: &Value) -> (Option<i64>, Option<i64>) {
        (
            v["start"].as_str().map(rfc3339),
            v["end"].as_str().map(rfc3339),
        )
    }

    /// Fulcio CAs and CT logs of the public-good `trusted_root.json`.
    fn prod_root() -> (Vec<CertificateAuthority>, Vec<TrustedKey>) {
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

    fn bundle_leaf() -> Certificate {
        let j: Value =
            serde_json::from_str(&read("sigstore-rs/tests/data/bundle_v03.json")).unwrap();
        let raw = j["verificationMaterial"]["certificate"]["rawBytes"]
            .as_str()
            .unwrap();
        Certificate::from_der(&B64.decode(raw).unwrap()).unwrap()
    }

    /// `cert` with its TBSCertificate replaced (the signature is kept, so it no longer verifies).
    fn with_tbs(cert: &Certificate, tbs: &[u8]) -> Certificate {
        let (outer, _) = read_tlv(cert.der()).unwrap();
        let parts = children(outer.content).unwrap();
        let mut content = tbs.to_vec();
        for p in &parts[1..] {
            content.extend_from_slice(p.all);
        }
        Certificate::from_der(&der_element(0x30, &content)).unwrap()
    }

    /// `cert` with TBS field `index` replaced by `field`.
    fn with_tbs_field(cert: &Certificate, index: usize, field: &[u8]) -> Certificate {
        let fields = tbs_fields(cert.tbs_der()).unwrap();
        let mut content = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            content.extend_from_slice(if i == index { field } else { f.all });
        }
        with_tbs(cert, &der_element(0x30, &content))
    }

    /// `cert` with its extension list edited.
    fn with_extensions(
        cert: &Certificate,
        edit: impl FnOnce(Vec<&[u8]>) -> Vec<Vec<u8>>,
    ) -> Certificate {
        let tbs = rebuild_tbs_extensions(cert.tbs_der(), |e| Ok(edit(e))).unwrap();
        with_tbs(cert, &tbs)
    }

    fn extension(oid: &ObjectIdentifier, critical: bool, value: &[u8]) -> Vec<u8> {
        let mut content = der_element(0x06, oid.as_bytes());
        if critical {
            content.extend_from_slice(&[0x01, 0x01, 0xff]);
        }
        content.extend(der_element(0x04, value));
        der_element(0x30, &content)
    }

    fn is_not_valid_at(r: Result<Vec<Certificate>, CertError>, what: &str, at: i64) -> bool {
        matches!(r, Err(CertError::NotValidAt { which, t }) if which.contains(what) && t == at)
    }

    #[test]
    fn fulcio_legacy_path_is_valid_at_the_set_time() {
        let (leaf, chain) = signature_certs("dir-img-cosign-fulcio-rekor-valid");
        let root = certs(&fixture("fulcio_v1.crt.pem"));
        assert_eq!(root.len(), 1);
        assert_eq!(chain.len(), 2);
        assert_eq!(
            chain[1], root[0],
            "the annotation ends with the public-good root"
        );
        assert_eq!(leaf.not_before(), 1674247891); // 2023-01-20T20:51:31Z
        assert_eq!(leaf.not_after(), 1674248491); // ten minutes later
        let path = verify_path(&leaf, &chain, &[authority(&root)], SET_TIME).unwrap();
        assert_eq!(path.len(), 3);
        assert_eq!(path[0], leaf);
        assert_eq!(path[1], chain[0]);
        assert!(path[1].subject_string().contains("sigstore-intermediate"));
        assert_eq!(path[2], root[0]);
        // The leaf key is P-256, the intermediate signs with P-384 / SHA-384.
        assert_eq!(leaf.public_key().unwrap().kind(), "ecdsa-p256");
        assert_eq!(path[1].public_key().unwrap().kind(), "ecdsa-p384");
    }

    #[test]
    fn fulcio_legacy_path_is_not_valid_outside_the_leaf_validity() {
        let (leaf, chain) = signature_certs("dir-img-cosign-fulcio-rekor-valid");
        let cas = [authority(&certs(&fixture("fulcio_v1.crt.pem")))];
        for at in [
            now(),
            SET_TIME + 3600,
            leaf.not_before() - 1,
            leaf.not_after() + 1,
        ] {
            assert!(
                is_not_valid_at(verify_path(&leaf, &chain, &cas, at), "leaf", at),
                "{at}"
            );
        }
        assert!(verify_path(&leaf, &chain, &cas, leaf.not_after()).is_ok());
        assert!(verify_path(&leaf, &chain, &cas, leaf.not_before()).is_ok());
    }

    #[test]
    fn fulcio_legacy_intermediate_from_annotation_or_configuration() {
        let (leaf, chain) = signature_certs("dir-img-cosign-fulcio-rekor-valid");
        let root = certs(&fixture("fulcio_v1.crt.pem"));
        assert_eq!(
            verify_path(&leaf, &[], &[authority(&root)], SET_TIME),
            Err(CertError::NoPathToRoot)
        );
        // The annotation's intermediate + root configured as the CA.
        let path = verify_path(&leaf, &[], &[authority(&chain)], SET_TIME).unwrap();
        assert_eq!(path.len(), 3);
        assert_eq!(path[2], chain[1]);
        // An intermediate trusted directly is an anchor too.
        let path = verify_path(&leaf, &[], &[authority(&chain[..1])], SET_TIME).unwrap();
        assert_eq!(path, vec![leaf.clone(), chain[0].clone()]);
    }

    #[test]
    fn roots_supplied_by_the_signature_are_not_anchors() {
        let (leaf, chain) = signature_certs("dir-img-cosign-fulcio-rekor-valid");
        let pki_roots = certs(&fixture("pki_root_crts.pem"));
        assert_eq!(
            verify_path(&leaf, &chain, &[], SET_TIME),
            Err(CertError::NoPathToRoot)
        );
        assert_eq!(
            verify_path(&leaf, &chain, &[authority(&pki_roots)], SET_TIME),
            Err(CertError::NoPathToRoot)
        );
        // A leaf is not its own anchor either.
        let (pki_leaf, _) = signature_certs("dir-img-cosign-pki-valid");
        let self_only = [authority(std::slice::from_ref(&pki_leaf))];
        assert_eq!(
            verify_path(&pki_leaf, &[], &self_only, now()),
            Err(CertError::NoPathToRoot)
        );
    }

    #[test]
    fn authority_validity_window_must_cover_the_time() {
        let (leaf, chain) = signature_certs("dir-img-cosign-fulcio-rekor-valid");
        let root = certs(&fixture("fulcio_v1.crt.pem"));
        let mut ca = authority(&root);
        ca.valid_to = Some(SET_TIME - 1);
        let r = verify_path(&leaf, &chain, std::slice::from_ref(&ca), SET_TIME);
        assert!(is_not_valid_at(r, "certificate authority", SET_TIME));
        ca.valid_to = None;
        ca.valid_from = Some(SET_TIME + 1);
        let r = verify_path(&leaf, &chain, std::slice::from_ref(&ca), SET_TIME);
        assert!(is_not_valid_at(r, "certificate authority", SET_TIME));
        ca.valid_from = Some(SET_TIME);
        ca.valid_to = Some(SET_TIME);
        assert!(verify_path(&leaf, &chain, &[ca], SET_TIME).is_ok());
    }

    #[test]
    fn fulcio_identity_and_code_signing() {
        let (leaf, chain) = signature_certs("dir-img-cosign-fulcio-rekor-valid");
        // This leaf carries only the deprecated issuer extension (.1.1).
        assert!(leaf.extension(&OID_FULCIO_ISSUER_V2).is_none());
        assert_eq!(
            identity(&leaf).unwrap(),
            Identity {
                issuer: Some("https://github.com/login/oauth".into()),
                sans: vec![San::Email("mitr@redhat.com".into())],
            }
        );
        assert_eq!(check_code_signing(&leaf), Ok(()));
        assert_eq!(check_code_signing(&chain[1]), Err(CertError::NoCodeSigning));
        assert_eq!(identity(&chain[1]).unwrap(), Identity::default());
    }

    #[test]
    fn issuers_with_an_eku_must_allow_code_signing() {
        // Fulcio's intermediate lists codeSigning; its root has no extendedKeyUsage.
        let (_, chain) = signature_certs("dir-img-cosign-fulcio-rekor-valid");
        assert!(chain[0].extension(&OID_EXT_KEY_USAGE).is_some());
        assert!(chain[1].extension(&OID_EXT_KEY_USAGE).is_none());
        assert_eq!(check_issuers_allow_code_signing(&chain), Ok(()));
        let with_eku = |oids: &[&str]| {
            let oids: Vec<u8> = oids
                .iter()
                .flat_map(|o| der_element(0x06, ObjectIdentifier::new_unwrap(o).as_bytes()))
                .collect();
            let value = der_element(0x30, &oids);
            let eku = OID_EXT_KEY_USAGE.as_bytes();
            with_extensions(&chain[0], |exts| {
                exts.into_iter()
                    .map(|e| {
                        if extension_oid(e).unwrap() == eku {
                            extension(&OID_EXT_KEY_USAGE, false, &value)
                        } else {
                            e.to_vec()
                        }
                    })
                    .collect()
            })
        };
        let server_auth = with_eku(&["1.3.6.1.5.5.7.3.1"]);
        assert!(matches!(
            check_issuers_allow_code_signing(&[server_auth, chain[1].clone()]),
            Err(CertError::IssuerNoCodeSigning(_))
        ));
        for ok in [
            vec!["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.3"],
            vec!["2.5.29.37.0"],
        ] {
            let inter = with_eku(&ok);
            assert_eq!(check_issuers_allow_code_signing(&[inter]), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn fulcio_unit_fixtures() {
        let leaf = certs(&fixture("fulcio-cert"));
        let chain = certs(&fixture("fulcio-chain"));
        let root = certs(&fixture("fulcio_v1.crt.pem"));
        assert_eq!(leaf.len(), 1);
        let rekor_cert = certs(&read(
            "containers-image/signature/internal/testdata/rekor-cert",
        ));
        assert_eq!(leaf, rekor_cert);
        let leaf = &leaf[0];
        let at = 1670870899;
        let path = verify_path(leaf, &chain, &[authority(&root)], at).unwrap();
        assert_eq!(path.len(), 3);
        assert_eq!(
            verify_path(leaf, &[], &[authority(&root)], at),
            Err(CertError::NoPathToRoot)
        );
        let id = identity(leaf).unwrap();
        assert_eq!(id.issuer.as_deref(), Some("https://github.com/login/oauth"));
        assert_eq!(
            id.sans.iter().map(San::as_str).collect::<Vec<_>>(),
            ["mitr@redhat.com"]
        );
        // The returned key is the certificate's: it verifies rekor-sig over rekor-payload.
        let key = path[0].public_key().unwrap();
        let sig = B64
            .decode(read("containers-image/signature/internal/testdata/rekor-sig").trim())
            .unwrap();
        let payload = read("containers-image/signature/internal/testdata/rekor-payload");
        assert!(key.verify(payload.as_bytes(), &sig).is_ok());
        assert!(key.verify(b"this payload does not match", &sig).is_err());
        // Unparsable inputs.
        assert!(matches!(
            Certificate::parse_pem_chain("not a certificate"),
            Err(CertError::Malformed(_))
        ));
        let junk = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            Certificate::parse_pem_chain(junk),
            Err(CertError::Malformed(_))
        ));
        assert!(matches!(
            Certificate::from_der(b"garbage"),
            Err(CertError::Malformed(_))
        ));
        let mut trailing = leaf.der().to_vec();
        trailing.push(0);
        assert!(matches!(
            Certificate::from_der(&trailing),
            Err(CertError::Malformed(_))
        ));
        let mut truncated = leaf.der().to_vec();
        truncated.pop();
        assert!(matches!(
            Certificate::from_der(&truncated),
            Err(CertError::Malformed(_))
        ));
    }

    #[test]
    fn pki_paths() {
        let (leaf, chain) = signature_certs("dir-img-cosign-pki-valid");
        let roots = certs(&fixture("pki_root_crts.pem"));
        let intermediates = certs(&fixture("pki_intermediate_crts.pem"));
        let cas = [authority(&roots)];
        assert_eq!(leaf.public_key().unwrap().kind(), "rsa");
        let path = verify_path(&leaf, &intermediates, &cas, now()).unwrap();
        assert_eq!(path.len(), 3);
        assert_eq!(path[1], intermediates[0]);
        assert_eq!(path[2], roots[0]);
        assert_eq!(
            verify_path(&leaf, &[], &cas, now()),
            Err(CertError::NoPathToRoot)
        );
        assert_eq!(verify_path(&leaf, &chain, &cas, now()).unwrap().len(), 3);
        // Before the PKI existed (2024-10-01).
        assert!(is_not_valid_at(
            verify_path(&leaf, &intermediates, &cas, SET_TIME),
            "leaf",
            SET_TIME
        ));
        // The unit fixtures hold the same certificate.
        let pki_cert = certs(&fixture("pki-cert"));
        assert_eq!(pki_cert, vec![leaf.clone()]);
        let pki_chain = certs(&fixture("pki-chain"));
        assert!(verify_path(&pki_cert[0], &pki_chain, &cas, now()).is_ok());
        assert_eq!(
            identity(&leaf).unwrap(),
            Identity {
                issuer: None,
                sans: vec![
                    San::Email("qiwan@redhat.com".into()),
                    San::Dns("myhost.example.com".into())
                ],
            }
        );
        // No extendedKeyUsage at all: refused by the strict check, unrestricted for Go.
        assert_eq!(check_code_signing(&leaf), Err(CertError::NoCodeSigning));
        assert_eq!(check_code_signing_or_unrestricted(&leaf), Ok(()));
        assert_eq!(
            verify_embedded_scts(&leaf, &intermediates[0], &[]),
            Err(CertError::NoSct)
        );
    }

    #[test]
    fn bundle_leaf_path_identity_and_sct() {
        let (cas, ctlogs) = prod_root();
        assert_eq!((cas.len(), ctlogs.len()), (2, 2));
        let leaf = bundle_leaf();
        let path = verify_path(&leaf, &[], &cas, BUNDLE_TIME).unwrap();
        assert_eq!(path.len(), 3);
        assert_eq!(path[2].der(), cas[1].chain[1].as_slice());
        assert!(is_not_valid_at(
            verify_path(&leaf, &[], &cas, now()),
            "leaf",
            now()
        ));
        assert_eq!(verify_embedded_scts(&leaf, &path[1], &ctlogs), Ok(()));
        assert_eq!(check_code_signing(&leaf), Ok(()));
        let id = identity(&leaf).unwrap();
        assert_eq!(
            id.issuer.as_deref(),
            Some("https://token.actions.githubusercontent.com")
        );
        assert!(leaf.extension(&OID_FULCIO_ISSUER_V2).is_some());
        assert_eq!(
            id.sans,
            vec![San::Uri(
                "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0"
                    .into()
            )]
        );
    }

    #[test]
    fn sct_failures() {
        let (cas, ctlogs) = prod_root();
        let leaf = bundle_leaf();
        let issuer = Certificate::from_der(&cas[1].chain[0]).unwrap();
        assert_eq!(verify_embedded_scts(&leaf, &issuer, &ctlogs), Ok(()));
        // One byte of the TBS changed (inside the SAN URI).
        let mut der = leaf.der().to_vec();
        let at = der.windows(10).position(|w| w == b"kubewarden").unwrap();
        assert!(at < leaf.tbs.end);
        der[at] = b'j';
        let tampered = Certificate::from_der(&der).unwrap();
        assert!(matches!(
            verify_embedded_scts(&tampered, &issuer, &ctlogs),
            Err(CertError::BadSct(_))
        ));
        // The wrong issuer key hash.
        let root = Certificate::from_der(&cas[1].chain[1]).unwrap();
        assert!(matches!(
            verify_embedded_scts(&leaf, &root, &ctlogs),
            Err(CertError::BadSct(_))
        ));
        // No CT logs, or the right log only outside its validity window.
        assert_eq!(
            verify_embedded_scts(&leaf, &issuer, &[]),
            Err(CertError::UnknownCtLog)
        );
        let expired: Vec<TrustedKey> = ctlogs
            .iter()
            .map(|k| TrustedKey {
                valid_to: Some(BUNDLE_TIME - 86400),
                ..k.clone()
            })
            .collect();
        assert_eq!(
            verify_embedded_scts(&leaf, &issuer, &expired),
            Err(CertError::UnknownCtLog)
        );
        // A different key under the right log id.
        let other = PublicKey::from_pem(&fixture("cosign.pub")).unwrap();
        let impostor: Vec<TrustedKey> = ctlogs
            .iter()
            .map(|k| TrustedKey {
                key: other.clone(),
                ..k.clone()
            })
            .collect();
        assert!(matches!(
            verify_embedded_scts(&leaf, &issuer, &impostor),
            Err(CertError::BadSct(_))
        ));
    }

    #[test]
    fn legacy_fulcio_leaves_scts() {
        let (_, ctlogs) = prod_root();
        let (leaf, chain) = signature_certs("dir-img-cosign-fulcio-rekor-valid");
        assert_eq!(verify_embedded_scts(&leaf, &chain[0], &ctlogs), Ok(()));
        let unit_leaf = certs(&fixture("fulcio-cert"));
        let unit_chain = certs(&fixture("fulcio-chain"));
        assert_eq!(
            verify_embedded_scts(&unit_leaf[0], &unit_chain[0], &ctlogs),
            Ok(())
        );
        // Only the /test log (not the 2022 log that signed): unknown.
        let test_log: Vec<TrustedKey> = ctlogs
            .into_iter()
            .filter(|k| k.valid_to.is_some())
            .collect();
        assert_eq!(test_log.len(), 1);
        assert_eq!(
            verify_embedded_scts(&leaf, &chain[0], &test_log),
            Err(CertError::UnknownCtLog)
        );
    }

    #[test]
    fn sct_list_parsing_is_strict() {
        let leaf = bundle_leaf();
        let ext = leaf.extension(&OID_SCT_LIST).unwrap();
        let (octets, _) = read_tlv(ext.extn_value.as_bytes()).unwrap();
        let list = octets.content;
        assert_eq!(parse_sct_list(list).unwrap().len(), 1);
        assert!(matches!(
            parse_sct_list(&list[..list.len() - 1]),
            Err(CertError::BadSct(_))
        ));
        let mut longer = list.to_vec();
        longer.push(0);
        assert!(matches!(parse_sct_list(&longer), Err(CertError::BadSct(_))));
        assert!(parse_sct_list(&[0, 0]).unwrap().is_empty());
        assert!(matches!(parse_sct_list(&[]), Err(CertError::BadSct(_))));
        // Precertificate TBS: only the SCT extension goes, all other bytes stay.
        let tbs = rebuild_tbs_extensions(leaf.tbs_der(), |e| {
            Ok(e.into_iter()
                .filter(|x| extension_oid(x).unwrap() != OID_SCT_LIST.as_bytes())
                .map(|x| x.to_vec())
                .collect())
        })
        .unwrap();
        let without = with_tbs(&leaf, &tbs);
        assert!(without.extension(&OID_SCT_LIST).is_none());
        assert_eq!(
            without
                .parsed
                .tbs_certificate
                .extensions
                .as_ref()
                .unwrap()
                .len(),
            leaf.parsed
                .tbs_certificate
                .extensions
                .as_ref()
                .unwrap()
                .len()
                - 1
        );
        assert_eq!(
            without.parsed.tbs_certificate.subject,
            leaf.parsed.tbs_certificate.subject
        );
        assert_eq!(
            verify_embedded_scts(&without, &leaf, &[]),
            Err(CertError::NoSct)
        );
    }

    #[test]
    fn unhandled_critical_extension_in_the_leaf() {
        let (leaf, chain) = signature_certs("dir-img-cosign-fulcio-rekor-valid");
        let cas = [authority(&certs(&fixture("fulcio_v1.crt.pem")))];
        let issuer_v1 = OID_FULCIO_ISSUER_V1.as_bytes();
        let critical = with_extensions(&leaf, |exts| {
            exts.into_iter()
                .map(|e| {
                    if extension_oid(e).unwrap() == issuer_v1 {
                        extension(
                            &OID_FULCIO_ISSUER_V1,
                            true,
                            b"https://github.com/login/oauth",
                        )
                    } else {
                        e.to_vec()
                    }
                })
                .collect()
        });
        assert!(critical.extension(&OID_FULCIO_ISSUER_V1).unwrap().critical);
        assert!(matches!(
            verify_path(&critical, &chain, &cas, SET_TIME),
            Err(CertError::UnhandledCriticalExtension(_))
        ));
        // The same edit without the critical flag only breaks the issuer's signature.
        let plain = with_extensions(&leaf, |exts| exts.into_iter().map(<[u8]>::to_vec).collect());
        assert_eq!(plain, leaf);
        let renamed = with_extensions(&leaf, |exts| {
            exts.into_iter()
                .map(|e| {
                    if extension_oid(e).unwrap() == issuer_v1 {
                        extension(&OID_FULCIO_ISSUER_V1, false, b"https://example.com")
                    } else {
                        e.to_vec()
                    }
                })
                .collect()
        });
        assert!(matches!(
            verify_path(&renamed, &chain, &cas, SET_TIME),
            Err(CertError::BadCertSignature(_))
        ));
    }

    #[test]
    fn anchor_and_intermediate_checks() {
        let (leaf, chain) = signature_certs("dir-img-cosign-fulcio-rekor-valid");
        let root = certs(&fixture("fulcio_v1.crt.pem")).remove(0);
        let run = |anchor: &Certificate| {
            verify_path(
                &leaf,
                &chain[..1],
                &[authority(std::slice::from_ref(anchor))],
                SET_TIME,
            )
        };
        assert!(run(&root).is_ok());
        // Anchors' own signatures are not checked, so edited anchors still sign the intermediate.
        let constrained = with_extensions(&root, |mut e| {
            let nc = extension(&OID_NAME_CONSTRAINTS, true, &[0x30, 0x00]);
            let mut out: Vec<Vec<u8>> = e.drain(..).map(<[u8]>::to_vec).collect();
            out.push(nc);
            out
        });
        assert!(matches!(
            run(&constrained),
            Err(CertError::NameConstraints(_))
        ));
        let unknown = ObjectIdentifier::new_unwrap("1.2.3.4");
        let odd = with_extensions(&root, |e| {
            let mut out: Vec<Vec<u8>> = e.into_iter().map(<[u8]>::to_vec).collect();
            out.push(extension(&unknown, true, &[0x05, 0x00]));
            out
        });
        assert!(matches!(
            run(&odd),
            Err(CertError::UnhandledCriticalExtension(_))
        ));
        let bc = OID_BASIC_CONSTRAINTS.as_bytes();
        let not_ca = with_extensions(&root, |e| {
            e.into_iter()
                .filter(|x| extension_oid(x).unwrap() != bc)
                .map(<[u8]>::to_vec)
                .collect()
        });
        assert!(matches!(run(&not_ca), Err(CertError::NotCa(_))));
        let ku = OID_KEY_USAGE.as_bytes();
        let no_cert_sign = with_extensions(&root, |e| {
            e.into_iter()
                .map(|x| {
                    if extension_oid(x).unwrap() == ku {
                        // keyUsage: digitalSignature only.
                        extension(&OID_KEY_USAGE, true, &[0x03, 0x02, 0x07, 0x80])
                    } else {
                        x.to_vec()
                    }
                })
                .collect()
        });
        assert!(matches!(run(&no_cert_sign), Err(CertError::NotCa(_))));
        // Anchor expired before the signing time (validity is TBS field 4, after the version).
        let mut validity = der_element(0x17, b"211007135659Z");
        validity.extend(der_element(0x17, b"220101000000Z"));
        let expired = with_tbs_field(&root, 4, &der_element(0x30, &validity));
        assert_eq!(expired.not_after(), 1640995200);
        assert!(is_not_valid_at(run(&expired), "trust anchor", SET_TIME));
        // A tampered intermediate (serial number changed) no longer verifies under the root.
        let fields = tbs_fields(chain[0].tbs_der()).unwrap();
        let mut serial = fields[1].all.to_vec();
        *serial.last_mut().unwrap() ^= 1;
        let forged = with_tbs_field(&chain[0], 1, &serial);
        let r = verify_path(
            &leaf,
            &[forged],
            &[authority(std::slice::from_ref(&root))],
            SET_TIME,
        );
        assert!(matches!(r, Err(CertError::BadCertSignature(_))), "{r:?}");
    }

    #[test]
    fn der_lengths_round_trip() {
        for len in [
            0usize, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xff_ffff,
        ] {
            let content = vec![0u8; len];
            let element = der_element(0x04, &content);
            let (t, rest) = read_tlv(&element).unwrap();
            assert_eq!((t.tag, t.content.len(), rest.len()), (0x04, len, 0));
        }
        // Non-minimal and indefinite lengths, high tag numbers, truncation.
        for bad in [
            &[0x04, 0x81, 0x01, 0x00][..],
            &[0x04, 0x80],
            &[0x1f, 0x01, 0x00],
            &[0x04, 0x02, 0x00],
            &[0x04, 0x82, 0x00, 0x80],
        ] {
            assert!(read_tlv(bad).is_err(), "{bad:?}");
        }
    }
}
