//! gitsign (Sigstore keyless) commit signatures in gitsign's exact format, produced at test
//! time: a detached CMS signature by `openssl cms -sign` with a Fulcio-style leaf of the private
//! PKI, the Rekor `TransparencyLogEntry` of its `hashedrekord` (SET by the private Rekor key and
//! an inclusion proof) added as the unsigned attribute 1.3.6.1.4.1.57264.3.1, optionally an
//! openssl TSA token as id-aa-timeStampToken, armored as `SIGNED MESSAGE` in the commit's
//! `gpgsig` header. gitsign itself is on no registry this machine reaches, so it cannot be the
//! producer; a real public-good gitsign commit was verified by hand (see the README).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, Encode, Reader};

use common::Scratch;
use common::gate::git;
use common::sigstore_pki::*;

/// Protobuf wire encoding, just enough for a `TransparencyLogEntry`.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
fn pb_int(field: u64, v: u64, out: &mut Vec<u8>) {
    varint(field << 3, out);
    varint(v, out);
}
fn pb_bytes(field: u64, b: &[u8], out: &mut Vec<u8>) {
    varint((field << 3) | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// How the log entry is made.
#[derive(Clone, Copy, PartialEq)]
enum Entry {
    /// SET at this time, and an inclusion proof.
    Logged(i64),
    /// SET over another signature's body (a genuine entry, for something else).
    ForOther(i64),
    /// Inclusion proof only (no SET: the time must come from a timestamp).
    ProofOnly,
    /// No entry attribute (gitsign's online mode).
    None,
}

struct Lab {
    s: Scratch,
    pki: Pki,
    repo: PathBuf,
    root: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let s = Scratch::new();
        let pki = Pki::new(&s);
        pki.tsa();
        let repo = s.path("repo");
        let out = Command::new("git")
            .args(["init", "-q", "-b", "main"])
            .arg(&repo)
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::write(repo.join("a.txt"), "a\n").unwrap();
        git(&repo, &["add", "a.txt"]);
        let root = s.write("trusted_root.json", &pki.trusted_root_json());
        Lab { s, pki, repo, root }
    }

    /// A policy whose one signer is this keyless identity.
    fn policy(&self, name: &str, issuer: &str, subject: &str, root: &Path) -> PathBuf {
        self.s.write(
            name,
            format!(
                "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nmetadata: {{name: t}}\nspec:\n  signers:\n    - name: ci\n      emails: [{EMAIL}]\n      keyless:\n        issuer: '{issuer}'\n        subject: '{subject}'\n        trustedRoot: '{}'\n        ignoreSct: true\n  commits:\n    rules:\n      - refs: [\"refs/heads/*\"]\n        signers: [ci]\n  tags:\n    - pattern: \"v*\"\n      signers: [ci]\n",
                root.display()
            )
            .as_bytes(),
        )
    }

    /// The CMS signature gitsign would write over `payload`.
    fn gitsign(
        &self,
        leaf: &Leaf,
        leaf_name: &str,
        payload: &[u8],
        entry: Entry,
        stamp: bool,
    ) -> String {
        let dir = &self.pki.dir;
        std::fs::write(dir.join("payload"), payload).unwrap();
        let out = Command::new("openssl")
            .current_dir(dir)
            .args([
                "cms",
                "-sign",
                "-binary",
                "-md",
                "sha256",
                "-nosmimecap",
                "-outform",
                "DER",
                "-in",
                "payload",
                "-out",
                "sig.der",
                "-signer",
            ])
            .arg(format!("{leaf_name}.pem"))
            .arg("-inkey")
            .arg(format!("{leaf_name}.key"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let der = std::fs::read(dir.join("sig.der")).unwrap();
        let info = ContentInfo::from_der(&der).unwrap();
        let mut sd: SignedData = info.content.decode_as().unwrap();
        let mut si = sd.signer_infos.0.get(0).unwrap().clone();
        let signed_attrs = si.signed_attrs.as_ref().unwrap().to_der().unwrap();
        let signature = si.signature.as_bytes().to_vec();
        let mut unsigned = Vec::new();
        let logged = |sig: &[u8]| hashedrekord(&signed_attrs, sig, &leaf.pem);
        let body = logged(&signature);
        let (set_body, at, with_set) = match entry {
            Entry::Logged(at) => (body.clone(), at, true),
            Entry::ForOther(at) => (logged(b"another signature"), at, true),
            Entry::ProofOnly => (body.clone(), 0, false),
            Entry::None => (body.clone(), 0, false),
        };
        if entry != Entry::None {
            let mut pb = Vec::new();
            pb_int(1, 7, &mut pb);
            let mut id = Vec::new();
            pb_bytes(1, &log_id(&self.pki.rekor), &mut id);
            pb_bytes(2, &id, &mut pb);
            let mut kv = Vec::new();
            pb_bytes(1, b"hashedrekord", &mut kv);
            pb_bytes(2, b"0.0.1", &mut kv);
            pb_bytes(3, &kv, &mut pb);
            if with_set {
                pb_int(4, at as u64, &mut pb);
                let mut promise = Vec::new();
                pb_bytes(1, &set(&self.pki.rekor, &set_body, at, 7), &mut promise);
                pb_bytes(5, &promise, &mut pb);
            }
            let proof = single_leaf_proof(&self.pki, &set_body);
            let mut p = Vec::new();
            pb_int(1, 0, &mut p);
            pb_bytes(
                2,
                &B64.decode(proof["rootHash"].as_str().unwrap()).unwrap(),
                &mut p,
            );
            pb_int(3, 1, &mut p);
            let mut cp = Vec::new();
            pb_bytes(
                1,
                proof["checkpoint"]["envelope"].as_str().unwrap().as_bytes(),
                &mut cp,
            );
            pb_bytes(5, &cp, &mut p);
            pb_bytes(6, &p, &mut pb);
            unsigned.push(attribute(
                "1.3.6.1.4.1.57264.3.1",
                der::asn1::OctetString::new(pb).unwrap().to_der().unwrap(),
            ));
        }
        if stamp {
            let resp = self.pki.timestamp(&signature);
            // The token is the TimeStampResp's second element.
            let any = der::asn1::AnyRef::from_der(&resp).unwrap();
            let token = any
                .sequence(|r| {
                    let _status: der::asn1::AnyRef<'_> = r.decode()?;
                    let t: der::asn1::AnyRef<'_> = r.decode()?;
                    t.to_der()
                })
                .unwrap();
            unsigned.push(attribute("1.2.840.113549.1.9.16.2.14", token));
        }
        if !unsigned.is_empty() {
            si.unsigned_attrs = Some(unsigned.try_into().unwrap());
        }
        sd.signer_infos = cms::signed_data::SignerInfos(vec![si].try_into().unwrap());
        let info = ContentInfo {
            content_type: info.content_type,
            content: der::Any::encode_from(&sd).unwrap(),
        };
        let b64 = B64.encode(info.to_der().unwrap());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN SIGNED MESSAGE-----\n{}\n-----END SIGNED MESSAGE-----\n",
            lines.join("\n")
        )
    }

    /// Writes a commit of the index, committed by the certificate's email and signed as
    /// gitsign does; returns its id.
    fn commit(
        &self,
        leaf: &Leaf,
        leaf_name: &str,
        entry: Entry,
        stamp: bool,
        tamper: bool,
    ) -> String {
        self.commit_by(EMAIL, leaf, leaf_name, entry, stamp, tamper)
    }

    /// [`Lab::commit`] with another committer email.
    fn commit_by(
        &self,
        committer: &str,
        leaf: &Leaf,
        leaf_name: &str,
        entry: Entry,
        stamp: bool,
        tamper: bool,
    ) -> String {
        let tree = git(&self.repo, &["write-tree"]);
        let t = now();
        let payload = format!(
            "tree {tree}\nauthor CI <{committer}> {t} +0000\ncommitter CI <{committer}> {t} +0000\n\nsigned by gitsign\n"
        );
        let sig = self.gitsign(leaf, leaf_name, payload.as_bytes(), entry, stamp);
        let header: String = sig.trim_end().lines().collect::<Vec<_>>().join("\n ");
        let mut object = payload.replacen("\n\n", &format!("\ngpgsig {header}\n\n"), 1);
        if tamper {
            object = object.replace("signed by gitsign", "signed by gitsign!");
        }
        common::write_object(&self.repo, "commit", object.as_bytes())
    }

    /// A tag `name` of `target` signed as gitsign does (the signature appended to the message).
    fn tag(&self, name: &str, target: &str, leaf: &Leaf) -> String {
        let payload = format!(
            "object {target}\ntype commit\ntag {name}\ntagger CI <{EMAIL}> {} +0000\n\nrelease\n",
            now()
        );
        let sig = self.gitsign(
            leaf,
            "leaf",
            payload.as_bytes(),
            Entry::Logged(now()),
            false,
        );
        let id = common::write_object(&self.repo, "tag", format!("{payload}{sig}").as_bytes());
        git(
            &self.repo,
            &["update-ref", &format!("refs/tags/{name}"), id.trim()],
        );
        id.trim().to_string()
    }

    fn verify_tag(&self, policy: &Path, name: &str) -> (i32, serde_json::Value) {
        self.sigil(policy, &["tag", name])
    }

    fn verify(&self, policy: &Path, id: &str) -> (i32, serde_json::Value) {
        self.sigil(policy, &["commits", id, "--ref", "refs/heads/main"])
    }

    /// `sigil verify ARGS --format json --policy P --repo R`: (exit code, JSON or stderr).
    fn sigil(&self, policy: &Path, args: &[&str]) -> (i32, serde_json::Value) {
        let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
            .env("XDG_STATE_HOME", self.s.path("state"))
            .env("XDG_CACHE_HOME", self.s.path("cache"))
            .arg("verify")
            .args(args)
            .args(["--format", "json", "--policy"])
            .arg(policy)
            .arg("--repo")
            .arg(&self.repo)
            .output()
            .unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&out.stderr).into_owned())
        });
        (out.status.code().unwrap_or(-1), v)
    }
}

