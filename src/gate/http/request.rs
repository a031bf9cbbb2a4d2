//! A request head and its body framing (Content-Length, chunked, Expect), parsed strictly.
//!
//! The head and chunk sizes are parsed by `httparse` (hyper's parser); around it, sigil keeps
//! its own limits and the rules httparse leaves to the server: CRLF line ends only, an
//! origin-form target, exactly one valid `Host` in HTTP/1.1 (RFC 9112 §3.2), one framing.

use std::time::Instant;

use super::reply::Reply;
use super::transport::{Conn, ReadError, Wire};
use super::{BODY_TIMEOUT, MAX_BODY, MAX_HEAD, MAX_HEADERS};

/// Why no request came out of a connection.
pub(super) enum Unreadable {
    /// Closed, failed or silent before a single byte: no answer.
    Silent,
    /// Answer `reply`; `linger` if request bytes may still be arriving.
    Answer { reply: Reply, linger: bool },
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
    http10: bool,
    pub(super) headers: Vec<(String, String)>,
    pub(super) framing: Framing,
    expect_continue: bool,
    conn: Conn<'a>,
    /// Whether the body was read to its end.
    body_read: bool,
}

impl<'a> Request<'a> {
    /// Reads the request head (at most [`MAX_HEAD`] bytes by `deadline`) and checks it and
    /// its framing; the body is left on the connection.
    pub(super) fn read_head(mut conn: Conn<'a>, deadline: Instant) -> Result<Self, Unreadable> {
        let answer = |reply, linger| Unreadable::Answer { reply, linger };
        let head = match head_bytes(&mut conn, deadline) {
            Ok(head) => head,
            Err(HeadError::Closed) => return Err(Unreadable::Silent),
            Err(HeadError::Timeout) => {
                return Err(answer(Reply::text(408, "request timeout"), false));
            }
            Err(HeadError::TooLarge) => {
                return Err(answer(Reply::text(431, "request head too large"), true));
            }
        };
        let (method, target, http10, headers) = parse_head(&head).map_err(|r| answer(r, true))?;
        let (framing, expect_continue) = framing(&headers, http10).map_err(|r| answer(r, true))?;
        Ok(Request {
            method,
            target,
            http10,
            headers,
            framing,
            expect_continue,
            conn,
            body_read: false,
        })
    }

    /// Reads the whole body (at most [`MAX_BODY`] bytes); answers `Expect: 100-continue`.
    pub(super) fn read_body(&mut self) -> Result<Vec<u8>, BodyError> {
        if self.body_read {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + BODY_TIMEOUT;
        let want_body = self.framing != Framing::None && self.framing != Framing::Length(0);
        if want_body && self.expect_continue {
            self.expect_continue = false;
            if self
                .conn
                .wire
                .send(b"HTTP/1.1 100 Continue\r\n\r\n")
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
                read_exact_into(&mut self.conn, &mut body, n as usize, deadline)?;
                body
            }
            Framing::Chunked => read_chunked(&mut self.conn, deadline)?,
        };
        self.body_read = true;
        Ok(body)
    }

    /// Whether request bytes may still be on their way (the body was not read).
    pub(super) fn unread(&self) -> bool {
        !self.body_read && !matches!(self.framing, Framing::None | Framing::Length(0))
    }
}

/// A request as the server reads it: for fuzzing and tests of the reader.
#[derive(Debug)]
pub struct ParsedRequest {
    /// The method.
    pub method: String,
    /// The origin-form target.
    pub target: String,
    /// HTTP/1.0 (else 1.1).
    pub http10: bool,
    /// Header fields, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from its framing.
    pub body: Vec<u8>,
}

/// Runs the server's request reader over `input`, taken as everything a client sent before
/// closing: the head, its checks, and the body. Errors are the status the server answers,
/// or `None` where it closes without one.
pub fn read_request(input: &[u8]) -> Result<ParsedRequest, Option<u16>> {
    let mut wire: &[u8] = input;
    let far = Instant::now() + BODY_TIMEOUT;
    let mut req = match Request::read_head(Conn::new(&mut wire as &mut dyn Wire), far) {
        Ok(req) => req,
        Err(Unreadable::Silent) => return Err(None),
        Err(Unreadable::Answer { reply, .. }) => return Err(Some(reply.code)),
    };
    let body = match req.read_body() {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return Err(Some(413)),
        Err(BodyError::Bad) => return Err(Some(400)),
    };
    Ok(ParsedRequest {
        method: std::mem::take(&mut req.method),
        target: std::mem::take(&mut req.target),
        http10: req.http10,
        headers: std::mem::take(&mut req.headers),
        body,
    })
}

