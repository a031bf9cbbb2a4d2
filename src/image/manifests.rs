//! Finding every container image in Kubernetes manifests: Pod templates of the workload kinds,
//! `containers`, `initContainers`, `ephemeralContainers`, image volumes, `List` items,
//! multi-document files, and `kustomization.yaml` `images:` overrides.

use yaml_serde::Value;

use super::reference::Reference;

/// An image found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The file it came from.
    pub file: String,
    /// Document index in the file (0-based).
    pub document: usize,
    /// JSON pointer to the value, e.g. `/spec/template/spec/containers/0/image`.
    pub pointer: String,
    /// The reference as written (after kustomize overrides).
    pub raw: String,
}

impl Found {
    /// `file#document/pointer`, how reports name where an image was found.
    pub fn source(&self) -> String {
        format!("{}#{}{}", self.file, self.document + 1, self.pointer)
    }
}

/// Whether a file name is a kustomization (whose `images:` apply to its directory).
pub fn is_kustomization(file_name: &str) -> bool {
    matches!(
        file_name,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    )
}

/// A kustomize `images:` entry.
#[derive(Debug, Clone, Default)]
pub struct Override {
    /// The image name matched (as written, without tag or digest).
    pub name: String,
    /// Replacement name.
    pub new_name: Option<String>,
    /// Replacement tag.
    pub new_tag: Option<String>,
    /// Digest to pin.
    pub digest: Option<String>,
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

/// The PodSpec paths of a kind.
fn pod_spec_paths(kind: &str) -> &'static [&'static [&'static str]] {
    match kind {
        "Pod" => &[&["spec"]],
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job"
        | "PodTemplate" => &[&["spec", "template", "spec"], &["template", "spec"]],
        "CronJob" => &[&["spec", "jobTemplate", "spec", "template", "spec"]],
        _ => &[],
    }
}

fn from_pod_spec(spec: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(Value::Sequence(items)) = get(spec, list) {
            for (i, c) in items.iter().enumerate() {
                if let Some(Value::String(img)) = get(c, "image") {
                    out.push((format!("{prefix}/{list}/{i}/image"), img.clone()));
                }
            }
        }
    }
    if let Some(Value::Sequence(vols)) = get(spec, "volumes") {
        for (i, v) in vols.iter().enumerate() {
            if let Some(Value::String(img)) = get(v, "image").and_then(|x| get(x, "reference")) {
                out.push((format!("{prefix}/volumes/{i}/image/reference"), img.clone()));
            }
        }
    }
}

fn from_object(obj: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    let kind = get(obj, "kind").and_then(Value::as_str).unwrap_or("");
    if kind == "List" || kind.ends_with("List") {
        if let Some(Value::Sequence(items)) = get(obj, "items") {
            for (i, item) in items.iter().enumerate() {
                from_object(item, &format!("{prefix}/items/{i}"), out);
            }
        }
        return;
    }
    for path in pod_spec_paths(kind) {
        let mut cur = Some(obj);
        for k in *path {
            cur = cur.and_then(|v| get(v, k));
        }
        if let Some(spec) = cur {
            from_pod_spec(spec, &format!("{prefix}/{}", path.join("/")), out);
        }
    }
}

/// Applies kustomize `images:` overrides to a reference as written.
pub fn apply_overrides(raw: &str, overrides: &[Override]) -> String {
    let (name, _) = split_name(raw);
    let Some(o) = overrides.iter().find(|o| o.name == name) else {
        return raw.to_string();
    };
    let (_, tag) = split_name(raw);
    let new_name = o.new_name.clone().unwrap_or(name);
    match (&o.new_tag, &o.digest) {
        (Some(t), Some(d)) => format!("{new_name}:{t}@{d}"),
        (None, Some(d)) => format!("{new_name}@{d}"),
        (Some(t), None) => format!("{new_name}:{t}"),
        (None, None) => match tag {
            Some(t) => format!("{new_name}{t}"),
            None => new_name,
        },
    }
}

