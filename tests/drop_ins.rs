//! The drop-ins the package installs as heartbeat's operator tools
//! (packaging/heartbeat/): they pass shellcheck with the package's maintainer
//! scripts, and `hb_standby`/`hb_takeover` answer bad arguments exactly as
//! heartbeat 3.0.6's own scripts do (same words, streams and exit code),
//! before any daemon is asked. tests/package.rs runs them installed;
//! tests/interop.rs compares `cl_status` with heartbeat's on a live pair.

use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::skip::Needs;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn packaging_scripts_pass_shellcheck() {
    if !Needs::new("packaging_scripts_pass_shellcheck")
        .tool("shellcheck", "shellcheck")
        .met()
    {
        return;
    }
    let mut files: Vec<PathBuf> = ["packaging/heartbeat", "packaging/maintainer-scripts"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root().join(d)).unwrap().flatten())
        .map(|e| e.path().strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "scripts missing: {files:?}");
    files.push("packaging/build-deb.sh".into());
    let out = Command::new("shellcheck")
        .current_dir(root())
        .args(["-s", "sh", "-S", "style"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck findings:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (exit code, stdout, stderr) of `script ARGS`, with `script`'s own path in
/// its messages written as `$0`.
fn answer(script: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(script)
        .args(args)
        // No hbd answers here, and heartbeat's diverted copy is not beside
        // the source tree's script: its own argument checks run.
        .env("HBD_RUN_DIR", "/nonexistent")
        .output()
        .unwrap();
    let path = script.display().to_string();
    let norm = |b: &[u8]| String::from_utf8_lossy(b).replace(&path, "$0");
    (
        o.status.code().unwrap_or(-1),
        norm(&o.stdout),
        norm(&o.stderr),
    )
}

#[test]
fn hb_standby_and_hb_takeover_refuse_bad_arguments_as_heartbeat_does() {
    let theirs = [
        "/usr/share/heartbeat/hb_standby",
        "/usr/share/heartbeat/hb_takeover",
    ];
    let mut needs = Needs::new("hb_standby_and_hb_takeover_refuse_bad_arguments_as_heartbeat_does");
    for t in theirs {
        needs = needs.file(t, "heartbeat");
    }
    // hbd's package may be installed: then these paths are hbd's drop-ins,
    // not heartbeat's scripts.
    let diverted = Command::new("dpkg-divert")
        .args(["--list", theirs[0]])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if !needs
        .that(
            !diverted,
            "heartbeat's hb_standby is diverted (hbd's package is installed)",
        )
        .met()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for their in theirs {
        let name = Path::new(their).file_name().unwrap();
        // Ours under the same name: the script picks standby or takeover by it.
        let ours = dir.path().join(name);
        std::fs::copy(root().join("packaging/heartbeat/hb_operator"), &ours).unwrap();
        for args in [&["bogus"][..], &["all", "local"], &["--help"]] {
            let want = answer(Path::new(their), args);
            assert_eq!(want.0, 1, "{their} {args:?}: {want:?}");
            assert_eq!(answer(&ours, args), want, "{name:?} {args:?}");
        }
        // An empty word trips heartbeat's unquoted tests (hb_standby prints
        // a shell error and its usage, hb_takeover sends an empty set);
        // ours names it and refuses.
        let (code, out, _) = answer(&ours, &[""]);
        assert_eq!(
            (code, out.as_str()),
            (1, "$0: wrong resources().\nusage:\n")
        );
    }
}
