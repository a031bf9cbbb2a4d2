//! The signing policy a repository carries itself: sequoia-git's `openpgp-policy.toml`
//! (version 0). Each commit's policy is the file at the root of its tree (none: the void
//! policy, which authorises nothing). A parent's policy authorises a child when the child's
//! signer holds the needed right there and every change from the parent's policy to the
//! child's is one that signer may make. This file is the policy model only: parsing, the
//! rights a change needs, which certificates can check a signature, hard revocations. The
//! walk over the commit graph lives in `git/verify/in_repo.rs`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use sequoia_openpgp as openpgp;
use serde::Deserialize;

use openpgp::cert::amalgamation::ValidAmalgamation;
use openpgp::cert::raw::{RawCert, RawCertParser};
use openpgp::packet::Signature;
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::types::{RevocationStatus, RevocationType, SignatureType};
use openpgp::{Cert, Fingerprint, KeyHandle, Packet};

/// The file's name, at the root of every commit's tree.
pub const FILE: &str = "openpgp-policy.toml";

/// One commit's policy, as written (unknown keys are ignored, as the specification asks).
#[derive(Deserialize, Default, Clone, PartialEq, Eq, Debug)]
pub struct RepoPolicy {
    /// Must be 0.
    #[serde(default)]
    pub version: u64,
    /// Commits accepted even though their signer's key was later hard revoked.
    #[serde(default)]
    pub commit_goodlist: BTreeSet<String>,
    /// Entities and their rights, by a free-form name.
    #[serde(default)]
    pub authorization: BTreeMap<String, Authorization>,
}

/// One entity: its rights and its OpenPGP certificates.
#[derive(Deserialize, Default, Clone, PartialEq, Eq, Debug)]
pub struct Authorization {
    #[serde(default)]
    sign_commit: bool,
    #[serde(default)]
    sign_tag: bool,
    #[serde(default)]
    sign_archive: bool,
    #[serde(default)]
    add_user: bool,
    #[serde(default)]
    retire_user: bool,
    #[serde(default)]
    audit: bool,
    /// ASCII-armored certificates (one or more blocks).
    keyring: String,
}

/// A capability of the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Right {
    /// Sign commits.
    SignCommit,
    /// Sign tags.
    SignTag,
    /// Sign archives.
    SignArchive,
    /// Add entities, certificates and rights (that the signer holds).
    AddUser,
    /// Remove entities, certificates, rights and first-party signatures.
    RetireUser,
    /// Change `version` and `commit_goodlist`.
    Audit,
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Right::SignCommit => "sign_commit",
            Right::SignTag => "sign_tag",
            Right::SignArchive => "sign_archive",
            Right::AddUser => "add_user",
            Right::RetireUser => "retire_user",
            Right::Audit => "audit",
        })
    }
}

impl Authorization {
    /// The rights this entity holds.
    pub fn rights(&self) -> BTreeSet<Right> {
        [
            (self.sign_commit, Right::SignCommit),
            (self.sign_tag, Right::SignTag),
            (self.sign_archive, Right::SignArchive),
            (self.add_user, Right::AddUser),
            (self.retire_user, Right::RetireUser),
            (self.audit, Right::Audit),
        ]
        .into_iter()
        .filter_map(|(held, r)| held.then_some(r))
        .collect()
    }

