//! Notifications on state changes of a source: `published`, `refused`, `recovered` (a publish
//! after refusals or errors) and `error`. Repeats are not re-sent (a refusal of the commit
//! already notified as refused, the same error reason again), and each (target, source) pair
//! sends at most one message per `min_interval` and event kind (published, refused, recovered, error); extra messages are dropped and counted.
//!
//! Messages go out on a background thread, so [`Notifier::notify`] never blocks the sync loop.
//! Results are counted in `sigil_notifications_total{type,result}` (`sent`, `failed`,
//! `dropped`). Target URLs (Slack webhook URLs carry a secret in their path) and secrets never
//! appear in logs: failures name the target type and host only.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::state::AttemptResult;
use super::state::{Attempt, Shared};
use crate::git::short_id;

/// Where notifications go.
pub enum Target {
    /// A Slack incoming webhook: `{"text": "..."}`.
    Slack {
        /// The webhook URL (secret: never logged).
        url: String,
    },
    /// A generic JSON webhook, signed with `X-Signature: sha256=<hex>` when a secret is set.
    Webhook {
        /// Where to POST.
        url: String,
        /// HMAC-SHA256 key.
        secret: Option<Zeroizing<Vec<u8>>>,
    },
}

impl Target {
    fn kind(&self) -> &'static str {
        match self {
            Target::Slack { .. } => "slack",
            Target::Webhook { .. } => "webhook",
        }
    }

    fn url(&self) -> &str {
        match self {
            Target::Slack { url } | Target::Webhook { url, .. } => url,
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} target at {}",
            self.kind(),
            crate::redact::origin(self.url())
        )
    }
}

/// What was last notified for a source (the dedup state).
#[derive(Clone, PartialEq)]
enum Last {
    Nothing,
    Published,
    Refused(String),
    Error(String),
}

/// One message to send.
struct Job {
    target: usize,
    body: Vec<u8>,
}

struct Inner {
    last: HashMap<String, Last>,
    sent_at: HashMap<(usize, String, &'static str), Instant>,
}

/// Sends notifications about state changes; cheap to call from the sync loop.
pub struct Notifier {
    kinds: Vec<&'static str>,
    targets: Arc<Vec<Target>>,
    min_interval: Duration,
    shared: Shared,
    inner: Mutex<Inner>,
    tx: Mutex<Sender<Job>>,
}

impl Notifier {
    /// A notifier for these targets; starts one background sender thread.
    pub fn new(targets: Vec<Target>, min_interval: Duration, shared: Shared) -> Notifier {
        let kinds = targets.iter().map(Target::kind).collect();
        let targets = Arc::new(targets);
        let (tx, rx) = channel();
        let worker_targets = Arc::clone(&targets);
        let worker_shared = Shared::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("sigil-notify".to_string())
            .spawn(move || sender_loop(rx, &worker_targets, &worker_shared));
        if let Err(e) = spawned {
            log_warn(&format!("cannot start the notification thread: {e}"));
        }
        Notifier {
            kinds,
            targets,
            min_interval,
            shared,
            inner: Mutex::new(Inner {
                last: HashMap::new(),
                sent_at: HashMap::new(),
            }),
            tx: Mutex::new(tx),
        }
    }

    /// Notifies about `attempt` on `source` if it changes what was last notified. Returns at
    /// once; must not be called while holding the [`Shared`] lock (it counts drops in it).
    pub fn notify(&self, source: &str, attempt: &Attempt) {
        if self.targets.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let last = inner.last.get(source).cloned().unwrap_or(Last::Nothing);
        let (event, now) = match attempt.result {
            AttemptResult::Published => {
                let event = match last {
                    Last::Refused(_) | Last::Error(_) => "recovered",
                    _ => "published",
                };
                (event, Last::Published)
            }
            AttemptResult::Refused => {
                let key = attempt
                    .commit
                    .clone()
                    .or_else(|| attempt.reason.clone())
                    .unwrap_or_default();
                if last == Last::Refused(key.clone()) {
                    return;
                }
                ("refused", Last::Refused(key))
            }
            AttemptResult::Error => {
                let key = attempt.reason.clone().unwrap_or_default();
                if last == Last::Error(key.clone()) {
                    return;
                }
                ("error", Last::Error(key))
            }
            _ => return,
        };
        inner.last.insert(source.to_string(), now);
        let at = Instant::now();
        for (i, kind) in self.kinds.iter().enumerate() {
            // Per event kind: a refusal right after a publication is never swallowed; the
            // limit only tames flapping.
            let key = (i, source.to_string(), event);
            let limited = inner
                .sent_at
                .get(&key)
                .is_some_and(|t| at.duration_since(*t) < self.min_interval);
            if limited {
                self.count(kind, "dropped");
                continue;
            }
            inner.sent_at.insert(key, at);
            let body = match self.targets.get(i) {
                Some(Target::Slack { .. }) => slack_body(source, event, attempt),
                Some(Target::Webhook { .. }) => webhook_body(source, event, attempt),
                None => continue,
            };
            let sent = self
                .tx
                .lock()
                .map(|tx| tx.send(Job { target: i, body }).is_ok())
                .unwrap_or(false);
            if !sent {
                self.count(kind, "failed");
            }
        }
    }

