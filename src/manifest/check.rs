//! The checks every front end runs on a render (`sigil gate`, `render`, `verify images`,
//! `check secrets`): post-build substitution, then per object: sources the reconciler would
//! fetch itself (refused unless the policy allows them), images (collected for signature
//! verification; a substitution left in one is refused), Secrets and SOPS metadata (traced to
//! verified SOPS files). Every refusal is collected; the caller reports the first.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::inspect::{ImageField, images, reconciler_source};
use super::render::Rendered;
use super::secrets::{Refusal, SopsFiles, Source};
use super::substitute::{substitute, unresolved};

/// A policy entry allowing one reconciler source object.
#[derive(Clone, Debug)]
pub struct AllowedSource {
    /// The kind (`HelmRelease`).
    pub kind: String,
    /// Namespace glob (any when None).
    pub namespace: Option<glob::Pattern>,
    /// Name glob.
    pub name: glob::Pattern,
}

impl AllowedSource {
    fn allows(&self, obj: &Value) -> bool {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
        s("/kind") == self.kind
            && self.name.matches(s("/metadata/name"))
            && self
                .namespace
                .as_ref()
                .is_none_or(|n| n.matches(s("/metadata/namespace")))
    }
}

/// What the checks need besides the render.
#[derive(Default)]
pub struct Options<'a> {
    /// Policy `images.podSpecs`.
    pub image_fields: &'a [ImageField],
    /// Policy `sources.allow`.
    pub allowed_sources: &'a [AllowedSource],
    /// Kinds that must be SOPS-encrypted besides `Secret`.
    pub require_sops: &'a [String],
    /// Flux `postBuild.substitute` variables, when the source config gives them.
    pub substitute: Option<&'a BTreeMap<String, String>>,
}

/// An image of the render: which object, where in it, as written.
#[derive(Clone, Debug)]
pub struct ImageUse {
    /// Index into `Rendered::paths`.
    pub path: usize,
    /// Index into that path's objects.
    pub object: usize,
    /// JSON pointer inside the object.
    pub pointer: String,
    /// The reference as written.
    pub raw: String,
    /// `origin#pointer`, for reports.
    pub location: String,
}

/// A Secret (or other SOPS object) of the render and where its ciphertext comes from.
#[derive(Clone, Debug)]
pub struct SecretUse {
    /// Index into `Rendered::paths`.
    pub path: usize,
    /// Index into that path's objects.
    pub object: usize,
    /// Its source.
    pub source: Source,
}

/// One reconciler source object in the render.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceUse {
    /// `Kind/namespace/name`.
    pub object: String,
    /// Where it was rendered from.
    pub origin: String,
    /// `allowed` (by policy) or `refused`.
    pub result: &'static str,
}

/// The outcome of the checks.
#[derive(Default)]
pub struct Checked {
    /// Images to verify.
    pub images: Vec<ImageUse>,
    /// Secrets and other SOPS objects.
    pub secrets: Vec<SecretUse>,
    /// Reconciler sources found (allowed and refused).
    pub sources: Vec<SourceUse>,
    /// Every refusal, in render order.
    pub refusals: Vec<Refusal>,
}

/// Runs the checks on `rendered` (substituting in place first).
pub fn check(rendered: &mut Rendered, sops: &mut SopsFiles<'_>, opts: &Options<'_>) -> Checked {
    let mut out = Checked::default();
    for (pi, path) in rendered.paths.iter_mut().enumerate() {
        for (oi, obj) in path.objects.iter_mut().enumerate() {
            let subject = format!("{} ({})", obj.describe(), obj.origin);
            if let Some(vars) = opts.substitute {
                match substitute(&obj.value, vars) {
                    Ok(v) => obj.value = v,
                    Err(e) => {
                        out.refusals.push(Refusal {
                            code: "substitution-failed",
                            subject: subject.clone(),
                            message: format!("post-build substitution: {e}"),
                        });
                        continue;
                    }
                }
            }
            if let Some(why) = reconciler_source(&obj.value) {
                let allowed = opts.allowed_sources.iter().any(|a| a.allows(&obj.value));
                out.sources.push(SourceUse {
                    object: obj.describe(),
                    origin: obj.origin.clone(),
                    result: if allowed { "allowed" } else { "refused" },
                });
                if !allowed {
                    out.refusals.push(Refusal {
                        code: "unverified-source",
                        subject: subject.clone(),
                        message: format!("{why}: allow it by kind and name in the policy (sources.allow) if that is intended"),
                    });
                }
                continue;
            }
            match images(&obj.value, opts.image_fields) {
                Ok(found) => {
                    for f in found {
                        if unresolved(&f.raw) {
                            out.refusals.push(Refusal {
                                code: "unresolved-substitution",
                                subject: subject.clone(),
                                message: format!(
                                    "image '{}' at {} still holds a ${{...}} substitution: give the Flux postBuild variables in the gate's source (render.postBuild.substitute) so the gate verifies the image that will run",
                                    f.raw, f.pointer
                                ),
                            });
                            continue;
                        }
                        out.images.push(ImageUse {
                            path: pi,
                            object: oi,
                            location: format!("{}{}", obj.origin, f.pointer),
                            pointer: f.pointer,
                            raw: f.raw,
                        });
                    }
                }
                Err(e) => out.refusals.push(Refusal {
                    code: "unknown-pod-spec",
                    subject: subject.clone(),
                    message: e,
                }),
            }
            match sops.check(&obj.value, &subject, opts.require_sops) {
                Ok(Some(source)) => out.secrets.push(SecretUse {
                    path: pi,
                    object: oi,
                    source,
                }),
                Ok(None) => {}
                Err(r) => out.refusals.push(r),
            }
        }
    }
    out
}
