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

mod der_walk;
#[cfg(test)]
mod fixtures;
mod identity;
mod path;
mod sct;

pub use identity::{Identity, San, identity};
pub use path::{
    check_code_signing, check_code_signing_or_unrestricted, check_issuers_allow_code_signing,
    verify_path,
};
pub use sct::verify_embedded_scts;

use std::fmt;

use der::Decode;
use der::asn1::ObjectIdentifier;
use x509_cert::ext::Extension;

use super::pubkey::{PublicKey, pem_blocks};
use der_walk::{header_len, read_tlv, tbs_fields};
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

    /// Whether the certificate names itself as its issuer (a root, or a self-issued key).
    pub fn is_self_signed(&self) -> bool {
        let tbs = &self.parsed.tbs_certificate;
        tbs.subject == tbs.issuer
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

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;

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
}
