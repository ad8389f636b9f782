//! heartbeat's message formats (classic and netstring) and authentication.
//! `open` turns received bytes into a verified [`Message`] or a [`Rejection`];
//! `seal` turns a message into the bytes heartbeat 3.0.6 would send.
#![forbid(unsafe_code)]

pub mod auth;
pub mod classic;
pub mod codec;
pub mod compact;
pub mod hold;
pub mod message;
pub mod netstring;
pub mod repr;
pub mod text;
pub use auth::Verdict;
pub use codec::{CodecError, MAX_MSG};
pub use message::{Field, FieldType, Message};
pub use repr::{FieldSink, Invalid, Repr};
pub use text::{Blob, Text};

use crate::config::{Auth, MsgFmt};

/// Which medium a message is sealed for: UDP always carries netstring, serial
/// always classic (spec §1.4).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Serial,
}

/// Why a received packet was dropped. `reason()` is the stable counter label.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("no authentication token")]
    Unsigned,
    #[error("unknown key index {0}")]
    UnknownKey(u8),
    #[error("bad MAC")]
    BadMac,
}

impl Rejection {
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::Unsigned => "unsigned",
            Rejection::UnknownKey(_) => "unknown_key",
            Rejection::BadMac => "bad_mac",
        }
    }
}

/// Signs `msg` (which carries no `auth` field) with the outbound key and encodes
/// it for `transport`: on UDP netstring with the trailer (plus the inner classic
/// `auth` field when `msgfmt` is classic), on serial classic with the `auth` line.
/// A message that cannot be sealed (see [`try_seal`]) is logged and gives an
/// empty vector, which the caller must not send.
pub fn seal(msg: &Message, auth: &Auth, transport: Transport, msgfmt: MsgFmt) -> Vec<u8> {
    try_seal(msg, auth, transport, msgfmt).unwrap_or_else(|e| {
        log::error!(
            "cannot seal {} message for {transport:?}: {e}",
            msg.msg_type().unwrap_or("untyped")
        );
        Vec::new()
    })
}

/// Why a message could not be sealed: a bug in whoever built it, or authkeys
/// without the outbound key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("authkeys has no key {0} for `auth {0}`")]
    NoSendKey(u8),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// [`seal`] with the failure as a value.
pub fn try_seal(
    msg: &Message,
    auth: &Auth,
    transport: Transport,
    msgfmt: MsgFmt,
) -> Result<Vec<u8>, SealError> {
    let key = auth
        .send_key()
        .ok_or(SealError::NoSendKey(auth.send_index))?;
    let mut m = msg.clone();
    m.remove_all("auth");
    let inner = transport == Transport::Serial || msgfmt == MsgFmt::Classic;
    if inner {
        // Serial re-signs in classic form; UDP with msgfmt classic carries the
        // same inner field inside the netstring too (spec §1.4).
        classic::check_encodable(&m)?;
        let mut text = Vec::with_capacity(512);
        classic::signed_text(&m, &mut text);
        m.add("auth", &auth::token(auth.send_index, key, &text));
    } else {
        codec::check_fields(&m)?;
    }
    let out = match transport {
        Transport::Serial => classic::encode(&m),
        Transport::Udp => {
            let mut out = netstring::encode(&m);
            let tok = auth::token(auth.send_index, key, &out);
            netstring::push_trailer(&mut out, tok.as_bytes());
            out
        }
    };
    codec::check_size(out.len())?;
    Ok(out)
}

/// Seals typed messages for UDP into buffers it keeps: once they have grown
/// to a heartbeat's size nothing is allocated, no field list is built and
/// nothing is formatted, with either `msgfmt`. The bytes are those [`try_seal`] gives
/// for [`Repr::to_message`] (a test compares them on every message type).
#[derive(Debug, Default)]
pub struct Sealer {
    buf: Vec<u8>,
    /// The classic text the inner `auth` field signs (`msgfmt classic`).
    text: Vec<u8>,
}

impl Sealer {
    pub fn new() -> Sealer {
        Sealer {
            buf: Vec::with_capacity(1024),
            text: Vec::with_capacity(1024),
        }
    }

