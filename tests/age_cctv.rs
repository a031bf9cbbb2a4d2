//! Every C2SP age test vector (../shared/vectors/age-cctv) through the age path sigil uses to
//! unwrap data keys (`sigil::sops::keys::age::decrypt_into`), with its expected outcome.
//! Skipped vectors are listed with a reason in tests/age-cctv/skip.txt.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use sigil::sops::keys::age::{Failure, decrypt_into};
use zeroize::Zeroizing;

struct Vector {
    expect: String,
    payload: String,
    identities: Vec<String>,
    passphrases: Vec<String>,
    compressed: bool,
    body: Vec<u8>,
    unknown_key: bool,
}

fn parse(data: &[u8]) -> Vector {
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("header/body separator");
    let header = std::str::from_utf8(&data[..split]).expect("UTF-8 header");
    let mut v = Vector {
        expect: String::new(),
        payload: String::new(),
        identities: Vec::new(),
        passphrases: Vec::new(),
        compressed: false,
        body: data[split + 2..].to_vec(),
        unknown_key: false,
    };
    for line in header.lines() {
        let (k, val) = line.split_once(": ").expect("key: value");
        match k {
            "expect" => v.expect = val.to_string(),
            "payload" => v.payload = val.to_string(),
            "identity" => v.identities.push(val.to_string()),
            "passphrase" => v.passphrases.push(val.to_string()),
            "compressed" => v.compressed = val == "zlib",
            "armored" | "file key" | "comment" => {}
            _ => v.unknown_key = true,
        }
    }
    v
}

#[test]
fn every_cctv_vector_has_the_expected_outcome() {
    let dir = common::vectors().join("age-cctv/testdata");
    let skip_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/age-cctv/skip.txt"
    ))
    .unwrap();
    let skips: BTreeMap<&str, &str> = skip_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once('\t').expect("name<TAB>reason"))
        .collect();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("age-cctv vectors present")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.len() >= 140,
        "expected the full CCTV set, found {}",
        names.len()
    );
    let (mut checked, mut failures) = (0, Vec::new());
    for name in &names {
        if let Some(reason) = skips.get(name.as_str()) {
            assert!(!reason.trim().is_empty(), "{name}: skip needs a reason");
            continue;
        }
        let v = parse(&std::fs::read(dir.join(name)).unwrap());
        assert!(
            !v.unknown_key,
            "{name}: unknown header key; add it to the skip list with a reason"
        );
        let body = if v.compressed {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&v.body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            v.body.clone()
        };
        let ids: Vec<Box<dyn age::Identity>> = v
            .identities
            .iter()
            .map(|i| {
                Box::new(age::x25519::Identity::from_str(i).expect("X25519 identity"))
                    as Box<dyn age::Identity>
            })
            .collect();
        let pass = v
            .passphrases
            .first()
            .map(|p| age::secrecy::SecretString::from(p.clone()));
        let mut out = Zeroizing::new(Vec::new());
        let result = decrypt_into(&body, &ids, pass.as_ref(), 64 << 20, &mut out);
        let got = match &result {
            Ok(()) => "success",
            Err(Failure::NoMatch(_)) => "no match",
            Err(Failure::Hmac) => "HMAC failure",
            Err(Failure::Header(_)) => "header failure",
            Err(Failure::Payload(_)) => "payload failure",
            Err(Failure::TooLarge) => "too large",
        };
        // Armor failures surface as header failures through the decryptor (allowed: classes
        // may collapse, but a parse error must never look like an HMAC or payload error).
        let want = if v.expect == "armor failure" {
            "header failure"
        } else {
            v.expect.as_str()
        };
        let hash = hex::encode(Sha256::digest(&out[..]));
        let hash_ok = !(want == "success" || want == "payload failure") || hash == v.payload;
        if got != want || !hash_ok {
            failures.push(format!(
                "{name}: expected {} (payload {}), got {got} {result:?} (payload {hash})",
                v.expect, v.payload
            ));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} vectors wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
