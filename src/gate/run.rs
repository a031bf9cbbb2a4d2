//! `sigil gate`: one loop per source (poll interval and webhook triggers, coalesced), the HTTP
//! server, notifications, structured logs, and a clean SIGTERM. `--once` runs every source
//! once and exits 0 published/unchanged, 1 refused, 3 operational error (2: configuration).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::{GateConfig, NotifyConfig, SourceConfig};
use super::http::{ServerConfig, start};
use super::notify::{Notifier, Target};
use super::reload::PolicyWatch;
use super::state::AttemptResult;
use super::state::{Attempt, GateState, Published, Shared, SourceState, Triggers};
use super::sync::{CACHE_KEY_FILE, SourceFiles, sync};
use crate::cache_key::CacheKey;

static STOP: AtomicBool = AtomicBool::new(false);
static HUP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_hup(_: libc::c_int) {
    HUP.store(true, Ordering::SeqCst);
}

fn install_signals() {
    // SAFETY: the handlers only store to atomics, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_hup as *const () as libc::sighandler_t);
    }
}

/// One structured log line on stderr: JSON, or `key=value` text on a terminal.
pub fn log(level: &str, msg: &str, fields: &[(&str, &str)]) {
    let ts = crate::sops::time::format_unix(crate::sops::time::now_unix());
    if std::io::stderr().is_terminal() {
        let mut line = format!("{ts} {level:5} {msg}");
        for (k, v) in fields.iter().filter(|(_, v)| !v.is_empty()) {
            line.push_str(&format!(" {k}={v}"));
        }
        eprintln!("{line}");
    } else {
        let mut m = serde_json::Map::new();
        m.insert("ts".into(), ts.into());
        m.insert("level".into(), level.into());
        m.insert("msg".into(), msg.into());
        for (k, v) in fields.iter().filter(|(_, v)| !v.is_empty()) {
            m.insert((*k).into(), (*v).into());
        }
        eprintln!("{}", serde_json::Value::Object(m));
    }
}

fn log_attempt(source: &str, a: &Attempt) {
    let level = match a.result {
        AttemptResult::Refused => "warn",
        AttemptResult::Error => "error",
        AttemptResult::Published | AttemptResult::Unchanged => "info",
    };
    let duration = format!("{:.3}", a.duration_seconds);
    log(
        level,
        &a.message,
        &[
            ("source", source),
            ("result", a.result.as_str()),
            ("commit", a.commit.as_deref().unwrap_or("")),
            ("check", a.check.as_deref().unwrap_or("")),
            ("reason", a.reason.as_deref().unwrap_or("")),
            ("subject", a.subject.as_deref().unwrap_or("")),
            ("duration_s", &duration),
        ],
    );
}

