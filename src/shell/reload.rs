//! SIGHUP: what a new configuration may change while hbd runs. Node names and
//! resource groups cannot; links, timing, logging and ping nodes can. The loop
//! applies an accepted [`Reload`] all or nothing.

use super::startup::{load_config, RunOptions};
use super::{fence, link};
use crate::config::Config;

/// A new configuration accepted for a running daemon, and which of its parts
/// differ from the running one.
pub struct Reload {
    pub config: Config,
    /// The links must be reopened.
    pub media_changed: bool,
    /// The ping node task must restart.
    pub ping_changed: bool,
    /// The metrics endpoint would move; it keeps its address until a restart.
    pub metrics_changed: bool,
}

/// Loads `opts.config` again (printing every diagnostic) and checks it against
/// the `running` configuration; None, logged, when it cannot be applied.
pub fn load(opts: &RunOptions, running: &Config) -> Option<Reload> {
    log::info!("SIGHUP: reloading {}", opts.config.display());
    let (loaded, errors) = load_config(opts);
    let new = match loaded.config {
        Some(mut c) if errors == 0 => {
            fence::drop_unusable_stonith(&mut c);
            c
        }
        _ => {
            log::error!(
                "reload of {} refused ({} error(s)); keeping the running configuration",
                opts.config.display(),
                errors.max(1)
            );
            return None;
        }
    };
    let bind = opts.bind.or(new.hbd.bind);
    let new = link::without_own_ucast(new, bind);
    if new.nodes != running.nodes || new.groups != running.groups {
        log::error!(
            "reload of {} refused: node names and resource groups cannot change while running (restart hbd); keeping the running configuration",
            opts.config.display()
        );
        return None;
    }
    Some(Reload::against(running, new))
}

impl Reload {
    fn against(running: &Config, new: Config) -> Reload {
        Reload {
            media_changed: new.media != running.media
                || new.udpport != running.udpport
                || new.baud != running.baud
                || new.hbd.bind != running.hbd.bind,
            ping_changed: (&new.ping_nodes, new.keepalive, new.deadping)
                != (&running.ping_nodes, running.keepalive, running.deadping),
            metrics_changed: new.hbd.metrics != running.hbd.metrics,
            config: new,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Medium;
    use crate::time::Duration;

    fn running() -> Config {
        Config {
            nodes: vec!["alpha".into(), "beta".into()],
            media: vec![Medium::Ucast {
                dev: "eth0".into(),
                peer: "192.0.2.2".into(),
            }],
            ..Config::default()
        }
    }

    fn changed(r: &Reload) -> (bool, bool, bool) {
        (r.media_changed, r.ping_changed, r.metrics_changed)
    }

    #[test]
    fn the_same_configuration_changes_nothing() {
        assert_eq!(
            changed(&Reload::against(&running(), running())),
            (false, false, false)
        );
    }

    #[test]
    fn each_part_that_needs_a_restart_is_named() {
        let mut new = running();
        new.udpport += 1;
        assert_eq!(
            changed(&Reload::against(&running(), new)),
            (true, false, false)
        );
        let mut new = running();
        new.media.push(Medium::Serial {
            path: "/dev/ttyS0".into(),
        });
        assert_eq!(
            changed(&Reload::against(&running(), new)),
            (true, false, false)
        );
        // The ping task's timing comes from keepalive and deadping.
        let mut new = running();
        new.keepalive = new.keepalive + Duration::from_millis(100);
        assert_eq!(
            changed(&Reload::against(&running(), new)),
            (false, true, false)
        );
        let mut new = running();
        new.hbd.metrics = Some("127.0.0.1:9100".parse().unwrap());
        assert_eq!(
            changed(&Reload::against(&running(), new)),
            (false, false, true)
        );
    }
}
