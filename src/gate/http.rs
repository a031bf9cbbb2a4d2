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
//! A small HTTP/1.1 server on std threads, one request per connection (`Connection: close`),
//! which is what probes, scrapers, Flux and webhook senders need. Request heads and chunk
//! sizes are parsed by `httparse` (hyper's parser, fuzzed upstream and here); the limits,
//! deadlines and the rules below are sigil's:
//!
//! - An accept thread hands each connection to a thread of its own, at most
//!   [`MAX_CONNECTIONS`] at once and at most [`MAX_CONNECTIONS_PER_PEER`] from one source IP
//!   address; beyond either bound a new connection is answered 503 at once and closed.
//!   Threads are bounded, and a slow or silent client holds only its own.
//! - Deadlines bound every client: the request head must arrive within 5 s of the accept
//!   (else 408), a body within 10 s of the head (else 400), and each write of the response
//!   must make progress within 10 s.
//! - The head is at most 16 KiB and 100 header fields (else 431). Obsolete line folding,
//!   invalid field names or values, a bare CR or LF, a target other than origin-form, an
//!   HTTP/1.1 request without exactly one valid `Host` (two in HTTP/1.0), duplicate
//!   `Content-Length` and `Content-Length` with `Transfer-Encoding` are 400; a transfer coding other than
//!   `chunked` is 501; HTTP versions other than 1.0 and 1.1 are 505; an `Expect` other than
//!   `100-continue` is 417.
//! - A declared `Content-Length` above [`MAX_BODY`] is answered 413 without reading the body;
//!   a chunked body is read up to [`MAX_BODY`] and answered 413 beyond. Bodies are read only
//!   by the webhook handler, after its cheap checks (secret configured, known source).
//! - When a response leaves request bytes unread, the server half-closes and drains at most
//!   256 KiB for at most 1 s before closing, so that the client reads the response rather
//!   than a connection reset; nothing is ever allocated to the size a client declares.
//! - Paths are matched strictly, without percent-decoding.
//! - Every reply is counted in `sigil_http_requests_total{handler,code}`: replies given before
//!   routing (malformed, too large, timed out) as `handler="invalid"`, the 503s of the accept
//!   thread as `handler="overload"`.
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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::state::{Shared, Triggers};

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

mod metrics;
mod page;
mod reply;
mod request;
mod routes;
#[cfg(test)]
mod tests;
mod transport;

use transport::{Inner, listen, lock_conns};

pub use metrics::render_metrics;
pub use page::render_html;
pub use request::{ParsedRequest, read_request};
