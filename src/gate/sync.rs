//! One sync of one source: fetch into quarantine, resolve the ref once, verify (ancestry,
//! every new commit, tag signatures, SOPS files and plaintext Secrets, images), then publish
//! from the verified objects — or refuse and leave the last good revision in place.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::sops::time::{format_unix, now_unix};
use serde_json::json;

use super::config::SourceConfig;
use super::publish::{Volume, flux_status, write_artifact};
use super::quarantine::{FetchError, Quarantine};
use super::state::{ArtifactInfo, Attempt, AttemptResult, ImageSummary, Published};
use crate::cache_key::CacheKey;
use crate::git::repo::Repo;
use crate::git::short_id;
use crate::git::tree::{self, Entry};
use crate::git::verify::{Cache, Context, Verdict, verify_commit, verify_commits, verify_tag};
use crate::image::check::{Checker, ImageVerdict, Outcome, Targets, VerdictCache};
use crate::image::reference::Reference;
use crate::image::registry::{Client, ClientOptions};
use crate::manifest::check::{Checked, ImageUse, Options, check};
use crate::manifest::output;
use crate::manifest::render::Rendered;
use crate::manifest::secrets::{Refusal, SopsFiles};
use crate::policy::Mode;
use crate::verdict::Decision;

/// Git operations time limit.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(120);

/// The result of one sync.
pub struct SyncResult {
    /// What happened.
    pub attempt: Attempt,
    /// The new publication, if any.
    pub published: Option<Published>,
    /// The verdict document (also written beside the published tree).
    pub verdict: serde_json::Value,
}

/// What a publisher may write: content of a revision that passed every check of its source.
/// Only this module makes one, once [`sync`]'s checks (or, for `sigil render`,
/// [`verified_tree`]'s and `render_output`'s) have all passed, so no other code can hand a
/// publisher (the volume, the artifact, the plugin's output) unverified content.
///
/// ```compile_fail
/// // Outside the verifying module a `Verified` cannot be built (its fields are private and
/// // it has no public constructor):
/// let v = sigil::gate::sync::Verified { commit: String::new(), content: Vec::<u8>::new() };
/// ```
///
/// ```
/// // It can only be read.
/// fn show(v: &sigil::gate::sync::Verified<Vec<u8>>) -> (&str, usize) {
///     (v.commit(), v.content().len())
/// }
/// ```
pub struct Verified<T> {
    commit: String,
    content: T,
}

impl<T> Verified<T> {
    fn new(commit: &str, content: T) -> Verified<T> {
        Verified {
            commit: commit.to_string(),
            content,
        }
    }

    /// The commit it was verified at.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// What was verified (the files or archive to publish).
    pub fn content(&self) -> &T {
        &self.content
    }
}

/// A refusal or error on the way.
pub(crate) struct Stop {
    pub(crate) result: AttemptResult,
    pub(crate) check: &'static str,
    pub(crate) reason: String,
    pub(crate) subject: Option<String>,
    pub(crate) message: String,
}

/// The first verdict that did not verify, as a refusal of `check`.
fn first_refusal(check: &'static str, verdicts: &[Verdict]) -> Result<(), Stop> {
    match verdicts.iter().find(|v| !v.verified()) {
        Some(bad) => Err(refuse(
            check,
            bad.reason.unwrap_or("refused"),
            Some(bad.id.clone()),
            bad.detail.clone().unwrap_or_default(),
        )),
        None => Ok(()),
    }
}

fn refuse(
    check: &'static str,
    reason: impl Into<String>,
    subject: Option<String>,
    message: impl Into<String>,
) -> Stop {
    Stop {
        result: AttemptResult::Refused,
        check,
        reason: reason.into(),
        subject,
        message: message.into(),
    }
}

fn error(check: &'static str, reason: impl Into<String>, message: impl Into<String>) -> Stop {
    Stop {
        result: AttemptResult::Error,
        check,
        reason: reason.into(),
        subject: None,
        message: message.into(),
    }
}

/// The key authenticating the verdict caches, in the state directory (see
/// [`crate::cache_key`]).
pub const CACHE_KEY_FILE: &str = "cache.key";

