//! A narrow, strict decoder for OpenPGP messages written by Go's old OpenPGP library (as sops
//! did when `pubring.gpg` existed): a v3 PKESK, then a SEIPD v1 packet whose literal data uses a
//! first partial body chunk shorter than RFC 4880's 512-byte minimum, which sequoia refuses.
//!
//! Only this shape is accepted: the MDC is checked (constant time) before any byte is
//! returned; the payload is bounded; AES-128/192/256 only.

use std::io::Read;

use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// One packet: tag and (de-chunked) body.
struct Packet {
    tag: u8,
    body: Vec<u8>,
}

/// Splits binary OpenPGP data into packets, joining partial body chunks.
fn packets(data: &[u8]) -> Option<Vec<Packet>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let ctb = data[pos];
        if ctb & 0x80 == 0 {
            return None;
        }
        pos += 1;
        let mut body = Vec::new();
        let tag;
        if ctb & 0x40 != 0 {
            tag = ctb & 0x3f;
            loop {
                let first = *data.get(pos)? as usize;
                let (len, hdr, partial) = match first {
                    0..=191 => (first, 1, false),
                    192..=223 => (
                        ((first - 192) << 8) + *data.get(pos + 1)? as usize + 192,
                        2,
                        false,
                    ),
                    224..=254 => (1usize << (first & 0x1f), 1, true),
                    _ => {
                        let b = data.get(pos + 1..pos + 5)?;
                        (
                            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                            5,
                            false,
                        )
                    }
                };
                pos += hdr;
                body.extend_from_slice(data.get(pos..pos.checked_add(len)?)?);
                pos += len;
                if !partial {
                    break;
                }
            }
        } else {
            tag = (ctb >> 2) & 0x0f;
            let (len, hdr) = match ctb & 3 {
                0 => (*data.get(pos)? as usize, 1),
                1 => (
                    u16::from_be_bytes([*data.get(pos)?, *data.get(pos + 1)?]) as usize,
                    2,
                ),
                2 => {
                    let b = data.get(pos..pos + 4)?;
                    (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, 4)
                }
                _ => (data.len() - pos, 0),
            };
            pos += hdr;
            body.extend_from_slice(data.get(pos..pos.checked_add(len)?)?);
            pos += len;
        }
        out.push(Packet { tag, body });
    }
    Some(out)
}

/// OpenPGP CFB decryption with a zero IV (SEIPD v1), AES-128/192/256.
fn cfb_decrypt(algo: u8, key: &[u8], data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    enum C {
        A128(Box<aes::Aes128>),
        A192(Box<aes::Aes192>),
        A256(Box<aes::Aes256>),
    }
    let c = match (algo, key.len()) {
        (7, 16) => C::A128(Box::new(aes::Aes128::new_from_slice(key).ok()?)),
        (8, 24) => C::A192(Box::new(aes::Aes192::new_from_slice(key).ok()?)),
        (9, 32) => C::A256(Box::new(aes::Aes256::new_from_slice(key).ok()?)),
        _ => return None,
    };
    let mut out = Zeroizing::new(Vec::with_capacity(data.len()));
    let mut fr = [0u8; 16];
    for chunk in data.chunks(16) {
        let mut block = GenericArray::clone_from_slice(&fr);
        match &c {
            C::A128(a) => a.encrypt_block(&mut block),
            C::A192(a) => a.encrypt_block(&mut block),
            C::A256(a) => a.encrypt_block(&mut block),
        }
        for (i, b) in chunk.iter().enumerate() {
            out.push(b ^ block[i]);
        }
        if chunk.len() == 16 {
            fr.copy_from_slice(chunk);
        }
    }
    Some(out)
}

/// Decrypts the SEIPD v1 packet of `message` with a session key (algorithm id + key bytes)
/// and returns the literal data, at most `limit` bytes.
pub fn decrypt_seipd(
    message: &[u8],
    algo: u8,
    key: &[u8],
    limit: usize,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let pkts = packets(message).ok_or("unreadable OpenPGP packet framing")?;
    let seipd = pkts.iter().find(|p| p.tag == 18).ok_or("no SEIPD packet")?;
    let (version, ct) = seipd.body.split_first().ok_or("empty SEIPD packet")?;
    if *version != 1 {
        return Err("unsupported SEIPD version".into());
    }
    let plain = cfb_decrypt(algo, key, ct).ok_or("unsupported cipher")?;
    // prefix (16 random + 2 check bytes) ‖ packets ‖ MDC (0xD3 0x14 + SHA-1)
    if plain.len() < 18 + 22 || plain[14..16] != plain[16..18] {
        return Err("session key does not decrypt this message".into());
    }
    let mdc_at = plain.len() - 22;
    if plain[mdc_at..mdc_at + 2] != [0xD3, 0x14] {
        return Err("missing modification detection code".into());
    }
    let digest = Sha1::digest(&plain[..mdc_at + 2]);
    if !bool::from(digest.as_slice().ct_eq(&plain[mdc_at + 2..])) {
        return Err("modification detection code mismatch: the message was altered".into());
    }
    literal(&plain[18..mdc_at], limit, 0)
}

fn literal(data: &[u8], limit: usize, depth: u8) -> Result<Zeroizing<Vec<u8>>, String> {
    let pkts = packets(data).ok_or("unreadable inner packets")?;
    match pkts.as_slice() {
        [p] if p.tag == 11 => {
            let b = &p.body;
            let name_len = *b.get(1).ok_or("short literal packet")? as usize;
            let start = 2 + name_len + 4;
            let content = b.get(start..).ok_or("short literal packet")?;
            if content.len() > limit {
                return Err("payload too large".into());
            }
            Ok(Zeroizing::new(content.to_vec()))
        }
        [p] if p.tag == 8 && depth == 0 => {
            let (algo, rest) = p.body.split_first().ok_or("empty compressed packet")?;
            let mut out = Zeroizing::new(Vec::new());
            let cap = (limit as u64) * 2 + 4096;
            let r = match algo {
                1 => flate2::read::DeflateDecoder::new(rest)
                    .take(cap)
                    .read_to_end(&mut out),
                2 => flate2::read::ZlibDecoder::new(rest)
                    .take(cap)
                    .read_to_end(&mut out),
                _ => return Err("unsupported compression".into()),
            };
            r.map_err(|e| format!("decompression: {e}"))?;
            literal(&out, limit, depth + 1)
        }
        _ => Err("unexpected packets inside the encrypted message".into()),
    }
}
