//! What a rendered object makes the cluster run or fetch: the images of its pod specs (every
//! built-in workload kind, CronJob, Pod, PodTemplate, Argo Rollouts `Rollout`, and kinds and
//! paths a policy adds), pod specs at places no rule knows (refused, so a new workload kind
//! cannot slip images past), and sources the reconciler would fetch or render itself.

use serde_json::Value;

/// A path inside an object: keys, `[]` meaning every item of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(Vec<(String, bool)>);

impl FieldPath {
    /// Parses `spec.template.spec` or `spec.jobs[].template`.
    pub fn parse(s: &str) -> Result<FieldPath, String> {
        let mut out = Vec::new();
        for seg in s.split('.') {
            let (name, each) = match seg.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (seg, false),
            };
            if name.is_empty() || name.contains(['[', ']']) {
                return Err(format!("field path '{s}': bad segment '{seg}'"));
            }
            out.push((name.to_string(), each));
        }
        Ok(FieldPath(out))
    }

    /// Every JSON pointer this path reaches in `v`.
    fn pointers(&self, v: &Value) -> Vec<String> {
        let mut cur = vec![(String::new(), v)];
        for (name, each) in &self.0 {
            let mut next = Vec::new();
            for (p, x) in cur {
                let Some(child) = x.get(name) else { continue };
                let p = format!("{p}/{}", escape(name));
                if *each {
                    for (i, item) in child.as_array().into_iter().flatten().enumerate() {
                        next.push((format!("{p}/{i}"), item));
                    }
                } else {
                    next.push((p, child));
                }
            }
            cur = next;
        }
        cur.into_iter().map(|(p, _)| p).collect()
    }
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

/// A policy rule adding a kind's pod specs or image fields.
#[derive(Clone, Debug)]
pub struct ImageField {
    /// The kind.
    pub kind: String,
    /// Its apiVersion (any when None).
    pub api_version: Option<String>,
    /// Where its pod specs are.
    pub pod_spec: Option<FieldPath>,
    /// Where image references are.
    pub image: Option<FieldPath>,
}

/// Pod spec locations of the built-in and well-known workload kinds.
fn builtin_pod_specs(api_version: &str, kind: &str) -> &'static [&'static str] {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, kind) {
        ("", "Pod") => &["spec"],
        ("", "PodTemplate") => &["template.spec"],
        ("", "ReplicationController")
        | ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job")
        | ("argoproj.io", "Rollout") => &["spec.template.spec"],
        ("batch", "CronJob") => &["spec.jobTemplate.spec.template.spec"],
        _ => &[],
    }
}

/// An image reference found in an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundImage {
    /// JSON pointer to the string inside the object.
    pub pointer: String,
    /// The reference as written.
    pub raw: String,
}

/// The images of one object. Errors name a pod spec at a place no rule covers, or an image
/// field that is not a string.
pub fn images(obj: &Value, extra: &[ImageField]) -> Result<Vec<FoundImage>, String> {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut pod_specs: Vec<String> = Vec::new();
    for p in builtin_pod_specs(api, kind) {
        if let Ok(fp) = FieldPath::parse(p) {
            pod_specs.extend(fp.pointers(obj));
        }
    }
    let mut out = Vec::new();
    let rules = extra
        .iter()
        .filter(|r| r.kind == kind && r.api_version.as_deref().is_none_or(|a| a == api));
    for r in rules {
        if let Some(fp) = &r.pod_spec {
            pod_specs.extend(fp.pointers(obj));
        }
        if let Some(fp) = &r.image {
            for p in fp.pointers(obj) {
                match obj.pointer(&p) {
                    Some(Value::String(s)) => out.push(FoundImage {
                        pointer: p,
                        raw: s.clone(),
                    }),
                    Some(Value::Null) | None => {}
                    Some(_) => return Err(format!("{p} is not a string")),
                }
            }
        }
    }
    for spec_ptr in &pod_specs {
        let Some(spec) = obj.pointer(spec_ptr) else {
            continue;
        };
        for list in ["initContainers", "containers", "ephemeralContainers"] {
            for (i, c) in spec
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                match c.get("image") {
                    Some(Value::String(s)) => out.push(FoundImage {
                        pointer: format!("{spec_ptr}/{list}/{i}/image"),
                        raw: s.clone(),
                    }),
                    None | Some(Value::Null) => {}
                    Some(_) => return Err(format!("{spec_ptr}/{list}/{i}/image is not a string")),
                }
            }
        }
        for (i, v) in spec
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            match v.pointer("/image/reference") {
                Some(Value::String(s)) => out.push(FoundImage {
                    pointer: format!("{spec_ptr}/volumes/{i}/image/reference"),
                    raw: s.clone(),
                }),
                None | Some(Value::Null) => {}
                Some(_) => {
                    return Err(format!(
                        "{spec_ptr}/volumes/{i}/image/reference is not a string"
                    ));
                }
            }
        }
    }
    if let Some(p) = stray_pod_spec(obj, &mut String::new(), &pod_specs) {
        return Err(format!(
            "{kind} ({api}) holds containers with images at {p}, a place no rule knows: add the kind's pod spec path to the policy (images.podSpecs) so they are verified"
        ));
    }
    Ok(out)
}