/// Persistent per-source files under the state directory.
pub struct SourceFiles {
    /// The state directory.
    pub state_dir: PathBuf,
    /// The last published revision (ratchet), JSON of [`Published`].
    pub published: PathBuf,
    /// Commit → first time the gate saw it (unix seconds).
    pub ledger: PathBuf,
    /// Commit verdict cache (authenticated with the key in [`CACHE_KEY_FILE`]).
    pub cache: PathBuf,
    /// Image verdict cache directory (likewise).
    pub image_cache: PathBuf,
    /// Artifacts directory (shared by all sources; one subdirectory each).
    pub artifacts: PathBuf,
}

impl SourceFiles {
    /// The files of `name` under `state_dir`.
    pub fn new(state_dir: &Path, name: &str) -> SourceFiles {
        SourceFiles {
            state_dir: state_dir.to_path_buf(),
            published: state_dir.join(format!("{name}.published.json")),
            ledger: state_dir.join(format!("{name}.first-seen.json")),
            cache: state_dir.join(format!("{name}.verdicts.jsonl")),
            image_cache: state_dir.join("image-verdicts"),
            artifacts: state_dir.join("artifacts"),
        }
    }

    /// The publication recorded by an earlier run.
    pub fn load_published(&self) -> Option<Published> {
        serde_json::from_slice(&std::fs::read(&self.published).ok()?).ok()
    }

    /// The recorded publication, if what it published is still in place: the volume link
    /// points at it and the artifact file exists. A restarted gate serves it at once.
    pub fn intact_publication(&self, src: &SourceConfig) -> Option<Published> {
        let p = self.load_published()?;
        if let Some(v) = &src.volume {
            let vol = Volume {
                root: v.root.clone(),
                link: v.link.clone(),
                keep_versions: v.keep_versions,
                grace: v.grace,
            };
            if vol.current().as_deref() != Some(p.commit.as_str()) {
                return None;
            }
        }
        if src.artifact.is_some() {
            let a = p.artifact.as_ref()?;
            let hex = a.digest.strip_prefix("sha256:")?;
            if !self
                .artifacts
                .join(&src.name)
                .join(format!("{hex}.tar.gz"))
                .is_file()
            {
                return None;
            }
        }
        Some(p)
    }

    fn first_seen(&self, commit: &str, now: i64) -> i64 {
        let mut map: BTreeMap<String, i64> = std::fs::read(&self.ledger)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Some(t) = map.get(commit) {
            return *t;
        }
        map.insert(commit.to_string(), now);
        if map.len() > 1000 {
            let oldest: Vec<String> = {
                let mut v: Vec<(&String, &i64)> = map.iter().collect();
                v.sort_by_key(|(_, t)| **t);
                v.iter()
                    .take(map.len() - 1000)
                    .map(|(k, _)| (*k).clone())
                    .collect()
            };
            for k in oldest {
                map.remove(&k);
            }
        }
        if let Ok(b) = serde_json::to_vec(&map) {
            let _ = crate::atomic::write(&self.ledger, &b, crate::atomic::Mode::Public);
        }
        now
    }
}

