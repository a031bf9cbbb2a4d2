//! Trust material for keyless and transparency-log verification, always from local files:
//! a sigstore `trusted_root.json`, or PEM files (Fulcio chain, Rekor and CT log keys).

use super::pubkey::PublicKey;

/// A transparency-log or CT-log key with the window in which it may be used.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// SHA-256 of the key's DER SubjectPublicKeyInfo (how entries and SCTs name their log).
    pub log_id: [u8; 32],
    /// The key.
    pub key: PublicKey,
    /// Unix seconds from which the key is valid (inclusive), if bounded.
    pub valid_from: Option<i64>,
    /// Unix seconds until which the key is valid (inclusive), if bounded.
    pub valid_to: Option<i64>,
}

/// A certificate authority (e.g. Fulcio): DER certificates, the issuing one first, the root last.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    /// DER certificates, leaf-most first; the last one is the trust anchor.
    pub chain: Vec<Vec<u8>>,
    /// Unix seconds from which this CA may have issued (inclusive), if bounded.
    pub valid_from: Option<i64>,
    /// Unix seconds until which this CA may have issued (inclusive), if bounded.
    pub valid_to: Option<i64>,
}

/// Everything trusted for keyless verification.
#[derive(Debug, Clone, Default)]
pub struct TrustRoot {
    /// Rekor keys.
    pub tlogs: Vec<TrustedKey>,
    /// Certificate-transparency log keys (for SCTs).
    pub ctlogs: Vec<TrustedKey>,
    /// Fulcio (or private PKI) authorities.
    pub certificate_authorities: Vec<CertificateAuthority>,
    /// RFC 3161 timestamp authorities (chain: the TSA signing certificate first).
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

impl TrustedKey {
    /// Whether the key may be used at `t` (unix seconds).
    pub fn valid_at(&self, t: i64) -> bool {
        self.valid_from.is_none_or(|f| f <= t) && self.valid_to.is_none_or(|e| t <= e)
    }
}

/// Why trust material was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustRootError {
    /// The file is not JSON, or is too large.
    #[error("trusted root is not valid JSON: {0}")]
    Json(String),
    /// The media type is missing or not a supported `trusted_root.json` version.
    #[error("unsupported trusted root media type {0:?}")]
    MediaType(String),
    /// A field is missing or malformed.
    #[error("trusted root: {at}: {why}")]
    Field {
        /// Where in the document (e.g. `tlogs[0].publicKey.rawBytes`).
        at: String,
        /// What is wrong with it.
        why: String,
    },
    /// A PEM input could not be used.
    #[error("{what}: {why}")]
    Pem {
        /// Which input (e.g. `Rekor key 1`).
        what: String,
        /// What is wrong with it.
        why: String,
    },
}

/// An entry of `trusted_root.json` that was left out (never an error: leaving a key or CA out
/// can only make verification stricter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    /// Where in the document (e.g. `tlogs[2]`).
    pub at: String,
    /// Why it was skipped.
    pub reason: String,
}

/// The media types of sigstore trusted roots that [`TrustRoot::from_json`] reads.
pub const TRUSTED_ROOT_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
];

/// Largest `trusted_root.json` accepted (the public-good one is about 6 KB).
const MAX_TRUSTED_ROOT: usize = 4 << 20;

/// One authority from PEM `CERTIFICATE` blocks forming one chain, leaf-most first and root
/// last (a chain given root first is reversed); each certificate must be issued by the next
/// one (by name). No validity bounds. `what` names the chain in errors.
pub fn authority_from_pem(text: &str, what: &str) -> Result<CertificateAuthority, TrustRootError> {
    let pem_err = |why: String| TrustRootError::Pem {
        what: what.into(),
        why,
    };
    let chain = super::pubkey::pem_blocks(text, "CERTIFICATE").map_err(pem_err)?;
    if chain.is_empty() {
        return Err(pem_err("no CERTIFICATE block".into()));
    }
    let chain = order_chain(chain).map_err(pem_err)?;
    Ok(CertificateAuthority {
        chain,
        valid_from: None,
        valid_to: None,
    })
}

impl TrustRoot {
    /// Reads a sigstore `trusted_root.json` (see [`TrustRoot::from_json_report`]; the list of
    /// skipped entries is dropped).
    pub fn from_json(bytes: &[u8]) -> Result<TrustRoot, TrustRootError> {
        TrustRoot::from_json_report(bytes).map(|(root, _)| root)
    }

