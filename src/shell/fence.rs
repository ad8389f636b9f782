//! Fencing for the core's `Output::Fence`: the TOML `fence_hook` (run as
//! `HOOK NODE`) and `stonith_host` lines (cluster-glue's
//! `stonith -t TYPE -p PARAMS -T reset NODE`), each in the script cage. The
//! first that exits 0 fences the node; the core decides what a failure means.

use super::script::{self, Ending};
use crate::config::Config;
use crate::time::Duration;
use std::path::{Path, PathBuf};

use crate::config::facts::STONITH_PATHS;

/// cluster-glue's `stonith` binary, if this host has one (a fact of the host,
/// which `hbd check` asks the same function about).
pub use crate::config::facts::stonith_binary;

/// `stonith_host` lines cannot be honoured without cluster-glue: drop them
/// (loudly) so the core does not wait for a fence nobody can perform.
pub fn drop_unusable_stonith(cfg: &mut Config) {
    if !cfg.stonith_hosts.is_empty() && stonith_binary().is_none() {
        log::error!(
            "stonith_host: cluster-glue's stonith is not installed ({}); {} line(s) ignored, a dead peer is not fenced by them",
            STONITH_PATHS.join(", "),
            cfg.stonith_hosts.len()
        );
        cfg.stonith_hosts.clear();
    }
}

/// One way to fence a node, with the exact argv it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceCommand {
    pub path: PathBuf,
    pub argv: Vec<String>,
}

impl FenceCommand {
    pub fn command_line(&self) -> String {
        script::command_line(&self.path, &self.argv)
    }
}

/// The commands that fence `node`, in the order they are tried: the hook,
/// then each `stonith_host` line for `local` (heartbeat's HOST is the node
/// the device is reachable from, `*` any), only when `stonith` is given.
pub fn commands(
    cfg: &Config,
    node: &str,
    local: &str,
    stonith: Option<&Path>,
) -> Vec<FenceCommand> {
    let mut v = Vec::new();
    if let Some(h) = &cfg.hbd.fence_hook {
        v.push(FenceCommand {
            path: h.clone(),
            argv: vec![node.to_string()],
        });
    }
    if let Some(bin) = stonith {
        for h in &cfg.stonith_hosts {
            if h.host == "*" || h.host.eq_ignore_ascii_case(local) {
                v.push(FenceCommand {
                    path: bin.to_path_buf(),
                    argv: vec![
                        "-t".into(),
                        h.kind.clone(),
                        "-p".into(),
                        h.params.join(" "),
                        "-T".into(),
                        "reset".into(),
                        node.to_string(),
                    ],
                });
            }
        }
    }
    v
}

