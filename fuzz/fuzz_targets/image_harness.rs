//! The image fuzz targets' bodies, shared with `tests/fuzz_regressions.rs` so the regression
//! inputs replay through exactly the code the fuzzers ran. Each module's `run` takes one input
//! and panics only on a bug. Vector files are embedded relative to this file
//! (`../../../shared/vectors/...`, the repository and `shared` side by side).
#![allow(dead_code)]

/// Image reference parsing: never panics, and whatever parses re-displays as a reference that
/// parses again to the same value (the normal form is a fixed point).
pub mod image_reference {
    use sigil::image::reference::Reference;

    /// One input.
    pub fn run(data: &[u8]) {
        let Ok(s) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(r) = Reference::parse(s) else {
            return;
        };
        let _ = r.name();
        let shown = r.to_string();
        let again = Reference::parse(&shown).unwrap_or_else(|e| {
            panic!("{s:?} parsed as {r:?}, but its display {shown:?} does not: {e}")
        });
        assert_eq!(again, r, "{s:?} → {shown:?} re-parses differently");
        assert_eq!(again.to_string(), shown, "display is not a fixed point");
    }
}

/// Legacy cosign signatures from untrusted bytes: `.sig` manifests (`layers`), containers/image
/// signature files, and `{payload, annotations}` JSON, each run through the whole verifier
/// against fixed key, key+Rekor and Fulcio+Rekor authorities. Never panics. The image digest
/// required is the one the payload claims, so mutations of the unsigned parts (certificate,
/// chain, Rekor bundle annotation) of a validly signed seed reach the later checks.
pub mod signature_layer {
    use std::collections::BTreeMap;
    use std::sync::{Arc, OnceLock};

    use base64::Engine;
    use sigil::image::pubkey::PublicKey;
    use sigil::image::signature::{
        Candidate, CandidateKind, SIMPLE_SIGNING, from_containers_image_file, layers,
    };
    use sigil::image::trust_root::TrustRoot;
    use sigil::image::verify::{
        Authority, Keyless, Matcher, Requirements, Trust, verify_candidate,
    };

    const COSIGN_PUB: &str = include_str!(
        "../../../shared/vectors/cosign/containers-image/signature/fixtures/cosign.pub"
    );
    const COSIGN2_PUB: &str = include_str!(
        "../../../shared/vectors/cosign/containers-image/signature/fixtures/cosign2.pub"
    );
    const REKOR_PUB: &str = include_str!(
        "../../../shared/vectors/cosign/containers-image/signature/internal/testdata/rekor.pub"
    );
    const FULCIO_PEM: &str = include_str!(
        "../../../shared/vectors/cosign/containers-image/signature/fixtures/fulcio_v1.crt.pem"
    );
    const PROD_ROOT: &[u8] = include_bytes!(
        "../../../shared/vectors/cosign/sigstore-rs/trust_root/prod/trusted_root.json"
    );
    const FALLBACK_DIGEST: &str =
        "sha256:634a8f35e5ae80d3d7af9ef4de6f4e8ad2e3b7b28e6e8e7d12c5a4b8b2a40e01";

