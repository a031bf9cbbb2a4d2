//! The gate's HTTP server: probes (`/livez`, `/readyz`), Prometheus metrics (`/metrics`),
//! status JSON (`/status`), a small HTML status page (`/`), Flux artifacts
//! (`/artifacts/<source>/<hex>.tar.gz`) and the sync webhook (`POST /hooks/<source>`).
//!
//! Webhooks are off unless a webhook secret is configured: without one every webhook gets
//! 403, with one every webhook must carry `X-Hub-Signature-256: sha256=<hex>` (GitHub) or
//! `X-Signature: sha256=<hex>` (generic, Flux convention) = HMAC-SHA256(secret, body), else 401.
//! A webhook only asks for a sync (coalesced by [`Triggers`]); it never carries data the gate
//! trusts.
//!
//! Request headers and bodies are never logged or echoed.
//!
//! # Transport
//!
//! A small std-only HTTP/1.1 server, one request per connection (`Connection: close`), which
//! is what probes, scrapers, Flux and webhook senders need:
//!
//! - An accept thread hands each connection to a thread of its own, at most
//!   [`MAX_CONNECTIONS`] at once and at most [`MAX_CONNECTIONS_PER_PEER`] from one source IP
//!   address; beyond either bound a new connection is answered 503 at once and closed.
//!   Threads are bounded, and a slow or silent client holds only its own.
//! - Deadlines bound every client: the request head must arrive within 5 s of the accept
//!   (else 408), a body within 10 s of the head (else 400), and each write of the response
//!   must make progress within 10 s.
//! - The head is at most 16 KiB and 100 header fields (else 431). Obsolete line folding,
//!   invalid field names or values, a bare CR or LF, duplicate `Content-Length` and
//!   `Content-Length` with `Transfer-Encoding` are 400; a transfer coding other than
//!   `chunked` is 501; HTTP versions other than 1.0 and 1.1 are 505; an `Expect` other than
//!   `100-continue` is 417.
//! - A declared `Content-Length` above [`MAX_BODY`] is answered 413 without reading the body;
//!   a chunked body is read up to [`MAX_BODY`] and answered 413 beyond. Bodies are read only
//!   by the webhook handler, after its cheap checks (secret configured, known source).
//! - When a response leaves request bytes unread, the server half-closes and drains at most
//!   256 KiB for at most 1 s before closing, so that the client reads the response rather
//!   than a connection reset; nothing is ever allocated to the size a client declares.
//! - Paths are matched strictly, without percent-decoding.
//!
//! # Probes
//!
//! Probes must not be starved by other clients, and a per-peer bound alone cannot promise
//! that: the kubelet comes from one address (the node's) that other clients may share, and
//! every loopback client is 127.0.0.1. So `http.probeBind` (like controller-runtime's
//! health-probe bind address) opens a second listener serving only `/livez` and `/readyz`,
//! with its own [`MAX_PROBE_CONNECTIONS`] connections and the same deadlines and size
//! limits: connections to the main listener never take its slots. Without `probeBind` the
//! probes are answered on the main listener only, as every other route.
//!
//! [`ServerHandle::stop`] closes the listeners, shuts down the open connections and waits (at
//! most 2 s) for their threads to finish.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::state::{DURATION_BUCKETS, GateState, Shared, SourceState, Triggers};
use crate::sops::time::now_unix;

/// Largest webhook body accepted (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

/// Connections served at once (one thread each); beyond, new connections get 503.
pub const MAX_CONNECTIONS: usize = 256;

/// Connections one source IP address may hold at once on the main listener, so that a
/// single client cannot take every slot; beyond, its new connections get 503.
pub const MAX_CONNECTIONS_PER_PEER: usize = 32;

/// Connections the probe listener (`http.probeBind`) serves at once.
pub const MAX_PROBE_CONNECTIONS: usize = 64;

/// Largest request head (request line and header fields).
const MAX_HEAD: usize = 16 << 10;

/// Most header fields in a request.
const MAX_HEADERS: usize = 100;