/// Runs `cmds` in order until one exits 0; logs each failure with its exit
/// code and output. True when `node` is fenced.
pub async fn fence(
    cmds: &[FenceCommand],
    node: &str,
    reason: &str,
    local: &str,
    timeout: Duration,
) -> bool {
    if cmds.is_empty() {
        log::error!("fencing {node}: no fence_hook and no usable stonith_host line");
        return false;
    }
    let env = vec![
        ("PATH".to_string(), script::SCRIPT_PATH.to_string()),
        ("HBD_NODE".to_string(), node.to_string()),
        ("HBD_REASON".to_string(), reason.to_string()),
        ("HBD_LOCAL".to_string(), local.to_string()),
    ];
    for c in cmds {
        log::warn!("fencing {node}: running {}", c.command_line());
        let r = script::run_argv(&c.path, &c.argv, &env, timeout).await;
        let took = Duration::from_millis(r.elapsed.as_millis() as u64);
        if r.ending == Ending::Exited(0) {
            log::warn!(
                "fencing {node}: {} succeeded after {took}",
                c.command_line()
            );
            return true;
        }
        let why = script::ending_text(&r.ending, timeout);
        log::error!(
            "fencing {node}: {} failed after {took}: {why}; output: {}",
            c.command_line(),
            r.output_tail()
        );
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StonithHost;
    use std::os::unix::fs::PermissionsExt;

    fn cfg_with(hook: Option<PathBuf>, hosts: &[(&str, &str)]) -> Config {
        let mut c = Config {
            stonith_hosts: hosts
                .iter()
                .map(|(h, k)| StonithHost {
                    host: h.to_string(),
                    kind: k.to_string(),
                    params: vec!["a".into(), "b c".into()],
                })
                .collect(),
            ..Config::default()
        };
        c.hbd.fence_hook = hook;
        c
    }

    #[test]
    fn commands_hook_first_then_matching_stonith_hosts() {
        let c = cfg_with(
            Some("/x/hook".into()),
            &[("ALPHA", "null"), ("gamma", "ssh"), ("*", "meatware")],
        );
        // Lines for alpha (where this runs) or any node; gamma's device is not ours.
        let v = commands(&c, "Beta", "alpha", Some(Path::new("/usr/sbin/stonith")));
        let lines: Vec<String> = v.iter().map(FenceCommand::command_line).collect();
        assert_eq!(
            lines,
            [
                "/x/hook Beta",
                "/usr/sbin/stonith -t null -p a b c -T reset Beta",
                "/usr/sbin/stonith -t meatware -p a b c -T reset Beta",
            ]
        );
        // The parameters stay one argv element: no shell ever splits them.
        assert_eq!(v[1].argv[3], "a b c");
        assert_eq!(commands(&c, "beta", "alpha", None).len(), 1);
    }

    #[tokio::test]
    async fn fence_tries_in_order_until_one_succeeds() {
        let t = tempfile::tempdir().unwrap();
        let rec = t.path().join("rec");
        let mk = |name: &str, code: i32| {
            let p = t.path().join(name);
            std::fs::write(
                &p,
                format!(
                    "#!/bin/sh\necho \"{name} $1 $HBD_NODE $HBD_REASON\" >> {}\nexit {code}\n",
                    rec.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            FenceCommand {
                path: p,
                argv: vec!["beta".into()],
            }
        };
        let bad = mk("bad", 3);
        let good = mk("good", 0);
        let to = Duration::from_secs(10);
        assert!(!fence(std::slice::from_ref(&bad), "beta", "dead", "alpha", to).await);
        assert!(fence(&[bad, good], "beta", "dead", "alpha", to).await);
        assert_eq!(
            std::fs::read_to_string(&rec).unwrap(),
            "bad beta beta dead\nbad beta beta dead\ngood beta beta dead\n"
        );
        assert!(!fence(&[], "beta", "dead", "alpha", to).await);
    }

    #[tokio::test]
    async fn hung_fence_is_killed_at_its_timeout() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("hang");
        std::fs::write(&p, "#!/bin/sh\nsleep 30\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let c = FenceCommand {
            path: p,
            argv: vec!["beta".into()],
        };
        let started = std::time::Instant::now();
        assert!(!fence(&[c], "beta", "dead", "alpha", Duration::from_millis(300)).await);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[tokio::test]
    async fn stonith_host_runs_cluster_glue_stonith() {
        let found = stonith_binary();
        if !testkit::skip::Needs::new("stonith_host_runs_cluster_glue_stonith")
            .tool("stonith", "cluster-glue")
            .that(
                found.is_some(),
                "cluster-glue's stonith is not where hbd looks",
            )
            .met()
        {
            return;
        }
        let bin = found.unwrap();
        let to = Duration::from_secs(30);
        // cluster-glue's `null` device resets any host it lists and succeeds.
        let mut cfg = cfg_with(None, &[("alpha", "null")]);
        cfg.stonith_hosts[0].params = vec!["alpha beta".into()];
        let cmds = commands(&cfg, "beta", "alpha", Some(&bin));
        assert!(fence(&cmds, "beta", "dead", "alpha", to).await);
        let bad = cfg_with(None, &[("*", "hbd-no-such-device")]);
        let cmds = commands(&bad, "beta", "alpha", Some(&bin));
        assert!(!fence(&cmds, "beta", "dead", "alpha", to).await);
    }
}
