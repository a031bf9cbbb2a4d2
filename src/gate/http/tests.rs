//! The server end to end over TCP, and its pure parts.

use super::metrics::{label, num};
use super::page::esc;
use super::routes::{hex_decode, safe_name};
use super::transport::lock_conns;
use super::*;
use crate::gate::state::{
    Attempt, AttemptResult, DURATION_BUCKETS, GateState, ImageSummary, Published, SourceState,
};
use crate::sops::time::now_unix;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn source(name: &str) -> SourceState {
    SourceState {
        name: name.to_string(),
        url: format!("https://git.example.com/{name}.git"),
        refname: "refs/heads/main".to_string(),
        published: None,
        last_attempt: None,
        recent_refusals: Default::default(),
        consecutive_failures: 0,
    }
}

fn published(commit: &str) -> Published {
    Published {
        commit: commit.to_string(),
        published_at: "2026-01-01T00:00:00Z".to_string(),
        published_unix: 1_767_225_600,
        signer: Some("alice".to_string()),
        fingerprint: Some("SHA256:abc".to_string()),
        commits_checked: 1,
        sops_files: 0,
        images: vec![ImageSummary {
            image: "ghcr.io/org/app".to_string(),
            digest: Some(format!("sha256:{HEX}")),
            signer: Some("release-bot".to_string()),
        }],
        artifact: None,
        render: None,
    }
}

fn attempt(result: AttemptResult, commit: &str, message: &str) -> Attempt {
    Attempt {
        commit: Some(commit.to_string()),
        at: "2026-01-01T00:00:00Z".to_string(),
        result,
        reason: (result == AttemptResult::Refused).then(|| "untrusted-key".to_string()),
        check: (result == AttemptResult::Refused).then(|| "commits".to_string()),
        subject: (result == AttemptResult::Refused).then(|| commit.to_string()),
        message: message.to_string(),
        duration_seconds: 0.3,
    }
}

struct Fixture {
    shared: Shared,
    triggers: Arc<Triggers>,
    handle: Option<ServerHandle>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop();
        }
    }
}

fn fixture(secret: Option<&[u8]>) -> Fixture {
    fixture_with(secret, Limits::MAIN)
}

fn fixture_with(secret: Option<&[u8]>, limits: Limits) -> Fixture {
    fixture_at("127.0.0.1:0", None, secret, limits)
}

fn fixture_at(
    bind: &str,
    probe_bind: Option<&str>,
    secret: Option<&[u8]>,
    limits: Limits,
) -> Fixture {
    let mut st = GateState {
        sources: vec![source("prod"), source("stage"), source("..")],
        liveness_seconds: 60,
        ..Default::default()
    };
    st.sources[2].published = Some(published("c0ffee"));
    let shared: Shared = Arc::new(Mutex::new(st));
    let triggers = Arc::new(Triggers::default());
    for s in ["prod", "stage", ".."] {
        triggers.add(s);
        assert!(triggers.wait(s, Duration::ZERO));
    }
    let dir = tempfile::tempdir().unwrap();
    let handle = start_with(
        ServerConfig {
            bind: bind.to_string(),
            probe_bind: probe_bind.map(String::from),
            webhook_secret: secret.map(|s| Zeroizing::new(s.to_vec())),
            artifacts_dir: dir.path().join("artifacts"),
        },
        Arc::clone(&shared),
        Arc::clone(&triggers),
        limits,
    )
    .unwrap();
    let addr = handle.local_addr();
    Fixture {
        shared,
        triggers,
        handle: Some(handle),
        addr,
        dir,
    }
}

