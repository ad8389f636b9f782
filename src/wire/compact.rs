//! hbd's compact signed serial frame (hbd-to-hbd only, `[hbd] compact_serial`).
//! A classic status frame is ~200-300 bytes, so a 19200-baud line carries only
//! a few per second; one line carries the same status in ~60 bytes:
//!
//! ```text
//! ~s <index> <st> <dt> <src> <seq> <hg> <ts> <ttl> <mac>\n
//! ~k <index> <dest> <ackseq> <src> <hg> <ts> <ttl> <mac>\n
//! ```
//!
//! `s` is a status, `k` an ACK (`NS_ackmsg`, sent every few messages). `st` is
//! one letter (`i`nit, `u`p, `a`ctive, `d`ead), the counters are the message's
//! own lowercase hex strings, `mac` is the configured method's HMAC over every
//! byte before it (index included), truncated to 96 bits and written in
//! unpadded base64url (crc: its 32 bits). Only printable ASCII and one final
//! `\n`, so ISTRIP and IGNCR leave it alone; it does not start with `>>>`, so a
//! heartbeat peer or the classic framer skips it as noise. Only messages of
//! exactly the shape the core sends are encoded; anything else goes classic.
//! The uuid fields are not carried (see `Cursor::skip_uuid`).

use super::message::{FieldType, Message};
use crate::config::{Auth, AuthKey, AuthMethod};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// What a compact status frame starts with; an ACK starts `~k `.
pub const START: &[u8] = b"~s ";
const START_ACK: &[u8] = b"~k ";

/// Whether `bytes` starts like a compact frame (either kind).
pub fn starts_frame(bytes: &[u8]) -> bool {
    bytes.starts_with(START) || bytes.starts_with(START_ACK)
}

/// Where the first compact start marker (either kind) is in `line`.
pub fn find_start(line: &[u8]) -> Option<usize> {
    line.windows(3).position(starts_frame)
}

/// The longest frame accepted: far above any real one (~60 bytes), so hostile
/// input is cut off before any work.
pub const MAX_FRAME: usize = 256;

/// Bytes of HMAC kept: 96 bits, as HMAC-SHA1-96 in IPsec; the core's sequence
/// and generation checks stop replays, so forging is the only attack left.
pub const MAC_BYTES: usize = 12;

/// The longest node name carried (heartbeat's hostnames are shorter).
const MAX_SRC: usize = 64;

/// Why bytes are not a compact frame. Messages name the offending token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    #[error("compact frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooBig(usize),
    #[error("compact frame does not start with \"~s \" or \"~k \" and end with one newline")]
    Framing,
    #[error("compact frame has {0} tokens (expected {1})")]
    Tokens(usize, usize),
    #[error("compact frame: bad {what} {value:?}")]
    Token { what: &'static str, value: String },
}

/// The decoded frame: the message it stands for, and its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub message: Message,
    pub index: u8,
    pub mac: &'a [u8],
    /// The signed bytes: everything before the MAC.
    pub signed: &'a [u8],
}

fn st_code(st: &[u8]) -> Option<&'static str> {
    Some(match st {
        b"init" => "i",
        b"up" => "u",
        b"active" => "a",
        b"dead" => "d",
        _ => return None,
    })
}

fn st_name(code: &[u8]) -> Option<&'static str> {
    Some(match code {
        b"i" => "init",
        b"u" => "up",
        b"a" => "active",
        b"d" => "dead",
        _ => return None,
    })
}

/// Lowercase hex as the core writes it (`{:x}`): no leading zero, ≤ 64 bits.
fn canonical_hex(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 16
        && v.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && (v.len() == 1 || v[0] != b'0')
}

fn canonical_dec(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 3
        && v.iter().all(u8::is_ascii_digit)
        && (v.len() == 1 || v[0] != b'0')
}

fn plain_token(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= MAX_SRC && v.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// Walks a message's fields in order, as the core lays them out.
struct Cursor<'m> {
    f: &'m [super::Field],
    i: usize,
}

impl<'m> Cursor<'m> {
    fn take(&mut self, name: &str) -> Option<&'m [u8]> {
        let fld = self.f.get(self.i)?;
        if fld.name != name || fld.ftype != FieldType::String {
            return None;
        }
        self.i += 1;
        Some(&fld.value)
    }

    /// Skips a binary uuid field if it is next. They are not sent: the core
    /// learns the peer's uuid only to address messages, and addressing by
    /// name (`dest`) works the same between two nodes.
    fn skip_uuid(&mut self, name: &str) {
        if self
            .f
            .get(self.i)
            .is_some_and(|x| x.name == name && x.ftype == FieldType::Binary)
        {
            self.i += 1;
        }
    }

    fn done(&self) -> bool {
        self.i == self.f.len()
    }
}