    fn authorities() -> &'static [Authority] {
        static A: OnceLock<Vec<Authority>> = OnceLock::new();
        A.get_or_init(|| {
            let rekor = Arc::new(TrustRoot::from_pem(None, &[REKOR_PUB], &[]).unwrap());
            let mut fulcio = TrustRoot::from_pem(Some(FULCIO_PEM), &[REKOR_PUB], &[]).unwrap();
            fulcio.ctlogs = TrustRoot::from_json(PROD_ROOT).unwrap().ctlogs;
            vec![
                Authority {
                    name: "key cosign.pub".into(),
                    trust: Trust::Key {
                        key: PublicKey::from_pem(COSIGN_PUB).unwrap(),
                        tlog: None,
                    },
                },
                Authority {
                    name: "key cosign2.pub + rekor".into(),
                    trust: Trust::Key {
                        key: PublicKey::from_pem(COSIGN2_PUB).unwrap(),
                        tlog: Some(rekor),
                    },
                },
                Authority {
                    name: "keyless".into(),
                    trust: Trust::Keyless(Box::new(Keyless {
                        root: Arc::new(fulcio),
                        issuer: Matcher::Exact("https://github.com/login/oauth".into()),
                        subject: Matcher::regex(".*").unwrap(),
                        require_sct: true,
                        require_tlog: true,
                        rekor_search: None,
                    })),
                },
            ]
        })
    }

    /// The digest the simple-signing payload claims (so the claims check passes).
    fn claimed_digest(payload: &[u8]) -> String {
        serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| {
                v.pointer("/critical/image/docker-manifest-digest")?
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| FALLBACK_DIGEST.to_string())
    }

    fn check(c: &Candidate) {
        let digest = match &c.kind {
            CandidateKind::Legacy { payload, .. } => claimed_digest(payload),
            _ => FALLBACK_DIGEST.to_string(),
        };
        let annotations = BTreeMap::new();
        let report = verify_candidate(
            c,
            &Requirements {
                image_digest: &digest,
                annotations: &annotations,
                authorities: authorities(),
            },
        );
        let _ = report.result.map(|p| (p.identity, p.signed_at));
    }

    fn string_map(v: Option<&serde_json::Value>) -> BTreeMap<String, String> {
        v.and_then(|a| a.as_object())
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One input.
    pub fn run(data: &[u8]) {
        let _ = authorities();
        check(&from_containers_image_file("fuzz", data));
        if let Ok(ls) = layers(data) {
            for l in ls.iter().filter(|l| l.media_type == SIMPLE_SIGNING) {
                check(&Candidate {
                    source: "layer".into(),
                    kind: CandidateKind::Legacy {
                        payload: l.digest.clone().into_bytes(),
                        annotations: l.annotations.clone(),
                    },
                });
            }
        }
        // `{payload: base64 or text, annotations: {..}}` (a signature file without its prefix).
        if !data.starts_with(b"\0sigstore-json\n")
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(data)
            && let Some(p) = v.get("payload").and_then(|p| p.as_str())
        {
            let payload = base64::engine::general_purpose::STANDARD
                .decode(p)
                .unwrap_or_else(|_| p.as_bytes().to_vec());
            check(&Candidate {
                source: "json".into(),
                kind: CandidateKind::Legacy {
                    payload,
                    annotations: string_map(v.get("annotations")),
                },
            });
        }
    }
}

/// Sigstore bundles from untrusted bytes through the whole verifier (keyless against the
/// public-good trusted root, and a key authority), plus every `tlogEntries[]` element parsed
/// and checked directly (SET, inclusion proof, checkpoint, body binding), since the verifier
/// only reaches the log checks after a valid signature. Never panics. The image digest
/// required is the statement's first subject, so mutations of a validly signed seed's unsigned
/// parts reach the later checks.
pub mod bundle {
    use std::collections::BTreeMap;
    use std::sync::{Arc, OnceLock};

    use base64::Engine;
    use sha2::{Digest, Sha256};
    use sigil::image::blob::{Artifact, verify_blob};
    use sigil::image::pubkey::PublicKey;
    use sigil::image::signature::{Candidate, CandidateKind};
    use sigil::image::tlog::{self, Expected, TlogEntry, TlogRequirement};
    use sigil::image::trust_root::TrustRoot;
    use sigil::image::verify::{
        Authority, Keyless, Matcher, Requirements, Trust, verify_candidate,
    };

    const COSIGN_PUB: &str = include_str!(
        "../../../shared/vectors/cosign/containers-image/signature/fixtures/cosign.pub"
    );
    const PROD_ROOT: &[u8] = include_bytes!(
        "../../../shared/vectors/cosign/sigstore-rs/trust_root/prod/trusted_root.json"
    );
    const FALLBACK_DIGEST: &str =
        "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";

    struct Fixed {
        root: Arc<TrustRoot>,
        authorities: Vec<Authority>,
    }

