//! RFC 3161 timestamps: a timestamp authority's signed statement that some bytes (for cosign,
//! the raw signature) existed at a time. Bundles carry them in
//! `timestampVerificationData.rfc3161Timestamps[].signedTimestamp`, legacy `.sig` layers in the
//! `dev.sigstore.cosign/rfc3161timestamp` annotation. Rekor v2 entries have no signed entry
//! timestamp, so for them this is where the trusted signing time comes from.
//!
//! [`verify`] checks, all on the same token:
//! * the response status is granted (0) or grantedWithMods (1), and the token is CMS
//!   SignedData holding a `TSTInfo` (id-ct-TSTInfo) with exactly one signer;
//! * the `messageImprint` is the SHA-256/384/512 of the bytes the caller says were stamped;
//! * the signed attributes name id-ct-TSTInfo as content type, carry the digest of the exact
//!   `TSTInfo` bytes, and an ESS signing-certificate(-v2) attribute whose first hash is that of
//!   the signing certificate;
//! * the signature over the signed attributes verifies with the signing certificate's key
//!   (ECDSA P-256/P-384, RSA PKCS#1 v1.5; SHA-256/384/512);
//! * the signing certificate (from the token, else the authority's own chain) chains to a
//!   trusted timestamp authority valid at `genTime`, with every certificate on the path valid
//!   then, and lists timeStamping in extendedKeyUsage.
//!
//! The result is `genTime`, whole unix seconds (fractions dropped).

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Encode, Reader, Tagged};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::ext::pkix::ExtendedKeyUsage;

use super::cert::{
    self, Certificate, OID_BASIC_CONSTRAINTS, OID_ECDSA_SHA256, OID_ECDSA_SHA384, OID_ECDSA_SHA512,
    OID_EXT_KEY_USAGE, OID_RSA_SHA256, OID_RSA_SHA384, OID_RSA_SHA512,
};
use super::pubkey::{OID_EC, OID_RSA};
use super::trust_root::CertificateAuthority;

/// Largest timestamp response accepted.
pub const MAX_TIMESTAMP_BYTES: usize = 64 << 10;

const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const OID_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_CERT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
const OID_SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const OID_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// Why a timestamp was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    /// Not a well-formed timestamp response or token.
    #[error("malformed timestamp: {0}")]
    Malformed(String),
    /// The authority did not grant the request.
    #[error("the timestamp response has status {0} (not granted)")]
    NotGranted(u32),
    /// The token stamps other bytes than the signature.
    #[error("the timestamp is for other bytes than this signature")]
    WrongImprint,
    /// Signed attributes, ESS certificate binding or the signature itself do not hold.
    #[error("the timestamp's signature does not verify: {0}")]
    BadSignature(String),
    /// The signing certificate is not a trusted timestamp authority at `genTime`.
    #[error("timestamp authority not trusted: {0}")]
    Untrusted(String),
}

fn malformed(why: impl std::fmt::Display) -> TsaError {
    TsaError::Malformed(why.to_string())
}

/// A digest algorithm this module computes.
#[derive(Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        match *oid {
            OID_SHA1 => Some(Hash::Sha1),
            OID_SHA256 => Some(Hash::Sha256),
            OID_SHA384 => Some(Hash::Sha384),
            OID_SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    /// SHA-256/384/512 only (SHA-1 is accepted only to name an ESS v1 certificate).
    fn sha2_from_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        Hash::from_oid(oid).filter(|h| !matches!(h, Hash::Sha1))
    }

    fn digest(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => {
                use sha1::Digest as _;
                sha1::Sha1::digest(bytes).to_vec()
            }
            Hash::Sha256 => Sha256::digest(bytes).to_vec(),
            Hash::Sha384 => Sha384::digest(bytes).to_vec(),
            Hash::Sha512 => Sha512::digest(bytes).to_vec(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "sha1",
            Hash::Sha256 => "sha256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "sha512",
        }
    }
}

/// The parts of a `TSTInfo` that matter here.
struct TstInfo {
    imprint_hash: Hash,
    imprint: Vec<u8>,
    gen_time: i64,
}