    /// Each certificate of the keyring that parses, as (fingerprint, bytes) (others are
    /// skipped, as sequoia-git does).
    fn certs(&self) -> Vec<(Fingerprint, Vec<u8>)> {
        let binary = dearmor(&self.keyring);
        RawCertParser::from_bytes(&binary)
            .map(|p| {
                p.filter_map(Result::ok)
                    .map(|c| (c.fingerprint(), c.as_bytes().to_vec()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl RepoPolicy {
    /// Parses a policy file; an empty file is the void policy. Versions other than 0 are
    /// refused (the specification: an implementation SHOULD error out).
    pub fn parse(bytes: &[u8]) -> Result<RepoPolicy, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("{FILE} is not UTF-8"))?;
        let policy: RepoPolicy =
            toml::from_str(text).map_err(|e| format!("{FILE} is not a valid policy: {e}"))?;
        if policy.version != 0 {
            return Err(format!(
                "{FILE} has version {}; only version 0 is understood",
                policy.version
            ));
        }
        for c in &policy.commit_goodlist {
            if !matches!(c.len(), 40 | 64) || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "{FILE}: commit_goodlist entry '{c}' is not a full commit id"
                ));
            }
        }
        Ok(policy)
    }

    /// Reads every keyring once, for the lookups a verification makes.
    pub fn load(self) -> LoadedPolicy {
        let mut holders = Vec::new();
        let mut certs: BTreeMap<Fingerprint, Cert> = BTreeMap::new();
        for (name, a) in &self.authorization {
            for (fpr, bytes) in a.certs() {
                holders.push((fpr, name.clone()));
                if let Ok(cert) = Cert::from_bytes(&bytes) {
                    merge_into(&mut certs, cert);
                }
            }
        }
        LoadedPolicy {
            policy: self,
            holders,
            certs: certs.into_values().collect(),
        }
    }

    /// Every change from this policy to `to`, in a stable order.
    pub fn diff(&self, to: &RepoPolicy) -> Vec<Change> {
        let mut changes = Vec::new();
        if self.version != to.version {
            changes.push(Change::Version(self.version, to.version));
        }
        for c in self.commit_goodlist.difference(&to.commit_goodlist) {
            changes.push(Change::Ungoodlist(c.clone()));
        }
        for c in to.commit_goodlist.difference(&self.commit_goodlist) {
            changes.push(Change::Goodlist(c.clone()));
        }
        let none = Authorization::default();
        for (name, from) in &self.authorization {
            if !to.authorization.contains_key(name) {
                from.diff(&none, name, &mut changes);
                changes.push(Change::RetireUser(name.clone()));
            }
        }
        for (name, from) in &self.authorization {
            if let Some(b) = to.authorization.get(name) {
                from.diff(b, name, &mut changes);
            }
        }
        for (name, b) in &to.authorization {
            if !self.authorization.contains_key(name) {
                changes.push(Change::AddUser(name.clone()));
                none.diff(b, name, &mut changes);
            }
        }
        changes
    }
}

/// A policy with its keyrings read.
pub struct LoadedPolicy {
    /// The policy as written.
    pub policy: RepoPolicy,
    /// (certificate, entity) for every certificate of every keyring.
    holders: Vec<(Fingerprint, String)>,
    /// Every certificate, copies of one merged, by fingerprint.
    certs: Vec<Cert>,
}

impl LoadedPolicy {
    /// The same policy (one loaded copy per file, so mostly a pointer comparison).
    pub fn same(&self, other: &LoadedPolicy) -> bool {
        std::ptr::eq(self, other) || self.policy == other.policy
    }

    /// The entities whose keyring holds the certificate `fpr`, with their rights.
    pub fn holders(&self, fpr: &Fingerprint) -> Vec<(&str, BTreeSet<Right>)> {
        let mut out: Vec<(&str, BTreeSet<Right>)> = Vec::new();
        for (f, name) in &self.holders {
            if f == fpr && !out.iter().any(|(n, _)| n == name) {
                out.push((name, self.policy.authorization[name].rights()));
            }
        }
        out
    }

    /// The certificates that check a signature made under this (the parent's) policy: its
    /// own, updated with what the child's policy adds to the same certificates (new subkeys,
    /// user IDs, extended expiry) but never with the child's revocations, so a commit may
    /// revoke its own signer's key. The child cannot add certificates.
    pub fn signing_certs<'a>(&'a self, child: &LoadedPolicy) -> Cow<'a, [Cert]> {
        if self.same(child) {
            return Cow::Borrowed(&self.certs);
        }
        let mut out = Vec::with_capacity(self.certs.len());
        for cert in &self.certs {
            let fpr = cert.fingerprint();
            let update = child.certs.iter().find(|c| c.fingerprint() == fpr);
            let merged = update.and_then(|u| {
                let packets = u.clone().into_packets().filter(|p| {
                    !matches!(p, Packet::Signature(s) if matches!(s.typ(),
                        SignatureType::KeyRevocation
                            | SignatureType::SubkeyRevocation
                            | SignatureType::CertificationRevocation))
                });
                cert.clone().insert_packets(packets).ok().map(|(c, _)| c)
            });
            out.push(merged.unwrap_or_else(|| cert.clone()));
        }
        Cow::Owned(out)
    }

    /// Keys (primary and signing subkeys) this policy hard-revokes, judged now: a revocation
    /// without a reason, or with a reason other than superseded/retired/user ID no longer valid.
    pub fn hard_revoked(&self, now: std::time::SystemTime) -> BTreeSet<Fingerprint> {
        let policy = StandardPolicy::new();
        let hard = |rs: RevocationStatus<'_>| match rs {
            RevocationStatus::Revoked(revs) => revs.iter().any(|r| {
                r.reason_for_revocation()
                    .is_none_or(|(reason, _)| reason.revocation_type() == RevocationType::Hard)
            }),
            _ => false,
        };
        let mut out = BTreeSet::new();
        for cert in &self.certs {
            let Ok(vc) = cert.with_policy(&policy, now) else {
                continue;
            };
            if hard(vc.revocation_status()) {
                out.insert(vc.fingerprint());
                out.extend(
                    vc.keys()
                        .subkeys()
                        .for_signing()
                        .map(|k| k.key().fingerprint()),
                );
                continue;
            }
            for k in vc.keys().subkeys().for_signing() {
                if hard(k.revocation_status()) {
                    out.insert(k.key().fingerprint());
                }
            }
        }
        out
    }
}

