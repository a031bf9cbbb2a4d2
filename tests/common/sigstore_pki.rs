//! A private Sigstore PKI for the keyless tests, made at test time with openssl and p256: a root
//! and an intermediate CA (Fulcio's place), Fulcio-style leaves, a Rekor log key with SETs and
//! hashedrekord bodies, and an openssl TSA.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use sigil::image::cert::Certificate;

use super::Scratch;
use super::openssl::{self, openssl};

pub const ISSUER: &str = "https://token.example.com";
pub const EMAIL: &str = "ci@example.com";
pub const DAY: i64 = 86_400;

pub const CA_CONFIG: &str = "[ca]\ndefault_ca = this\n[this]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\n[any]\ncommonName = supplied\n";
pub const ROOT_EXT: &str = "basicConstraints = critical,CA:true\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n";
pub const INTER_EXT: &str = "basicConstraints = critical,CA:true,pathlen:0\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";

/// Leaf extensions as Fulcio writes them, with this EKU line (or none) and SAN.
pub fn leaf_ext(eku: Option<&str>, san: &str) -> String {
    let eku = eku
        .map(|e| format!("extendedKeyUsage = {e}\n"))
        .unwrap_or_default();
    format!(
        "basicConstraints = critical,CA:false\nkeyUsage = critical,digitalSignature\n{eku}subjectAltName = {san}\n1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:{ISSUER}\n"
    )
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `YYYYMMDDHHMMSSZ` for `openssl ca -startdate/-enddate`.
pub fn asn1_time(t: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// ECDSA P-256/SHA-256, DER (deterministic, RFC 6979).
pub fn sign(key: &SigningKey, msg: &[u8]) -> Vec<u8> {
    let s: Signature = key.sign(msg);
    s.to_der().as_bytes().to_vec()
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub pem: String,
    pub key: SigningKey,
}

/// A private PKI in `<scratch>/pki`: root and intermediate CAs (valid ±30 days), and a Rekor
/// log key.
pub struct Pki {
    pub dir: PathBuf,
    pub root: String,
    pub inter: String,
    /// The root alone: the policy's `caChain` when the signature supplies the intermediate.
    pub root_file: PathBuf,
    /// Intermediate then root.
    pub chain_file: PathBuf,
    pub rekor: SigningKey,
    pub rekor_pub: PathBuf,
}

impl Pki {
    pub fn new(s: &Scratch) -> Pki {
        let dir = s.path("pki");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.cnf"), CA_CONFIG).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        let t = now();
        let root = issue(
            &dir,
            "root",
            "sigil test root",
            None,
            ROOT_EXT,
            t - 30 * DAY,
            t + 30 * DAY,
        );
        let inter = issue(
            &dir,
            "inter",
            "sigil test intermediate",
            Some("root"),
            INTER_EXT,
            t - 30 * DAY,
            t + 30 * DAY,
        );
        let root_file = dir.join("root-only.pem");
        std::fs::write(&root_file, &root).unwrap();
        let chain_file = dir.join("chain.pem");
        std::fs::write(&chain_file, format!("{inter}{root}")).unwrap();
        let rekor = SigningKey::random(&mut OsRng);
        let rekor_pub = dir.join("rekor.pub");
        std::fs::write(&rekor_pub, public_pem(&rekor)).unwrap();
        Pki {
            dir,
            root,
            inter,
            root_file,
            chain_file,
            rekor,
            rekor_pub,
        }
    }

    /// A leaf issued by `issuer` (a CA made in this directory) valid over `[from, to]`.
    pub fn leaf(&self, name: &str, issuer: &str, ext: &str, from: i64, to: i64) -> Leaf {
        let pem = issue(&self.dir, name, name, Some(issuer), ext, from, to);
        let key_pem = std::fs::read_to_string(self.dir.join(format!("{name}.key"))).unwrap();
        Leaf {
            pem,
            key: SigningKey::from_pkcs8_pem(&key_pem).unwrap(),
        }
    }

    /// A Fulcio-style leaf for ci@example.com, valid from a minute ago for a day.
    pub fn email_leaf(&self, name: &str) -> Leaf {
        let t = now();
        self.leaf(
            name,
            "inter",
            &leaf_ext(Some("codeSigning"), &format!("email:{EMAIL}")),
            t - 60,
            t + DAY,
        )
    }
}

pub fn public_pem(key: &SigningKey) -> String {
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

/// sha256 of the log key's DER SubjectPublicKeyInfo.
pub fn log_id(key: &SigningKey) -> [u8; 32] {
    let der = key.verifying_key().to_public_key_der().unwrap();
    Sha256::digest(der.as_bytes()).into()
}

/// A P-256 key `<name>.key` and a certificate `<name>.pem` for CN=`cn` with extensions `ext`,
/// valid over `[from, to]`, issued by `<issuer>.pem`/`<issuer>.key` (self-signed when None).
/// Returns the certificate PEM.
pub fn issue(
    dir: &Path,
    name: &str,
    cn: &str,
    issuer: Option<&str>,
    ext: &str,
    from: i64,
    to: i64,
) -> String {
    let (key, csr, pem, extfile) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    std::fs::write(dir.join(&extfile), format!("[ext]\n{ext}")).unwrap();
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            &csr,
        ],
    );
    let (start, end) = (asn1_time(from), asn1_time(to));
    let mut args = vec![
        "ca",
        "-config",
        "ca.cnf",
        "-batch",
        "-notext",
        "-in",
        &csr,
        "-out",
        &pem,
        "-extfile",
        &extfile,
        "-extensions",
        "ext",
        "-startdate",
        &start,
        "-enddate",
        &end,
    ];
    let (issuer_cert, issuer_key);
    match issuer {
        None => args.extend(["-selfsign", "-keyfile", &key]),
        Some(i) => {
            issuer_cert = format!("{i}.pem");
            issuer_key = format!("{i}.key");
            args.extend(["-cert", &issuer_cert, "-keyfile", &issuer_key]);
        }
    }
    openssl(dir, &args);
    std::fs::read_to_string(dir.join(pem)).unwrap()
}

/// A hashedrekord 0.0.1 entry body for this payload, signature and certificate.
pub fn hashedrekord(payload: &[u8], sig: &[u8], cert_pem: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex(&Sha256::digest(payload))}},
            "signature": {"content": B64.encode(sig), "publicKey": {"content": B64.encode(cert_pem)}},
        },
    }))
    .unwrap()
}

