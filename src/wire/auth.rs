//! heartbeat's signatures (spec §2): crc, HMAC-MD5, HMAC-SHA1 exactly as 3.0.6
//! computes them, plus HMAC-SHA256 (hbd's own). A token is `<index> <hex>`.
//! Verification answers a named [`Verdict`], does the cheap checks (token shape,
//! known index, digest length) before any MAC, and compares in constant time.

use crate::config::{Auth, AuthKey, AuthMethod};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// The outcome of checking one token against the data it claims to sign.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// The token is not `<index> <hex>`.
    Malformed,
    /// No token at all.
    Unsigned,
    /// The index names no key in authkeys.
    UnknownKey(u8),
    BadMac,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Malformed => "malformed",
            Verdict::Unsigned => "unsigned",
            Verdict::UnknownKey(_) => "unknown_key",
            Verdict::BadMac => "bad_mac",
        }
    }
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// heartbeat's crc.so: CRC-32/POSIX without the length suffix (MSB first,
/// init 0, final complement), not zlib's crc32.
pub fn crc32_posix(data: &[u8]) -> u32 {
    let crc = data.iter().fold(0u32, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[((crc >> 24) ^ u32::from(b)) as usize]
    });
    !crc
}

/// A digest in lowercase hex, or a token (`<index> <hex>`), on the stack:
/// signing and checking a heartbeat allocates nothing.
#[derive(Clone, Copy)]
pub struct Hex {
    buf: [u8; 68],
    len: usize,
}

