//! Detached CMS signatures of git objects (`SIGNED MESSAGE` armor), as gpgsm and gitsign write
//! them: BER with indefinite lengths re-encoded as DER, one signer named by issuer and serial
//! whose certificate the signature carries, SHA-256, signed attributes whose messageDigest is
//! the object's digest, and the signature over those attributes verified with the signer's
//! certificate key. Trust in the certificate is decided by [`super::x509`] or
//! [`super::gitsign`].

use base64::Engine;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};

use super::{Refusal, refuse};
use crate::image::cert::Certificate;

/// A CMS signature whose signer signed this object (its certificate not yet trusted).
pub struct CmsSignature {
    /// The signer's certificate.
    pub leaf: Certificate,
    /// The other certificates the signature carries.
    pub others: Vec<Certificate>,
    /// The DER of the signed attributes (a SET): what the signature covers.
    pub signed_attributes: Vec<u8>,
    /// The signature value.
    pub signature: Vec<u8>,
    /// Unsigned attributes: (OID, DER of each value).
    pub unsigned: Vec<(const_oid::ObjectIdentifier, Vec<Vec<u8>>)>,
}

/// Most nested BER levels accepted.
const MAX_DEPTH: usize = 32;

/// Re-encodes BER with indefinite lengths as DER lengths (tags and contents unchanged).
pub fn ber_to_der(input: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(input.len());
    let used = convert(input, &mut out, 0)?;
    if used != input.len() {
        return Err("trailing bytes after the signature".into());
    }
    Ok(out)
}

/// Converts one TLV at the start of `input` into `out`; returns the bytes it used.
fn convert(input: &[u8], out: &mut Vec<u8>, depth: usize) -> Result<usize, String> {
    if depth > MAX_DEPTH {
        return Err("BER nested too deeply".into());
    }
    let short = || "truncated BER".to_string();
    let first = *input.first().ok_or_else(short)?;
    let mut pos = 1;
    if first & 0x1f == 0x1f {
        loop {
            let b = *input.get(pos).ok_or_else(short)?;
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
            if pos > 6 {
                return Err("BER tag too long".into());
            }
        }
    }
    let tag = &input[..pos];
    let len_byte = *input.get(pos).ok_or_else(short)?;
    pos += 1;
    let mut content = Vec::new();
    if len_byte == 0x80 {
        if first & 0x20 == 0 {
            return Err("indefinite length on a primitive BER value".into());
        }
        loop {
            let rest = input.get(pos..).ok_or_else(short)?;
            if rest.starts_with(&[0, 0]) {
                pos += 2;
                break;
            }
            pos += convert(rest, &mut content, depth + 1)?;
        }
    } else {
        let len = if len_byte & 0x80 == 0 {
            len_byte as usize
        } else {
            let n = (len_byte & 0x7f) as usize;
            if n == 0 || n > 4 {
                return Err("unsupported BER length".into());
            }
            let bytes = input.get(pos..pos + n).ok_or_else(short)?;
            pos += n;
            bytes.iter().fold(0usize, |a, b| (a << 8) | *b as usize)
        };
        let body = input.get(pos..pos + len).ok_or_else(short)?;
        pos += len;
        if first & 0x20 != 0 {
            // Constructed: children may use indefinite lengths too.
            let mut at = 0;
            while at < body.len() {
                at += convert(&body[at..], &mut content, depth + 1)?;
            }
        } else {
            content.extend_from_slice(body);
        }
    }
    out.extend_from_slice(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(&content);
    Ok(pos)
}

/// The DER SignedData of an armored gpgsm signature.
fn signed_data(armored: &[u8]) -> Result<SignedData, Refusal> {
    let text = String::from_utf8_lossy(armored);
    let b64: String = text
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.contains(':'))
        .flat_map(|l| l.trim().chars())
        .collect();
    let ber = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| refuse("bad-signature", "the SIGNED MESSAGE armor is not base64"))?;
    let der = ber_to_der(&ber).map_err(|e| refuse("bad-signature", e))?;
    let info = ContentInfo::from_der(&der)
        .map_err(|e| refuse("bad-signature", format!("not a CMS ContentInfo: {e}")))?;
    if info.content_type != const_oid::db::rfc5911::ID_SIGNED_DATA {
        return Err(refuse("bad-signature", "the CMS content is not SignedData"));
    }
    info.content
        .decode_as::<SignedData>()
        .map_err(|e| refuse("bad-signature", format!("unreadable CMS SignedData: {e}")))
}

