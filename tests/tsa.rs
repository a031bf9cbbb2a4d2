//! RFC 3161 timestamps made by a real timestamp authority (`openssl ts -reply`, with a private
//! TSA root and a leaf whose extendedKeyUsage is critical timeStamping) and checked by
//! `sigil::image::tsa::verify`: every accepted form, and each refusal with its own error.

mod common;

use std::path::Path;

use common::{Scratch, openssl};
use sigil::image::cert::Certificate;
use sigil::image::trust_root::CertificateAuthority;
use sigil::image::tsa::{self, TsaError};

const TSA_CONFIG: &str = "[tsa]\ndefault_tsa = tsa_config\n[tsa_config]\ndir = .\nserial = ./tsaserial\ncrypto_device = builtin\nsigner_cert = ./tsa.pem\ncerts = ./tsa-root.pem\nsigner_key = ./tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1\nordering = no\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = ESS_ALG\nEXTRA\n";

/// A TSA root and a P-256 TSA leaf issued by it, in `dir`; `name` prefixes the files.
fn make_tsa(dir: &Path, name: &str, leaf_ext: &str) {
    let root = format!("{name}-root");
    openssl::ca(dir, &root, &format!("{name} tsa root"));
    openssl::csr(dir, name, &format!("{name} tsa"));
    openssl::sign(dir, name, &root, leaf_ext, name, None);
}

fn der(dir: &Path, pem: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(dir.join(pem)).unwrap();
    Certificate::parse_pem_chain(&text).unwrap()[0]
        .der()
        .to_vec()
}

fn authority(dir: &Path, name: &str, from: Option<i64>, to: Option<i64>) -> CertificateAuthority {
    CertificateAuthority {
        chain: vec![
            der(dir, &format!("{name}.pem")),
            der(dir, &format!("{name}-root.pem")),
        ],
        valid_from: from,
        valid_to: to,
    }
}

/// A timestamp response from the `tsa` TSA over `data`: `query` adds `openssl ts -query`
/// flags (digest, `-cert`), `reply` adds `openssl ts -reply` flags.
fn stamp(dir: &Path, data: &[u8], query: &[&str], ess_alg: &str, reply: &[&str]) -> Vec<u8> {
    stamp_with(dir, data, query, ess_alg, reply, "")
}