impl Hex {
    fn new() -> Hex {
        Hex {
            buf: [0; 68],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn push_hex(&mut self, bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for &b in bytes {
            self.push(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits, letters and a space are ever pushed.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

fn hmac_hex<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8], out: &mut Hex) {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    out.push_hex(&mac.finalize().into_bytes());
}

fn digest_into(key: &AuthKey, data: &[u8], out: &mut Hex) {
    let k = &key.secret.0;
    match key.method {
        AuthMethod::Crc => out.push(super::text::Num::hex(crc32_posix(data).into()).as_bytes()),
        AuthMethod::Md5 => hmac_hex::<Hmac<md5::Md5>>(k, data, out),
        AuthMethod::Sha1 => hmac_hex::<Hmac<sha1::Sha1>>(k, data, out),
        AuthMethod::Sha256 => hmac_hex::<Hmac<sha2::Sha256>>(k, data, out),
    }
}

/// The lowercase hex digest heartbeat prints for `data` under `key`; crc is
/// printed with `%lx`, so without leading zeros.
pub fn digest_hex(key: &AuthKey, data: &[u8]) -> Hex {
    let mut h = Hex::new();
    digest_into(key, data, &mut h);
    h
}

/// [`digest_hex`] as a `String`.
pub fn digest(key: &AuthKey, data: &[u8]) -> String {
    digest_hex(key, data).as_str().to_string()
}

/// The token `<index> <hex>` signing `data` with key `index`, on the stack.
pub fn token_hex(index: u8, key: &AuthKey, data: &[u8]) -> Hex {
    let mut h = Hex::new();
    h.push(super::text::Num::dec(index.into()).as_bytes());
    h.push(b" ");
    digest_into(key, data, &mut h);
    h
}

/// The token `<index> <hex>` signing `data` with key `index`.
pub fn token(index: u8, key: &AuthKey, data: &[u8]) -> String {
    token_hex(index, key, data).as_str().to_string()
}

/// Splits `<index> <hex>`: a decimal index 0..=255 (any larger is malformed), one
/// space, a non-empty run of non-blank bytes and nothing after it.
pub fn parse_token(token: &[u8]) -> Option<(u8, &[u8])> {
    let sp = token.iter().position(|&b| b == b' ')?;
    let (idx, mac) = (&token[..sp], &token[sp + 1..]);
    if idx.is_empty() || idx.len() > 3 || !idx.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = idx.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let n = u8::try_from(n).ok()?;
    if mac.is_empty() || mac.iter().any(|b| b.is_ascii_whitespace() || *b == 0) {
        return None;
    }
    Some((n, mac))
}

/// Digest lengths in hex characters each method can produce.
fn plausible(method: AuthMethod, mac: &[u8]) -> bool {
    let len_ok = match method {
        AuthMethod::Crc => (1..=8).contains(&mac.len()),
        AuthMethod::Md5 => mac.len() == 32,
        AuthMethod::Sha1 => mac.len() == 40,
        AuthMethod::Sha256 => mac.len() == 64,
    };
    len_ok && mac.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The cheap part of verification: token shape, a known index, a digest of the
/// right length. On success returns the key and the claimed digest; the caller
/// then builds the signed bytes and calls [`check_mac`].
pub fn precheck<'a, 't>(
    auth: &'a Auth,
    token: Option<&'t [u8]>,
) -> Result<(&'a AuthKey, &'t [u8]), Verdict> {
    let token = token.ok_or(Verdict::Unsigned)?;
    let (index, mac) = parse_token(token).ok_or(Verdict::Malformed)?;
    let key = auth.keys.get(&index).ok_or(Verdict::UnknownKey(index))?;
    if !plausible(key.method, mac) {
        return Err(Verdict::BadMac);
    }
    Ok((key, mac))
}

/// Recomputes the digest and compares in constant time.
pub fn check_mac(key: &AuthKey, mac: &[u8], data: &[u8]) -> Verdict {
    let want = digest_hex(key, data);
    if want.as_bytes().ct_eq(mac).into() {
        Verdict::Ok
    } else {
        Verdict::BadMac
    }
}

/// Both steps: the verdict on `token` signing `data`.
pub fn verify(auth: &Auth, token: Option<&[u8]>, data: &[u8]) -> Verdict {
    match precheck(auth, token) {
        Ok((key, mac)) => check_mac(key, mac, data),
        Err(v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn key(method: AuthMethod, s: &str) -> AuthKey {
        AuthKey {
            method,
            secret: Secret(s.as_bytes().to_vec()),
        }
    }

    #[test]
    fn crc_is_posix_cksum_without_length() {
        assert_eq!(crc32_posix(b"123456789"), 0x765e_7680);
        // %lx drops leading zeros (spec §2.2).
        let k = key(AuthMethod::Crc, "");
        let d = digest(&k, b"");
        assert_eq!(d, "ffffffff");
    }

    #[test]
    fn worked_example_inner_digests() {
        let data = b"t=status\nst=active\ndt=1770\nprotocol=1\nsrc=node1\nseq=2a\nhg=65a1b2c0\nts=65a1b2c3\nld=0.00 0.01 0.05 1/123 4567\nttl=3\n";
        // The spec's §2.6 says 113 bytes; the text it gives (and hashes) is 114.
        assert_eq!(data.len(), 114);
        assert_eq!(
            digest(&key(AuthMethod::Sha1, "SecretKey123"), data),
            "8730ac4e0387a17aa2576c9011e489d7a11f50f9"
        );
        assert_eq!(
            digest(&key(AuthMethod::Md5, "SecretKey123"), data),
            "ad6c3168fb289e722f54ca25f40ea756"
        );
        assert_eq!(digest(&key(AuthMethod::Crc, ""), data), "ff8ff70e");
    }

    #[test]
    fn verdicts_are_named_and_cheap_checks_come_first() {
        let mut auth = Auth {
            send_index: 1,
            ..Default::default()
        };
        auth.keys.insert(1, key(AuthMethod::Sha1, "k"));
        let good = token(1, &auth.keys[&1], b"data");
        assert_eq!(verify(&auth, Some(good.as_bytes()), b"data"), Verdict::Ok);
        assert_eq!(
            verify(&auth, Some(good.as_bytes()), b"datb"),
            Verdict::BadMac
        );
        assert_eq!(verify(&auth, None, b"data"), Verdict::Unsigned);
        assert_eq!(verify(&auth, Some(b"1"), b"data"), Verdict::Malformed);
        assert_eq!(verify(&auth, Some(b"x abc"), b"data"), Verdict::Malformed);
        assert_eq!(
            verify(&auth, Some(b"1 abc def"), b"data"),
            Verdict::Malformed
        );
        assert_eq!(verify(&auth, Some(b"300 abc"), b"data"), Verdict::Malformed);
        assert_eq!(
            verify(&auth, Some(b"2 abc"), b"data"),
            Verdict::UnknownKey(2)
        );
        // Wrong length or uppercase hex never reaches the MAC.
        assert_eq!(verify(&auth, Some(b"1 abc"), b"data"), Verdict::BadMac);
        let upper = good.to_uppercase();
        assert_eq!(
            verify(&auth, Some(upper.as_bytes()), b"data"),
            Verdict::BadMac
        );
    }

    #[test]
    fn sha256_is_rfc4231() {
        // RFC 4231 test case 2.
        let k = key(AuthMethod::Sha256, "Jefe");
        assert_eq!(
            digest(&k, b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
