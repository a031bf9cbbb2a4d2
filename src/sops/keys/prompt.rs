//! Passphrase prompts on the controlling terminal (never on stdin/stdout, which may carry data).

use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;

use age::secrecy::SecretString;
use zeroize::Zeroizing;

/// Asks for a passphrase on `/dev/tty` with echo off; `None` when there is no terminal.
pub fn ask_passphrase(description: &str) -> Option<SecretString> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a valid fd.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is an open terminal; saved is a valid termios.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return None;
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above, with a modified copy.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut writer = &tty;
    let _ = write!(writer, "{description}: ");
    let _ = writer.flush();
    let mut line = Zeroizing::new(String::new());
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: restores the saved settings on the same fd.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.ok()?;
    let pass = line.trim_end_matches(['\r', '\n']).to_string();
    Some(SecretString::from(pass))
}

/// age callbacks that prompt on the terminal (passphrase-protected SSH keys).
#[derive(Clone, Copy)]
pub struct TtyPrompt;

impl age::Callbacks for TtyPrompt {
    fn display_message(&self, message: &str) {
        eprintln!("{message}");
    }
    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }
    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }
    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        ask_passphrase(description)
    }
}
