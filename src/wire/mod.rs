//! heartbeat's message formats (classic and netstring) and authentication.
//! (Top-level interface fixed here; the wire module's owner fills in the bodies.)
#![forbid(unsafe_code)]

pub mod message;
pub use message::{Field, FieldType, Message};

use crate::config::{Auth, MsgFmt};

/// heartbeat's MAXMSG: the largest serialized message accepted or produced.
pub const MAX_MSG: usize = 262_144;

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
pub fn seal(msg: &Message, auth: &Auth, transport: Transport, msgfmt: MsgFmt) -> Vec<u8> {
    let _ = (msg, auth, transport, msgfmt);
    Vec::new()
}

/// Decodes a packet in either form and verifies its signature with the key its
/// index names. The returned message has its `auth` fields removed.
pub fn open(bytes: &[u8], auth: &Auth) -> Result<Message, Rejection> {
    let _ = (bytes, auth);
    Err(Rejection::Malformed("codec not built yet".into()))
}
