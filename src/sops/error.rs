//! Errors of the SOPS engine, each mapped to the exit code sops uses for it.

use std::fmt;

/// An error from reading, decrypting, encrypting or writing a SOPS file.
#[derive(Debug)]
pub enum Error {
    /// The input could not be read (exit 2).
    Read(String),
    /// The input is not valid for its store: parse errors, duplicate keys (exit 2).
    Parse(String),
    /// The output could not be written (exit 3).
    Write(String),
    /// The tree could not be emitted (exit 4).
    Emit(String),
    /// `.sops.yaml` could not be read or is invalid (exit 5).
    Config(String),
    /// A `set`/`unset` path or value that does not parse (exit 7).
    SetFormat(String),
    /// An encryption context that does not parse (exit 6).
    KmsContext(String),
    /// Conflicting flags (exit 8).
    Conflict(String),
    /// A value could not be encrypted, e.g. a non-string key (exit 23).
    EncryptTree(String),
    /// A value could not be decrypted or has the wrong shape (exit 25).
    DecryptValue(String),
    /// The MAC is missing, cannot be decrypted or differs (exit 51).
    MacMismatch(String),
    /// No `sops` metadata in the file (exit 1, like sops's "metadata not found").
    NotEncrypted(String),
    /// Invalid `--extract`/`set` path (exit 91).
    TreePath(String),
    /// Empty input (exit 92).
    Empty(String),
    /// No file given or it does not exist (exit 100).
    NoFile(String),
    /// No key to encrypt with (exit 111).
    NoEncryptionKey(String),
    /// No master key could recover the data key (exit 128).
    KeyRecovery(String),
    /// `edit` left the file unchanged (exit 200).
    Unchanged,
    /// No editor found (exit 201).
    NoEditor(String),
    /// Input already has `sops` metadata (exit 203).
    AlreadyEncrypted(String),
    /// Keys to add or remove for a file that does not exist (exit 49).
    KeysOfMissingFile(String),
    /// The file fails one of sigil's checks that are stricter than sops (exit 50).
    Strict(String),
    /// Anything else (exit 1).
    Generic(String),
}

impl Error {
    /// The process exit code, following sops's `cmd/sops/codes`.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Generic(_) | Error::NotEncrypted(_) => 1,
            Error::Read(_) | Error::Parse(_) => 2,
            Error::Write(_) => 3,
            Error::Emit(_) => 4,
            Error::Config(_) => 5,
            Error::KmsContext(_) => 6,
            Error::SetFormat(_) => 7,
            Error::Conflict(_) => 8,
            Error::EncryptTree(_) => 23,
            Error::DecryptValue(_) => 25,
            Error::KeysOfMissingFile(_) => 49,
            Error::Strict(_) => 50,
            Error::MacMismatch(_) => 51,
            Error::TreePath(_) => 91,
            Error::Empty(_) => 92,
            Error::NoFile(_) => 100,
            Error::NoEncryptionKey(_) => 111,
            Error::KeyRecovery(_) => 128,
            Error::Unchanged => 200,
            Error::NoEditor(_) => 201,
            Error::AlreadyEncrypted(_) => 203,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unchanged => write!(f, "file has not changed, exiting"),
            Error::Read(m)
            | Error::Parse(m)
            | Error::Write(m)
            | Error::Emit(m)
            | Error::Config(m)
            | Error::SetFormat(m)
            | Error::KmsContext(m)
            | Error::Conflict(m)
            | Error::EncryptTree(m)
            | Error::DecryptValue(m)
            | Error::MacMismatch(m)
            | Error::NotEncrypted(m)
            | Error::TreePath(m)
            | Error::Empty(m)
            | Error::NoFile(m)
            | Error::NoEncryptionKey(m)
            | Error::KeyRecovery(m)
            | Error::NoEditor(m)
            | Error::AlreadyEncrypted(m)
            | Error::KeysOfMissingFile(m)
            | Error::Strict(m)
            | Error::Generic(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}
