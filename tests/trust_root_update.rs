//! `sigil trust-root update` against TUF repositories generated here (Ed25519 keys, metadata
//! signed over OLPC canonical JSON as the TUF specification says) and served on 127.0.0.1:
//! a good repository and a root rotation are accepted; expired, rolled-back, under-threshold,
//! mix-and-match and tampered metadata are refused, and the trust root already in place stays.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use common::Scratch;

const FUTURE: &str = "2099-01-01T00:00:00Z";
const PAST: &str = "2020-01-01T00:00:00Z";

/// OLPC canonical JSON: sorted keys, no whitespace, only `"` and `\` escaped.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            let items: Vec<String> = sorted
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        canonical(&Value::String((*k).clone())),
                        canonical(v)
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        Value::String(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        other => other.to_string(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Key(SigningKey);

impl Key {
    fn new() -> Key {
        Key(SigningKey::from_bytes(&rand::random::<[u8; 32]>()))
    }

    fn public(&self) -> Value {
        json!({"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": hex(self.0.verifying_key().as_bytes())}})
    }

    fn id(&self) -> String {
        hex(&Sha256::digest(canonical(&self.public()).as_bytes()))
    }
}

/// `{"signatures": [...], "signed": signed}` signed by `keys`.
fn sign(signed: Value, keys: &[&Key]) -> Vec<u8> {
    let msg = canonical(&signed);
    let sigs: Vec<Value> = keys
        .iter()
        .map(|k| json!({"keyid": k.id(), "sig": hex(&k.0.sign(msg.as_bytes()).to_bytes())}))
        .collect();
    serde_json::to_vec(&json!({"signatures": sigs, "signed": signed})).unwrap()
}

fn meta(bytes: &[u8], version: u64) -> Value {
    json!({"version": version, "length": bytes.len(), "hashes": {"sha256": hex(&Sha256::digest(bytes))}})
}

/// The four top-level roles' keys.
struct Keys {
    root: Key,
    targets: Key,
    snapshot: Key,
    timestamp: Key,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            root: Key::new(),
            targets: Key::new(),
            snapshot: Key::new(),
            timestamp: Key::new(),
        }
    }
}

fn root_doc(
    version: u64,
    k: &Keys,
    extra_timestamp: Option<&Key>,
    timestamp_threshold: u64,
) -> Value {
    let mut keys = serde_json::Map::new();
    for key in [&k.root, &k.targets, &k.snapshot, &k.timestamp]
        .into_iter()
        .chain(extra_timestamp)
    {
        keys.insert(key.id(), key.public());
    }
    let mut ts_ids = vec![k.timestamp.id()];
    ts_ids.extend(extra_timestamp.map(Key::id));
    json!({
        "_type": "root", "spec_version": "1.0.0", "version": version, "expires": FUTURE,
        "consistent_snapshot": false, "keys": keys,
        "roles": {
            "root": {"keyids": [k.root.id()], "threshold": 1},
            "targets": {"keyids": [k.targets.id()], "threshold": 1},
            "snapshot": {"keyids": [k.snapshot.id()], "threshold": 1},
            "timestamp": {"keyids": ts_ids, "threshold": timestamp_threshold},
        },
    })
}

/// A repository's files by path.
type Files = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// Timestamp, snapshot and targets (at `version`) for `target`, signed with `k`.
fn publish(files: &Files, k: &Keys, version: u64, target: &[u8], ts_expires: &str) {
    let targets = sign(
        json!({"_type": "targets", "spec_version": "1.0.0", "version": version, "expires": FUTURE,
               "targets": {"trusted_root.json": {"length": target.len(), "hashes": {"sha256": hex(&Sha256::digest(target))}}}}),
        &[&k.targets],
    );
    let snapshot = sign(
        json!({"_type": "snapshot", "spec_version": "1.0.0", "version": version, "expires": FUTURE,
               "meta": {"targets.json": meta(&targets, version)}}),
        &[&k.snapshot],
    );
    let timestamp = sign(
        json!({"_type": "timestamp", "spec_version": "1.0.0", "version": version, "expires": ts_expires,
               "meta": {"snapshot.json": meta(&snapshot, version)}}),
        &[&k.timestamp],
    );
    let mut f = files.lock().unwrap();
    f.insert("targets.json".into(), targets);
    f.insert("snapshot.json".into(), snapshot);
    f.insert("timestamp.json".into(), timestamp);
    f.insert("targets/trusted_root.json".into(), target.to_vec());
}