/// Merges `cert` into the certificate with the same fingerprint in `map` (or adds it).
fn merge_into(map: &mut BTreeMap<Fingerprint, Cert>, cert: Cert) {
    let fpr = cert.fingerprint();
    let merged = match map.remove(&fpr) {
        Some(old) => old.clone().merge_public(cert).unwrap_or(old),
        None => cert,
    };
    map.insert(fpr, merged);
}

/// One change between two policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `version` changed.
    Version(u64, u64),
    /// A commit added to `commit_goodlist`.
    Goodlist(String),
    /// A commit removed from `commit_goodlist`.
    Ungoodlist(String),
    /// A new entity.
    AddUser(String),
    /// An entity removed.
    RetireUser(String),
    /// A right granted.
    AddRight(String, Right),
    /// A right taken away.
    RemoveRight(String, Right),
    /// A certificate added to an entity's keyring.
    AddCert(String, Fingerprint),
    /// A certificate removed from an entity's keyring.
    RemoveCert(String, Fingerprint),
    /// A signature removed from a certificate (or moved to another component); `true` when it
    /// is the certificate's own (first-party) signature.
    RemovePacket(String, Fingerprint, bool),
}

impl Change {
    /// The rights this change needs (all of them).
    pub fn needs(&self) -> Vec<Right> {
        match self {
            Change::Version(..) | Change::Goodlist(_) | Change::Ungoodlist(_) => vec![Right::Audit],
            Change::AddUser(_) | Change::AddCert(..) => vec![Right::AddUser],
            Change::RetireUser(_) | Change::RemoveCert(..) => vec![Right::RetireUser],
            Change::AddRight(_, r) => vec![Right::AddUser, *r],
            Change::RemoveRight(_, r) => vec![Right::RetireUser, *r],
            Change::RemovePacket(_, _, true) => vec![Right::RetireUser],
            Change::RemovePacket(_, _, false) => Vec::new(),
        }
    }

    /// The first right of `needs()` missing from `held`, if any.
    pub fn missing(&self, held: &BTreeSet<Right>) -> Option<Right> {
        self.needs().into_iter().find(|r| !held.contains(r))
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Version(a, b) => write!(f, "changes version {a} to {b}"),
            Change::Goodlist(c) => write!(f, "goodlists commit {c}"),
            Change::Ungoodlist(c) => write!(f, "removes commit {c} from the goodlist"),
            Change::AddUser(n) => write!(f, "adds the entity '{n}'"),
            Change::RetireUser(n) => write!(f, "removes the entity '{n}'"),
            Change::AddRight(n, r) => write!(f, "grants {r} to '{n}'"),
            Change::RemoveRight(n, r) => write!(f, "takes {r} from '{n}'"),
            Change::AddCert(n, c) => write!(f, "adds certificate {c} to '{n}'"),
            Change::RemoveCert(n, c) => write!(f, "removes certificate {c} from '{n}'"),
            Change::RemovePacket(n, c, _) => {
                write!(f, "removes a self-signature from certificate {c} of '{n}'")
            }
        }
    }
}

impl Authorization {
    /// Appends the changes from `self` to `to` for the entity `name`.
    fn diff(&self, to: &Authorization, name: &str, changes: &mut Vec<Change>) {
        let (from, to_rights) = (self.rights(), to.rights());
        for r in from.difference(&to_rights) {
            changes.push(Change::RemoveRight(name.into(), *r));
        }
        for r in to_rights.difference(&from) {
            changes.push(Change::AddRight(name.into(), *r));
        }
        if self.keyring == to.keyring {
            return;
        }
        let old = by_fingerprint(self);
        let new = by_fingerprint(to);
        for fpr in old.keys().filter(|f| !new.contains_key(*f)) {
            changes.push(Change::RemoveCert(name.into(), fpr.clone()));
        }
        for fpr in new.keys().filter(|f| !old.contains_key(*f)) {
            changes.push(Change::AddCert(name.into(), fpr.clone()));
        }
        for (fpr, old_certs) in &old {
            let Some(new_certs) = new.get(fpr) else {
                continue;
            };
            if old_certs == new_certs {
                continue;
            }
            #[allow(clippy::mutable_key_type)]
            let (p, c) = (tuples(old_certs), tuples(new_certs));
            let handle = KeyHandle::from(fpr);
            let mut removed: Vec<&(Packet, Signature)> = p.difference(&c).collect();
            // First-party removals first, so the message names the one that needs a right.
            removed.sort_by_key(|(_, s)| !first_party(s, &handle));
            for (_, sig) in removed {
                changes.push(Change::RemovePacket(
                    name.into(),
                    fpr.clone(),
                    first_party(sig, &handle),
                ));
            }
        }
    }
}

