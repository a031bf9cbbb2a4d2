//! The `openssl` CLI for the tests' private PKIs: CAs, keys with CSRs, certificates signed
//! with given extensions (files named `<name>.key`, `<name>.csr`, `<name>.pem` in `dir`).

use std::path::Path;
use std::process::Command;

/// Runs `openssl` in `dir`, asserts success, returns stdout.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (Debian package openssl; scripts/peers.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A P-256 key `<name>.key` and a self-signed CA certificate `<name>.pem` for CN=`cn`.
pub fn ca(dir: &Path, name: &str, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
}

/// A P-256 key `<name>.key` and a certificate request `<name>.csr` for CN=`cn`.
pub fn csr(dir: &Path, name: &str, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
}

/// Certifies `<request>.csr` with the CA `<ca>.pem`/`<ca>.key` and the extensions `ext`
/// (config lines) into `<out>.pem`, valid 10 days, with serial number `serial` (default: a
/// fresh one).
pub fn sign(dir: &Path, request: &str, ca: &str, ext: &str, out: &str, serial: Option<&str>) {
    let ext_file = format!("{out}.ext");
    std::fs::write(dir.join(&ext_file), ext).unwrap();
    let (csr, ca_pem, ca_key, pem) = (
        format!("{request}.csr"),
        format!("{ca}.pem"),
        format!("{ca}.key"),
        format!("{out}.pem"),
    );
    let mut args = vec![
        "x509", "-req", "-in", &csr, "-CA", &ca_pem, "-CAkey", &ca_key, "-days", "10", "-extfile",
        &ext_file, "-out", &pem,
    ];
    match serial {
        Some(s) => args.extend(["-set_serial", s]),
        None => args.push("-CAcreateserial"),
    }
    openssl(dir, &args);
}

/// A DER TimeStampResp over `data` from the TSA that `dir/tsa.cnf` configures: `openssl ts
/// -query` with the `query` flags (digest, `-cert`, `-no_nonce`), then `-reply` with the
/// `reply` flags (`-token_out`).
pub fn timestamp(dir: &Path, data: &[u8], query: &[&str], reply: &[&str]) -> Vec<u8> {
    std::fs::write(dir.join("stamped"), data).unwrap();
    let mut q = vec!["ts", "-query", "-data", "stamped", "-out", "q.tsq"];
    q.extend(query);
    openssl(dir, &q);
    let mut r = vec![
        "ts",
        "-reply",
        "-config",
        "tsa.cnf",
        "-queryfile",
        "q.tsq",
        "-out",
        "r.tsr",
    ];
    r.extend(reply);
    openssl(dir, &r);
    std::fs::read(dir.join("r.tsr")).unwrap()
}
