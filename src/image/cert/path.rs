//! Certification paths: building a path from a leaf to a trust anchor, checking every link at
//! the signing time, and the extended key usage (code signing) the leaf and its issuers allow.

use sha2::{Digest, Sha256, Sha384};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::{
    CertError, Certificate, MAX_CERTS, MAX_PATH_LEN, MAX_SIGNATURE_CHECKS, OID_ANY_EKU,
    OID_BASIC_CONSTRAINTS, OID_CODE_SIGNING, OID_ECDSA_SHA256, OID_ECDSA_SHA384, OID_ECDSA_SHA512,
    OID_EXT_KEY_USAGE, OID_KEY_USAGE, OID_NAME_CONSTRAINTS, OID_RSA_SHA256, OID_RSA_SHA384,
    OID_RSA_SHA512, UNDERSTOOD_CRITICAL, malformed,
};
use crate::image::pubkey::PublicKey;
use crate::image::trust_root::CertificateAuthority;

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

#[cfg(test)]
mod tests {
    use super::super::der_walk::{der_element, extension_oid, tbs_fields};
    use super::super::fixtures::*;
    use super::super::{Identity, OID_FULCIO_ISSUER_V1, San, identity, verify_embedded_scts};
    use super::*;
    use der::asn1::ObjectIdentifier;

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
}
