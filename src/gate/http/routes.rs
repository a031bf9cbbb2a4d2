//! The routes: probes, status, artifacts, the webhook; every reply counted.

use std::fs::File;
use std::sync::MutexGuard;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::gate::state::{GateState, Shared, SourceState};
use crate::sops::time::now_unix;

use super::metrics::render_metrics;
use super::page::render_html;
use super::reply::{Body, Reply};
use super::request::{BodyError, Framing, Request};
use super::{Ctx, MAX_BODY};

pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, GateState> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn header<'a>(req: &'a Request, name: &'static str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The route name used as the `handler` label.
fn route_name(path: &str) -> &'static str {
    match path {
        "/livez" => "livez",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/status" => "status",
        "/" => "index",
        p if p.starts_with("/artifacts/") => "artifacts",
        p if p.starts_with("/hooks/") => "hooks",
        _ => "not_found",
    }
}

/// Routes `req` and counts the reply.
pub(super) fn handle(ctx: &Ctx, req: &mut Request) -> Reply {
    let path = req
        .target
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string();
    let handler = match route_name(&path) {
        h @ ("livez" | "readyz") => h,
        _ if ctx.probes_only => "not_found",
        h => h,
    };
    if matches!(req.framing, Framing::Length(n) if n > MAX_BODY as u64) {
        // Answered without reading the body (see the module documentation).
        count(ctx, handler, 413);
        return Reply::text(413, "request body too large");
    }
    let method = req.method.clone();
    let get = matches!(method.as_str(), "GET" | "HEAD");
    let reply = match handler {
        "not_found" => Reply::not_found(),
        "hooks" if method != "POST" => Reply::method_not_allowed("POST"),
        "hooks" => webhook(ctx, &path, req),
        _ if !get => Reply::method_not_allowed("GET, HEAD"),
        "livez" => livez(ctx),
        "readyz" => readyz(ctx),
        "metrics" => Reply {
            code: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: Body::Bytes(render_metrics(&lock(&ctx.shared)).into_bytes()),
            headers: Vec::new(),
        },
        "status" => status(ctx),
        "index" => Reply {
            code: 200,
            content_type: "text/html; charset=utf-8",
            body: Body::Bytes(render_html(&lock(&ctx.shared)).into_bytes()),
            headers: vec![(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'".to_string(),
            )],
        },
        "artifacts" => artifact(ctx, &path),
        _ => Reply::not_found(),
    };
    count(ctx, handler, reply.code);
    reply
}

pub(super) fn count(ctx: &Ctx, handler: &str, code: u16) {
    *lock(&ctx.shared)
        .metrics
        .http_requests
        .entry((handler.to_string(), code))
        .or_default() += 1;
}

pub(super) fn livez(ctx: &Ctx) -> Reply {
    let st = lock(&ctx.shared);
    let age = now_unix() - st.heartbeat;
    if st.heartbeat > 0 && age <= st.liveness_seconds {
        Reply::text(200, "ok")
    } else if st.heartbeat <= 0 {
        Reply::text(503, "no heartbeat yet")
    } else {
        Reply::text(503, &format!("last heartbeat {age}s ago"))
    }
}

pub(super) fn readyz(ctx: &Ctx) -> Reply {
    let st = lock(&ctx.shared);
    if st.shutting_down {
        return Reply::text(503, "shutting down");
    }
    if st.ready() {
        return Reply::text(200, "ok");
    }
    let waiting: Vec<&str> = st
        .sources
        .iter()
        .filter(|s| s.published.is_none())
        .map(|s| s.name.as_str())
        .collect();
    Reply::text(
        503,
        &format!(
            "not ready: no verified revision yet for {}",
            waiting.join(", ")
        ),
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusDoc<'a> {
    api_version: &'static str,
    pub(super) kind: &'static str,
    generated_at: String,
    pub(super) ready: bool,
    pub(super) sources: &'a [SourceState],
}

pub(super) fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(super) fn status(ctx: &Ctx) -> Reply {
    let st = lock(&ctx.shared);
    let doc = StatusDoc {
        api_version: "sigil.dev/v1alpha1",
        kind: "GateStatus",
        generated_at: rfc3339_now(),
        ready: st.ready(),
        sources: &st.sources,
    };
    match serde_json::to_vec_pretty(&doc) {
        Ok(mut b) => {
            b.push(b'\n');
            Reply {
                code: 200,
                content_type: "application/json",
                body: Body::Bytes(b),
                headers: Vec::new(),
            }
        }
        Err(_) => Reply::text(500, "cannot encode status"),
    }
}

/// A source name safe as one path component (and configured: checked by the caller).
pub(super) fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_lower_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(super) fn artifact(ctx: &Ctx, path: &str) -> Reply {
    let Some(rest) = path.strip_prefix("/artifacts/") else {
        return Reply::not_found();
    };
    let Some((source, file)) = rest.split_once('/') else {
        return Reply::not_found();
    };
    let Some(hex) = file.strip_suffix(".tar.gz") else {
        return Reply::not_found();
    };
    if !safe_name(source) || !is_lower_hex64(hex) {
        return Reply::not_found();
    }
    if !lock(&ctx.shared).sources.iter().any(|s| s.name == source) {
        return Reply::not_found();
    }
    let full = ctx.artifacts_dir.join(source).join(file);
    let Ok(f) = File::open(&full) else {
        return Reply::not_found();
    };
    match f.metadata() {
        Ok(m) if m.is_file() => Reply {
            code: 200,
            content_type: "application/gzip",
            body: Body::File(f),
            headers: vec![(
                "Cache-Control",
                "public, max-age=31536000, immutable".to_string(),
            )],
        },
        _ => Reply::not_found(),
    }
}

pub(super) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

/// Whether `value` (`sha256=<hex>`) is HMAC-SHA256(secret, body), compared in constant time.
fn signature_ok(secret: &[u8], body: &[u8], value: &str) -> bool {
    let Some(hex) = value.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(sig) = hex_decode(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

pub(super) fn webhook(ctx: &Ctx, path: &str, req: &mut Request) -> Reply {
    let Some(secret) = ctx.secret.as_ref() else {
        return Reply::text(403, "webhooks are disabled (no webhook secret configured)");
    };
    let Some(source) = path.strip_prefix("/hooks/") else {
        return Reply::not_found();
    };
    if !safe_name(source) || !lock(&ctx.shared).sources.iter().any(|s| s.name == source) {
        return Reply::not_found();
    }
    let body = match req.read_body() {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return Reply::text(413, "request body too large"),
        Err(BodyError::Bad) => return Reply::text(400, "cannot read request body"),
    };
    let signatures: Vec<&str> = ["X-Hub-Signature-256", "X-Signature"]
        .iter()
        .filter_map(|h| header(req, h))
        .collect();
    if signatures.is_empty() {
        return Reply::text(401, "missing signature");
    }
    if !signatures.iter().any(|s| signature_ok(secret, &body, s)) {
        return Reply::text(401, "invalid signature");
    }
    if header(req, "X-GitHub-Event").is_some_and(|e| e.trim().eq_ignore_ascii_case("ping")) {
        return Reply::text(200, "pong");
    }
    if ctx.triggers.request(source) {
        Reply::text(202, "accepted")
    } else {
        Reply::not_found()
    }
}