    fn count(&self, kind: &str, result: &str) {
        count(&self.shared, kind, result);
    }
}

fn count(shared: &Shared, kind: &str, result: &str) {
    let mut st = shared.lock().unwrap_or_else(|p| p.into_inner());
    *st.metrics
        .notifications
        .entry((kind.to_string(), result.to_string()))
        .or_default() += 1;
}

fn log_warn(msg: &str) {
    let ts = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let line = serde_json::json!({"ts": ts, "level": "warn", "msg": msg});
    eprintln!("{line}");
}

/// Escapes the three characters Slack's mrkdwn treats as control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters of `s`.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn slack_body(source: &str, event: &str, a: &Attempt) -> Vec<u8> {
    let mut text = format!("sigil gate: source {} {event}", slack_escape(source));
    if let Some(c) = &a.commit {
        text.push_str(&format!(" {}", slack_escape(short_id(c))));
    }
    if let Some(r) = &a.reason {
        text.push_str(&format!(" ({}", slack_escape(r)));
        if let Some(c) = &a.check {
            text.push_str(&format!(", {}", slack_escape(c)));
        }
        text.push(')');
    }
    if let Some(s) = &a.subject {
        text.push_str(&format!(": {}", slack_escape(&clip(s, 200))));
    }
    if !a.message.is_empty() {
        text.push_str(&format!(" — {}", slack_escape(&clip(&a.message, 500))));
    }
    serde_json::to_vec(&serde_json::json!({ "text": text })).unwrap_or_default()
}

fn webhook_body(source: &str, event: &str, a: &Attempt) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "source": source,
        "result": event,
        "reason": a.reason,
        "check": a.check,
        "commit": a.commit,
        "subject": a.subject,
        "message": a.message,
        "at": a.at,
    }))
    .unwrap_or_default()
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
fn signature(secret: &[u8], body: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(body);
    Some(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

fn agent() -> ureq::Agent {
    crate::http::agent(
        ureq::tls::RootCerts::PlatformVerifier,
        Duration::from_secs(10),
        0,
    )
}

/// A description of a send error that cannot contain the URL.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timeout".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::Io(io) => format!("i/o error ({})", io.kind()),
        ureq::Error::BadUri(_) => "invalid URL".to_string(),
        _ => "request failed".to_string(),
    }
}

