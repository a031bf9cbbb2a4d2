//! Running the real kustomize (`kustomize build`, or `kubectl kustomize`) on a materialised
//! tree, sandboxed: a clean environment, no network (every proxy points at a closed port and
//! git may use no protocol), no exec or KRM function plugins and no Helm (their flags are never
//! passed), a deadline and an output cap, the whole process group killed on either.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{Limits, RunError, run};

/// A kustomize binary and its version.
#[derive(Clone, Debug)]
pub struct Kustomize {
    /// The program.
    pub binary: PathBuf,
    /// Whether it is kubectl (`kubectl kustomize DIR`) rather than kustomize (`kustomize build DIR`).
    pub kubectl: bool,
    /// What it says its kustomize version is (e.g. `v5.5.0`).
    pub version: String,
}

/// Why a build failed.
#[derive(Debug)]
pub enum BuildError {
    /// kustomize refused the input, ran out of time or wrote too much: the content is at fault.
    Refused(String),
    /// kustomize could not be run at all.
    Operational(String),
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl Kustomize {
    /// The configured binary, else `kustomize` on PATH, else `kubectl` on PATH; its version is
    /// asked once here.
    pub fn find(configured: Option<&Path>) -> Result<Kustomize, String> {
        let binary = match configured {
            Some(b) if b.components().count() > 1 => b.to_path_buf(),
            Some(b) => on_path(&b.to_string_lossy())
                .ok_or_else(|| format!("{} is not on PATH", b.display()))?,
            None => on_path("kustomize").or_else(|| on_path("kubectl")).ok_or(
                "neither kustomize nor kubectl is on PATH (install one, or set render.kustomize.binary)",
            )?,
        };
        let kubectl = binary
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("kubectl"));
        let mut c = Command::new(&binary);
        if kubectl {
            c.args(["version", "--client", "-o", "json"]);
        } else {
            c.arg("version");
        }
        sandbox(&mut c, Path::new("/nonexistent"));
        let limits = Limits {
            timeout: Duration::from_secs(30),
            max_stdout: 1 << 20,
            max_stderr: 1 << 16,
        };
        let out = run(c, None, limits, &binary.display().to_string()).map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "{} version failed: {}",
                binary.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let version = if kubectl {
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["kustomizeVersion"].as_str().map(String::from))
                .ok_or_else(|| {
                    format!("{} does not report a kustomize version", binary.display())
                })?
        } else {
            text.trim()
                .trim_start_matches("{Version:kustomize/")
                .split([' ', '\n'])
                .next()
                .unwrap_or("")
                .to_string()
        };
        Ok(Kustomize {
            binary,
            kubectl,
            version,
        })
    }

    /// How the verdict names it: `kustomize v5.5.0 (kubectl /usr/bin/kubectl)`.
    pub fn describe(&self) -> String {
        format!(
            "kustomize {} ({}{})",
            self.version,
            if self.kubectl { "kubectl " } else { "" },
            self.binary.display()
        )
    }

    /// Builds directory `path` of the materialised tree at `root`.
    pub fn build(
        &self,
        root: &Path,
        path: &str,
        limits: Limits,
        load_restrictions_none: bool,
    ) -> Result<Vec<u8>, BuildError> {
        let dir = if path.is_empty() {
            ".".to_string()
        } else {
            format!("./{path}")
        };
        let mut c = Command::new(&self.binary);
        if self.kubectl {
            c.arg("kustomize");
        } else {
            c.arg("build");
        }
        c.arg(&dir);
        if load_restrictions_none {
            c.args(["--load-restrictor", "LoadRestrictionsNone"]);
        }
        c.current_dir(root);
        sandbox(&mut c, &root.join(".sigil-home"));
        match run(c, None, limits, "kustomize") {
            Ok(out) if out.status.success() => Ok(out.stdout),
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let err = err.replace(&format!("{}/", root.display()), "");
                let first: Vec<&str> = err
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .take(6)
                    .collect();
                Err(BuildError::Refused(format!(
                    "kustomize failed on {path}: {}",
                    if first.is_empty() {
                        "no message".to_string()
                    } else {
                        first.join(" | ")
                    }
                )))
            }
            Err(e @ (RunError::Timeout(..) | RunError::TooMuchOutput(..))) => {
                Err(BuildError::Refused(e.to_string()))
            }
            Err(e) => Err(BuildError::Operational(e.to_string())),
        }
    }
}

/// A clean environment: no credentials, no kubeconfig, no plugins, and no network (every
/// proxy is a closed loopback port; git may use no transport).
fn sandbox(c: &mut Command, home: &Path) {
    c.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("KUBECONFIG", "/dev/null")
        .env("KUSTOMIZE_PLUGIN_HOME", home.join("no-plugins"))
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("http_proxy", "http://127.0.0.1:9")
        .env("https_proxy", "http://127.0.0.1:9")
        .env("NO_PROXY", "")
        .env("no_proxy", "")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "protocol.allow")
        .env("GIT_CONFIG_VALUE_0", "never")
        .env("GIT_TERMINAL_PROMPT", "0");
}