struct Resp {
    code: u16,
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends raw bytes (the request must say `Connection: close`) and reads to EOF.
fn raw(addr: SocketAddr, request: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    parse(&out)
}

fn parse(out: &[u8]) -> Resp {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    Resp {
        code,
        head,
        body: out[split + 4..].to_vec(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes)
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn livez_follows_the_heartbeat() {
    let f = fixture(None);
    assert_eq!(get(f.addr, "/livez").code, 503, "no heartbeat yet");
    f.shared.lock().unwrap().heartbeat = now_unix();
    let r = get(f.addr, "/livez");
    assert_eq!((r.code, r.text().as_str()), (200, "ok\n"));
    f.shared.lock().unwrap().heartbeat = now_unix() - 61;
    assert_eq!(get(f.addr, "/livez").code, 503);
    assert_eq!(get(f.addr, "/livez?x=1").code, 503, "query ignored");
}

#[test]
fn readyz_waits_for_every_source_and_fails_on_shutdown() {
    let f = fixture(None);
    let r = get(f.addr, "/readyz");
    assert_eq!(r.code, 503);
    assert!(r.text().contains("prod, stage"), "{}", r.text());
    f.shared.lock().unwrap().record(
        "prod",
        attempt(AttemptResult::Published, "aa", ""),
        Some(published("aa")),
    );
    let r = get(f.addr, "/readyz");
    assert_eq!(r.code, 503);
    assert!(r.text().contains("stage") && !r.text().contains("prod"));
    f.shared.lock().unwrap().record(
        "stage",
        attempt(AttemptResult::Published, "bb", ""),
        Some(published("bb")),
    );
    assert_eq!(get(f.addr, "/readyz").code, 200);
    // A later refusal keeps serving the last good revision: still ready.
    f.shared
        .lock()
        .unwrap()
        .record("stage", attempt(AttemptResult::Refused, "cc", "no"), None);
    assert_eq!(get(f.addr, "/readyz").code, 200);
    f.shared.lock().unwrap().shutting_down = true;
    let r = get(f.addr, "/readyz");
    assert_eq!(r.code, 503);
    assert!(r.text().contains("shutting down"));
}

/// Metric name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parses `name{k="v",...} value`, unescaping label values.
fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect("value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    let Some((name, rest)) = series.split_once('{') else {
        return (series.to_string(), Vec::new(), value);
    };
    let rest = rest.strip_suffix('}').expect("closing brace");
    let mut labels = Vec::new();
    let mut chars = rest.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{line:?}");
        let mut v = String::new();
        loop {
            match chars.next().expect("unterminated label") {
                '\\' => match chars.next().unwrap() {
                    'n' => v.push('\n'),
                    c @ ('\\' | '"') => v.push(c),
                    c => panic!("bad escape \\{c} in {line:?}"),
                },
                '"' => break,
                '\n' => panic!("raw newline"),
                c => v.push(c),
            }
        }
        labels.push((key, v));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    );
    (name.to_string(), labels, value)
}

fn has(samples: &[Sample], name: &str, labels: &[(&str, &str)], value: f64) -> bool {
    samples.iter().any(|(n, l, v)| {
        n == name
            && *v == value
            && l.len() == labels.len()
            && labels
                .iter()
                .all(|(k, want)| l.iter().any(|(lk, lv)| lk == k && lv == want))
    })
}

#[test]
fn metrics_render_every_series_and_parse() {
    let f = fixture(None);
    {
        let mut st = f.shared.lock().unwrap();
        st.record(
            "prod",
            attempt(AttemptResult::Published, "aa11", ""),
            Some(published("aa11")),
        );
        st.record(
            "prod",
            attempt(AttemptResult::Refused, "bb22", "nope"),
            None,
        );
        let mut slow = attempt(AttemptResult::Error, "cc33", "fetch failed");
        slow.duration_seconds = 100.0;
        st.record("stage", slow, None);
        st.record(
            "we\"ird\\name\nx",
            attempt(AttemptResult::Unchanged, "dd", ""),
            None,
        );
        st.metrics
            .notifications
            .insert(("slack".to_string(), "sent".to_string()), 2);
    }
    get(f.addr, "/livez");
    get(f.addr, "/nope");
    let r = get(f.addr, "/metrics");
    assert_eq!(r.code, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            assert!(
                c.starts_with("HELP sigil_") || c.starts_with("TYPE sigil_"),
                "{line}"
            );
            continue;
        }
        samples.push(parse_sample(line));
    }
    for family in [
        "sigil_build_info",
        "sigil_sync_runs_total",
        "sigil_sync_duration_seconds",
        "sigil_refusals_total",
        "sigil_published_revision_info",
        "sigil_last_publish_timestamp_seconds",
        "sigil_consecutive_failures",
        "sigil_source_ready",
        "sigil_http_requests_total",
        "sigil_notifications_total",
    ] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert!(has(
        &samples,
        "sigil_build_info",
        &[("version", version)],
        1.0
    ));
    let runs = "sigil_sync_runs_total";
    assert!(has(
        &samples,
        runs,
        &[("source", "prod"), ("result", "published")],
        1.0
    ));
    assert!(has(
        &samples,
        runs,
        &[("source", "prod"), ("result", "refused")],
        1.0
    ));
    assert!(has(
        &samples,
        runs,
        &[("source", "stage"), ("result", "error")],
        1.0
    ));
    assert!(has(
        &samples,
        runs,
        &[("source", "we\"ird\\name\nx"), ("result", "unchanged")],
        1.0
    ));
    let b = "sigil_sync_duration_seconds_bucket";
    assert!(has(&samples, b, &[("source", "prod"), ("le", "0.25")], 0.0));
    assert!(has(&samples, b, &[("source", "prod"), ("le", "0.5")], 2.0));
    assert!(has(&samples, b, &[("source", "prod"), ("le", "+Inf")], 2.0));
    assert!(has(&samples, b, &[("source", "stage"), ("le", "60")], 0.0));
    assert!(has(
        &samples,
        b,
        &[("source", "stage"), ("le", "+Inf")],
        1.0
    ));
    let buckets = samples
        .iter()
        .filter(|(n, l, _)| n == b && l[0].1 == "prod")
        .count();
    assert_eq!(buckets, DURATION_BUCKETS.len() + 1);
    assert!(has(
        &samples,
        "sigil_sync_duration_seconds_count",
        &[("source", "prod")],
        2.0
    ));
    assert!(has(
        &samples,
        "sigil_sync_duration_seconds_sum",
        &[("source", "stage")],
        100.0
    ));
    assert!(has(
        &samples,
        "sigil_refusals_total",
        &[
            ("source", "prod"),
            ("check", "commits"),
            ("reason", "untrusted-key")
        ],
        1.0
    ));
    let info = "sigil_published_revision_info";
    assert!(has(
        &samples,
        info,
        &[("source", "prod"), ("commit", "aa11")],
        1.0
    ));
    assert_eq!(
        samples
            .iter()
            .filter(|(n, l, _)| n == info && l[0].1 == "prod")
            .count(),
        1,
        "one series per source"
    );
    assert!(has(
        &samples,
        "sigil_last_publish_timestamp_seconds",
        &[("source", "prod")],
        1_767_225_600.0
    ));
    assert!(has(
        &samples,
        "sigil_consecutive_failures",
        &[("source", "prod")],
        1.0
    ));
    assert!(has(
        &samples,
        "sigil_source_ready",
        &[("source", "prod")],
        1.0
    ));
    assert!(has(
        &samples,
        "sigil_source_ready",
        &[("source", "stage")],
        0.0
    ));
    let http = "sigil_http_requests_total";
    assert!(has(
        &samples,
        http,
        &[("handler", "livez"), ("code", "503")],
        1.0
    ));
    assert!(has(
        &samples,
        http,
        &[("handler", "not_found"), ("code", "404")],
        1.0
    ));
    assert!(has(
        &samples,
        "sigil_notifications_total",
        &[("type", "slack"), ("result", "sent")],
        2.0
    ));
    // The scrape itself is counted afterwards.
    let again = get(f.addr, "/metrics").text();
    assert!(again.contains("sigil_http_requests_total{handler=\"metrics\",code=\"200\"} 1"));
}

