//! authkeys: never panics, and no diagnostic ever shows a secret: no user value a
//! message quotes, and no directive field, contains one. (Only quoted values and the
//! directive come from the input; the rest is fixed text, which a fuzzer-chosen
//! secret can of course match.)
#![no_main]
use hbd::config::authkeys;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (auth, diags) = authkeys::parse(&text, Path::new("authkeys"));
    for key in auth.keys.values() {
        // Short secrets can coincide with indices or method names.
        if key.secret.0.len() < 8 {
            continue;
        }
        let secret = String::from_utf8_lossy(&key.secret.0);
        for d in &diags {
            let quoted = d.message.split('"').skip(1).step_by(2);
            // The parser's own directive names are fixed text too.
            let directive =
                Some(d.directive.as_str()).filter(|n| !["auth", "key", "authkeys"].contains(n));
            for shown in quoted.chain(directive) {
                assert!(!shown.contains(&*secret), "secret shown: {d}");
            }
        }
    }
});