enum HeadError {
    Closed,
    /// Part of a head, then silence past the deadline: 408.
    Timeout,
    /// No end of the head within [`MAX_HEAD`]: 431.
    TooLarge,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads the request head up to and including its empty line, leaving what follows pending.
/// Empty lines before the request line are skipped.
fn head_bytes(conn: &mut Conn<'_>, deadline: Instant) -> Result<Vec<u8>, HeadError> {
    let mut searched: usize = 0;
    loop {
        while conn.pending().starts_with(b"\r\n") {
            conn.pos += 2;
            searched = 0;
        }
        let pending = conn.pending();
        let from = searched.saturating_sub(3);
        if let Some(i) = find(pending.get(from..).unwrap_or_default(), b"\r\n\r\n") {
            let end = from + i + 4;
            if end > MAX_HEAD {
                return Err(HeadError::TooLarge);
            }
            let head = pending[..end].to_vec();
            conn.pos += end;
            return Ok(head);
        }
        if pending.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        searched = pending.len();
        let started = !pending.is_empty();
        match conn.fill(deadline) {
            Ok(_) => {}
            Err(ReadError::Timeout) if started => return Err(HeadError::Timeout),
            Err(_) => return Err(HeadError::Closed),
        }
    }
}

/// The parts of a request head: method, target, HTTP/1.0?, header fields.
type Head = (String, String, bool, Vec<(String, String)>);

/// Parses a request head (ending in its empty line) strictly; errors are the reply to send.
fn parse_head(head: &[u8]) -> Result<Head, Reply> {
    let bad = |why: &str| Reply::text(400, why);
    // httparse also takes a bare LF as a line end; HTTP/1.1 servers must not (RFC 9112 §2.2).
    let bare = head.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => head.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || head[i - 1] != b'\r',
        _ => false,
    });
    if bare {
        return Err(bad("bad request: bare CR or LF"));
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(bad("bad request head")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Reply::text(431, "too many header fields"));
        }
        Err(httparse::Error::Version) if names_other_version(head) => {
            return Err(Reply::text(505, "HTTP version not supported"));
        }
        Err(httparse::Error::HeaderName) => return Err(bad("bad header field name")),
        Err(httparse::Error::HeaderValue) => return Err(bad("bad header field value")),
        Err(_) => return Err(bad("bad request line")),
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(bad("bad request line"));
    };
    if !target.starts_with('/') || !target.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(bad("bad request target"));
    }
    let http10 = version == 0;
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        if h.value
            .iter()
            .any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f)
        {
            return Err(bad("bad header field value"));
        }
        let value = String::from_utf8_lossy(h.value);
        headers.push((
            h.name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    check_host(&headers, http10).map_err(bad)?;
    Ok((method.to_string(), target.to_string(), http10, headers))
}

/// Whether the request line ends in a well-formed HTTP version other than 1.0 and 1.1.
fn names_other_version(head: &[u8]) -> bool {
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let v = line.rsplit(|b| *b == b' ').next().unwrap_or_default();
    v.len() == 8
        && v.starts_with(b"HTTP/")
        && v[5].is_ascii_digit()
        && v[6] == b'.'
        && v[7].is_ascii_digit()
}

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`, and no request has two; its
/// value is `uri-host [":" port]`.
fn check_host(headers: &[(String, String)], http10: bool) -> Result<(), &'static str> {
    let mut hosts = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("host"));
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => Err("duplicate Host header"),
        (None, None) if http10 => Ok(()),
        (None, None) => Err("missing Host header"),
        (Some((_, v)), None) => {
            let ok = v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b));
            if ok { Ok(()) } else { Err("bad Host header") }
        }
    }
}

/// The body framing and whether `100 Continue` is expected; errors are the reply to send.
fn framing(headers: &[(String, String)], http10: bool) -> Result<(Framing, bool), Reply> {
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

/// Reads one CRLF-terminated line of at most `max` bytes (without the CRLF).
fn read_line(conn: &mut Conn<'_>, deadline: Instant, max: usize) -> Result<Vec<u8>, BodyError> {
    loop {
        let pending = conn.pending();
        if let Some(i) = find(pending, b"\r\n") {
            if i > max {
                return Err(BodyError::Bad);
            }
            let line = pending[..i].to_vec();
            conn.pos += i + 2;
            return Ok(line);
        }
        if pending.len() > max + 1 {
            return Err(BodyError::Bad);
        }
        conn.fill(deadline).map_err(|_| BodyError::Bad)?;
    }
}

/// Appends exactly `n` more body bytes to `out`.
fn read_exact_into(
    conn: &mut Conn<'_>,
    out: &mut Vec<u8>,
    n: usize,
    deadline: Instant,
) -> Result<(), BodyError> {
    let mut left = n;
    loop {
        let pending = conn.pending();
        let take = pending.len().min(left);
        out.extend_from_slice(&pending[..take]);
        conn.pos += take;
        left -= take;
        if left == 0 {
            return Ok(());
        }
        conn.fill(deadline).map_err(|_| BodyError::Bad)?;
    }
}

/// Longest chunk-size line (size, extensions, CRLF) accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// Reads a chunk-size line with `httparse::parse_chunk_size`.
fn chunk_size(conn: &mut Conn<'_>, deadline: Instant) -> Result<u64, BodyError> {
    loop {
        let pending = conn.pending();
        let window = &pending[..pending.len().min(MAX_CHUNK_LINE)];
        match httparse::parse_chunk_size(window) {
            Ok(httparse::Status::Complete((used, size))) => {
                conn.pos += used;
                return Ok(size);
            }
            Ok(httparse::Status::Partial) if pending.len() < MAX_CHUNK_LINE => {
                conn.fill(deadline).map_err(|_| BodyError::Bad)?;
            }
            _ => return Err(BodyError::Bad),
        }
    }
}

/// Reads a chunked body of at most [`MAX_BODY`] bytes, and its trailer section.
fn read_chunked(conn: &mut Conn<'_>, deadline: Instant) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    loop {
        let size = chunk_size(conn, deadline)?;
        if size == 0 {
            break;
        }
        if size > (MAX_BODY - body.len()) as u64 {
            return Err(BodyError::TooLarge);
        }
        read_exact_into(conn, &mut body, size as usize, deadline)?;
        if !read_line(conn, deadline, 0)?.is_empty() {
            return Err(BodyError::Bad);
        }
    }
    let mut trailers = 0;
    loop {
        let line = read_line(conn, deadline, MAX_HEAD)?;
        if line.is_empty() {
            return Ok(body);
        }
        trailers += line.len() + 2;
        if trailers > MAX_HEAD {
            return Err(BodyError::Bad);
        }
    }
}