/// Serves `files` on 127.0.0.1 (GET only, 404 for anything else); returns the base URL.
fn serve(files: Files) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let body = files.lock().unwrap().get(&path).cloned();
            let mut conn = conn;
            let _ = match body {
                Some(b) => conn
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| conn.write_all(&b)),
                None => conn.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    url
}

struct Client {
    s: Scratch,
    url: String,
    root: PathBuf,
}

impl Client {
    fn out(&self) -> PathBuf {
        self.s.path("data/sigil/trusted_root.json")
    }

    fn update(&self) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(["trust-root", "update", "--tuf-url", &self.url, "--tuf-root"])
            .arg(&self.root)
            .env("XDG_DATA_HOME", self.s.path("data"))
            .env("XDG_CACHE_HOME", self.s.path("cache"))
            .output()
            .unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn refused(o: &Output, what: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    assert!(
        stderr(o).to_lowercase().contains(what),
        "want {what:?}: {}",
        stderr(o)
    );
}

fn conformance(rel: &str) -> PathBuf {
    common::vectors()
        .join("sigstore-conformance/test/assets/bundle-verify")
        .join(rel)
}

/// A repository at version 1 serving the trust root of the conformance suite's Rekor v2 cases,
/// and a client that trusts its root.json.
fn setup(k: &Keys) -> (Files, Client) {
    let files: Files = Arc::default();
    let root = sign(root_doc(1, k, None, 1), &[&k.root]);
    files
        .lock()
        .unwrap()
        .insert("1.root.json".into(), root.clone());
    let target = std::fs::read(conformance("rekor2-happy-path/trusted_root.json")).unwrap();
    publish(&files, k, 1, &target, FUTURE);
    let s = Scratch::new();
    let root_file = s.write("root.json", &root);
    let url = serve(files.clone());
    (
        files,
        Client {
            s,
            url,
            root: root_file,
        },
    )
}

fn verify_rekor2_case(c: &Client) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["verify", "blob", "--format", "json", "--bundle"])
        .arg(conformance("rekor2-happy-path/bundle.sigstore.json"))
        .args([
            "--certificate-identity",
            "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
            "--certificate-oidc-issuer",
            "https://token.actions.githubusercontent.com",
        ])
        .arg(conformance("../a.txt"))
        .env("XDG_DATA_HOME", c.s.path("data"))
        .output()
        .unwrap()
}

#[test]
fn an_update_is_what_verify_blob_then_trusts() {
    let k = Keys::new();
    let (_files, c) = setup(&k);
    // Before any update, the pinned public-good root applies: it has no Rekor v2 staging log.
    assert_eq!(verify_rekor2_case(&c).status.code(), Some(1));
    let o = c.update();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("root v1, timestamp v1, snapshot v1, targets v1"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(c.out()).unwrap(),
        std::fs::read(conformance("rekor2-happy-path/trusted_root.json")).unwrap()
    );
    let o = verify_rekor2_case(&c);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["trustRoot"]
            .as_str()
            .unwrap()
            .contains("data/sigil/trusted_root.json (sha256:")
    );
    let shown = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["trust-root", "show"])
        .env("XDG_DATA_HOME", c.s.path("data"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shown.stdout).contains("trusted_root.json"));
}

