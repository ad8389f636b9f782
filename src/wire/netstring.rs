//! heartbeat's netstring form (`###` … `%%%` plus the trailer, spec §1.3): what
//! every UDP medium carries. Values are raw bytes; the trailer signs the exact
//! received bytes, so decoding hands back that range rather than re-encoding.

use super::codec::{
    check_frame, check_name, check_sink_field, field_type, preview, CodecError, MAX_FIELDS,
};
use super::message::{FieldType, Message};
use super::repr::FieldSink;
use super::text::Num;
use std::ops::Range;

pub const START: &[u8] = b"###\n";
pub const END: &[u8] = b"%%%\n";

/// A decoded netstring packet and what its trailer signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Every field, the inner `auth` field included.
    pub message: Message,
    /// The signed bytes: from the first `#` through the `\n` of `%%%\n`.
    pub signed: Range<usize>,
    /// The trailer's content (`<n> <hex>`), absent when the packet ends at `%%%\n`.
    pub trailer: Option<&'a [u8]>,
}

/// Reads one `<len>:<bytes>,` at `pos`; returns the content range and the next
/// position. The length is checked against what is left before anything is
/// sliced, and only canonical decimal (no sign, no leading zero) is accepted so
/// that re-encoding gives the same bytes.
fn netstring(bytes: &[u8], pos: usize) -> Result<(Range<usize>, usize), CodecError> {
    let rest = &bytes[pos..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let bad = || CodecError::BadLength {
        offset: pos,
        text: preview(rest),
    };
    // MAX_MSG has six digits; more can only be garbage or an overflow attempt.
    if digits == 0 || digits > 6 || rest.get(digits) != Some(&b':') {
        return Err(bad());
    }
    if digits > 1 && rest[0] == b'0' {
        return Err(bad());
    }
    let len = rest[..digits]
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    let start = pos + digits + 1;
    let end = start
        .checked_add(len)
        .filter(|&e| e < bytes.len())
        .ok_or(CodecError::Truncated { offset: pos, len })?;
    if bytes[end] != b',' {
        return Err(CodecError::NoComma(end));
    }
    Ok((start..end, end + 1))
}

/// Parses a netstring packet as heartbeat's `netstring2msg` does, strictly:
/// every field is `(<digit>)name=value`, nothing but one trailer may follow
/// `%%%\n`.
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>, CodecError> {
    let mut msg = Message::new();
    let (signed, trailer) = scan(bytes, |name, ftype, value| {
        msg.push(name, ftype, value.to_vec())
    })?;
    Ok(Decoded {
        message: msg,
        signed,
        trailer,
    })
}

/// [`decode`] without building a [`Message`]: hands each field to `field` in
/// order (the same checks, the same errors) and returns the signed range and
/// the trailer. Opening a heartbeat reads it this way, allocating nothing.
pub fn scan<'a>(
    bytes: &'a [u8],
    mut field: impl FnMut(&'a str, FieldType, &'a [u8]),
) -> Result<(Range<usize>, Option<&'a [u8]>), CodecError> {
    check_frame(bytes, START)?;
    let mut pos = START.len();
    let mut fields = 0;
    while !bytes[pos..].starts_with(END) {
        if pos >= bytes.len() {
            return Err(CodecError::NoEndMarker("%%%"));
        }
        if fields >= MAX_FIELDS {
            return Err(CodecError::TooManyFields(MAX_FIELDS));
        }
        let (range, next) = netstring(bytes, pos)?;
        let (name, ftype, value) = decode_field(&bytes[range])?;
        field(name, ftype, value);
        fields += 1;
        pos = next;
    }
    let signed = 0..pos + END.len();
    let trailer = if signed.end == bytes.len() {
        None
    } else {
        let (range, next) = netstring(bytes, signed.end)?;
        if next != bytes.len() {
            return Err(CodecError::Trailing(bytes.len() - next));
        }
        Some(&bytes[range])
    };
    Ok((signed, trailer))
}

fn decode_field(content: &[u8]) -> Result<(&str, FieldType, &[u8]), CodecError> {
    // The type prefix is mandatory in this form: "(0)" for strings.
    let bad = || CodecError::BadType {
        name: preview(content),
        ty: preview(content),
    };
    if content.first() != Some(&b'(') {
        return Err(bad());
    }
    let close = content.iter().position(|&b| b == b')').ok_or_else(bad)?;
    let after = &content[close + 1..];
    let eq = after
        .iter()
        .position(|&b| b == b'=')
        .ok_or_else(|| CodecError::NoEquals {
            line: 0,
            text: preview(content),
        })?;
    let name = &after[..eq];
    let ftype = field_type(name, &content[1..close])?;
    let name = check_name(name)?;
    Ok((name, ftype, &after[eq + 1..]))
}

fn push_netstring(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.extend_from_slice(Num::dec(len as u64).as_bytes());
    out.push(b':');
    for p in parts {
        out.extend_from_slice(p);
    }
    out.push(b',');
}

