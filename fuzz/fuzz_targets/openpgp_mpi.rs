//! Re-encoding the MPIs of OpenPGP signature packets (Go's non-minimal encoding): never
//! panics; what it produces is already minimal (a second pass changes nothing) and never longer
//! than the input by more than the new-format headers it writes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(out) = sigil::signature::openpgp_mpi::normalise(data) {
        assert!(
            sigil::signature::openpgp_mpi::normalise(&out).is_none(),
            "normalising twice changed the packets again"
        );
        assert!(out.len() <= data.len() + 6 * data.len().div_ceil(2));
    }
});
