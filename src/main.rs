//! The `sigil` binary: everything lives in the library; this only sets the exit code.

fn main() {
    // Library errors (anyhow, inside sequoia) would capture a stack trace each time when
    // RUST_BACKTRACE is set; sigil never prints them, and on long histories that costs ~10%.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: set before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    std::process::exit(sigil::cli::run());
}
