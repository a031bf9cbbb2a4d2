//! Plain-scalar typing as go-yaml v3 resolves it (YAML 1.2 core schema plus a little 1.1).

use zeroize::Zeroizing;

use crate::sops::tree::Value;

/// The type a plain scalar resolves to, before conversion.
pub enum Resolved {
    /// `~`, `null`, empty.
    Null,
    /// `true`/`false` in three spellings.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// An integer above i64 (go-yaml gives uint64, which sops cannot walk).
    BigUint,
    /// A float.
    Float(f64),
    /// A timestamp, as canonical RFC 3339 text.
    Time(String),
    /// The merge key `<<`.
    Merge,
    /// Anything else: a string.
    Str,
}

/// Resolves a plain scalar like go-yaml v3's `resolve("", s)`.
pub fn resolve_plain(s: &str) -> Resolved {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        "<<" => return Resolved::Merge,
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => match parse_go_float(s) {
            Some(f) => Resolved::Float(f),
            None => Resolved::Str,
        },
        b'+' | b'-' | b'0'..=b'9' => resolve_number_or_time(s),
        _ => Resolved::Str,
    }
}

fn resolve_number_or_time(s: &str) -> Resolved {
    if let Some(t) = parse_timestamp(s) {
        return Resolved::Time(t);
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if let Some(i) = parse_go_int_base0(&plain) {
        return Resolved::Int(i);
    }
    if parse_go_uint_base0(&plain) {
        return Resolved::BigUint;
    }
    if is_yaml_style_float(&plain) {
        if let Some(f) = parse_go_float(&plain) {
            return Resolved::Float(f);
        }
    }
    let (neg, rest) = match plain.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, plain.as_str()),
    };
    for (prefix, radix) in [("0b", 2), ("0o", 8)] {
        if let Some(digits) = rest.strip_prefix(prefix) {
            if let Ok(v) = i64::from_str_radix(digits, radix) {
                if !digits.starts_with(['+', '-']) {
                    return Resolved::Int(if neg { -v } else { v });
                }
            }
        }
    }
    Resolved::Str
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn parse_go_float(s: &str) -> Option<f64> {
    crate::sops::cipher::parse_go_float(s)
}

/// Go `strconv.ParseInt(s, 0, 64)`.
fn parse_go_int_base0(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mag = parse_base0_magnitude(rest)?;
    if neg {
        if mag <= i64::MAX as u64 + 1 {
            Some((mag as i64).wrapping_neg())
        } else {
            None
        }
    } else if mag <= i64::MAX as u64 {
        Some(mag as i64)
    } else {
        None
    }
}

/// Go `strconv.ParseUint(s, 0, 64)` succeeds?
fn parse_go_uint_base0(s: &str) -> bool {
    !s.starts_with(['+', '-']) && parse_base0_magnitude(s).is_some()
}

fn parse_base0_magnitude(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(d) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (d, 16)
    } else if let Some(d) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (d, 8)
    } else if let Some(d) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (d, 2)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// go-yaml v3 timestamps: `YYYY-M-D`, `YYYY-M-DTh:m:s[.f](Z|±hh:mm)` (T or t), and
/// `YYYY-M-D h:m:s[.f]` (UTC). Returns Go's `MarshalText` form.
pub fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let mut p = Cursor { b, i: 5 };
    let year: i32 = s[..4].parse().ok()?;
    let month = p.num(1, 2)?;
    p.expect(b'-')?;
    let day = p.num(1, 2)?;
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month as u8).ok()?, day as u8)
            .ok()?;
    if p.i == b.len() {
        return Some(crate::sops::time::format_nano(date.midnight().assume_utc()));
    }
    let sep = b[p.i];
    let zoned = match sep {
        b'T' | b't' => true,
        b' ' => false,
        _ => return None,
    };
    p.i += 1;
    let hour = p.num(1, 2)?;
    p.expect(b':')?;
    let minute = p.num(1, 2)?;
    p.expect(b':')?;
    let second = p.num(1, 2)?;
    let mut nanos = 0u32;
    if p.i < b.len() && b[p.i] == b'.' {
        p.i += 1;
        let start = p.i;
        while p.i < b.len() && b[p.i].is_ascii_digit() {
            p.i += 1;
        }
        let frac = &s[start..p.i];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        nanos = format!("{frac:0<9}").parse().ok()?;
    }
    let t = time::Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanos).ok()?;
    let offset = if zoned {
        match b.get(p.i)? {
            b'Z' => {
                p.i += 1;
                time::UtcOffset::UTC
            }
            c @ (b'+' | b'-') => {
                let neg = *c == b'-';
                p.i += 1;
                let oh = p.num(2, 2)?;
                p.expect(b':')?;
                let om = p.num(2, 2)?;
                let (oh, om) = (oh as i8, om as i8);
                if neg {
                    time::UtcOffset::from_hms(-oh, -om, 0).ok()?
                } else {
                    time::UtcOffset::from_hms(oh, om, 0).ok()?
                }
            }
            _ => return None,
        }
    } else {
        time::UtcOffset::UTC
    };
    if p.i != b.len() {
        return None;
    }
    Some(crate::sops::time::format_nano(
        time::PrimitiveDateTime::new(date, t).assume_offset(offset),
    ))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn num(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() && self.i - start < max {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }
}

/// Converts a resolved plain scalar to a tree value (errors for uint64-sized integers).
pub fn to_value(s: &str, r: Resolved) -> Result<Value, String> {
    Ok(match r {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::Int(i),
        Resolved::Float(f) => Value::Float(f),
        Resolved::Time(t) => Value::Time(Zeroizing::new(t)),
        Resolved::BigUint => {
            return Err(format!(
                "the integer {s} does not fit in 64 bits (sops cannot encrypt it either); quote it to keep it as a string"
            ));
        }
        Resolved::Merge | Resolved::Str => Value::str(s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> String {
        match resolve_plain(s) {
            Resolved::Null => "null".into(),
            Resolved::Bool(b) => format!("bool:{b}"),
            Resolved::Int(i) => format!("int:{i}"),
            Resolved::BigUint => "uint".into(),
            Resolved::Float(f) => format!("float:{f}"),
            Resolved::Time(t) => format!("time:{t}"),
            Resolved::Merge => "merge".into(),
            Resolved::Str => "str".into(),
        }
    }

    #[test]
    fn yaml_v3_typing() {
        for (input, want) in [
            ("~", "null"),
            ("yes", "str"),
            ("on", "str"),
            ("True", "bool:true"),
            ("0x1F", "int:31"),
            ("0o17", "int:15"),
            ("017", "int:15"),
            ("0b101", "int:5"),
            ("+12", "int:12"),
            ("1_000", "int:1000"),
            ("1e3", "float:1000"),
            (".5", "float:0.5"),
            ("18446744073709551616", "float:18446744073709552000"),
            ("9223372036854775808", "uint"),
            ("-9223372036854775809", "float:-9223372036854776000"),
            ("2024-01-01", "time:2024-01-01T00:00:00Z"),
            (
                "2024-01-02T03:04:05.123+02:00",
                "time:2024-01-02T03:04:05.123+02:00",
            ),
            ("2024-1-2 3:04:05", "time:2024-01-02T03:04:05Z"),
            ("1:20", "str"),
            ("12abc", "str"),
            ("-", "str"),
        ] {
            assert_eq!(kind(input), want, "{input}");
        }
    }
}
