//! Policy changes picked up without a restart. Before each sync the gate looks at the policy
//! file and every trust file it read (size, modification time, inode: a ConfigMap update swaps
//! a symlink); when any changed, the policy is loaded again. A policy that no longer loads
//! stops syncs with `policy-error` until it is fixed: nothing is published under a policy in
//! an unknown state, and the last verified revision stays.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::policy::Policy;

/// What the policy's files looked like when it was loaded.
pub struct PolicyWatch {
    files: Vec<PathBuf>,
    stamp: Vec<Option<Stamp>>,
}

type Stamp = (u64, u64, u64, i64, i64);

fn stamp(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .map(|m| (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
        })
        .collect()
}

impl PolicyWatch {
    /// Watches the files `policy` was loaded from.
    pub fn new(policy: &Policy) -> PolicyWatch {
        PolicyWatch {
            files: policy.files.clone(),
            stamp: stamp(&policy.files),
        }
    }

    /// `Ok(None)`: nothing changed (or the files changed to the same policy); `Ok(Some)`: a
    /// new policy; `Err`: the files changed and the policy no longer loads (asked again at
    /// the next call).
    pub fn refresh(&mut self, path: &Path, current: &Policy) -> Result<Option<Policy>, String> {
        if stamp(&self.files) == self.stamp {
            return Ok(None);
        }
        // The stamp kept must describe the files as they were read: load until the files
        // did not change while loading (a few tries; the next call catches up otherwise).
        let mut files = self.files.clone();
        for _ in 0..3 {
            let before = stamp(&files);
            let policy = Policy::load(path).map_err(|e| e.join("; "))?;
            if policy.files == files && stamp(&files) == before {
                self.files = files;
                self.stamp = before;
                return Ok((policy.digest != current.digest).then_some(policy));
            }
            files = policy.files;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_changes_to_the_policy_and_its_trust_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("allowed_signers");
        std::fs::write(&key, "a@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEQmNkXsHhCgdAs0bDW7sXoGcBX0QXmW6yoiBgTOgJgF\n").unwrap();
        let path = dir.path().join("policy.yaml");
        let write_policy = |mode: &str| {
            std::fs::write(
                &path,
                format!("apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signers:\n    - {{name: a, allowedSigners: allowed_signers}}\n  commits:\n    mode: {mode}\n    rules: [{{refs: [\"refs/heads/main\"], paths: [\"**\"], signers: [a]}}]\n"),
            )
            .unwrap();
        };
        write_policy("range");
        let first = Policy::load(&path).unwrap();
        assert_eq!(first.files, [path.clone(), key.clone()]);
        let mut watch = PolicyWatch::new(&first);
        assert!(watch.refresh(&path, &first).unwrap().is_none());
        // A trust file changes: a new policy.
        std::fs::write(&key, "b@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEQmNkXsHhCgdAs0bDW7sXoGcBX0QXmW6yoiBgTOgJgF\n").unwrap();
        let second = watch.refresh(&path, &first).unwrap().expect("reloaded");
        assert_ne!(second.digest, first.digest);
        assert!(watch.refresh(&path, &second).unwrap().is_none());
        // A broken policy: an error, asked again until fixed.
        std::fs::write(&path, "kind: Nonsense\n").unwrap();
        assert!(watch.refresh(&path, &second).is_err());
        assert!(watch.refresh(&path, &second).is_err());
        write_policy("head");
        let third = watch.refresh(&path, &second).unwrap().expect("fixed");
        assert_ne!(third.digest, second.digest);
    }
}
