//! OpenPGP signature packets as real signers write them. Go's OpenPGP encoder (GitHub's
//! web-flow signatures, for one) writes a signature MPI with a bit count of 8 × its byte length,
//! sometimes after a leading zero byte: a non-minimal encoding of the same integer, which gpg
//! and Go accept and sequoia's parser refuses. [`normalise`] re-encodes the MPIs of v4 signature
//! packets of known public-key algorithms minimally. The integer never changes, the hashed data
//! is untouched (signature MPIs are not hashed), and anything it does not understand exactly
//! (other packets, unknown algorithms, partial lengths, bytes left over, a declared bit count
//! the bytes do not carry) is left for the caller to refuse.

/// Number of MPIs in a signature made with a public-key algorithm (RFC 4880 §5.2.2, RFC 6637,
/// the EdDSA draft); None for algorithms whose signature is not a list of MPIs.
fn mpi_count(algo: u8) -> Option<usize> {
    match algo {
        1 | 3 => Some(1),        // RSA (encrypt or sign), RSA sign-only
        17 | 19 | 22 => Some(2), // DSA, ECDSA, EdDSA (legacy)
        _ => None,
    }
}

/// One packet: (tag, header length, body range).
fn packet(data: &[u8]) -> Option<(u8, std::ops::Range<usize>)> {
    let b0 = *data.first()?;
    if b0 & 0x80 == 0 {
        return None;
    }
    if b0 & 0x40 != 0 {
        // New format.
        let tag = b0 & 0x3f;
        let o1 = *data.get(1)? as usize;
        let (len, hdr) = match o1 {
            0..=191 => (o1, 2),
            192..=223 => (((o1 - 192) << 8) + *data.get(2)? as usize + 192, 3),
            255 => (
                u32::from_be_bytes(data.get(2..6)?.try_into().ok()?) as usize,
                6,
            ),
            _ => return None, // partial body lengths
        };
        Some((tag, hdr..hdr.checked_add(len)?))
    } else {
        let tag = (b0 >> 2) & 0x0f;
        let (len, hdr) = match b0 & 3 {
            0 => (*data.get(1)? as usize, 2),
            1 => (
                u16::from_be_bytes(data.get(1..3)?.try_into().ok()?) as usize,
                3,
            ),
            2 => (
                u32::from_be_bytes(data.get(1..5)?.try_into().ok()?) as usize,
                5,
            ),
            _ => return None, // indeterminate length
        };
        Some((tag, hdr..hdr.checked_add(len)?))
    }
}

/// A new-format packet header for `tag` and a body of `len` bytes.
fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut h = vec![0xc0 | tag];
    if len < 192 {
        h.push(len as u8);
    } else if len < 8384 {
        let l = len - 192;
        h.push(((l >> 8) + 192) as u8);
        h.push((l & 0xff) as u8);
    } else {
        h.push(255);
        h.extend_from_slice(&(len as u32).to_be_bytes());
    }
    h
}

/// A v4 signature body with its MPIs re-encoded minimally; None unless it is exactly a v4
/// signature of a known algorithm with well-formed MPIs.
fn signature_body(body: &[u8]) -> Option<Vec<u8>> {
    if body.first() != Some(&4) || body.len() < 6 {
        return None;
    }
    let count = mpi_count(body[2])?;
    let hashed = u16::from_be_bytes(body[4..6].try_into().ok()?) as usize;
    let at = 6 + hashed;
    let unhashed = u16::from_be_bytes(body.get(at..at + 2)?.try_into().ok()?) as usize;
    let mut pos = at + 2 + unhashed + 2; // the left 16 bits of the digest
    if pos > body.len() {
        return None;
    }
    let mut out = body[..pos].to_vec();
    for _ in 0..count {
        let bits = u16::from_be_bytes(body.get(pos..pos + 2)?.try_into().ok()?) as usize;
        let bytes = body.get(pos + 2..pos + 2 + bits.div_ceil(8))?;
        pos += 2 + bytes.len();
        let value = match bytes.iter().position(|&b| b != 0) {
            Some(i) => &bytes[i..],
            None => &[][..],
        };
        let real_bits = match value.first() {
            Some(&top) => value.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        };
        // The declared count may exceed the value's (Go) but never fall short of it.
        if real_bits > bits {
            return None;
        }
        out.extend_from_slice(&(real_bits as u16).to_be_bytes());
        out.extend_from_slice(value);
    }
    (pos == body.len()).then_some(out)
}

/// Re-encodes the signature MPIs of a binary packet sequence minimally. Returns None when
/// nothing changed or something is not exactly understood (the caller then refuses with the
/// parser's own error).
pub fn normalise(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    let mut changed = false;
    while !rest.is_empty() {
        let (tag, range) = packet(rest)?;
        let body = rest.get(range.clone())?;
        if tag == 2 {
            let fixed = signature_body(body)?;
            changed |= fixed != body;
            out.extend_from_slice(&header(tag, fixed.len()));
            out.extend_from_slice(&fixed);
        } else {
            out.extend_from_slice(&rest[..range.end]);
        }
        rest = &rest[range.end..];
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal v4 RSA signature packet (old-format header) with MPI `mpi` as written.
    fn rsa_packet(mpi: &[u8], trailing: &[u8]) -> Vec<u8> {
        let mut body = vec![4, 0x00, 1, 8, 0, 0, 0, 0, 0xab, 0xcd];
        body.extend_from_slice(mpi);
        body.extend_from_slice(trailing);
        let mut p = vec![0x88, body.len() as u8];
        p.extend(body);
        p
    }

    #[test]
    fn go_style_mpis_become_minimal_and_keep_their_value() {
        // 0x7f 0x01: 15 bits; Go writes 16.
        let go = rsa_packet(&[0x00, 0x10, 0x7f, 0x01], &[]);
        let fixed = normalise(&go).unwrap();
        assert_eq!(&fixed[fixed.len() - 4..], &[0x00, 0x0f, 0x7f, 0x01]);
        // A leading zero byte: 24 bits declared over 00 7f 01.
        let go = rsa_packet(&[0x00, 0x18, 0x00, 0x7f, 0x01], &[]);
        let fixed = normalise(&go).unwrap();
        assert_eq!(&fixed[fixed.len() - 4..], &[0x00, 0x0f, 0x7f, 0x01]);
        // Already minimal: nothing to do.
        assert!(normalise(&rsa_packet(&[0x00, 0x0f, 0x7f, 0x01], &[])).is_none());
    }

    #[test]
    fn anything_not_exactly_understood_is_left_alone() {
        // A trailing byte after the MPIs.
        assert!(normalise(&rsa_packet(&[0x00, 0x10, 0x7f, 0x01], &[0x00])).is_none());
        // A declared count shorter than the value.
        assert!(normalise(&rsa_packet(&[0x00, 0x08, 0x7f, 0x01], &[])).is_none());
        // Truncated bytes.
        assert!(normalise(&rsa_packet(&[0x00, 0x18, 0x7f, 0x01], &[])).is_none());
        // An unknown public-key algorithm.
        let mut p = rsa_packet(&[0x00, 0x10, 0x7f, 0x01], &[]);
        p[4] = 99;
        assert!(normalise(&p).is_none());
        // Not a signature: passed through, so nothing changed.
        assert!(normalise(&[0xcb, 0x01, 0x00]).is_none());
        assert!(normalise(&[]).is_none());
        assert!(normalise(&[0x88]).is_none());
    }
}
