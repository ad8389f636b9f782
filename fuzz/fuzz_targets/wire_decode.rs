//! Fuzz target for the wire decoders and `open`; the properties live in
//! `wire_check.rs`, which `tests/vectors.rs` also runs on stable.
#![no_main]
use libfuzzer_sys::fuzz_target;

include!("wire_check.rs");

fuzz_target!(|data: &[u8]| check_wire(data));
