//! A throw-away Debian `docker-registry` (distribution 2.8, no referrers API) on a random
//! 127.0.0.1 port, and `sigil verify images --format json` run against it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sigil::image::registry::{Client, ClientOptions, OCI_MANIFEST};

use super::{Scratch, run, sigil};

/// A throw-away registry, killed on drop.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub host: String,
    /// A docker config dir with this registry's credentials (registries with basic auth).
    pub docker_config: Option<std::path::PathBuf>,
    _dir: tempfile::TempDir,
    _keys: Option<tempfile::TempDir>,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// A registry requiring HTTP basic auth (htpasswd, bcrypt) for `user`/`password`; the
    /// credentials are written to a docker `config.json` in `docker_config`.
    pub fn start_with_basic_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password)))
    }

    fn start_with_config(auth_config: &str) -> Registry {
        Registry::start_inner(None, auth_config)
    }

    fn start_with(auth: Option<(&str, &str)>) -> Registry {
        Registry::start_inner(auth, "")
    }

    fn start_inner(auth: Option<(&str, &str)>, extra_config: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let mut auth_config = extra_config.to_string();
        let mut docker_config = None;
        if let Some((user, password)) = auth {
            let htpasswd = dir.path().join("htpasswd");
            let ok = Command::new("htpasswd")
                .args(["-Bbc"])
                .arg(&htpasswd)
                .args([user, password])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("htpasswd (Debian package apache2-utils; scripts/peers.sh installs it)");
            assert!(ok.success());
            auth_config = format!(
                "auth:\n  htpasswd:\n    realm: sigil-test\n    path: {}\n",
                htpasswd.display()
            );
            let conf = dir.path().join("docker");
            std::fs::create_dir_all(&conf).unwrap();
            use base64::Engine;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            docker_config = Some((conf, token));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{auth_config}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let docker_config = docker_config.map(|(conf, token)| {
            std::fs::write(
                conf.join("config.json"),
                format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{token}\"}}}}}}"),
            )
            .unwrap();
            conf
        });
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "docker-registry (Debian package docker-registry; scripts/peers.sh installs it)",
            );
        let started = Instant::now();
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            host,
            docker_config,
            _dir: dir,
            _keys: None,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(ClientOptions {
            insecure: vec!["127.0.0.1:*".into()],
            docker_config_dir: self.docker_config.clone(),
            ..ClientOptions::default()
        })
        .unwrap()
    }

    /// Pushes a small OCI image under `repo:tag`; returns its digest.
    pub fn push_image(&self, repo: &str, tag: &str, content: &str) -> String {
        let c = self.client();
        let layer = format!("layer of {content}").into_bytes();
        let layer_digest = c.push_blob(&self.host, repo, &layer).unwrap();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))
        .unwrap();
        let config_digest = c.push_blob(&self.host, repo, &config).unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": layer.len(), "digest": layer_digest}],
        }))
        .unwrap();
        c.push_manifest(&self.host, repo, tag, OCI_MANIFEST, &manifest)
            .unwrap()
    }

    /// Deletes a blob from `repo` (the registry runs with `delete: enabled`): later GETs of
    /// it answer 404, so a verification that still passes never fetched it.
    pub fn delete_blob(&self, repo: &str, digest: &str) {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(&self.host).unwrap();
        write!(
            conn,
            "DELETE /v2/{repo}/blobs/{digest} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host
        )
        .unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 202"), "{reply}");
    }

    /// The layer digests of the image's legacy `.sig` manifest, in order.
    pub fn sig_layers(&self, repo: &str, image_digest: &str) -> Vec<String> {
        let tag = format!("{}.sig", image_digest.replacen(':', "-", 1));
        let m = self
            .client()
            .manifest(&self.host, repo, &tag)
            .unwrap()
            .unwrap();
        let m: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    }

    /// Stops the registry and keeps its port bound by a listener that closes every
    /// connection: clients see it unreachable, and no registry another test starts can take
    /// the port meanwhile.
    pub fn stop_holding_port(self) {
        let host = self.host.clone();
        drop(self);
        let blocker = std::net::TcpListener::bind(&host).expect("the stopped registry's port");
        std::thread::spawn(move || {
            for conn in blocker.incoming() {
                drop(conn);
            }
        });
    }

    /// `host/repo:tag`.
    pub fn image(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Exit code and JSON report of one `sigil verify images` run.
pub struct Verdict {
    pub code: i32,
    pub json: serde_json::Value,
}

impl Verdict {
    pub fn image(&self, i: usize) -> &serde_json::Value {
        &self.json["images"][i]
    }
    pub fn reason(&self, i: usize) -> &str {
        self.image(i)["reason"].as_str().unwrap_or("")
    }
}

/// `sigil verify images --format json --timeout 5 --policy <policy> <extra…> <targets…>`.
pub fn verify(s: &Scratch, policy: &Path, targets: &[&str], extra: &[&str]) -> Verdict {
    verdict(verify_cmd(s, policy, targets, extra))
}

/// The command [`verify`] runs, to adjust (its environment, say) before [`verdict`].
pub fn verify_cmd(s: &Scratch, policy: &Path, targets: &[&str], extra: &[&str]) -> Command {
    let mut c = s.cmd(sigil());
    c.args([
        "verify",
        "images",
        "--format",
        "json",
        "--timeout",
        "5",
        "--policy",
    ])
    .arg(policy)
    .args(extra)
    .args(targets);
    c
}

/// Runs a `verify images --format json` command; its exit code and report.
pub fn verdict(c: Command) -> Verdict {
    let out = run(c);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Verdict {
        code: out.status.code().unwrap_or(-1),
        json,
    }
}

/// A bearer-token server for a registry (distribution's `auth: token`): grants every scope it
/// is asked for with an ES256 JWT whose `x5c` chains to the registry's root bundle. Counts the
/// tokens it issued.
pub struct TokenServer {
    /// `http://127.0.0.1:<port>/token`.
    pub realm: String,
    /// Tokens issued.
    pub issued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Registry {
    /// A registry that requires bearer tokens from a local token server.
    pub fn start_with_token_auth() -> (Registry, TokenServer) {
        Registry::start_with_token_server(None)
    }

    /// The same, but the token server grants tokens only for an OAuth2 refresh-token POST
    /// carrying `refresh_token` (docker's identity-token flow); anything else gets 401.
    pub fn start_with_refresh_token_auth(refresh_token: &str) -> (Registry, TokenServer) {
        Registry::start_with_token_server(Some(refresh_token.to_string()))
    }

    fn start_with_token_server(refresh_token: Option<String>) -> (Registry, TokenServer) {
        use base64::Engine;
        use p256::pkcs8::DecodePrivateKey;
        let keys = tempfile::tempdir().unwrap();
        let key_pem = keys.path().join("key.pem");
        let cert_pem = keys.path().join("cert.pem");
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=sigil-test-token",
            ])
            .arg("-keyout")
            .arg(&key_pem)
            .arg("-out")
            .arg(&cert_pem)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        let signing =
            p256::ecdsa::SigningKey::from_pkcs8_pem(&std::fs::read_to_string(&key_pem).unwrap())
                .unwrap();
        let cert_text = std::fs::read_to_string(&cert_pem).unwrap();
        let cert_b64: String = cert_text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!(
            "http://127.0.0.1:{}/token",
            listener.local_addr().unwrap().port()
        );
        let issued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = issued.clone();
        let required_refresh_token = refresh_token.clone();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // Headers, then as much body as Content-Length announces.
                loop {
                    let n = conn.read(&mut chunk).unwrap_or(0);
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        if n == 0 { break } else { continue }
                    };
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if n == 0 || body.len() >= length {
                        break;
                    }
                }
                let req = String::from_utf8_lossy(&buf).to_string();
                let n = buf.len();
                let (head, body) = req.split_once("\r\n\r\n").unwrap_or((&req, ""));
                let target = head.split_whitespace().nth(1).unwrap_or("");
                let is_post = head.starts_with("POST ");
                let query = if is_post {
                    body
                } else {
                    target.split_once('?').map(|(_, q)| q).unwrap_or("")
                };
                if let Some(expected) = &required_refresh_token {
                    let grant = is_post
                        && query.split('&').any(|kv| kv == "grant_type=refresh_token")
                        && query
                            .split('&')
                            .any(|kv| kv == format!("refresh_token={expected}"));
                    if !grant {
                        let _ = conn.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        continue;
                    }
                }
                let mut access = Vec::new();
                for kv in query.split('&') {
                    if let Some(scope) = kv.strip_prefix("scope=") {
                        let scope = scope
                            .replace("%3A", ":")
                            .replace("%2F", "/")
                            .replace("%2C", ",");
                        let parts: Vec<&str> = scope.splitn(3, ':').collect();
                        if parts.len() == 3 {
                            access.push(serde_json::json!({"type": parts[0], "name": parts[1], "actions": parts[2].split(',').collect::<Vec<_>>()}));
                        }
                    }
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [cert_b64]});
                let claims = serde_json::json!({
                    "iss": "sigil-test-issuer", "sub": "ci", "aud": "sigil-test",
                    "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{n}"),
                    "access": access,
                });
                let signing_input = format!(
                    "{}.{}",
                    b64.encode(header.to_string()),
                    b64.encode(claims.to_string())
                );
                let sig: p256::ecdsa::Signature =
                    p256::ecdsa::signature::Signer::sign(&signing, signing_input.as_bytes());
                let jwt = format!("{signing_input}.{}", b64.encode(sig.to_bytes()));
                let body = if is_post {
                    serde_json::json!({"access_token": jwt, "token_type": "Bearer"}).to_string()
                } else {
                    serde_json::json!({"token": jwt}).to_string()
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = conn.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes());
            }
        });
        let auth = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: sigil-test\n    issuer: sigil-test-issuer\n    rootcertbundle: {}\n",
            cert_pem.display()
        );
        let mut reg = Registry::start_with_config(&auth);
        if let Some(rt) = &refresh_token {
            // The harness's own client pushes with the identity token.
            let conf = keys.path().join("docker");
            std::fs::create_dir_all(&conf).unwrap();
            std::fs::write(
                conf.join("config.json"),
                serde_json::json!({"auths": {&reg.host: {"identitytoken": rt}}}).to_string(),
            )
            .unwrap();
            reg.docker_config = Some(conf);
        }
        reg._keys = Some(keys);
        (reg, TokenServer { realm, issued })
    }
}

