//! heartbeat's classic text form (`>>>` … `<<<`, spec §1.2): what the serial link,
//! the FIFO and old peers speak, and the text the inner `auth` field signs (§2.3).

use super::codec::{
    check_fields, check_frame, check_name, check_sink_field, field_type, preview, CodecError,
    MAX_FIELDS,
};
use super::message::{Field, FieldType, Message};
use super::repr::FieldSink;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

pub const START: &[u8] = b">>>\n";
pub const END: &[u8] = b"<<<\n";

/// heartbeat writes a newline inside a string value as this byte (depth 0).
const NL_ESCAPE: u8 = 0x13;

/// Parses a classic message as heartbeat's `string2msg_ll` does: blank lines are
/// skipped, a line without `=` or a second `>>>` rejects the whole message, CR
/// stays part of the value. One trailing NUL (as `msg2wirefmt_noac` sends on UDP)
/// is accepted; any other byte after `<<<\n` is refused.
pub fn decode(bytes: &[u8]) -> Result<Message, CodecError> {
    check_frame(bytes, START)?;
    let mut msg = Message::new();
    let mut pos = START.len();
    let mut line = 1;
    loop {
        while bytes.get(pos) == Some(&b'\n') {
            pos += 1;
            line += 1;
        }
        let rest = &bytes[pos..];
        if rest.starts_with(END) {
            let after = &rest[END.len()..];
            return match after {
                [] | [0] => Ok(msg),
                _ => Err(CodecError::Trailing(after.len())),
            };
        }
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Err(CodecError::NoEndMarker("<<<"));
        };
        line += 1;
        let text = &rest[..nl];
        // heartbeat parses a C string: a NUL ends the message before `<<<`.
        if let Some(z) = text.iter().position(|&b| b == 0) {
            return Err(CodecError::Nul(pos + z));
        }
        if text == b">>>" {
            return Err(CodecError::StrayStart(line));
        }
        if msg.len() >= MAX_FIELDS {
            return Err(CodecError::TooManyFields(MAX_FIELDS));
        }
        let (name, ftype, value) = decode_line(text, line)?;
        msg.push(name, ftype, value);
        pos += nl + 1;
    }
}

fn decode_line(text: &[u8], line: usize) -> Result<(&str, FieldType, Vec<u8>), CodecError> {
    let Some(eq) = text.iter().position(|&b| b == b'=') else {
        return Err(CodecError::NoEquals {
            line,
            text: preview(text),
        });
    };
    let (head, raw) = (&text[..eq], &text[eq + 1..]);
    let (ftype, name) = match head.first() {
        Some(b'(') => {
            let close =
                head.iter()
                    .position(|&b| b == b')')
                    .ok_or_else(|| CodecError::BadType {
                        name: preview(head),
                        ty: preview(head),
                    })?;
            let name = &head[close + 1..];
            (field_type(name, &head[1..close])?, name)
        }
        _ => (FieldType::String, head),
    };
    let name = check_name(name)?;
    let value = match ftype {
        FieldType::String => raw
            .iter()
            .map(|&b| if b == NL_ESCAPE { b'\n' } else { b })
            .collect(),
        _ => B64.decode(raw).map_err(|_| CodecError::BadBase64 {
            name: name.to_string(),
        })?,
    };
    Ok((name, ftype, value))
}

/// Appends one field line exactly as heartbeat's `msg2string_buf` writes it.
pub fn encode_line(f: &Field, out: &mut Vec<u8>) {
    encode_field(&f.name, f.ftype, &f.value, out);
}

fn encode_field(name: &str, ftype: FieldType, value: &[u8], out: &mut Vec<u8>) {
    match ftype {
        FieldType::String => {
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend(
                value
                    .iter()
                    .map(|&b| if b == b'\n' { NL_ESCAPE } else { b }),
            );
        }
        t => {
            out.push(b'(');
            out.push(b'0' + t.digit());
            out.push(b')');
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            // Encode straight into the output buffer: no temporary String.
            let start = out.len();
            let n = base64::encoded_len(value.len(), true).unwrap_or(0);
            out.resize(start + n, 0);
            let written = B64.encode_slice(value, &mut out[start..]).unwrap_or(0);
            out.truncate(start + written);
        }
    }
    out.push(b'\n');
}

