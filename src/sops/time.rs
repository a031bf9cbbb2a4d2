//! RFC 3339 timestamps as Go formats them (`lastmodified`, `created_at`, `type:time` values).

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Parses RFC 3339 (with or without fractional seconds, `Z` or a numeric offset).
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn offset_text(off: UtcOffset) -> String {
    if off.is_utc() {
        return "Z".to_string();
    }
    let (h, m, _) = off.as_hms();
    let sign = if off.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

/// Go `time.RFC3339` formatting: whole seconds, `Z` for a zero offset.
pub fn format_seconds(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        offset_text(t.offset())
    )
}

/// Go `time.RFC3339Nano` formatting (`MarshalText`): fraction with trailing zeros dropped.
pub fn format_nano(t: OffsetDateTime) -> String {
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    let frac = if nanos == 0 {
        String::new()
    } else {
        let s = format!(".{nanos:09}");
        s.trim_end_matches('0').to_string()
    };
    format!("{base}{frac}{}", offset_text(t.offset()))
}

/// Re-formats an RFC 3339 text canonically (the byte form sops hashes for `type:time`).
pub fn canonical_rfc3339_nano(s: &str) -> Option<String> {
    parse(s).map(format_nano)
}

/// The MAC's AAD: `lastmodified` parsed and re-formatted with whole seconds.
pub fn mac_aad(last_modified: &str) -> Option<String> {
    parse(last_modified).map(format_seconds)
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 (whole seconds, `Z`) of unix seconds; the number itself if out of range.
pub fn format_unix(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t).map_or_else(|_| t.to_string(), format_seconds)
}

/// Now, in UTC, as sops writes `lastmodified` and `created_at`.
pub fn now_utc() -> String {
    format_seconds(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_compatible_formats() {
        assert_eq!(
            mac_aad("2026-11-26T08:12:05.123Z").unwrap(),
            "2026-11-26T08:12:05Z"
        );
        assert_eq!(
            mac_aad("2026-11-26T08:12:05+00:00").unwrap(),
            "2026-11-26T08:12:05Z"
        );
        assert_eq!(
            mac_aad("2026-11-26T08:12:05+02:00").unwrap(),
            "2026-11-26T08:12:05+02:00"
        );
        assert_eq!(
            canonical_rfc3339_nano("2024-01-02T03:04:05.1230+02:00").unwrap(),
            "2024-01-02T03:04:05.123+02:00"
        );
        assert!(parse("2024-01-01").is_none());
    }
}
