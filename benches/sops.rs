//! In-process timings of the SOPS engine on the two inputs (10,000 leaf values; one
//! 5 MiB value): parse + encrypt + emit, and parse + decrypt + MAC check + emit.
//! Run with `cargo bench --bench sops`; scripts/bench.py compares the binaries with sops.

use std::time::{Duration, Instant};

use sigil::sops::cipher::{Cipher, DataKey};
use sigil::sops::format::{Format, Layout, emit_encrypted, emit_plain, load_encrypted, load_plain};
use sigil::sops::metadata::{KeyGroup, MasterKey, Metadata, WRITE_VERSION};
use sigil::sops::ops;
use sigil::sops::rules::Selection;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(name: &str, input: &[u8]) {
    let layout = Layout::default();
    let key = DataKey::from_slice(&[42u8; 32]).expect("32 bytes");
    let mut enc_times = Vec::new();
    let mut encrypted = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let mut docs = load_plain(Format::Yaml, input).expect("parses");
        let mut meta = Metadata {
            shamir_threshold: 0,
            key_groups: vec![KeyGroup(vec![MasterKey::Age {
                recipient: "age1bench".into(),
                enc: "x".into(),
            }])],
            last_modified: String::new(),
            mac: String::new(),
            selection: Selection::default().with_default(),
            mac_only_encrypted: false,
            version: WRITE_VERSION.into(),
        };
        ops::seal(&mut docs, &mut meta, &Cipher::new(&key)).expect("encrypts");
        encrypted = emit_encrypted(Format::Yaml, &mut docs, &meta, &layout).expect("emits");
        enc_times.push(t.elapsed());
    }
    let mut dec_times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let (mut docs, meta) = load_encrypted(Format::Yaml, &encrypted).expect("parses");
        let key = DataKey::from_slice(&[42u8; 32]).expect("32 bytes");
        ops::decrypt_with_key(&mut docs, &meta, key, false, false).expect("decrypts");
        let out = emit_plain(Format::Yaml, &docs, &layout).expect("emits");
        assert_eq!(out.len(), input.len());
        dec_times.push(t.elapsed());
    }
    println!(
        "{name}: encrypt {:?}  decrypt {:?}  (median of 7, in process, no key wrapping)",
        median(enc_times),
        median(dec_times)
    );
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run only.
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 10_000 } else { 100 };
    let mut tenk = String::new();
    for i in 0..n {
        tenk.push_str(&format!("key{i}: value-{i}-secret\n"));
    }
    bench("10k leaves", tenk.as_bytes());
    let size = if full { 5 * 1024 * 1024 } else { 1024 };
    let big: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    bench("5 MiB value", format!("big: {big}\n").as_bytes());
}