/// [`stamp`] with extra `[tsa_config]` lines (another signer, clock precision).
fn stamp_with(
    dir: &Path,
    data: &[u8],
    query: &[&str],
    ess_alg: &str,
    reply: &[&str],
    extra: &str,
) -> Vec<u8> {
    std::fs::write(
        dir.join("tsa.cnf"),
        TSA_CONFIG
            .replace("ESS_ALG", ess_alg)
            .replace("EXTRA", extra),
    )
    .unwrap();
    if !dir.join("tsaserial").exists() {
        std::fs::write(dir.join("tsaserial"), "01\n").unwrap();
    }
    let mut q = vec!["-no_nonce"];
    q.extend(query);
    openssl::timestamp(dir, data, &q, reply)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const LEAF_EXT: &str = "basicConstraints = critical,CA:false\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = critical,timeStamping\n";

#[test]
fn openssl_timestamps_verify_and_refusals_are_distinct() {
    let s = Scratch::new();
    let dir = s.path("tsa");
    std::fs::create_dir_all(&dir).unwrap();
    make_tsa(&dir, "tsa", LEAF_EXT);
    make_tsa(&dir, "other", LEAF_EXT);
    let trusted = [authority(&dir, "tsa", None, None)];
    let signature = b"\x30\x45raw signature bytes";

    // ESS v2 (SHA-256), certificates embedded: genTime is now.
    let resp = stamp(&dir, signature, &["-sha256", "-cert"], "sha256", &[]);
    let t = tsa::verify(&resp, signature, &trusted).expect("a valid timestamp");
    assert!((t - now()).abs() < 300, "genTime {t}");
    // No certificates in the token: the signing certificate comes from the authority.
    let bare = stamp(&dir, signature, &["-sha256"], "sha256", &[]);
    tsa::verify(&bare, signature, &trusted).expect("certificate from the trust root");
    // SHA-512 imprint, ESS v1 (SHA-1 certificate hash).
    let v1 = stamp(&dir, signature, &["-sha512", "-cert"], "sha1", &[]);
    tsa::verify(&v1, signature, &trusted).expect("sha512 imprint, ESS v1");
    // A bare TimeStampToken (no TimeStampResp around it).
    let token = stamp(
        &dir,
        signature,
        &["-sha256", "-cert"],
        "sha256",
        &["-token_out"],
    );
    tsa::verify(&token, signature, &trusted).expect("a bare token");

    // Other bytes than the signature.
    assert!(matches!(
        tsa::verify(&resp, b"another signature", &trusted),
        Err(TsaError::WrongImprint)
    ));
    // Another TSA's root trusted instead.
    let other = [authority(&dir, "other", None, None)];
    assert!(matches!(
        tsa::verify(&resp, signature, &other),
        Err(TsaError::Untrusted(_))
    ));
    // The authority's validity window ended before genTime.
    let expired = [authority(&dir, "tsa", Some(0), Some(now() - 3600))];
    assert!(matches!(
        tsa::verify(&resp, signature, &expired),
        Err(TsaError::Untrusted(_))
    ));
    // A refused request (SHA-1 is not in the TSA's digest list): status 2, never a time.
    let rejected = stamp(&dir, signature, &["-sha1"], "sha256", &[]);
    assert!(matches!(
        tsa::verify(&rejected, signature, &trusted),
        Err(TsaError::NotGranted(2))
    ));
    // Any flipped byte is refused (which error depends on where it lands); none panics.
    for i in (0..resp.len()).step_by(7) {
        let mut bad = resp.clone();
        bad[i] ^= 0x01;
        if let Ok(t2) = tsa::verify(&bad, signature, &trusted) {
            // Only bytes outside what is signed may change: the unsigned outer status
            // text or the embedded certificate set. The time stays the signed one.
            assert_eq!(t2, t, "byte {i} changed the time");
        }
    }
    let signed_part_flips = (0..resp.len())
        .filter(|&i| {
            let mut bad = resp.clone();
            bad[i] ^= 0x01;
            tsa::verify(&bad, signature, &trusted).is_err()
        })
        .count();
    assert!(signed_part_flips > resp.len() / 2, "{signed_part_flips}");
    for cut in [0, 1, 10, resp.len() / 2, resp.len() - 1] {
        assert!(tsa::verify(&resp[..cut], signature, &trusted).is_err());
    }
}

#[test]
fn a_substituted_signing_certificate_is_refused() {
    let s = Scratch::new();
    let dir = s.path("tsa");
    std::fs::create_dir_all(&dir).unwrap();
    // A second certificate for the same TSA key, without the timeStamping EKU (openssl ts
    // would not sign with such a leaf), offered by the trust root in place of the real one.
    make_tsa(&dir, "tsa", LEAF_EXT);
    let signature = b"sig";
    let resp = stamp(&dir, signature, &["-sha256"], "sha256", &[]);
    // Same issuer and serial number, so the signer identifier names it too.
    let serial = String::from_utf8(openssl::openssl(
        &dir,
        &["x509", "-in", "tsa.pem", "-noout", "-serial"],
    ))
    .unwrap();
    let serial = format!("0x{}", serial.trim().trim_start_matches("serial="));
    openssl::sign(
        &dir,
        "tsa",
        "tsa-root",
        "basicConstraints = critical,CA:false\nkeyUsage = critical,digitalSignature\n",
        "noeku",
        Some(&serial),
    );
    let no_eku = [CertificateAuthority {
        chain: vec![der(&dir, "noeku.pem"), der(&dir, "tsa-root.pem")],
        valid_from: None,
        valid_to: None,
    }];
    // The signature verifies with its key, but the ESS attribute names the real leaf.
    let e = tsa::verify(&resp, signature, &no_eku).unwrap_err();
    assert!(
        matches!(&e, TsaError::BadSignature(m) if m.contains("ESS")),
        "{e:?}"
    );
    // Trusted with the right leaf, it passes.
    let good = [authority(&dir, "tsa", None, None)];
    tsa::verify(&resp, signature, &good).unwrap();
}

#[test]
fn the_tsa_certificate_is_pinned_and_fractions_of_seconds_are_read() {
    let s = Scratch::new();
    let dir = s.path("tsa");
    std::fs::create_dir_all(&dir).unwrap();
    make_tsa(&dir, "tsa", LEAF_EXT);
    // A second timestamping certificate issued by the same root.
    openssl::csr(&dir, "sibling", "sibling tsa");
    openssl::sign(&dir, "sibling", "tsa-root", LEAF_EXT, "sibling", None);
    let signature = b"signature bytes";
    let by_sibling = stamp_with(
        &dir,
        signature,
        &["-sha256", "-cert"],
        "sha256",
        &[],
        "signer_cert = ./sibling.pem\nsigner_key = ./sibling.key",
    );
    // Trusted: the TSA certificate and its root. The sibling is not that TSA.
    let pinned = [authority(&dir, "tsa", None, None)];
    assert!(matches!(
        tsa::verify(&by_sibling, signature, &pinned),
        Err(TsaError::Untrusted(_))
    ));
    // Trusted: the root alone, as a CA: any timestamping certificate it issued may sign.
    let root_only = [CertificateAuthority {
        chain: vec![der(&dir, "tsa-root.pem")],
        valid_from: None,
        valid_to: None,
    }];
    tsa::verify(&by_sibling, signature, &root_only).expect("root-only authority");
    // Trusted: the TSA certificate alone (pinned, no chain).
    let leaf_only = [CertificateAuthority {
        chain: vec![der(&dir, "tsa.pem")],
        valid_from: None,
        valid_to: None,
    }];
    let by_tsa = stamp(&dir, signature, &["-sha256"], "sha256", &[]);
    tsa::verify(&by_tsa, signature, &leaf_only).expect("leaf-only authority");
    assert!(tsa::verify(&by_sibling, signature, &leaf_only).is_err());

    // genTime with milliseconds (RFC 3161 allows fractions): read, fractions dropped.
    let precise = stamp_with(
        &dir,
        signature,
        &["-sha256"],
        "sha256",
        &[],
        "clock_precision_digits = 6",
    );
    let text = String::from_utf8_lossy(&openssl::openssl(
        &dir,
        &["ts", "-reply", "-in", "r.tsr", "-text"],
    ))
    .into_owned();
    assert!(
        text.lines()
            .any(|l| l.starts_with("Time stamp:") && l.contains('.')),
        "{text}"
    );
    let t = tsa::verify(&precise, signature, &pinned).expect("fractional genTime");
    assert!((t - now()).abs() < 300, "{t}: {text}");
}
