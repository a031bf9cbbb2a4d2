//! Refreshing the Sigstore trust root through TUF, with `tough`: the root chain is walked from
//! a trusted `root.json` (Sigstore's, pinned into the binary, unless another is given), then
//! timestamp, snapshot and targets are verified (signatures and thresholds, versions against
//! what the datastore saw last, hashes and lengths, expiry), and the `trusted_root.json` target
//! is read and checked against its hashes. Fetches go through sigil's one HTTP client.

use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tough::{
    IntoVec, RepositoryLoader, TargetName, Transport, TransportError, TransportErrorKind,
    TransportStream,
};

use super::trust_root::TrustRoot;

/// Sigstore's public-good TUF repository.
pub const SIGSTORE_TUF_URL: &str = "https://tuf-repo-cdn.sigstore.dev";

/// Sigstore's TUF `root.json` (version 15), pinned: the start of the root chain.
pub const SIGSTORE_TUF_ROOT: &[u8] = include_bytes!("roots/sigstore-tuf-root-v15.json");

/// The target that holds the trust root.
const TARGET: &str = "trusted_root.json";

/// Largest response read for any metadata or target file.
const MAX_FILE: u64 = 16 << 20;

/// Why an update failed.
#[derive(Debug, thiserror::Error)]
pub enum TufError {
    /// The repository's metadata did not verify (signature, threshold, version rollback, hash,
    /// length, expiry, mix-and-match) or could not be fetched.
    #[error("TUF: {0}")]
    Refused(String),
    /// The verified target is not a usable trust root.
    #[error("the TUF target {TARGET} is not a usable trust root: {0}")]
    BadTarget(String),
    /// Local trouble (the datastore directory, a runtime).
    #[error("{0}")]
    Local(String),
}

/// What to update from.
pub struct Source<'a> {
    /// The repository's base URL (metadata at `URL/`, targets at `URL/targets/`).
    pub url: &'a str,
    /// The trusted `root.json` the chain starts from.
    pub root: &'a [u8],
    /// Where verified metadata is kept between runs (rollback protection).
    pub datastore: &'a Path,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// A verified trust root fetched through TUF.
pub struct Fetched {
    /// The `trusted_root.json` bytes (hash-checked against targets metadata).
    pub json: Vec<u8>,
    /// The parsed trust root.
    pub root: TrustRoot,
    /// Versions of the metadata that vouched for it: root, timestamp, snapshot, targets.
    pub versions: [u64; 4],
}

/// Runs the TUF client workflow and returns the verified `trusted_root.json`.
pub fn fetch_trusted_root(src: &Source<'_>) -> Result<Fetched, TufError> {
    let base = src.url.trim_end_matches('/');
    let parse = |u: String| {
        url::Url::parse(&u).map_err(|e| TufError::Local(format!("bad TUF URL {u:?}: {e}")))
    };
    let metadata = parse(format!("{base}/"))?;
    let targets = parse(format!("{base}/targets/"))?;
    std::fs::create_dir_all(src.datastore).map_err(|e| {
        TufError::Local(format!(
            "cannot create the TUF datastore {}: {e}",
            src.datastore.display()
        ))
    })?;
    let transport = HttpTransport {
        agent: crate::http::agent(ureq::tls::RootCerts::PlatformVerifier, src.timeout, 3),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| TufError::Local(format!("async runtime: {e}")))?;
    runtime.block_on(async {
        let repo = RepositoryLoader::new(&src.root, metadata, targets)
            .transport(transport)
            .datastore(src.datastore)
            .load()
            .await
            .map_err(|e| TufError::Refused(chain(&e)))?;
        let name = TargetName::new(TARGET).map_err(|e| TufError::Local(e.to_string()))?;
        let stream = repo
            .read_target(&name)
            .await
            .map_err(|e| TufError::Refused(chain(&e)))?
            .ok_or_else(|| TufError::Refused(format!("the repository lists no {TARGET}")))?;
        let json = stream
            .into_vec()
            .await
            .map_err(|e| TufError::Refused(chain(&e)))?;
        let root = TrustRoot::from_json(&json).map_err(|e| TufError::BadTarget(e.to_string()))?;
        let versions = [
            repo.root().signed.version.get(),
            repo.timestamp().signed.version.get(),
            repo.snapshot().signed.version.get(),
            repo.targets().signed.version.get(),
        ];
        Ok(Fetched {
            json,
            root,
            versions,
        })
    })
}

/// An error with its causes, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// tough's transport over sigil's HTTP client: one blocking GET per file, capped in size.
#[derive(Debug, Clone)]
struct HttpTransport {
    agent: ureq::Agent,
}

#[async_trait::async_trait]
impl Transport for HttpTransport {
    async fn fetch(&self, url: url::Url) -> Result<TransportStream, TransportError> {
        let fail = |kind, e: String| TransportError::new_with_cause(kind, url.as_str(), e);
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::new(
                TransportErrorKind::UnsupportedUrlScheme,
                url.as_str(),
            ));
        }
        let reply = self
            .agent
            .get(url.as_str())
            .call()
            .map_err(|e| fail(TransportErrorKind::Other, e.to_string()))?;
        let status = reply.status().as_u16();
        if status == 404 || status == 403 {
            // S3-style servers answer 403 for a missing object.
            return Err(TransportError::new(
                TransportErrorKind::FileNotFound,
                url.as_str(),
            ));
        }
        if status != 200 {
            return Err(fail(TransportErrorKind::Other, format!("HTTP {status}")));
        }
        let body = reply
            .into_body()
            .into_with_config()
            .limit(MAX_FILE)
            .read_to_vec()
            .map_err(|e| fail(TransportErrorKind::Other, e.to_string()))?;
        Ok(Box::pin(OneChunk(Some(Bytes::from(body)))))
    }
}

/// A stream of one chunk.
struct OneChunk(Option<Bytes>);

impl futures_core::Stream for OneChunk {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take().map(Ok))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pinned_tuf_root_is_sigstores() {
        let v: serde_json::Value = serde_json::from_slice(super::SIGSTORE_TUF_ROOT).unwrap();
        assert_eq!(v["signed"]["_type"], "root");
        assert_eq!(v["signed"]["version"], 15);
        assert_eq!(v["signed"]["roles"]["root"]["threshold"], 3);
    }
}
