//! The verified render as files a consumer applies: one deterministic YAML file per rendered
//! path (a stream of JSON documents, see [`yaml_docs`]) and a `kustomization.yaml` listing them, with every verified image rewritten to
//! `name[:tag]@<verified digest>` so moving a tag later cannot change what runs. SOPS Secrets
//! stay ciphertext (kustomize-controller decrypts objects carrying `sops` metadata and data
//! values holding a whole SOPS file); a Secret generated from a SOPS dotenv file becomes a
//! `secretGenerator` over a copy of that file with the exact rendered name, since
//! kustomize-controller decrypts generator sources and not single values. With `decrypt`,
//! Secrets are written decrypted instead, to a separate file of mode 0600.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::check::Checked;
use super::render::Rendered;
use super::secrets::{Refusal, SopsFiles, Source};
use crate::git::tree::{Entry, MODE_FILE, MODE_PRIVATE};

/// The file name stem of a rendered path (`clusters/prod` → `clusters-prod`, root → `root`).
pub fn stem(path: &str) -> String {
    if path.is_empty() {
        "root".to_string()
    } else {
        path.replace('/', "-")
    }
}

/// `raw` pinned to `digest` (kept as is when it already names a digest).
pub fn pin(raw: &str, digest: &str) -> String {
    if raw.contains('@') {
        raw.to_string()
    } else {
        format!("{raw}@{digest}")
    }
}

