//! `verify blob` in process: one conformance bundle verified for its artifact (bundle parse,
//! certificate path and SCT, Rekor SET or inclusion proof and checkpoint, RFC 3161 timestamp,
//! body binding, identity), with the trust root parsed once, and with the trust root parsed
//! each time (what one `sigil verify blob` process does besides starting). Target: ≤ 5 ms.
//! Run: `cargo bench --bench blob`.

mod support;
use support::per_op;

use std::sync::Arc;

use sigil::image::blob::{Artifact, verify_blob};
use sigil::image::public_good;
use sigil::image::trust_root::TrustRoot;
use sigil::image::verify::{Authority, Keyless, Matcher, Trust};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn case(rel: &str) -> Vec<u8> {
    let p = format!(
        "{}/../shared/vectors/sigstore-conformance/test/assets/bundle-verify/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn authority(root: TrustRoot) -> Authority {
    Authority {
        name: "identity".into(),
        trust: Trust::Keyless(Box::new(Keyless {
            root: Arc::new(root),
            issuer: Matcher::Exact(ISSUER.into()),
            subject: Matcher::Exact(IDENTITY.into()),
            require_sct: true,
            require_tlog: true,
            rekor_search: None,
        })),
    }
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run only.
    let full = std::env::args().any(|a| a == "--bench");
    let (n, n_root) = if full { (200, 100) } else { (1, 1) };
    if !full {
        println!("smoke run (no --bench): the times below are not measurements");
    }
    let artifact = Artifact::from_reader(&case("a.txt")[..]).unwrap();
    for (name, root_json) in [
        ("happy-path-v0.3", public_good::JSON.to_vec()),
        ("happy-path-intoto-in-dsse-v3", public_good::JSON.to_vec()),
        (
            "rekor2-happy-path",
            case("rekor2-happy-path/trusted_root.json"),
        ),
    ] {
        let bundle = case(&format!("{name}/bundle.sigstore.json"));
        let a = [authority(TrustRoot::from_json(&root_json).unwrap())];
        let target = if name.contains("intoto") {
            // The statement's subject is the artifact of that case.
            let v: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
            use base64::Engine;
            let payload = base64::engine::general_purpose::STANDARD
                .decode(v["dsseEnvelope"]["payload"].as_str().unwrap())
                .unwrap();
            let st: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            let hex = st["subject"][0]["digest"]["sha256"].as_str().unwrap();
            Artifact::from_digest(&format!("sha256:{hex}")).unwrap()
        } else {
            artifact
        };
        verify_blob(&bundle, &target, &a).unwrap_or_else(|f| panic!("{name}: {f:?}"));
        let warm = per_op(n, || {
            assert!(verify_blob(&bundle, &target, &a).is_ok());
        });
        let with_root = per_op(n_root, || {
            let a = [authority(TrustRoot::from_json(&root_json).unwrap())];
            assert!(verify_blob(&bundle, &target, &a).is_ok());
        });
        println!(
            "{name:32} verify {:7.3} ms   with trust-root parse {:7.3} ms   (target ≤ 5 ms)",
            warm.as_secs_f64() * 1e3,
            with_root.as_secs_f64() * 1e3
        );
    }
}
