//! Reading a repository through `git` plumbing (`cat-file --batch`, `rev-list`), with object
//! ids recomputed from the bytes read. Replace refs are disabled so no object can be swapped.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use super::object::HashAlgo;

/// An error talking to git or reading an object (operational: exit 3), or a bad revision
/// (usage: exit 2).
#[derive(Debug)]
pub enum GitError {
    /// git could not run or failed unexpectedly.
    Io(String),
    /// The revision, range or repository does not exist.
    Usage(String),
    /// An object's bytes do not hash to its id.
    Corrupt(String),
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitError::Io(m) | GitError::Usage(m) | GitError::Corrupt(m) => f.write_str(m),
        }
    }
}

/// Largest object read (commits and tags are small; anything huge is suspicious).
const MAX_OBJECT: usize = 64 << 20;

struct CatFile {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

/// A repository opened for verification.
pub struct Repo {
    dir: PathBuf,
    /// SHA-1 or SHA-256.
    pub algo: HashAlgo,
    cat: Option<CatFile>,
    toplevel: Option<std::path::PathBuf>,
}

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES");
    c
}

fn run(mut c: Command, what: &str) -> Result<String, GitError> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| GitError::Io(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(GitError::Usage(format!(
            "{what}: {}",
            err.lines().next().unwrap_or("git failed")
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| GitError::Io(format!("{what}: git printed non-UTF-8")))
}

impl Repo {
    /// Opens the repository containing `path`.
    pub fn open(path: &Path) -> Result<Repo, GitError> {
        let mut c = git(path);
        c.args(["rev-parse", "--show-object-format", "--show-toplevel"]);
        let out = match run(c, "") {
            Ok(o) => o,
            Err(_) => {
                // A bare repository has no top level.
                let mut c = git(path);
                c.args(["rev-parse", "--show-object-format"]);
                run(c, &format!("{} is not a git repository", path.display()))?
            }
        };
        let mut lines = out.lines();
        let algo = match lines.next().unwrap_or("").trim() {
            "sha1" => HashAlgo::Sha1,
            "sha256" => HashAlgo::Sha256,
            other => {
                return Err(GitError::Usage(format!(
                    "unsupported object format '{other}'"
                )));
            }
        };
        let toplevel = lines.next().map(|l| std::path::PathBuf::from(l.trim()));
        Ok(Repo {
            dir: path.to_path_buf(),
            algo,
            cat: None,
            toplevel,
        })
    }

    /// A `git` command run in this repository with the environment every read here uses
    /// (replace objects off, no prompt, no `GIT_DIR`/object-directory overrides).
    pub fn command(&self) -> Command {
        git(&self.dir)
    }

    /// The work tree's top directory (None for a bare repository).
    pub fn toplevel(&self) -> Option<&Path> {
        self.toplevel.as_deref()
    }

    /// Resolves a revision to a full object id (peeling nothing).
    pub fn resolve(&self, rev: &str) -> Result<String, GitError> {
        if rev.starts_with('-') {
            return Err(GitError::Usage(format!("invalid revision '{rev}'")));
        }
        let mut c = git(&self.dir);
        c.args(["rev-parse", "--verify", "--end-of-options", rev]);
        Ok(run(c, &format!("unknown revision '{rev}'"))?
            .trim()
            .to_string())
    }

    /// Commits in `from..to`, oldest first, every commit of every side branch included.
    pub fn range(&self, from: &str, to: &str) -> Result<Vec<String>, GitError> {
        // No --topo-order: it forces git to walk the whole history behind `from`.
        self.rev_list_range(from, to, "--reverse")
    }

    /// `git rev-list OPTION ^from to`, one id per line (a boundary mark `-` dropped).
    fn rev_list_range(&self, from: &str, to: &str, option: &str) -> Result<Vec<String>, GitError> {
        for id in [from, to] {
            if id.starts_with('-') {
                return Err(GitError::Usage(format!("invalid revision '{id}'")));
            }
        }
        let mut c = git(&self.dir);
        c.args([
            "rev-list",
            option,
            "--end-of-options",
            &format!("^{from}"),
            to,
        ]);
        Ok(run(c, &format!("cannot list {from}..{to}"))?
            .lines()
            .map(|l| l.trim_start_matches('-').to_string())
            .collect())
    }

    /// Every commit reachable from `to`, oldest first.
    pub fn range_all(&self, to: &str) -> Result<Vec<String>, GitError> {
        let mut c = git(&self.dir);
        if to.starts_with('-') {
            return Err(GitError::Usage(format!("invalid revision '{to}'")));
        }
        c.args([
            "rev-list",
            "--reverse",
            "--topo-order",
            "--end-of-options",
            to,
        ]);
        Ok(run(c, &format!("cannot list the history of {to}"))?
            .lines()
            .map(String::from)
            .collect())
    }

    /// The commits of `from..to` and the boundary commits just outside it (their parents in
    /// `from`'s history), in no particular order.
    pub fn range_with_boundary(&self, from: &str, to: &str) -> Result<Vec<String>, GitError> {
        self.rev_list_range(from, to, "--boundary")
    }

    /// Every commit reachable from `rev` (itself included).
    pub fn ancestors(&self, rev: &str) -> Result<std::collections::HashSet<String>, GitError> {
        if rev.starts_with('-') {
            return Err(GitError::Usage(format!("invalid revision '{rev}'")));
        }
        let mut c = git(&self.dir);
        c.args(["rev-list", "--end-of-options", rev]);
        Ok(run(c, &format!("cannot list the history of {rev}"))?
            .lines()
            .map(String::from)
            .collect())
    }

    /// Is `ancestor` an ancestor of (or equal to) `descendant`?
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
        let out = git(&self.dir)
            .args([
                "merge-base",
                "--is-ancestor",
                "--end-of-options",
                ancestor,
                descendant,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| GitError::Io(format!("cannot run git: {e}")))?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(GitError::Usage(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            )),
        }
    }

    /// Reads many objects in one streamed `cat-file --batch` (ids written by a second thread,
    /// so there is no round trip per object); every body is hashed and checked.
    pub fn read_many(&self, ids: &[String]) -> Result<Vec<(String, Vec<u8>)>, GitError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut command = git(&self.dir);
        // --buffer: every id is written up front and stdin then closed, so git need not
        // flush after each object (one write per 8 KiB instead of two per object).
        command.args(["cat-file", "--batch", "--buffer"]);
        let (child, input, output) = spawn_piped(command, "cat-file")?;
        // Reaped on every way out, an early error included (no zombie in a long-running gate).
        let _child = Reaped(child);
        let writer = feed_ids(input, ids);
        let mut output = BufReader::with_capacity(1 << 16, output);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match read_one(&mut output, id, self.algo) {
                Ok(o) => out.push(o),
                Err(e) => {
                    drop(output);
                    let _ = writer.join();
                    return Err(e);
                }
            }
        }
        let _ = writer.join();
        Ok(out)
    }

    /// Reads an object's raw bytes and checks they hash to `id`. Returns (type, body).
    pub fn read(&mut self, id: &str) -> Result<(String, Vec<u8>), GitError> {
        if self.cat.is_none() {
            let mut command = git(&self.dir);
            command.args(["cat-file", "--batch"]);
            let (child, input, output) = spawn_piped(command, "cat-file")?;
            self.cat = Some(CatFile {
                child,
                input,
                output: BufReader::new(output),
            });
        }
        let cat = self.cat.as_mut().expect("just set");
        writeln!(cat.input, "{id}")
            .and_then(|_| cat.input.flush())
            .map_err(|e| GitError::Io(format!("git cat-file: {e}")))?;
        read_one(&mut cat.output, id, self.algo)
    }
}