fn attribute(oid: &str, value_der: Vec<u8>) -> x509_cert::attr::Attribute {
    x509_cert::attr::Attribute {
        oid: const_oid::ObjectIdentifier::new_unwrap(oid),
        values: vec![der::Any::from_der(&value_der).unwrap()]
            .try_into()
            .unwrap(),
    }
}

fn refused(r: &(i32, serde_json::Value), reason: &str) {
    assert_eq!(r.0, 1, "{:#}", r.1);
    assert_eq!(r.1["reason"], reason, "{:#}", r.1);
}

#[test]
fn gitsign_commits() {
    let lab = Lab::new();
    let leaf = lab.pki.email_leaf("leaf");
    let root = lab.root.clone();
    let p = lab.policy("p.yaml", ISSUER, EMAIL, &root);
    let at = now();

    let good = lab.commit(&leaf, "leaf", Entry::Logged(at), false, false);
    let r = lab.verify(&p, &good);
    assert_eq!(r.0, 0, "{:#}", r.1);
    assert_eq!(r.1["commits"][0]["signatureType"], "gitsign", "{:#}", r.1);
    assert_eq!(r.1["commits"][0]["principal"], EMAIL, "{:#}", r.1);

    // A tag signed the same way.
    git(&lab.repo, &["update-ref", "refs/heads/main", &good]);
    lab.tag("v1", &good, &leaf);
    let r = lab.verify_tag(&p, "v1");
    assert_eq!(r.0, 0, "{:#}", r.1);
    assert_eq!(r.1["tags"][0]["signatureType"], "gitsign", "{:#}", r.1);

    // requireCommitterMatch compares the committer with the certificate's subject.
    let strict = lab.s.write(
        "strict.yaml",
        std::fs::read_to_string(&p)
            .unwrap()
            .replace(
                "signers: [ci]\n  tags:",
                "signers: [ci]\n        requireCommitterMatch: true\n  tags:",
            )
            .as_bytes(),
    );
    let r = lab.verify(&strict, &good);
    assert_eq!(r.0, 0, "{:#}", r.1);
    let by_eve = lab.commit_by(
        "eve@example.com",
        &leaf,
        "leaf",
        Entry::Logged(at),
        false,
        false,
    );
    refused(&lab.verify(&strict, &by_eve), "committer-mismatch");
    assert_eq!(lab.verify(&p, &by_eve).0, 0);

    // Identity and issuer.
    let p_eve = lab.policy("eve.yaml", ISSUER, "eve@example.com", &root);
    refused(&lab.verify(&p_eve, &good), "identity-mismatch");
    let p_google = lab.policy("google.yaml", "https://accounts.google.com", EMAIL, &root);
    refused(&lab.verify(&p_google, &good), "identity-mismatch");
    // A trust root with another CA (the pinned public-good one).
    let p_public = lab.s.write(
        "public.yaml",
        format!("apiVersion: sigil.dev/v1alpha1\nkind: Policy\nmetadata: {{name: t}}\nspec:\n  signers:\n    - name: ci\n      keyless: {{issuer: '{ISSUER}', subject: '{EMAIL}', ignoreSct: true}}\n  commits:\n    rules:\n      - refs: [\"refs/heads/*\"]\n        signers: [ci]\n").as_bytes(),
    );
    refused(&lab.verify(&p_public, &good), "tlog-mismatch");

    // Logged before the certificate was valid (the log's time is the signing time).
    let early = lab.commit(&leaf, "leaf", Entry::Logged(at - 2 * DAY), false, false);
    refused(&lab.verify(&p, &early), "cert-expired");
    // A genuine log entry, for another signature.
    let other = lab.commit(&leaf, "leaf", Entry::ForOther(at), false, false);
    refused(&lab.verify(&p, &other), "tlog-mismatch");
    // No entry (gitsign's online mode).
    let online = lab.commit(&leaf, "leaf", Entry::None, false, false);
    refused(&lab.verify(&p, &online), "tlog-missing");
    // Content changed after signing.
    let tampered = lab.commit(&leaf, "leaf", Entry::Logged(at), false, true);
    refused(&lab.verify(&p, &tampered), "bad-signature");

    // An entry with an inclusion proof and no SET takes its time from an RFC 3161 timestamp.
    let stamped = lab.commit(&leaf, "leaf", Entry::ProofOnly, true, false);
    let r = lab.verify(&p, &stamped);
    assert_eq!(r.0, 0, "{:#}", r.1);
    let unstamped = lab.commit(&leaf, "leaf", Entry::ProofOnly, false, false);
    refused(&lab.verify(&p, &unstamped), "tlog-missing");

    // An expired leaf: still verified when the log says it signed while the leaf was valid
    // (short-lived certificates expire minutes after signing).
    let t = now();
    let expired = lab.pki.leaf(
        "expired",
        "inter",
        &leaf_ext(Some("codeSigning"), &format!("email:{EMAIL}")),
        t - 3 * DAY,
        t - 2 * DAY,
    );
    let old = lab.commit(
        &expired,
        "expired",
        Entry::Logged(t - 2 * DAY - 60),
        false,
        false,
    );
    let r = lab.verify(&p, &old);
    assert_eq!(r.0, 0, "{:#}", r.1);
}

