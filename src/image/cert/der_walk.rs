//! Minimal strict DER walking, for the exact bytes that are signed (the TBSCertificate, the
//! SubjectPublicKeyInfo) and for rebuilding the precertificate TBS an SCT signs.

use super::{CertError, malformed};

/// One DER element.
#[derive(Clone, Copy)]
pub(super) struct Tlv<'a> {
    pub(super) tag: u8,
    /// The whole element (header and content).
    pub(super) all: &'a [u8],
    pub(super) content: &'a [u8],
}

pub(super) fn header_len(t: Tlv<'_>) -> usize {
    t.all.len() - t.content.len()
}

/// Reads one DER element (low tag numbers only, definite minimal lengths below 16 MiB) and
/// returns it with the rest of the input.
pub(super) fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), CertError> {
    let bad = || malformed("bad DER element");
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    if tag & 0x1f == 0x1f {
        return Err(bad());
    }
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 {
            return Err(bad());
        }
        let (bytes, r) = rest.split_at_checked(n).ok_or_else(bad)?;
        rest = r;
        if bytes.first() == Some(&0) {
            return Err(bad());
        }
        let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
        if len < 0x80 {
            return Err(bad());
        }
        len
    };
    let header = input.len() - rest.len();
    let (content, after) = rest.split_at_checked(len).ok_or_else(bad)?;
    let all = input.get(..header + len).ok_or_else(bad)?;
    Ok((Tlv { tag, all, content }, after))
}

/// The elements of a DER SEQUENCE's content.
pub(super) fn children(mut content: &[u8]) -> Result<Vec<Tlv<'_>>, CertError> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (t, rest) = read_tlv(content)?;
        out.push(t);
        content = rest;
    }
    Ok(out)
}

/// The fields of a TBSCertificate.
pub(super) fn tbs_fields(tbs: &[u8]) -> Result<Vec<Tlv<'_>>, CertError> {
    let (seq, rest) = read_tlv(tbs)?;
    if seq.tag != 0x30 || !rest.is_empty() {
        return Err(malformed("TBSCertificate is not one SEQUENCE"));
    }
    children(seq.content)
}

/// DER definite length octets.
fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    let mut out = vec![0x80 | significant.len() as u8];
    out.extend_from_slice(significant);
    out
}

pub(super) fn der_element(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// Re-encodes a TBSCertificate with its extension list replaced by `edit(old list)` (each entry
/// a whole Extension element); every other field keeps its exact bytes. An empty result drops
/// the `[3]` field.
pub(super) fn rebuild_tbs_extensions(
    tbs: &[u8],
    edit: impl FnOnce(Vec<&[u8]>) -> Result<Vec<Vec<u8>>, CertError>,
) -> Result<Vec<u8>, CertError> {
    let fields = tbs_fields(tbs)?;
    let mut content = Vec::with_capacity(tbs.len());
    let mut edit = Some(edit);
    for field in fields {
        if field.tag != 0xa3 {
            content.extend_from_slice(field.all);
            continue;
        }
        let (list, rest) = read_tlv(field.content)?;
        if list.tag != 0x30 || !rest.is_empty() {
            return Err(malformed("extensions field is not one SEQUENCE"));
        }
        let exts: Vec<&[u8]> = children(list.content)?.iter().map(|t| t.all).collect();
        let f = edit
            .take()
            .ok_or_else(|| malformed("two extensions fields"))?;
        let kept = f(exts)?.concat();
        if !kept.is_empty() {
            content.extend(der_element(0xa3, &der_element(0x30, &kept)));
        }
    }
    if edit.is_some() {
        return Err(malformed("no extensions"));
    }
    Ok(der_element(0x30, &content))
}

/// The OID of a whole Extension element.
pub(super) fn extension_oid(ext: &[u8]) -> Result<&[u8], CertError> {
    let (seq, _) = read_tlv(ext)?;
    let (id, _) = read_tlv(seq.content)?;
    if seq.tag != 0x30 || id.tag != 0x06 {
        return Err(malformed("bad Extension"));
    }
    Ok(id.content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_round_trip() {
        for len in [
            0usize, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xff_ffff,
        ] {
            let content = vec![0u8; len];
            let element = der_element(0x04, &content);
            let (t, rest) = read_tlv(&element).unwrap();
            assert_eq!((t.tag, t.content.len(), rest.len()), (0x04, len, 0));
        }
        // Non-minimal and indefinite lengths, high tag numbers, truncation.
        for bad in [
            &[0x04, 0x81, 0x01, 0x00][..],
            &[0x04, 0x80],
            &[0x1f, 0x01, 0x00],
            &[0x04, 0x02, 0x00],
            &[0x04, 0x82, 0x00, 0x80],
        ] {
            assert!(read_tlv(bad).is_err(), "{bad:?}");
        }
    }
}
