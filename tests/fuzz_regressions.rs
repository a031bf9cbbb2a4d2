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
                        round_trip_equivalent(a, b, format == Format::Ini),
                        "{dir}: round trip changed values or comment paths"
                    );
                }
            }
        }
    }
    assert!(seen > 0, "no regression inputs found");
}