/// Time from the accept to the end of the request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Time from the end of the head to the end of the body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a single write of the response may wait for the client.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bounds on draining unread request bytes before closing.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 << 10;

/// Longest [`ServerHandle::stop`] waits for each of the accept thread and the connections.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Stack of a connection thread (handlers keep their data on the heap).
const THREAD_STACK: usize = 512 << 10;

/// Server settings.
pub struct ServerConfig {
    /// Address to bind, e.g. `127.0.0.1:8080` (`:0` picks a free port).
    pub bind: String,
    /// Address of the listener serving only `/livez` and `/readyz` (see "Probes" above).
    pub probe_bind: Option<String>,
    /// HMAC key for webhooks; `None` turns webhooks off (403).
    pub webhook_secret: Option<Zeroizing<Vec<u8>>>,
    /// Directory holding `<source>/<hex>.tar.gz` artifacts.
    pub artifacts_dir: PathBuf,
}

/// A running server; [`ServerHandle::stop`] shuts it down.
pub struct ServerHandle {
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: Option<JoinHandle<()>>,
    probes: Option<Box<ServerHandle>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the probe listener, when `probe_bind` was given.
    pub fn probe_addr(&self) -> Option<SocketAddr> {
        self.probes.as_ref().map(|p| p.addr)
    }

    /// Closes the listeners, shuts down open connections and waits for their threads.
    pub fn stop(mut self) {
        if let Some(probes) = self.probes.take() {
            probes.stop();
        }
        self.inner.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            // Unblock `accept`; the accept thread sees the flag and drops the listener.
            wake(self.addr);
            let deadline = Instant::now() + STOP_WAIT;
            while !accept.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if accept.is_finished() {
                let _ = accept.join();
            }
        }
        let conns = lock_conns(&self.inner);
        for stream in conns.open.values().filter_map(|(_, s)| s.as_ref()) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let _ = self
            .inner
            .idle
            .wait_timeout_while(conns, STOP_WAIT, |c| !c.open.is_empty());
    }
}

/// Connects to the listener so that a blocked `accept` returns.
fn wake(addr: SocketAddr) {
    let ip = match addr.ip() {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let _ = TcpStream::connect_timeout(&SocketAddr::new(ip, addr.port()), Duration::from_secs(1));
}

struct Ctx {
    shared: Shared,
    triggers: Arc<Triggers>,
    secret: Option<Zeroizing<Vec<u8>>>,
    artifacts_dir: PathBuf,
    /// The probe listener: every route but `/livez` and `/readyz` is 404.
    probes_only: bool,
}

/// Transport limits (tests lower them).
#[derive(Clone, Copy)]
struct Limits {
    max_connections: usize,
    max_per_peer: usize,
    head_timeout: Duration,
}

impl Limits {
    const MAIN: Limits = Limits {
        max_connections: MAX_CONNECTIONS,
        max_per_peer: MAX_CONNECTIONS_PER_PEER,
        head_timeout: HEAD_TIMEOUT,
    };
    /// The probe listener's: its own pool, no per-peer bound (the kubelet is one peer).
    const PROBES: Limits = Limits {
        max_connections: MAX_PROBE_CONNECTIONS,
        max_per_peer: MAX_PROBE_CONNECTIONS,
        head_timeout: HEAD_TIMEOUT,
    };
}

struct Inner {
    ctx: Ctx,
    limits: Limits,
    stop: AtomicBool,
    conns: Mutex<Conns>,
    /// Signalled when the last connection ends.
    idle: Condvar,
}

/// Open connections: the peer's address and a clone of each stream (if one could be made),
/// so `stop` can shut them down; and how many each peer holds.
#[derive(Default)]
struct Conns {
    next_id: u64,
    open: HashMap<u64, (IpAddr, Option<TcpStream>)>,
    per_peer: HashMap<IpAddr, usize>,
}

fn lock_conns(inner: &Inner) -> MutexGuard<'_, Conns> {
    inner.conns.lock().unwrap_or_else(|p| p.into_inner())
}

