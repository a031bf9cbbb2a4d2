//! Raw git tree objects and the entry checks of a tree read from git: never panic; a parsed
//! tree's ids are full hex ids of the object format; `check_entries` accepts only relative,
//! `/`-separated paths without `.`, `..`, empty or `.git` components and symlinks that stay
//! inside the tree.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::git::object::{HashAlgo, parse_tree};
use sigil::git::tree::{Entry, MODE_FILE, MODE_SYMLINK, check_entries};

fuzz_target!(|data: &[u8]| {
    for algo in [HashAlgo::Sha1, HashAlgo::Sha256] {
        if let Some(items) = parse_tree(data, algo) {
            for (_, _, id) in items {
                assert_eq!(id.len(), algo.hex_len());
            }
        }
    }
    // Entries from `path\0target-or-content\n` records; a leading `@` makes a symlink.
    let entries: Vec<Entry> = data
        .split(|&b| b == b'\n')
        .filter_map(|r| {
            let nul = r.iter().position(|&b| b == 0)?;
            let (path, rest) = (&r[..nul], &r[nul + 1..]);
            let (mode, path) = match path.strip_prefix(b"@") {
                Some(p) => (MODE_SYMLINK, p),
                None => (MODE_FILE, path),
            };
            Some(Entry {
                path: String::from_utf8(path.to_vec()).ok()?,
                mode,
                data: rest.to_vec(),
            })
        })
        .collect();
    if check_entries(&entries).is_ok() {
        for e in &entries {
            assert!(!e.path.starts_with('/'));
            assert!(e
                .path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.eq_ignore_ascii_case(".git")));
            if e.mode == MODE_SYMLINK {
                assert!(!e.data.starts_with(b"/"));
            }
        }
    }
});
