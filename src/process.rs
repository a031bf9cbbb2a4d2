//! Running a helper program (kustomize, kubectl) under limits: its own process group, killed
//! as a group on a deadline or when it writes too much, stdout and stderr drained at the same
//! time with size caps, and always reaped.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Bounds on one run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Wall-clock deadline for the whole run.
    pub timeout: Duration,
    /// Largest stdout kept; more kills the program.
    pub max_stdout: usize,
    /// Largest stderr kept; more is dropped (the program is not killed for it).
    pub max_stderr: usize,
}

/// What a finished program left.
pub struct Output {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// The first `max_stderr` bytes it wrote to stderr.
    pub stderr: Vec<u8>,
}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("cannot start {0}: {1}")]
    Spawn(String, std::io::Error),
    /// The deadline passed; the process group was killed.
    #[error("{0} did not finish within {1:?}")]
    Timeout(String, Duration),
    /// stdout passed its cap; the process group was killed.
    #[error("{0} wrote more than {1} bytes")]
    TooMuchOutput(String, usize),
    /// Reading its output or waiting for it failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created for the child;
    // no memory is shared.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

/// Reads `from` to the end, keeping at most `cap` bytes; past the cap, `on_overflow` runs once
/// and the rest is read and dropped (so the writer never blocks on a full pipe).
fn drain(
    mut from: impl Read,
    cap: usize,
    on_overflow: impl Fn(),
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut over = false;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok((kept, over)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if over {
            continue;
        }
        if kept.len() + n > cap {
            let room = cap - kept.len();
            kept.extend_from_slice(&buf[..room]);
            over = true;
            on_overflow();
        } else {
            kept.extend_from_slice(&buf[..n]);
        }
    }
}

/// Runs `command` (stdin from `input`, or empty) in a new process group under `limits`.
/// `what` names it in errors.
pub fn run(
    mut command: Command,
    input: Option<Vec<u8>>,
    limits: Limits,
    what: &str,
) -> Result<Output, RunError> {
    command
        .process_group(0)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| RunError::Spawn(what.to_string(), e))?;
    let pid = child.id();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        kill_group(pid);
        let _ = child.wait();
        return Err(RunError::Io(
            what.to_string(),
            std::io::Error::other("no pipes"),
        ));
    };
    let stdin = child.stdin.take();
    let overflowed = Arc::new(AtomicBool::new(false));
    let flag = overflowed.clone();
    let max_stdout = limits.max_stdout;
    let out_reader = std::thread::spawn(move || {
        drain(stdout, max_stdout, || {
            flag.store(true, Ordering::SeqCst);
            kill_group(pid);
        })
    });
    let max_stderr = limits.max_stderr;
    let err_reader = std::thread::spawn(move || drain(stderr, max_stderr, || {}));
    let writer = input.zip(stdin).map(|(data, mut pipe)| {
        std::thread::spawn(move || {
            // A program that exits without reading its input is not an error here.
            let _ = pipe.write_all(&data);
        })
    });
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(());
        status
    });
    let timed_out = rx.recv_timeout(limits.timeout).is_err();
    if timed_out {
        kill_group(pid);
    }
    let status = waiter
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("waiter panicked")));
    // The group leader is reaped; anything left in its group goes too, so the pipes close.
    kill_group(pid);
    if let Some(w) = writer {
        let _ = w.join();
    }
    let out = out_reader
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("reader panicked")));
    let err = err_reader
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("reader panicked")));
    if timed_out {
        return Err(RunError::Timeout(what.to_string(), limits.timeout));
    }
    if overflowed.load(Ordering::SeqCst) {
        return Err(RunError::TooMuchOutput(what.to_string(), limits.max_stdout));
    }
    let status = status.map_err(|e| RunError::Io(what.to_string(), e))?;
    let (stdout, _) = out.map_err(|e| RunError::Io(what.to_string(), e))?;
    let (stderr, _) = err.map_err(|e| RunError::Io(what.to_string(), e))?;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(timeout_ms: u64, max_stdout: usize) -> Limits {
        Limits {
            timeout: Duration::from_millis(timeout_ms),
            max_stdout,
            max_stderr: 1024,
        }
    }

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn output_and_status() {
        let o = run(
            sh("cat; echo err >&2; exit 3"),
            Some(b"in".to_vec()),
            limits(5000, 100),
            "sh",
        )
        .unwrap();
        assert_eq!(o.stdout, b"in");
        assert_eq!(o.stderr, b"err\n");
        assert_eq!(o.status.code(), Some(3));
    }

    #[test]
    fn deadline_kills_the_whole_group() {
        let t = tempfile::tempdir().unwrap();
        let pidfile = t.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let started = std::time::Instant::now();
        let e = run(sh(&script), None, limits(300, 100), "sh")
            .err()
            .unwrap();
        assert!(matches!(e, RunError::Timeout(..)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild is gone (reaped by init or a zombie no more: kill(0) fails).
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: signal 0 only checks for existence.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z"))
                .unwrap_or(false);
        assert!(!alive, "grandchild {pid} survived the deadline");
    }

    #[test]
    fn too_much_output_is_cut_and_killed() {
        let e = run(sh("yes"), None, limits(10_000, 1 << 20), "yes")
            .err()
            .unwrap();
        assert!(matches!(e, RunError::TooMuchOutput(..)), "{e}");
    }

    #[test]
    fn stderr_is_capped_without_stalling() {
        let o = run(
            sh("head -c 5000000 /dev/zero >&2; echo done"),
            None,
            limits(10_000, 100),
            "sh",
        )
        .unwrap();
        assert_eq!(o.stdout, b"done\n");
        assert_eq!(o.stderr.len(), 1024);
    }
}
