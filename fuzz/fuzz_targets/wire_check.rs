// Round-trip properties of the wire codec on arbitrary bytes, shared by the
// `wire_decode` fuzz target and `tests/vectors.rs` (included, not a module, so
// both can use it without a crate of its own).

/// The keys the properties sign with: the lab's sha1 key at index 1 (the
/// vectors in the seed corpus verify with it) and crc at index 2.
fn fuzz_auth() -> hbd::config::Auth {
    hbd::config::authkeys::parse(
        "auth 1\n1 sha1 testsecret\n2 crc\n",
        std::path::Path::new("authkeys"),
    )
    .0
}

/// Never panics on any input; whatever decodes must survive re-encoding.
pub fn check_wire(data: &[u8]) {
    use hbd::config::MsgFmt;
    use hbd::wire::{classic, netstring, open, try_seal, Transport};

    if let Ok(m) = classic::decode(data) {
        // Classic is not byte-canonical (blank lines, "(0)" prefixes), but the
        // message is: decoding our encoding gives it back.
        if classic::check_encodable(&m).is_ok() {
            let again = classic::encode(&m);
            assert_eq!(classic::decode(&again).as_ref(), Ok(&m));
        }
        let ns = netstring::encode(&m);
        assert_eq!(netstring::decode(&ns).map(|d| d.message).as_ref(), Ok(&m));
    }
    if let Ok(d) = netstring::decode(data) {
        // Netstring decoding is strict, so the signed part is canonical: the
        // MAC over received bytes equals the MAC over our re-encoding.
        let again = netstring::encode(&d.message);
        assert_eq!(&again[..], &data[d.signed.clone()]);
        if let Some(t) = d.trailer {
            let mut full = again;
            netstring::push_trailer(&mut full, t);
            assert_eq!(&full[..], data);
        }
    }
    let auth = fuzz_auth();
    if let Ok(m) = open(data, &auth) {
        assert!(m.get_raw("auth").is_none());
        check_repr(&m);
        for t in [Transport::Udp, Transport::Serial] {
            for f in [MsgFmt::Classic, MsgFmt::Netstring] {
                if let Ok(b) = try_seal(&m, &auth, t, f) {
                    assert_eq!(open(&b, &auth).as_ref(), Ok(&m));
                }
            }
        }
    }
}

/// The typed view of a verified message: reading never panics, and what reads
/// as typed is written back to fields that read as the same typed message.
pub fn check_repr(m: &hbd::wire::Message) {
    use hbd::wire::Repr;
    if let Ok(r) = Repr::parse(m.clone()) {
        assert_eq!(r.src, m.get("src").unwrap_or_default());
        assert_eq!(Some(r.type_name()), m.msg_type());
        let again = Repr::parse(r.clone().into_message());
        assert_eq!(again.as_ref(), Ok(&r));
    }
}
