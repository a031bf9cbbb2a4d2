//! Rendering local paths for `verify images` and `check secrets`: a directory is rendered as
//! its consumer would (kustomize or the directory's files, from the git work tree holding it),
//! a file is read on its own; then the checks every front end shares run on the result.

use std::collections::BTreeMap;
use std::path::Path;

use crate::git::tree::{Entry, MODE_FILE};
use crate::manifest::check::{Options, check};
use crate::manifest::documents::{Syntax, parse, unwrap_lists};
use crate::manifest::render::{Choice, Object, Rendered, RenderedPath, Renderer};
use crate::manifest::secrets::{Refusal, SopsFiles};
use crate::sops::keys::Unlocker;

/// What the checks found in one path.
pub struct Found {
    /// Every refusal.
    pub refusals: Vec<Refusal>,
    /// Images: (reference as written, location).
    pub images: Vec<(String, String)>,
    /// SOPS files the render used, and whether their MAC was verified.
    pub sops_files: BTreeMap<String, bool>,
    /// The verdict's render block.
    pub render: serde_json::Value,
}

/// A path that could not be rendered at all: (exit code, message).
pub type Trouble = (i32, String);

/// How to show paths of the tree rooted at `root`: relative to the current directory (`""`
/// for the current directory itself), else absolute; with a trailing `/`.
fn shown_root(root: &Path) -> String {
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|d| std::fs::canonicalize(d).ok());
    match cwd.as_deref().and_then(|c| root.strip_prefix(c).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => String::new(),
        Some(rel) => format!("{}/", rel.display()),
        None => format!("{}/", root.display()),
    }
}

/// Renders `path` with `choice` and runs the shared checks.
pub fn check_path(
    path: &Path,
    choice: &Choice,
    opts: &Options<'_>,
    unlocker: Option<Unlocker>,
) -> Result<Found, Trouble> {
    let meta = std::fs::metadata(path).map_err(|e| (2, format!("{}: {e}", path.display())))?;
    let (entries, rendered) = if meta.is_file() {
        let data =
            std::fs::read(path).map_err(|e| (2, format!("cannot read {}: {e}", path.display())))?;
        let name = path.display().to_string();
        let syntax = Syntax::of(&name).unwrap_or(Syntax::Yaml);
        let mut objects = Vec::new();
        let mut found = Vec::new();
        match parse(&data, syntax) {
            Ok(docs) => {
                for d in docs {
                    unwrap_lists(d.value, &mut found, format!("{name}#{}", d.index));
                }
            }
            Err(e) => {
                return Ok(Found {
                    refusals: vec![Refusal {
                        code: "render-failed",
                        subject: name,
                        message: e,
                    }],
                    images: Vec::new(),
                    sops_files: BTreeMap::new(),
                    render: serde_json::Value::Null,
                });
            }
        }
        for (origin, value) in found {
            if value.get("kind").is_some() {
                objects.push(Object { origin, value });
            }
        }
        let entries = vec![Entry {
            path: name.clone(),
            mode: MODE_FILE,
            data,
        }];
        let rendered = Rendered {
            mode: "file",
            tool: None,
            paths: vec![RenderedPath {
                path: name,
                objects,
                cached: false,
                ignored: Vec::new(),
            }],
        };
        (entries, Ok(rendered))
    } else {
        let (entries, prefix, root) = crate::manifest::local::read(path).map_err(|e| (2, e))?;
        let shown = shown_root(&root);
        let mode = choice.mode_for(&entries, &prefix);
        let work = tempfile::Builder::new()
            .prefix("sigil-render-")
            .tempdir()
            .map_err(|e| (3, format!("cannot make a build directory: {e}")))?;
        let renderer = Renderer::new(mode, work.path().to_path_buf()).map_err(|e| (3, e))?;
        let r = renderer.render(&entries).map(|mut r| {
            // Origins as the user names the files: relative to the current directory.
            for p in &mut r.paths {
                for o in &mut p.objects {
                    o.origin = format!("{shown}{}", o.origin);
                }
            }
            r
        });
        let r = r.map_err(|mut e| {
            e.subject = format!("{shown}{}", e.subject);
            e
        });
        (entries, r.map_err(|e| (e, work)))
    };
    let mut rendered = match rendered {
        Ok(r) => r,
        Err((e, _work)) if e.operational => {
            return Err((3, format!("{}: {}", e.subject, e.message)));
        }
        Err((e, _work)) => {
            return Ok(Found {
                refusals: vec![Refusal {
                    code: "render-failed",
                    subject: e.subject,
                    message: e.message,
                }],
                images: Vec::new(),
                sops_files: BTreeMap::new(),
                render: serde_json::Value::Null,
            });
        }
    };
    let mut sops = SopsFiles::new(&entries, unlocker);
    let checked = check(&mut rendered, &mut sops, opts);
    let images = checked
        .images
        .iter()
        .map(|i| (i.raw.clone(), i.location.clone()))
        .collect();
    Ok(Found {
        refusals: checked.refusals,
        images,
        sops_files: sops.used.clone(),
        render: rendered.summary(),
    })
}
