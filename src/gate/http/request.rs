//! A request head and its body framing (Content-Length, chunked, Expect), parsed strictly.

use std::io::Write;
use std::time::Instant;

use super::reply::Reply;
use super::transport::{Conn, find};
use super::{BODY_TIMEOUT, MAX_BODY, MAX_HEADERS};

pub(super) enum HeadError {
    /// Closed, failed or silent before a single byte: no answer.
    Closed,
    /// Part of a head, then silence past the deadline: 408.
    Timeout,
    /// No end of the head within [`MAX_HEAD`]: 431.
    TooLarge,
}

pub(super) enum BodyError {
    /// Beyond [`MAX_BODY`]: 413.
    TooLarge,
    /// Malformed, truncated, timed out: 400.
    Bad,
}

/// How the request body is framed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head and the connection its body (if any) is read from.
pub(super) struct Request<'a> {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) framing: Framing,
    pub(super) expect_continue: bool,
    pub(super) conn: Conn<'a>,
    /// Whether the body was read to its end.
    pub(super) body_read: bool,
}

impl Request<'_> {
    /// Reads the whole body (at most [`MAX_BODY`] bytes); answers `Expect: 100-continue`.
    pub(super) fn read_body(&mut self) -> Result<Vec<u8>, BodyError> {
        if self.body_read {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + BODY_TIMEOUT;
        let want_body = self.framing != Framing::None && self.framing != Framing::Length(0);
        if want_body && self.expect_continue {
            self.expect_continue = false;
            if (&*self.conn.stream)
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .is_err()
            {
                return Err(BodyError::Bad);
            }
        }
        let body = match self.framing {
            Framing::None => Vec::new(),
            Framing::Length(n) if n > MAX_BODY as u64 => return Err(BodyError::TooLarge),
            Framing::Length(n) => {
                let mut body = Vec::with_capacity(n as usize);
                self.conn.read_exact_into(&mut body, n as usize, deadline)?;
                body
            }
            Framing::Chunked => self.conn.read_chunked(deadline)?,
        };
        self.body_read = true;
        Ok(body)
    }

    /// Whether request bytes may still be on their way (the body was not read).
    pub(super) fn unread(&self) -> bool {
        !self.body_read && !matches!(self.framing, Framing::None | Framing::Length(0))
    }
}

/// `tchar` of RFC 9110.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The parts of a request head: method, target, HTTP/1.0?, header fields.
type Head = (String, String, bool, Vec<(String, String)>);

/// Parses a request head strictly; errors are the reply to send.
pub(super) fn parse_head(head: &[u8]) -> Result<Head, Reply> {
    let bad = |why: &str| Reply::text(400, why);
    let mut all = Vec::new();
    let mut rest = head;
    loop {
        match find(rest, b"\r\n") {
            Some(i) => {
                all.push(&rest[..i]);
                rest = &rest[i + 2..];
            }
            None => {
                all.push(rest);
                break;
            }
        }
    }
    if all.iter().any(|l| l.contains(&b'\r') || l.contains(&b'\n')) {
        return Err(bad("bad request: bare CR or LF"));
    }
    let request_line = all.first().copied().unwrap_or_default();
    let parts: Vec<&[u8]> = request_line.split(|b| *b == b' ').collect();
    let [method, target, version] = parts.as_slice() else {
        return Err(bad("bad request line"));
    };
    if method.is_empty() || !method.iter().copied().all(is_tchar) {
        return Err(bad("bad request method"));
    }
    if !target.starts_with(b"/") || !target.iter().all(|b| (0x21..0x7f).contains(b)) {
        return Err(bad("bad request target"));
    }
    let http10 = match *version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        v if v.len() == 8
            && v.starts_with(b"HTTP/")
            && v[5].is_ascii_digit()
            && v[6] == b'.'
            && v[7].is_ascii_digit() =>
        {
            return Err(Reply::text(505, "HTTP version not supported"));
        }
        _ => return Err(bad("bad request line")),
    };
    let fields = &all[1..];
    if fields.len() > MAX_HEADERS {
        return Err(Reply::text(431, "too many header fields"));
    }
    let mut headers = Vec::with_capacity(fields.len());
    for line in fields {
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            return Err(bad("bad request: obsolete line folding"));
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return Err(bad("bad header field"));
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().copied().all(is_tchar) {
            return Err(bad("bad header field name"));
        }
        if value
            .iter()
            .any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f)
        {
            return Err(bad("bad header field value"));
        }
        let value = String::from_utf8_lossy(value);
        headers.push((
            String::from_utf8_lossy(name).into_owned(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok((
        String::from_utf8_lossy(method).into_owned(),
        String::from_utf8_lossy(target).into_owned(),
        http10,
        headers,
    ))
}

/// The body framing and whether `100 Continue` is expected; errors are the reply to send.
pub(super) fn framing(
    headers: &[(String, String)],
    http10: bool,
) -> Result<(Framing, bool), Reply> {
    let values = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let lengths = values("Content-Length");
    let codings = values("Transfer-Encoding");
    let expect = values("Expect");
    let framing = match (lengths.as_slice(), codings.as_slice()) {
        ([], []) => Framing::None,
        ([_, _, ..], _) => return Err(Reply::text(400, "duplicate Content-Length")),
        ([_], [_, ..]) => {
            return Err(Reply::text(400, "Content-Length with Transfer-Encoding"));
        }
        ([n], []) => {
            if n.is_empty() || n.len() > 19 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Reply::text(400, "bad Content-Length"));
            }
            Framing::Length(
                n.parse()
                    .map_err(|_| Reply::text(400, "bad Content-Length"))?,
            )
        }
        ([], [te]) if te.eq_ignore_ascii_case("chunked") && !http10 => Framing::Chunked,
        ([], _) if http10 => return Err(Reply::text(400, "Transfer-Encoding in HTTP/1.0")),
        ([], _) => return Err(Reply::text(501, "unsupported transfer coding")),
    };
    let expect_continue = match expect.as_slice() {
        [] => false,
        [e] if e.eq_ignore_ascii_case("100-continue") => !http10,
        _ => return Err(Reply::text(417, "expectation failed")),
    };
    Ok((framing, expect_continue))
}