#[test]
fn status_json_round_trips() {
    let f = fixture(None);
    f.shared.lock().unwrap().record(
        "prod",
        attempt(AttemptResult::Refused, "bb22", "nope"),
        None,
    );
    let r = get(f.addr, "/status");
    assert_eq!(r.code, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["apiVersion"], "sigil.dev/v1alpha1");
    assert_eq!(v["kind"], "GateStatus");
    assert_eq!(v["ready"], false);
    let at = v["generatedAt"].as_str().unwrap();
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap();
    let want = serde_json::to_value(&f.shared.lock().unwrap().sources).unwrap();
    assert_eq!(v["sources"], want);
    assert_eq!(v["sources"][0]["lastAttempt"]["reason"], "untrusted-key");
    assert_eq!(v["sources"][0]["ref"], "refs/heads/main");
}

#[test]
fn html_page_escapes_everything() {
    let f = fixture(None);
    {
        let mut st = f.shared.lock().unwrap();
        st.record(
            "prod",
            attempt(AttemptResult::Published, "aa11", ""),
            Some(published("aa11")),
        );
        let mut a = attempt(AttemptResult::Refused, "bb22", "<script>alert(1)</script>");
        a.subject = Some("\"><img src=x onerror=alert(2)>".to_string());
        a.reason = Some("x&y".to_string());
        st.record("prod", a, None);
        st.sources[1].url = "https://e.com/'onmouseover='x".to_string();
    }
    let r = get(f.addr, "/");
    assert_eq!(r.code, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let html = r.text();
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"));
    assert!(!html.contains("'onmouseover"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(html.contains("x&amp;y"));
    assert!(html.contains("ghcr.io/org/app@sha256:"));
    assert!(html.contains("release-bot"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

#[test]
fn artifacts_are_served_strictly() {
    let f = fixture(None);
    let dir = f.dir.path().join("artifacts");
    std::fs::create_dir_all(dir.join("prod")).unwrap();
    std::fs::write(dir.join("prod").join(format!("{HEX}.tar.gz")), b"gzip!").unwrap();
    std::fs::write(dir.join(format!("{HEX}.tar.gz")), b"outside").unwrap();
    std::fs::write(f.dir.path().join(format!("{HEX}.tar.gz")), b"outside").unwrap();
    let r = get(f.addr, &format!("/artifacts/prod/{HEX}.tar.gz"));
    assert_eq!(r.code, 200);
    assert_eq!(r.body, b"gzip!");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/gzip")
    );
    let upper = HEX.to_uppercase();
    for bad in [
        format!("/artifacts/prod/../prod/{HEX}.tar.gz"),
        format!("/artifacts/../{HEX}.tar.gz"),
        format!("/artifacts/%2e%2e/{HEX}.tar.gz"),
        format!("/artifacts/prod/%2e%2e%2f{HEX}.tar.gz"),
        format!("/artifacts/prod/..%2f{HEX}.tar.gz"),
        format!("/artifacts/../../{HEX}.tar.gz"),
        format!("/artifacts/prod/{upper}.tar.gz"),
        format!("/artifacts/prod/{}.tar.gz", &HEX[1..]),
        format!("/artifacts/prod/{HEX}0.tar.gz"),
        format!("/artifacts/prod/{HEX}.tar"),
        format!("/artifacts/prod/{HEX}.tar.gz/"),
        format!("/artifacts/prod//{HEX}.tar.gz"),
        format!("/artifacts/nope/{HEX}.tar.gz"),
        format!("/artifacts/stage/{HEX}.tar.gz"),
        format!("/artifacts/{HEX}.tar.gz"),
        // A configured source named `..` still cannot escape.
        format!("/artifacts/../{HEX}.tar.gz"),
        "/artifacts/".to_string(),
    ] {
        assert_eq!(get(f.addr, &bad).code, 404, "{bad}");
    }
    let r = post(f.addr, &format!("/artifacts/prod/{HEX}.tar.gz"), &[], b"");
    assert_eq!(r.code, 405);
    // HEAD answers headers only.
    let r = raw(
        f.addr,
        format!(
            "HEAD /artifacts/prod/{HEX}.tar.gz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.code, 200);
    assert!(r.body.is_empty());
}

#[test]
fn webhooks_are_off_without_a_secret() {
    let f = fixture(None);
    let r = post(
        f.addr,
        "/hooks/prod",
        &[("X-Signature", &sign(b"", b"{}"))],
        b"{}",
    );
    assert_eq!(r.code, 403);
    assert!(!f.triggers.wait("prod", Duration::ZERO));
}

#[test]
fn webhooks_require_a_valid_signature() {
    let secret = b"s3cret";
    let f = fixture(Some(secret));
    let body = br#"{"ref":"refs/heads/main"}"#;
    let good = sign(secret, body);
    let pending = |src: &str| f.triggers.wait(src, Duration::ZERO);

    let r = post(f.addr, "/hooks/prod", &[], body);
    assert_eq!(r.code, 401, "missing signature");
    let wrong = sign(b"other", body);
    for (h, v) in [
        ("X-Hub-Signature-256", wrong.as_str()),
        ("X-Signature", wrong.as_str()),
        ("X-Signature", "sha256=zz"),
        ("X-Signature", "sha1=00"),
        ("X-Hub-Signature-256", &good[..good.len() - 2]),
        ("X-Hub-Signature-256", &sign(secret, b"other body")),
    ] {
        assert_eq!(
            post(f.addr, "/hooks/prod", &[(h, v)], body).code,
            401,
            "{h}: {v}"
        );
    }
    assert!(!pending("prod"), "a bad signature never triggers");

    let r = post(
        f.addr,
        "/hooks/prod",
        &[("X-Hub-Signature-256", &good)],
        body,
    );
    assert_eq!((r.code, r.text().as_str()), (202, "accepted\n"));
    assert!(pending("prod"));
    assert!(!pending("stage"));

    let r = post(f.addr, "/hooks/stage", &[("X-Signature", &good)], body);
    assert_eq!(r.code, 202);
    assert!(pending("stage"));

    let headers = [
        ("X-Hub-Signature-256", good.as_str()),
        ("X-GitHub-Event", "ping"),
    ];
    assert_eq!(post(f.addr, "/hooks/prod", &headers, body).code, 200);
    assert!(!pending("prod"), "ping does not trigger");
    let headers = [
        ("X-Hub-Signature-256", wrong.as_str()),
        ("X-GitHub-Event", "ping"),
    ];
    assert_eq!(post(f.addr, "/hooks/prod", &headers, body).code, 401);

    let r = post(f.addr, "/hooks/nope", &[("X-Signature", &good)], body);
    assert_eq!(r.code, 404);
    assert_eq!(get(f.addr, "/hooks/prod").code, 405);
    let m = f.shared.lock().unwrap().metrics.http_requests.clone();
    assert_eq!(m.get(&("hooks".to_string(), 401)), Some(&8));
    assert_eq!(m.get(&("hooks".to_string(), 202)), Some(&2));
}

#[test]
fn webhook_triggers_coalesce() {
    let secret = b"k";
    let f = fixture(Some(secret));
    let sig = sign(secret, b"");
    for _ in 0..3 {
        assert_eq!(
            post(f.addr, "/hooks/prod", &[("X-Signature", &sig)], b"").code,
            202
        );
    }
    assert!(f.triggers.wait("prod", Duration::ZERO));
    assert!(!f.triggers.wait("prod", Duration::from_millis(50)));
}

#[test]
fn oversize_bodies_are_refused() {
    let secret = b"k";
    let f = fixture(Some(secret));
    // Exactly the limit is fine.
    let body = vec![b'a'; MAX_BODY];
    let r = post(
        f.addr,
        "/hooks/prod",
        &[("X-Signature", &sign(secret, &body))],
        &body,
    );
    assert_eq!(r.code, 202);

    // A declared length above the limit: answered without reading the body.
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let declared = 1u64 << 40;
    s.write_all(
        format!("POST /hooks/prod HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\nabc")
            .as_bytes(),
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(parse(&got).code, 413);
    drop(s);

    // A chunked body that turns out too large.
    let big = vec![b'a'; MAX_BODY + 10];
    let mut req = b"POST /hooks/prod HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n".to_vec();
    req.extend_from_slice(format!("X-Signature: {}\r\n\r\n", sign(secret, &big)).as_bytes());
    for chunk in big.chunks(65536) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&req);
    });
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    writer.join().unwrap();
    assert_eq!(parse(&got).code, 413);

    // Neither oversize request triggered; only the first one did.
    assert!(f.triggers.wait("prod", Duration::ZERO));
    assert!(!f.triggers.wait("prod", Duration::ZERO));
    // The server still answers.
    assert_eq!(get(f.addr, "/readyz").code, 503);
    let m = f.shared.lock().unwrap().metrics.http_requests.clone();
    assert_eq!(m.get(&("hooks".to_string(), 413)), Some(&2));
}

#[test]
fn silent_clients_do_not_block_the_probes() {
    let f = fixture(Some(b"k"));
    f.shared.lock().unwrap().heartbeat = now_unix();
    // Many connections, each declaring a body it never sends (on a hook, which reads
    // bodies, and on a probe, which leaves them unread).
    let mut idle = Vec::new();
    for i in 0..16 {
        let mut s = TcpStream::connect(f.addr).unwrap();
        let path = if i % 2 == 0 { "/hooks/prod" } else { "/livez" };
        s.write_all(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n").as_bytes(),
        )
        .unwrap();
        idle.push(s);
    }
    std::thread::sleep(Duration::from_millis(100));
    let r = get(f.addr, "/livez");
    assert_eq!(r.code, 200);
    assert!(!f.triggers.wait("prod", Duration::ZERO));
    drop(idle);
}

/// Open file descriptors of this process (`None` off Linux).
fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

#[test]
fn huge_declared_bodies_get_413_at_once_and_leak_nothing() {
    let f = fixture(Some(b"k"));
    f.shared.lock().unwrap().heartbeat = now_unix();
    let before = open_fds();
    let started = std::time::Instant::now();
    for i in 0..100 {
        let path = if i % 2 == 0 { "/hooks/prod" } else { "/livez" };
        let t = std::time::Instant::now();
        let r = raw(
            f.addr,
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1099511627776\r\n\r\nabc")
                .as_bytes(),
        );
        assert_eq!(r.code, 413);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(get(f.addr, "/livez").code, 200);
    // Every connection is closed: no descriptor growth (other tests run in parallel in
    // this process, hence the slack and the retries; a leak would be 100).
    if let Some(before) = before {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let now = open_fds().unwrap();
            if now <= before + 40 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "fds: {before} before, {now} after"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let m = f.shared.lock().unwrap().metrics.http_requests.clone();
    assert_eq!(m.get(&("hooks".to_string(), 413)), Some(&50));
    assert_eq!(m.get(&("livez".to_string(), 413)), Some(&50));
}

#[test]
fn half_a_head_does_not_block_the_probes_and_times_out() {
    let limits = Limits {
        head_timeout: Duration::from_secs(1),
        ..Limits::MAIN
    };
    let f = fixture_with(None, limits);
    f.shared.lock().unwrap().heartbeat = now_unix();
    let mut silent = TcpStream::connect(f.addr).unwrap();
    silent.write_all(b"GET /livez HTTP/1.1\r\nHo").unwrap();
    let started = std::time::Instant::now();
    let probes: Vec<_> = (0..20)
        .map(|_| {
            let addr = f.addr;
            std::thread::spawn(move || get(addr, "/livez").code)
        })
        .collect();
    for p in probes {
        assert_eq!(p.join().unwrap(), 200);
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    // The silent client gets 408 once the head deadline passes, then EOF.
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    silent.read_to_end(&mut out).unwrap();
    assert_eq!(parse(&out).code, 408);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn many_concurrent_connections_are_all_answered() {
    // 200 < MAX_CONNECTIONS: every one is served (beyond the bound new ones get 503). All
    // come from 127.0.0.1: the per-peer bound is lifted here and tested on its own.
    let limits = Limits {
        max_per_peer: MAX_CONNECTIONS,
        ..Limits::MAIN
    };
    let f = fixture_with(None, limits);
    f.shared.lock().unwrap().heartbeat = now_unix();
    let barrier = Arc::new(std::sync::Barrier::new(200));
    let clients: Vec<_> = (0..200)
        .map(|_| {
            let (addr, barrier) = (f.addr, Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                barrier.wait();
                s.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut out = Vec::new();
                s.read_to_end(&mut out).unwrap();
                parse(&out).code
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), 200);
    }
    let m = f.shared.lock().unwrap().metrics.http_requests.clone();
    assert_eq!(m.get(&("livez".to_string(), 200)), Some(&200));
}

#[test]
fn connections_beyond_the_bound_get_503_and_stop_is_prompt() {
    let limits = Limits {
        max_connections: 4,
        ..Limits::MAIN
    };
    let mut f = fixture_with(None, limits);
    f.shared.lock().unwrap().heartbeat = now_unix();
    let mut silent = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(f.addr).unwrap();
        s.write_all(b"GET /livez HTTP/1.1\r\n").unwrap();
        silent.push(s);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while lock_conns(&f.handle.as_ref().unwrap().inner).open.len() < 4 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = get(f.addr, "/livez");
    assert_eq!((r.code, r.text().as_str()), (503, "too many connections\n"));
    // One connection ends: there is room again.
    drop(silent.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while get(f.addr, "/livez").code != 200 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    // `stop` shuts the silent connections down instead of waiting for their deadline.
    let started = std::time::Instant::now();
    f.handle.take().unwrap().stop();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    for mut s in silent {
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut out = Vec::new();
        assert!(s.read_to_end(&mut out).is_ok(), "closed by stop");
    }
    assert!(TcpStream::connect(f.addr).is_err(), "listener closed");
}

/// Waits until the main listener holds `n` connections.
fn wait_open(f: &Fixture, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lock_conns(&f.handle.as_ref().unwrap().inner).open.len() < n {
        assert!(std::time::Instant::now() < deadline, "{n} connections");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn one_peer_cannot_take_every_slot() {
    // Dual stack where possible: ::1 is then another peer than 127.0.0.1 (which arrives
    // as ::ffff:127.0.0.1 and is counted as 127.0.0.1).
    let limits = Limits {
        max_connections: 8,
        max_per_peer: 3,
        ..Limits::MAIN
    };
    let dual = TcpListener::bind("[::]:0").is_ok();
    let f = fixture_at(
        if dual { "[::]:0" } else { "127.0.0.1:0" },
        None,
        None,
        limits,
    );
    f.shared.lock().unwrap().heartbeat = now_unix();
    let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), f.addr.port());
    let silent: Vec<_> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(v4).unwrap();
            s.write_all(b"GET /livez HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    wait_open(&f, 3);
    let r = get(v4, "/livez");
    assert_eq!((r.code, r.text().as_str()), (503, "too many connections\n"));
    assert_eq!(
        lock_conns(&f.handle.as_ref().unwrap().inner)
            .per_peer
            .get(&v4.ip()),
        Some(&3)
    );
    if dual {
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), f.addr.port());
        assert_eq!(get(v6, "/livez").code, 200, "another peer is served");
    }
    // The peer's count goes down as its connections end.
    drop(silent);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while get(v4, "/livez").code != 200 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        get(v4, "/metrics")
            .text()
            .contains("sigil_http_requests_total{handler=\"overload\",code=\"503\"}"),
        "replies at the accept are counted"
    );
}

#[test]
fn the_probe_listener_serves_only_probes_and_is_not_starved() {
    // Even with the main listener full (the per-peer bound lifted so that loopback can
    // fill it), probes on the probe listener answer at once.
    let limits = Limits {
        max_per_peer: MAX_CONNECTIONS,
        ..Limits::MAIN
    };
    let f = fixture_at("127.0.0.1:0", Some("127.0.0.1:0"), Some(b"k"), limits);
    {
        let mut st = f.shared.lock().unwrap();
        st.heartbeat = now_unix();
        for s in &mut st.sources {
            s.published = Some(published("c0ffee"));
        }
    }
    let probes = f.handle.as_ref().unwrap().probe_addr().unwrap();
    let idle: Vec<_> = (0..300)
        .map(|_| TcpStream::connect(f.addr).unwrap())
        .collect();
    wait_open(&f, MAX_CONNECTIONS);
    assert_eq!(get(f.addr, "/livez").code, 503, "the main listener is full");
    for path in ["/livez", "/readyz"] {
        let t = std::time::Instant::now();
        assert_eq!(get(probes, path).code, 200, "{path}");
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{path}: {:?}",
            t.elapsed()
        );
    }
    for path in ["/status", "/metrics", "/", "/artifacts/prod/x.tar.gz"] {
        assert_eq!(get(probes, path).code, 404, "{path}");
    }
    let sig = sign(b"k", b"{}");
    let hook = post(probes, "/hooks/prod", &[("X-Signature", &sig)], b"{}");
    assert_eq!(hook.code, 404);
    assert!(!f.triggers.wait("prod", Duration::ZERO));
    drop(idle);
}

#[test]
fn malformed_requests_are_refused() {
    let f = fixture(Some(b"k"));
    let long = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "a".repeat(20 << 10)
    );
    let many: String = (0..101).map(|i| format!("X-{i}: y\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
    for (req, want) in [
        (
            "GET /livez HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
            400,
        ),
        (
            "GET /livez HTTP/1.1\r\nHost: x\r\nX-A: b\nX-C: d\r\n\r\n",
            400,
        ),
        ("GET /livez HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("GET /livez HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        ("GET /livez HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400),
        ("GET  /livez HTTP/1.1\r\n\r\n", 400),
        ("GET livez HTTP/1.1\r\n\r\n", 400),
        ("GET /livez HTTP/2.0\r\n\r\n", 505),
        ("GET /livez FOO\r\n\r\n", 400),
        (
            "POST /hooks/prod HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
            400,
        ),
        (
            "POST /hooks/prod HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}",
            400,
        ),
        (
            "POST /hooks/prod HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            400,
        ),
        (
            "POST /hooks/prod HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
            400,
        ),
        (
            "POST /hooks/prod HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
        ),
        (
            "POST /hooks/prod HTTP/1.1\r\nHost: x\r\nExpect: x\r\nContent-Length: 0\r\n\r\n",
            417,
        ),
        // RFC 9112 §3.2: exactly one valid Host in HTTP/1.1, at most one in HTTP/1.0.
        ("GET /livez HTTP/1.1\r\n\r\n", 400),
        ("GET /livez HTTP/1.1\r\nHost: x\r\nhost: y\r\n\r\n", 400),
        ("GET /livez HTTP/1.0\r\nHost: x\r\nHost: x\r\n\r\n", 400),
        ("GET /livez HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        ("GET /livez HTTP/1.1\r\nHost: evil/x\r\n\r\n", 400),
        ("GET /nope HTTP/1.1\r\nHost: \r\n\r\n", 404),
        ("GET /nope HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 404),
        ("GET /nope HTTP/1.0\r\n\r\n", 404),
        (long.as_str(), 431),
        (many.as_str(), 431),
        (
            "POST /hooks/prod HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Signature: sha256=00\r\n\r\nzz\r\n",
            400,
        ),
    ] {
        assert_eq!(raw(f.addr, req.as_bytes()).code, want, "{req:?}");
    }
    // Empty lines before the request line are skipped.
    assert_eq!(raw(f.addr, b"\r\nGET /nope HTTP/1.0\r\n\r\n").code, 404);
    assert!(!f.triggers.wait("prod", Duration::ZERO));
    // Every reply is counted, those given before routing as handler="invalid".
    let metrics = get(f.addr, "/metrics").text();
    for code in [400, 417, 431, 501, 505] {
        let line = format!("sigil_http_requests_total{{handler=\"invalid\",code=\"{code}\"}}");
        assert!(metrics.contains(&line), "{line} missing");
    }
}

#[test]
fn chunked_and_expect_continue_webhooks() {
    let secret = b"k";
    let f = fixture(Some(secret));
    let body = br#"{"ref":"refs/heads/main"}"#;
    // Chunked, with a chunk extension and a trailer.
    let mut req = format!(
        "POST /hooks/prod HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Signature: {}\r\n\r\n",
        sign(secret, body)
    )
    .into_bytes();
    req.extend_from_slice(format!("{:x};ext=1\r\n", 5).as_bytes());
    req.extend_from_slice(&body[..5]);
    req.extend_from_slice(format!("\r\n{:X}\r\n", body.len() - 5).as_bytes());
    req.extend_from_slice(&body[5..]);
    req.extend_from_slice(b"\r\n0\r\nX-Trailer: t\r\n\r\n");
    assert_eq!(raw(f.addr, &req).code, 202);
    assert!(f.triggers.wait("prod", Duration::ZERO));

    // Expect: 100-continue: the body is sent after the interim response.
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        format!(
            "POST /hooks/prod HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\nX-Signature: {}\r\n\r\n",
            body.len(),
            sign(secret, body)
        )
        .as_bytes(),
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let r = parse(&out);
    assert_eq!(r.code, 202);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert_eq!(r.header("content-length").as_deref(), Some("9"));
    assert!(f.triggers.wait("prod", Duration::ZERO));
}

#[test]
fn unknown_paths_and_methods() {
    let f = fixture(None);
    assert_eq!(get(f.addr, "/nope").code, 404);
    assert_eq!(get(f.addr, "/livez/").code, 404);
    assert_eq!(get(f.addr, "/../etc/passwd").code, 404);
    let r = post(f.addr, "/metrics", &[], b"");
    assert_eq!(r.code, 405);
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
    assert_eq!(post(f.addr, "/", &[], b"x").code, 405);
    let r = raw(
        f.addr,
        b"DELETE /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.code, 405);
}

#[test]
fn a_real_client_works_and_stop_releases_the_port() {
    let mut f = fixture(None);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(format!("http://{}/status", f.addr))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.body_mut().read_to_string().unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["kind"], "GateStatus");

    // The port is taken while the server runs.
    let clash = start(
        ServerConfig {
            bind: f.addr.to_string(),
            probe_bind: None,
            webhook_secret: None,
            artifacts_dir: PathBuf::from("/nonexistent"),
        },
        Arc::clone(&f.shared),
        Arc::clone(&f.triggers),
    );
    assert!(clash.is_err());
    let addr = f.addr;
    f.handle.take().unwrap().stop();
    // `stop` joins the accept thread, which drops the listener: the port is free at once.
    let cfg = ServerConfig {
        bind: addr.to_string(),
        probe_bind: None,
        webhook_secret: None,
        artifacts_dir: PathBuf::from("/nonexistent"),
    };
    start(cfg, Arc::clone(&f.shared), Arc::clone(&f.triggers))
        .expect("port released after stop")
        .stop();
}

#[test]
fn helpers() {
    assert_eq!(hex_decode("00fF10"), Some(vec![0, 255, 16]));
    assert_eq!(hex_decode("0"), None);
    assert_eq!(hex_decode("zz"), None);
    assert_eq!(label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    assert_eq!(
        esc("<a href='x'>&\""),
        "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
    );
    assert!(safe_name("prod-1.eu_west"));
    for bad in ["", ".", "..", ".hidden", "a/b", "a\\b", "a%2f", "a b"] {
        assert!(!safe_name(bad), "{bad}");
    }
    assert_eq!(num(f64::INFINITY), "+Inf");
    assert_eq!(num(0.25), "0.25");
    assert_eq!(num(60.0), "60");
}

#[test]
fn the_request_reader_on_whole_inputs() {
    let ok = |input: &[u8]| read_request(input).map(|r| r.body);
    let chunked = b"POST /h HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let with = |rest: &[u8]| [&chunked[..], rest].concat();
    assert_eq!(
        ok(&with(b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n")).unwrap(),
        b"abcde"
    );
    assert_eq!(
        ok(&with(b"3 ; a=\"b\"\r\nabc\r\n0\r\n\r\n")).unwrap(),
        b"abc"
    );
    // Oversized and overflowing chunk sizes, a missing chunk end, truncation.
    assert_eq!(ok(&with(b"100001\r\n")), Err(Some(413)));
    assert_eq!(ok(&with(b"fffffffffffffffff\r\n")), Err(Some(400)));
    assert_eq!(ok(&with(b"3\r\nabcX\r\n0\r\n\r\n")), Err(Some(400)));
    assert_eq!(ok(&with(b"3\r\nab")), Err(Some(400)));
    assert_eq!(ok(&with(b"zz\r\n")), Err(Some(400)));
    assert_eq!(
        ok(&with(format!("{};{}\r\n", 1, "e".repeat(2000)).as_bytes())),
        Err(Some(400))
    );
    let r = read_request(b"GET /a?b HTTP/1.0\r\nX-A:  v \t\r\n\r\n").unwrap();
    assert_eq!(
        (r.method.as_str(), r.target.as_str(), r.http10),
        ("GET", "/a?b", true)
    );
    assert_eq!(r.headers, vec![("X-A".to_string(), "v".to_string())]);
    assert_eq!(
        ok(b"POST /h HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcdef").unwrap(),
        b"abc"
    );
    // Nothing, or part of a head, then the close: no answer.
    assert_eq!(ok(b""), Err(None));
    assert_eq!(ok(b"GET / HTTP/1.1\r\nHost: x\r\n"), Err(None));
    assert_eq!(ok(b"\r\n\r\n"), Err(None));
    // Line ends are CRLF only, everywhere in the head.
    assert_eq!(ok(b"GET / HTTP/1.1\nHost: x\r\n\r\n"), Err(Some(400)));
    assert_eq!(ok(b"GET / HTTP/1.1\r\nHost: x\r\r\n\r\n"), Err(Some(400)));
    assert_eq!(ok(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"), Err(Some(400)));
    assert_eq!(
        ok(b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        Err(Some(400))
    );
    assert_eq!(ok(b"GET / HTTP/1.2\r\nHost: x\r\n\r\n"), Err(Some(505)));
    assert_eq!(ok(b"GET / HTTP/11\r\nHost: x\r\n\r\n"), Err(Some(400)));
}