/// Binds `cfg.bind` (and `cfg.probe_bind`) and serves on background threads.
pub fn start(
    cfg: ServerConfig,
    shared: Shared,
    triggers: Arc<Triggers>,
) -> Result<ServerHandle, String> {
    start_with(cfg, shared, triggers, Limits::MAIN)
}

fn start_with(
    cfg: ServerConfig,
    shared: Shared,
    triggers: Arc<Triggers>,
    limits: Limits,
) -> Result<ServerHandle, String> {
    let probes = match &cfg.probe_bind {
        Some(bind) => {
            let ctx = Ctx {
                shared: Arc::clone(&shared),
                triggers: Arc::clone(&triggers),
                secret: None,
                artifacts_dir: PathBuf::new(),
                probes_only: true,
            };
            Some(Box::new(listen(bind, ctx, Limits::PROBES)?))
        }
        None => None,
    };
    let ctx = Ctx {
        shared,
        triggers,
        secret: cfg.webhook_secret,
        artifacts_dir: cfg.artifacts_dir,
        probes_only: false,
    };
    let mut main = match listen(&cfg.bind, ctx, limits) {
        Ok(h) => h,
        Err(e) => {
            if let Some(p) = probes {
                p.stop();
            }
            return Err(e);
        }
    };
    main.probes = probes;
    Ok(main)
}

/// One listener and its accept thread.
fn listen(bind: &str, ctx: Ctx, limits: Limits) -> Result<ServerHandle, String> {
    let listener = TcpListener::bind(bind).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let inner = Arc::new(Inner {
        ctx,
        limits,
        stop: AtomicBool::new(false),
        conns: Mutex::new(Conns::default()),
        idle: Condvar::new(),
    });
    let a_inner = Arc::clone(&inner);
    let accept = std::thread::Builder::new()
        .name("sigil-http-accept".to_string())
        .spawn(move || accept_loop(&listener, &a_inner))
        .map_err(|e| format!("cannot start HTTP accept thread: {e}"))?;
    Ok(ServerHandle {
        addr,
        inner,
        accept: Some(accept),
        probes: None,
    })
}

fn accept_loop(listener: &TcpListener, inner: &Arc<Inner>) {
    loop {
        let accepted = listener.accept();
        if inner.stop.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => spawn_connection(inner, stream, peer.ip().to_canonical()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) => {}
            // E.g. out of file descriptors: avoid a hot loop.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Removes a connection from [`Conns`] when its thread ends (even by a panic).
struct ConnGuard {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut conns = lock_conns(&self.inner);
        if let Some((peer, _)) = conns.open.remove(&self.id)
            && let Some(n) = conns.per_peer.get_mut(&peer)
        {
            *n -= 1;
            if *n == 0 {
                conns.per_peer.remove(&peer);
            }
        }
        if conns.open.is_empty() {
            self.inner.idle.notify_all();
        }
    }
}

fn spawn_connection(inner: &Arc<Inner>, stream: TcpStream, peer: IpAddr) {
    let id = {
        let mut conns = lock_conns(inner);
        let held = conns.per_peer.get(&peer).copied().unwrap_or(0);
        if conns.open.len() >= inner.limits.max_connections || held >= inner.limits.max_per_peer {
            drop(conns);
            return busy(&stream);
        }
        let id = conns.next_id;
        conns.next_id += 1;
        conns.open.insert(id, (peer, stream.try_clone().ok()));
        *conns.per_peer.entry(peer).or_default() += 1;
        id
    };
    let guard = ConnGuard {
        inner: Arc::clone(inner),
        id,
    };
    let spawned = std::thread::Builder::new()
        .name("sigil-http".to_string())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            connection(&guard.inner, &stream);
            drop(guard);
        });
    // On failure the closure, the stream and the guard are dropped: the connection closes.
    let _ = spawned;
}