/// The frame's kind letter and tokens if `msg` is a status
/// (`t st dt protocol=1 src [srcuuid] seq hg ts ttl` → `s`: `st dt src seq hg
/// ts ttl`) or an ACK (`t dest ackseq [destuuid] src [srcuuid] hg ts ttl` →
/// `k`: `dest ackseq src hg ts ttl`) of exactly the core's shape, all values
/// canonical; None means: send it classic.
fn body(msg: &Message) -> Option<(u8, Vec<u8>)> {
    let mut c = Cursor {
        f: msg.fields(),
        i: 0,
    };
    // The kind, the tokens in frame order, and which must be hex / names.
    type Shape<'a> = (u8, Vec<&'a [u8]>, Vec<&'a [u8]>, Vec<&'a [u8]>);
    let (kind, toks, hex, names): Shape = match c.take("t")? {
        b"status" => {
            let st = st_code(c.take("st")?)?.as_bytes();
            let dt = c.take("dt")?;
            if c.take("protocol")? != b"1" {
                return None;
            }
            let src = c.take("src")?;
            c.skip_uuid("srcuuid");
            let (seq, hg, ts) = (c.take("seq")?, c.take("hg")?, c.take("ts")?);
            let ttl = c.take("ttl")?;
            (
                b's',
                vec![st, dt, src, seq, hg, ts, ttl],
                vec![dt, seq, hg, ts],
                vec![src],
            )
        }
        b"NS_ackmsg" => {
            let (dest, ackseq) = (c.take("dest")?, c.take("ackseq")?);
            c.skip_uuid("destuuid");
            let src = c.take("src")?;
            c.skip_uuid("srcuuid");
            let (hg, ts, ttl) = (c.take("hg")?, c.take("ts")?, c.take("ttl")?);
            (
                b'k',
                vec![dest, ackseq, src, hg, ts, ttl],
                vec![ackseq, hg, ts],
                vec![dest, src],
            )
        }
        _ => return None,
    };
    let ttl = toks[toks.len() - 1];
    if !c.done()
        || !hex.iter().all(|v| canonical_hex(v))
        || !names.iter().all(|v| plain_token(v))
        || !canonical_dec(ttl)
    {
        return None;
    }
    Some((kind, toks.join(&b' ')))
}

/// Whether `msg` would go out as a compact frame.
pub fn encodable(msg: &Message) -> bool {
    body(msg).is_some()
}

/// The truncated MAC of `data` under `key`, as written in the frame.
pub fn mac(key: &AuthKey, data: &[u8]) -> String {
    fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(data);
        m.finalize().into_bytes()[..MAC_BYTES].to_vec()
    }
    let k = &key.secret.0;
    let raw = match key.method {
        AuthMethod::Crc => super::auth::crc32_posix(data).to_be_bytes().to_vec(),
        AuthMethod::Md5 => hmac::<Hmac<md5::Md5>>(k, data),
        AuthMethod::Sha1 => hmac::<Hmac<sha1::Sha1>>(k, data),
        AuthMethod::Sha256 => hmac::<Hmac<sha2::Sha256>>(k, data),
    };
    URL_SAFE_NO_PAD.encode(raw)
}

/// Length in characters of the MAC token for `method`.
fn mac_len(method: AuthMethod) -> usize {
    match method {
        AuthMethod::Crc => 6,
        _ => 16,
    }
}