/// Verifies an RFC 3161 timestamp response (or a bare TimeStampToken) over `stamped` against
/// the trusted timestamp `authorities`; returns `genTime` in unix seconds.
pub fn verify(
    response: &[u8],
    stamped: &[u8],
    authorities: &[CertificateAuthority],
) -> Result<i64, TsaError> {
    if response.len() > MAX_TIMESTAMP_BYTES {
        return Err(malformed(format!(
            "larger than {MAX_TIMESTAMP_BYTES} bytes"
        )));
    }
    let token = token_of(response)?;
    let info = cms::content_info::ContentInfo::from_der(token).map_err(malformed)?;
    if info.content_type != OID_SIGNED_DATA {
        return Err(malformed("the token is not CMS SignedData"));
    }
    let signed: cms::signed_data::SignedData = info.content.decode_as().map_err(malformed)?;
    let encap = &signed.encap_content_info;
    if encap.econtent_type != OID_TST_INFO {
        return Err(malformed("the signed content is not a TSTInfo"));
    }
    let econtent = encap
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("the token carries no TSTInfo"))?;
    let tst_der = OctetStringRef::try_from(econtent)
        .map_err(malformed)?
        .as_bytes()
        .to_vec();
    let tst = parse_tst_info(&tst_der)?;
    if tst.imprint != tst.imprint_hash.digest(stamped) {
        return Err(TsaError::WrongImprint);
    }

    let signers = &signed.signer_infos.0;
    if signers.len() != 1 {
        return Err(malformed(format!(
            "{} signers (exactly one expected)",
            signers.len()
        )));
    }
    let signer = signers.get(0).ok_or_else(|| malformed("no signer"))?;
    let signed_attrs = raw_signed_attributes(token)?;
    let token_certs: Vec<Certificate> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => {
                c.to_der().ok().and_then(|d| Certificate::from_der(&d).ok())
            }
            _ => None,
        })
        .collect();

    // The signing certificate is pinned: an authority's chain starts with the TSA's own
    // certificate (as sigstore's trusted roots list it). Only an authority given as a lone CA
    // certificate accepts any timestamping certificate it issued (carried in the token).
    let mut last = TsaError::Untrusted(
        "no trusted timestamp authority's certificate signed this token".into(),
    );
    for authority in authorities {
        let Some(first) = authority
            .chain
            .first()
            .and_then(|d| Certificate::from_der(d).ok())
        else {
            continue;
        };
        let lone_ca = authority.chain.len() == 1 && is_ca(&first);
        let signing_cert = if lone_ca {
            match token_certs.iter().find(|c| names_signer(c, &signer.sid)) {
                Some(c) => c.clone(),
                None => continue,
            }
        } else if names_signer(&first, &signer.sid) {
            first
        } else {
            continue;
        };
        let checked = check_signed_attributes(signer, &tst_der, &signing_cert)
            .and_then(|()| check_signature(signer, &signed_attrs, &signing_cert))
            .and_then(|()| check_tsa_certificate(&signing_cert))
            .and_then(|()| {
                let single = std::slice::from_ref(authority);
                if authority.chain.len() == 1 && !lone_ca {
                    // A pinned certificate alone: its own validity and the window.
                    let inside = authority.valid_from.is_none_or(|f| f <= tst.gen_time)
                        && authority.valid_to.is_none_or(|e| tst.gen_time <= e);
                    if signing_cert.valid_at(tst.gen_time) && inside {
                        Ok(())
                    } else {
                        Err(TsaError::Untrusted(format!(
                            "the TSA certificate is not valid at genTime {}",
                            tst.gen_time
                        )))
                    }
                } else {
                    let intermediates: Vec<Certificate> = token_certs
                        .iter()
                        .filter(|c| **c != signing_cert)
                        .cloned()
                        .collect();
                    cert::verify_path(&signing_cert, &intermediates, single, tst.gen_time)
                        .map(|_| ())
                        .map_err(|e| TsaError::Untrusted(e.to_string()))
                }
            });
        match checked {
            Ok(()) => return Ok(tst.gen_time),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn is_ca(c: &Certificate) -> bool {
    c.decode_extension::<x509_cert::ext::pkix::BasicConstraints>(&OID_BASIC_CONSTRAINTS)
        .ok()
        .flatten()
        .is_some_and(|bc| bc.ca)
}

/// RFC 3161 §2.3: the TSA certificate has exactly one extended key usage, timeStamping, in a
/// critical extension, and is not a CA.
fn check_tsa_certificate(c: &Certificate) -> Result<(), TsaError> {
    let untrusted = |why: &str| TsaError::Untrusted(why.to_string());
    if is_ca(c) {
        return Err(untrusted("the TSA certificate is a CA certificate"));
    }
    let ext = c
        .x509()
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == OID_EXT_KEY_USAGE)
        .ok_or_else(|| untrusted("the TSA certificate has no extendedKeyUsage"))?;
    let eku = c
        .decode_extension::<ExtendedKeyUsage>(&OID_EXT_KEY_USAGE)
        .map_err(|e| TsaError::Untrusted(e.to_string()))?
        .unwrap_or(ExtendedKeyUsage(Vec::new()));
    if !ext.critical || eku.0 != [OID_TIME_STAMPING] {
        return Err(untrusted(
            "the TSA certificate's extendedKeyUsage must be critical and timeStamping only",
        ));
    }
    Ok(())
}

/// The exact bytes the signer signed: its `[0] IMPLICIT` signed attributes as received, with
/// the SET OF tag (0x31) in place of `[0]` (re-encoding a parsed set could reorder it).
fn raw_signed_attributes(token: &[u8]) -> Result<Vec<u8>, TsaError> {
    fn next<'a>(r: &mut der::SliceReader<'a>) -> der::Result<AnyRef<'a>> {
        r.decode()
    }
    AnyRef::from_der(token)
        .and_then(|ci| {
            ci.sequence(|r| {
                let _oid: ObjectIdentifier = r.decode()?;
                let explicit = next(r)?;
                let signed_data = AnyRef::from_der(explicit.value())?;
                let attrs = signed_data.sequence(|sd| {
                    let mut last = next(sd)?;
                    while !sd.is_finished() {
                        last = next(sd)?;
                    }
                    // `last` is signerInfos (a SET): its first SignerInfo (exactly one is
                    // accepted, checked on the parsed form).
                    let mut infos = der::SliceReader::new(last.value())?;
                    let info = next(&mut infos)?;
                    info.sequence(|si| {
                        let _version = next(si)?;
                        let _sid = next(si)?;
                        let _digest_alg = next(si)?;
                        let attrs = next(si)?;
                        while !si.is_finished() {
                            let _ = next(si)?;
                        }
                        Ok(attrs)
                    })
                })?;
                while !r.is_finished() {
                    let _ = next(r)?;
                }
                Ok(attrs)
            })
        })
        .map_err(malformed)
        .and_then(|attrs| {
            if attrs.tag()
                != (der::Tag::ContextSpecific {
                    constructed: true,
                    number: der::TagNumber::N0,
                })
            {
                return Err(TsaError::BadSignature("no signed attributes".into()));
            }
            AnyRef::new(der::Tag::Set, attrs.value())
                .and_then(|a| a.to_der())
                .map_err(malformed)
        })
}