/// A child process that is killed (if still running) and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` with piped stdin and stdout (stderr discarded).
fn spawn_piped(
    mut command: Command,
    what: &str,
) -> Result<(Child, ChildStdin, ChildStdout), GitError> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| GitError::Io(format!("cannot run git {what}: {e}")))?;
    let pipes = child.stdin.take().zip(child.stdout.take());
    let (stdin, stdout) = pipes.ok_or_else(|| GitError::Io(format!("git {what}: no pipes")))?;
    Ok((child, stdin, stdout))
}

/// Writes one id per line from a second thread, so git's output is read while it is fed.
fn feed_ids(mut stdin: ChildStdin, ids: &[String]) -> std::thread::JoinHandle<std::io::Result<()>> {
    let list: String = ids.iter().map(|i| format!("{i}\n")).collect();
    std::thread::spawn(move || stdin.write_all(list.as_bytes()))
}

/// Reads one `cat-file --batch` reply for `id` and checks the body hashes to it. Public for its
/// fuzz target only.
#[doc(hidden)]
pub fn read_one<R: BufRead>(
    output: &mut R,
    id: &str,
    algo: HashAlgo,
) -> Result<(String, Vec<u8>), GitError> {
    let mut header = String::new();
    output
        .read_line(&mut header)
        .map_err(|e| GitError::Io(format!("git cat-file: {e}")))?;
    let parts: Vec<&str> = header.split_whitespace().collect();
    if parts.len() != 3 || parts[0] != id {
        return Err(GitError::Usage(format!(
            "object {id} is missing from the repository"
        )));
    }
    let size: usize = parts[2]
        .parse()
        .map_err(|_| GitError::Io("git cat-file: bad size".into()))?;
    if size > MAX_OBJECT {
        return Err(GitError::Corrupt(format!(
            "object {id} is {size} bytes; refusing to read it"
        )));
    }
    let mut body = vec![0u8; size + 1];
    output
        .read_exact(&mut body)
        .map_err(|e| GitError::Io(format!("git cat-file: {e}")))?;
    body.pop();
    let kind = parts[1].to_string();
    let actual = algo.object_id(&kind, &body);
    if actual != id {
        return Err(GitError::Corrupt(format!(
            "object {id} hashes to {actual}: the repository is corrupt or was tampered with"
        )));
    }
    Ok((kind, body))
}

impl Drop for Repo {
    fn drop(&mut self) {
        if let Some(mut cat) = self.cat.take() {
            drop(cat.input);
            let _ = cat.child.wait();
        }
    }
}