/// Appends `###\n`, one netstring per field and `%%%\n`: the signed part, as
/// heartbeat's `msg2netstring_buf` writes it.
pub fn encode_into(msg: &Message, out: &mut Vec<u8>) {
    out.extend_from_slice(START);
    for f in msg.fields() {
        push_field(out, &f.name, f.ftype, &f.value);
    }
    out.extend_from_slice(END);
}

fn push_field(out: &mut Vec<u8>, name: &str, ftype: FieldType, value: &[u8]) {
    let ty = [b'(', b'0' + ftype.digit(), b')'];
    push_netstring(out, &[&ty, name.as_bytes(), b"=", value]);
}

/// Writes a typed message's fields straight into a datagram, with the
/// checks `codec::check_fields` makes on a [`Message`]: what sealing a
/// heartbeat uses instead of building the field list first.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    fields: usize,
    error: Option<CodecError>,
}

impl<'a> Writer<'a> {
    /// Starts the message (`###\n`) at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Writer<'a> {
        out.extend_from_slice(START);
        Writer {
            out,
            fields: 0,
            error: None,
        }
    }

    /// Ends it (`%%%\n`), or says why it cannot be sent.
    pub fn finish(self) -> Result<(), CodecError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.extend_from_slice(END);
        Ok(())
    }
}

impl FieldSink for Writer<'_> {
    fn field(&mut self, name: &str, ftype: FieldType, value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.fields += 1;
        let checked = check_sink_field(self.fields, name, ftype)
            .and_then(|()| check_name(name.as_bytes()).map(|_| ()));
        match checked {
            Ok(()) => push_field(self.out, name, ftype, value),
            Err(e) => self.error = Some(e),
        }
    }
}

pub fn encode(msg: &Message) -> Vec<u8> {
    let size = 8
        + msg
            .fields()
            .iter()
            .map(|f| f.name.len() + f.value.len() + 12)
            .sum::<usize>()
        + 64;
    let mut out = Vec::with_capacity(size);
    encode_into(msg, &mut out);
    out
}

/// Appends the trailer netstring carrying `token` (`<n> <hex>`).
pub fn push_trailer(out: &mut Vec<u8>, token: &[u8]) {
    push_netstring(out, &[token]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_raw_values_and_the_trailer() {
        let b = b"###\n8:(0)t=a\nb,7:(1)u=\x00\xff,%%%\n5:1 abc,";
        let d = decode(b).unwrap();
        assert_eq!(d.message.get("t"), Some("a\nb"));
        assert_eq!(d.message.get_binary("u"), Some(&[0u8, 0xff][..]));
        assert_eq!(&b[d.signed.clone()], &b[..b.len() - 8]);
        assert_eq!(d.trailer, Some(&b"1 abc"[..]));
        let mut again = encode(&d.message);
        push_trailer(&mut again, b"1 abc");
        assert_eq!(again, b);
    }

    #[test]
    fn no_trailer_is_not_an_error_here() {
        let d = decode(b"###\n%%%\n").unwrap();
        assert!(d.message.is_empty());
        assert_eq!(d.trailer, None);
    }

    #[test]
    fn rejects_bad_netstrings() {
        let cases: &[(&[u8], &str)] = &[
            (b"##\n", "does not start"),
            (b"###\n", "no end marker"),
            (b"###\n6:(0)t=a,", "no end marker"),
            (b"###\n7:(0)t=a,%%%\n", "not terminated by ','"),
            (b"###\n70:(0)t=a,%%%\n", "runs past the end"),
            (b"###\n5:(0)t=a,%%%\n", "not terminated by ','"),
            (b"###\n06:(0)t=a,%%%\n", "bad netstring length \"06"),
            (b"###\n-6:(0)t=a,%%%\n", "bad netstring length"),
            (b"###\n9999999:(0)t=a,%%%\n", "bad netstring length"),
            (b"###\n999999:(0)t=a,%%%\n", "runs past the end"),
            (b"###\n:(0)t=a,%%%\n", "bad netstring length"),
            (b"###\n4:t=ab,%%%\n", "bad type"),
            (b"###\n5:(0)ta,%%%\n", "no '='"),
            (b"###\n5:(7)t=,%%%\n", "bad type \"7\""),
            (b"###\n5:(2)t=,%%%\n", "struct fields"),
            (b"###\n5:(5)t=,%%%\n", "bad type \"5\""),
            (b"###\n5:(0)=a,%%%\n", "field name"),
            (b"###\n6:(0)t=a,%%%\n5:1 abc,x", "1 trailing bytes"),
            (b"###\n6:(0)t=a,%%%\n5:1 abc", "runs past the end"),
            (b"###\n6:(0)t=a,%%%\n5:1 abcd", "not terminated"),
        ];
        for (input, want) in cases {
            let e = decode(input).unwrap_err().to_string();
            assert!(
                e.contains(want),
                "{:?}: {e}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn field_count_is_bounded_before_the_end_is_seen() {
        let mut b = b"###\n".to_vec();
        for _ in 0..=MAX_FIELDS {
            b.extend_from_slice(b"6:(0)t=a,");
        }
        b.extend_from_slice(END);
        assert_eq!(decode(&b), Err(CodecError::TooManyFields(MAX_FIELDS)));
    }
}
