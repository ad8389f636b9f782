//! hbd.toml: never panics; an accepted file survives `to_toml` and back unchanged.
#![no_main]
use hbd::config::toml_form;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let src = toml_form::Source {
        file: Path::new("hbd.toml"),
        dir: Path::new("/nonexistent"),
        mode: None,
    };
    let (cfg, diags) = toml_form::parse_str(text, &src);
    let Some(cfg) = cfg else { return };
    if diags.iter().any(|d| d.is_error()) {
        return;
    }
    let out = toml_form::to_toml(&cfg, None);
    let (back, d) = toml_form::parse_str(&out, &src);
    let back = back.unwrap_or_else(|| panic!("{d:?}\n{out}"));
    assert_eq!(
        toml_form::comparable(&cfg),
        toml_form::comparable(&back),
        "{out}"
    );
});
