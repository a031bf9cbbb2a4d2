//! Signed certificate timestamps embedded in a leaf (RFC 6962 §3.2, precertificate entries):
//! the TLS-encoded SCT list and each SCT's signature by a trusted CT log.

use sha2::{Digest, Sha256, Sha384};

use super::der_walk::{extension_oid, read_tlv, rebuild_tbs_extensions};
use super::{CertError, Certificate, MAX_SCTS, OID_SCT_LIST};
use crate::image::pubkey::PublicKey;
use crate::image::trust_root::TrustedKey;

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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

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
}
