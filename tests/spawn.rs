//! Resource scripts start the cheapest way the platform offers: std's
//! posix_spawn path (glibc: one `clone3` with `CLONE_VM|CLONE_VFORK`, no
//! copy of the daemon's page tables), never fork + exec. The test runs its
//! own other half under strace (it runs one script through hbd's cage) and
//! reads the flags of every process it creates. Anything in the cage that
//! posix_spawn cannot do (a `pre_exec` closure, `uid`, `gid`, `groups`)
//! would make std fork instead, and this test fail.

use std::process::Command;
use testkit::skip::Needs;

/// The half run under strace.
#[test]
#[ignore = "run by scripts_are_spawned_without_fork, under strace"]
fn spawn_one_script_through_the_cage() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let env = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
    let r = rt.block_on(hbd::shell::script::run_argv(
        std::path::Path::new("/bin/true"),
        &["start".to_string()],
        &env,
        hbd::time::Duration::from_secs(10),
    ));
    assert_eq!(r.ending, hbd::shell::script::Ending::Exited(0));
}

#[test]
fn scripts_are_spawned_without_fork() {
    if !Needs::new("scripts_are_spawned_without_fork")
        .tool("strace", "strace")
        .met()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o"])
        .arg(&trace)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "spawn_one_script_through_the_cage",
            "--ignored",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{out:?}"
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    let creates: Vec<&str> = text
        .lines()
        .filter(|l| {
            ["clone(", "clone3(", "fork(", "vfork("]
                .iter()
                .any(|c| l.contains(c))
        })
        .collect();
    // Threads share the address space too; only a new process lacks CLONE_VM.
    let forks: Vec<&&str> = creates.iter().filter(|l| !l.contains("CLONE_VM")).collect();
    assert!(forks.is_empty(), "a process was forked: {forks:?}\n{text}");
    assert!(
        creates.iter().any(|l| l.contains("CLONE_VM|CLONE_VFORK")),
        "no posix_spawn seen:\n{text}"
    );
}