/// Runs one sync. `published` is the revision currently served (the ratchet); with
/// `republish` (the first sync after a restart) an unchanged tip is verified and published
/// again, so the volume and the artifact are rebuilt if they were lost. Verdict caches are
/// used only with a `cache_key`.
pub fn sync(
    src: &SourceConfig,
    state_dir: &Path,
    published: Option<&Published>,
    republish: bool,
    cache_key: Option<&CacheKey>,
) -> SyncResult {
    let started = Instant::now();
    let files = SourceFiles::new(state_dir, &src.name);
    let mut verdict = json!({
        "apiVersion": "sigil.dev/v1alpha1",
        "kind": "Verdict",
        "source": src.name,
        "ref": src.refname,
        "policyDigest": src.policy.digest,
    });
    let mut commit = None;
    let outcome = run(
        src,
        &files,
        published,
        republish,
        cache_key,
        &mut verdict,
        &mut commit,
    );
    let at = now_unix();
    let duration_seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(Some(p)) => {
            verdict["result"] = "verified".into();
            verdict["reason"] = serde_json::Value::Null;
            let attempt = Attempt {
                commit: Some(p.commit.clone()),
                at: format_unix(at),
                result: AttemptResult::Published,
                reason: None,
                check: None,
                subject: None,
                message: format!("published {}", &p.commit[..p.commit.len().min(12)]),
                duration_seconds,
            };
            SyncResult {
                attempt,
                published: Some(p),
                verdict,
            }
        }
        Ok(None) => {
            let c = commit.unwrap_or_default();
            let attempt = Attempt {
                commit: Some(c.clone()),
                at: format_unix(at),
                result: AttemptResult::Unchanged,
                reason: None,
                check: None,
                subject: None,
                message: format!("{} is already published", &c[..c.len().min(12)]),
                duration_seconds,
            };
            SyncResult {
                attempt,
                published: None,
                verdict,
            }
        }
        Err(stop) => {
            verdict["result"] = stop.result.as_str().into();
            verdict["reason"] = stop.reason.clone().into();
            verdict["check"] = stop.check.into();
            verdict["message"] = stop.message.clone().into();
            let attempt = Attempt {
                commit,
                at: format_unix(at),
                result: stop.result,
                reason: Some(stop.reason),
                check: Some(stop.check.to_string()),
                subject: stop.subject,
                message: stop.message,
                duration_seconds,
            };
            SyncResult {
                attempt,
                published: None,
                verdict,
            }
        }
    }
}

