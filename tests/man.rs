//! `hbd man` and `hbd completions` as processes: the pages name every
//! subcommand `hbd --help` lists (so they cannot drift), render without
//! groff warnings, and the completion scripts parse in their shells.

use std::path::Path;
use std::process::Command;
use testkit::skip::Needs;

fn hbd(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hbd"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hbd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands `hbd --help` shows, read from its `Commands:` section.
fn subcommands() -> Vec<String> {
    let help = hbd(&["--help"]);
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if !line.starts_with("  ") {
                break;
            }
            let name = line.split_whitespace().next().unwrap().to_string();
            if name != "help" {
                names.push(name);
            }
        }
    }
    assert!(
        names.len() >= 10,
        "parsed too few subcommands from:\n{help}"
    );
    names
}

#[test]
fn man_pages_cover_every_subcommand_and_render_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let listed = hbd(&["man", "--out", d.path().to_str().unwrap()]);
    let main = std::fs::read_to_string(d.path().join("hbd.8")).unwrap();
    for sub in subcommands() {
        assert!(
            main.contains(&format!("hbd\\-{}(8)", sub.replace('-', "\\-")))
                || main.contains(&format!("hbd\\-{}(8)", sub)),
            "hbd(8) does not mention {sub}"
        );
        let page = d.path().join(format!("hbd-{sub}.8"));
        assert!(page.is_file(), "no page {}", page.display());
        assert!(listed.contains(&format!("hbd-{sub}.8")), "{listed}");
    }
    // No entry without a page (clap's `help` subcommand would have none).
    for line in main.lines() {
        if let Some(name) = line.strip_suffix("(8)") {
            let file = d.path().join(format!("{}.8", name.replace("\\-", "-")));
            assert!(
                file.is_file(),
                "hbd(8) lists {line} but there is no {}",
                file.display()
            );
        }
    }
    let toml = std::fs::read_to_string(d.path().join("hbd.toml.5")).unwrap();
    assert!(toml.starts_with(".TH HBD.TOML 5"));
    for directive in [
        "keepalive",
        "deadtime",
        "auto_failback",
        "ucast",
        "authkeys",
    ] {
        assert!(toml.contains(directive), "hbd.toml(5) lacks {directive}");
    }
    if !Needs::new("man_pages_cover_every_subcommand_and_render_cleanly: rendering")
        .tool("man", "man-db")
        .met()
    {
        return;
    }
    for entry in std::fs::read_dir(d.path()).unwrap() {
        render_without_warnings(&entry.unwrap().path());
    }
}

fn render_without_warnings(page: &Path) {
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "man -l {}", page.display());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.trim().is_empty(), "{}: {err}", page.display());
    assert!(out.stdout.len() > 200, "{} renders empty", page.display());
}

#[test]
fn completion_scripts_parse_and_know_the_subcommands() {
    let bash = hbd(&["completions", "bash"]);
    for sub in subcommands() {
        assert!(bash.contains(&sub), "bash completion lacks {sub}");
    }
    for (shell, check) in [("bash", "-n"), ("zsh", "-n"), ("fish", "--no-execute")] {
        let script = hbd(&["completions", shell]);
        let part = format!("completion_scripts_parse_and_know_the_subcommands: {shell} syntax");
        if !Needs::new(&part).tool(shell, shell).met() {
            continue;
        }
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), script).unwrap();
        let out = Command::new(shell)
            .arg(check)
            .arg(f.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell} {check}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
