//! heartbeat's classic text form (`>>>` … `<<<`, spec §1.2): what the serial link,
//! the FIFO and old peers speak, and the text the inner `auth` field signs (§2.3).

use super::codec::{check_fields, check_name, field_type, preview, CodecError, MAX_FIELDS};
use super::message::{Field, FieldType, Message};
use super::MAX_MSG;
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
    if bytes.len() > MAX_MSG {
        return Err(CodecError::TooBig {
            len: bytes.len(),
            max: MAX_MSG,
        });
    }
    if !bytes.starts_with(START) {
        return Err(CodecError::NoStartMarker(preview(bytes)));
    }
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
        if text == b">>>" {
            return Err(CodecError::StrayStart(line));
        }
        if msg.len() >= MAX_FIELDS {
            return Err(CodecError::TooManyFields(MAX_FIELDS));
        }
        let field = decode_line(text, line)?;
        msg.push(&field.name, field.ftype, field.value);
        pos += nl + 1;
    }
}

fn decode_line(text: &[u8], line: usize) -> Result<Field, CodecError> {
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
    let name = check_name(name)?.to_string();
    let value = match ftype {
        FieldType::String => raw
            .iter()
            .map(|&b| if b == NL_ESCAPE { b'\n' } else { b })
            .collect(),
        _ => B64
            .decode(raw)
            .map_err(|_| CodecError::BadBase64 { name: name.clone() })?,
    };
    Ok(Field { name, ftype, value })
}

/// Appends one field line exactly as heartbeat's `msg2string_buf` writes it.
pub fn encode_line(f: &Field, out: &mut Vec<u8>) {
    match f.ftype {
        FieldType::String => {
            out.extend_from_slice(f.name.as_bytes());
            out.push(b'=');
            out.extend(
                f.value
                    .iter()
                    .map(|&b| if b == b'\n' { NL_ESCAPE } else { b }),
            );
        }
        t => {
            out.push(b'(');
            out.push(b'0' + t.digit());
            out.push(b')');
            out.extend_from_slice(f.name.as_bytes());
            out.push(b'=');
            // Encode straight into the output buffer: no temporary String.
            let start = out.len();
            let n = base64::encoded_len(f.value.len(), true).unwrap_or(0);
            out.resize(start + n, 0);
            let written = B64.encode_slice(&f.value, &mut out[start..]).unwrap_or(0);
            out.truncate(start + written);
        }
    }
    out.push(b'\n');
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
/// forms can carry, no 0x13 inside a string value.
pub fn check_encodable(msg: &Message) -> Result<(), CodecError> {
    check_fields(msg)?;
    for f in msg.fields() {
        if f.ftype == FieldType::String && f.value.contains(&NL_ESCAPE) {
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
