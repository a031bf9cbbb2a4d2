//! Reading `git cat-file --batch` output (every object the commit verifier and `changed_paths`
//! read): never panics; never returns an object that does not hash to the id asked for.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "git_harness.rs"]
mod git_harness;

fuzz_target!(|data: &[u8]| git_harness::git_repo_read::run(data));