/// A mapping holding a `containers`-like list of objects with an `image`, outside the known
/// pod specs (the first one found).
fn stray_pod_spec(v: &Value, pointer: &mut String, known: &[String]) -> Option<String> {
    match v {
        Value::Object(m) => {
            if !known.iter().any(|k| k == pointer) {
                for list in ["initContainers", "containers", "ephemeralContainers"] {
                    let has_images = m
                        .get(list)
                        .and_then(Value::as_array)
                        .is_some_and(|items| items.iter().any(|c| c.get("image").is_some()));
                    if has_images {
                        return Some(if pointer.is_empty() {
                            "/".into()
                        } else {
                            pointer.clone()
                        });
                    }
                }
            }
            for (k, x) in m {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape(k));
                let found = stray_pod_spec(x, pointer, known);
                pointer.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                let found = stray_pod_spec(x, pointer, known);
                pointer.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        _ => None,
    }
}

/// Objects that make a reconciler fetch or render content the gate has not seen: Flux
/// sources, HelmReleases and Kustomizations, Argo CD Applications and ApplicationSets.
pub fn reconciler_source(obj: &Value) -> Option<&'static str> {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, kind) {
        ("helm.toolkit.fluxcd.io", "HelmRelease") => {
            Some("a Flux HelmRelease renders a chart the gate has not seen")
        }
        (
            "source.toolkit.fluxcd.io",
            "HelmChart" | "OCIRepository" | "GitRepository" | "Bucket",
        ) => Some("a Flux source fetches content the gate has not seen"),
        ("kustomize.toolkit.fluxcd.io", "Kustomization") => {
            Some("a Flux Kustomization applies content the gate has not verified")
        }
        ("argoproj.io", "Application" | "ApplicationSet") => {
            Some("an Argo CD Application deploys content the gate has not verified")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_and_policy_pod_specs() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "initContainers": [{"name": "i", "image": "busybox"}],
            "containers": [{"name": "a", "image": "app:v1"}],
            "volumes": [{"name": "v", "image": {"reference": "data:v2"}}]}}}});
        let found = images(&d, &[]).unwrap();
        let raws: Vec<&str> = found.iter().map(|f| f.raw.as_str()).collect();
        assert_eq!(raws, ["busybox", "app:v1", "data:v2"]);
        assert_eq!(found[1].pointer, "/spec/template/spec/containers/0/image");

        let r = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "spec": {"template": {"spec": {"containers": [{"image": "r:1"}]}}}});
        assert_eq!(images(&r, &[]).unwrap()[0].raw, "r:1");

        let ks = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service", "spec": {"template": {"spec": {"containers": [{"image": "evil:1"}]}}}});
        let e = images(&ks, &[]).unwrap_err();
        assert!(e.contains("/spec/template/spec"), "{e}");
        let rule = ImageField {
            kind: "Service".into(),
            api_version: Some("serving.knative.dev/v1".into()),
            pod_spec: Some(FieldPath::parse("spec.template.spec").unwrap()),
            image: None,
        };
        assert_eq!(images(&ks, &[rule]).unwrap()[0].raw, "evil:1");

        let wf = json!({"apiVersion": "example.com/v1", "kind": "Task", "spec": {"steps": [{"image": "a"}, {"image": "b"}]}});
        let rule = ImageField {
            kind: "Task".into(),
            api_version: None,
            pod_spec: None,
            image: Some(FieldPath::parse("spec.steps[].image").unwrap()),
        };
        let found = images(&wf, &[rule]).unwrap();
        assert_eq!(found[1].pointer, "/spec/steps/1/image");

        // A Deployment with a pod spec at the wrong place is caught, not ignored.
        let odd = json!({"apiVersion": "apps/v1", "kind": "Deployment", "template": {"spec": {"containers": [{"image": "x"}]}}});
        assert!(images(&odd, &[]).is_err());
        let bad =
            json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"image": 5}]}});
        assert!(images(&bad, &[]).is_err());
    }

    #[test]
    fn sources() {
        assert!(
            reconciler_source(
                &json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease"})
            )
            .is_some()
        );
        assert!(
            reconciler_source(
                &json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"})
            )
            .is_none()
        );
        assert!(
            reconciler_source(
                &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet"})
            )
            .is_some()
        );
    }
}
