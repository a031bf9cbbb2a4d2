//! In-repository policies (`openpgp-policy.toml`) from untrusted bytes: two policies, split at
//! the first `\0`, parsed, their keyrings read, compared both ways (the rights each change
//! needs), their certificates merged for a signature check and scanned for hard revocations.
//! Never panics; a policy compared with itself has no changes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::policy::in_repo::RepoPolicy;

fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|&x| x == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let (Ok(a), Ok(b)) = (RepoPolicy::parse(a), RepoPolicy::parse(b)) else {
        return;
    };
    assert!(a.diff(&a).is_empty());
    for change in a.diff(&b).into_iter().chain(b.diff(&a)) {
        let _ = (change.needs(), change.to_string());
    }
    let (a, b) = (a.load(), b.load());
    let _ = a.signing_certs(&b);
    let _ = a.hard_revoked(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000));
});
