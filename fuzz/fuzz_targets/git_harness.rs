//! The git fuzz targets' bodies that reach internals, shared with `tests/fuzz_regressions.rs`
//! so the regression inputs replay through exactly the code the fuzzers ran. Each module's
//! `run` takes one input and panics only on a bug.
#![allow(dead_code)]

/// Reading `git cat-file --batch` replies (`Repo::read`, `Repo::read_many`, so every object the
/// commit verifier and `changed_paths` look at): never panics, and never returns an object that
/// does not hash to the id asked for. First byte: bit 0 picks the mode, bit 1 the object format.
///
/// * mode 0: the rest is git's output as it is, read reply by reply (each asked for by the id
///   its header names);
/// * mode 1: the rest is a list of NUL-separated objects (first byte: the type), written as git
///   writes them; they read back unchanged, and with one byte of the output changed (second
///   byte: where) each reads back unchanged or is refused.
pub mod git_repo_read {
    use std::io::{BufRead, Cursor};

    use sigil::git::object::{HashAlgo, commit_tree_id, parse_tree};
    use sigil::git::repo::read_one;

    const KINDS: [&str; 4] = ["blob", "tree", "commit", "tag"];

    /// One input.
    pub fn run(data: &[u8]) {
        let Some((&flags, rest)) = data.split_first() else {
            return;
        };
        let algo = if flags & 2 == 0 {
            HashAlgo::Sha1
        } else {
            HashAlgo::Sha256
        };
        if flags & 1 == 0 {
            let mut output = Cursor::new(rest);
            for _ in 0..16 {
                let Ok(line) = output.fill_buf() else { return };
                let header = String::from_utf8_lossy(line);
                let id = header.split_whitespace().next().unwrap_or("").to_string();
                match read_one(&mut output, &id, algo) {
                    Ok(object) => check(algo, &id, &object),
                    Err(_) => return,
                }
            }
            return;
        }
        let Some((&flip_at, rest)) = rest.split_first() else {
            return;
        };
        let objects: Vec<(&str, &[u8])> = rest
            .split(|&b| b == 0)
            .take(8)
            .map(|o| match o.split_first() {
                Some((&k, body)) => (KINDS[usize::from(k) % 4], body),
                None => ("blob", o),
            })
            .collect();
        let mut stream = Vec::new();
        let mut ids = Vec::new();
        for (kind, body) in &objects {
            let id = algo.object_id(kind, body);
            stream.extend_from_slice(format!("{id} {kind} {}\n", body.len()).as_bytes());
            stream.extend_from_slice(body);
            stream.push(b'\n');
            ids.push(id);
        }
        let mut output = Cursor::new(stream.as_slice());
        for ((kind, body), id) in objects.iter().zip(&ids) {
            let object = read_one(&mut output, id, algo)
                .unwrap_or_else(|e| panic!("{kind} {id} as git writes it: {e}"));
            assert_eq!((object.0.as_str(), object.1.as_slice()), (*kind, *body));
            check(algo, id, &object);
        }
        if stream.is_empty() {
            return;
        }
        let at = usize::from(flip_at) * stream.len() / 256;
        stream[at] ^= 1 << (flip_at % 8);
        let mut output = Cursor::new(stream.as_slice());
        for ((kind, body), id) in objects.iter().zip(&ids) {
            match read_one(&mut output, id, algo) {
                Ok(object) => {
                    assert_eq!(
                        (object.0.as_str(), object.1.as_slice()),
                        (*kind, *body),
                        "byte {at} changed, yet {id} read as other bytes"
                    );
                }
                Err(_) => break,
            }
        }
    }

    /// What the callers do with an object read: its bytes hash to its id, and commits and
    /// trees are parsed (`changed_paths`).
    fn check(algo: HashAlgo, id: &str, (kind, body): &(String, Vec<u8>)) {
        assert_eq!(
            algo.object_id(kind, body),
            id,
            "{kind} {id} does not hash to its id"
        );
        match kind.as_str() {
            "commit" => {
                let _ = commit_tree_id(body, algo);
            }
            "tree" => {
                let _ = parse_tree(body, algo);
            }
            _ => {}
        }
    }
}
