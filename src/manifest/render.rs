//! Rendering a tree as its consumer will: kustomize per path (Flux Kustomization `spec.path`,
//! Argo CD kustomize apps) or the directory rules of Argo CD / kubectl. The result is the list
//! of objects the consumer will apply; anything that does not parse or build is an error, never
//! a skip. Kustomize builds are cached per path, keyed by every file the build can read.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::directory::{Glob, Pick, Selection};
use super::documents::{Syntax, parse, unwrap_lists};
use super::kustomization::{Plan, plan};
use super::kustomize::{BuildError, Kustomize};
use super::tree_index::{Kind, TreeIndex};
use super::workspace::{Wanted, Workspace};
use crate::git::tree::{Entry, MODE_FILE, MODE_SYMLINK};
use crate::process::Limits;

/// How a consumer builds manifests from a tree.
#[derive(Clone, Debug)]
pub enum Mode {
    /// kustomize, once per path.
    Kustomize(KustomizeSpec),
    /// The files themselves.
    Directory(DirectorySpec),
}

/// `render.kustomize`.
#[derive(Clone, Debug)]
pub struct KustomizeSpec {
    /// Directories built (relative to the repository root; `""` is the root).
    pub paths: Vec<String>,
    /// kustomize or kubectl; default: `kustomize`, else `kubectl`, on PATH.
    pub binary: Option<PathBuf>,
    /// Deadline per build.
    pub timeout: Duration,
    /// Largest output per build.
    pub max_output: usize,
    /// `LoadRestrictionsNone`, as kustomize-controller builds (files anywhere in the
    /// repository); false is kustomize's default `LoadRestrictionsRootOnly` (Argo CD).
    pub load_restrictions_none: bool,
}

/// `render.directory`.
#[derive(Clone, Debug)]
pub struct DirectorySpec {
    /// Directories read (relative to the repository root).
    pub paths: Vec<String>,
    /// Enter subdirectories.
    pub recurse: bool,
    /// Argo CD `include` glob.
    pub include: Option<String>,
    /// Argo CD `exclude` glob.
    pub exclude: Option<String>,
}

impl Mode {
    /// `kustomize` or `directory`.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Kustomize(_) => "kustomize",
            Mode::Directory(_) => "directory",
        }
    }
}

/// A render mode asked for on the command line: `auto` picks kustomize where the path holds a
/// kustomization (as Argo CD detects a kustomize app), else the directory's files.
#[derive(Clone, Debug)]
pub struct Choice {
    /// `auto`, `kustomize` or `directory`.
    pub mode: String,
    /// Directory mode: enter subdirectories.
    pub recurse: bool,
    /// Directory mode: Argo CD include glob.
    pub include: Option<String>,
    /// Directory mode: Argo CD exclude glob.
    pub exclude: Option<String>,
    /// kustomize or kubectl.
    pub binary: Option<PathBuf>,
    /// kustomize-controller's load restrictor (files anywhere in the repository).
    pub load_restrictions_none: bool,
}

impl Choice {
    /// The mode for `path` of the tree `entries` (`auto`: kustomize where it holds a
    /// kustomization file).
    pub fn mode_for(&self, entries: &[Entry], path: &str) -> Mode {
        let has_kustomization = || {
            super::kustomization::KUSTOMIZATION_FILES.iter().any(|n| {
                let f = if path.is_empty() {
                    n.to_string()
                } else {
                    format!("{path}/{n}")
                };
                entries.iter().any(|e| e.path == f)
            })
        };
        let kustomize = match self.mode.as_str() {
            "kustomize" => true,
            "directory" => false,
            _ => has_kustomization(),
        };
        let paths = vec![path.to_string()];
        if kustomize {
            Mode::Kustomize(KustomizeSpec {
                paths,
                binary: self.binary.clone(),
                timeout: Duration::from_secs(60),
                max_output: 64 << 20,
                load_restrictions_none: self.load_restrictions_none,
            })
        } else {
            Mode::Directory(DirectorySpec {
                paths,
                recurse: self.recurse,
                include: self.include.clone(),
                exclude: self.exclude.clone(),
            })
        }
    }
}

/// One object the consumer will apply, and where it came from.
#[derive(Clone, Debug)]
pub struct Object {
    /// `file#document[/items/i]` (directory) or `path#n` (kustomize output, 1-based).
    pub origin: String,
    /// The object.
    pub value: Value,
}