/// A cosign key pair made by `sigil keygen --cosign` (password `test-only`): (`.key`, `.pub`).
pub fn cosign_keypair(s: &Scratch, name: &str) -> (PathBuf, PathBuf) {
    let mut c = s.cmd(sigil());
    c.args(["keygen", "--cosign", "--output-key-prefix", name])
        .env("COSIGN_PASSWORD", "test-only");
    let out = run(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        s.path(&format!("{name}.key")),
        s.path(&format!("{name}.pub")),
    )
}

/// `sigil sign image <image> --allow-http-registry --key <key> <extra…>`, asserted to succeed.
pub fn sign_image(s: &Scratch, image: &str, key: &Path, extra: &[&str]) {
    let mut c = s.cmd(sigil());
    c.args(["sign", "image", image, "--allow-http-registry", "--key"])
        .arg(key)
        .args(extra)
        .env("COSIGN_PASSWORD", "test-only");
    let out = run(c);
    assert!(
        out.status.success(),
        "sign {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One request as a [`Fake`] server received it.
#[derive(Clone, Debug)]
pub struct FakeRequest {
    /// `GET`, `PUT`...
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The raw request, head and body, for searching.
    pub raw: String,
}

impl FakeRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A raw HTTP/1.1 answer that closes the connection.
pub fn fake_reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} Fake\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A hand-written HTTP server on 127.0.0.1 for what docker-registry cannot be made to do (hand
/// out odd realms and upload Locations, redirect elsewhere): it records every connection and
/// request it receives and answers each request with `respond`.
pub struct Fake {
    /// `127.0.0.1:<port>`.
    pub host: String,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    requests: std::sync::Arc<std::sync::Mutex<Vec<FakeRequest>>>,
}

impl Fake {
    pub fn start(respond: impl Fn(&FakeRequest) -> Vec<u8> + Send + 'static) -> Fake {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (seen, log) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                // Headers, then as much body as Content-Length announces.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    let n = conn.read(&mut chunk).unwrap_or(0);
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i);
                    }
                    if n == 0 {
                        break None;
                    }
                };
                let Some(head_end) = head_end else { continue };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or("").split_whitespace();
                let method = first.next().unwrap_or("").to_string();
                let target = first.next().unwrap_or("").to_string();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let length = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + 4 + length {
                    let n = conn.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let request = FakeRequest {
                    method,
                    target,
                    headers,
                    raw: String::from_utf8_lossy(&buf).to_string(),
                };
                log.lock().unwrap().push(request.clone());
                let _ = conn.write_all(&respond(&request));
            }
        });
        Fake {
            host,
            connections,
            requests,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// The port, as a string.
    pub fn port(&self) -> &str {
        self.host.rsplit_once(':').unwrap().1
    }
}