#[test]
fn a_rotated_root_is_followed_from_the_pinned_one() {
    let k = Keys::new();
    let (files, c) = setup(&k);
    let new = Keys::new();
    // Version 2 of root names new keys, signed by the old root key and the new one.
    let v2 = sign(root_doc(2, &new, None, 1), &[&k.root, &new.root]);
    files.lock().unwrap().insert("2.root.json".into(), v2);
    let target = std::fs::read(conformance("rekor2-happy-path/trusted_root.json")).unwrap();
    publish(&files, &new, 2, &target, FUTURE);
    let o = c.update();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("root v2"), "{}", stderr(&o));
    // A version 3 signed only by a key the old root does not name is not followed.
    let rogue = Keys::new();
    let v3 = sign(root_doc(3, &rogue, None, 1), &[&rogue.root]);
    files.lock().unwrap().insert("3.root.json".into(), v3);
    publish(&files, &rogue, 3, &target, FUTURE);
    refused(&c.update(), "threshold of 1 not met");
}

#[test]
fn bad_metadata_is_refused_and_the_trust_root_in_place_stays() {
    let k = Keys::new();
    let (files, c) = setup(&k);
    let target = std::fs::read(conformance("rekor2-happy-path/trusted_root.json")).unwrap();
    publish(&files, &k, 2, &target, FUTURE);
    assert!(c.update().status.success());
    let before = std::fs::read(c.out()).unwrap();

    // Expired timestamp metadata (a freeze attack).
    publish(&files, &k, 3, &target, PAST);
    refused(&c.update(), "expired");

    // Rollback: version 1 metadata after version 2 was seen.
    publish(&files, &k, 1, &target, FUTURE);
    refused(
        &c.update(),
        "found version 1 of timestamp metadata when we had previously fetched version 2",
    );

    // Mix and match: snapshot and timestamp of version 4, targets of another version.
    publish(&files, &k, 4, &target, FUTURE);
    let stale_targets = sign(
        json!({"_type": "targets", "spec_version": "1.0.0", "version": 4, "expires": FUTURE,
               "targets": {"trusted_root.json": {"length": 2, "hashes": {"sha256": hex(&Sha256::digest(b"{}"))}}}}),
        &[&k.targets],
    );
    files
        .lock()
        .unwrap()
        .insert("targets.json".into(), stale_targets);
    refused(&c.update(), "targets.json': hash mismatch");

    // The target's bytes differ from what targets metadata lists.
    publish(&files, &k, 5, &target, FUTURE);
    files.lock().unwrap().insert(
        "targets/trusted_root.json".into(),
        target[..target.len() - 1].to_vec(),
    );
    refused(&c.update(), "trusted_root.json': hash mismatch");

    // Signed by a key the root does not name for the role.
    publish(&files, &Keys::new(), 6, &target, FUTURE);
    refused(&c.update(), "threshold of 1 not met");

    // A well-signed target that is not a trust root.
    publish(&files, &k, 7, b"{\"not\": \"a trust root\"}", FUTURE);
    let o = c.update();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a usable trust root"),
        "{}",
        stderr(&o)
    );

    assert_eq!(
        std::fs::read(c.out()).unwrap(),
        before,
        "the trust root in place stays"
    );
}

#[test]
fn a_threshold_of_two_needs_two_signatures() {
    let k = Keys::new();
    let second = Key::new();
    let files: Files = Arc::default();
    let root = sign(root_doc(1, &k, Some(&second), 2), &[&k.root]);
    files
        .lock()
        .unwrap()
        .insert("1.root.json".into(), root.clone());
    let target = std::fs::read(conformance("rekor2-happy-path/trusted_root.json")).unwrap();
    publish(&files, &k, 1, &target, FUTURE);
    let s = Scratch::new();
    let c = Client {
        root: s.write("root.json", &root),
        url: serve(files.clone()),
        s,
    };
    refused(&c.update(), "threshold of 2 not met for role timestamp");
    assert!(!c.out().exists());
    // Both timestamp keys sign: accepted.
    let ts: Value = serde_json::from_slice(&files.lock().unwrap()["timestamp.json"]).unwrap();
    let both = sign(ts["signed"].clone(), &[&k.timestamp, &second]);
    files.lock().unwrap().insert("timestamp.json".into(), both);
    let o = c.update();
    assert!(o.status.success(), "{}", stderr(&o));
}