    fn fixed() -> &'static Fixed {
        static F: OnceLock<Fixed> = OnceLock::new();
        F.get_or_init(|| {
            let root = Arc::new(TrustRoot::from_json(PROD_ROOT).unwrap());
            let authorities = vec![
                Authority {
                    name: "keyless".into(),
                    trust: Trust::Keyless(Box::new(Keyless {
                        root: root.clone(),
                        issuer: Matcher::Exact(
                            "https://token.actions.githubusercontent.com".into(),
                        ),
                        subject: Matcher::regex(".*").unwrap(),
                        require_sct: true,
                        require_tlog: true,
                        rekor_search: None,
                    })),
                },
                Authority {
                    name: "key".into(),
                    trust: Trust::Key {
                        key: PublicKey::from_pem(COSIGN_PUB).unwrap(),
                        tlog: Some(root.clone()),
                    },
                },
            ];
            Fixed { root, authorities }
        })
    }

    fn b64(s: Option<&serde_json::Value>) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(s?.as_str()?)
            .ok()
    }

    fn pem(label: &str, der: &[u8]) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    /// One input.
    pub fn run(data: &[u8]) {
        let f = fixed();
        let v = serde_json::from_slice::<serde_json::Value>(data).ok();
        let payload = v
            .as_ref()
            .and_then(|v| b64(v.pointer("/dsseEnvelope/payload")))
            .unwrap_or_default();
        let digest = serde_json::from_slice::<serde_json::Value>(&payload)
            .ok()
            .and_then(|st| {
                st.pointer("/subject/0/digest/sha256")?
                    .as_str()
                    .map(|h| format!("sha256:{h}"))
            })
            .unwrap_or_else(|| FALLBACK_DIGEST.to_string());
        let annotations = BTreeMap::new();
        let c = Candidate {
            source: "fuzz".into(),
            kind: CandidateKind::Bundle {
                json: data.to_vec(),
            },
        };
        let report = verify_candidate(
            &c,
            &Requirements {
                image_digest: &digest,
                annotations: &annotations,
                authorities: &f.authorities,
            },
        );
        let _ = report.result.map(|p| (p.identity, p.signed_at));

        // The same bytes as a blob's bundle (message signatures too), for the artifact the
        // bundle names: its message digest, else the statement's subject.
        let artifact = v
            .as_ref()
            .and_then(|v| b64(v.pointer("/messageSignature/messageDigest/digest")))
            .map(|d| {
                let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
                format!("sha256:{hex}")
            })
            .unwrap_or(digest);
        if let Some(a) = Artifact::from_digest(&artifact) {
            let _ = verify_blob(data, &a, &f.authorities).map(|p| (p.identity, p.signed_at));
        }

        let Some(v) = v else { return };
        let vm = v.get("verificationMaterial");
        let signature = v
            .pointer("/dsseEnvelope/signatures/0/sig")
            .and_then(|s| b64(Some(s)))
            .unwrap_or_default();
        let verifier = vm
            .and_then(|m| b64(m.pointer("/certificate/rawBytes")))
            .map(|der| pem("CERTIFICATE", &der))
            .unwrap_or_else(|| COSIGN_PUB.to_string());
        let payload_sha256: [u8; 32] = Sha256::digest(&payload).into();
        let entries = vm
            .and_then(|m| m.get("tlogEntries"))
            .and_then(|t| t.as_array())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for e in entries {
            let Ok(entry) = TlogEntry::from_bundle_entry(e) else {
                continue;
            };
            for policy in [TlogRequirement::Either, TlogRequirement::Both] {
                if let Ok(ok) = tlog::verify_entry(&entry, &f.root, policy) {
                    let _ = (ok.integrated_time(), ok.log_index(), ok.log_id());
                }
            }
            for expect in [
                Expected::Dsse {
                    payload_sha256,
                    pae: &payload,
                    signature: &signature,
                    verifier: verifier.as_bytes(),
                },
                Expected::HashedRekord {
                    payload_sha256,
                    signature: &signature,
                    verifier_pem_or_der: verifier.as_bytes(),
                },
                Expected::Intoto {
                    payload_sha256,
                    signature: &signature,
                    verifier: verifier.as_bytes(),
                },
            ] {
                let _ = tlog::check_body(&entry.canonicalized_body, &expect);
            }
        }
        // Legacy annotation form of the same entries' data, if the input is one.
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = TlogEntry::from_legacy_annotation(text);
        }
    }
}

