//! `hbd check` and `hbd migrate` as an operator runs them: the real binary on the
//! repo's sample `ha.d/` and on every case under `tests/configs/broken/`, whose
//! `expected` file holds the exact output lines.
//!
//! Each case directory is copied to a temporary `ha.d/` (git cannot store mode 600,
//! so `authkeys` and `hbd.toml` are chmod 600 unless `<file>.mode` says otherwise),
//! given a `resource.d/` with executable `IPaddr`, `Filesystem` and `apache` scripts
//! so script lookup is deterministic, and checked with `--node alpha` plus the extra
//! arguments in `args`. Set `HBD_BLESS=1` to rewrite the `expected` files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hbd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hbd"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies `src` (files only) to `<tmp>/ha.d`, applying modes, and adds resource.d.
fn stage(src: &Path, tmp: &Path) -> PathBuf {
    let dst = tmp.join("ha.d");
    fs::create_dir_all(dst.join("resource.d")).unwrap();
    for name in ["IPaddr", "Filesystem", "apache"] {
        let p = dst.join("resource.d").join(name);
        fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().unwrap().is_file()
            || name.ends_with(".mode")
            || name == "expected"
            || name == "args"
        {
            continue;
        }
        let to = dst.join(&name);
        fs::copy(e.path(), &to).unwrap();
        let mode = match fs::read_to_string(src.join(format!("{name}.mode"))) {
            Ok(m) => u32::from_str_radix(m.trim(), 8).unwrap(),
            Err(_) if name == "authkeys" || name.ends_with(".toml") => 0o600,
            Err(_) => 0o644,
        };
        fs::set_permissions(&to, fs::Permissions::from_mode(mode)).unwrap();
    }
    dst
}