fn run(
    src: &SourceConfig,
    files: &SourceFiles,
    published: Option<&Published>,
    republish: bool,
    cache_key: Option<&CacheKey>,
    verdict: &mut serde_json::Value,
    commit_out: &mut Option<String>,
) -> Result<Option<Published>, Stop> {
    let q = Quarantine::open(&files.state_dir, &src.name)
        .map_err(|e| error("fetch", "fetch-failed", e))?;
    let (resolved_ref, commit) =
        match q.fetch(&src.url, &src.refname, &src.credentials, GIT_TIMEOUT) {
            Ok(x) => x,
            Err(FetchError::Git(e)) => return Err(error("fetch", "fetch-failed", e)),
            Err(FetchError::NoSuchRef(e)) => return Err(error("fetch", "no-such-ref", e)),
        };
    *commit_out = Some(commit.clone());
    verdict["commit"] = commit.clone().into();
    let same = published.is_some_and(|p| p.commit == commit);
    if same && !republish {
        return Ok(None);
    }
    // Republishing the same commit after a restart: nothing new to judge for ancestry.
    let published = if same { None } else { published };
    let t = now_unix();
    let first_seen = files.first_seen(&commit, t);
    let mut repo = Repo::open(&q.dir).map_err(|e| error("fetch", "fetch-failed", e.to_string()))?;
    let git_err = |e: crate::git::repo::GitError| error("commits", "git-error", e.to_string());
    // Ancestry (ratchet): a new tip must descend from what is published.
    if let Some(p) = published
        && !src.allow_rollback
    {
        let known = repo.resolve(&format!("{}^{{commit}}", p.commit)).is_ok();
        if !known || !repo.is_ancestor(&p.commit, &commit).map_err(git_err)? {
            return Err(refuse(
                "ancestry",
                "not-descendant",
                Some(commit.clone()),
                format!(
                    "{} does not descend from the published {} (force-push or rollback; set allowRollback to accept)",
                    short_id(&commit),
                    short_id(&p.commit)
                ),
            ));
        }
    }
    // Tags.
    // For a tag ref, the tag rule's signers also vouch for the commits (as `verify tag` does).
    let tag_rule = resolved_ref
        .strip_prefix("refs/tags/")
        .and_then(|name| src.policy.tag_rule(name).ok().flatten());
    let mut anchored = std::collections::HashSet::new();
    for a in &src.trust_anchors {
        let id = repo.resolve(&format!("{a}^{{commit}}")).map_err(|e| {
            error(
                "commits",
                "config-error",
                format!("trust anchor {a} is not a commit of this repository: {e}"),
            )
        })?;
        anchored.extend(repo.ancestors(&id).map_err(git_err)?);
    }
    // In-repo mode judges the whole path from the trust root at every sync: what was
    // published before is not judged again at the time this sync first saw it.
    if src.policy.commits.mode == Mode::InRepo
        && let Some(p) = published
        && repo.is_ancestor(&p.commit, &commit).unwrap_or(false)
    {
        anchored.extend(repo.ancestors(&p.commit).map_err(git_err)?);
    }
    let ctx = Context {
        policy: &src.policy,
        refname: resolved_ref.clone(),
        first_seen: Some(first_seen),
        now: t,
        tag_signers: tag_rule.map(|r| (format!("tags[{}]", r.pattern), r.signers.clone())),
        anchored: (!anchored.is_empty()).then(|| std::sync::Arc::new(anchored)),
    };
    if let Some(name) = resolved_ref.strip_prefix("refs/tags/") {
        let (tag_verdicts, _) = verify_tag(&mut repo, name, &ctx).map_err(git_err)?;
        verdict["tags"] = serde_json::to_value(&tag_verdicts).unwrap_or_default();
        first_refusal("tags", &tag_verdicts)?;
    }
    // Commits: every commit new since the published one (range mode), the head, or the
    // path from the in-repo trust root.
    let ids = match (src.policy.commits.mode, published) {
        (Mode::InRepo, _) => None,
        (Mode::Head, _) => Some(vec![commit.clone()]),
        (Mode::Range, Some(p))
            if !src.allow_rollback || repo.is_ancestor(&p.commit, &commit).unwrap_or(false) =>
        {
            Some(repo.range(&p.commit, &commit).map_err(git_err)?)
        }
        (Mode::Range, _) => Some(repo.range_all(&commit).map_err(git_err)?),
    };
    let commit_verdicts = match ids {
        None => verify_commit(&mut repo, &commit, &ctx).map_err(git_err)?,
        Some(ids) => {
            let mut cache = cache_key.map(|k| Cache::load(&files.cache, k));
            let v = verify_commits(&mut repo, &ids, &ctx, cache.as_mut()).map_err(git_err)?;
            if let Some(c) = cache.as_mut() {
                let _ = c.save();
            }
            v
        }
    };
    verdict["commits"] = serde_json::to_value(&commit_verdicts).unwrap_or_default();
    first_refusal("commits", &commit_verdicts)?;
    let head = commit_verdicts
        .iter()
        .find(|v| v.id == commit)
        .or(commit_verdicts.first());
    // The verified tree, from the objects.
    let entries = tree::read_tree(&q.dir, &commit).map_err(|e| match e {
        tree::TreeError::Git(_) | tree::TreeError::Io(..) => {
            error("tree", "git-error", e.to_string())
        }
        tree::TreeError::Corrupt(_) => refuse(
            "tree",
            "corrupt-object",
            Some(commit.clone()),
            e.to_string(),
        ),
        _ => refuse("tree", "unsafe-tree", Some(commit.clone()), e.to_string()),
    })?;
    // Render like the consumer, then check what it will apply.
    let (rendered, checked, mut sops) = render_and_check(src, &entries, verdict)?;
    // Images.
    let (images, pins) = if src.check_images {
        verify_images(
            &src.policy,
            &checked.images,
            cache_key.map(|key| VerdictCache {
                dir: files.image_cache.clone(),
                key,
            }),
            verdict,
        )?
    } else {
        (Vec::new(), HashMap::new())
    };
    let sops_files = sops.used.len();
    // Publish.
    let when = now_unix();
    let mut artifact = None;
    if let Some(a) = &src.artifact {
        let published: Vec<Entry> = if src.artifact_rendered {
            output::files(&rendered, &checked, &pins, &mut sops, false)
                .map_err(|r| refuse("publish", r.code, Some(r.subject), r.message))?
        } else {
            entries.clone()
        };
        let targz = Verified::new(
            &commit,
            tree::targz(&published)
                .map_err(|e| error("publish", "publish-failed", e.to_string()))?,
        );
        let (digest, _) = write_artifact(&files.artifacts, &src.name, &targz)
            .map_err(|e| error("publish", "publish-failed", e.to_string()))?;
        let hex = digest.trim_start_matches("sha256:");
        let url = format!("{}/artifacts/{}/{hex}.tar.gz", a.base_url, src.name);
        let revision = format!("{resolved_ref}@sha1:{commit}");
        let doc = flux_status(&url, &digest, &revision, targz.content().len() as u64);
        if let Some(f) = &a.status_file {
            let bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
            crate::atomic::write(f, &bytes, crate::atomic::Mode::Public)
                .map_err(|e| error("publish", "publish-failed", e.to_string()))?;
        }
        // Before the publication is recorded: a failed patch is retried at the next sync,
        // and Flux keeps the previous artifact meanwhile.
        if let Some(target) = &a.external_artifact {
            crate::gate::kube::patch_status(target, &doc)
                .map_err(|e| error("publish", "status-update-failed", e))?;
        }
        artifact = Some(ArtifactInfo {
            url,
            digest,
            revision,
            size: targz.content().len() as u64,
            last_update_time: format_unix(when),
        });
    }
    let p = Published {
        commit: commit.clone(),
        published_at: format_unix(when),
        published_unix: when,
        signer: head.and_then(|v| v.signer.clone()),
        fingerprint: head.and_then(|v| v.fingerprint.clone()),
        commits_checked: commit_verdicts.len(),
        sops_files,
        images,
        artifact,
        render: Some(rendered.summary()),
    };
    verdict["result"] = "verified".into();
    verdict["published"] = serde_json::to_value(&p).unwrap_or_default();
    if let Some(v) = &src.volume {
        let published: Vec<Entry> = if src.volume_rendered {
            output::files(&rendered, &checked, &pins, &mut sops, v.decrypt_secrets)
                .map_err(|r| refuse("publish", r.code, Some(r.subject), r.message))?
        } else if v.decrypt_secrets {
            // Every SOPS file of the tree, as before renders existed: a reader of the volume
            // may use files no manifest names.
            let mut plain = BTreeMap::new();
            for path in sops.sops_paths() {
                let bytes = sops
                    .decrypted_file(&path)
                    .map_err(|r| refuse("secrets", r.code, Some(r.subject), r.message))?;
                plain.insert(path, bytes);
            }
            entries
                .iter()
                .map(|e| match plain.get(&e.path) {
                    Some(bytes) => Entry {
                        path: e.path.clone(),
                        mode: tree::MODE_PRIVATE,
                        data: bytes.to_vec(),
                    },
                    None => e.clone(),
                })
                .collect()
        } else {
            entries.clone()
        };
        let vol = Volume {
            root: v.root.clone(),
            link: v.link.clone(),
            keep_versions: v.keep_versions,
            grace: v.grace,
        };
        let verdict_bytes = serde_json::to_vec_pretty(verdict).unwrap_or_default();
        let mut revision = Verified::new(&commit, published);
        let result = vol.publish(&revision, &verdict_bytes);
        for e in &mut revision.content {
            zeroize::Zeroize::zeroize(&mut e.data);
        }
        result.map_err(|e| error("publish", "publish-failed", e.to_string()))?;
        let _ = vol.gc();
    }
    let record = serde_json::to_vec_pretty(&p).unwrap_or_default();
    crate::atomic::write(&files.published, &record, crate::atomic::Mode::Public)
        .map_err(|e| error("publish", "publish-failed", e.to_string()))?;
    Ok(Some(p))
}