/// The TimeStampToken inside a TimeStampResp (status checked), or the input itself when it
/// is already a token (a ContentInfo starts with its OID).
fn token_of(response: &[u8]) -> Result<&[u8], TsaError> {
    let outer = AnyRef::from_der(response).map_err(malformed)?;
    outer
        .sequence(|r| {
            let first: AnyRef<'_> = r.decode()?;
            if first.tag() == der::Tag::ObjectIdentifier {
                while !r.is_finished() {
                    let _: AnyRef<'_> = r.decode()?;
                }
                return Ok(None);
            }
            let status: u32 = first.sequence(|s| {
                let code: u32 = s.decode()?;
                while !s.is_finished() {
                    let _: AnyRef<'_> = s.decode()?;
                }
                Ok(code)
            })?;
            let token: Option<AnyRef<'_>> = if r.is_finished() {
                None
            } else {
                Some(r.decode()?)
            };
            Ok(Some((status, token.map(|t| t.to_der()).transpose()?)))
        })
        .map_err(malformed)
        .and_then(|parsed| match parsed {
            None => Ok(response),
            Some((status, _)) if status > 1 => Err(TsaError::NotGranted(status)),
            Some((_, None)) => Err(malformed("a granted response without a token")),
            Some((_, Some(token))) => {
                // Locate the token's bytes inside `response` (it is the last element).
                let start = response.len() - token.len();
                if response[start..] == token[..] {
                    Ok(&response[start..])
                } else {
                    Err(malformed("trailing data after the token"))
                }
            }
        })
}