    /// Reads a sigstore `trusted_root.json` (media type
    /// `application/vnd.dev.sigstore.trustedroot+json;version=0.1`, or the `v0.2+json` form).
    ///
    /// * `tlogs[]` / `ctlogs[]`: `publicKey.rawBytes` (base64 DER SPKI), `logId.keyId` (base64,
    ///   32 bytes), `publicKey.validFor.{start,end}` (RFC 3339; `validFor` is optional, its
    ///   `start` is not). The `keyId` is taken
    ///   as given: it is how entries and SCTs name their log.
    /// * `certificateAuthorities[]`: `certChain.certificates[].rawBytes` (base64 DER, each one
    ///   must parse as an X.509 certificate), `validFor`.
    /// * `timestampAuthorities[]`: the same shape; the chain starts with the TSA's signing
    ///   certificate.
    /// * Unknown fields are ignored.
    ///
    /// Malformed data (bad base64, a bad date, a key whose bytes contradict its
    /// `keyDetails`, an unparsable certificate) is an error. Entries that are well formed
    /// but unusable here are skipped and listed in the second value: key types this tool
    /// cannot verify with (e.g. `PKIX_RSA_*` or unknown `keyDetails` for a transparency log,
    /// LMS), a log hash algorithm other than `SHA2_256`, a log without `rawBytes`, a log id
    /// that is not 32 bytes, a CA with an empty chain. Skipping only removes trust.
    ///
    /// Validity bounds are kept as whole unix seconds, rounded inwards (a start with a
    /// fraction of a second rounds up, an end rounds down), since signing times are whole
    /// seconds.
    pub fn from_json_report(
        bytes: &[u8],
    ) -> Result<(TrustRoot, Vec<SkippedEntry>), TrustRootError> {
        if bytes.len() > MAX_TRUSTED_ROOT {
            return Err(TrustRootError::Json(format!(
                "larger than {MAX_TRUSTED_ROOT} bytes"
            )));
        }
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| TrustRootError::Json(e.to_string()))?;
        let Some(obj) = doc.as_object() else {
            return Err(TrustRootError::Json("not a JSON object".into()));
        };
        let media = obj
            .get("mediaType")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        if !TRUSTED_ROOT_MEDIA_TYPES.contains(&media) {
            return Err(TrustRootError::MediaType(media.to_string()));
        }
        let mut skipped = Vec::new();
        let mut root = TrustRoot::default();
        for (section, is_tlog) in [("tlogs", true), ("ctlogs", false)] {
            for (i, item) in json_array(obj.get(section), section)?.iter().enumerate() {
                let at = format!("{section}[{i}]");
                match log_key_from_json(item, &at, is_tlog)? {
                    Ok(key) if is_tlog => root.tlogs.push(key),
                    Ok(key) => root.ctlogs.push(key),
                    Err(reason) => skipped.push(SkippedEntry { at, reason }),
                }
            }
        }
        for (section, is_tsa) in [
            ("certificateAuthorities", false),
            ("timestampAuthorities", true),
        ] {
            for (i, item) in json_array(obj.get(section), section)?.iter().enumerate() {
                let at = format!("{section}[{i}]");
                match ca_from_json(item, &at)? {
                    Some(ca) if is_tsa => root.timestamp_authorities.push(ca),
                    Some(ca) => root.certificate_authorities.push(ca),
                    None => skipped.push(SkippedEntry {
                        at,
                        reason: "empty certificate chain".into(),
                    }),
                }
            }
        }
        Ok((root, skipped))
    }

    /// Trust material for a private deployment, from PEM text:
    ///
    /// * `fulcio_chain_pem`: `CERTIFICATE` blocks forming one chain, issuing CA first and root
    ///   last (as cosign's `--certificate-chain`); a chain given root first is reversed. Each
    ///   certificate must be issued by the next one (by name).
    /// * `rekor_keys_pem`: each text holds one or more `PUBLIC KEY` blocks; Rekor keys must be
    ///   ECDSA or Ed25519 (an RSA key is refused).
    /// * `ctlog_keys_pem`: the same for CT logs (any supported key type).
    ///
    /// Log ids are the SHA-256 of each key's DER SPKI. Nothing has validity bounds.
    pub fn from_pem(
        fulcio_chain_pem: Option<&str>,
        rekor_keys_pem: &[&str],
        ctlog_keys_pem: &[&str],
    ) -> Result<TrustRoot, TrustRootError> {
        let mut root = TrustRoot::default();
        if let Some(text) = fulcio_chain_pem {
            root.certificate_authorities
                .push(authority_from_pem(text, "certificate chain")?);
        }
        for (texts, is_tlog) in [(rekor_keys_pem, true), (ctlog_keys_pem, false)] {
            for (i, text) in texts.iter().enumerate() {
                let what = format!("{} key {}", if is_tlog { "Rekor" } else { "CT log" }, i + 1);
                let pem_err = |why: String| TrustRootError::Pem {
                    what: what.clone(),
                    why,
                };
                let blocks = super::pubkey::pem_blocks(text, "PUBLIC KEY").map_err(pem_err)?;
                if blocks.is_empty() {
                    return Err(pem_err("no PUBLIC KEY block".into()));
                }
                for der in blocks {
                    let key = PublicKey::from_spki_der(&der).map_err(|e| pem_err(e.to_string()))?;
                    if is_tlog && matches!(key, PublicKey::Rsa(_)) {
                        return Err(pem_err(
                            "a Rekor key must be ECDSA or Ed25519, not RSA".into(),
                        ));
                    }
                    let trusted = TrustedKey {
                        log_id: key.log_id(),
                        key,
                        valid_from: None,
                        valid_to: None,
                    };
                    if is_tlog {
                        root.tlogs.push(trusted)
                    } else {
                        root.ctlogs.push(trusted)
                    }
                }
            }
        }
        Ok(root)
    }

    /// The Rekor key named by `log_id` that may be used at `t` (unix seconds).
    pub fn tlog_key(&self, log_id: &[u8], t: i64) -> Option<&TrustedKey> {
        find_key(&self.tlogs, log_id, t)
    }

    /// The CT log key named by `log_id` that may be used at `t` (unix seconds).
    pub fn ctlog_key(&self, log_id: &[u8], t: i64) -> Option<&TrustedKey> {
        find_key(&self.ctlogs, log_id, t)
    }
}