/// The SET: the log's signature over the canonical JSON of body, integrated time, log id and
/// log index.
pub fn set(log: &SigningKey, body: &[u8], at: i64, index: i64) -> Vec<u8> {
    let msg = format!(
        r#"{{"body":"{}","integratedTime":{at},"logID":"{}","logIndex":{index}}}"#,
        B64.encode(body),
        hex(&log_id(log))
    );
    sign(log, msg.as_bytes())
}

pub const TSA_CONFIG: &str = "[tsa]\ndefault_tsa = tsa_config\n[tsa_config]\ndir = .\nserial = ./tsaserial\ncrypto_device = builtin\nsigner_cert = ./tsa.pem\ncerts = ./root.pem\nsigner_key = ./tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\nordering = no\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n";

impl Pki {
    /// A TSA leaf (critical EKU timeStamping) issued by the test root; returns the policy's
    /// `tsaChain` file (TSA leaf, then root).
    pub fn tsa(&self) -> PathBuf {
        let t = now();
        let tsa = issue(
            &self.dir,
            "tsa",
            "sigil test tsa",
            Some("root"),
            "basicConstraints = critical,CA:false\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = critical,timeStamping\n",
            t - DAY,
            t + 10 * DAY,
        );
        std::fs::write(self.dir.join("tsa.cnf"), TSA_CONFIG).unwrap();
        std::fs::write(self.dir.join("tsaserial"), "01\n").unwrap();
        let file = self.dir.join("tsa-chain.pem");
        std::fs::write(&file, format!("{tsa}{}", self.root)).unwrap();
        file
    }

    /// A DER TimeStampResp over `data`, from the TSA made by [`Pki::tsa`].
    pub fn timestamp(&self, data: &[u8]) -> Vec<u8> {
        openssl::timestamp(&self.dir, data, &["-sha256", "-cert"], &[])
    }
}

/// The DER of a one-certificate PEM.
pub fn cert_der(pem: &str) -> Vec<u8> {
    Certificate::parse_pem_chain(pem).unwrap()[0].der().to_vec()
}

/// The inclusion proof of `body` as the only leaf of the test log, with a checkpoint the test
/// Rekor key signs (a v0.2+ bundle must carry one).
pub fn single_leaf_proof(pki: &Pki, body: &[u8]) -> serde_json::Value {
    let mut leaf_input = vec![0u8];
    leaf_input.extend_from_slice(body);
    let root = Sha256::digest(&leaf_input);
    let note = format!("sigil-test-log\n1\n{}\n", B64.encode(root));
    let mut signed_hint = log_id(&pki.rekor)[..4].to_vec();
    signed_hint.extend_from_slice(&sign(&pki.rekor, note.as_bytes()));
    let checkpoint = format!(
        "{note}\n\u{2014} sigil-test-log {}\n",
        B64.encode(signed_hint)
    );
    serde_json::json!({
        "logIndex": "0", "rootHash": B64.encode(root), "treeSize": "1", "hashes": [],
        "checkpoint": {"envelope": checkpoint},
    })
}

impl Pki {
    /// A `trusted_root.json` naming this PKI: the CA (intermediate and root), the Rekor key and
    /// the TSA (call [`Pki::tsa`] first), each valid from 30 days ago; no CT log.
    pub fn trusted_root_json(&self) -> Vec<u8> {
        use p256::pkcs8::EncodePublicKey;
        let der = |pem: &str| B64.encode(cert_der(pem));
        let tsa_pem = std::fs::read_to_string(self.dir.join("tsa.pem")).unwrap();
        let since = serde_json::json!({"start": sigil::sops::time::format_unix(now() - 30 * DAY)});
        let rekor_der = self.rekor.verifying_key().to_public_key_der().unwrap();
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://rekor.sigil.test", "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": B64.encode(rekor_der.as_bytes()), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": since},
                "logId": {"keyId": B64.encode(log_id(&self.rekor))},
            }],
            "certificateAuthorities": [{"certChain": {"certificates": [{"rawBytes": der(&self.inter)}, {"rawBytes": der(&self.root)}]}, "validFor": since}],
            "ctlogs": [],
            "timestampAuthorities": [{"certChain": {"certificates": [{"rawBytes": der(&tsa_pem)}, {"rawBytes": der(&self.root)}]}, "validFor": since}],
        })
        .to_string()
        .into_bytes()
    }
}