/// Reads an armored CMS signature and checks it signs `payload`.
pub fn read(armored: &[u8], payload: &[u8]) -> Result<CmsSignature, Refusal> {
    let sd = signed_data(armored)?;
    if sd.encap_content_info.econtent.is_some() {
        return Err(refuse("bad-signature", "the CMS signature is not detached"));
    }
    let infos: Vec<_> = sd.signer_infos.0.iter().collect();
    let [si] = infos.as_slice() else {
        return Err(refuse(
            "bad-signature",
            "the CMS signature must have exactly one signer",
        ));
    };
    let certs: Vec<Certificate> = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => c.to_der().ok(),
            _ => None,
        })
        .map(|d| Certificate::from_der(&d))
        .collect::<Result<_, _>>()
        .map_err(|e| refuse("bad-signature", format!("unreadable certificate: {e}")))?;
    let SignerIdentifier::IssuerAndSerialNumber(isn) = &si.sid else {
        return Err(refuse(
            "bad-signature",
            "the signer is not named by issuer and serial",
        ));
    };
    let leaf = certs
        .iter()
        .find(|c| {
            let tbs = &c.x509().tbs_certificate;
            tbs.issuer == isn.issuer && tbs.serial_number == isn.serial_number
        })
        .ok_or_else(|| {
            refuse(
                "bad-signature",
                "the signer's certificate is not in the signature",
            )
        })?
        .clone();
    if si.digest_alg.oid != const_oid::db::rfc5912::ID_SHA_256 {
        return Err(refuse(
            "weak-hash",
            "only SHA-256 CMS signatures are accepted",
        ));
    }
    let attrs = si.signed_attrs.as_ref().ok_or_else(|| {
        refuse(
            "bad-signature",
            "the CMS signature has no signed attributes",
        )
    })?;
    let digest = attrs
        .iter()
        .find(|a| a.oid == const_oid::db::rfc5911::ID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<der::asn1::OctetStringRef<'_>>().ok())
        .ok_or_else(|| refuse("bad-signature", "no messageDigest attribute"))?;
    if digest.as_bytes() != Sha256::digest(payload).as_slice() {
        return Err(refuse(
            "bad-signature",
            "the signature does not match the object (content altered after signing?)",
        ));
    }
    let signed_attributes = attrs
        .to_der()
        .map_err(|e| refuse("bad-signature", format!("signed attributes: {e}")))?;
    let key = leaf
        .public_key()
        .map_err(|e| refuse("bad-signature", format!("certificate key: {e}")))?;
    let signature = si.signature.as_bytes().to_vec();
    key.verify(&signed_attributes, &signature).map_err(|_| {
        refuse(
            "bad-signature",
            "the CMS signature does not verify with the signer's certificate",
        )
    })?;
    let unsigned = si
        .unsigned_attrs
        .iter()
        .flat_map(|set| set.iter())
        .map(|a| {
            (
                a.oid,
                a.values.iter().filter_map(|v| v.to_der().ok()).collect(),
            )
        })
        .collect();
    let others = certs.into_iter().filter(|c| *c != leaf).collect();
    Ok(CmsSignature {
        leaf,
        others,
        signed_attributes,
        signature,
        unsigned,
    })
}

#[cfg(test)]
mod tests {
    use super::ber_to_der;

    #[test]
    fn indefinite_lengths_become_definite() {
        // SEQUENCE (indefinite) { INTEGER 5, SEQUENCE (indefinite) { NULL } }
        let ber = [
            0x30, 0x80, 0x02, 0x01, 0x05, 0x30, 0x80, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(
            ber_to_der(&ber).unwrap(),
            [0x30, 0x07, 0x02, 0x01, 0x05, 0x30, 0x02, 0x05, 0x00]
        );
        assert!(ber_to_der(&[0x30, 0x80, 0x02]).is_err());
        assert!(ber_to_der(&[0x04, 0x80, 0x00, 0x00]).is_err());
        let mut deep = [0x30, 0x80].repeat(40);
        deep.extend(vec![0; 80]);
        assert!(ber_to_der(&deep).is_err());
    }
}
