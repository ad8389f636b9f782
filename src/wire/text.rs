//! The values of a typed message that change with every heartbeat (node
//! names, the state word, uuids, heartbeat's `ld`) are short: kept inline up
//! to [`INLINE`] bytes, so that building, cloning (the retransmission
//! history keeps a copy) and parsing a status message allocates nothing
//! (issue 18: no allocation per heartbeat). Longer values go to the heap.

#![forbid(unsafe_code)]

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Inline capacity: a hostname label, a 16-byte uuid and heartbeat's load
/// average line (`0.00 0.01 0.05 1/123 4567`) fit.
pub const INLINE: usize = 38;

#[derive(Clone)]
enum Store {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

/// A short byte string (a uuid), inline up to [`INLINE`] bytes.
#[derive(Clone)]
pub struct Blob(Store);

impl Blob {
    pub fn new(bytes: &[u8]) -> Blob {
        if bytes.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            Blob(Store::Inline {
                len: bytes.len() as u8,
                buf,
            })
        } else {
            Blob(Store::Heap(bytes.into()))
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Store::Inline { len, buf } => &buf[..usize::from(*len)],
            Store::Heap(b) => b,
        }
    }
}

impl Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<&[u8]> for Blob {
    fn from(b: &[u8]) -> Blob {
        Blob::new(b)
    }
}

impl From<Vec<u8>> for Blob {
    fn from(b: Vec<u8>) -> Blob {
        Blob::new(&b)
    }
}

impl<const N: usize> From<[u8; N]> for Blob {
    fn from(b: [u8; N]) -> Blob {
        Blob::new(&b)
    }
}

impl PartialEq for Blob {
    fn eq(&self, o: &Blob) -> bool {
        self.as_bytes() == o.as_bytes()
    }
}

impl Eq for Blob {}

impl Hash for Blob {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_bytes().hash(h)
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_bytes(), f)
    }
}

/// A short UTF-8 string (a node name, a state word), inline up to
/// [`INLINE`] bytes. Reads as a `&str`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text(Blob);

impl Text {
    pub fn new(s: &str) -> Text {
        Text(Blob::new(s.as_bytes()))
    }

    /// None unless `b` is UTF-8.
    pub fn from_utf8(b: &[u8]) -> Option<Text> {
        std::str::from_utf8(b).ok().map(Text::new)
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from a str: the check cannot fail, and on a few
        // bytes it costs less than the allocation this type avoids.
        std::str::from_utf8(self.0.as_bytes()).unwrap_or_default()
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::new(&s)
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.as_str().to_string()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, o: &str) -> bool {
        self.as_str() == o
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, o: &&str) -> bool {
        self.as_str() == *o
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, o: &String) -> bool {
        self.as_str() == o.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A counter as heartbeat writes it (`%lx` or `%lu`), without a heap string.
pub struct Num {
    buf: [u8; 20],
    start: usize,
}

impl Num {
    /// Lowercase hex, no leading zeros (`seq`, `hg`, `ts`, `dt`).
    pub fn hex(v: u64) -> Num {
        Num::radix(v, 16)
    }

    /// Decimal (`ttl`, `NS_rexmit.firstseq`, netstring lengths).
    pub fn dec(v: u64) -> Num {
        Num::radix(v, 10)
    }

    fn radix(mut v: u64, r: u64) -> Num {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = DIGITS[(v % r) as usize];
            v /= r;
            if v == 0 {
                break;
            }
        }
        Num { buf, start: i }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_values_read_back_and_compare_by_content() {
        let long = "x".repeat(INLINE + 1);
        for s in ["", "nodea", "0.00 0.01 0.05 1/123 4567", long.as_str()] {
            let t = Text::from(s);
            assert_eq!(t, s);
            assert_eq!(t.clone(), Text::from(s.to_string()));
            assert_eq!(format!("{t}"), s);
            assert_eq!(format!("{t:?}"), format!("{s:?}"));
        }
        assert_ne!(Text::from("a"), Text::from("b"));
        assert_eq!(Text::from_utf8(b"\xff"), None);
        assert_eq!(Blob::from([0xaa; 16]).as_bytes(), &[0xaa; 16]);
        assert_eq!(&*Blob::from(vec![1u8; 100]), &[1u8; 100][..]);
    }

    #[test]
    fn numbers_are_written_as_heartbeat_prints_them() {
        for v in [0, 1, 9, 10, 15, 16, 0x6553_f100, u64::MAX] {
            assert_eq!(Num::hex(v).as_bytes(), format!("{v:x}").as_bytes());
            assert_eq!(Num::dec(v).as_bytes(), v.to_string().as_bytes());
        }
    }
}