/// `trusted_root.json` and PEM trust material from untrusted bytes: never panic; a root that
/// loads answers key lookups.
pub mod trust_root {
    use sigil::image::trust_root::TrustRoot;

    /// One input.
    pub fn run(data: &[u8]) {
        if let Ok((root, _skipped)) = TrustRoot::from_json_report(data) {
            for k in root.tlogs.iter().chain(&root.ctlogs) {
                let _ = root.tlog_key(&k.log_id, 1_700_000_000);
                let _ = root.ctlog_key(&k.log_id, k.valid_from.unwrap_or(0));
                let _ = (k.key.to_pem(), k.valid_at(1_700_000_000));
            }
            for ca in &root.certificate_authorities {
                let _ = ca.chain.len();
            }
        }
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = TrustRoot::from_pem(Some(text), &[], &[]);
            let _ = TrustRoot::from_pem(None, &[text], &[text]);
        }
    }
}

/// X.509 certificates from untrusted bytes (DER and PEM chains): parsing, identity, EKU,
/// embedded SCTs (CT log keys of the public-good trusted root) and path building against
/// fixed CAs. Never panics.
pub mod x509 {
    use std::sync::OnceLock;

    use sigil::image::cert::{self, Certificate};
    use sigil::image::trust_root::{CertificateAuthority, TrustRoot};

    const PROD_ROOT: &[u8] = include_bytes!(
        "../../../shared/vectors/cosign/sigstore-rs/trust_root/prod/trusted_root.json"
    );
    const FULCIO_PEM: &str = include_str!(
        "../../../shared/vectors/cosign/containers-image/signature/fixtures/fulcio_v1.crt.pem"
    );
    const PKI_ROOT_PEM: &str = include_str!(
        "../../../shared/vectors/cosign/containers-image/signature/fixtures/pki_root_crts.pem"
    );

    struct Fixed {
        root: TrustRoot,
        /// Every CA certificate known, as SCT issuer candidates.
        issuers: Vec<Certificate>,
    }

    fn fixed() -> &'static Fixed {
        static F: OnceLock<Fixed> = OnceLock::new();
        F.get_or_init(|| {
            let mut root = TrustRoot::from_json(PROD_ROOT).unwrap();
            for pem in [FULCIO_PEM, PKI_ROOT_PEM] {
                let extra = TrustRoot::from_pem(Some(pem), &[], &[]).unwrap();
                root.certificate_authorities
                    .extend(extra.certificate_authorities);
            }
            let issuers = root
                .certificate_authorities
                .iter()
                .flat_map(|ca: &CertificateAuthority| ca.chain.iter())
                .map(|der| Certificate::from_der(der).unwrap())
                .collect();
            Fixed { root, issuers }
        })
    }

    fn exercise(chain: &[Certificate]) {
        let f = fixed();
        let Some((leaf, rest)) = chain.split_first() else {
            return;
        };
        let _ = (leaf.subject_string(), leaf.not_before(), leaf.not_after());
        let _ = leaf.valid_at(leaf.not_before());
        let _ = format!("{leaf:?}");
        let _ = leaf.public_key().map(|k| k.to_pem());
        let _ =
            cert::identity(leaf).map(|id| id.sans.iter().map(|s| s.as_str().len()).sum::<usize>());
        let _ = cert::check_code_signing(leaf);
        let _ = cert::check_code_signing_or_unrestricted(leaf);
        for issuer in rest.iter().take(1).chain(&f.issuers) {
            if cert::verify_embedded_scts(leaf, issuer, &f.root.ctlogs).is_ok() {
                break;
            }
        }
        if let Ok(path) = cert::verify_path(
            leaf,
            rest,
            &f.root.certificate_authorities,
            leaf.not_before(),
        ) {
            assert!(!path.is_empty() && &path[0] == leaf);
        }
    }

    /// One input.
    pub fn run(data: &[u8]) {
        let _ = fixed();
        if let Ok(c) = Certificate::from_der(data) {
            assert_eq!(c.der(), data);
            let _ = c.tbs_der();
            exercise(std::slice::from_ref(&c));
        }
        if let Ok(text) = std::str::from_utf8(data)
            && let Ok(chain) = Certificate::parse_pem_chain(text)
        {
            exercise(&chain);
        }
    }
}

