//! ha.cf: never panics; a file without errors survives `to_toml` and the TOML parser
//! unchanged (the legacy and native forms mean the same thing).
#![no_main]
use hbd::config::{hacf, toml_form, AuthKey, AuthMethod, Secret};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (mut cfg, diags) = hacf::parse_str(&text, Path::new("ha.cf"));
    if diags.iter().any(|d| d.is_error()) {
        return;
    }
    // ha.cf holds no keys; give it one so the TOML form is complete.
    cfg.auth.send_index = 1;
    cfg.auth.keys.insert(
        1,
        AuthKey {
            method: AuthMethod::Sha1,
            secret: Secret(b"k".to_vec()),
        },
    );
    let out = toml_form::to_toml(&cfg, None);
    let src = toml_form::Source {
        file: Path::new("hbd.toml"),
        dir: Path::new("."),
        mode: None,
    };
    let (back, d) = toml_form::parse_str(&out, &src);
    let back = back.unwrap_or_else(|| panic!("{d:?}\n{out}"));
    assert_eq!(
        toml_form::comparable(&cfg),
        toml_form::comparable(&back),
        "{out}"
    );
});
