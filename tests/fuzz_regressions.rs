//! Inputs the fuzzers found (fuzz/regressions/<target>/) stay fixed: every store parses them
//! without panicking, and what parses re-emits and parses again.

use sigil::sops::format::{Format, Layout, emit_plain, load_encrypted, load_plain};
use sigil::sops::tree::round_trip_equivalent;

#[test]
fn fuzz_regression_inputs_hold() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut seen = 0;
    for (dir, format) in [
        ("yaml", Format::Yaml),
        ("json", Format::Json),
        ("dotenv", Format::Dotenv),
        ("ini", Format::Ini),
        ("metadata", Format::Json),
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            seen += 1;
            let _ = load_encrypted(format, &data);
            if let Ok(docs) = load_plain(format, &data)
                && let Ok(out) = emit_plain(
                    format,
                    &docs,
                    &Layout {
                        yaml_comment_quirks: false,
                        ..Layout::default()
                    },
                )
            {
                let again = load_plain(format, &out).expect("re-emitted output parses again");
                assert_eq!(again.len(), docs.len());
                for (a, b) in again.iter().zip(&docs) {
                    assert!(
                        round_trip_equivalent(a, b, format == Format::Ini, format != Format::Yaml),
                        "{dir}: round trip changed values or comment paths"
                    );
                }
            }
        }
    }
    assert!(seen > 0, "no regression inputs found");
}

#[test]
fn sigil_decrypts_what_it_encrypts_for_every_yaml_regression() {
    use sigil::sops::cipher::{Cipher, DataKey};
    use sigil::sops::format::{clone_entry, emit_encrypted};
    use sigil::sops::metadata::{KeyGroup, MasterKey, Metadata, WRITE_VERSION};
    use sigil::sops::ops;
    use sigil::sops::rules::Selection;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/yaml");
    let layout = Layout {
        yaml_comment_quirks: false,
        ..Layout::default()
    };
    for e in std::fs::read_dir(root).unwrap() {
        let path = e.unwrap().path();
        let Ok(docs) = load_plain(Format::Yaml, &std::fs::read(&path).unwrap()) else {
            continue;
        };
        let mut enc: Vec<Vec<_>> = docs
            .iter()
            .map(|d| d.iter().map(clone_entry).collect())
            .collect();
        let mut meta = Metadata {
            shamir_threshold: 0,
            key_groups: vec![KeyGroup(vec![MasterKey::Age {
                recipient: "age1test".into(),
                enc: "x".into(),
            }])],
            last_modified: String::new(),
            mac: String::new(),
            selection: Selection::default().with_default(),
            mac_only_encrypted: false,
            version: WRITE_VERSION.into(),
        };
        if ops::seal(
            &mut enc,
            &mut meta,
            &Cipher::new(&DataKey::from_slice(&[9; 32]).unwrap()),
        )
        .is_err()
        {
            continue;
        }
        let bytes = emit_encrypted(Format::Yaml, &mut enc, &meta, &layout).unwrap();
        let (mut back, meta2) = load_encrypted(Format::Yaml, &bytes).unwrap();
        ops::decrypt_with_key(
            &mut back,
            &meta2,
            DataKey::from_slice(&[9; 32]).unwrap(),
            false,
            false,
        )
        .unwrap_or_else(|e| panic!("{}: sigil cannot decrypt its own file: {e}", path.display()));
        for (a, b) in back.iter().zip(&docs) {
            assert!(
                round_trip_equivalent(a, b, false, false),
                "{}",
                path.display()
            );
        }
    }
}
