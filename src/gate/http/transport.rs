//! Listeners, connection slots (global and per peer), reading with deadlines, lingering close.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::reply::{Reply, write_reply};
use super::request::{Request, Unreadable};
use super::routes::{count, handle};
use super::{Ctx, LINGER, LINGER_BYTES, Limits, ServerHandle, THREAD_STACK, WRITE_TIMEOUT};

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
            count(&inner.ctx, "overload", 503);
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

/// Where a connection's bytes come from: the socket (with deadlines), or a byte string.
pub(super) trait Wire {
    /// Reads what is available into `buf`, waiting until `deadline` at most.
    fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, ReadError>;
    /// Writes an interim response (`100 Continue`).
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl Wire for &TcpStream {
    fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, ReadError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Timeout);
        }
        if self.set_read_timeout(Some(left)).is_err() {
            return Err(ReadError::Io);
        }
        loop {
            match self.read(buf) {
                Ok(0) => return Err(ReadError::Eof),
                Ok(n) => return Ok(n),
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

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)
    }
}

/// A whole input at once (fuzzing and tests): its end is the peer closing.
impl Wire for &[u8] {
    fn read_by(&mut self, buf: &mut [u8], _: Instant) -> Result<usize, ReadError> {
        match self.read(buf) {
            Ok(0) | Err(_) => Err(ReadError::Eof),
            Ok(n) => Ok(n),
        }
    }

    fn send(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

/// A connection's bytes read so far: `buf[pos..]` is not consumed yet.
pub(super) struct Conn<'a> {
    pub(super) wire: &'a mut dyn Wire,
    buf: Vec<u8>,
    pub(super) pos: usize,
}

pub(super) enum ReadError {
    /// The peer closed the connection.
    Eof,
    /// The deadline passed.
    Timeout,
    /// Any other I/O error.
    Io,
}

impl<'a> Conn<'a> {
    pub(super) fn new(wire: &'a mut dyn Wire) -> Conn<'a> {
        Conn {
            wire,
            buf: Vec::new(),
            pos: 0,
        }
    }

    pub(super) fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Reads more bytes (at most 8 KiB), waiting until `deadline` at most.
    pub(super) fn fill(&mut self, deadline: Instant) -> Result<usize, ReadError> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos >= 8192 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 8192];
        let n = self.wire.read_by(&mut chunk, deadline)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}

/// Half-closes, then reads and discards unread request bytes (bounded) before the close.
fn linger(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut drained = 0;
    let mut wire = stream;
    let mut chunk = [0u8; 8192];
    while drained < LINGER_BYTES {
        match wire.read_by(&mut chunk, deadline) {
            Ok(n) => drained += n,
            Err(_) => break,
        }
    }
}

/// Serves the one request of a connection.
pub(super) fn connection(inner: &Inner, stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut wire = stream;
    let deadline = Instant::now() + inner.limits.head_timeout;
    let mut req = match Request::read_head(Conn::new(&mut wire), deadline) {
        Ok(req) => req,
        Err(Unreadable::Silent) => return,
        Err(Unreadable::Answer {
            reply,
            linger: then,
        }) => {
            count(&inner.ctx, "invalid", reply.code);
            let _ = write_reply(stream, reply, false);
            if then {
                linger(stream);
            }
            return;
        }
    };
    let head_only = req.method == "HEAD";
    let reply = handle(&inner.ctx, &mut req);
    let unread = req.unread();
    drop(req);
    let _ = write_reply(stream, reply, head_only);
    if unread {
        linger(stream);
    }
}
