//! X.509 signatures of git objects as gpgsm writes them (`gpg.format=x509`): a detached CMS
//! SignedData in a `SIGNED MESSAGE` armor, BER with indefinite lengths. Checked in process:
//! the signer's certificate chains to a CA bundle of the policy at the object time (and the
//! first-seen time), the signed attributes carry SHA-256 of the object, their signature verifies
//! with the certificate's key, and the certificate names an email the signer is allowed.

use base64::Engine;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};

use super::{Good, Refusal, refuse};
use crate::image::cert::{CertError, Certificate, San, identity, verify_path};
use crate::image::trust_root::CertificateAuthority;

/// X.509 trust of one policy signer.
pub struct X509Trust<'a> {
    /// CA certificates (each one an anchor).
    pub roots: &'a [CertificateAuthority],
    /// Allowed certificate emails (`*` globs); empty: any.
    pub emails: &'a [String],
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

/// Verifies a gpgsm signature over `payload`; `times` are the instants the certificate path
/// must be valid at (object time, and first-seen time when known).
pub fn verify(
    armored: &[u8],
    payload: &[u8],
    signers: &[X509Trust<'_>],
    times: &[i64],
) -> Result<Good, Refusal> {
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
        })?;
    // gitsign signs with short-lived Fulcio certificates whose only proof of time is a log
    // entry or a timestamp: not checked here, so refused rather than trusted on its dates.
    if identity(leaf).is_ok_and(|id| id.issuer.is_some()) {
        return Err(refuse(
            "unsupported-signature-format",
            "a gitsign (Sigstore keyless) signature: not supported yet",
        ));
    }
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
    let signed = attrs
        .to_der()
        .map_err(|e| refuse("bad-signature", format!("signed attributes: {e}")))?;
    let key = leaf
        .public_key()
        .map_err(|e| refuse("bad-signature", format!("certificate key: {e}")))?;
    key.verify(&signed, si.signature.as_bytes()).map_err(|_| {
        refuse(
            "bad-signature",
            "the CMS signature does not verify with the signer's certificate",
        )
    })?;
    let fingerprint = hex::encode(Sha256::digest(leaf.der()));
    let emails: Vec<String> = identity(leaf)
        .map(|id| {
            id.sans
                .into_iter()
                .filter_map(|s| match s {
                    San::Email(e) => Some(e.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let others: Vec<Certificate> = certs.iter().filter(|c| *c != leaf).cloned().collect();
    let mut matches = Vec::new();
    let mut last = None;
    for (i, s) in signers.iter().enumerate() {
        if s.roots.is_empty() {
            continue;
        }
        let path_ok = times.iter().try_for_each(|t| {
            verify_path(leaf, &others, s.roots, *t)
                .map(|_| ())
                .map_err(|e| (t, e))
        });
        if let Err((t, e)) = path_ok {
            let which = if *t == times[0] {
                "the commit/tag time"
            } else {
                "the first-seen time"
            };
            let code = if matches!(e, CertError::NotValidAt { .. }) {
                "cert-expired"
            } else {
                "untrusted-ca"
            };
            last = Some(refuse(code, format!("certificate path at {which}: {e}")));
            continue;
        }
        let matched = if s.emails.is_empty() {
            Some(emails.first().cloned())
        } else {
            emails
                .iter()
                .find(|e| {
                    s.emails.iter().any(|p| {
                        glob::Pattern::new(&p.to_ascii_lowercase()).is_ok_and(|g| g.matches(e))
                    })
                })
                .map(|e| Some(e.clone()))
        };
        match matched {
            Some(e) => matches.push((i, e)),
            None => {
                last = Some(refuse(
                    "cert-principal-mismatch",
                    format!("the certificate names {emails:?}, which this signer does not allow"),
                ))
            }
        }
    }
    if matches.is_empty() {
        return Err(last.unwrap_or_else(|| {
            refuse(
                "untrusted-key",
                format!(
                    "signed by certificate {fingerprint}, which no signer in the policy trusts"
                ),
            )
        }));
    }
    Ok(Good {
        matches,
        fingerprint,
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