/// Runs the gate; returns the exit code.
pub fn run(config_path: &Path, once: bool) -> i32 {
    let config = match GateConfig::load(config_path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!(
                "sigil gate: invalid configuration {}:",
                config_path.display()
            );
            for e in errors {
                eprintln!("  {e}");
            }
            return 2;
        }
    };
    let shared: Shared = Arc::new(Mutex::new(GateState {
        sources: config
            .sources
            .iter()
            .map(|s| SourceState {
                name: s.name.clone(),
                url: crate::redact::url(&s.url),
                refname: s.refname.clone(),
                published: SourceFiles::new(&config.state_dir, &s.name).intact_publication(s),
                last_attempt: None,
                recent_refusals: Default::default(),
                consecutive_failures: 0,
            })
            .collect(),
        liveness_seconds: config
            .sources
            .iter()
            .map(|s| s.interval.as_secs() as i64)
            .max()
            .unwrap_or(60)
            * 2
            + super::sync::GIT_TIMEOUT.as_secs() as i64 * 2,
        heartbeat: crate::sops::time::now_unix(),
        ..GateState::default()
    }));
    // Opened once: a key that cannot be used turns the verdict caches off, with one warning.
    let cache_key = match CacheKey::open(&config.state_dir.join(CACHE_KEY_FILE)) {
        Ok(k) => Some(k),
        Err(e) => {
            log(
                "warn",
                "the verdict caches are off: their key cannot be used",
                &[("error", &e)],
            );
            None
        }
    };
    let cache_key = cache_key.as_ref();
    if once {
        return run_once(&config, &shared, cache_key);
    }
    install_signals();
    let triggers = Arc::new(Triggers::default());
    for s in &config.sources {
        triggers.add(&s.name);
    }
    let server = match &config.bind {
        Some(bind) => match start(
            ServerConfig {
                bind: bind.clone(),
                probe_bind: config.probe_bind.clone(),
                webhook_secret: config.webhook_secret.clone(),
                artifacts_dir: config.state_dir.join("artifacts"),
            },
            shared.clone(),
            triggers.clone(),
        ) {
            Ok(h) => {
                let probes = h.probe_addr().map(|a| a.to_string()).unwrap_or_default();
                log(
                    "info",
                    "serving",
                    &[
                        ("bind", &h.local_addr().to_string()),
                        ("probe_bind", &probes),
                    ],
                );
                Some(h)
            }
            Err(e) => {
                eprintln!("sigil gate: {e}");
                return 2;
            }
        },
        None => None,
    };
    let notifier = Arc::new(Notifier::new(
        config
            .notify
            .iter()
            .map(|n| match n {
                NotifyConfig::Slack { url } => Target::Slack { url: url.clone() },
                NotifyConfig::Webhook { url, secret } => Target::Webhook {
                    url: url.clone(),
                    secret: secret.clone(),
                },
            })
            .collect(),
        Duration::from_secs(60),
        shared.clone(),
    ));
    log(
        "info",
        "gate started",
        &[("sources", &config.sources.len().to_string())],
    );
    std::thread::scope(|scope| {
        for src in &config.sources {
            let shared = shared.clone();
            let triggers = triggers.clone();
            let notifier = notifier.clone();
            let state_dir = config.state_dir.clone();
            scope.spawn(move || {
                // This thread's own copy: the policy may be reloaded.
                let mut src = src.clone();
                let mut watch = PolicyWatch::new(&src.policy);
                while !STOP.load(Ordering::SeqCst) {
                    let _ = triggers.wait(&src.name, src.interval);
                    if STOP.load(Ordering::SeqCst) {
                        break;
                    }
                    match watch.refresh(&src.policy_path, &src.policy) {
                        Ok(None) => {}
                        Ok(Some(policy)) => {
                            log(
                                "info",
                                "policy reloaded",
                                &[
                                    ("source", &src.name),
                                    ("from", &src.policy.digest),
                                    ("to", &policy.digest),
                                ],
                            );
                            src.policy = Arc::new(policy);
                        }
                        Err(e) => {
                            record_policy_error(&src, &e, &shared, &notifier);
                            continue;
                        }
                    }
                    sync_and_record(&src, &state_dir, &shared, Some(&notifier), cache_key);
                }
            });
        }
        // Signal watcher: SIGTERM stops scheduling (in-flight syncs finish), SIGHUP syncs now.
        while !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            if let Ok(mut s) = shared.lock() {
                s.heartbeat = crate::sops::time::now_unix();
            }
            if HUP.swap(false, Ordering::SeqCst) {
                for s in &config.sources {
                    triggers.request(&s.name);
                }
            }
        }
        if let Ok(mut s) = shared.lock() {
            s.shutting_down = true;
        }
        log("info", "stopping: finishing in-flight syncs", &[]);
        triggers.wake_all();
    });
    if let Some(h) = server {
        h.stop();
    }
    log("info", "gate stopped", &[]);
    0
}

