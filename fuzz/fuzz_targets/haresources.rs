//! haresources: never panics; the groups it returns, written back one per line,
//! parse to the same groups.
#![no_main]
use hbd::config::haresources;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (groups, _) = haresources::parse_str(&text, Path::new("haresources"));
    let mut out = String::new();
    for g in &groups {
        out.push_str(&g.home);
        for r in &g.resources {
            out.push(' ');
            out.push_str(&r.to_string());
        }
        out.push('\n');
    }
    let (again, d) = haresources::parse_str(&out, Path::new("haresources"));
    assert!(d.is_empty(), "{d:?}\n{out}");
    assert_eq!(groups.len(), again.len());
    for (a, b) in groups.iter().zip(&again) {
        assert_eq!((&a.home, &a.resources), (&b.home, &b.resources));
    }
});
