//! The yaml store: parsing never panics; whatever parses re-emits with the same values; and a
//! file sigil encrypts, sigil decrypts again (comments included) with the same values.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::sops::cipher::{Cipher, DataKey};
use sigil::sops::format::{Format, Layout, clone_entry, emit_encrypted, emit_plain, load_encrypted, load_plain};
use sigil::sops::metadata::{KeyGroup, MasterKey, Metadata, WRITE_VERSION};
use sigil::sops::ops;
use sigil::sops::rules::Selection;
use sigil::sops::tree::round_trip_equivalent;

fuzz_target!(|data: &[u8]| {
    let _ = load_encrypted(Format::Yaml, data);
    let Ok(docs) = load_plain(Format::Yaml, data) else { return };
    let layout = Layout { yaml_comment_quirks: false, ..Layout::default() };
    if let Ok(out) = emit_plain(Format::Yaml, &docs, &layout) {
        let again = load_plain(Format::Yaml, &out).expect("emitted output must parse again");
        assert_eq!(again.len(), docs.len());
        for (a, b) in again.iter().zip(&docs) {
            assert!(round_trip_equivalent(a, b, false, false), "plaintext round trip changed values or comments");
        }
    }
    let key = DataKey::from_slice(&[9u8; 32]).expect("32 bytes");
    let mut enc: Vec<Vec<_>> = docs.iter().map(|d| d.iter().map(clone_entry).collect()).collect();
    let mut meta = Metadata {
        shamir_threshold: 0,
        key_groups: vec![KeyGroup(vec![MasterKey::Age { recipient: "age1fuzz".into(), enc: "x".into() }])],
        last_modified: String::new(),
        mac: String::new(),
        selection: Selection::default().with_default(),
        mac_only_encrypted: false,
        version: WRITE_VERSION.into(),
    };
    if ops::seal(&mut enc, &mut meta, &Cipher::new(&key)).is_err() {
        return;
    }
    let Ok(bytes) = emit_encrypted(Format::Yaml, &mut enc, &meta, &layout) else { return };
    let (mut back, meta2) = load_encrypted(Format::Yaml, &bytes).expect("sigil must read the file it wrote");
    let key = DataKey::from_slice(&[9u8; 32]).expect("32 bytes");
    ops::decrypt_with_key(&mut back, &meta2, key, false, false).expect("sigil must decrypt the file it wrote");
    assert_eq!(back.len(), docs.len());
    for (a, b) in back.iter().zip(&docs) {
        assert!(round_trip_equivalent(a, b, false, false), "encrypt/decrypt round trip changed values or comments");
    }
});