fn first_party(sig: &Signature, cert: &KeyHandle) -> bool {
    sig.get_issuers().iter().any(|i| i.aliases(cert))
}

/// The armored blocks of a keyring, dearmored and concatenated; text outside them and blocks
/// that do not dearmor are skipped. Done here, block by block, because sequoia's reader of
/// armored keyrings takes seconds over a kilobyte of corrupt armor (a policy file is
/// attacker-controlled input), while the binary reader does not.
fn dearmor(keyring: &str) -> Vec<u8> {
    use std::io::Read;
    const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
    const END: &str = "-----END PGP PUBLIC KEY BLOCK-----";
    let mut out = Vec::new();
    let mut rest = keyring;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let block = &rest[start..start + len + END.len()];
        rest = &rest[start + len + END.len()..];
        let mode = openpgp::armor::ReaderMode::Tolerant(Some(openpgp::armor::Kind::PublicKey));
        let mut binary = Vec::new();
        if openpgp::armor::Reader::from_bytes(block.as_bytes(), mode)
            .read_to_end(&mut binary)
            .is_ok()
        {
            out.extend_from_slice(&binary);
        }
    }
    out
}

/// The certificates of a keyring grouped by fingerprint (copies of one certificate kept apart).
fn by_fingerprint(a: &Authorization) -> BTreeMap<Fingerprint, Vec<Vec<u8>>> {
    let mut map: BTreeMap<Fingerprint, Vec<Vec<u8>>> = BTreeMap::new();
    for (fpr, bytes) in a.certs() {
        map.entry(fpr).or_default().push(bytes);
    }
    map
}

/// Each signature of the certificates paired with the component before it (marker packets
/// skipped; a packet that does not parse is skipped, as sequoia-git does). Packets are compared
/// with sequoia's own equality, as sequoia-git compares them; their interior caches do not
/// take part in it.
#[allow(clippy::mutable_key_type)]
fn tuples(certs: &[Vec<u8>]) -> HashSet<(Packet, Signature)> {
    let mut out = HashSet::new();
    for bytes in certs {
        let Ok(cert) = RawCert::from_bytes(bytes) else {
            continue;
        };
        let mut packets = cert.packets().filter_map(|p| Packet::try_from(p).ok());
        let Some(mut component) = packets.next() else {
            continue;
        };
        for packet in packets {
            match packet {
                Packet::Signature(sig) => {
                    out.insert((component.clone(), sig));
                }
                Packet::Marker(_) => {}
                other => component = other,
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn void_and_versions() {
        assert_eq!(RepoPolicy::parse(b"").unwrap(), RepoPolicy::default());
        assert!(RepoPolicy::parse(b"version = 1").is_err());
        assert!(RepoPolicy::parse(b"version = \"0\"").is_err());
        assert!(RepoPolicy::parse(b"unknown = 3\nversion = 0").is_ok());
        assert!(RepoPolicy::parse(b"commit_goodlist = [\"abc\"]").is_err());
        assert!(RepoPolicy::parse(b"[authorization.a]\nsign_commit = true").is_err());
    }

    #[test]
    fn rights_of_changes() {
        let a = RepoPolicy::parse(
            b"[authorization.alice]\nsign_commit = true\nadd_user = true\nkeyring = \"\"",
        )
        .unwrap();
        let mut b = a.clone();
        b.authorization.insert(
            "bob".into(),
            Authorization {
                sign_commit: true,
                ..Default::default()
            },
        );
        let d = a.diff(&b);
        assert_eq!(
            d,
            vec![
                Change::AddUser("bob".into()),
                Change::AddRight("bob".into(), Right::SignCommit)
            ]
        );
        let alice = a.authorization["alice"].rights();
        assert!(d.iter().all(|c| c.missing(&alice).is_none()));
        // Removing bob again needs retire_user (and sign_commit, the right taken).
        let back = b.diff(&a);
        assert_eq!(back[0].missing(&alice), Some(Right::RetireUser));
    }
}