fn parse_tst_info(der_bytes: &[u8]) -> Result<TstInfo, TsaError> {
    let any = AnyRef::from_der(der_bytes).map_err(malformed)?;
    any.sequence(|r| {
        let version: u8 = r.decode()?;
        let _policy: ObjectIdentifier = r.decode()?;
        let (alg, imprint) = r.sequence(|m| {
            let alg: spki::AlgorithmIdentifierOwned = m.decode()?;
            let digest: OctetStringRef<'_> = m.decode()?;
            Ok((alg.oid, digest.as_bytes().to_vec()))
        })?;
        let _serial: der::asn1::IntRef<'_> = r.decode()?;
        let gen_time: AnyRef<'_> = r.decode()?;
        if gen_time.tag() != der::Tag::GeneralizedTime {
            return Err(der::Tag::GeneralizedTime.value_error());
        }
        let gen_time = parse_generalized_time(gen_time.value())
            .ok_or_else(|| der::Tag::GeneralizedTime.value_error())?;
        while !r.is_finished() {
            let _: AnyRef<'_> = r.decode()?;
        }
        Ok((version, alg, imprint, gen_time))
    })
    .map_err(malformed)
    .and_then(|(version, alg, imprint, gen_time)| {
        if version != 1 {
            return Err(malformed(format!("TSTInfo version {version}")));
        }
        let imprint_hash = Hash::sha2_from_oid(&alg)
            .ok_or_else(|| malformed(format!("message imprint hash {alg} is not SHA-2")))?;
        Ok(TstInfo {
            imprint_hash,
            imprint,
            gen_time,
        })
    })
}

/// `YYYYMMDDHHMMSS[.f…]Z` (RFC 3161 allows fractions; DER forbids trailing zeros in them)
/// to unix seconds, fractions dropped.
fn parse_generalized_time(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?.strip_suffix('Z')?;
    let (main, fraction) = match text.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (text, None),
    };
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = fraction
        && (f.is_empty() || f.ends_with('0') || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n = |a: usize, b: usize| main[a..b].parse::<u16>().ok();
    let date = time::Date::from_calendar_date(
        i32::from(n(0, 4)?),
        time::Month::try_from(u8::try_from(n(4, 6)?).ok()?).ok()?,
        u8::try_from(n(6, 8)?).ok()?,
    )
    .ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(n(8, 10)?).ok()?,
        u8::try_from(n(10, 12)?).ok()?,
        u8::try_from(n(12, 14)?).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
    )
}

fn names_signer(c: &Certificate, sid: &cms::signed_data::SignerIdentifier) -> bool {
    use cms::signed_data::SignerIdentifier;
    let tbs = &c.x509().tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            ias.issuer == tbs.issuer && ias.serial_number == tbs.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => c
            .decode_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>(
                &ObjectIdentifier::new_unwrap("2.5.29.14"),
            )
            .ok()
            .flatten()
            .is_some_and(|own| own.0.as_bytes() == ski.0.as_bytes()),
    }
}

fn attribute(
    attrs: &cms::signed_data::SignedAttributes,
    oid: ObjectIdentifier,
) -> Result<Option<&der::asn1::Any>, TsaError> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let Some(attr) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() || attr.values.len() != 1 {
        return Err(TsaError::BadSignature(format!(
            "attribute {oid} must appear once with one value"
        )));
    }
    Ok(attr.values.get(0))
}