    /// `msg` sealed for UDP with `msgfmt`; valid until the next call.
    pub fn udp(&mut self, msg: &Repr, auth: &Auth, msgfmt: MsgFmt) -> Result<&[u8], SealError> {
        let key = auth
            .send_key()
            .ok_or(SealError::NoSendKey(auth.send_index))?;
        // heartbeat's default, classic, also carries the classic signature
        // as an inner `auth` field, after every other field (spec §1.4).
        let inner = if msgfmt == MsgFmt::Classic {
            self.text.clear();
            let mut w = classic::Writer::new(&mut self.text);
            msg.write_fields(&mut w);
            w.finish()?;
            Some(auth::token_hex(auth.send_index, key, &self.text))
        } else {
            None
        };
        self.buf.clear();
        let mut w = netstring::Writer::new(&mut self.buf);
        msg.write_fields(&mut w);
        if let Some(tok) = &inner {
            w.field("auth", FieldType::String, tok.as_bytes());
        }
        w.finish()?;
        let tok = auth::token_hex(auth.send_index, key, &self.buf);
        netstring::push_trailer(&mut self.buf, tok.as_bytes());
        codec::check_size(self.buf.len())?;
        Ok(&self.buf)
    }
}

/// Seals `msg` for a serial link: hbd's compact frame when `compact` is on
/// and the message has a compact form (a status), classic otherwise.
pub fn seal_serial(msg: &Message, auth: &Auth, compact: bool) -> Result<Vec<u8>, SealError> {
    if compact {
        let key = auth
            .send_key()
            .ok_or(SealError::NoSendKey(auth.send_index))?;
        if let Some(f) = compact::encode(msg, auth.send_index, key) {
            return Ok(f);
        }
    }
    // msgfmt does not matter on serial: it is always classic with `auth`.
    try_seal(msg, auth, Transport::Serial, MsgFmt::Classic)
}

/// Which form a packet is in: heartbeat's two, or hbd's compact serial frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Classic,
    Netstring,
    Compact,
}

impl Format {
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(classic::START) {
            Some(Format::Classic)
        } else if bytes.starts_with(netstring::START) {
            Some(Format::Netstring)
        } else if compact::starts_frame(bytes) {
            Some(Format::Compact)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Classic => "classic",
            Format::Netstring => "netstring",
            Format::Compact => "compact",
        }
    }
}

/// Everything a dissector shows about one packet: its form, all fields (auth
/// fields included), both tokens and the verdict of the one heartbeat checks
/// (the trailer for netstring, the first inner `auth` field for classic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection<'a> {
    pub format: Format,
    pub message: Message,
    pub trailer: Option<&'a [u8]>,
    pub inner: Option<Vec<u8>>,
    pub verdict: Verdict,
}

/// Decodes and verifies without dropping anything: what a dissector shows.
pub fn inspect<'a>(bytes: &'a [u8], auth: &Auth) -> Result<Inspection<'a>, CodecError> {
    if Format::detect(bytes) == Some(Format::Compact) {
        let d = compact::decode(bytes).map_err(|e| CodecError::Compact(e.to_string()))?;
        let verdict = compact::verify(auth, &d);
        let mut token = d.index.to_string().into_bytes();
        token.push(b' ');
        token.extend_from_slice(d.mac);
        return Ok(Inspection {
            format: Format::Compact,
            message: d.message,
            trailer: None,
            inner: Some(token),
            verdict,
        });
    }
    let (format, message, trailer, verdict) = decode_verify(bytes, auth)?;
    let inner = message.get_raw("auth").map(<[u8]>::to_vec);
    Ok(Inspection {
        format,
        message,
        trailer,
        inner,
        verdict,
    })
}

type Checked<'a> = (Format, Message, Option<&'a [u8]>, Verdict);

fn decode_verify<'a>(bytes: &'a [u8], auth: &Auth) -> Result<Checked<'a>, CodecError> {
    let format =
        Format::detect(bytes).ok_or_else(|| CodecError::NoStartMarker(codec::preview(bytes)))?;
    Ok(match format {
        Format::Compact => {
            let d = compact::decode(bytes).map_err(|e| CodecError::Compact(e.to_string()))?;
            let v = compact::verify(auth, &d);
            (format, d.message, None, v)
        }
        Format::Netstring => {
            let d = netstring::decode(bytes)?;
            // The trailer, verified with the key of the index it names (spec
            // §2.5: 3.0.6 wrongly uses its own outbound key here).
            let v = auth::verify(auth, d.trailer, &bytes[d.signed]);
            (format, d.message, d.trailer, v)
        }
        Format::Classic => {
            let m = classic::decode(bytes)?;
            let v = match auth::precheck(auth, m.get_raw("auth")) {
                Ok((key, mac)) => {
                    // heartbeat hashes its re-serialization of the parsed
                    // message, not the received bytes (spec §2.3).
                    let mut text = Vec::with_capacity(bytes.len());
                    classic::signed_text(&m, &mut text);
                    auth::check_mac(key, mac, &text)
                }
                Err(v) => v,
            };
            (format, m, None, v)
        }
    })
}