/// The stand-in Rekor search API (`tests/common/rekor_search.py`), stopped when dropped.
struct RekorSearch {
    child: std::process::Child,
    port: u16,
    entries: PathBuf,
    log: PathBuf,
}

impl RekorSearch {
    fn start(s: &Scratch) -> RekorSearch {
        use std::io::BufRead;
        let entries = s.path("rekor-entries.json");
        let log = s.path("rekor-requests.log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/rekor_search.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&entries)
            .arg(&log)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        RekorSearch {
            child,
            port: line.trim().parse().unwrap(),
            entries,
            log,
        }
    }

    /// Logs `entry` as uuid `uuid`, indexed by the SHA-256 of `data`.
    fn add(&self, uuid: &str, data: &[u8], entry: serde_json::Value) {
        use sha2::Digest;
        let mut all: serde_json::Value = std::fs::read(&self.entries)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        all[uuid] = serde_json::json!({"hash": hex(&sha2::Sha256::digest(data)), "entry": entry});
        std::fs::write(&self.entries, serde_json::to_vec(&all).unwrap()).unwrap();
    }

    fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for RekorSearch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The entry gitsign's online mode logs for an object: a hashedrekord of the object id (as
/// text) signed by the leaf's key, with a SET by `log` at `at`, as Rekor's API returns it.
fn online_entry(
    leaf: &Leaf,
    object_id: &str,
    at: i64,
    log: &p256::ecdsa::SigningKey,
) -> serde_json::Value {
    let sig = sign(&leaf.key, object_id.as_bytes());
    let body = hashedrekord(object_id.as_bytes(), &sig, &leaf.pem);
    serde_json::json!({
        "body": B64.encode(&body),
        "integratedTime": at,
        "logID": hex(&log_id(log)),
        "logIndex": 9,
        "verification": {"signedEntryTimestamp": B64.encode(set(log, &body, at, 9))},
    })
}

#[test]
fn gitsign_online_mode_searches_rekor_only_when_the_signer_allows_it() {
    let lab = Lab::new();
    let leaf = lab.pki.email_leaf("leaf");
    let rekor = RekorSearch::start(&lab.s);
    let plain = lab.policy("p.yaml", ISSUER, EMAIL, &lab.root);
    let search = |name: &str, p: &Path| {
        lab.s.write(
            name,
            std::fs::read_to_string(p)
                .unwrap()
                .replace(
                    "ignoreSct: true\n",
                    &format!(
                        "ignoreSct: true\n        rekorSearch: 'http://127.0.0.1:{}'\n",
                        rekor.port
                    ),
                )
                .as_bytes(),
        )
    };
    let online = search("online.yaml", &plain);
    let at = now();
    let commit = |who: &str| lab.commit_by(who, &leaf, "leaf", Entry::None, false, false);

    // Without rekorSearch nothing is asked: tlog-missing, as before.
    let c = commit(EMAIL);
    refused(&lab.verify(&plain, &c), "tlog-missing");
    assert_eq!(rekor.requests(), 0);
    // Allowed, but the log has no entry for the commit.
    let r = lab.verify(&online, &c);
    refused(&r, "tlog-missing");
    assert!(
        r.1["commits"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("no entry"),
        "{:#}",
        r.1
    );
    // gitsign's entry is in the log: verified; the next run finds it in the cache.
    rekor.add(
        "01aa",
        c.as_bytes(),
        online_entry(&leaf, &c, at, &lab.pki.rekor),
    );
    let r = lab.verify(&online, &c);
    assert_eq!(r.0, 0, "{:#}", r.1);
    assert_eq!(r.1["commits"][0]["signatureType"], "gitsign", "{:#}", r.1);
    let asked = rekor.requests();
    assert_eq!(lab.verify(&online, &c).0, 0);
    assert_eq!(
        rekor.requests(),
        asked,
        "the second verification used the cache"
    );

    // Entries that do not fit are refused: made with another certificate's key, by a log the
    // trust root does not know, integrated before the certificate was valid, or for another
    // object (the commit's id is what was signed and logged).
    let other = lab.pki.email_leaf("other");
    let c2 = commit("two@example.com");
    rekor.add(
        "02aa",
        c2.as_bytes(),
        online_entry(&other, &c2, at, &lab.pki.rekor),
    );
    // (The logged signature is checked with this commit's certificate first.)
    refused(&lab.verify(&online, &c2), "bad-signature");
    let c3 = commit("three@example.com");
    let stranger = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    rekor.add(
        "03aa",
        c3.as_bytes(),
        online_entry(&leaf, &c3, at, &stranger),
    );
    refused(&lab.verify(&online, &c3), "tlog-mismatch");
    let c4 = commit("four@example.com");
    rekor.add(
        "04aa",
        c4.as_bytes(),
        online_entry(&leaf, &c4, at - 3600, &lab.pki.rekor),
    );
    refused(&lab.verify(&online, &c4), "cert-expired");
    let c5 = commit("five@example.com");
    rekor.add(
        "05aa",
        c5.as_bytes(),
        online_entry(&leaf, &c, at, &lab.pki.rekor),
    );
    // (A search answer that lies about what it found: the logged signature is over another id.)
    refused(&lab.verify(&online, &c5), "bad-signature");
    // The identity rule still applies.
    let bob = search(
        "bob.yaml",
        &lab.policy("bob-plain.yaml", ISSUER, "bob@example.com", &lab.root),
    );
    refused(&lab.verify(&bob, &c), "identity-mismatch");
    // The log unreachable: refused, with the reason, never accepted.
    drop(rekor);
    let c6 = commit("six@example.com");
    let r = lab.verify(&online, &c6);
    refused(&r, "tlog-missing");
    assert!(
        r.1["commits"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("cannot search"),
        "{:#}",
        r.1
    );
}