/// Answers 503 on the accept thread, without reading the request (best effort).
fn busy(stream: &TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = write_reply(stream, Reply::text(503, "too many connections"), false);
    let _ = stream.shutdown(Shutdown::Write);
    // Read what already arrived so the close is less likely to be a reset.
    if stream.set_nonblocking(true).is_ok() {
        let mut buf = [0u8; 4096];
        for _ in 0..4 {
            match (&*stream).read(&mut buf) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }
}

/// A connection's bytes read so far: `buf[pos..]` is not consumed yet.
struct Conn<'a> {
    stream: &'a TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

enum ReadError {
    /// The peer closed the connection.
    Eof,
    /// The deadline passed.
    Timeout,
    /// Any other I/O error.
    Io,
}

impl Conn<'_> {
    fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Reads more bytes (at most 8 KiB), waiting until `deadline` at most.
    fn fill(&mut self, deadline: Instant) -> Result<usize, ReadError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Timeout);
        }
        if self.stream.set_read_timeout(Some(left)).is_err() {
            return Err(ReadError::Io);
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos >= 8192 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 8192];
        loop {
            match (&*self.stream).read(&mut chunk) {
                Ok(0) => return Err(ReadError::Eof),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ReadError::Timeout);
                }
                Err(_) => return Err(ReadError::Io),
            }
        }
    }

    /// Reads the request head (without its final empty line), leaving what follows pending.
    /// Empty lines before the request line are skipped.
    fn read_head(&mut self, deadline: Instant) -> Result<Vec<u8>, HeadError> {
        let mut searched: usize = 0;
        loop {
            while self.pending().starts_with(b"\r\n") {
                self.pos += 2;
                searched = 0;
            }
            let pending = self.pending();
            let from = searched.saturating_sub(3);
            if let Some(i) = find(pending.get(from..).unwrap_or_default(), b"\r\n\r\n") {
                let end = from + i;
                if end + 4 > MAX_HEAD {
                    return Err(HeadError::TooLarge);
                }
                let head = pending[..end].to_vec();
                self.pos += end + 4;
                return Ok(head);
            }
            if pending.len() >= MAX_HEAD {
                return Err(HeadError::TooLarge);
            }
            searched = pending.len();
            let started = !pending.is_empty();
            match self.fill(deadline) {
                Ok(_) => {}
                Err(ReadError::Timeout) if started => return Err(HeadError::Timeout),
                Err(_) => return Err(HeadError::Closed),
            }
        }
    }

    /// Reads one CRLF-terminated line of at most `max` bytes (without the CRLF).
    fn read_line(&mut self, deadline: Instant, max: usize) -> Result<Vec<u8>, BodyError> {
        loop {
            let pending = self.pending();
            if let Some(i) = find(pending, b"\r\n") {
                if i > max {
                    return Err(BodyError::Bad);
                }
                let line = pending[..i].to_vec();
                self.pos += i + 2;
                return Ok(line);
            }
            if pending.len() > max + 1 {
                return Err(BodyError::Bad);
            }
            self.fill(deadline).map_err(|_| BodyError::Bad)?;
        }
    }

    /// Appends exactly `n` more body bytes to `out`.
    fn read_exact_into(
        &mut self,
        out: &mut Vec<u8>,
        n: usize,
        deadline: Instant,
    ) -> Result<(), BodyError> {
        let mut left = n;
        loop {
            let pending = self.pending();
            let take = pending.len().min(left);
            out.extend_from_slice(&pending[..take]);
            self.pos += take;
            left -= take;
            if left == 0 {
                return Ok(());
            }
            self.fill(deadline).map_err(|_| BodyError::Bad)?;
        }
    }

    /// Reads a chunked body of at most [`MAX_BODY`] bytes, and its trailer section.
    fn read_chunked(&mut self, deadline: Instant) -> Result<Vec<u8>, BodyError> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line(deadline, 1024)?;
            let size = line.split(|b| *b == b';').next().unwrap_or_default();
            let size = size
                .strip_suffix(b" ")
                .or_else(|| size.strip_suffix(b"\t"))
                .unwrap_or(size);
            if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
                return Err(BodyError::Bad);
            }
            let size = std::str::from_utf8(size)
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or(BodyError::Bad)?;
            if size == 0 {
                break;
            }
            if size > (MAX_BODY - body.len()) as u64 {
                return Err(BodyError::TooLarge);
            }
            self.read_exact_into(&mut body, size as usize, deadline)?;
            if !self.read_line(deadline, 0)?.is_empty() {
                return Err(BodyError::Bad);
            }
        }
        let mut trailers = 0;
        loop {
            let line = self.read_line(deadline, MAX_HEAD)?;
            if line.is_empty() {
                return Ok(body);
            }
            trailers += line.len() + 2;
            if trailers > MAX_HEAD {
                return Err(BodyError::Bad);
            }
        }
    }

    /// Reads and discards unread request bytes, bounded, after a half-close.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match self.fill(deadline) {
                Ok(n) => {
                    drained += n;
                    self.pos = self.buf.len();
                }
                Err(_) => break,
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

