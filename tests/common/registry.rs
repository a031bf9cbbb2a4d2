//! A throw-away Debian `docker-registry` (distribution 2.8, no referrers API) on a random
//! 127.0.0.1 port, and `sigil verify images --format json` run against it.

use std::path::Path;
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

    fn start_with(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let mut auth_config = String::new();
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
