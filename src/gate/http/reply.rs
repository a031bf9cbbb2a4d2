//! Responses: status line, fixed security headers, `Connection: close`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;

/// The reason phrase of a status code.
pub(super) fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Writes `reply` (status line, headers, and unless `head_only` the body).
pub(super) fn write_reply(stream: &TcpStream, reply: Reply, head_only: bool) -> io::Result<()> {
    let len = match &reply.body {
        Body::Bytes(b) => b.len() as u64,
        Body::File(f) => f.metadata()?.len(),
    };
    let mut headers = vec![
        ("Content-Type", reply.content_type.to_string()),
        ("Cache-Control", "no-store".to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
    ];
    for (k, v) in reply.headers {
        if let Some(slot) = headers.iter_mut().find(|(hk, _)| *hk == k) {
            slot.1 = v;
        } else {
            headers.push((k, v));
        }
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.code, reason(reply.code));
    for (k, v) in headers {
        if !v.bytes().any(|b| b == b'\r' || b == b'\n') {
            let _ = write!(head, "{k}: {v}\r\n");
        }
    }
    let _ = write!(head, "Content-Length: {len}\r\nConnection: close\r\n\r\n");
    let mut out = head.into_bytes();
    let mut w = stream;
    match reply.body {
        Body::Bytes(b) => {
            if !head_only {
                out.extend_from_slice(&b);
            }
            w.write_all(&out)?;
        }
        Body::File(f) => {
            w.write_all(&out)?;
            if !head_only {
                io::copy(&mut f.take(len), &mut w)?;
            }
        }
    }
    w.flush()
}

/// A response before it is written.
pub(super) struct Reply {
    pub(super) code: u16,
    pub(super) content_type: &'static str,
    pub(super) body: Body,
    pub(super) headers: Vec<(&'static str, String)>,
}

pub(super) enum Body {
    Bytes(Vec<u8>),
    File(File),
}

impl Reply {
    pub(super) fn text(code: u16, text: &str) -> Reply {
        Reply {
            code,
            content_type: "text/plain; charset=utf-8",
            body: Body::Bytes(format!("{text}\n").into_bytes()),
            headers: Vec::new(),
        }
    }

    pub(super) fn not_found() -> Reply {
        Reply::text(404, "not found")
    }

    pub(super) fn method_not_allowed(allow: &str) -> Reply {
        let mut r = Reply::text(405, "method not allowed");
        r.headers.push(("Allow", allow.to_string()));
        r
    }
}
