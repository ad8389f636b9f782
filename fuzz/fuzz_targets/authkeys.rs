//! authkeys: never panics, and no diagnostic ever shows a secret.
#![no_main]
use hbd::config::authkeys;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (auth, diags) = authkeys::parse(&text, Path::new("authkeys"));
    for key in auth.keys.values() {
        // Short secrets can coincide with line numbers or method names.
        if key.secret.0.len() < 8 {
            continue;
        }
        let secret = String::from_utf8_lossy(&key.secret.0);
        for d in &diags {
            assert!(!d.to_string().contains(&*secret), "secret shown: {d}");
        }
    }
});
