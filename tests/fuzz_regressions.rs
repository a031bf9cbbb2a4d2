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

#[path = "../fuzz/fuzz_targets/image_harness.rs"]
mod image_harness;

/// The image targets' regression inputs, each through its fuzz target's own body.
#[test]
fn image_fuzz_regression_inputs_hold() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    type Run = fn(&[u8]);
    let targets: [(&str, Run); 7] = [
        ("image_reference", image_harness::image_reference::run),
        ("signature_layer", image_harness::signature_layer::run),
        ("bundle", image_harness::bundle::run),
        ("trust_root", image_harness::trust_root::run),
        ("x509", image_harness::x509::run),
        ("cosign_key", image_harness::cosign_key::run),
        ("www_authenticate", image_harness::www_authenticate::run),
    ];
    let mut seen = 0;
    for (dir, run) in targets {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            // A regression that hangs again fails the test instead of stalling the suite.
            std::thread::spawn(move || {
                run(&data);
                let _ = tx.send(());
            });
            match rx.recv_timeout(std::time::Duration::from_secs(20)) {
                Ok(()) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{}: still running after 20 s", path.display())
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{}: the target panicked", path.display())
                }
            }
            seen += 1;
        }
    }
    assert!(seen > 0, "no image regression inputs found");
}

#[path = "../fuzz/fuzz_targets/manifest_harness.rs"]
mod manifest_harness;

/// The manifest targets' regression inputs, each through its fuzz target's own body.
#[test]
fn manifest_fuzz_regression_inputs_hold() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    type Run = fn(&[u8]);
    let targets: [(&str, Run); 5] = [
        (
            "manifest_documents",
            manifest_harness::manifest_documents::run,
        ),
        ("kustomization", manifest_harness::kustomization::run),
        ("substitute", manifest_harness::substitute::run),
        ("directory_glob", manifest_harness::directory_glob::run),
        ("rendered_secret", manifest_harness::rendered_secret::run),
    ];
    let mut seen = 0;
    for (dir, run) in targets {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            // On a spawned thread's default stack, as the gate checks each source: a regression
            // that recurses without bound again aborts the suite.
            let result = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || run(&data))
                .unwrap()
                .join();
            assert!(result.is_ok(), "{}: the target panicked", path.display());
            seen += 1;
        }
    }
    assert!(seen > 0, "no manifest regression inputs found");
}

#[path = "../fuzz/fuzz_targets/sops_harness.rs"]
mod sops_harness;

#[path = "../fuzz/fuzz_targets/git_harness.rs"]
mod git_harness;

/// The targets that reach internals (registry auth challenges, the legacy OpenPGP decoder,
/// `cat-file --batch` replies): their regression inputs, if any, and a few well-formed inputs
/// that exercise each harness's own checks, through the fuzz targets' bodies.
#[test]
fn internal_parser_fuzz_inputs_hold() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    type Run = fn(&[u8]);
    let targets: [(&str, Run, &[&[u8]]); 3] = [
        (
            "www_authenticate",
            image_harness::www_authenticate::run,
            &[
                b"realm\thttps://auth.docker.io/token\nservice\tregistry.docker.io\nscope\trepository:library/nginx:pull,push",
                b"Bearer realm=\"https://ghcr.io/token\",service=\"ghcr.io\"",
            ],
        ),
        (
            "pgp_legacy",
            sops_harness::pgp_legacy::run,
            &[
                b"\x02\x00\x00\x00a data key",
                b"\x02\x01\x0b\x01deflate, short partial chunks",
                b"\x02\x02\x23\x02zlib, short partial chunks",
                b"\x01\x00\x03\x00\xcb\x08b\x00\x00\x00\x00\x00hi",
            ],
        ),
        (
            "git_repo_read",
            git_harness::git_repo_read::run,
            &[
                b"\x01\x00\x00hello\x00\x01\x00\x02tree abc\n\x00",
                b"\x03\x80\x00sha-256\x00\x03object x",
            ],
        ),
    ];
    for (dir, run, smoke) in targets {
        let mut inputs: Vec<(String, Vec<u8>)> = smoke
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{dir} smoke input {i}"), s.to_vec()))
            .collect();
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for e in entries {
                let path = e.unwrap().path();
                inputs.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
        for (name, data) in inputs {
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(result.is_ok(), "{name}: the target panicked");
        }
    }
}

/// In-repository policies (`fuzz/regressions/in_repo_policy`: two policies split at `\0`):
/// parsed, compared both ways and their certificates merged, without hanging (a kilobyte of
/// corrupt armor once took seconds in the keyring reader).
#[test]
fn in_repo_policy_regressions_hold() {
    use sigil::policy::in_repo::RepoPolicy;
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/in_repo_policy");
    let mut seen = 0;
    for e in std::fs::read_dir(root).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        seen += 1;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (a, b) = match data.iter().position(|&x| x == 0) {
                Some(i) => (&data[..i], &data[i + 1..]),
                None => (&data[..], &data[..]),
            };
            if let (Ok(a), Ok(b)) = (RepoPolicy::parse(a), RepoPolicy::parse(b)) {
                let _ = (a.diff(&b), b.diff(&a));
                let (a, b) = (a.load(), b.load());
                let _ = a.signing_certs(&b);
            }
            let _ = tx.send(());
        });
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .expect("an in-repo policy regression hangs again");
    }
    assert!(seen > 0);
}