/// Renders the verified tree as the source's consumer will, runs the shared checks on the
/// render (sources, pod specs, substitutions, Secrets), and records them in the verdict.
fn render_and_check<'a>(
    src: &SourceConfig,
    entries: &'a [Entry],
    verdict: &mut serde_json::Value,
) -> Result<(Rendered, Checked, SopsFiles<'a>), Stop> {
    check_render(
        &Render {
            renderer: &src.renderer,
            policy: &src.policy,
            age_key_file: src.age_key_file.as_deref(),
            aws_kms: src.aws_kms,
            vault_transit: src.vault_transit,
            substitute: src.substitute.as_deref(),
            check_secrets: src.check_secrets,
        },
        entries,
        verdict,
    )
}

/// What a render and its checks need.
pub(crate) struct Render<'r> {
    /// The renderer (mode, kustomize, cache).
    pub renderer: &'r crate::manifest::render::Renderer,
    /// The policy (pod spec paths, allowed sources, kinds that must be encrypted).
    pub policy: &'r crate::policy::Policy,
    /// age identities verifying (and decrypting) SOPS files.
    pub age_key_file: Option<&'r Path>,
    /// AWS KMS keys may be unwrapped too.
    pub aws_kms: bool,
    /// Vault transit keys may be unwrapped too.
    pub vault_transit: bool,
    /// Flux postBuild variables.
    pub substitute: Option<&'r BTreeMap<String, String>>,
    /// Refuse unencrypted or unverified Secrets.
    pub check_secrets: bool,
}

