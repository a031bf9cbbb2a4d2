//! Shamir secret sharing as sops does it (Vault's layout): GF(2^8) with the AES polynomial
//! 0x11B, one random polynomial per secret byte, share `i` evaluated at x = i+1 and stored as
//! the y bytes followed by one x byte.

use rand::RngCore;
use zeroize::Zeroizing;

use super::error::Error;

/// Constant-time multiplication in GF(2^8) modulo x^8+x^4+x^3+x+1.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0u8;
    for _ in 0..8 {
        r ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1B & carry);
        b >>= 1;
    }
    r
}

/// Multiplicative inverse (a^254); the inverse of 0 is 0.
fn inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e > 0 {
        if e & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    result
}

/// Splits `secret` into `parts` shares, any `threshold` of which rebuild it.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, Error> {
    if threshold < 2 || parts < threshold || parts > 255 {
        return Err(Error::Config(format!(
            "Shamir needs 2 <= threshold <= groups <= 255 (threshold {threshold}, {parts} key groups)"
        )));
    }
    if secret.is_empty() {
        return Err(Error::Generic("cannot split an empty secret".into()));
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (0..parts)
        .map(|_| Zeroizing::new(vec![0u8; secret.len() + 1]))
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for (idx, &byte) in secret.iter().enumerate() {
        coeffs[0] = byte;
        rand::rngs::OsRng.fill_bytes(&mut coeffs[1..]);
        for (i, share) in shares.iter_mut().enumerate() {
            let x = (i + 1) as u8;
            // Horner's rule from the highest coefficient.
            let mut y = 0u8;
            for c in coeffs.iter().rev() {
                y = mul(y, x) ^ c;
            }
            share[idx] = y;
        }
    }
    for (i, share) in shares.iter_mut().enumerate() {
        let last = share.len() - 1;
        share[last] = (i + 1) as u8;
    }
    Ok(shares)
}

/// Rebuilds the secret from at least two shares of equal length with distinct x bytes.
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if shares.len() < 2 {
        return Err(Error::KeyRecovery(
            "less than two Shamir shares to combine".into(),
        ));
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(Error::KeyRecovery(
            "Shamir shares have different or too short lengths".into(),
        ));
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, a) in xs.iter().enumerate() {
        if xs[i + 1..].contains(a) {
            return Err(Error::KeyRecovery(
                "two Shamir shares have the same x coordinate".into(),
            ));
        }
    }
    // Lagrange basis at x = 0: L_i = prod_{j != i} x_j / (x_i ^ x_j).
    let basis: Vec<u8> = (0..xs.len())
        .map(|i| {
            let mut l = 1u8;
            for j in 0..xs.len() {
                if i != j {
                    l = mul(l, mul(xs[j], inv(xs[i] ^ xs[j])));
                }
            }
            l
        })
        .collect();
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (idx, out) in secret.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (share, l) in shares.iter().zip(&basis) {
            acc ^= mul(share[idx], *l);
        }
        *out = acc;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_inverse() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "{a}");
        }
        assert_eq!(mul(0x57, 0x83), 0xC1); // FIPS-197 example
    }

    #[test]
    fn any_threshold_subset_recovers() {
        let secret: Vec<u8> = (0..32).collect();
        let shares = split(&secret, 3, 2).unwrap();
        assert!(
            shares
                .iter()
                .enumerate()
                .all(|(i, s)| s.len() == 33 && s[32] == i as u8 + 1)
        );
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            assert_eq!(
                &combine(&[&shares[a], &shares[b]]).unwrap()[..],
                &secret[..]
            );
        }
        assert_eq!(
            &combine(&[&shares[0], &shares[1], &shares[2]]).unwrap()[..],
            &secret[..]
        );
        assert!(split(&secret, 3, 1).is_err());
    }
}
