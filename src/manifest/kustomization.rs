//! Reading kustomizations before kustomize runs: every kustomization and component a path
//! reaches is parsed, and every file, directory or URL it names is checked. Remote bases and
//! resources, absolute paths, paths that leave the repository, Helm inflation, non-builtin
//! plugins and unknown fields are refused with a reason, so kustomize never touches the network
//! or a file outside the tree. The walk also records every file the build can read (its
//! closure), which keys the render cache, and generates a kustomization where a path has none,
//! as Flux's kustomize-controller does.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::documents::{Syntax, parse};
use super::tree_index::{Kind, TreeIndex};
use crate::git::tree::MODE_SYMLINK;

/// File names kustomize recognises as a kustomization, in its order of preference.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Files source-controller leaves out of an artifact by default (fluxcd/pkg `sourceignore`),
/// so Flux's generated kustomizations never list them.
const FLUX_DEFAULT_IGNORED: [&str; 3] = [".goreleaser.yml", ".sops.yaml", ".flux.yaml"];
const FLUX_IGNORED_TOP: [&str; 10] = [
    ".github",
    ".circleci",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    ".gitignore",
];

/// What a path needs before kustomize can build it.
#[derive(Debug, Default)]
pub struct Plan {
    /// Kustomizations to write into the materialised tree (directory, file bytes), for paths
    /// that had none.
    pub generated: Vec<(String, Vec<u8>)>,
    /// Every file the build can read (tree paths, resolved).
    pub closure: BTreeSet<String>,
    /// False when a symlink was followed: the closure is then not a safe cache key.
    pub cacheable: bool,
}

/// Why a path cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The kustomization (or file) at fault.
    pub file: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// The kustomization file of directory `dir`, if any; two of them is an error, as in kustomize.
pub fn kustomization_file(tree: &TreeIndex<'_>, dir: &str) -> Result<Option<String>, Refusal> {
    let found: Vec<String> = KUSTOMIZATION_FILES
        .iter()
        .map(|n| join(dir, n))
        .filter(|p| tree.entry(p).is_some())
        .collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        _ => Err(Refusal {
            file: dir.to_string(),
            message: format!(
                "found multiple kustomization files ({}): kustomize refuses to choose",
                found.join(", ")
            ),
        }),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether kustomize would fetch `s` over the network (an URL, a git repository spec).
pub fn is_remote(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if lower.contains("://")
        || lower.starts_with("git::")
        || lower.starts_with("gh:")
        || lower.starts_with("github.com/")
        || lower.starts_with("github.com:")
    {
        return true;
    }
    // scp-like `user@host:path`
    if let Some((user, rest)) = s.split_once('@') {
        let user_ok = user.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && user.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if user_ok && rest.split('/').next().is_some_and(|h| h.contains(':')) {
            return true;
        }
    }
    false
}

/// Fields of a kustomization (or component) kustomize v5 knows.
const KNOWN_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "openapi",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "imageTags",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "components",
    "crds",
    "bases",
    "configMapGenerator",
    "secretGenerator",
    "helmGlobals",
    "helmCharts",
    "helmChartInflationGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "inventory",
    "buildMetadata",
];

/// Builtin plugins (`apiVersion: builtin`) kustomize runs without external plugins enabled.
const BUILTIN_PLUGINS: &[&str] = &[
    "AnnotationsTransformer",
    "ConfigMapGenerator",
    "HashTransformer",
    "ImageTagTransformer",
    "LabelTransformer",
    "LegacyOrderTransformer",
    "NamespaceTransformer",
    "PatchJson6902Transformer",
    "PatchStrategicMergeTransformer",
    "PatchTransformer",
    "PrefixSuffixTransformer",
    "PrefixTransformer",
    "ReplacementTransformer",
    "ReplicaCountTransformer",
    "SecretGenerator",
    "SortOrderTransformer",
    "SuffixTransformer",
    "ValueAddTransformer",
];

/// What a reference may name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A file, or a directory holding a kustomization (resources, bases).
    FileOrKustomization,
    /// A directory holding a kustomization (components).
    Kustomization,
    /// A file.
    File,
    /// A file, or a directory whose every file is read (generator `files`).
    FileOrDir,
}

/// Most kustomizations nested in one another (resources, bases, components): the walk recurses
/// per level, on threads with a default-size stack.
const MAX_NESTING: usize = 64;