/// A YAML stream of JSON documents. JSON is YAML too, and it reads the same under YAML 1.1
/// (sigs.k8s.io/yaml in kubectl and Argo CD: plain `yes`, `on`, `y` are booleans there) and
/// YAML 1.2 (kustomize): every string is quoted, so the published render means to every
/// consumer exactly what was verified.
fn yaml_docs(objects: &[Value]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for o in objects {
        out.extend_from_slice(b"---\n");
        serde_json::to_writer_pretty(&mut out, o).map_err(|e| e.to_string())?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The rendered objects per path, every verified image pinned to its digest.
fn pinned(
    rendered: &Rendered,
    checked: &Checked,
    pins: &HashMap<String, String>,
) -> Vec<Vec<Value>> {
    let mut objects: Vec<Vec<Value>> = rendered
        .paths
        .iter()
        .map(|p| p.objects.iter().map(|o| o.value.clone()).collect())
        .collect();
    for img in &checked.images {
        if let Some(d) = pins.get(&img.raw)
            && let Some(slot) = objects[img.path][img.object].pointer_mut(&img.pointer)
        {
            *slot = Value::String(pin(&img.raw, d));
        }
    }
    objects
}

/// Builds the published files. `pins` maps each verified reference (as written) to its digest.
pub fn files(
    rendered: &Rendered,
    checked: &Checked,
    pins: &HashMap<String, String>,
    sops: &mut SopsFiles<'_>,
    decrypt: bool,
) -> Result<Vec<Entry>, Refusal> {
    let mut objects = pinned(rendered, checked, pins);
    let mut secrets: Vec<Vec<Value>> = vec![Vec::new(); objects.len()];
    let mut dropped: Vec<(usize, usize)> = Vec::new();
    let mut generators: Vec<Value> = Vec::new();
    let mut env_files: Vec<(String, Vec<u8>)> = Vec::new();
    for s in &checked.secrets {
        let obj = &objects[s.path][s.object];
        let source = &rendered.paths[s.path].objects[s.object];
        let subject = format!("{} ({})", source.describe(), source.origin);
        if decrypt {
            let plain = sops.decrypt_object(obj, &s.source, &subject)?;
            secrets[s.path].push(plain);
            dropped.push((s.path, s.object));
        } else if let Source::Env { file } = &s.source {
            let n = env_files.len();
            let name = format!("{}.sops/{n}.env", stem(&rendered.paths[s.path].path));
            env_files.push((name.clone(), sops.bytes(file).unwrap_or_default().to_vec()));
            generators.push(generator(obj, &name, &subject)?);
            dropped.push((s.path, s.object));
        }
    }
    dropped.sort_unstable();
    for (p, o) in dropped.into_iter().rev() {
        objects[p].remove(o);
    }
    let mut out = Vec::new();
    let mut resources = Vec::new();
    for (i, p) in rendered.paths.iter().enumerate() {
        // The objects, then (decrypted Secrets only) a private file beside them.
        let files = [
            (format!("{}.yaml", stem(&p.path)), &objects[i], MODE_FILE),
            (
                format!("{}.secrets.yaml", stem(&p.path)),
                &secrets[i],
                MODE_PRIVATE,
            ),
        ];
        for (name, objs, mode) in files {
            if mode == MODE_PRIVATE && objs.is_empty() {
                continue;
            }
            let data = yaml_docs(objs).map_err(|e| Refusal {
                code: "publish-failed",
                subject: p.path.clone(),
                message: e,
            })?;
            resources.push(name.clone());
            out.push(Entry {
                path: name,
                mode,
                data,
            });
        }
    }
    for (name, data) in env_files {
        out.push(Entry {
            path: name,
            mode: MODE_FILE,
            data,
        });
    }
    let mut k = Map::new();
    k.insert(
        "apiVersion".into(),
        json!("kustomize.config.k8s.io/v1beta1"),
    );
    k.insert("kind".into(), json!("Kustomization"));
    k.insert("resources".into(), json!(resources));
    if !generators.is_empty() {
        k.insert("secretGenerator".into(), Value::Array(generators));
    }
    out.push(Entry {
        path: "kustomization.yaml".into(),
        mode: MODE_FILE,
        data: yaml_docs(&[Value::Object(k)]).map_err(|e| Refusal {
            code: "publish-failed",
            subject: "kustomization.yaml".into(),
            message: e,
        })?,
    });
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The verified render as one YAML stream (an Argo CD plugin's output): every object in order,
/// images pinned, Secrets decrypted in place with `decrypt` (else left as rendered).
pub fn stream(
    rendered: &Rendered,
    checked: &Checked,
    pins: &HashMap<String, String>,
    sops: &mut SopsFiles<'_>,
    decrypt: bool,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Refusal> {
    let mut objects = pinned(rendered, checked, pins);
    if decrypt {
        for s in &checked.secrets {
            let source = &rendered.paths[s.path].objects[s.object];
            let subject = format!("{} ({})", source.describe(), source.origin);
            let plain = sops.decrypt_object(&objects[s.path][s.object], &s.source, &subject)?;
            objects[s.path][s.object] = plain;
        }
    }
    let all: Vec<Value> = objects.into_iter().flatten().collect();
    yaml_docs(&all)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| Refusal {
            code: "publish-failed",
            subject: "output".into(),
            message: e,
        })
}

/// A `secretGenerator` entry that regenerates a Secret rendered from a SOPS dotenv file, with
/// its exact name, namespace, type, labels and annotations.
fn generator(obj: &Value, env: &str, subject: &str) -> Result<Value, Refusal> {
    let cannot = |what: &str| Refusal {
        code: "unverified-secret",
        subject: subject.to_string(),
        message: format!(
            "a Secret generated from a SOPS dotenv file cannot be republished with {what}: use a SOPS-encrypted Secret manifest instead"
        ),
    };
    let m = obj.as_object().ok_or_else(|| cannot("this shape"))?;
    for k in m.keys() {
        if !matches!(
            k.as_str(),
            "apiVersion" | "kind" | "metadata" | "type" | "data" | "immutable"
        ) {
            return Err(cannot(&format!("field {k}")));
        }
    }
    let meta = m
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for k in meta.keys() {
        if !matches!(k.as_str(), "name" | "namespace" | "labels" | "annotations") {
            return Err(cannot(&format!("metadata.{k}")));
        }
    }
    let mut g = Map::new();
    g.insert(
        "name".into(),
        meta.get("name").cloned().unwrap_or(Value::Null),
    );
    if let Some(ns) = meta.get("namespace") {
        g.insert("namespace".into(), ns.clone());
    }
    if let Some(t) = m.get("type") {
        g.insert("type".into(), t.clone());
    }
    g.insert("envs".into(), json!([env]));
    let mut options: BTreeMap<&str, Value> = BTreeMap::new();
    options.insert("disableNameSuffixHash", json!(true));
    for k in ["labels", "annotations"] {
        if let Some(v) = meta.get(k) {
            options.insert(k, v.clone());
        }
    }
    if let Some(v) = m.get("immutable") {
        options.insert("immutable", v.clone());
    }
    g.insert("options".into(), json!(options));
    Ok(Value::Object(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_and_stems() {
        assert_eq!(pin("nginx:1.27", "sha256:ab"), "nginx:1.27@sha256:ab");
        assert_eq!(pin("app@sha256:cd", "sha256:cd"), "app@sha256:cd");
        assert_eq!(stem(""), "root");
        assert_eq!(stem("clusters/prod"), "clusters-prod");
    }
}
