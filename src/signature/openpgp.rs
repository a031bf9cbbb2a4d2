//! OpenPGP signatures of git objects, checked in process with sequoia: the signing key must be
//! pinned in the policy (by certificate), valid and signing-capable at the signature's creation
//! time, which must be close to the committer time; weak hashes follow StandardPolicy.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openpgp::Cert;
use openpgp::cert::amalgamation::ValidAmalgamation;
use openpgp::packet::Signature;
use openpgp::parse::Parse;
use openpgp::policy::{HashAlgoSecurity, Policy, StandardPolicy};
use openpgp::types::{HashAlgorithm, RevocationStatus};
use sequoia_openpgp as openpgp;

use super::Refusal;

/// A successful check: which certificate and key signed, and when.
#[derive(Debug, Clone)]
pub struct Good {
    /// Primary fingerprint of the certificate.
    pub primary: String,
    /// Fingerprint of the (sub)key that signed.
    pub key: String,
    /// Signature creation time (Unix seconds).
    pub created: i64,
}

/// How times are judged.
pub struct Clock {
    /// The object's own time (committer or tagger), signer-controlled; `None`: the signature
    /// time need not be near it (in-repo policies, as sequoia-git: commits are re-signed
    /// without a new committer time).
    pub object_time: Option<i64>,
    /// Allowed distance between the signature time and `object_time`, and into the future.
    pub max_skew: Duration,
    /// When the verifier first saw the object (the gate's ledger), if known.
    pub first_seen: Option<i64>,
    /// Now.
    pub now: i64,
}

fn at(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH
    }
}

fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn refuse(code: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal {
        code,
        detail: detail.into(),
    }
}

/// Verifies an armored detached signature over `payload` against `certs`.
pub fn verify(
    armored: &[u8],
    payload: &[u8],
    certs: &[Cert],
    clock: &Clock,
    allow_sha1: bool,
) -> Result<Good, Refusal> {
    let pile = parse_signature(armored)?;
    let sigs: Vec<&Signature> = pile
        .children()
        .map(|p| match p {
            openpgp::Packet::Signature(s) => Ok(s),
            openpgp::Packet::Unknown(u) => Err(refuse(
                "bad-signature",
                format!(
                    "unreadable {} packet in the signature: {}",
                    u.tag(),
                    u.error()
                ),
            )),
            other => Err(refuse(
                "bad-signature",
                format!("unexpected {} packet in the signature", other.tag()),
            )),
        })
        .collect::<Result<_, _>>()?;
    let sig = match sigs.as_slice() {
        [one] => *one,
        [] => return Err(refuse("bad-signature", "no signature packet")),
        _ => {
            return Err(refuse(
                "duplicate-signature",
                "more than one OpenPGP signature",
            ));
        }
    };
    let created = sig
        .signature_creation_time()
        .map(secs)
        .ok_or_else(|| refuse("bad-signature", "the signature has no creation time"))?;
    let skew = clock.max_skew.as_secs() as i64;
    if created > clock.now + skew {
        return Err(refuse(
            "future-signature",
            "the signature claims to be made in the future",
        ));
    }
    if let Some(object_time) = clock.object_time
        && (created - object_time).abs() > skew
    {
        return Err(refuse(
            "time-mismatch",
            format!(
                "the signature was made {}s away from the commit/tag time (more than the allowed {skew}s skew)",
                created - object_time
            ),
        ));
    }
    let mut policy = StandardPolicy::new();
    if allow_sha1 {
        policy.accept_hash(HashAlgorithm::SHA1);
    }
    if let Err(e) = policy.signature(sig, HashAlgoSecurity::CollisionResistance) {
        return Err(refuse(
            "weak-hash",
            format!("{} signatures are refused: {e}", sig.hash_algo()),
        ));
    }
    let issuers = sig.get_issuers();
    let cert = certs
        .iter()
        .find(|c| {
            c.keys()
                .any(|k| issuers.iter().any(|i| i.aliases(k.key().key_handle())))
        })
        .ok_or_else(|| {
            refuse(
                "untrusted-key",
                format!(
                    "signed by {}, which is not a key of any signer in the policy",
                    issuers
                        .first()
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "an unknown key".into())
                ),
            )
        })?;
    let mut times = vec![created];
    if let Some(f) = clock.first_seen {
        times.push(f);
    }
    let mut key_fpr = String::new();
    for t in times {
        let vc = cert
            .with_policy(&policy as &dyn Policy, at(t))
            .map_err(|e| {
                refuse(
                    "untrusted-key",
                    format!(
                        "certificate {} is not valid at {}: {e}",
                        cert.fingerprint(),
                        t
                    ),
                )
            })?;
        if let RevocationStatus::Revoked(_) = vc.revocation_status() {
            return Err(refuse(
                "revoked-key",
                format!("certificate {} is revoked", cert.fingerprint()),
            ));
        }
        if vc.alive().is_err() {
            return Err(refuse(
                "expired-key",
                format!(
                    "certificate {} was expired at {}",
                    cert.fingerprint(),
                    describe(t, created)
                ),
            ));
        }
        let ka = vc
            .keys()
            .find(|k| issuers.iter().any(|i| i.aliases(k.key().key_handle())))
            .ok_or_else(|| {
                refuse(
                    "untrusted-key",
                    "the signing subkey has no valid binding at the signature time",
                )
            })?;
        if let RevocationStatus::Revoked(_) = ka.revocation_status() {
            return Err(refuse(
                "revoked-key",
                format!("key {} is revoked", ka.key().fingerprint()),
            ));
        }
        if ka.alive().is_err() {
            return Err(refuse(
                "expired-key",
                format!(
                    "key {} was expired at {}",
                    ka.key().fingerprint(),
                    describe(t, created)
                ),
            ));
        }
        if !ka.for_signing() {
            return Err(refuse(
                "not-signing-key",
                format!("key {} is not marked for signing", ka.key().fingerprint()),
            ));
        }
        if key_fpr.is_empty() {
            // Ed25519 signatures are checked with ed25519-dalek (several times faster than the
            // OpenSSL backend per call); anything else, or any doubt, goes through sequoia.
            if fast_ed25519(sig, ka.key(), payload) != Some(true) {
                sig.verify_message(ka.key(), payload).map_err(|_| {
                    refuse(
                        "bad-signature",
                        "the signature does not match the object (content altered after signing?)",
                    )
                })?;
            }
            key_fpr = ka.key().fingerprint().to_hex();
        }
    }
    Ok(Good {
        primary: cert.fingerprint().to_hex(),
        key: key_fpr,
        created,
    })
}