/// Splits `name[:tag][@digest]` into the name and the rest (`:tag@digest`).
fn split_name(raw: &str) -> (String, Option<String>) {
    let (body, digest) = match raw.split_once('@') {
        Some((b, d)) => (b, Some(format!("@{d}"))),
        None => (raw, None),
    };
    let slash = body.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match body[slash..].rfind(':') {
        Some(i) => (&body[..slash + i], Some(body[slash + i..].to_string())),
        None => (body, None),
    };
    let rest = match (tag, digest) {
        (None, None) => None,
        (t, d) => Some(format!(
            "{}{}",
            t.unwrap_or_default(),
            d.unwrap_or_default()
        )),
    };
    (name.to_string(), rest)
}

/// Reads the `images:` overrides of a kustomization file.
pub fn kustomize_overrides(text: &str) -> Result<Vec<Override>, String> {
    let v: Value = yaml_serde::from_str(text).map_err(|e| format!("kustomization: {e}"))?;
    let mut out = Vec::new();
    if let Some(Value::Sequence(items)) = get(&v, "images") {
        for i in items {
            let s = |k: &str| get(i, k).and_then(Value::as_str).map(String::from);
            let name = s("name").ok_or("kustomization: an images entry has no name")?;
            out.push(Override {
                name,
                new_name: s("newName"),
                new_tag: s("newTag"),
                digest: s("digest"),
            });
        }
    }
    Ok(out)
}

/// Finds every image in a (multi-document) manifest file.
pub fn find(file: &str, text: &str, overrides: &[Override]) -> Result<Vec<Found>, String> {
    let mut found = Vec::new();
    for (i, doc) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let v = <Value as serde::Deserialize>::deserialize(doc)
            .map_err(|e| format!("{file}: document {}: {e}", i + 1))?;
        let mut refs = Vec::new();
        from_object(&v, "", &mut refs);
        for (pointer, raw) in refs {
            found.push(Found {
                file: file.to_string(),
                document: i,
                pointer,
                raw: apply_overrides(&raw, overrides),
            });
        }
    }
    Ok(found)
}

/// Parses every found reference; returns the unparsable ones as errors with their location.
pub fn normalise(found: &[Found]) -> Vec<Result<Reference, String>> {
    found
        .iter()
        .map(|f| {
            Reference::parse(&f.raw).map_err(|e| {
                format!(
                    "{} (document {}, {}): {e}",
                    f.file,
                    f.document + 1,
                    f.pointer
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFESTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers: [{name: init, image: busybox:1.36}]
      containers:
        - name: app
          image: ghcr.io/org/app:v1
        - name: side
          image: nginx
      volumes:
        - name: data
          image: {reference: ghcr.io/org/data:v2}
---
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: job, image: "registry.example.com:5000/tools/job@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]
---
apiVersion: v1
kind: List
items:
  - kind: Pod
    spec:
      ephemeralContainers: [{name: dbg, image: alpine}]
---
apiVersion: v1
kind: ConfigMap
data: {image: not-an-image}
"#;

    #[test]
    fn finds_every_pod_spec_image() {
        let f = find("m.yaml", MANIFESTS, &[]).unwrap();
        let raws: Vec<&str> = f.iter().map(|x| x.raw.as_str()).collect();
        assert_eq!(
            raws,
            [
                "busybox:1.36",
                "ghcr.io/org/app:v1",
                "nginx",
                "ghcr.io/org/data:v2",
                "registry.example.com:5000/tools/job@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "alpine"
            ]
        );
        assert_eq!(f[1].pointer, "/spec/template/spec/containers/0/image");
        assert_eq!(f[5].pointer, "/items/0/spec/ephemeralContainers/0/image");
        assert!(normalise(&f).iter().all(Result::is_ok));
    }

    #[test]
    fn kustomize_overrides_like_kustomize() {
        let o = kustomize_overrides("images:\n  - name: nginx\n    newName: ghcr.io/mirror/nginx\n    newTag: \"1.27\"\n  - name: ghcr.io/org/app\n    digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n").unwrap();
        assert_eq!(apply_overrides("nginx", &o), "ghcr.io/mirror/nginx:1.27");
        assert_eq!(
            apply_overrides("ghcr.io/org/app:v1", &o),
            "ghcr.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        );
        assert_eq!(apply_overrides("busybox:1.36", &o), "busybox:1.36");
    }
}