fn check_signed_attributes(
    signer: &cms::signed_data::SignerInfo,
    tst_der: &[u8],
    signing_cert: &Certificate,
) -> Result<(), TsaError> {
    let bad = |why: &str| TsaError::BadSignature(why.to_string());
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("no signed attributes"))?;
    let content_type =
        attribute(attrs, OID_CONTENT_TYPE)?.ok_or_else(|| bad("no content-type attribute"))?;
    if content_type.decode_as::<ObjectIdentifier>().ok() != Some(OID_TST_INFO) {
        return Err(bad("the content-type attribute is not id-ct-TSTInfo"));
    }
    let hash = Hash::sha2_from_oid(&signer.digest_alg.oid)
        .ok_or_else(|| bad("the signer's digest algorithm is not SHA-2"))?;
    let digest =
        attribute(attrs, OID_MESSAGE_DIGEST)?.ok_or_else(|| bad("no message-digest attribute"))?;
    let digest = OctetStringRef::try_from(digest).map_err(|e| bad(&e.to_string()))?;
    if digest.as_bytes() != hash.digest(tst_der) {
        return Err(bad(
            "the message-digest attribute is not the TSTInfo's digest",
        ));
    }
    // ESS signing certificate: binds the signature to this certificate (RFC 3161 §2.4.1,
    // RFC 5816). SigningCertificate ::= SEQUENCE { certs SEQUENCE OF ESSCertID, … };
    // ESSCertID ::= SEQUENCE { certHash OCTET STRING, … }; v2 adds an optional
    // hashAlgorithm (default SHA-256) before certHash.
    let (ess, v2) = match attribute(attrs, OID_SIGNING_CERT_V2)? {
        Some(a) => (a, true),
        None => (
            attribute(attrs, OID_SIGNING_CERT)?
                .ok_or_else(|| bad("no ESS signing-certificate attribute"))?,
            false,
        ),
    };
    let (cert_hash_alg, cert_hash) = ess
        .sequence(|r| {
            r.sequence(|certs| {
                let first = certs.sequence(|id| {
                    let mut alg = if v2 { OID_SHA256 } else { OID_SHA1 };
                    if v2 && id.peek_tag()? == der::Tag::Sequence {
                        let a: spki::AlgorithmIdentifierOwned = id.decode()?;
                        alg = a.oid;
                    }
                    let h: OctetStringRef<'_> = id.decode()?;
                    while !id.is_finished() {
                        let _: AnyRef<'_> = id.decode()?;
                    }
                    Ok((alg, h.as_bytes().to_vec()))
                })?;
                while !certs.is_finished() {
                    let _: AnyRef<'_> = certs.decode()?;
                }
                Ok(first)
            })
            .and_then(|first| {
                while !r.is_finished() {
                    let _: AnyRef<'_> = r.decode()?;
                }
                Ok(first)
            })
        })
        .map_err(|e| bad(&format!("ESS signing certificate: {e}")))?;
    let cert_hash_fn = Hash::from_oid(&cert_hash_alg)
        .ok_or_else(|| bad("unknown ESS certificate hash algorithm"))?;
    if cert_hash != cert_hash_fn.digest(signing_cert.der()) {
        return Err(bad(
            "the ESS signing-certificate attribute names another certificate",
        ));
    }
    Ok(())
}

fn check_signature(
    signer: &cms::signed_data::SignerInfo,
    signed_bytes: &[u8],
    signing_cert: &Certificate,
) -> Result<(), TsaError> {
    let bad = |why: String| TsaError::BadSignature(why);
    let digest_hash = Hash::sha2_from_oid(&signer.digest_alg.oid);
    let hash = match signer.signature_algorithm.oid {
        OID_ECDSA_SHA256 | OID_RSA_SHA256 => Hash::Sha256,
        OID_ECDSA_SHA384 | OID_RSA_SHA384 => Hash::Sha384,
        OID_ECDSA_SHA512 | OID_RSA_SHA512 => Hash::Sha512,
        // Key-only identifiers: the signer's digest algorithm says which hash.
        OID_RSA | OID_EC => {
            digest_hash.ok_or_else(|| bad("no SHA-2 digest algorithm for the signature".into()))?
        }
        ref other => return Err(bad(format!("signature algorithm {other} is not supported"))),
    };
    let key = signing_cert
        .public_key()
        .map_err(|e| TsaError::Untrusted(format!("signing certificate key: {e}")))?;
    key.verify_digest(
        hash.name(),
        &hash.digest(signed_bytes),
        signer.signature.as_bytes(),
    )
    .map_err(|_| bad("the signature over the signed attributes does not verify".into()))
}
