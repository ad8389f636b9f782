//! Resource scripts run in a cage (STYLE "Scripts run in a cage", spec §6.2):
//! fixed argv `[path, args.., action]`, a scrubbed environment, stdin from
//! /dev/null, their own process group killed as a whole on timeout, stdout and
//! stderr captured (bounded) for the log. Also heartbeat's "is it running" rule.

use crate::core::{Action, CheckOutcome, StepOutcome};
use crate::time::Duration;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncReadExt;
use tokio::time::{sleep_until, Instant as TokioInstant};

/// How much of each of stdout and stderr is kept.
pub const OUTPUT_LIMIT: usize = 64 * 1024;
/// Between SIGTERM and SIGKILL of a timed-out script's process group.
pub const KILL_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
/// How long output is still read after the script exits. What the script wrote
/// is already in the pipe, so this only has to cover reading it; a background
/// child it left behind may hold the pipe open for ever, and every millisecond
/// here delays the step's result (and `hbd status`) for a typical start script.
const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_millis(20);

/// The PATH scripts get: heartbeat's scripts call `ifconfig`, `ip`, `send_arp`.
pub const SCRIPT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

pub fn action_word(a: Action) -> &'static str {
    a.word()
}

#[derive(Clone, Debug)]
pub struct ScriptSpec {
    pub path: PathBuf,
    pub args: Vec<String>,
    pub action: Action,
    /// The whole environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

impl ScriptSpec {
    /// `/path arg1 arg2 start`, for log lines.
    pub fn command_line(&self) -> String {
        let action = [action_word(self.action)];
        command_line(
            &self.path,
            self.args.iter().map(String::as_str).chain(action),
        )
    }
}

/// `/path arg1 arg2`: what a script was run as, for log lines (the words
/// unquoted: they are argv, never a shell string).
pub fn command_line<S: AsRef<str>>(path: &Path, args: impl IntoIterator<Item = S>) -> String {
    let mut s = path.display().to_string();
    for a in args {
        s.push(' ');
        s.push_str(a.as_ref());
    }
    s
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signalled(i32),
    /// Killed by us after `timeout`.
    TimedOut,
    /// exec failed: (errno-like code 126/127, reason).
    SpawnFailed(i32, String),
}

#[derive(Clone, Debug)]
pub struct ScriptResult {
    pub ending: Ending,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: std::time::Duration,
}

impl ScriptResult {
    /// The last lines of stdout+stderr, for a failure reason.
    pub fn output_tail(&self) -> String {
        let mut all = String::new();
        all.push_str(self.stdout.trim_end());
        if !self.stderr.trim().is_empty() {
            if !all.is_empty() {
                all.push_str(" | ");
            }
            all.push_str(self.stderr.trim_end());
        }
        let all = all.replace('\n', " / ");
        if all.len() > 300 {
            let mut cut = all.len() - 300;
            while !all.is_char_boundary(cut) {
                cut += 1;
            }
            format!("...{}", &all[cut..])
        } else {
            all
        }
    }
}

/// How a run ended, for a log line: `exit code 3`, `not found (exit 127)`,
/// `killed after 10s timeout`.
pub fn ending_text(e: &Ending, timeout: Duration) -> String {
    match e {
        Ending::Exited(126) => "not executable (exit 126)".into(),
        Ending::Exited(127) => "not found (exit 127)".into(),
        Ending::Exited(code) => format!("exit code {code}"),
        Ending::Signalled(s) => format!("killed by signal {s}"),
        Ending::TimedOut => format!("killed after {timeout} timeout"),
        Ending::SpawnFailed(_, why) => why.clone(),
    }
}

/// heartbeat's ResourceManager rule for `status` (the exit code is ignored):
/// running iff stdout matches `*[Rr]unning*` or `*OK*` and not
/// `*[Nn][Oo][Tt] *[Rr]unning*`.
pub fn status_says_running(stdout: &str) -> bool {
    let b = stdout.as_bytes();
    let running_at = |i: usize| -> bool {
        b.len() >= i + 7 && (b[i] == b'R' || b[i] == b'r') && &b[i + 1..i + 7] == b"unning"
    };
    let has_running = (0..b.len()).any(running_at);
    let has_ok = stdout.contains("OK");
    if !(has_running || has_ok) {
        return false;
    }
    let not_running = (0..b.len()).any(|i| {
        b.len() >= i + 4
            && b[i].eq_ignore_ascii_case(&b'n')
            && b[i + 1].eq_ignore_ascii_case(&b'o')
            && b[i + 2].eq_ignore_ascii_case(&b't')
            && b[i + 3] == b' '
            && (i + 4..b.len()).any(running_at)
    });
    !not_running
}

/// What the core is told about one finished step.
pub fn outcome(action: Action, r: &ScriptResult) -> StepOutcome {
    match failure(action, r) {
        Some((code, reason)) => StepOutcome::Failed {
            code,
            reason,
            output: r.output_tail(),
        },
        None if matches!(action, Action::Status | Action::Monitor) => {
            StepOutcome::Running(running(action, r))
        }
        None => StepOutcome::Ok,
    }
}

/// What the core is told about one finished monitor check: running, or why not.
pub fn check_outcome(action: Action, r: &ScriptResult) -> CheckOutcome {
    let (code, reason) = match failure(action, r) {
        Some(f) => f,
        None if running(action, r) => return CheckOutcome::Running,
        None => match (action, &r.ending) {
            (Action::Monitor, Ending::Exited(c)) => (Some(*c), format!("not running (exit {c})")),
            _ => (None, "not running (status output)".into()),
        },
    };
    CheckOutcome::Failed {
        code,
        reason,
        output: r.output_tail(),
    }
}

/// Whether a `status` or `monitor` that ran to its end says running:
/// heartbeat's output rule for `status`, OCF's exit 0 for `monitor`.
fn running(action: Action, r: &ScriptResult) -> bool {
    match action {
        Action::Monitor => r.ending == Ending::Exited(0),
        _ => status_says_running(&r.stdout),
    }
}

/// The exit code and reason of a run that failed as a run: it could not
/// start, timed out, was killed, or (start/stop, and monitor except OCF's 7
/// "not running") exited non-zero. `status`'s exit code means nothing
/// (heartbeat reads its output only).
fn failure(action: Action, r: &ScriptResult) -> Option<(Option<i32>, String)> {
    match &r.ending {
        Ending::SpawnFailed(code, why) => Some((Some(*code), why.clone())),
        Ending::TimedOut => Some((
            None,
            format!("killed after {:.1}s timeout", r.elapsed.as_secs_f64()),
        )),
        Ending::Signalled(sig) => Some((None, format!("killed by signal {sig}"))),
        Ending::Exited(_) if action == Action::Status => None,
        Ending::Exited(0) => None,
        Ending::Exited(7) if action == Action::Monitor => None,
        Ending::Exited(code) => Some((
            Some(*code),
            match code {
                126 => "not executable (exit 126)".to_string(),
                127 => "not found (exit 127)".to_string(),
                c => format!("exit code {c}"),
            },
        )),
    }
}

async fn read_some(
    r: &mut Option<impl tokio::io::AsyncRead + Unpin>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match r {
        Some(r) => r.read(buf).await,
        None => std::future::pending().await,
    }
}

fn keep(into: &mut Vec<u8>, data: &[u8]) {
    let room = OUTPUT_LIMIT.saturating_sub(into.len());
    into.extend_from_slice(&data[..data.len().min(room)]);
}

/// hbd runs scripts with its own privileges (root, in production): one that
/// another user could rewrite would be a way to run anything as root. So the
/// file (after symlinks: what is executed) must be owned by root or by hbd's
/// own user and not writable by group or others.
pub fn trusted(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        // Not there: spawning reports "not found" with the usual exit code.
        return Ok(());
    };
    let mode = meta.mode() & 0o7777;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(format!(
            "{}: refused: owned by uid {}, not root (chown root {})",
            path.display(),
            meta.uid(),
            path.display()
        ));
    }
    if mode & 0o022 != 0 {
        return Err(format!(
            "{}: refused: writable by group or others (mode {mode:o}; chmod go-w {})",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// Runs one script to completion (or to its timeout) and returns what happened.
pub async fn run(spec: &ScriptSpec) -> ScriptResult {
    let mut argv = spec.args.clone();
    argv.push(action_word(spec.action).to_string());
    run_argv(&spec.path, &argv, &spec.env, spec.timeout).await
}

/// The cage for any executable (a fence hook, `stonith`): fixed argv, only
/// `env`, its own process group killed whole after `timeout`.
pub async fn run_argv(
    path: &std::path::Path,
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> ScriptResult {
    let started = std::time::Instant::now();
    if let Err(why) = trusted(path) {
        return ScriptResult {
            ending: Ending::SpawnFailed(126, why),
            stdout: String::new(),
            stderr: String::new(),
            elapsed: started.elapsed(),
        };
    }
    // Only what posix_spawn can do (env, stdio, chdir, process group), so
    // std spawns with posix_spawn (a vfork-style clone) rather than fork:
    // a pre_exec closure, uid, gid or groups would make it fork, ~4x slower
    // per start (docs/daemon.md). Keep it that way.
    let mut cmd = tokio::process::Command::new(path);
    cmd.args(argv)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir("/")
        .process_group(0)
        .kill_on_drop(false);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let (code, what) = match e.kind() {
                std::io::ErrorKind::NotFound => (127, "not found"),
                std::io::ErrorKind::PermissionDenied => (126, "not executable"),
                _ => (126, "cannot be run"),
            };
            return ScriptResult {
                ending: Ending::SpawnFailed(code, format!("{}: {what}: {e}", path.display())),
                stdout: String::new(),
                stderr: String::new(),
                elapsed: started.elapsed(),
            };
        }
    };
    // With process_group(0) the child's pid is its group id.
    let pgid = child.id().map(|p| Pid::from_raw(p as i32));
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
    let mut chunk = [0u8; 4096];
    let mut chunk2 = [0u8; 4096];
    let timeout_at = TokioInstant::now() + timeout.to_std();
    let mut kill_at: Option<TokioInstant> = None;
    let mut drain_until: Option<TokioInstant> = None;
    let mut exit: Option<std::process::ExitStatus> = None;
    let mut timed_out = false;
    loop {
        if exit.is_some() && out.is_none() && err.is_none() && kill_at.is_none() {
            break;
        }
        let next_timer = [
            (exit.is_none() && !timed_out).then_some(timeout_at),
            kill_at,
            drain_until,
        ]
        .into_iter()
        .flatten()
        .min();
        tokio::select! {
            r = read_some(&mut out, &mut chunk) => match r {
                Ok(0) | Err(_) => out = None,
                Ok(n) => keep(&mut out_buf, &chunk[..n]),
            },
            r = read_some(&mut err, &mut chunk2) => match r {
                Ok(0) | Err(_) => err = None,
                Ok(n) => keep(&mut err_buf, &chunk2[..n]),
            },
            s = child.wait(), if exit.is_none() => {
                exit = Some(s.unwrap_or_else(|_| std::process::ExitStatus::from_raw(127 << 8)));
                drain_until = Some(TokioInstant::now() + DRAIN_GRACE);
            }
            _ = async { match next_timer { Some(t) => sleep_until(t).await, None => std::future::pending().await } } => {
                let now = TokioInstant::now();
                if exit.is_none() && !timed_out && now >= timeout_at {
                    timed_out = true;
                    if let Some(g) = pgid {
                        let _ = killpg(g, Signal::SIGTERM);
                    }
                    kill_at = Some(now + KILL_GRACE);
                }
                if let Some(k) = kill_at {
                    if now >= k {
                        // The whole group: grandchildren that ignored SIGTERM too.
                        if let Some(g) = pgid {
                            let _ = killpg(g, Signal::SIGKILL);
                        }
                        kill_at = None;
                    }
                }
                if let Some(d) = drain_until {
                    if now >= d {
                        out = None;
                        err = None;
                        drain_until = None;
                    }
                }
            }
        }
        // Once the leader is gone and the group is empty there is nothing left to kill.
        if exit.is_some() && kill_at.is_some() {
            if let Some(g) = pgid {
                if killpg(g, None).is_err() {
                    kill_at = None;
                }
            }
        }
    }
    let status = exit.expect("loop ends only after exit");
    let ending = if timed_out {
        Ending::TimedOut
    } else if let Some(c) = status.code() {
        Ending::Exited(c)
    } else {
        Ending::Signalled(status.signal().unwrap_or(0))
    };
    ScriptResult {
        ending,
        stdout: String::from_utf8_lossy(&out_buf).into_owned(),
        stderr: String::from_utf8_lossy(&err_buf).into_owned(),
        elapsed: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn status_rule_is_resourcemanagers() {
        for yes in [
            "running",
            "foo is running",
            "INFO:  Running OK",
            "OK",
            "status: Running\n",
            "line1\nservice running (pid 4)\n",
        ] {
            assert!(status_says_running(yes), "{yes:?} should be running");
        }
        for no in [
            "",
            "stopped",
            "foo is not running",
            "foo is NOT running",
            "INFO:  Resource is stopped",
            "RUNNING",
            "ok",
            "Not Running",
            "OK but not  really running",
        ] {
            assert!(!status_says_running(no), "{no:?} should not be running");
        }
    }

    fn script(dir: &std::path::Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn spec(path: PathBuf, action: Action, timeout_ms: u64) -> ScriptSpec {
        ScriptSpec {
            path,
            args: vec!["arg1".into(), "arg 2".into()],
            action,
            env: vec![
                ("PATH".into(), SCRIPT_PATH.into()),
                ("HA_CURHOST".into(), "alpha".into()),
            ],
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    use crate::shell::test_runtime as rt;

    #[test]
    fn argv_env_and_output_are_captured() {
        let d = tempfile::tempdir().unwrap();
        let p = script(
            d.path(),
            "s",
            r#"echo "argc=$# 1=$1 2=$2 3=$3"; echo "cur=$HA_CURHOST home=${HOME-unset}"; echo oops >&2; read x && echo "stdin=$x"; exit 0"#,
        );
        let r = rt().block_on(run(&spec(p, Action::Start, 5000)));
        assert_eq!(r.ending, Ending::Exited(0));
        assert!(
            r.stdout.contains("argc=3 1=arg1 2=arg 2 3=start"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("cur=alpha home=unset"), "{}", r.stdout);
        assert!(!r.stdout.contains("stdin="), "stdin must be /dev/null");
        assert_eq!(r.stderr.trim(), "oops");
        assert_eq!(outcome(Action::Start, &r), StepOutcome::Ok);
    }

    #[test]
    fn nonzero_exit_fails_with_output_tail() {
        let d = tempfile::tempdir().unwrap();
        let p = script(d.path(), "s", "echo cannot bind address; exit 3");
        let r = rt().block_on(run(&spec(p, Action::Start, 5000)));
        match outcome(Action::Start, &r) {
            StepOutcome::Failed {
                code,
                reason,
                output,
            } => {
                assert_eq!(code, Some(3));
                assert_eq!(reason, "exit code 3");
                assert_eq!(output, "cannot bind address");
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn status_ignores_exit_code_and_reads_stdout() {
        let d = tempfile::tempdir().unwrap();
        let p = script(d.path(), "s", "echo 'INFO:  Running OK'; exit 7");
        let r = rt().block_on(run(&spec(p, Action::Status, 5000)));
        assert_eq!(outcome(Action::Status, &r), StepOutcome::Running(true));
        let p = script(d.path(), "t", "echo 'x is not running'; exit 0");
        let r = rt().block_on(run(&spec(p, Action::Status, 5000)));
        assert_eq!(outcome(Action::Status, &r), StepOutcome::Running(false));
    }

    #[test]
    fn checks_read_status_output_and_ocf_monitor_exit_codes() {
        let d = tempfile::tempdir().unwrap();
        let check = |body: &str, action: Action| {
            let p = script(d.path(), "c", body);
            let r = rt().block_on(run(&spec(p, action, 300)));
            check_outcome(action, &r)
        };
        // status: heartbeat's output rule, whatever the exit code.
        assert_eq!(
            check("echo 'INFO:  Running OK'; exit 3", Action::Status),
            CheckOutcome::Running
        );
        assert_eq!(
            check("echo 'x is not running'; exit 0", Action::Status),
            CheckOutcome::Failed {
                code: None,
                reason: "not running (status output)".into(),
                output: "x is not running".into(),
            }
        );
        // monitor: OCF's exit codes, whatever the output.
        assert_eq!(
            check("echo stopped; exit 0", Action::Monitor),
            CheckOutcome::Running
        );
        assert_eq!(
            check("echo 'Resource is stopped'; exit 7", Action::Monitor),
            CheckOutcome::Failed {
                code: Some(7),
                reason: "not running (exit 7)".into(),
                output: "Resource is stopped".into(),
            }
        );
        assert_eq!(
            check("echo 'config broken' >&2; exit 6", Action::Monitor),
            CheckOutcome::Failed {
                code: Some(6),
                reason: "exit code 6".into(),
                output: "config broken".into(),
            }
        );
        // A check that hangs is killed at its timeout and is a failure.
        match check("echo probing; sleep 30", Action::Monitor) {
            CheckOutcome::Failed {
                code: None,
                reason,
                output,
            } => {
                assert!(reason.contains("timeout"), "{reason}");
                assert_eq!(output, "probing");
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn a_script_others_can_write_is_refused_and_never_run() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let ran = d.path().join("ran");
        let p = script(d.path(), "w", &format!("touch {}", ran.display()));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        let r = rt().block_on(run(&spec(p.clone(), Action::Start, 5000)));
        match outcome(Action::Start, &r) {
            StepOutcome::Failed { code, reason, .. } => {
                assert_eq!(code, Some(126));
                assert!(reason.contains("writable by group or others"), "{reason}");
                assert!(reason.contains("chmod go-w"), "{reason}");
            }
            o => panic!("{o:?}"),
        }
        assert!(!ran.exists(), "the refused script ran");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let r = rt().block_on(run(&spec(p, Action::Start, 5000)));
        assert_eq!(outcome(Action::Start, &r), StepOutcome::Ok);
        assert!(ran.exists());
    }

    #[test]
    fn missing_and_unexecutable_are_named() {
        let d = tempfile::tempdir().unwrap();
        let r = rt().block_on(run(&spec(d.path().join("nope"), Action::Start, 5000)));
        match outcome(Action::Start, &r) {
            StepOutcome::Failed { code, reason, .. } => {
                assert_eq!(code, Some(127));
                assert!(reason.contains("not found"), "{reason}");
            }
            o => panic!("{o:?}"),
        }
        let p = d.path().join("noexec");
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        let r = rt().block_on(run(&spec(p, Action::Start, 5000)));
        match outcome(Action::Start, &r) {
            StepOutcome::Failed { code, reason, .. } => {
                assert_eq!(code, Some(126));
                assert!(reason.contains("not executable"), "{reason}");
            }
            o => panic!("{o:?}"),
        }
        // A script whose own command is missing exits 127 through the shell.
        let p = script(d.path(), "s", "/nonexistent/cmd");
        let r = rt().block_on(run(&spec(p, Action::Stop, 5000)));
        match outcome(Action::Stop, &r) {
            StepOutcome::Failed { code, reason, .. } => {
                assert_eq!(code, Some(127));
                assert!(reason.contains("not found (exit 127)"), "{reason}");
            }
            o => panic!("{o:?}"),
        }
    }

    fn alive(pid: i32) -> bool {
        // A zombie waiting for init to reap it counts as dead.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => {
                let state = s.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z') && !state.starts_with('X')
            }
            Err(_) => false,
        }
    }

    #[test]
    fn timeout_kills_the_whole_group_including_grandchildren() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("grandchild.pid");
        // The grandchild ignores SIGTERM, so only the SIGKILL to the group gets it.
        let p = script(
            d.path(),
            "s",
            &format!(
                "sh -c 'trap \"\" TERM; sleep 60' & echo $! > {}; sleep 60",
                pidfile.display()
            ),
        );
        let r = rt().block_on(run(&spec(p, Action::Start, 300)));
        assert_eq!(r.ending, Ending::TimedOut);
        assert!(r.elapsed >= std::time::Duration::from_millis(300));
        assert!(
            r.elapsed < std::time::Duration::from_secs(10),
            "{:?}",
            r.elapsed
        );
        let gc: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while alive(gc) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!alive(gc), "grandchild {gc} survived the timeout");
        match outcome(Action::Start, &r) {
            StepOutcome::Failed {
                code: None, reason, ..
            } => {
                assert!(reason.contains("timeout"), "{reason}")
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn background_child_holding_stdout_does_not_hang_the_runner() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("bg.pid");
        let p = script(
            d.path(),
            "s",
            &format!(
                "sleep 30 & echo $! > {}; echo started; exit 0",
                pidfile.display()
            ),
        );
        let r = rt().block_on(run(&spec(p, Action::Start, 5000)));
        assert_eq!(r.ending, Ending::Exited(0));
        assert!(
            r.elapsed < std::time::Duration::from_secs(3),
            "{:?}",
            r.elapsed
        );
        assert_eq!(r.stdout.trim(), "started");
        // A service a start script leaves running is not ours to kill.
        let bg: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(alive(bg));
        let _ = nix::sys::signal::kill(Pid::from_raw(bg), Signal::SIGKILL);
    }

    #[test]
    fn endings_read_as_log_text() {
        let t = Duration::from_secs(10);
        assert_eq!(ending_text(&Ending::Exited(3), t), "exit code 3");
        assert_eq!(ending_text(&Ending::Exited(127), t), "not found (exit 127)");
        assert_eq!(
            ending_text(&Ending::Exited(126), t),
            "not executable (exit 126)"
        );
        assert_eq!(ending_text(&Ending::Signalled(9), t), "killed by signal 9");
        assert_eq!(
            ending_text(&Ending::TimedOut, t),
            "killed after 10s timeout"
        );
    }

    #[test]
    fn output_is_bounded() {
        let d = tempfile::tempdir().unwrap();
        let p = script(
            d.path(),
            "s",
            "head -c 300000 /dev/zero | tr '\\0' x; exit 0",
        );
        let r = rt().block_on(run(&spec(p, Action::Start, 10_000)));
        assert_eq!(r.ending, Ending::Exited(0));
        assert_eq!(r.stdout.len(), OUTPUT_LIMIT);
    }
}