/// Writes a typed message's [`signed_text`] straight into a buffer, with
/// the checks [`check_encodable`] makes on a [`Message`]: how a UDP
/// message with `msgfmt classic` (heartbeat's default) gets its inner
/// `auth` field without a field list being built.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    fields: usize,
    error: Option<CodecError>,
}

impl<'a> Writer<'a> {
    /// Appends to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Writer<'a> {
        Writer {
            out,
            fields: 0,
            error: None,
        }
    }

    pub fn finish(self) -> Result<(), CodecError> {
        self.error.map_or(Ok(()), Err)
    }
}

impl FieldSink for Writer<'_> {
    fn field(&mut self, name: &str, ftype: FieldType, value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.fields += 1;
        let checked = check_sink_field(self.fields, name, ftype).and_then(|()| {
            if ftype == FieldType::String && value.iter().any(|&b| b == NL_ESCAPE || b == 0) {
                Err(CodecError::Unencodable {
                    name: name.to_string(),
                })
            } else {
                check_name(name.as_bytes()).map(|_| ())
            }
        });
        match checked {
            // `signed_text` leaves `auth` out.
            Ok(()) if name == "auth" => {}
            Ok(()) => encode_field(name, ftype, value, self.out),
            Err(e) => self.error = Some(e),
        }
    }
}

/// Appends the classic form of `msg`. Byte-identical to heartbeat for every
/// message that [`check_encodable`] accepts.
pub fn encode_into(msg: &Message, out: &mut Vec<u8>) {
    out.extend_from_slice(START);
    for f in msg.fields() {
        encode_line(f, out);
    }
    out.extend_from_slice(END);
}

pub fn encode(msg: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(estimate(msg));
    encode_into(msg, &mut out);
    out
}

/// The bytes the inner `auth` field signs (spec §2.3): one line per field in
/// order, every field named `auth` left out, no markers.
pub fn signed_text(msg: &Message, out: &mut Vec<u8>) {
    for f in msg.fields().iter().filter(|f| f.name != "auth") {
        encode_line(f, out);
    }
}

/// Whether decoding the classic form of `msg` gives `msg` back: names both
/// forms can carry, no 0x13 or NUL inside a string value.
pub fn check_encodable(msg: &Message) -> Result<(), CodecError> {
    check_fields(msg)?;
    for f in msg.fields() {
        if f.ftype == FieldType::String && f.value.iter().any(|&b| b == NL_ESCAPE || b == 0) {
            return Err(CodecError::Unencodable {
                name: f.name.clone(),
            });
        }
    }
    Ok(())
}