/// The compact frame for `msg` signed with key `index`, or None when `msg` is
/// not a status of the core's shape (the caller sends it classic).
pub fn encode(msg: &Message, index: u8, key: &AuthKey) -> Option<Vec<u8>> {
    let (kind, body) = body(msg)?;
    let mut out = Vec::with_capacity(body.len() + 32);
    out.extend_from_slice(&[b'~', kind, b' ']);
    out.extend_from_slice(index.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(&body);
    out.push(b' ');
    let m = mac(key, &out);
    out.extend_from_slice(m.as_bytes());
    out.push(b'\n');
    Some(out)
}

/// Parses a frame (with its newline) without checking the MAC.
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>, CompactError> {
    if bytes.len() > MAX_FRAME {
        return Err(CompactError::TooBig(bytes.len()));
    }
    let line = bytes
        .strip_suffix(b"\n")
        .filter(|l| starts_frame(l) && l.iter().all(|b| (0x20..=0x7e).contains(b)))
        .ok_or(CompactError::Framing)?;
    let toks: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let want = if line[1] == b's' { 10 } else { 9 };
    if toks.len() != want {
        return Err(CompactError::Tokens(toks.len(), want));
    }
    let bad = |what: &'static str, v: &[u8]| CompactError::Token {
        what,
        value: String::from_utf8_lossy(v).into_owned(),
    };
    let (idx, mac) = (toks[1], toks[toks.len() - 1]);
    let index = if canonical_dec(idx) {
        std::str::from_utf8(idx)
            .ok()
            .and_then(|s| s.parse::<u8>().ok())
    } else {
        None
    }
    .ok_or_else(|| bad("key index", idx))?;
    let hex = |what: &'static str, v: &[u8]| {
        if canonical_hex(v) {
            Ok(String::from_utf8_lossy(v).into_owned())
        } else {
            Err(bad(what, v))
        }
    };
    let name = |what: &'static str, v: &[u8]| {
        if plain_token(v) {
            Ok(String::from_utf8_lossy(v).into_owned())
        } else {
            Err(bad(what, v))
        }
    };
    let ttl = toks[toks.len() - 2];
    if !canonical_dec(ttl) {
        return Err(bad("ttl", ttl));
    }
    let ttl = String::from_utf8_lossy(ttl).into_owned();
    let m = if let [_, _, st, dt, src, seq, hg, ts, _, _] = toks[..] {
        let st = st_name(st).ok_or_else(|| bad("state", st))?;
        let mut m = Message::with_type("status");
        m.add("st", st);
        m.add("dt", &hex("dt", dt)?);
        m.add("protocol", "1");
        m.add("src", &name("src", src)?);
        m.add("seq", &hex("seq", seq)?);
        m.add("hg", &hex("hg", hg)?);
        m.add("ts", &hex("ts", ts)?);
        m.add("ttl", &ttl);
        m
    } else if let [_, _, dest, ackseq, src, hg, ts, _, _] = toks[..] {
        let mut m = Message::with_type("NS_ackmsg");
        m.add("dest", &name("dest", dest)?);
        m.add("ackseq", &hex("ackseq", ackseq)?);
        m.add("src", &name("src", src)?);
        m.add("hg", &hex("hg", hg)?);
        m.add("ts", &hex("ts", ts)?);
        m.add("ttl", &ttl);
        m
    } else {
        return Err(CompactError::Tokens(toks.len(), want));
    };
    if mac.is_empty() {
        return Err(bad("mac", mac));
    }
    let signed = &line[..line.len() - mac.len()];
    Ok(Decoded {
        message: m,
        index,
        mac,
        signed,
    })
}