fn find_key<'a>(keys: &'a [TrustedKey], log_id: &[u8], t: i64) -> Option<&'a TrustedKey> {
    keys.iter()
        .find(|k| k.log_id.as_slice() == log_id && k.valid_at(t))
}

fn field(at: &str, why: impl Into<String>) -> TrustRootError {
    TrustRootError::Field {
        at: at.to_string(),
        why: why.into(),
    }
}

/// An optional array (absent or null reads as empty).
fn json_array<'a>(
    v: Option<&'a serde_json::Value>,
    at: &str,
) -> Result<&'a [serde_json::Value], TrustRootError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(&[]),
        Some(serde_json::Value::Array(items)) => Ok(items),
        Some(_) => Err(field(at, "not an array")),
    }
}

fn b64_field(v: Option<&serde_json::Value>, at: &str) -> Result<Option<Vec<u8>>, TrustRootError> {
    use base64::Engine;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Some)
            .map_err(|e| field(at, format!("bad base64: {e}"))),
        Some(_) => Err(field(at, "not a string")),
    }
}

/// `{start, end?}` as inclusive whole unix seconds; the start is required.
fn valid_for(
    v: Option<&serde_json::Value>,
    at: &str,
) -> Result<(Option<i64>, Option<i64>), TrustRootError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok((None, None));
    };
    let Some(range) = v.as_object() else {
        return Err(field(at, "not an object"));
    };
    let parse = |name: &str, round_up: bool| -> Result<Option<i64>, TrustRootError> {
        let at = format!("{at}.{name}");
        match range.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => {
                let t =
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .map_err(|e| field(&at, format!("bad RFC 3339 time {s:?}: {e}")))?;
                let secs = t.unix_timestamp();
                Ok(Some(if round_up && t.nanosecond() > 0 {
                    secs.saturating_add(1)
                } else {
                    secs
                }))
            }
            Some(_) => Err(field(&at, "not a string")),
        }
    };
    let (start, end) = (parse("start", true)?, parse("end", false)?);
    // A time range always has a start (sigstore's TimeRange); a missing one is not "forever".
    if start.is_none() {
        return Err(field(at, "has no start"));
    }
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(field(at, "ends before it starts"));
    }
    Ok((start, end))
}

