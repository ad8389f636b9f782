//! Fuzz target for hbd's compact serial frame: never a panic, and whatever
//! opens re-seals to the very same bytes (the frame is canonical), while the
//! classic fallback of the same message opens to it too.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use hbd::wire::{compact, open, seal_serial};
    let auth = hbd::config::authkeys::parse(
        "auth 1\n1 sha256 testsecret\n2 crc\n",
        std::path::Path::new("authkeys"),
    )
    .0;
    if let Ok(d) = compact::decode(data) {
        // Decoding is strict: re-encoding the message with the frame's own
        // key index gives back the signed part byte for byte.
        if let Some(key) = auth.keys.get(&d.index) {
            let again = compact::encode(&d.message, d.index, key).expect("a decoded frame encodes");
            assert_eq!(&again[..d.signed.len()], d.signed);
        }
    }
    if let Ok(m) = open(data, &auth) {
        for compact in [true, false] {
            let b = seal_serial(&m, &auth, compact).expect("a key to send with");
            assert_eq!(open(&b, &auth).as_ref(), Ok(&m));
        }
    }
});
