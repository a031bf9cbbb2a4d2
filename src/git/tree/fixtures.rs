//! Test repositories the tree tests share: git run with a clean configuration, a sample
//! repository (files, an executable, symlinks, unicode, a long path) and synthesised trees.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

pub(super) fn git(dir: &Path, args: &[&str]) -> String {
    git_in(dir, args, None)
}

pub(super) fn git_in(dir: &Path, args: &[&str], input: Option<&[u8]>) -> String {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.symlinks=true",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(i) = input {
        stdin.write_all(i).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A repository with files, an executable, symlinks, nested dirs, unicode and a long path.
pub(super) fn sample_repo() -> (tempfile::TempDir, String) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    git(d, &["init", "-q"]);
    let write = |p: &str, data: &[u8]| {
        let p = d.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    write("README.md", b"hello\n");
    write("bin/run.sh", b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(d.join("bin/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    write("apps/prod/deploy.yaml", b"kind: Deployment\n");
    write("apps/prod/nested/deeper/cm.yaml", b"kind: ConfigMap\n");
    write("ünïcødé/日本.txt", "こんにちは\n".as_bytes());
    write(LONG, b"long: true\n");
    write("empty", b"");
    std::os::unix::fs::symlink("README.md", d.join("link")).unwrap();
    std::os::unix::fs::symlink("../../README.md", d.join("apps/prod/readme")).unwrap();
    std::os::unix::fs::symlink("apps/prod", d.join("prod")).unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "sample"]);
    let head = git(d, &["rev-parse", "HEAD"]);
    (t, head)
}

/// A commit whose tree is built from `(mode, content, path)` with update-index.
pub(super) fn synth(items: &[(&str, &[u8], &str)]) -> (tempfile::TempDir, String) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    git(d, &["init", "-q"]);
    for (mode, content, path) in items {
        let id = if *mode == "160000" {
            String::from_utf8(content.to_vec()).unwrap()
        } else {
            git_in(d, &["hash-object", "-w", "--stdin"], Some(content))
        };
        git(
            d,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("{mode},{id},{path}"),
            ],
        );
    }
    let tree = git(d, &["write-tree"]);
    let commit = git(d, &["commit-tree", &tree, "-m", "synth"]);
    (t, commit)
}

pub(crate) const LONG: &str = "long/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/\
    bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/cccccccccccccccccccccccc.yaml";

pub(super) type Item<'a> = (&'a str, &'a [u8], &'a str);