/// Parses a signature. When sequoia cannot read a packet (it keeps it as `Unknown`), the
/// signature MPIs are re-encoded minimally, as gpg and Go read them (see [`super::openpgp_mpi`]),
/// and parsed again; the caller refuses whatever still does not parse, with the parser's error.
fn parse_signature(armored: &[u8]) -> Result<openpgp::PacketPile, Refusal> {
    use std::io::Read;
    let pile = openpgp::PacketPile::from_bytes(armored).map_err(|e| {
        refuse(
            "bad-signature",
            format!("unreadable OpenPGP signature: {e}"),
        )
    })?;
    if !pile
        .children()
        .any(|p| matches!(p, openpgp::Packet::Unknown(_)))
    {
        return Ok(pile);
    }
    let mut binary = Vec::new();
    let mode = openpgp::armor::ReaderMode::Tolerant(Some(openpgp::armor::Kind::Signature));
    if openpgp::armor::Reader::from_bytes(armored, mode)
        .read_to_end(&mut binary)
        .is_err()
    {
        return Ok(pile);
    }
    match super::openpgp_mpi::normalise(&binary) {
        Some(fixed) => Ok(openpgp::PacketPile::from_bytes(&fixed).unwrap_or(pile)),
        None => Ok(pile),
    }
}

/// Verifies an Ed25519 data signature directly: the digest is computed as sequoia does
/// (hash of the message plus the signature trailer), then checked with `verify_strict`.
/// `None` when the key or signature is not Ed25519; `Some(false)` leaves the verdict to sequoia.
fn fast_ed25519<P: openpgp::packet::key::KeyParts, R: openpgp::packet::key::KeyRole>(
    sig: &Signature,
    key: &openpgp::packet::Key<P, R>,
    payload: &[u8],
) -> Option<bool> {
    use openpgp::crypto::hash::Hash;
    use openpgp::crypto::mpi;
    use openpgp::types::{Curve, SignatureType};
    if sig.typ() != SignatureType::Binary {
        return None;
    }
    let (pk, rs): ([u8; 32], [u8; 64]) = match (key.mpis(), sig.mpis()) {
        (
            mpi::PublicKey::EdDSA {
                curve: Curve::Ed25519,
                q,
            },
            mpi::Signature::EdDSA { r, s },
        ) => {
            let v = q.value();
            if v.len() != 33 || v[0] != 0x40 {
                return None;
            }
            let mut rs = [0u8; 64];
            rs[..32].copy_from_slice(&r.value_padded(32).ok()?);
            rs[32..].copy_from_slice(&s.value_padded(32).ok()?);
            (v[1..].try_into().ok()?, rs)
        }
        (mpi::PublicKey::Ed25519 { a }, mpi::Signature::Ed25519 { s }) => (*a, **s),
        _ => return None,
    };
    let mut ctx = sig.hash_algo().context().ok()?.for_signature(sig.version());
    if let Some(salt) = sig.salt() {
        ctx.update(salt);
    }
    ctx.update(payload);
    sig.hash(&mut ctx).ok()?;
    let digest = ctx.into_digest().ok()?;
    if digest.get(..2) != Some(&sig.digest_prefix()[..]) {
        return Some(false);
    }
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk).ok()?;
    Some(
        vk.verify_strict(&digest, &ed25519_dalek::Signature::from_bytes(&rs))
            .is_ok(),
    )
}

fn describe(t: i64, created: i64) -> String {
    if t == created {
        "the signature time".into()
    } else {
        "the first-seen time".into()
    }
}

/// Reads certificates (public keys) from armored or binary files.
pub fn load_certs(data: &[u8], origin: &str) -> Result<Vec<Cert>, String> {
    let parser =
        openpgp::cert::CertParser::from_bytes(data).map_err(|e| format!("{origin}: {e}"))?;
    let certs: Vec<Cert> = parser
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{origin}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{origin}: no OpenPGP certificate"));
    }
    Ok(certs
        .into_iter()
        .map(|c| c.strip_secret_key_material())
        .collect())
}