fn sender_loop(rx: Receiver<Job>, targets: &[Target], shared: &Shared) {
    let agent = agent();
    for job in rx {
        let Some(target) = targets.get(job.target) else {
            continue;
        };
        let mut req = agent
            .post(target.url())
            .header("Content-Type", "application/json");
        if let Target::Webhook {
            secret: Some(secret),
            ..
        } = target
            && let Some(sig) = signature(secret, &job.body)
        {
            req = req.header("X-Signature", sig);
        }
        let outcome = match req.send(&job.body[..]) {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(format!("HTTP status {}", resp.status().as_u16())),
            Err(e) => Err(describe(&e)),
        };
        match outcome {
            Ok(()) => count(shared, target.kind(), "sent"),
            Err(why) => {
                count(shared, target.kind(), "failed");
                log_warn(&format!(
                    "{} notification to {} failed: {why}",
                    target.kind(),
                    crate::redact::origin(target.url())
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::state::GateState;
    use std::sync::mpsc::RecvTimeoutError;

    struct Captured {
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Captured {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap()
        }
    }

    /// A local HTTP receiver answering `status` to everything; captured requests arrive on rx.
    fn receiver(status: u16) -> (String, Receiver<Captured>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for mut req in server.incoming_requests() {
                let mut body = Vec::new();
                std::io::Read::read_to_end(req.as_reader(), &mut body).unwrap();
                let c = Captured {
                    path: req.url().to_string(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                };
                let _ = req.respond(tiny_http::Response::empty(status));
                if tx.send(c).is_err() {
                    break;
                }
            }
        });
        (format!("http://127.0.0.1:{port}"), rx)
    }

    fn shared() -> Shared {
        Arc::new(Mutex::new(GateState::default()))
    }

    fn attempt(result: AttemptResult, commit: &str) -> Attempt {
        let refused = result == AttemptResult::Refused;
        Attempt {
            commit: Some(commit.to_string()),
            at: "2026-01-01T00:00:00Z".to_string(),
            result,
            reason: refused.then(|| "untrusted-key".to_string()),
            check: refused.then(|| "commits".to_string()),
            subject: refused.then(|| "apps/prod/deploy.yaml".to_string()),
            message: if refused {
                "signed by <mallory> & friends".to_string()
            } else {
                String::new()
            },
            duration_seconds: 0.1,
        }
    }

    fn recv(rx: &Receiver<Captured>) -> Captured {
        rx.recv_timeout(Duration::from_secs(10)).expect("a message")
    }

    fn nothing(rx: &Receiver<Captured>) {
        assert!(matches!(
            rx.recv_timeout(Duration::from_millis(300)),
            Err(RecvTimeoutError::Timeout)
        ));
    }

    /// The counter once it reaches `want` (sends finish on the background thread), or its
    /// value after 5 s.
    fn metric(shared: &Shared, kind: &str, result: &str, want: u64) -> u64 {
        let key = (kind.to_string(), result.to_string());
        let read = || {
            let st = shared.lock().unwrap();
            st.metrics.notifications.get(&key).copied().unwrap_or(0)
        };
        for _ in 0..500 {
            if read() == want {
                return want;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        read()
    }

    const C1: &str = "1111111111111111111111111111111111111111";
    const C2: &str = "2222222222222222222222222222222222222222";
    const C3: &str = "3333333333333333333333333333333333333333";

    #[test]
    fn slack_message_is_short_and_escaped() {
        let (url, rx) = receiver(200);
        let st = shared();
        let n = Notifier::new(
            vec![Target::Slack {
                url: format!("{url}/services/T0/B0/XYZ"),
            }],
            Duration::ZERO,
            Arc::clone(&st),
        );
        n.notify("prod", &attempt(AttemptResult::Refused, C1));
        let c = recv(&rx);
        assert_eq!(c.path, "/services/T0/B0/XYZ");
        assert_eq!(c.header("content-type"), Some("application/json"));
        let v = c.json();
        let text = v["text"].as_str().unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1);
        for want in [
            "prod",
            "refused",
            "111111111111",
            "untrusted-key",
            "commits",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        assert!(!text.contains(C1), "short commit id only: {text}");
        assert!(text.contains("&lt;mallory&gt; &amp; friends"), "{text}");
        assert_eq!(metric(&st, "slack", "sent", 1), 1);
    }

    #[test]
    fn webhook_body_is_signed() {
        let (url, rx) = receiver(200);
        let st = shared();
        let secret = b"notify-secret".to_vec();
        let n = Notifier::new(
            vec![
                Target::Webhook {
                    url: format!("{url}/signed"),
                    secret: Some(Zeroizing::new(secret.clone())),
                },
                Target::Webhook {
                    url: format!("{url}/plain"),
                    secret: None,
                },
            ],
            Duration::ZERO,
            Arc::clone(&st),
        );
        n.notify("prod", &attempt(AttemptResult::Refused, C1));
        let mut got = [recv(&rx), recv(&rx)];
        got.sort_by(|a, b| a.path.cmp(&b.path));
        let [plain, signed] = got;
        assert_eq!(plain.path, "/plain");
        assert!(plain.header("x-signature").is_none());
        let sig = signed.header("x-signature").unwrap();
        let hexsig = sig.strip_prefix("sha256=").unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
        mac.update(&signed.body);
        mac.verify_slice(&::hex::decode(hexsig).unwrap()).unwrap();
        let v = signed.json();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "source", "result", "reason", "check", "commit", "subject", "message", "at"
            ]
        );
        assert_eq!(v["source"], "prod");
        assert_eq!(v["result"], "refused");
        assert_eq!(v["reason"], "untrusted-key");
        assert_eq!(v["check"], "commits");
        assert_eq!(v["commit"], C1);
        assert_eq!(v["at"], "2026-01-01T00:00:00Z");
        assert_eq!(plain.body, signed.body);
        assert_eq!(metric(&st, "webhook", "sent", 2), 2);
    }

    #[test]
    fn only_changes_are_sent_and_recovery_is_announced() {
        let (url, rx) = receiver(200);
        let st = shared();
        let n = Notifier::new(
            vec![Target::Webhook { url, secret: None }],
            Duration::ZERO,
            Arc::clone(&st),
        );
        let result = |rx: &Receiver<Captured>| recv(rx).json()["result"].clone();

        n.notify("prod", &attempt(AttemptResult::Published, C1));
        assert_eq!(result(&rx), "published");
        n.notify("prod", &attempt(AttemptResult::Unchanged, C1));
        nothing(&rx);

        n.notify("prod", &attempt(AttemptResult::Refused, C2));
        assert_eq!(result(&rx), "refused");
        n.notify("prod", &attempt(AttemptResult::Refused, C2));
        n.notify("prod", &attempt(AttemptResult::Refused, C2));
        nothing(&rx);
        // Another source has its own state.
        n.notify("stage", &attempt(AttemptResult::Refused, C2));
        assert_eq!(result(&rx), "refused");

        // A newer commit refused is news.
        n.notify("prod", &attempt(AttemptResult::Refused, C3));
        let v = recv(&rx).json();
        assert_eq!(
            (v["result"].as_str(), v["commit"].as_str()),
            (Some("refused"), Some(C3))
        );

        n.notify("prod", &attempt(AttemptResult::Published, C3));
        assert_eq!(result(&rx), "recovered");
        n.notify("prod", &attempt(AttemptResult::Published, C1));
        assert_eq!(result(&rx), "published");

        // Errors: once per reason, and a publish after errors is a recovery.
        let mut e = attempt(AttemptResult::Error, C1);
        e.reason = Some("unreachable".to_string());
        n.notify("prod", &e);
        assert_eq!(result(&rx), "error");
        n.notify("prod", &e);
        nothing(&rx);
        n.notify("prod", &attempt(AttemptResult::Published, C2));
        assert_eq!(result(&rx), "recovered");
    }

    #[test]
    fn rate_limit_drops_extra_messages() {
        let (url, rx) = receiver(200);
        let st = shared();
        let n = Notifier::new(
            vec![
                Target::Slack {
                    url: format!("{url}/slack"),
                },
                Target::Webhook {
                    url: format!("{url}/hook"),
                    secret: None,
                },
            ],
            Duration::from_secs(3600),
            Arc::clone(&st),
        );
        n.notify("prod", &attempt(AttemptResult::Refused, C1));
        recv(&rx);
        recv(&rx);
        // Another refusal within the interval is dropped (per event kind)...
        n.notify("prod", &attempt(AttemptResult::Refused, C2));
        nothing(&rx);
        assert_eq!(metric(&st, "slack", "dropped", 2), 1);
        assert_eq!(metric(&st, "webhook", "dropped", 2), 1);
        // ...but the recovery that follows is a different event and goes out.
        n.notify("prod", &attempt(AttemptResult::Published, C2));
        recv(&rx);
        recv(&rx);
        // Flapping back to refused within the interval: dropped again.
        n.notify("prod", &attempt(AttemptResult::Refused, C1));
        nothing(&rx);
        assert_eq!(metric(&st, "slack", "dropped", 2), 2);
        // The limit is per source.
        n.notify("stage", &attempt(AttemptResult::Refused, C1));
        recv(&rx);
        recv(&rx);
        assert_eq!(metric(&st, "slack", "sent", 2), 3);
    }

    #[test]
    fn failures_are_counted() {
        let (url, rx) = receiver(500);
        let st = shared();
        let n = Notifier::new(
            vec![
                Target::Webhook {
                    url: format!("{url}/x?token=SECRET"),
                    secret: None,
                },
                // Nothing listens on port 9 of 127.0.0.1 (discard): connection refused.
                Target::Slack {
                    url: "http://127.0.0.1:9/services/SECRET".to_string(),
                },
            ],
            Duration::ZERO,
            Arc::clone(&st),
        );
        n.notify("prod", &attempt(AttemptResult::Refused, C1));
        assert_eq!(recv(&rx).path, "/x?token=SECRET");
        assert_eq!(metric(&st, "webhook", "failed", 1), 1);
        assert_eq!(metric(&st, "slack", "failed", 1), 1);
        assert_eq!(metric(&st, "webhook", "sent", 0), 0);
    }

    #[test]
    fn urls_are_redacted() {
        let t = Target::Webhook {
            url: "https://h.example/p?token=SECRET".to_string(),
            secret: Some(Zeroizing::new(b"SECRET".to_vec())),
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    #[test]
    fn helpers() {
        assert_eq!(hex::encode([0, 15, 16, 255]), "000f10ff");
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("hé", 2), "hé");
        assert_eq!(short_id("abc"), "abc");
    }
}
