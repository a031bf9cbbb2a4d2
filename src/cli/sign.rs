//! `sigil sign image`: resolve the image once, then push cosign-compatible signatures;
//! `sigil sign blob`: a key-signed sigstore bundle for a file.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::args::{SignCommand, SignImageArgs};
use crate::image::cosign_key::{self, CosignKeyError};
use crate::image::reference::Reference;
use crate::image::registry::{Client, ClientOptions};
use crate::image::sign::{SignRequest, push_bundle, push_legacy};
use crate::sops::keys::prompt::ask_passphrase;

/// Runs a sign command; returns the exit code (0 signed, 2 usage, 3 registry or I/O).
pub fn run(cmd: &SignCommand) -> i32 {
    match run_inner(cmd) {
        Ok(()) => 0,
        Err((code, msg)) => {
            eprintln!("sigil: error: {msg}");
            code
        }
    }
}

fn password() -> Result<Zeroizing<Vec<u8>>, (i32, String)> {
    if let Some(v) = std::env::var_os(super::keygen::PASSWORD_ENV) {
        return Ok(Zeroizing::new(v.into_vec()));
    }
    let p = ask_passphrase("Enter password for private key").ok_or((
        2,
        "no password: set COSIGN_PASSWORD (it may be empty) or run on a terminal".to_string(),
    ))?;
    Ok(Zeroizing::new(p.expose_secret().as_bytes().to_vec()))
}

/// Reads and decrypts a cosign private key (or an unencrypted PKCS#8 one).
fn signing_key(key: &std::path::Path) -> Result<cosign_key::SigningKey, (i32, String)> {
    let text = std::fs::read_to_string(key)
        .map_err(|e| (2, format!("cannot read {}: {e}", key.display())))?;
    match cosign_key::decrypt(&text, &password()?) {
        Ok(k) => Ok(k),
        Err(CosignKeyError::Malformed(_)) if !text.contains("ENCRYPTED") => {
            cosign_key::from_unencrypted_pem(&text)
                .map_err(|e| (2, format!("{}: {e}", key.display())))
        }
        Err(e) => Err((2, format!("{}: {e}", key.display()))),
    }
}

fn run_inner(cmd: &SignCommand) -> Result<(), (i32, String)> {
    match cmd {
        SignCommand::Blob { file, key, bundle } => sign_blob(file, key, bundle),
        SignCommand::Image(args) => sign_image(args),
    }
}

fn sign_image(args: &SignImageArgs) -> Result<(), (i32, String)> {
    let SignImageArgs {
        image,
        key,
        bundle,
        bundle_only,
        annotations,
        allow_http_registry,
        signature_repository,
        timeout,
    } = args;
    let reference = Reference::parse(image).map_err(|e| (2, e))?;
    let mut notes = BTreeMap::new();
    for a in annotations {
        let (k, v) = a
            .split_once('=')
            .ok_or((2, format!("annotation {a:?} is not KEY=VALUE")))?;
        notes.insert(k.to_string(), v.to_string());
    }
    let signing = signing_key(key)?;
    let client = Client::new(ClientOptions {
        insecure: if *allow_http_registry {
            let mut hosts = vec![reference.registry.clone()];
            if let Some(r) = signature_repository
                .as_deref()
                .and_then(|r| Reference::parse(r).ok())
            {
                hosts.push(r.registry);
            }
            hosts
        } else {
            Vec::new()
        },
        timeout: Duration::from_secs(*timeout),
        ..ClientOptions::default()
    })
    .map_err(|e| (2, e))?;
    let op = |e: crate::image::registry::RegistryError| (3, e.to_string());
    let wanted = reference
        .digest
        .clone()
        .or(reference.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let manifest = client
        .manifest(&reference.registry, &reference.repository, &wanted)
        .map_err(op)?
        .ok_or_else(|| (3, format!("{reference} does not exist in the registry")))?;
    let (sig_registry, sig_repository) = match signature_repository {
        Some(r) => match Reference::parse(r) {
            Ok(rf) if rf.tag.is_none() && rf.digest.is_none() => (rf.registry, rf.repository),
            _ => {
                return Err((
                    2,
                    format!("--signature-repository {r:?} must be registry/repository"),
                ));
            }
        },
        None => (reference.registry.clone(), reference.repository.clone()),
    };
    let req = SignRequest {
        registry: &reference.registry,
        repository: &reference.repository,
        sig_registry: &sig_registry,
        sig_repository: &sig_repository,
        digest: &manifest.digest,
        manifest_media_type: manifest
            .media_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim(),
        manifest_size: manifest.bytes.len() as u64,
        annotations: &notes,
    };
    let name = reference.name();
    if !bundle_only {
        let tag = push_legacy(&client, &signing, &req).map_err(op)?;
        eprintln!(
            "Pushed signature of {name}@{} to {name}:{tag}",
            manifest.digest
        );
    }
    if *bundle {
        let referrer = push_bundle(&client, &signing, &req).map_err(op)?;
        eprintln!(
            "Pushed sigstore bundle of {name}@{} as referrer {referrer}",
            manifest.digest
        );
    }
    Ok(())
}

/// `sigil sign blob`: hashes the file as it streams, signs the digest, writes the bundle
/// atomically.
fn sign_blob(
    file: &std::path::Path,
    key: &std::path::Path,
    bundle: &std::path::Path,
) -> Result<(), (i32, String)> {
    let signing = signing_key(key)?;
    let f = std::fs::File::open(file)
        .map_err(|e| (2, format!("cannot read {}: {e}", file.display())))?;
    let artifact = crate::image::blob::Artifact::from_reader(f)
        .map_err(|e| (3, format!("cannot read {}: {e}", file.display())))?;
    let json = crate::image::sign::blob_bundle(&signing, artifact.sha256()).ok_or((
        2,
        format!(
            "a {} key cannot sign an artifact digest; use an ECDSA key",
            signing.kind()
        ),
    ))?;
    crate::atomic::write(bundle, &json, crate::atomic::Mode::Public)
        .map_err(|e| (3, e.to_string()))?;
    eprintln!(
        "Wrote bundle for {} ({}) to {}",
        file.display(),
        artifact.digest(),
        bundle.display()
    );
    Ok(())
}
