//! The HTML status page.

use std::fmt::Write as _;

use crate::gate::state::AttemptResult;
use crate::gate::state::GateState;
use crate::git::short_id;

use super::routes::rfc3339_now;

/// Escapes text for HTML element content and quoted attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn opt(v: Option<&str>) -> String {
    esc(v.unwrap_or("—"))
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\
h1{font-size:1.4em}h2{font-size:1.15em;margin:0 0 .4em}\
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0}\
table{border-collapse:collapse;width:100%;margin:.4em 0}\
th,td{text-align:left;border-bottom:1px solid #eee;padding:.25em .5em;vertical-align:top}\
th{background:#f2f2f2;font-weight:600}code{font-size:.95em;word-break:break-all}\
.ok{color:#17692b;font-weight:600}.bad{color:#b00020;font-weight:600}.muted{color:#777}";

/// Renders the status page; every interpolated string is escaped.
pub fn render_html(st: &GateState) -> String {
    let mut h = String::new();
    let ready = st.ready();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"10\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>sigil gate</title><style>{CSS}</style></head><body>\n\
<h1>sigil gate</h1>\n<p>Status: <span class=\"{}\">{}</span> · generated {} · \
<a href=\"/status\">JSON</a> · <a href=\"/metrics\">metrics</a></p>\n",
        if ready { "ok" } else { "bad" },
        if st.shutting_down {
            "shutting down"
        } else if ready {
            "ready"
        } else {
            "not ready"
        },
        esc(&rfc3339_now()),
    );
    for s in &st.sources {
        let _ = write!(
            h,
            "<section>\n<h2>{}</h2>\n<table>\
<tr><th>URL</th><td><code>{}</code></td></tr>\
<tr><th>Ref</th><td><code>{}</code></td></tr>",
            esc(&s.name),
            esc(&s.url),
            esc(&s.refname)
        );
        match &s.published {
            Some(p) => {
                let _ = write!(
                    h,
                    "<tr><th>Published</th><td><code title=\"{}\">{}</code> \
signed by {} at {}</td></tr>",
                    esc(&p.commit),
                    esc(short_id(&p.commit)),
                    opt(p.signer.as_deref()),
                    esc(&p.published_at)
                );
                if let Some(a) = &p.artifact {
                    let _ = write!(
                        h,
                        "<tr><th>Artifact</th><td><code>{}</code></td></tr>",
                        esc(&a.digest)
                    );
                }
                if !p.images.is_empty() {
                    let _ = write!(h, "<tr><th>Images</th><td>");
                    for i in &p.images {
                        let _ = write!(
                            h,
                            "<code>{}@{}</code> signed by {}<br>",
                            esc(&i.image),
                            opt(i.digest.as_deref()),
                            opt(i.signer.as_deref())
                        );
                    }
                    let _ = write!(h, "</td></tr>");
                }
            }
            None => {
                let _ = write!(
                    h,
                    "<tr><th>Published</th><td class=\"bad\">no verified revision yet</td></tr>"
                );
            }
        }
        match &s.last_attempt {
            Some(a) => {
                let class = match a.result {
                    AttemptResult::Published | AttemptResult::Unchanged => "ok",
                    AttemptResult::Refused | AttemptResult::Error => "bad",
                };
                let _ = write!(
                    h,
                    "<tr><th>Last attempt</th><td><span class=\"{class}\">{}</span> {} \
at {} ({:.2}s) {}</td></tr>",
                    esc(a.result.as_str()),
                    a.reason
                        .as_deref()
                        .map(|r| format!("<code>{}</code>", esc(r)))
                        .unwrap_or_default(),
                    esc(&a.at),
                    a.duration_seconds,
                    esc(&a.message)
                );
            }
            None => {
                let _ = write!(
                    h,
                    "<tr><th>Last attempt</th><td class=\"muted\">none yet</td></tr>"
                );
            }
        }
        let _ = writeln!(
            h,
            "<tr><th>Consecutive failures</th><td>{}</td></tr></table>",
            s.consecutive_failures
        );
        if s.recent_refusals.is_empty() {
            let _ = writeln!(h, "<p class=\"muted\">No recent refusals.</p>");
        } else {
            let _ = write!(
                h,
                "<table><tr><th>Time</th><th>Commit</th><th>Check</th><th>Reason</th>\
<th>Subject</th><th>Message</th></tr>"
            );
            for r in &s.recent_refusals {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td>\
<td><code>{}</code></td><td>{}</td></tr>",
                    esc(&r.at),
                    opt(r.commit.as_deref().map(short_id)),
                    opt(r.check.as_deref()),
                    opt(r.reason.as_deref()),
                    opt(r.subject.as_deref()),
                    esc(&r.message)
                );
            }
            let _ = writeln!(h, "</table>");
        }
        let _ = writeln!(h, "</section>");
    }
    let _ = writeln!(h, "</body></html>");
    h
}