/// Decodes a packet in either form and verifies its signature with the key its
/// index names. The returned message has its `auth` fields removed.
pub fn open(bytes: &[u8], auth: &Auth) -> Result<Message, Rejection> {
    let (_, mut m, trailer, verdict) =
        decode_verify(bytes, auth).map_err(|e| Rejection::Malformed(e.to_string()))?;
    match verdict {
        Verdict::Ok => {
            m.remove_all("auth");
            Ok(m)
        }
        Verdict::Malformed => Err(Rejection::Malformed(format!(
            "auth token {:?} is not `<index> <hex>`",
            codec::preview(trailer.or(m.get_raw("auth")).unwrap_or_default())
        ))),
        Verdict::Unsigned => Err(Rejection::Unsigned),
        Verdict::UnknownKey(n) => Err(Rejection::UnknownKey(n)),
        Verdict::BadMac => Err(Rejection::BadMac),
    }
}

/// [`open`] and [`Repr::parse`] in one: a netstring datagram (every UDP
/// medium) is read field by field where it lies, so opening a heartbeat
/// builds no [`Message`] and allocates nothing; the other forms go through
/// [`open`]. Outer: the packet's rejection; inner: a verified message
/// without a usable envelope.
pub fn open_repr(bytes: &[u8], auth: &Auth) -> Result<Result<Repr, Invalid>, Rejection> {
    if Format::detect(bytes) != Some(Format::Netstring) {
        return open(bytes, auth).map(Repr::parse);
    }
    let mut slots = repr::Collector::default();
    let (signed, trailer) =
        netstring::scan(bytes, |name, ftype, value| slots.note(name, ftype, value))
            .map_err(|e| Rejection::Malformed(e.to_string()))?;
    match auth::verify(auth, trailer, &bytes[signed]) {
        Verdict::Ok => Ok(slots.finish()),
        Verdict::Malformed => Err(Rejection::Malformed(format!(
            "auth token {:?} is not `<index> <hex>`",
            codec::preview(trailer.unwrap_or_default())
        ))),
        Verdict::Unsigned => Err(Rejection::Unsigned),
        Verdict::UnknownKey(n) => Err(Rejection::UnknownKey(n)),
        Verdict::BadMac => Err(Rejection::BadMac),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::authkeys;

    fn sha1() -> Auth {
        authkeys::parse("auth 1\n1 sha1 k\n", std::path::Path::new("authkeys")).0
    }

    #[test]
    fn open_names_each_rejection() {
        let a = sha1();
        assert_eq!(
            open(b">>>\nt=x\n<<<\n", &a),
            Err(Rejection::Unsigned),
            "classic without auth"
        );
        assert_eq!(open(b"###\n6:(0)t=x,%%%\n", &a), Err(Rejection::Unsigned));
        assert_eq!(
            open(b"###\n6:(0)t=x,%%%\n5:9 abc,", &a),
            Err(Rejection::UnknownKey(9))
        );
        let e = open(b">>>\nt=x\nauth=garbage\n<<<\n", &a).unwrap_err();
        assert_eq!(e.reason(), "malformed");
        assert!(e.to_string().contains("\"garbage\""), "{e}");
        let e = open(b"garbage", &a).unwrap_err();
        assert!(e.to_string().contains("does not start"), "{e}");
    }

    #[test]
    fn open_checks_classic_over_the_reencoding() {
        // Blank lines are not part of what is signed: heartbeat hashes its own
        // re-serialization of the parsed fields.
        let a = sha1();
        let mut m = Message::with_type("status");
        m.add("src", "nodea");
        let sealed = seal(&m, &a, Transport::Serial, MsgFmt::Classic);
        let mut loose = b">>>\n\n\n".to_vec();
        loose.extend_from_slice(&sealed[4..]);
        assert_eq!(open(&loose, &a), Ok(m));
    }
}