/// Renders `entries` and runs the shared checks, recording both in `verdict`.
pub(crate) fn check_render<'a>(
    src: &Render<'_>,
    entries: &'a [Entry],
    verdict: &mut serde_json::Value,
) -> Result<(Rendered, Checked, SopsFiles<'a>), Stop> {
    let mut rendered = src.renderer.render(entries).map_err(|e| {
        if e.operational {
            error(
                "render",
                "render-error",
                format!("{}: {}", e.subject, e.message),
            )
        } else {
            refuse(
                "render",
                "render-failed",
                Some(e.subject.clone()),
                format!("{}: {}", e.subject, e.message),
            )
        }
    })?;
    let unlocker = if src.age_key_file.is_some() || src.aws_kms || src.vault_transit {
        Some(
            crate::sops::keys::Unlocker::for_gate(src.age_key_file, src.aws_kms, src.vault_transit)
                .map_err(|e| error("secrets", "key-error", e))?,
        )
    } else {
        None
    };
    let mut sops = SopsFiles::new(entries, unlocker);
    let others: Vec<String> = src
        .policy
        .require_sops
        .iter()
        .filter(|k| *k != "Secret")
        .cloned()
        .collect();
    let opts = Options {
        image_fields: &src.policy.images.fields,
        allowed_sources: &src.policy.allowed_sources,
        require_sops: &others,
        substitute: src.substitute,
    };
    let checked = check(&mut rendered, &mut sops, &opts);
    verdict["render"] = rendered.summary();
    verdict["sources"] = serde_json::to_value(&checked.sources).unwrap_or_default();
    verdict["files"] = sops
        .used
        .iter()
        .map(|(f, mac)| json!({"id": f, "result": "verified", "macVerified": mac}))
        .collect();
    let relevant = |r: &&Refusal| src.check_secrets || r.check() != "secrets";
    let refusals: Vec<&Refusal> = checked.refusals.iter().filter(relevant).collect();
    verdict["refusals"] = refusals
        .iter()
        .take(50)
        .map(|r| json!({"reason": r.code, "subject": r.subject, "detail": r.message}))
        .collect();
    if let Some(r) = refusals.first() {
        return Err(refuse(
            r.check(),
            r.code,
            Some(r.subject.clone()),
            format!("{}: {}", r.subject, r.message),
        ));
    }
    Ok((rendered, checked, sops))
}

/// Why `sigil render` printed nothing: a stopped check, or a Secret the output cannot carry.
pub(crate) enum RenderFailure {
    Stop(Stop),
    Output(Refusal),
}

/// The tree of `commit`, read from the git objects after its signature verified for the
/// policy in `ctx` (`sigil render`). Errors: (exit code, message).
pub(crate) fn verified_tree(
    repo: &mut Repo,
    top: &Path,
    commit: &str,
    ctx: &Context<'_>,
) -> Result<Verified<Vec<Entry>>, (i32, String)> {
    let verdicts = verify_commit(repo, commit, ctx).map_err(|e| (3, e.to_string()))?;
    if let Some(bad) = verdicts.iter().find(|v| !v.verified()) {
        return Err((
            1,
            format!(
                "refused: commit {} on {}: {}: {}",
                &commit[..commit.len().min(12)],
                ctx.refname,
                bad.reason.unwrap_or("refused"),
                bad.detail.as_deref().unwrap_or("")
            ),
        ));
    }
    let entries = tree::read_tree(top, commit).map_err(|e| (1, format!("refused: {e}")))?;
    Ok(Verified::new(commit, entries))
}

