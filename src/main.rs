//! The `sigil` binary: everything lives in the library; this only sets the exit code.

fn main() {
    // Library errors (anyhow, inside sequoia) would capture a stack trace each time when
    // RUST_BACKTRACE is set; sigil never prints them, and on long histories that costs ~10%.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: set before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    // As sops treats its own variables: an empty SOPS_*/SIGIL_* variable counts as unset
    // (clap would otherwise take it as a flag given without a value).
    for (name, value) in std::env::vars_os() {
        let ours = name
            .to_str()
            .is_some_and(|n| n.starts_with("SOPS_") || n.starts_with("SIGIL_"));
        if ours && value.is_empty() {
            // SAFETY: before any other thread exists.
            unsafe { std::env::remove_var(&name) };
        }
    }
    // Large buffers (a multi-MiB secret, its ciphertext and base64) come and go several times
    // per run: keep them in the heap instead of a fresh mmap each, which costs a page fault per
    // 4 KiB on every first touch (about 10% of a 5 MiB encryption). Freed memory is still
    // zeroized first where it held secrets.
    // Not for the long-running gate, whose idle RSS should shrink back after a large sync.
    // SAFETY: mallopt only tunes glibc's allocator; called before any other thread exists.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::args_os().nth(1).is_none_or(|a| a != "gate") {
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
            libc::mallopt(libc::M_TOP_PAD, 64 << 20);
            huge_heap();
        }
    }
    std::process::exit(sigil::cli::run());
}

/// Asks for transparent huge pages on the heap's next 64 MiB (what glibc's
/// `glibc.malloc.hugetlb=1` tunable does): a 5 MiB value then costs hundreds of page faults
/// instead of thousands. Only where THP is `madvise`-enabled; harmless elsewhere.
///
/// # Safety
///
/// Must run before any other thread exists (it reads the program break around a malloc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe fn huge_heap() {
    // SAFETY: sbrk(0) only reads the break; malloc/free of 1 MiB grows the heap by that plus
    // M_TOP_PAD; madvise is advisory on memory this process owns.
    unsafe {
        let start = libc::sbrk(0) as usize;
        // Larger than what the initial heap has free, so the heap grows by it plus M_TOP_PAD.
        let probe = std::hint::black_box(libc::malloc(1 << 20));
        let end = libc::sbrk(0) as usize;
        libc::free(probe);
        const HUGE: usize = 2 << 20;
        let from = start.next_multiple_of(HUGE);
        if end > from + HUGE {
            let len = (end - from) / HUGE * HUGE;
            libc::madvise(from as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
}