fn estimate(msg: &Message) -> usize {
    8 + msg
        .fields()
        .iter()
        .map(|f| f.name.len() + f.value.len() * 4 / 3 + 8)
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &[u8]) -> Result<Message, CodecError> {
        decode(s)
    }

    #[test]
    fn parses_like_string2msg() {
        // Blank lines skipped, CR kept, 0x13 is a newline, empty value allowed,
        // '=' inside a value is data.
        let m = dec(b">>>\n\nt=status\r\nx=a\x13b\ne=\nq=a=b\n\n<<<\n").unwrap();
        assert_eq!(m.get("t"), Some("status\r"));
        assert_eq!(m.get("x"), Some("a\nb"));
        assert_eq!(m.get("e"), Some(""));
        assert_eq!(m.get("q"), Some("a=b"));
        assert_eq!(encode(&m), b">>>\nt=status\r\nx=a\x13b\ne=\nq=a=b\n<<<\n");
    }

    #[test]
    fn binary_fields_are_base64() {
        let m = dec(b">>>\n(1)u=AAECAwQFBgcICQoLDA0ODw==\n(0)s=x\n<<<\n").unwrap();
        assert_eq!(m.get_binary("u"), Some(&(0u8..16).collect::<Vec<_>>()[..]));
        assert_eq!(m.get("s"), Some("x"));
        assert!(matches!(
            dec(b">>>\n(1)u=AAE*\n<<<\n"),
            Err(CodecError::BadBase64 { .. })
        ));
        // Non-canonical trailing bits would decode to the same bytes as another
        // encoding; refusing them keeps the signed text unique.
        assert!(dec(b">>>\n(1)u=AB==\n<<<\n").is_err());
    }

    #[test]
    fn rejects_what_heartbeat_rejects() {
        let cases: &[(&[u8], &str)] = &[
            (b"t=x\n<<<\n", "does not start"),
            (b">>>\nt=x\n", "no end marker"),
            (b">>>\nt=x\n<<<", "no end marker"),
            (b">>>\nnoequals\n<<<\n", "line 2: no '='"),
            (b">>>\nt=x\n>>>\n<<<\n", "stray start marker at line 3"),
            (b">>>\n=x\n<<<\n", "field name \"\""),
            (b">>>\n(9)a=x\n<<<\n", "bad type \"9\""),
            (b">>>\n(12)a=x\n<<<\n", "bad type \"12\""),
            (b">>>\n(1a=x\n<<<\n", "bad type"),
            (b">>>\n(2)a=x\n<<<\n", "struct fields are Pacemaker"),
            (b">>>\n(3)a=x\n<<<\n", "list fields are Pacemaker"),
            (b">>>\nt=x\n<<<\nextra", "5 trailing bytes"),
            (b">>>\nt=x\n<<<\n\0\0", "2 trailing bytes"),
            (b">>>\na\0b=x\n<<<\n", "NUL byte at offset 5"),
            (b">>>\nab=x\0\n<<<\n", "NUL byte at offset 8"),
        ];
        for (input, want) in cases {
            let e = dec(input).unwrap_err().to_string();
            assert!(
                e.contains(want),
                "{:?}: {e}",
                String::from_utf8_lossy(input)
            );
        }
        assert!(dec(b">>>\nt=x\n<<<\n\0").is_ok());
    }

    #[test]
    fn limits_hold() {
        let mut big = b">>>\n".to_vec();
        for i in 0..=MAX_FIELDS {
            big.extend_from_slice(format!("f{i}=v\n").as_bytes());
        }
        big.extend_from_slice(END);
        assert_eq!(dec(&big), Err(CodecError::TooManyFields(MAX_FIELDS)));
        let mut huge = b">>>\nx=".to_vec();
        huge.resize(super::super::codec::MAX_MSG + 1, b'a');
        assert!(matches!(dec(&huge), Err(CodecError::TooBig { .. })));
        let long = format!(
            ">>>\n{}=v\n<<<\n",
            "n".repeat(super::super::codec::MAX_NAME + 1)
        );
        assert!(matches!(dec(long.as_bytes()), Err(CodecError::BadName(_))));
    }

    #[test]
    fn signed_text_leaves_out_every_auth_field() {
        let m = dec(b">>>\nt=x\nauth=1 ab\n(1)b=AA==\nauth=2 cd\n<<<\n").unwrap();
        let mut out = Vec::new();
        signed_text(&m, &mut out);
        assert_eq!(out, b"t=x\n(1)b=AA==\n");
    }

    #[test]
    fn unencodable_messages_are_named() {
        let mut m = Message::new();
        m.add("x", "a\x13b");
        assert_eq!(
            check_encodable(&m),
            Err(CodecError::Unencodable { name: "x".into() })
        );
        let mut m = Message::new();
        m.add("x", "a\0b");
        assert!(check_encodable(&m).is_err());
        let mut m = Message::new();
        m.add("(1)x", "a");
        assert!(matches!(check_encodable(&m), Err(CodecError::BadName(_))));
    }
}