impl Object {
    /// `Kind/namespace/name` (namespace omitted when empty).
    pub fn describe(&self) -> String {
        let s = |p: &str| self.value.pointer(p).and_then(Value::as_str).unwrap_or("");
        let ns = s("/metadata/namespace");
        if ns.is_empty() {
            format!("{}/{}", s("/kind"), s("/metadata/name"))
        } else {
            format!("{}/{ns}/{}", s("/kind"), s("/metadata/name"))
        }
    }
}

/// The objects of one rendered path.
#[derive(Clone, Debug)]
pub struct RenderedPath {
    /// The path as configured.
    pub path: String,
    /// Its objects, in output order.
    pub objects: Vec<Object>,
    /// Served from the render cache.
    pub cached: bool,
    /// Files read but holding no Kubernetes object (directory mode: e.g. a Helm values file).
    pub ignored: Vec<String>,
}

/// Every rendered path of a tree.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// `kustomize` or `directory`.
    pub mode: &'static str,
    /// The kustomize that built it, e.g. `kustomize v5.5.0 (kubectl /usr/bin/kubectl)`.
    pub tool: Option<String>,
    /// Per path.
    pub paths: Vec<RenderedPath>,
}

impl Rendered {
    /// The verdict's `render` block: mode, tool, and per path its object count.
    pub fn summary(&self) -> Value {
        serde_json::json!({
            "mode": self.mode,
            "tool": self.tool,
            "paths": self.paths.iter().map(|p| serde_json::json!({
                "path": if p.path.is_empty() { "." } else { p.path.as_str() },
                "objects": p.objects.len(),
                "cached": p.cached,
                "ignored": p.ignored,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Why a tree cannot be rendered.
#[derive(Debug, Clone)]
pub struct RenderError {
    /// The file or path at fault.
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// True when rendering could not run at all (kustomize missing); false when the content
    /// is at fault (a refusal).
    pub operational: bool,
}

fn refused(subject: impl Into<String>, message: impl Into<String>) -> RenderError {
    RenderError {
        subject: subject.into(),
        message: message.into(),
        operational: false,
    }
}

/// A kustomize output kept for a path: its cache key and the bytes.
type Cached = (String, Arc<Vec<u8>>);

/// Renders trees with one mode; keeps kustomize outputs between calls.
pub struct Renderer {
    mode: Mode,
    kustomize: Option<Kustomize>,
    selection: Option<Selection>,
    /// Where private build directories are made.
    work_dir: PathBuf,
    cache: Mutex<HashMap<String, Cached>>,
    workspace: Mutex<Option<Workspace>>,
}

/// Normalises a configured path: relative, `/`-separated, no `.`/`..`; `.` and `./` are the root.
pub fn normalise_path(p: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(format!("render path '{p}' has a '..' component")),
            c => out.push(c),
        }
    }
    if p.starts_with('/') {
        return Err(format!(
            "render path '{p}' must be relative to the repository root"
        ));
    }
    Ok(out.join("/"))
}

impl Renderer {
    /// A renderer for `mode` making build directories under `work_dir`. Finds kustomize (and
    /// its version) and compiles the globs now, so configuration errors show at start.
    pub fn new(mode: Mode, work_dir: PathBuf) -> Result<Renderer, String> {
        let (kustomize, selection) = match &mode {
            Mode::Kustomize(k) => (Some(Kustomize::find(k.binary.as_deref())?), None),
            Mode::Directory(d) => (
                None,
                Some(Selection {
                    recurse: d.recurse,
                    include: d.include.as_deref().map(Glob::new).transpose()?,
                    exclude: d.exclude.as_deref().map(Glob::new).transpose()?,
                }),
            ),
        };
        Ok(Renderer {
            mode,
            kustomize,
            selection,
            work_dir,
            cache: Mutex::new(HashMap::new()),
            workspace: Mutex::new(None),
        })
    }

    /// The kustomize in use, described.
    pub fn tool(&self) -> Option<String> {
        self.kustomize.as_ref().map(Kustomize::describe)
    }

    /// Renders `entries` (a verified tree).
    pub fn render(&self, entries: &[Entry]) -> Result<Rendered, RenderError> {
        let tree = TreeIndex::new(entries);
        let paths = match &self.mode {
            Mode::Kustomize(k) => self.kustomize_paths(&tree, k)?,
            Mode::Directory(d) => d
                .paths
                .iter()
                .map(|p| self.directory_path(&tree, p))
                .collect::<Result<_, _>>()?,
        };
        Ok(Rendered {
            mode: self.mode.name(),
            tool: self.tool(),
            paths,
        })
    }

    fn directory_path(
        &self,
        tree: &TreeIndex<'_>,
        path: &str,
    ) -> Result<RenderedPath, RenderError> {
        let sel = self
            .selection
            .as_ref()
            .expect("directory mode has a selection");
        if tree.kind(path) != Kind::Dir {
            return Err(refused(
                path,
                "the render path is not a directory of this revision",
            ));
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut objects = Vec::new();
        let mut ignored = Vec::new();
        for e in tree.below(path) {
            let rel = &e.path[prefix.len()..];
            match sel.pick(rel) {
                Pick::Skip => continue,
                Pick::Unsupported => {
                    return Err(refused(
                        &e.path,
                        "jsonnet is not rendered by the gate: render it into YAML in the repository, or exclude the file",
                    ));
                }
                Pick::Read => {}
            }
            let data: &[u8] = if e.mode == MODE_SYMLINK {
                let (target, _) = tree
                    .resolve(path, rel)
                    .ok_or_else(|| refused(&e.path, "the symlink leaves the repository"))?;
                match tree.entry(&target) {
                    Some(t) if tree.kind(&target) == Kind::File => &t.data,
                    _ => continue,
                }
            } else {
                &e.data
            };
            let syntax = Syntax::of(&e.path).unwrap_or(Syntax::Yaml);
            let docs = parse(data, syntax).map_err(|m| refused(&e.path, m))?;
            let mut found = Vec::new();
            for d in docs {
                unwrap_lists(d.value, &mut found, format!("{}#{}", e.path, d.index));
            }
            let kinds = found
                .iter()
                .filter(|(_, v)| v.get("kind").is_some())
                .count();
            if kinds == 0 {
                // YAML that is not Kubernetes (a values file, .sops.yaml): consumers skip it.
                ignored.push(e.path.clone());
                continue;
            }
            for (origin, v) in found {
                let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
                if api.is_empty() || kind.is_empty() {
                    return Err(refused(
                        &origin,
                        "a document without apiVersion and kind among Kubernetes objects",
                    ));
                }
                objects.push(Object { origin, value: v });
            }
        }
        Ok(RenderedPath {
            path: path.to_string(),
            objects,
            cached: false,
            ignored,
        })
    }

    fn kustomize_paths(
        &self,
        tree: &TreeIndex<'_>,
        spec: &KustomizeSpec,
    ) -> Result<Vec<RenderedPath>, RenderError> {
        let kz = self
            .kustomize
            .as_ref()
            .expect("kustomize mode has kustomize");
        let mut plans: Vec<(String, Plan, String)> = Vec::new();
        for p in &spec.paths {
            let plan = plan(tree, p).map_err(|r| refused(r.file, r.message))?;
            let key = cache_key(kz, spec, p, &plan, tree);
            plans.push((p.clone(), plan, key));
        }
        let mut outputs: Vec<Option<(Arc<Vec<u8>>, bool)>> = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            plans
                .iter()
                .map(|(p, plan, key)| {
                    cache
                        .get(p)
                        .filter(|(k, _)| plan.cacheable && k == key)
                        .map(|(_, out)| (out.clone(), true))
                })
                .collect()
        };
        let todo: Vec<usize> = (0..plans.len()).filter(|&i| outputs[i].is_none()).collect();
        if !todo.is_empty() {
            // The workspace holds the union of every path's closure (so the next commit
            // usually writes one file), and the generated kustomizations.
            let mut generated: Vec<(String, &[u8])> = Vec::new();
            for (_, plan, _) in &plans {
                for (d, bytes) in &plan.generated {
                    let path = if d.is_empty() {
                        "kustomization.yaml".to_string()
                    } else {
                        format!("{d}/kustomization.yaml")
                    };
                    generated.push((path, bytes));
                }
            }
            let mut union: BTreeSet<&str> = BTreeSet::new();
            for (_, plan, _) in &plans {
                union.extend(plan.closure.iter().map(String::as_str));
            }
            let mut wanted: Vec<Wanted<'_>> = union
                .iter()
                .filter_map(|p| tree.entry(p))
                .map(|e| Wanted {
                    path: &e.path,
                    mode: e.mode,
                    data: &e.data,
                })
                .collect();
            wanted.extend(generated.iter().map(|(p, b)| Wanted {
                path: p,
                mode: MODE_FILE,
                data: b,
            }));
            let mut guard = self.workspace.lock().unwrap_or_else(|e| e.into_inner());
            let operational = |e: std::io::Error| RenderError {
                subject: self.work_dir.display().to_string(),
                message: format!("cannot prepare the build directory: {e}"),
                operational: true,
            };
            if guard.is_none() {
                *guard = Some(Workspace::new(&self.work_dir).map_err(operational)?);
            }
            let ws = guard.as_mut().expect("just made");
            if let Err(e) = ws.sync(&wanted) {
                // A workspace in an unknown state is not reused.
                *guard = None;
                return Err(operational(e));
            }
            let root = ws.root();
            let limits = Limits {
                timeout: spec.timeout,
                max_stdout: spec.max_output,
                max_stderr: 64 << 10,
            };
            // Every build at once (up to 8): kustomize is single-threaded but for its garbage
            // collector, so on a small machine three builds side by side finish sooner than
            // two rounds of one per core.
            let workers = todo.len().clamp(1, 8);
            let next = std::sync::atomic::AtomicUsize::new(0);
            let results: Vec<(usize, Result<Vec<u8>, BuildError>)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..workers.min(todo.len()))
                    .map(|_| {
                        s.spawn(|| {
                            let mut mine = Vec::new();
                            loop {
                                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                let Some(&i) = todo.get(n) else { break };
                                let r = kz.build(
                                    &root,
                                    &plans[i].0,
                                    limits,
                                    spec.load_restrictions_none,
                                );
                                mine.push((i, r));
                            }
                            mine
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_default())
                    .collect()
            });
            let mut results = results;
            results.sort_by_key(|(i, _)| *i);
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            for (i, r) in results {
                let out = match r {
                    Ok(o) => Arc::new(o),
                    Err(BuildError::Refused(m)) => return Err(refused(&plans[i].0, m)),
                    Err(BuildError::Operational(m)) => {
                        return Err(RenderError {
                            subject: plans[i].0.clone(),
                            message: m,
                            operational: true,
                        });
                    }
                };
                if plans[i].1.cacheable {
                    cache.insert(plans[i].0.clone(), (plans[i].2.clone(), out.clone()));
                }
                outputs[i] = Some((out, false));
            }
        }
        let mut rendered = Vec::new();
        for ((p, _, _), out) in plans.into_iter().zip(outputs) {
            let (bytes, cached) = out.expect("every path was built or cached");
            let docs = parse(&bytes, Syntax::Yaml)
                .map_err(|m| refused(&p, format!("kustomize output does not parse: {m}")))?;
            let shown = if p.is_empty() {
                ".".to_string()
            } else {
                p.clone()
            };
            let mut found = Vec::new();
            for d in docs {
                unwrap_lists(d.value, &mut found, format!("{shown}#{}", d.index));
            }
            rendered.push(RenderedPath {
                path: p,
                objects: found
                    .into_iter()
                    .map(|(origin, value)| Object { origin, value })
                    .collect(),
                cached,
                ignored: Vec::new(),
            });
        }
        Ok(rendered)
    }
}

/// Everything a build's output depends on: the tool, its flags, the path, the generated
/// kustomizations and every file of the closure (content and mode; absent files too).
fn cache_key(
    kz: &Kustomize,
    spec: &KustomizeSpec,
    path: &str,
    plan: &Plan,
    tree: &TreeIndex<'_>,
) -> String {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    field(kz.describe().as_bytes());
    field(&[spec.load_restrictions_none as u8]);
    field(path.as_bytes());
    for (d, bytes) in &plan.generated {
        field(d.as_bytes());
        field(bytes);
    }
    for p in &plan.closure {
        field(p.as_bytes());
        match tree.entry(p) {
            Some(e) => {
                field(&e.mode.to_be_bytes());
                field(&Sha256::digest(&e.data));
            }
            None => field(b"-"),
        }
    }
    hex::encode(h.finalize())
}