enum HeadError {
    /// Closed, failed or silent before a single byte: no answer.
    Closed,
    /// Part of a head, then silence past the deadline: 408.
    Timeout,
    /// No end of the head within [`MAX_HEAD`]: 431.
    TooLarge,
}

enum BodyError {
    /// Beyond [`MAX_BODY`]: 413.
    TooLarge,
    /// Malformed, truncated, timed out: 400.
    Bad,
}

/// How the request body is framed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head and the connection its body (if any) is read from.
struct Request<'a> {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    framing: Framing,
    expect_continue: bool,
    conn: Conn<'a>,
    /// Whether the body was read to its end.
    body_read: bool,
}

impl Request<'_> {
    /// Reads the whole body (at most [`MAX_BODY`] bytes); answers `Expect: 100-continue`.
    fn read_body(&mut self) -> Result<Vec<u8>, BodyError> {
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
    fn unread(&self) -> bool {
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
fn parse_head(head: &[u8]) -> Result<Head, Reply> {
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

/// Serves the one request of a connection.
fn connection(inner: &Inner, stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        pos: 0,
    };
    let head = match conn.read_head(Instant::now() + inner.limits.head_timeout) {
        Ok(head) => head,
        Err(HeadError::Closed) => return,
        Err(HeadError::Timeout) => {
            let _ = write_reply(stream, Reply::text(408, "request timeout"), false);
            return;
        }
        Err(HeadError::TooLarge) => {
            let _ = write_reply(stream, Reply::text(431, "request head too large"), false);
            return conn.linger();
        }
    };
    let parsed = parse_head(&head).and_then(|(method, target, http10, headers)| {
        let (framing, expect) = framing(&headers, http10)?;
        Ok((method, target, headers, framing, expect))
    });
    let (method, target, headers, framing, expect_continue) = match parsed {
        Ok(p) => p,
        Err(reply) => {
            let _ = write_reply(stream, reply, false);
            return conn.linger();
        }
    };
    let mut req = Request {
        method,
        target,
        headers,
        framing,
        expect_continue,
        conn,
        body_read: false,
    };
    let head_only = req.method == "HEAD";
    let reply = handle(&inner.ctx, &mut req);
    let _ = write_reply(stream, reply, head_only);
    if req.unread() {
        req.conn.linger();
    }
}

/// The reason phrase of a status code.
fn reason(code: u16) -> &'static str {
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
fn write_reply(stream: &TcpStream, reply: Reply, head_only: bool) -> io::Result<()> {
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
struct Reply {
    code: u16,
    content_type: &'static str,
    body: Body,
    headers: Vec<(&'static str, String)>,
}

enum Body {
    Bytes(Vec<u8>),
    File(File),
}

impl Reply {
    fn text(code: u16, text: &str) -> Reply {
        Reply {
            code,
            content_type: "text/plain; charset=utf-8",
            body: Body::Bytes(format!("{text}\n").into_bytes()),
            headers: Vec::new(),
        }
    }

    fn not_found() -> Reply {
        Reply::text(404, "not found")
    }

    fn method_not_allowed(allow: &str) -> Reply {
        let mut r = Reply::text(405, "method not allowed");
        r.headers.push(("Allow", allow.to_string()));
        r
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, GateState> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

fn header<'a>(req: &'a Request, name: &'static str) -> Option<&'a str> {
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
fn handle(ctx: &Ctx, req: &mut Request) -> Reply {
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

fn count(ctx: &Ctx, handler: &str, code: u16) {
    *lock(&ctx.shared)
        .metrics
        .http_requests
        .entry((handler.to_string(), code))
        .or_default() += 1;
}

fn livez(ctx: &Ctx) -> Reply {
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

fn readyz(ctx: &Ctx) -> Reply {
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
    kind: &'static str,
    generated_at: String,
    ready: bool,
    sources: &'a [SourceState],
}

fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn status(ctx: &Ctx) -> Reply {
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
fn safe_name(name: &str) -> bool {
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

fn artifact(ctx: &Ctx, path: &str) -> Reply {
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

fn hex_decode(s: &str) -> Option<Vec<u8>> {
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

fn webhook(ctx: &Ctx, path: &str, req: &mut Request) -> Reply {
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

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
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
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
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
        "HTTP requests served by handler and status code.",
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

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
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

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
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
                    esc(short(&p.commit)),
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
                    "published" | "unchanged" => "ok",
                    _ => "bad",
                };
                let _ = write!(
                    h,
                    "<tr><th>Last attempt</th><td><span class=\"{class}\">{}</span> {} \
at {} ({:.2}s) {}</td></tr>",
                    esc(a.result),
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
                    opt(r.commit.as_deref().map(short)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::state::{Attempt, ImageSummary, Published};
    use std::io::Write;
    use std::net::TcpStream;
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

    fn attempt(result: &'static str, commit: &str, message: &str) -> Attempt {
        Attempt {
            commit: Some(commit.to_string()),
            at: "2026-01-01T00:00:00Z".to_string(),
            result,
            reason: (result == "refused").then(|| "untrusted-key".to_string()),
            check: (result == "refused").then(|| "commits".to_string()),
            subject: (result == "refused").then(|| commit.to_string()),
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
            attempt("published", "aa", ""),
            Some(published("aa")),
        );
        let r = get(f.addr, "/readyz");
        assert_eq!(r.code, 503);
        assert!(r.text().contains("stage") && !r.text().contains("prod"));
        f.shared.lock().unwrap().record(
            "stage",
            attempt("published", "bb", ""),
            Some(published("bb")),
        );
        assert_eq!(get(f.addr, "/readyz").code, 200);
        // A later refusal keeps serving the last good revision: still ready.
        f.shared
            .lock()
            .unwrap()
            .record("stage", attempt("refused", "cc", "no"), None);
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
                attempt("published", "aa11", ""),
                Some(published("aa11")),
            );
            st.record("prod", attempt("refused", "bb22", "nope"), None);
            let mut slow = attempt("error", "cc33", "fetch failed");
            slow.duration_seconds = 100.0;
            st.record("stage", slow, None);
            st.record("we\"ird\\name\nx", attempt("unchanged", "dd", ""), None);
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
        f.shared
            .lock()
            .unwrap()
            .record("prod", attempt("refused", "bb22", "nope"), None);
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
                attempt("published", "aa11", ""),
                Some(published("aa11")),
            );
            let mut a = attempt("refused", "bb22", "<script>alert(1)</script>");
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
            format!(
                "POST /hooks/prod HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\nabc"
            )
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
                format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n")
                    .as_bytes(),
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
                format!(
                    "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1099511627776\r\n\r\nabc"
                )
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
                "POST /hooks/prod HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                501,
            ),
            (
                "POST /hooks/prod HTTP/1.1\r\nExpect: x\r\nContent-Length: 0\r\n\r\n",
                417,
            ),
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
}