/// A log key entry: `Ok(Ok(key))`, `Ok(Err(reason to skip))`, or an error for malformed data.
fn log_key_from_json(
    item: &serde_json::Value,
    at: &str,
    is_tlog: bool,
) -> Result<Result<TrustedKey, String>, TrustRootError> {
    if !item.is_object() {
        return Err(field(at, "not an object"));
    }
    if let Some(alg) = item.get("hashAlgorithm").and_then(|v| v.as_str())
        && alg != "SHA2_256"
    {
        return Ok(Err(format!("log hash algorithm {alg} is not supported")));
    }
    let pk_at = format!("{at}.publicKey");
    let Some(pk) = item.get("publicKey").filter(|v| v.is_object()) else {
        return Err(field(&pk_at, "missing"));
    };
    let Some(der) = b64_field(pk.get("rawBytes"), &format!("{pk_at}.rawBytes"))? else {
        return Ok(Err("no publicKey.rawBytes".into()));
    };
    let details = pk.get("keyDetails").and_then(|v| v.as_str());
    // What the keyDetails promise, as PublicKey::kind() names it (None: no promise).
    let promised = match details {
        None => None,
        Some("PKIX_ECDSA_P256_SHA_256") => Some("ecdsa-p256"),
        Some("PKIX_ECDSA_P384_SHA_384") => Some("ecdsa-p384"),
        Some("PKIX_ED25519" | "PKIX_ED25519_PH") => Some("ed25519"),
        Some(d) if d.starts_with("PKIX_RSA_") && !is_tlog => Some("rsa"),
        Some(d) => return Ok(Err(format!("key type {d} is not supported here"))),
    };
    let key = match PublicKey::from_spki_der(&der) {
        Ok(key) => key,
        Err(e) if promised.is_some() => {
            return Err(field(&format!("{pk_at}.rawBytes"), e.to_string()));
        }
        Err(e) => return Ok(Err(format!("unusable key: {e}"))),
    };
    if let Some(kind) = promised
        && kind != key.kind()
    {
        return Err(field(
            &pk_at,
            format!("keyDetails say {kind} but the key is {}", key.kind()),
        ));
    }
    if is_tlog && matches!(key, PublicKey::Rsa(_)) {
        return Ok(Err("RSA transparency-log keys are not supported".into()));
    }
    let id_at = format!("{at}.logId.keyId");
    let Some(id) = b64_field(item.get("logId").and_then(|v| v.get("keyId")), &id_at)? else {
        return Err(field(&id_at, "missing"));
    };
    let Ok(log_id) = <[u8; 32]>::try_from(id.as_slice()) else {
        return Ok(Err(format!("log id is {} bytes, not 32", id.len())));
    };
    let (valid_from, valid_to) = valid_for(pk.get("validFor"), &format!("{pk_at}.validFor"))?;
    Ok(Ok(TrustedKey {
        log_id,
        key,
        valid_from,
        valid_to,
    }))
}

/// A CA entry (`None` when its chain is empty).
fn ca_from_json(
    item: &serde_json::Value,
    at: &str,
) -> Result<Option<CertificateAuthority>, TrustRootError> {
    use der::Decode;
    if !item.is_object() {
        return Err(field(at, "not an object"));
    }
    let certs_at = format!("{at}.certChain.certificates");
    let certs = json_array(
        item.get("certChain").and_then(|c| c.get("certificates")),
        &certs_at,
    )?;
    let mut chain = Vec::with_capacity(certs.len());
    for (i, c) in certs.iter().enumerate() {
        let at = format!("{certs_at}[{i}].rawBytes");
        let Some(der) = b64_field(c.get("rawBytes"), &at)? else {
            return Err(field(&at, "missing"));
        };
        x509_cert::Certificate::from_der(&der)
            .map_err(|e| field(&at, format!("not a certificate: {e}")))?;
        chain.push(der);
    }
    if chain.is_empty() {
        return Ok(None);
    }
    let (valid_from, valid_to) = valid_for(item.get("validFor"), &format!("{at}.validFor"))?;
    Ok(Some(CertificateAuthority {
        chain,
        valid_from,
        valid_to,
    }))
}