/// cosign private keys from untrusted text: the encrypted envelope (scrypt parameters are
/// checked before scrypt runs) and unencrypted PKCS#8/SEC1 imports. Never panics.
pub mod cosign_key {
    use sigil::image::cosign_key::{decrypt, from_unencrypted_pem};

    /// One input.
    pub fn run(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(k) = decrypt(text, b"") {
            let _ = (k.kind(), k.public_key().to_pem());
        }
        if let Ok(k) = from_unencrypted_pem(text) {
            let sig = k.sign(b"payload");
            k.public_key()
                .verify(b"payload", &sig)
                .expect("an imported key verifies its own signature");
        }
    }
}

pub mod tsa {
    use std::sync::OnceLock;

    use sigil::image::trust_root::{CertificateAuthority, TrustRoot};

    const PKI_ROOT_PEM: &str = include_str!(
        "../../../shared/vectors/cosign/containers-image/signature/fixtures/pki_root_crts.pem"
    );
    /// What `scripts/fuzz.sh tsa` stamps for its seeds, so the imprint check passes and the
    /// signer, ESS, signature and path checks run.
    pub const STAMPED: &[u8] = b"sigil-fuzz-signature";

    fn authorities() -> &'static [CertificateAuthority] {
        static A: OnceLock<Vec<CertificateAuthority>> = OnceLock::new();
        A.get_or_init(|| {
            TrustRoot::from_pem(Some(PKI_ROOT_PEM), &[], &[])
                .unwrap()
                .certificate_authorities
        })
    }

    /// One input: an RFC 3161 response or token.
    pub fn run(data: &[u8]) {
        let _ = sigil::image::tsa::verify(data, STAMPED, authorities());
    }
}

/// The registry's `WWW-Authenticate` parameter parser: never panics; keys come out trimmed,
/// lower case and without `=`; parameters written as `key="value"` or `key=value` (the forms
/// registries send) parse back to exactly those values, the last one winning per key.
pub mod www_authenticate {
    use std::collections::HashMap;

    use sigil::image::registry::parse_challenge;

    /// One input: a challenge, and `key<TAB>value` lines for the round trip.
    pub fn run(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        // As the client reads a challenge: the scheme, then its parameters.
        let (_scheme, params) = text.split_once(' ').unwrap_or((&text, ""));
        for parsed in [parse_challenge(params), parse_challenge(&text)] {
            for key in parsed.keys() {
                assert!(!key.contains('='), "key {key:?} holds '='");
                assert_eq!(key.trim(), key, "key {key:?} is not trimmed");
                assert_eq!(
                    &key.to_ascii_lowercase(),
                    key,
                    "key {key:?} is not lower case"
                );
            }
        }
        let mut written = Vec::new();
        let mut expected = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let Some((key, value)) = line.split_once('\t') else {
                continue;
            };
            let token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
            if key.is_empty() || !key.bytes().all(token) || value.contains('"') {
                continue;
            }
            let bare = !value.is_empty() && value.trim() == value && !value.contains(',');
            written.push(if bare && i % 2 == 1 {
                format!("{key}={value}")
            } else {
                format!("{key}=\"{value}\"")
            });
            expected.insert(key.to_ascii_lowercase(), value.to_string());
        }
        let challenge = written.join(",");
        assert_eq!(
            parse_challenge(&challenge),
            expected,
            "{challenge:?} does not parse back"
        );
    }
}