/// What `sigil render` prints for a verified tree: the render checked (sources, pod specs,
/// substitutions, Secrets), its images verified unless `images` is false, the objects pinned
/// (and decrypted with `decrypt`). The only way to obtain those bytes.
pub(crate) fn render_output(
    request: &Render<'_>,
    tree: &Verified<Vec<Entry>>,
    images: bool,
    decrypt: bool,
    verdict: &mut serde_json::Value,
) -> Result<Verified<zeroize::Zeroizing<Vec<u8>>>, RenderFailure> {
    let (rendered, checked, mut sops) =
        check_render(request, tree.content(), verdict).map_err(RenderFailure::Stop)?;
    let pins = if images {
        verify_images(request.policy, &checked.images, None, verdict)
            .map_err(RenderFailure::Stop)?
            .1
    } else {
        HashMap::new()
    };
    let out = output::stream(&rendered, &checked, &pins, &mut sops, decrypt)
        .map_err(RenderFailure::Output)?;
    Ok(Verified::new(tree.commit(), out))
}

/// Every image of the render, against the policy's image rules. Returns the summaries and,
/// per reference as written, the digest that was verified.
pub(crate) fn verify_images(
    policy: &crate::policy::Policy,
    uses: &[ImageUse],
    cache: Option<VerdictCache<'_>>,
    verdict: &mut serde_json::Value,
) -> Result<(Vec<ImageSummary>, HashMap<String, String>), Stop> {
    let mut targets = Targets::default();
    let mut keys: Vec<(String, String)> = Vec::new();
    for u in uses {
        let reference = Reference::parse(&u.raw).map_err(|err| {
            refuse(
                "images",
                "invalid-reference",
                Some(u.location.clone()),
                format!("{}: '{}': {err}", u.location, u.raw),
            )
        })?;
        keys.push((u.raw.clone(), reference.to_string()));
        targets.add(&u.raw, reference, u.location.clone());
    }
    let targets = targets.into_vec();
    if targets.is_empty() {
        verdict["images"] = json!([]);
        return Ok((Vec::new(), HashMap::new()));
    }
    let client = Client::new(ClientOptions {
        insecure: policy.images.insecure_registries.clone(),
        ..ClientOptions::default()
    })
    .map_err(|e| error("images", "config-error", e))?;
    let checker = Checker {
        client: &client,
        policy: &policy.images,
        policy_digest: &policy.digest,
        cache,
        jobs: 4,
    };
    let verdicts: Vec<ImageVerdict> = checker.check_all(&targets);
    verdict["images"] = serde_json::to_value(&verdicts).unwrap_or_default();
    if let Some(bad) = verdicts.iter().find(|v| v.result == Outcome::Refused) {
        return Err(refuse(
            "images",
            bad.reason.unwrap_or("refused"),
            Some(bad.image.clone()),
            format!("{}: {}", bad.image, bad.detail.clone().unwrap_or_default()),
        ));
    }
    if let Some(bad) = verdicts.iter().find(|v| v.result == Outcome::Error) {
        return Err(error(
            "images",
            bad.reason.unwrap_or("unreachable"),
            format!("{}: {}", bad.image, bad.detail.clone().unwrap_or_default()),
        ));
    }
    let by_image: HashMap<String, String> = targets
        .iter()
        .zip(&verdicts)
        .filter_map(|(t, v)| v.digest.clone().map(|d| (t.reference.to_string(), d)))
        .collect();
    let pins = keys
        .into_iter()
        .filter_map(|(raw, key)| by_image.get(&key).map(|d| (raw, d.clone())))
        .collect();
    let summaries = verdicts
        .iter()
        .map(|v| ImageSummary {
            image: v.image.clone(),
            digest: v.digest.clone(),
            signer: v
                .signatures
                .iter()
                .find(|s| s.result == Decision::Verified)
                .and_then(|s| s.identity.clone()),
        })
        .collect();
    Ok((summaries, pins))
}