struct Walker<'t, 'a> {
    tree: &'t TreeIndex<'a>,
    plan: Plan,
    visited: BTreeSet<String>,
    depth: usize,
}

/// Plans the build of `path` (a directory of the tree): walks every kustomization it reaches,
/// or generates one as kustomize-controller does when the directory has none.
pub fn plan(tree: &TreeIndex<'_>, path: &str) -> Result<Plan, Refusal> {
    let mut w = Walker {
        tree,
        plan: Plan {
            cacheable: true,
            ..Plan::default()
        },
        visited: BTreeSet::new(),
        depth: 0,
    };
    if tree.kind(path) != Kind::Dir {
        return Err(Refusal {
            file: path.to_string(),
            message: "the render path is not a directory of this revision".into(),
        });
    }
    match kustomization_file(tree, path)? {
        Some(_) => w.kustomization(path)?,
        None => w.generate(path)?,
    }
    Ok(w.plan)
}

impl Walker<'_, '_> {
    fn refuse(&self, file: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            file: file.to_string(),
            message: message.into(),
        }
    }

    /// Adds a file of the tree to the closure.
    fn read(&mut self, path: &str) {
        if self
            .tree
            .entry(path)
            .is_some_and(|e| e.mode == MODE_SYMLINK)
        {
            self.plan.cacheable = false;
        }
        self.plan.closure.insert(path.to_string());
    }

    /// Symlinks followed to reach a file: kustomize follows them too, so they are part of the
    /// closure (and make it an unsafe cache key).
    fn links(&mut self, links: Vec<String>) {
        if !links.is_empty() {
            self.plan.cacheable = false;
            self.plan.closure.extend(links);
        }
    }

    /// Checks one reference of kustomization `file` (in directory `dir`) and follows it.
    fn reference(
        &mut self,
        file: &str,
        dir: &str,
        field: &str,
        value: &str,
        want: Want,
    ) -> Result<(), Refusal> {
        if is_remote(value) {
            return Err(self.refuse(
                file,
                format!("{field} '{value}' is remote: the gate renders offline, so remote bases, resources and files are refused (vendor them into the repository)"),
            ));
        }
        if value.starts_with('/') {
            return Err(self.refuse(file, format!("{field} '{value}' is an absolute path")));
        }
        let Some((path, links)) = self.tree.resolve(dir, value) else {
            return Err(self.refuse(file, format!("{field} '{value}' leaves the repository")));
        };
        self.links(links);
        match (self.tree.kind(&path), want) {
            (Kind::File, Want::Kustomization) => Err(self.refuse(
                file,
                format!("{field} '{value}' must be a directory with a kustomization"),
            )),
            (Kind::File, _) => {
                self.read(&path);
                Ok(())
            }
            (Kind::Dir, Want::File) => Err(self.refuse(
                file,
                format!("{field} '{value}' is a directory, not a file"),
            )),
            (Kind::Dir, Want::FileOrDir) => {
                let below: Vec<String> = self.tree.below(&path).map(|e| e.path.clone()).collect();
                for p in below {
                    self.read(&p);
                }
                Ok(())
            }
            (Kind::Dir, _) => self.kustomization(&path),
            // Missing: kustomize reports it; the name still belongs to the closure, so adding
            // the file later invalidates a cached render.
            (Kind::Missing, _) => {
                self.plan.closure.insert(path);
                Ok(())
            }
        }
    }

    fn strings<'v>(&self, file: &str, field: &str, v: &'v Value) -> Result<Vec<&'v str>, Refusal> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str().ok_or_else(|| {
                        self.refuse(file, format!("{field} must be a list of strings"))
                    })
                })
                .collect(),
            _ => Err(self.refuse(file, format!("{field} must be a list"))),
        }
    }

    /// Walks the kustomization of directory `dir` (once).
    fn kustomization(&mut self, dir: &str) -> Result<(), Refusal> {
        if !self.visited.insert(dir.to_string()) {
            return Ok(());
        }
        if self.depth >= MAX_NESTING {
            return Err(self.refuse(
                dir,
                format!("kustomizations nested more than {MAX_NESTING} deep (resources, bases, components): flatten the chain"),
            ));
        }
        self.depth += 1;
        let walked = self.walk(dir);
        self.depth -= 1;
        walked
    }

    /// The body of [`Walker::kustomization`].
    fn walk(&mut self, dir: &str) -> Result<(), Refusal> {
        let Some(file) = kustomization_file(self.tree, dir)? else {
            return Err(self.refuse(
                dir,
                "a referenced directory has no kustomization.yaml (kustomize needs one there)",
            ));
        };
        // The other spellings belong to the closure too: adding one changes the build.
        for n in KUSTOMIZATION_FILES {
            self.plan.closure.insert(join(dir, n));
        }
        self.read(&file);
        let (resolved, links) = self
            .tree
            .resolve("", &file)
            .ok_or_else(|| self.refuse(&file, "leaves the repository"))?;
        self.links(links);
        self.read(&resolved);
        let Some(entry) = self.tree.entry(&resolved) else {
            return Err(self.refuse(&file, "unreadable kustomization"));
        };
        let docs = parse(&entry.data, Syntax::Yaml).map_err(|e| self.refuse(&file, e))?;
        let k = match docs.as_slice() {
            [] => Value::Object(Default::default()),
            [one] => one.value.clone(),
            _ => return Err(self.refuse(&file, "a kustomization must be one YAML document")),
        };
        let Value::Object(fields) = &k else {
            return Err(self.refuse(&file, "a kustomization must be a mapping"));
        };
        for (name, v) in fields {
            if !KNOWN_FIELDS.contains(&name.as_str()) {
                return Err(self.refuse(
                    &file,
                    format!("unknown field '{name}' (kustomize refuses it; the gate does not guess what it reads)"),
                ));
            }
            match name.as_str() {
                "resources" | "bases" => {
                    for r in self.strings(&file, name, v)? {
                        self.reference(&file, dir, name, r, Want::FileOrKustomization)?;
                    }
                }
                "components" => {
                    for r in self.strings(&file, name, v)? {
                        self.reference(&file, dir, name, r, Want::Kustomization)?;
                    }
                }
                "crds" | "configurations" => {
                    for r in self.strings(&file, name, v)? {
                        self.reference(&file, dir, name, r, Want::File)?;
                    }
                }
                "patchesStrategicMerge" => {
                    for r in self.strings(&file, name, v)? {
                        // A path when such a file exists, else an inline patch (as kustomize).
                        if !r.contains('\n') {
                            self.reference(&file, dir, name, r, Want::FileOrDir)?;
                        }
                    }
                }
                "patches" | "patchesJson6902" | "replacements" => {
                    for (i, p) in v.as_array().into_iter().flatten().enumerate() {
                        if let Some(path) = p.get("path") {
                            let path = path.as_str().ok_or_else(|| {
                                self.refuse(&file, format!("{name}[{i}].path must be a string"))
                            })?;
                            self.reference(
                                &file,
                                dir,
                                &format!("{name}[{i}].path"),
                                path,
                                Want::File,
                            )?;
                        }
                    }
                }
                "openapi" => {
                    if let Some(path) = v.get("path").and_then(Value::as_str) {
                        self.reference(&file, dir, "openapi.path", path, Want::File)?;
                    }
                }
                "configMapGenerator" | "secretGenerator" => {
                    for (i, g) in v.as_array().into_iter().flatten().enumerate() {
                        self.generator_sources(&file, dir, &format!("{name}[{i}]"), g)?;
                    }
                }
                "helmCharts" | "helmGlobals" | "helmChartInflationGenerator" => {
                    return Err(self.refuse(
                        &file,
                        format!("{name}: Helm inflation is not rendered by the gate (render the chart into the repository, or allow a HelmRelease by policy)"),
                    ));
                }
                "generators" | "transformers" | "validators" => {
                    for r in self.strings(&file, name, v)? {
                        self.plugin_entry(&file, dir, name, r)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `files`, `envs` and the legacy `env` of a generator; `literals` read nothing.
    fn generator_sources(
        &mut self,
        file: &str,
        dir: &str,
        what: &str,
        g: &Value,
    ) -> Result<(), Refusal> {
        if let Some(files) = g.get("files") {
            for f in self.strings(file, &format!("{what}.files"), files)? {
                let path = f.split_once('=').map_or(f, |(_, p)| p);
                self.reference(file, dir, &format!("{what}.files"), path, Want::FileOrDir)?;
            }
        }
        if let Some(envs) = g.get("envs") {
            for f in self.strings(file, &format!("{what}.envs"), envs)? {
                self.reference(file, dir, &format!("{what}.envs"), f, Want::File)?;
            }
        }
        if let Some(env) = g.get("env").and_then(Value::as_str) {
            self.reference(file, dir, &format!("{what}.env"), env, Want::File)?;
        }
        Ok(())
    }

    /// One `generators`/`transformers`/`validators` entry: a file of plugin configurations, or
    /// configurations inline. Only builtin plugins; their own file references are checked.
    fn plugin_entry(
        &mut self,
        file: &str,
        dir: &str,
        field: &str,
        entry: &str,
    ) -> Result<(), Refusal> {
        let (bytes, base) = if entry.contains('\n') {
            (entry.as_bytes().to_vec(), dir.to_string())
        } else {
            if is_remote(entry) || entry.starts_with('/') {
                return self.reference(file, dir, field, entry, Want::File);
            }
            let Some((path, links)) = self.tree.resolve(dir, entry) else {
                return Err(self.refuse(file, format!("{field} '{entry}' leaves the repository")));
            };
            self.links(links);
            match self.tree.kind(&path) {
                Kind::File => {}
                Kind::Dir => {
                    return Err(self.refuse(
                        file,
                        format!("{field} '{entry}' is a directory: list the plugin configuration files themselves"),
                    ));
                }
                Kind::Missing => {
                    self.plan.closure.insert(path);
                    return Ok(());
                }
            }
            self.read(&path);
            let data = self
                .tree
                .entry(&path)
                .map(|e| e.data.clone())
                .unwrap_or_default();
            (data, dir.to_string())
        };
        let docs = parse(&bytes, Syntax::Yaml)
            .map_err(|e| self.refuse(file, format!("{field} '{entry}': {e}")))?;
        for d in docs {
            let api = d
                .value
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            let kind = d.value.get("kind").and_then(Value::as_str).unwrap_or("");
            let builtin = api == "builtin" || api.ends_with("/builtin");
            if !builtin || !BUILTIN_PLUGINS.contains(&kind) {
                return Err(self.refuse(
                    file,
                    format!("{field}: plugin {api}/{kind} is not a builtin kustomize runs without external plugins (exec and KRM function plugins are refused)"),
                ));
            }
            let what = format!("{field} {kind}");
            match kind {
                "ConfigMapGenerator" | "SecretGenerator" => {
                    self.generator_sources(file, &base, &what, &d.value)?
                }
                "PatchTransformer" | "PatchJson6902Transformer" => {
                    if let Some(p) = d.value.get("path").and_then(Value::as_str) {
                        self.reference(file, &base, &what, p, Want::File)?;
                    }
                }
                "PatchStrategicMergeTransformer" => {
                    if let Some(paths) = d.value.get("paths") {
                        for p in self.strings(file, &what, paths)? {
                            self.reference(file, &base, &what, p, Want::File)?;
                        }
                    }
                }
                "ReplacementTransformer" => {
                    for r in d
                        .value
                        .get("replacements")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(p) = r.get("path").and_then(Value::as_str) {
                            self.reference(file, &base, &what, p, Want::File)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// kustomize-controller's rule for a path without a kustomization: every `.yaml`/`.yml`
    /// file below it (recursively, in name order) is a resource, except that a subdirectory
    /// holding its own kustomization is one resource and is not entered; files source-
    /// controller ignores by default are left out. Each file must hold Kubernetes objects
    /// (`kind`, and `metadata.name` unless a list), else the build fails as it does in Flux.
    fn generate(&mut self, dir: &str) -> Result<(), Refusal> {
        self.visited.insert(dir.to_string());
        for n in KUSTOMIZATION_FILES {
            self.plan.closure.insert(join(dir, n));
        }
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut resources: BTreeMap<String, ()> = BTreeMap::new();
        let mut skip_dirs: Vec<String> = Vec::new();
        let below: Vec<(String, u32, Vec<u8>)> = self
            .tree
            .below(dir)
            .map(|e| (e.path.clone(), e.mode, e.data.clone()))
            .collect();
        for (path, mode, data) in below {
            let rel = &path[prefix.len()..];
            if skip_dirs.iter().any(|d| path.starts_with(&format!("{d}/"))) {
                continue;
            }
            // A subdirectory with its own kustomization is one resource.
            let mut sub = dir.to_string();
            let mut nested = None;
            for c in rel
                .split('/')
                .collect::<Vec<_>>()
                .iter()
                .rev()
                .skip(1)
                .rev()
            {
                sub = join(&sub, c);
                if kustomization_file(self.tree, &sub)?.is_some() {
                    nested = Some(sub.clone());
                    break;
                }
            }
            if let Some(sub) = nested {
                skip_dirs.push(sub.clone());
                resources.insert(format!("./{}", &sub[prefix.len()..]), ());
                self.kustomization(&sub)?;
                continue;
            }
            let name = rel.rsplit('/').next().unwrap_or(rel);
            let top = rel.split('/').next().unwrap_or(rel);
            if !(name.ends_with(".yaml") || name.ends_with(".yml"))
                || FLUX_DEFAULT_IGNORED.contains(&name)
                || FLUX_IGNORED_TOP.contains(&top)
            {
                continue;
            }
            if mode == MODE_SYMLINK {
                self.plan.cacheable = false;
            }
            self.read(&path);
            let bytes = if mode == MODE_SYMLINK {
                let (target, links) = self
                    .tree
                    .resolve(dir, rel)
                    .ok_or_else(|| self.refuse(&path, "symlink leaves the repository"))?;
                self.links(links);
                self.read(&target);
                self.tree
                    .entry(&target)
                    .map(|e| e.data.clone())
                    .unwrap_or_default()
            } else {
                data
            };
            let docs = parse(&bytes, Syntax::Yaml).map_err(|e| {
                self.refuse(&path, format!("failed to decode Kubernetes YAML (as kustomize-controller does for a path without kustomization.yaml): {e}"))
            })?;
            for d in &docs {
                let kind = d.value.get("kind").and_then(Value::as_str).unwrap_or("");
                let named = d
                    .value
                    .get("metadata")
                    .and_then(|m| m.get("name"))
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                if kind.is_empty() || (!named && !kind.ends_with("List")) {
                    return Err(self.refuse(
                        &path,
                        format!("document {} is not a Kubernetes object (kind and metadata.name are required in a path without kustomization.yaml; add one that lists the resources)", d.index),
                    ));
                }
            }
            resources.insert(format!("./{rel}"), ());
        }
        let mut text =
            String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n");
        if resources.is_empty() {
            text.push_str("namespace: _placeholder\n");
        } else {
            text.push_str("resources:\n");
            for r in resources.keys() {
                text.push_str(&format!("- {}\n", yaml_string(r)));
            }
        }
        self.plan
            .generated
            .push((dir.to_string(), text.into_bytes()));
        Ok(())
    }
}

/// A string as a double-quoted YAML scalar (JSON escapes are valid YAML).
fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tree::{Entry, MODE_FILE};

    fn tree(files: &[(&str, &str)]) -> Vec<Entry> {
        let mut v: Vec<Entry> = files
            .iter()
            .map(|(p, d)| Entry {
                path: p.to_string(),
                mode: MODE_FILE,
                data: d.as_bytes().to_vec(),
            })
            .collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }

    fn refusal(files: &[(&str, &str)], path: &str) -> String {
        let entries = tree(files);
        let t = TreeIndex::new(&entries);
        plan(&t, path).expect_err("refused").message
    }

    #[test]
    fn remote_and_escaping_references_are_refused() {
        for (k, want) in [
            ("resources: [https://example.com/x.yaml]\n", "is remote"),
            (
                "resources: [github.com/org/repo//deploy?ref=v1]\n",
                "is remote",
            ),
            ("resources: [git@github.com:org/repo.git]\n", "is remote"),
            ("components: [git::https://example.com/c]\n", "is remote"),
            ("resources: [../../../etc]\n", "leaves the repository"),
            ("resources: [/etc/passwd]\n", "absolute path"),
            (
                "secretGenerator: [{name: s, files: [k=https://e.com/f]}]\n",
                "is remote",
            ),
            ("patches: [{path: 'http://e.com/p.yaml'}]\n", "is remote"),
            (
                "helmCharts: [{name: x, repo: https://charts.example.com}]\n",
                "Helm",
            ),
            ("generators: [gen.yaml]\n", "not a builtin"),
            ("transformers: [t.yaml]\n", "is remote"),
            ("resourcez: [a.yaml]\n", "unknown field"),
        ] {
            let files = [
                ("app/kustomization.yaml", k),
                (
                    "app/gen.yaml",
                    "apiVersion: someteam.example.com/v1\nkind: ChartRenderer\nmetadata: {name: x}\n",
                ),
                (
                    "app/t.yaml",
                    "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: https://evil.example/p.yaml\n",
                ),
            ];
            let m = refusal(&files, "app");
            assert!(m.contains(want), "{k}: {m}");
        }
    }

    #[test]
    fn closure_follows_bases_components_patches_and_generators() {
        let entries = tree(&[
            ("base/kustomization.yaml", "resources: [dep.yaml]\n"),
            ("base/dep.yaml", "kind: Deployment\n"),
            ("base/unused.yaml", "kind: ConfigMap\n"),
            (
                "comp/kustomization.yaml",
                "kind: Component\npatches: [{path: p.yaml}]\n",
            ),
            ("comp/p.yaml", "x"),
            (
                "prod/kustomization.yaml",
                "resources: [../base]\ncomponents: [../comp]\nsecretGenerator: [{name: s, envs: [s.env], files: [conf]}]\npatchesStrategicMerge: [sm.yaml, \"kind: Deployment\\nmetadata: {name: x}\\n\"]\n",
            ),
            ("prod/s.env", "a=b"),
            ("prod/sm.yaml", "kind: Deployment"),
            ("prod/conf/a.txt", "1"),
            ("prod/conf/b.txt", "2"),
        ]);
        let t = TreeIndex::new(&entries);
        let p = plan(&t, "prod").unwrap();
        let files: Vec<&str> = p
            .closure
            .iter()
            .map(String::as_str)
            .filter(|f| t.kind(f) == Kind::File)
            .collect();
        assert_eq!(
            files,
            [
                "base/dep.yaml",
                "base/kustomization.yaml",
                "comp/kustomization.yaml",
                "comp/p.yaml",
                "prod/conf/a.txt",
                "prod/conf/b.txt",
                "prod/kustomization.yaml",
                "prod/s.env",
                "prod/sm.yaml"
            ]
        );
        assert!(p.cacheable);
        assert!(p.generated.is_empty());
    }

    #[test]
    fn long_chains_of_bases_are_refused_not_a_stack_overflow() {
        let chain = |n: usize| -> Vec<Entry> {
            (0..n)
                .map(|i| Entry {
                    path: format!("d{i}/kustomization.yaml"),
                    mode: MODE_FILE,
                    data: format!("resources: [../d{}]\n", i + 1).into_bytes(),
                })
                .collect()
        };
        let entries = chain(MAX_NESTING);
        let t = TreeIndex::new(&entries);
        assert!(plan(&t, "d0").is_ok());
        // On the default stack of a spawned thread (the gate's sources run on such threads).
        let m = std::thread::spawn(move || {
            let entries = chain(5_000);
            let t = TreeIndex::new(&entries);
            plan(&t, "d0").expect_err("refused").message
        })
        .join()
        .unwrap();
        assert!(m.contains("nested more than"), "{m}");
    }

    #[test]
    fn generates_like_kustomize_controller() {
        let entries = tree(&[
            (
                "apps/a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            ),
            ("apps/.sops.yaml", "creation_rules: []\n"),
            ("apps/notes.md", "hi"),
            ("apps/sub/b.yml", "apiVersion: v1\nkind: List\nitems: []\n"),
            ("apps/nested/kustomization.yaml", "resources: [c.yaml]\n"),
            ("apps/nested/c.yaml", "kind: ConfigMap\n"),
            ("apps/nested/deeper/d.yaml", "not even read"),
        ]);
        let t = TreeIndex::new(&entries);
        let p = plan(&t, "apps").unwrap();
        assert_eq!(p.generated.len(), 1);
        assert_eq!(
            String::from_utf8(p.generated[0].1.clone()).unwrap(),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- \"./a.yaml\"\n- \"./nested\"\n- \"./sub/b.yml\"\n"
        );
        let m = refusal(&[("apps/values.yaml", "replicaCount: 2\n")], "apps");
        assert!(m.contains("not a Kubernetes object"), "{m}");
        let m = refusal(
            &[
                ("apps/kustomization.yaml", "resources: []\n"),
                ("apps/Kustomization", "resources: []\n"),
            ],
            "apps",
        );
        assert!(m.contains("multiple kustomization files"), "{m}");
    }
}
