//! Who a certificate was issued to: the OIDC issuer (Fulcio extensions) and the subject
//! alternative names of a leaf.

use std::net::IpAddr;

use der::Decode;
use der::asn1::Utf8StringRef;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::{
    CertError, Certificate, OID_FULCIO_ISSUER_V1, OID_FULCIO_ISSUER_V2, OID_FULCIO_USERNAME,
    OID_SUBJECT_ALT_NAME, malformed,
};

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
    use super::super::fixtures::*;
    use super::super::{CertError, check_code_signing};
    use super::*;

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
}
