//! The abstract heartbeat message: an ordered list of typed fields (spec §1.1).
//! Both wire forms (classic and netstring) decode to and encode from this.

/// Field type digit as carried on the wire (`(1)name=…`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    String = 0,
    Binary = 1,
    Struct = 2,
    List = 3,
    Compress = 4,
}

impl FieldType {
    pub fn from_digit(d: u8) -> Option<FieldType> {
        Some(match d {
            0 => FieldType::String,
            1 => FieldType::Binary,
            2 => FieldType::Struct,
            3 => FieldType::List,
            // Type 5 ("uncompress") is the in-memory form of 4 and is serialized as 4.
            4 | 5 => FieldType::Compress,
            _ => return None,
        })
    }

    pub fn digit(self) -> u8 {
        self as u8
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ftype: FieldType,
    pub value: Vec<u8>,
}

/// An ordered field list. Lookups return the first field of that name, as
/// heartbeat's `cl_get_value` does; string lookups only match string fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    fields: Vec<Field>,
}

impl Message {
    pub fn new() -> Self {
        Message { fields: Vec::new() }
    }

    /// A message of type `t` (the first field, as heartbeat writes it).
    pub fn with_type(t: &str) -> Self {
        let mut m = Message::new();
        m.add("t", t);
        m
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Appends a string field (heartbeat's "add").
    pub fn add(&mut self, name: &str, value: &str) {
        self.push(name, FieldType::String, value.as_bytes().to_vec());
    }

    /// Appends a binary field (e.g. the 16-byte `srcuuid`).
    pub fn add_binary(&mut self, name: &str, value: &[u8]) {
        self.push(name, FieldType::Binary, value.to_vec());
    }

    pub fn push(&mut self, name: &str, ftype: FieldType, value: Vec<u8>) {
        self.fields.push(Field {
            name: name.to_string(),
            ftype,
            value,
        });
    }

    /// Replaces the first string field of that name in place, or appends it
    /// (heartbeat's "mod"): field order is part of what is signed.
    pub fn set(&mut self, name: &str, value: &str) {
        match self
            .fields
            .iter_mut()
            .find(|f| f.name == name && f.ftype == FieldType::String)
        {
            Some(f) => f.value = value.as_bytes().to_vec(),
            None => self.add(name, value),
        }
    }

    /// Removes every field of that name; returns how many were removed.
    pub fn remove_all(&mut self, name: &str) -> usize {
        let before = self.fields.len();
        self.fields.retain(|f| f.name != name);
        before - self.fields.len()
    }

    /// The first string field of that name, if it is valid UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_raw(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first string field of that name as bytes.
    pub fn get_raw(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.name == name && f.ftype == FieldType::String)
            .map(|f| f.value.as_slice())
    }

    /// The first binary field of that name.
    pub fn get_binary(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.name == name && f.ftype == FieldType::Binary)
            .map(|f| f.value.as_slice())
    }

    /// The message type (`t`).
    pub fn msg_type(&self) -> Option<&str> {
        self.get("t")
    }

    /// A lowercase-hex counter field (`seq`, `hg`, `ts`, `dt`, `ackseq`).
    pub fn get_hex(&self, name: &str) -> Option<u64> {
        parse_hex(self.get(name)?)
    }

    /// A decimal field (`protocol`, `ttl`, `NS_rexmit.firstseq`).
    pub fn get_dec(&self, name: &str) -> Option<u64> {
        parse_dec(self.get(name)?)
    }

    /// The fields, by value: how a typed message takes its values without copying.
    pub fn into_fields(self) -> Vec<Field> {
        self.fields
    }
}

/// A counter as heartbeat writes it in hex (at most 16 digits).
pub fn parse_hex(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// A counter as heartbeat writes it in decimal (at most 20 digits).
pub fn parse_dec(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_return_first_string_field() {
        let mut m = Message::with_type("status");
        m.add_binary("x", b"\x00\x01");
        m.add("x", "a");
        m.add("x", "b");
        assert_eq!(m.get("x"), Some("a"));
        assert_eq!(m.get_binary("x"), Some(&b"\x00\x01"[..]));
        m.set("x", "c");
        assert_eq!(m.get("x"), Some("c"));
        assert_eq!(m.remove_all("x"), 3);
        assert_eq!(m.msg_type(), Some("status"));
    }

    #[test]
    fn counters_parse_as_heartbeat_writes_them() {
        let mut m = Message::new();
        m.add("seq", "2a");
        m.add("protocol", "1");
        m.add("bad", "zz");
        assert_eq!(m.get_hex("seq"), Some(42));
        assert_eq!(m.get_dec("protocol"), Some(1));
        assert_eq!(m.get_hex("bad"), None);
    }
}
