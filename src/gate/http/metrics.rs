//! The Prometheus text exposition of the gate's state.

use std::fmt::Write as _;

use crate::gate::state::{DURATION_BUCKETS, GateState};

/// Escapes a Prometheus label value.
pub(super) fn label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Formats a sample value the way the text format expects.
pub(super) fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

pub(super) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders every metric in the Prometheus text format 0.0.4.
pub fn render_metrics(st: &GateState) -> String {
    let m = &st.metrics;
    let mut out = String::new();
    family(&mut out, "sigil_build_info", "gauge", "Build information.");
    let _ = writeln!(
        out,
        "sigil_build_info{{version=\"{}\"}} 1",
        label(env!("CARGO_PKG_VERSION"))
    );

    family(
        &mut out,
        "sigil_sync_runs_total",
        "counter",
        "Sync attempts by result (published, unchanged, refused, error).",
    );
    for ((source, result), n) in &m.sync_runs {
        let _ = writeln!(
            out,
            "sigil_sync_runs_total{{source=\"{}\",result=\"{}\"}} {n}",
            label(source),
            label(result)
        );
    }

    family(
        &mut out,
        "sigil_sync_duration_seconds",
        "histogram",
        "Duration of sync attempts.",
    );
    for (source, (buckets, sum, count)) in &m.durations {
        let s = label(source);
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            let c = buckets.get(i).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "sigil_sync_duration_seconds_bucket{{source=\"{s}\",le=\"{}\"}} {c}",
                num(*bound)
            );
        }
        let _ = writeln!(
            out,
            "sigil_sync_duration_seconds_bucket{{source=\"{s}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "sigil_sync_duration_seconds_sum{{source=\"{s}\"}} {}",
            num(*sum)
        );
        let _ = writeln!(
            out,
            "sigil_sync_duration_seconds_count{{source=\"{s}\"}} {count}"
        );
    }

    family(
        &mut out,
        "sigil_refusals_total",
        "counter",
        "Refused revisions by failing check and reason.",
    );
    for ((source, check, reason), n) in &m.refusals {
        let _ = writeln!(
            out,
            "sigil_refusals_total{{source=\"{}\",check=\"{}\",reason=\"{}\"}} {n}",
            label(source),
            label(check),
            label(reason)
        );
    }

    family(
        &mut out,
        "sigil_published_revision_info",
        "gauge",
        "The verified revision each source serves.",
    );
    for s in &st.sources {
        if let Some(p) = &s.published {
            let _ = writeln!(
                out,
                "sigil_published_revision_info{{source=\"{}\",commit=\"{}\"}} 1",
                label(&s.name),
                label(&p.commit)
            );
        }
    }

    family(
        &mut out,
        "sigil_last_publish_timestamp_seconds",
        "gauge",
        "Unix time of the last publication.",
    );
    for s in &st.sources {
        if let Some(p) = &s.published {
            let _ = writeln!(
                out,
                "sigil_last_publish_timestamp_seconds{{source=\"{}\"}} {}",
                label(&s.name),
                p.published_unix
            );
        }
    }

    family(
        &mut out,
        "sigil_consecutive_failures",
        "gauge",
        "Consecutive refused or failed attempts.",
    );
    for s in &st.sources {
        let _ = writeln!(
            out,
            "sigil_consecutive_failures{{source=\"{}\"}} {}",
            label(&s.name),
            s.consecutive_failures
        );
    }

    family(
        &mut out,
        "sigil_source_ready",
        "gauge",
        "1 when the source serves a verified revision.",
    );
    for s in &st.sources {
        let _ = writeln!(
            out,
            "sigil_source_ready{{source=\"{}\"}} {}",
            label(&s.name),
            u8::from(s.published.is_some() && !st.shutting_down)
        );
    }

    family(
        &mut out,
        "sigil_http_requests_total",
        "counter",
        "HTTP replies by handler (invalid: refused before routing; overload: refused at the accept) and status code.",
    );
    for ((handler, code), n) in &m.http_requests {
        let _ = writeln!(
            out,
            "sigil_http_requests_total{{handler=\"{}\",code=\"{code}\"}} {n}",
            label(handler)
        );
    }

    family(
        &mut out,
        "sigil_notifications_total",
        "counter",
        "Notifications by target type and result (sent, failed, dropped).",
    );
    for ((kind, result), n) in &m.notifications {
        let _ = writeln!(
            out,
            "sigil_notifications_total{{type=\"{}\",result=\"{}\"}} {n}",
            label(kind),
            label(result)
        );
    }
    out
}