/// The verdict on a decoded frame: known index, MAC of the method's length,
/// then the MAC itself, compared in constant time.
pub fn verify(auth: &Auth, d: &Decoded<'_>) -> super::Verdict {
    use super::Verdict;
    let Some(key) = auth.keys.get(&d.index) else {
        return Verdict::UnknownKey(d.index);
    };
    if d.mac.len() != mac_len(key.method) {
        return Verdict::BadMac;
    }
    let want = mac(key, d.signed);
    if want.as_bytes().ct_eq(d.mac).into() {
        Verdict::Ok
    } else {
        Verdict::BadMac
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::authkeys;
    use crate::wire::{self, Rejection, Verdict};
    use proptest::prelude::*;

    fn keys(text: &str) -> Auth {
        authkeys::parse(text, std::path::Path::new("authkeys")).0
    }

    fn sha256() -> Auth {
        keys("auth 1\n1 sha256 SecretKey123\n2 sha1 other\n")
    }

    /// A status exactly as the core sends it (`Node::send_status` + envelope).
    fn status(st: &str, src: &str, seq: u64, hg: u64, ts: u64, dt: u64, ttl: u8) -> Message {
        let mut m = Message::with_type("status");
        m.add("st", st);
        m.add("dt", &format!("{dt:x}"));
        m.add("protocol", "1");
        m.add("src", src);
        m.add_binary("srcuuid", &[7u8; 16]);
        m.add("seq", &format!("{seq:x}"));
        m.add("hg", &format!("{hg:x}"));
        m.add("ts", &format!("{ts:x}"));
        m.add("ttl", &ttl.to_string());
        m
    }

    fn without_uuid(mut m: Message) -> Message {
        m.remove_all("srcuuid");
        m
    }

    #[test]
    fn status_frame_fits_in_sixty_bytes() {
        let a = sha256();
        let m = status("active", "alpha", 0x2a, 0x65a1_b2c0, 0x65a1_b2c3, 0x1770, 3);
        let f = wire::seal_serial(&m, &a, true).unwrap();
        assert!(
            f.starts_with(b"~s 1 a 1770 alpha 2a 65a1b2c0 65a1b2c3 3 "),
            "{f:?}"
        );
        assert_eq!(f.len(), 58, "{}", String::from_utf8_lossy(&f));
        assert!(f.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\n'));
        assert_eq!(wire::open(&f, &a), Ok(without_uuid(m.clone())));
        // Even after a day of uptime and with a long node name it stays short.
        let m = status(
            "up",
            "node-long-12",
            u32::MAX.into(),
            0x6900_0000,
            0x6900_0000,
            0xffff,
            3,
        );
        assert!(wire::seal_serial(&m, &a, true).unwrap().len() <= 72);
    }

    #[test]
    fn other_messages_and_odd_statuses_go_classic() {
        let a = sha256();
        let mut ack = Message::with_type("NS_ackmsg");
        ack.add("dest", "beta");
        let mut extra = status("active", "alpha", 1, 2, 3, 4, 3);
        extra.add("info", "x");
        let mut padded = status("active", "alpha", 1, 2, 3, 4, 3);
        padded.set("seq", "01");
        let odd = status("standby", "alpha", 1, 2, 3, 4, 3);
        let spaced = status("active", "al pha", 1, 2, 3, 4, 3);
        for m in [ack, extra, padded, odd, spaced] {
            assert!(!encodable(&m), "{m:?}");
            let f = wire::seal_serial(&m, &a, true).unwrap();
            assert!(f.starts_with(b">>>\n"), "{m:?}");
            assert_eq!(wire::open(&f, &a), Ok(m));
        }
        // Off means classic even for a status.
        let m = status("active", "alpha", 1, 2, 3, 4, 3);
        assert!(wire::seal_serial(&m, &a, false)
            .unwrap()
            .starts_with(b">>>\n"));
    }

    #[test]
    fn verdicts_are_named() {
        let a = sha256();
        let m = status("up", "beta", 5, 6, 7, 8, 3);
        let f = encode(&m, 1, &a.keys[&1]).unwrap();
        let other = keys("auth 1\n1 sha256 WrongKey\n");
        assert_eq!(wire::open(&f, &other), Err(Rejection::BadMac));
        let only2 = keys("auth 2\n2 sha256 SecretKey123\n");
        assert_eq!(wire::open(&f, &only2), Err(Rejection::UnknownKey(1)));
        // Key 2 is sha1: the frame verifies with its own truncated HMAC-SHA1.
        let f2 = encode(&m, 2, &a.keys[&2]).unwrap();
        assert_eq!(wire::open(&f2, &a), Ok(without_uuid(m.clone())));
        // A crc frame carries a 6-character MAC; a 16-character one is refused
        // before any MAC is computed.
        let crc = keys("auth 3\n3 crc\n");
        let fc = encode(&m, 3, &crc.keys[&3]).unwrap();
        assert_eq!(wire::open(&fc, &crc), Ok(without_uuid(m.clone())));
        let mut long = fc[..fc.len() - 7].to_vec();
        long.extend_from_slice(b"AAAAAAAAAAAAAAAA\n");
        assert_eq!(wire::open(&long, &crc), Err(Rejection::BadMac));
        for (bad, what) in [
            (&b"~s 1 a 8 beta 5 6 7 3 xxxxxxxxxxxxxxxx"[..], "newline"),
            (b"~s 1 q 8 beta 5 6 7 3 xxxxxxxxxxxxxxxx\n", "state"),
            (b"~s 1 a 08 beta 5 6 7 3 xxxxxxxxxxxxxxxx\n", "dt"),
            (b"~s 256 a 8 beta 5 6 7 3 xxxxxxxxxxxxxxxx\n", "key index"),
            (b"~s 1 a 8 beta 5 6 7 3\n", "tokens"),
        ] {
            let e = wire::open(bad, &a).unwrap_err();
            assert_eq!(e.reason(), "malformed", "{what}");
            assert!(e.to_string().contains(what), "{what}: {e}");
        }
        let long_src = format!("~s 1 a 8 {} 5 6 7 3 xxxxxxxxxxxxxxxx\n", "b".repeat(65));
        let e = wire::open(long_src.as_bytes(), &a).unwrap_err();
        assert!(e.to_string().contains("bad src"), "{e}");
        let e = wire::open(&[b"~s ".as_slice(), &[b'a'; 300]].concat(), &a).unwrap_err();
        assert!(e.to_string().contains("303 bytes"), "{e}");
    }

    /// An ACK exactly as the core sends it (`Node::send_ack` + envelope).
    fn ack(dest: &str, ackseq: u64, src: &str, hg: u64, ts: u64, uuids: bool) -> Message {
        let mut m = Message::with_type("NS_ackmsg");
        m.add("dest", dest);
        m.add("ackseq", &format!("{ackseq:x}"));
        if uuids {
            m.add_binary("destuuid", &[8u8; 16]);
        }
        m.add("src", src);
        m.add_binary("srcuuid", &[7u8; 16]);
        m.add("hg", &format!("{hg:x}"));
        m.add("ts", &format!("{ts:x}"));
        m.add("ttl", "3");
        m
    }

    fn without_uuids(mut m: Message) -> Message {
        m.remove_all("srcuuid");
        m.remove_all("destuuid");
        m
    }

    #[test]
    fn acks_go_compact_too() {
        let a = sha256();
        for uuids in [false, true] {
            let m = ack("beta", 0x2a, "alpha", 0x65a1_b2c0, 0x65a1_b2c3, uuids);
            let f = wire::seal_serial(&m, &a, true).unwrap();
            assert!(
                f.starts_with(b"~k 1 beta 2a alpha 65a1b2c0 65a1b2c3 3 "),
                "{f:?}"
            );
            assert_eq!(f.len(), 56, "{}", String::from_utf8_lossy(&f));
            assert_eq!(wire::open(&f, &a), Ok(without_uuids(m)));
        }
        // A status-shaped token list under the ACK marker is refused, and the
        // other way round: the kind letter is signed and fixes the shape.
        let e = wire::open(b"~k 1 a 8 beta 5 6 7 3 xxxxxxxxxxxxxxxx\n", &a).unwrap_err();
        assert!(e.to_string().contains("10 tokens (expected 9)"), "{e}");
        let e = wire::open(b"~s 1 beta 2a alpha 6 7 3 xxxxxxxxxxxxxxxx\n", &a).unwrap_err();
        assert!(e.to_string().contains("9 tokens (expected 10)"), "{e}");
        let e = wire::open(b"~k 1 beta 02a alpha 6 7 3 xxxxxxxxxxxxxxxx\n", &a).unwrap_err();
        assert!(e.to_string().contains("bad ackseq"), "{e}");
        // Other control messages stay classic.
        let mut rexmit = Message::with_type("NS_rexmit");
        rexmit.add("dest", "beta");
        rexmit.add("firstseq", "2");
        assert!(!encodable(&rexmit));
    }

    #[test]
    fn inspect_shows_the_compact_token() {
        let a = sha256();
        let f = encode(&status("up", "beta", 5, 6, 7, 8, 3), 1, &a.keys[&1]).unwrap();
        let i = wire::inspect(&f, &a).unwrap();
        assert_eq!(i.format, wire::Format::Compact);
        assert_eq!(i.verdict, Verdict::Ok);
        assert!(i.inner.unwrap().starts_with(b"1 "));
    }

    fn arb_status() -> impl Strategy<Value = Message> {
        (
            prop::sample::select(vec!["init", "up", "active", "dead"]),
            "[!-~]{1,64}",
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u8>(),
        )
            .prop_map(|(st, src, seq, hg, ts, dt, ttl)| status(st, &src, seq, hg, ts, dt, ttl))
    }

    fn arb_ack() -> impl Strategy<Value = Message> {
        (
            "[!-~]{1,64}",
            any::<u64>(),
            "[!-~]{1,64}",
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(|(dest, seq, src, hg, ts, u)| ack(&dest, seq, &src, hg, ts, u))
    }

    fn arb_compact() -> impl Strategy<Value = Message> {
        prop_oneof![arb_status(), arb_ack()]
    }

    proptest! {
        #[test]
        fn round_trip(m in arb_compact(), idx in 1u8..=15, method in 0usize..4) {
            let (name, key) = [("crc", ""), ("md5", " k"), ("sha1", " k"), ("sha256", " k")][method];
            let a = keys(&format!("auth {idx}\n{idx} {name}{key}\n"));
            let f = wire::seal_serial(&m, &a, true).unwrap();
            prop_assert!(starts_frame(&f));
            prop_assert!(f.len() <= MAX_FRAME);
            prop_assert_eq!(wire::open(&f, &a), Ok(without_uuids(m)));
        }

        #[test]
        fn any_byte_flip_is_rejected(m in arb_compact(), pos in any::<prop::sample::Index>(), x in 1u8..=255) {
            let a = sha256();
            let mut f = wire::seal_serial(&m, &a, true).unwrap();
            let p = pos.index(f.len());
            f[p] ^= x;
            prop_assert!(wire::open(&f, &a).is_err(), "flip {:#x} at {} accepted: {:?}", x, p, String::from_utf8_lossy(&f));
        }
    }
}
