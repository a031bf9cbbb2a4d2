//! The SOPS fuzz targets' bodies that reach internals, shared with `tests/fuzz_regressions.rs`
//! so the regression inputs replay through exactly the code the fuzzers ran. Each module's
//! `run` takes one input and panics only on a bug.
#![allow(dead_code)]

/// The decoder for OpenPGP messages written by Go's old OpenPGP library (`pgp_legacy`): never
/// panics, never returns more than its limit. Input: four header bytes (mode, cipher, length
/// framing, compression), then the rest.
///
/// * mode 0: the rest is a whole message, decrypted with a fixed session key;
/// * mode 1: the rest is the plaintext packet stream inside the encrypted packet, which the
///   harness encrypts with a valid MDC: any refusal must then come from those inner packets;
/// * mode 2: the rest is the payload, put in a literal packet (compressed or not), encrypted
///   and framed as Go's library did (short partial chunks): it must come back unchanged.
pub mod pgp_legacy {
    use std::io::Write;

    use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
    use sha1::{Digest, Sha1};
    use sigil::sops::keys::pgp_legacy::decrypt_seipd;

    /// The bound sigil reads a data key with.
    const LIMIT: usize = 4096;
    /// The refusals that come from the packets inside a message that decrypted with its MDC.
    const INNER_REFUSALS: [&str; 7] = [
        "unreadable inner packets",
        "short literal packet",
        "payload too large",
        "empty compressed packet",
        "unsupported compression",
        "decompression: ",
        "unexpected packets inside the encrypted message",
    ];

    /// One input.
    pub fn run(data: &[u8]) {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let rest = data.get(4..).unwrap_or_default();
        let algo = 7 + byte(1) % 3;
        let key = vec![0x42; 8 + 8 * usize::from(algo - 6)];
        let inner = match byte(0) % 3 {
            0 => {
                if let Ok(plain) = decrypt_seipd(rest, algo, &key, LIMIT) {
                    assert!(plain.len() <= LIMIT);
                }
                return;
            }
            1 => rest.to_vec(),
            _ => {
                let mut literal = vec![b'b', 0, 0, 0, 0, 0];
                literal.extend_from_slice(rest);
                let literal = packet(11, &literal, byte(2) / 6);
                match byte(3) % 3 {
                    0 => literal,
                    1 => packet(8, &compress(1, &literal), 0),
                    _ => packet(8, &compress(2, &literal), 0),
                }
            }
        };
        let message = seipd_message(algo, &key, &inner, byte(2) % 6);
        let result = decrypt_seipd(&message, algo, &key, LIMIT);
        match &result {
            Ok(plain) => assert!(plain.len() <= LIMIT),
            Err(e) => assert!(
                INNER_REFUSALS.iter().any(|r| e.starts_with(r)),
                "a well-formed encryption was refused for its framing or MDC: {e}"
            ),
        }
        if byte(0) % 3 == 2 {
            match result {
                Ok(plain) => assert_eq!(plain.as_slice(), rest, "the payload changed"),
                Err(e) => assert!(rest.len() > LIMIT, "a {}-byte payload: {e}", rest.len()),
            }
        }
    }

    /// A PKESK-like packet (never read by the decoder) then the SEIPD v1 packet holding `inner`
    /// with its MDC, encrypted in OpenPGP CFB mode (zero IV) with `key`.
    fn seipd_message(algo: u8, key: &[u8], inner: &[u8], framing: u8) -> Vec<u8> {
        let mut plain: Vec<u8> = (0u8..14).collect();
        plain.extend_from_slice(&[14, 15, 14, 15]);
        plain.extend_from_slice(inner);
        plain.extend_from_slice(&[0xD3, 0x14]);
        let mdc = Sha1::digest(&plain);
        plain.extend_from_slice(&mdc);
        let mut body = vec![1];
        body.extend(cfb_encrypt(algo, key, &plain));
        let mut out = packet(1, &[3, 0, 0], 0);
        out.extend(packet(18, &body, framing));
        out
    }

    /// A new-format packet; `framing` 1–5 splits the body into partial chunks of 2^framing
    /// bytes (shorter than RFC 4880's 512-byte minimum, as Go's library wrote them).
    fn packet(tag: u8, body: &[u8], framing: u8) -> Vec<u8> {
        let mut out = vec![0xC0 | tag];
        let mut body = body;
        let chunk_log = framing % 6;
        if chunk_log > 0 {
            let chunk = 1usize << chunk_log;
            while body.len() > chunk {
                out.push(0xE0 | chunk_log);
                out.extend_from_slice(&body[..chunk]);
                body = &body[chunk..];
            }
        }
        match body.len() {
            n if n < 192 => out.push(n as u8),
            n if n < 8384 => {
                let m = n - 192;
                out.extend_from_slice(&[(m >> 8) as u8 + 192, m as u8]);
            }
            n => {
                out.push(0xFF);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
        }
        out.extend_from_slice(body);
        out
    }

    /// A compressed packet's body: algorithm 1 (deflate) or 2 (zlib).
    fn compress(algo: u8, data: &[u8]) -> Vec<u8> {
        let out = vec![algo];
        let level = flate2::Compression::fast();
        if algo == 1 {
            let mut e = flate2::write::DeflateEncoder::new(out, level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        } else {
            let mut e = flate2::write::ZlibEncoder::new(out, level);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }

    /// OpenPGP CFB encryption with a zero IV (SEIPD v1), AES-128/192/256.
    fn cfb_encrypt(algo: u8, key: &[u8], data: &[u8]) -> Vec<u8> {
        enum Aes {
            A128(aes::Aes128),
            A192(aes::Aes192),
            A256(aes::Aes256),
        }
        let aes = match algo {
            7 => Aes::A128(aes::Aes128::new_from_slice(key).unwrap()),
            8 => Aes::A192(aes::Aes192::new_from_slice(key).unwrap()),
            _ => Aes::A256(aes::Aes256::new_from_slice(key).unwrap()),
        };
        let mut out = Vec::with_capacity(data.len());
        let mut fr = [0u8; 16];
        for chunk in data.chunks(16) {
            let mut block = GenericArray::clone_from_slice(&fr);
            match &aes {
                Aes::A128(a) => a.encrypt_block(&mut block),
                Aes::A192(a) => a.encrypt_block(&mut block),
                Aes::A256(a) => a.encrypt_block(&mut block),
            }
            let c: Vec<u8> = chunk.iter().zip(block.iter()).map(|(p, k)| p ^ k).collect();
            if c.len() == 16 {
                fr.copy_from_slice(&c);
            }
            out.extend(c);
        }
        out
    }
}