/// A changed policy that no longer loads: an error attempt (nothing is synced until it is
/// fixed; the published revision stays).
fn record_policy_error(src: &SourceConfig, why: &str, shared: &Shared, notifier: &Notifier) {
    let attempt = Attempt {
        commit: None,
        at: crate::sops::time::format_unix(crate::sops::time::now_unix()),
        result: AttemptResult::Error,
        reason: Some("policy-error".into()),
        check: Some("policy".into()),
        subject: Some(src.policy_path.display().to_string()),
        message: format!("the changed policy does not load, so nothing is synced: {why}"),
        duration_seconds: 0.0,
    };
    report(&src.name, attempt, None, shared, Some(notifier));
}

/// An attempt's outcome: logged, notified (unless unchanged), recorded in the shared state.
fn report(
    source: &str,
    mut attempt: Attempt,
    published: Option<Published>,
    shared: &Shared,
    notifier: Option<&Notifier>,
) -> AttemptResult {
    // Whatever a check put in its message, no URL leaves with credentials, query or fragment.
    attempt.message = crate::redact::text(&attempt.message);
    attempt.subject = attempt.subject.as_deref().map(crate::redact::text);
    log_attempt(source, &attempt);
    let result = attempt.result;
    if let Some(n) = notifier
        && result != AttemptResult::Unchanged
    {
        n.notify(source, &attempt);
    }
    if let Ok(mut s) = shared.lock() {
        s.record(source, attempt, published);
        s.heartbeat = crate::sops::time::now_unix();
    }
    result
}

fn sync_and_record(
    src: &SourceConfig,
    state_dir: &Path,
    shared: &Shared,
    notifier: Option<&Notifier>,
    cache_key: Option<&CacheKey>,
) -> AttemptResult {
    let (served, first_sync) = shared
        .lock()
        .ok()
        .and_then(|s| {
            s.sources
                .iter()
                .find(|x| x.name == src.name)
                .map(|x| (x.published.clone(), x.last_attempt.is_none()))
        })
        .unwrap_or((None, true));
    // After a restart the recorded publication anchors the ratchet, and the tip is verified
    // and published again (volumes and artifacts may have been lost with the pod). The
    // ExternalArtifact's status lives in the cluster, so its first sync always patches it.
    let patches_status = src
        .artifact
        .as_ref()
        .is_some_and(|a| a.external_artifact.is_some());
    let republish = served.is_none() || (first_sync && patches_status);
    let published = served.or_else(|| SourceFiles::new(state_dir, &src.name).load_published());
    let r = sync(src, state_dir, published.as_ref(), republish, cache_key);
    release_freed_memory();
    report(&src.name, r.attempt, r.published, shared, notifier)
}

/// Hands memory freed by a sync (a render's objects, tree contents) back to the system, so an
/// idle gate's RSS stays that of its state (glibc keeps freed heap otherwise).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn run_once(config: &GateConfig, shared: &Shared, cache_key: Option<&CacheKey>) -> i32 {
    let mut code = 0;
    for src in &config.sources {
        match sync_and_record(src, &config.state_dir, shared, None, cache_key) {
            AttemptResult::Refused => code = code.max(1),
            AttemptResult::Error => code = 3,
            AttemptResult::Published | AttemptResult::Unchanged => {}
        }
    }
    if let Ok(s) = shared.lock() {
        for src in &s.sources {
            let a = src.last_attempt.as_ref();
            println!(
                "{}: {} {}{}",
                src.name,
                a.map_or("?", |a| a.result.as_str()),
                a.and_then(|a| a.commit.as_deref())
                    .map(|c| &c[..c.len().min(12)])
                    .unwrap_or("-"),
                a.and_then(|a| a.reason.as_deref())
                    .map(|r| format!(" ({r}: {})", a.map_or("", |a| a.message.as_str())))
                    .unwrap_or_default()
            );
            if let Some(p) = &src.published {
                println!(
                    "  published {} signed by {}",
                    &p.commit[..p.commit.len().min(12)],
                    p.signer.as_deref().unwrap_or("?")
                );
            }
        }
    }
    code
}
