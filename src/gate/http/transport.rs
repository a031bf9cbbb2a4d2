//! Listeners, connection slots (global and per peer), reading with deadlines, lingering close.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::reply::{Reply, write_reply};
use super::request::{BodyError, HeadError, Request, framing, parse_head};
use super::routes::handle;
use super::{
    Ctx, LINGER, LINGER_BYTES, Limits, MAX_BODY, MAX_HEAD, ServerHandle, THREAD_STACK,
    WRITE_TIMEOUT,
};

pub(super) struct Inner {
    pub(super) ctx: Ctx,
    pub(super) limits: Limits,
    pub(super) stop: AtomicBool,
    pub(super) conns: Mutex<Conns>,
    /// Signalled when the last connection ends.
    pub(super) idle: Condvar,
}

/// Open connections: the peer's address and a clone of each stream (if one could be made),
/// so `stop` can shut them down; and how many each peer holds.
#[derive(Default)]
pub(super) struct Conns {
    next_id: u64,
    pub(super) open: HashMap<u64, (IpAddr, Option<TcpStream>)>,
    pub(super) per_peer: HashMap<IpAddr, usize>,
}

pub(super) fn lock_conns(inner: &Inner) -> MutexGuard<'_, Conns> {
    inner.conns.lock().unwrap_or_else(|p| p.into_inner())
}

/// One listener and its accept thread.
pub(super) fn listen(bind: &str, ctx: Ctx, limits: Limits) -> Result<ServerHandle, String> {
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
    pub(super) inner: Arc<Inner>,
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
pub(super) struct Conn<'a> {
    pub(super) stream: &'a TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

pub(super) enum ReadError {
    /// The peer closed the connection.
    Eof,
    /// The deadline passed.
    Timeout,
    /// Any other I/O error.
    Io,
}

impl Conn<'_> {
    pub(super) fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Reads more bytes (at most 8 KiB), waiting until `deadline` at most.
    pub(super) fn fill(&mut self, deadline: Instant) -> Result<usize, ReadError> {
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
    pub(super) fn read_exact_into(
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
    pub(super) fn read_chunked(&mut self, deadline: Instant) -> Result<Vec<u8>, BodyError> {
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

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Serves the one request of a connection.
pub(super) fn connection(inner: &Inner, stream: &TcpStream) {
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