fn run_in(tmp: &Path, args: &[&str]) -> Output {
    hbd().current_dir(tmp).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn sample_config_passes_check_on_both_forms() {
    let tmp = tempfile::tempdir().unwrap();
    stage(&repo().join("ha.d"), tmp.path());
    for (target, node) in [
        ("ha.d", "alpha"),
        ("ha.d", "beta"),
        ("ha.d/hbd.toml", "alpha"),
        ("ha.d/ha.cf", "beta"),
    ] {
        let o = run_in(tmp.path(), &["check", "-c", target, "--node", node]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{target} as {node}:\n{out}");
        // eth0 or /dev/ttyS0 may be absent on this host: warnings, never errors.
        let last = out.lines().last().unwrap();
        assert!(last.starts_with(&format!("{target}: 0 errors, ")), "{out}");
        assert!(
            last.ends_with(&format!("; OK, can run as node {node}")),
            "{out}"
        );
        assert!(!out.contains("change-this-shared-secret"), "{out}");
    }
}

#[test]
fn unknown_local_node_cannot_run() {
    let tmp = tempfile::tempdir().unwrap();
    stage(&repo().join("ha.d"), tmp.path());
    let o = run_in(tmp.path(), &["check", "-c", "ha.d", "--node", "Gamma"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("this host is \"gamma\", which is not a configured node"));
}

#[test]
fn broken_configs_are_rejected_line_by_line() {
    let dir = repo().join("tests/configs/broken");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "only {} broken cases", cases.len());
    let bless = std::env::var_os("HBD_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let tmp = tempfile::tempdir().unwrap();
        stage(case, tmp.path());
        let mut args = vec!["check".to_string(), "-c".into(), "ha.d".into()];
        match fs::read_to_string(case.join("args")) {
            Ok(extra) => args.extend(extra.split_whitespace().map(String::from)),
            Err(_) => args.extend(["--node".to_string(), "alpha".to_string()]),
        }
        let o = run_in(
            tmp.path(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let out = stdout(&o);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if bless {
            fs::write(case.join("expected"), &out).unwrap();
            continue;
        }
        let expected = fs::read_to_string(case.join("expected")).unwrap_or_else(|_| {
            panic!("{name}: no expected file (run with HBD_BLESS=1 and review)")
        });
        if o.status.code() != Some(1) {
            failures.push(format!("{name}: exit {:?}, expected 1", o.status.code()));
        }
        if out != expected {
            failures.push(format!("{name}:\n--- expected\n{expected}--- got\n{out}"));
        }
        if out.contains("topsecret") {
            failures.push(format!("{name}: a secret was printed"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn migrate_round_trips_through_check() {
    use hbd::config::{load, toml_form::comparable, LoadOptions, Purpose};
    let tmp = tempfile::tempdir().unwrap();
    let ha_d = stage(&repo().join("ha.d"), tmp.path());
    let o = run_in(tmp.path(), &["migrate", "-c", "ha.d", "--node", "alpha"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let toml_path = tmp.path().join("migrated.toml");
    fs::write(&toml_path, &o.stdout).unwrap();
    fs::set_permissions(&toml_path, fs::Permissions::from_mode(0o600)).unwrap();

    let c = run_in(
        tmp.path(),
        &["check", "-c", "migrated.toml", "--node", "alpha"],
    );
    assert_eq!(c.status.code(), Some(0), "{}", stdout(&c));

    let opts = LoadOptions {
        node: Some("alpha".into()),
        purpose: Purpose::Check,
    };
    let legacy = load(&ha_d, &opts);
    let migrated = load(&toml_path, &opts);
    let (Some(a), Some(b)) = (legacy.config, migrated.config) else {
        panic!("{:?}\n{:?}", legacy.diagnostics, migrated.diagnostics);
    };
    assert_eq!(comparable(&a), comparable(&b));
    // The hand-written hbd.toml in the sample describes the same pair.
    let sample = load(&ha_d.join("hbd.toml"), &opts).config.unwrap();
    assert_eq!(comparable(&a), comparable(&sample));

    // Migrating the TOML form itself, saved elsewhere, still finds the keys.
    let o = run_in(
        tmp.path(),
        &["migrate", "-c", "ha.d/hbd.toml", "--node", "beta"],
    );
    assert_eq!(o.status.code(), Some(0));
    let other = tempfile::tempdir().unwrap();
    let again = other.path().join("hbd.toml");
    fs::write(&again, &o.stdout).unwrap();
    let c = load(&again, &opts)
        .config
        .expect("migrated TOML loads from another directory");
    assert_eq!(comparable(&a), comparable(&c));
}

#[test]
fn migrate_refuses_a_broken_config_and_prints_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    stage(
        &repo().join("tests/configs/broken/time_seconds_suffix"),
        tmp.path(),
    );
    let o = run_in(tmp.path(), &["migrate", "-c", "ha.d", "--node", "alpha"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("deadtime"));
}

#[test]
fn vector_configs_check_and_migrate() {
    let found = testkit::vectors();
    if !testkit::skip::Needs::new("vector_configs_check_and_migrate")
        .that(found.is_some(), "the heartbeat 3.0.6 vectors are not found")
        .met()
    {
        return;
    }
    let vectors = found.unwrap();
    for set in ["sha1", "md5", "crc", "sha1-netstring"] {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("ha.d");
        fs::create_dir_all(&d).unwrap();
        let src = vectors.join(set);
        fs::copy(src.join("ha.cf.nodea"), d.join("ha.cf")).unwrap();
        fs::copy(src.join("haresources"), d.join("haresources")).unwrap();
        fs::copy(src.join("authkeys"), d.join("authkeys")).unwrap();
        fs::set_permissions(d.join("authkeys"), fs::Permissions::from_mode(0o600)).unwrap();
        let o = run_in(tmp.path(), &["check", "-c", "ha.d", "--node", "nodeb"]);
        assert_eq!(o.status.code(), Some(0), "{set}:\n{}", stdout(&o));
        let m = run_in(tmp.path(), &["migrate", "-c", "ha.d", "--node", "nodeb"]);
        assert_eq!(m.status.code(), Some(0), "{set}");
    }
}

/// `[hbd] metrics` off loopback is allowed, but `hbd check` says it is open to anyone.
#[test]
fn metrics_off_loopback_is_a_warning_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let ha_d = stage(&repo().join("ha.d"), tmp.path());
    let toml = ha_d.join("hbd.toml");
    let mut text = fs::read_to_string(&toml).unwrap();
    assert!(
        text.trim_end().ends_with("stop_failure = \"block\""),
        "[hbd] is no longer last"
    );
    text.push_str("metrics = \"0.0.0.0:9694\"\n");
    let line = text.lines().count();
    fs::write(&toml, &text).unwrap();
    let o = run_in(
        tmp.path(),
        &["check", "-c", "ha.d/hbd.toml", "--node", "alpha"],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "ha.d/hbd.toml:{line}: metrics: warning: 0.0.0.0:9694 is not a loopback address"
        )),
        "{out}"
    );
    // A port alone is loopback: no warning about it.
    fs::write(&toml, text.replace("\"0.0.0.0:9694\"", "\"9694\"")).unwrap();
    let out = stdout(&run_in(
        tmp.path(),
        &["check", "-c", "ha.d/hbd.toml", "--node", "alpha"],
    ));
    assert!(!out.contains("metrics"), "{out}");
}

#[test]
fn reference_names_every_directive_and_its_example_loads() {
    let doc = fs::read_to_string(repo().join("docs/config-reference.md")).unwrap();
    for d in hbd::config::hacf::known_directives() {
        assert!(
            doc.contains(&format!("`{d}`")),
            "docs/config-reference.md misses `{d}`"
        );
    }
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &doc[start..start + doc[start..].find("```").unwrap()];
    let tmp = tempfile::tempdir().unwrap();
    let ha_d = stage(&repo().join("ha.d"), tmp.path());
    let path = ha_d.join("example.toml");
    fs::write(&path, example).unwrap();
    let o = run_in(
        tmp.path(),
        &["check", "-c", "ha.d/example.toml", "--node", "beta"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}
