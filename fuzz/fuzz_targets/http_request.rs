//! The gate's HTTP request reader (head through httparse, Host and framing checks, the
//! Content-Length and chunked bodies) over a whole client input: never panics; a request it
//! accepts has an origin-form target, one Host in HTTP/1.1, clean header values and a body
//! within the limit; anything else is one of the server's refusal codes or a silent close.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::gate::http::{MAX_BODY, read_request};

fuzz_target!(|data: &[u8]| match read_request(data) {
    Ok(r) => {
        assert!(!r.method.is_empty());
        assert!(r.target.starts_with('/'));
        assert!(r.body.len() <= MAX_BODY);
        let hosts = r.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("host")).count();
        assert!(hosts == 1 || (r.http10 && hosts == 0));
        for (k, v) in &r.headers {
            assert!(!k.is_empty());
            assert!(!v.contains(['\r', '\n', '\0']));
        }
    }
    Err(Some(code)) => assert!(matches!(code, 400 | 408 | 413 | 417 | 431 | 501 | 505)),
    Err(None) => {}
});
