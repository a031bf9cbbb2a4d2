//! SSH signature armor and blob parsing, and verification against a fixed key: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::signature::sshsig::SshSig;

fuzz_target!(|data: &[u8]| {
    let _ = SshSig::from_blob(data);
    if let Ok(s) = SshSig::from_armor(data) {
        let _ = s.signed_data(b"payload");
        let _ = s.signature_algorithm();
    }
    let _ = sigil::signature::ssh::verify(data, b"payload", &[], &[0]);
});
