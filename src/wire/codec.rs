//! Limits and the error value shared by both wire forms, plus the rules a field
//! name must follow so that a message decoded from one form encodes in the other.

use super::message::FieldType;

/// heartbeat's MAXMSG: the largest serialized message accepted or produced.
pub const MAX_MSG: usize = 262_144;

/// The most fields one message may carry. A v1 status has about a dozen; the cap
/// bounds work on hostile input long before `MAX_MSG` would.
pub const MAX_FIELDS: usize = 1024;

/// The longest field name accepted. heartbeat's names are short identifiers
/// (`NS_rexmit.firstseq` is the longest in v1 mode).
pub const MAX_NAME: usize = 256;

/// Why bytes are not a message. Messages name the offending value or offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{len} bytes exceed the {max}-byte limit")]
    TooBig { len: usize, max: usize },
    #[error("more than {0} fields")]
    TooManyFields(usize),
    #[error("does not start with >>>\\n, ###\\n or ~s (first bytes {0:?})")]
    NoStartMarker(String),
    #[error("no end marker ({0})")]
    NoEndMarker(&'static str),
    #[error("line {line}: no '=' in {text:?}")]
    NoEquals { line: usize, text: String },
    #[error("field name {0:?} is empty, too long, or contains '=', newline or NUL")]
    BadName(String),
    #[error("field {name:?}: bad type {ty:?} (expected (0) to (4))")]
    BadType { name: String, ty: String },
    #[error("field {name:?}: {kind} fields are Pacemaker payloads, not used in v1 mode")]
    Unsupported { name: String, kind: &'static str },
    #[error("field {name:?}: invalid base64 value")]
    BadBase64 { name: String },
    #[error("stray start marker at line {0}")]
    StrayStart(usize),
    #[error("offset {offset}: bad netstring length {text:?}")]
    BadLength { offset: usize, text: String },
    #[error("offset {offset}: netstring of {len} bytes runs past the end")]
    Truncated { offset: usize, len: usize },
    #[error("offset {0}: netstring not terminated by ','")]
    NoComma(usize),
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    #[error(
        "field {name:?}: string value contains byte 0x13 or NUL, which classic form cannot carry"
    )]
    Unencodable { name: String },
    #[error("NUL byte at offset {0} inside a classic message")]
    Nul(usize),
    #[error("{0}")]
    Compact(String),
}

/// What both text forms check before reading any content: the size limit,
/// then their start marker (`start`).
pub fn check_frame(bytes: &[u8], start: &[u8]) -> Result<(), CodecError> {
    check_size(bytes.len())?;
    if !bytes.starts_with(start) {
        return Err(CodecError::NoStartMarker(preview(bytes)));
    }
    Ok(())
}

/// Whether a serialized message of `len` bytes is within [`MAX_MSG`].
pub fn check_size(len: usize) -> Result<(), CodecError> {
    if len > MAX_MSG {
        return Err(CodecError::TooBig { len, max: MAX_MSG });
    }
    Ok(())
}

/// A name both forms can carry: non-empty, bounded, UTF-8, no `=` (the
/// separator), no newline (classic line end), no NUL (heartbeat keeps C strings)
/// and no leading `(` (classic form would read it as a type prefix).
pub fn check_name(name: &[u8]) -> Result<&str, CodecError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name[0] != b'('
        && !name.iter().any(|&b| b == b'=' || b == b'\n' || b == 0);
    match std::str::from_utf8(name) {
        Ok(s) if ok => Ok(s),
        _ => Err(CodecError::BadName(
            String::from_utf8_lossy(&name[..name.len().min(MAX_NAME)]).into_owned(),
        )),
    }
}

/// Maps a wire type digit to the field types hbd carries. Struct and list
/// fields only come from Pacemaker (spec §1.1) and are refused by name.
pub fn field_type(name: &[u8], digits: &[u8]) -> Result<FieldType, CodecError> {
    let lossy = || String::from_utf8_lossy(name).into_owned();
    // Type 5 is heartbeat's in-memory form of 4 and is always written as 4, so
    // it never appears on the wire; refusing it keeps decoding canonical.
    let ft = match digits {
        [d @ b'0'..=b'4'] => FieldType::from_digit(d - b'0'),
        _ => None,
    };
    match ft {
        Some(FieldType::Struct) => Err(CodecError::Unsupported {
            name: lossy(),
            kind: "struct",
        }),
        Some(FieldType::List) => Err(CodecError::Unsupported {
            name: lossy(),
            kind: "list",
        }),
        Some(t) => Ok(t),
        None => Err(CodecError::BadType {
            name: lossy(),
            ty: String::from_utf8_lossy(&digits[..digits.len().min(8)]).into_owned(),
        }),
    }
}

/// A short printable prefix of hostile input for error messages.
pub fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(48)]).into_owned()
}

/// The checks a field sink (a sealer writing fields one by one, never
/// holding a message) makes of the `count`-th field before its form's own
/// rules: within [`MAX_FIELDS`], and no struct or list.
pub fn check_sink_field(count: usize, name: &str, ftype: FieldType) -> Result<(), CodecError> {
    if count > MAX_FIELDS {
        Err(CodecError::TooManyFields(MAX_FIELDS))
    } else if matches!(ftype, FieldType::Struct | FieldType::List) {
        Err(CodecError::Unsupported {
            name: name.to_string(),
            kind: "struct or list",
        })
    } else {
        Ok(())
    }
}

/// Whether `msg` can be encoded and decoded back unchanged in netstring form:
/// carriable names, no struct or list fields, not too many fields.
pub fn check_fields(msg: &super::Message) -> Result<(), CodecError> {
    if msg.len() > MAX_FIELDS {
        return Err(CodecError::TooManyFields(MAX_FIELDS));
    }
    for f in msg.fields() {
        check_name(f.name.as_bytes())?;
        if matches!(f.ftype, FieldType::Struct | FieldType::List) {
            return Err(CodecError::Unsupported {
                name: f.name.clone(),
                kind: "struct or list",
            });
        }
    }
    Ok(())
}