/// Puts DER certificates in issuing-first order (each issued, by name, by the next), accepting
/// either order; anything else is refused.
fn order_chain(mut chain: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
    use der::Decode;
    let names = chain
        .iter()
        .enumerate()
        .map(|(i, der)| {
            x509_cert::Certificate::from_der(der)
                .map(|c| (c.tbs_certificate.issuer, c.tbs_certificate.subject))
                .map_err(|e| format!("certificate {}: {e}", i + 1))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let issued_by_next = |names: &[(x509_cert::name::Name, x509_cert::name::Name)]| {
        names.windows(2).all(|w| w[0].0 == w[1].1)
    };
    if issued_by_next(&names) {
        return Ok(chain);
    }
    let mut reversed = names;
    reversed.reverse();
    if issued_by_next(&reversed) {
        chain.reverse();
        return Ok(chain);
    }
    Err("the certificates do not form one chain (issuing CA first, root last)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROD: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/vectors/cosign/sigstore-rs/trust_root/prod/trusted_root.json"
    );
    const PGI: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/vectors/cosign/cosign/pkg/cosign/testdata/trusted_root_pgi.json"
    );
    const CI: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/vectors/cosign/containers-image/signature"
    );

    fn prod_json() -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(PROD).unwrap()).unwrap()
    }

    fn parse(v: &serde_json::Value) -> Result<(TrustRoot, Vec<SkippedEntry>), TrustRootError> {
        TrustRoot::from_json_report(&serde_json::to_vec(v).unwrap())
    }

    fn unix(s: &str) -> i64 {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    }

    #[test]
    fn reads_public_good_trusted_root() {
        let (root, skipped) = TrustRoot::from_json_report(&std::fs::read(PROD).unwrap()).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(root.tlogs.len(), 1);
        assert_eq!(root.ctlogs.len(), 2);
        assert_eq!(root.certificate_authorities.len(), 2);
        let rekor = &root.tlogs[0];
        assert_eq!(
            hex::encode(rekor.log_id),
            "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
        );
        // The keyId of the public-good log is the SHA-256 of its SPKI.
        assert_eq!(rekor.key.log_id(), rekor.log_id);
        assert_eq!(rekor.key.kind(), "ecdsa-p256");
        assert_eq!(rekor.valid_from, Some(unix("2021-01-12T11:53:27Z")));
        assert_eq!(rekor.valid_to, None);
        // Fractional end "2022-12-31T23:59:59.999Z" rounds down, so the last second is in.
        let ca0 = &root.certificate_authorities[0];
        assert_eq!(ca0.chain.len(), 1);
        assert_eq!(ca0.valid_from, Some(unix("2021-03-07T03:20:29Z")));
        assert_eq!(ca0.valid_to, Some(unix("2022-12-31T23:59:59Z")));
        assert_eq!(root.certificate_authorities[1].chain.len(), 2);
        assert_eq!(root.certificate_authorities[1].valid_to, None);
        assert_eq!(root.ctlogs[0].valid_to, Some(unix("2022-10-31T23:59:59Z")));

        // Lookup by id and time.
        let id = rekor.log_id;
        assert!(root.tlog_key(&id, unix("2023-01-20T21:57:39Z")).is_some());
        assert!(
            root.tlog_key(&id, unix("2021-01-12T11:53:26Z")).is_none(),
            "before the key's start"
        );
        assert!(
            root.tlog_key(&id[..31], unix("2023-01-20T21:57:39Z"))
                .is_none()
        );
        assert!(
            root.tlog_key(&root.ctlogs[1].log_id, unix("2023-01-01T00:00:00Z"))
                .is_none()
        );
        let ct_test = root.ctlogs[0].log_id;
        assert!(
            root.ctlog_key(&ct_test, unix("2022-10-31T23:59:59Z"))
                .is_some()
        );
        assert!(
            root.ctlog_key(&ct_test, unix("2022-11-01T00:00:00Z"))
                .is_none()
        );
    }

    #[test]
    fn cosign_copy_reads_the_same() {
        let Ok(bytes) = std::fs::read(PGI) else {
            return;
        };
        let a = TrustRoot::from_json(&bytes).unwrap();
        let b = TrustRoot::from_json(&std::fs::read(PROD).unwrap()).unwrap();
        assert_eq!(a.tlogs[0].log_id, b.tlogs[0].log_id);
        assert_eq!(
            a.certificate_authorities[1].chain,
            b.certificate_authorities[1].chain
        );
    }

    #[test]
    fn refuses_malformed_roots() {
        assert!(matches!(
            TrustRoot::from_json(b"not json"),
            Err(TrustRootError::Json(_))
        ));
        assert!(matches!(
            TrustRoot::from_json(b"[]"),
            Err(TrustRootError::Json(_))
        ));

        let mut v = prod_json();
        v["mediaType"] = "application/vnd.dev.sigstore.trustedroot+json;version=0.9".into();
        assert!(matches!(parse(&v), Err(TrustRootError::MediaType(_))));
        v.as_object_mut().unwrap().remove("mediaType");
        assert!(matches!(parse(&v), Err(TrustRootError::MediaType(_))));

        let mut v = prod_json();
        v["tlogs"][0]["publicKey"]["rawBytes"] = "not base64!".into();
        assert!(matches!(parse(&v), Err(TrustRootError::Field { .. })));

        let mut v = prod_json();
        v["tlogs"][0]["publicKey"]["validFor"]["start"] = "yesterday".into();
        assert!(matches!(parse(&v), Err(TrustRootError::Field { .. })));

        let mut v = prod_json();
        v["tlogs"][0]["publicKey"]["validFor"]["end"] = "2020-01-01T00:00:00Z".into();
        assert!(
            matches!(parse(&v), Err(TrustRootError::Field { .. })),
            "end before start"
        );

        // keyDetails contradicting the key bytes.
        let mut v = prod_json();
        v["tlogs"][0]["publicKey"]["keyDetails"] = "PKIX_ECDSA_P384_SHA_384".into();
        assert!(matches!(parse(&v), Err(TrustRootError::Field { .. })));

        // A CA certificate that is not a certificate.
        let mut v = prod_json();
        v["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"] = "AAAA".into();
        assert!(matches!(parse(&v), Err(TrustRootError::Field { .. })));

        let mut v = prod_json();
        v["tlogs"][0].as_object_mut().unwrap().remove("logId");
        assert!(matches!(parse(&v), Err(TrustRootError::Field { .. })));
    }

    #[test]
    fn skips_unusable_entries_with_a_reason() {
        let mut v = prod_json();
        v["tlogs"][0]["publicKey"]["keyDetails"] = "LMS_SHA256".into();
        v["ctlogs"][0]["hashAlgorithm"] = "SHA2_384".into();
        v["ctlogs"][1]["logId"]["keyId"] = "AAAA".into();
        v["certificateAuthorities"][0]["certChain"]["certificates"] = serde_json::json!([]);
        v["timestampAuthorities"] = serde_json::json!([{"whatever": 1}]);
        let (root, skipped) = parse(&v).unwrap();
        assert!(root.tlogs.is_empty() && root.ctlogs.is_empty());
        assert_eq!(root.certificate_authorities.len(), 1);
        let at: Vec<&str> = skipped.iter().map(|s| s.at.as_str()).collect();
        assert_eq!(
            at,
            [
                "tlogs[0]",
                "ctlogs[0]",
                "ctlogs[1]",
                "certificateAuthorities[0]",
                "timestampAuthorities[0]"
            ]
        );
        assert!(skipped[0].reason.contains("LMS_SHA256"));
    }

    #[test]
    fn builds_from_pem() {
        let read = |p: &str| std::fs::read_to_string(format!("{CI}/{p}")).unwrap();
        let rekor = read("internal/testdata/rekor.pub");
        let cosign = read("fixtures/cosign.pub");
        let chain = read("fixtures/fulcio-chain");
        let root = TrustRoot::from_pem(Some(&chain), &[&rekor], &[&cosign]).unwrap();
        assert_eq!(
            hex::encode(root.tlogs[0].log_id),
            "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
        );
        assert!(
            root.tlog_key(&root.tlogs[0].log_id, i64::MIN).is_some(),
            "no validity bounds"
        );
        assert_eq!(root.ctlogs.len(), 1);
        let ca = &root.certificate_authorities[0];
        assert_eq!(ca.chain.len(), 2);

        // Root-first order is put right.
        let blocks = crate::image::pubkey::pem_blocks(&chain, "CERTIFICATE").unwrap();
        let pem = |der: &[u8]| {
            der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap()
        };
        let reversed = format!("{}{}", pem(&blocks[1]), pem(&blocks[0]));
        let again = TrustRoot::from_pem(Some(&reversed), &[], &[]).unwrap();
        assert_eq!(again.certificate_authorities[0].chain, ca.chain);
        // Two unrelated certificates are not a chain.
        let pki_root = read("fixtures/pki_root_crts.pem");
        let mixed = format!("{}{}", pem(&blocks[0]), pki_root);
        assert!(TrustRoot::from_pem(Some(&mixed), &[], &[]).is_err());

        // RSA cannot be a Rekor key, but is fine as a CT log key.
        let rsa = read("fixtures/some-rsa-key.pub");
        assert!(matches!(
            TrustRoot::from_pem(None, &[&rsa], &[]),
            Err(TrustRootError::Pem { .. })
        ));
        assert!(TrustRoot::from_pem(None, &[], &[&rsa]).is_ok());
        // No key, or no certificate, is an error.
        assert!(TrustRoot::from_pem(None, &["nothing here"], &[]).is_err());
        assert!(TrustRoot::from_pem(Some(&rekor), &[], &[]).is_err());
    }
}
