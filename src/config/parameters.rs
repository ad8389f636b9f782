//! heartbeat's configuration parameters as `cl_status hbparameter -p NAME`
//! prints them: the ha.cf directives heartbeat keeps a value for, in ha.cf's
//! own spelling, rendered from the running [`Config`].
//!
//! heartbeat prints the text as written, or its computed default with an `ms`
//! suffix (`deadping` left out with `deadtime 2` is `2000ms`). hbd keeps typed
//! values, so it prints a time written as whole seconds as `N` and any other
//! (or a default) as `Nms`, and words in their canonical form: `2000ms` or
//! `auto_failback true` as written read back as `2` and `on`. Checks compare
//! numbers and these words; the lab test holds hbd's answers to heartbeat's.

use super::{AutoFailback, Config, MsgFmt};
use crate::time::Duration;
use std::collections::BTreeMap;

/// The parameters hbd answers; any other name is unknown, as heartbeat
/// answers for a directive it keeps no value for (`node`, `ucast`, ...).
pub const NAMES: [&str; 16] = [
    "keepalive",
    "deadtime",
    "warntime",
    "initdead",
    "deadping",
    "udpport",
    "baud",
    "auto_failback",
    "msgfmt",
    "max_rexmit_delay",
    "realtime",
    "debug",
    "logfacility",
    "logfile",
    "debugfile",
    "watchdog",
];

/// Every parameter that has a value under `cfg`, by its ha.cf name. Unset
/// optional ones (`logfile`, `debugfile`, `logfacility` not written) are
/// absent, as heartbeat answers them with an error.
pub fn heartbeat_parameters(cfg: &Config) -> BTreeMap<String, String> {
    NAMES
        .iter()
        .filter_map(|n| parameter(cfg, n).map(|v| (n.to_string(), v)))
        .collect()
}

/// One parameter's value under `cfg`, or None when heartbeat would have none.
pub fn parameter(cfg: &Config, name: &str) -> Option<String> {
    let written = cfg.origins.contains_key(name);
    let time = |d: Duration| {
        let ms = d.millis();
        if written && ms % 1000 == 0 {
            (ms / 1000).to_string()
        } else {
            format!("{ms}ms")
        }
    };
    let l = &cfg.logging;
    Some(match name {
        "keepalive" => time(cfg.keepalive),
        "deadtime" => time(cfg.deadtime),
        "warntime" => time(cfg.warntime),
        "initdead" => time(cfg.initdead),
        "deadping" => time(cfg.deadping),
        "udpport" => cfg.udpport.to_string(),
        "baud" => cfg.baud.to_string(),
        "auto_failback" => match cfg.auto_failback {
            AutoFailback::On => "on",
            AutoFailback::Off => "off",
            AutoFailback::Legacy => "legacy",
        }
        .into(),
        "msgfmt" => match cfg.msgfmt {
            MsgFmt::Classic => "classic",
            MsgFmt::Netstring => "netstring",
        }
        .into(),
        // Whole milliseconds without a unit, as ha.cf takes it.
        "max_rexmit_delay" => cfg.max_rexmit_delay.millis().to_string(),
        // heartbeat's default is the word `true`; written, ha.cf's `on`/`off`.
        "realtime" => match (written, cfg.realtime) {
            (false, _) => "true".into(),
            (true, true) => "on".into(),
            (true, false) => "off".into(),
        },
        "debug" => l.debug.to_string(),
        "logfacility" => match &l.logfacility {
            Some(f) => f.clone(),
            None if written => "none".into(),
            None => return None,
        },
        "logfile" => l.logfile.as_ref()?.display().to_string(),
        "debugfile" => l.debugfile.as_ref()?.display().to_string(),
        "watchdog" => cfg.watchdog.as_ref()?.display().to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::hacf;
    use std::path::Path;

    fn load(ha_cf: &str) -> Config {
        let (cfg, diags) = hacf::parse_str(ha_cf, Path::new("ha.cf"));
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        cfg
    }

    /// What heartbeat 3.0.6 printed for the lab's ha.cf (tests/interop.rs
    /// holds hbd to the same answers on a live pair).
    #[test]
    fn written_values_and_defaults_read_as_heartbeat_prints_them() {
        let cfg = load(
            "logfacility none\nlogfile /var/log/ha-log\nkeepalive 500ms\ndeadtime 2\n\
             warntime 1500ms\ninitdead 4\nudpport 694\nauto_failback on\nnode nodea\nnode nodeb\n",
        );
        let p = heartbeat_parameters(&cfg);
        let get = |n: &str| p.get(n).map(String::as_str);
        assert_eq!(get("keepalive"), Some("500ms"));
        assert_eq!(get("deadtime"), Some("2"));
        assert_eq!(get("warntime"), Some("1500ms"));
        assert_eq!(get("initdead"), Some("4"));
        // Not written: derived from deadtime, with heartbeat's ms suffix.
        assert_eq!(get("deadping"), Some("2000ms"));
        assert_eq!(get("udpport"), Some("694"));
        assert_eq!(get("baud"), Some("19200"));
        assert_eq!(get("auto_failback"), Some("on"));
        assert_eq!(get("msgfmt"), Some("classic"));
        assert_eq!(get("max_rexmit_delay"), Some("250"));
        assert_eq!(get("realtime"), Some("true"));
        assert_eq!(get("debug"), Some("0"));
        assert_eq!(get("logfacility"), Some("none"));
        assert_eq!(get("logfile"), Some("/var/log/ha-log"));
        // Unset, and never kept: heartbeat has no value for either.
        assert_eq!(get("debugfile"), None);
        assert_eq!(get("node"), None);
    }

    #[test]
    fn heartbeats_own_defaults_carry_ms() {
        let cfg = load("node nodea\nnode nodeb\nrealtime on\n");
        assert_eq!(parameter(&cfg, "keepalive").as_deref(), Some("1000ms"));
        assert_eq!(parameter(&cfg, "deadtime").as_deref(), Some("30000ms"));
        assert_eq!(parameter(&cfg, "warntime").as_deref(), Some("15000ms"));
        assert_eq!(parameter(&cfg, "deadping").as_deref(), Some("30000ms"));
        assert_eq!(parameter(&cfg, "realtime").as_deref(), Some("on"));
        assert_eq!(parameter(&cfg, "logfacility"), None);
        assert_eq!(parameter(&cfg, "auto_failback").as_deref(), Some("legacy"));
    }

    #[test]
    fn every_name_offered_is_answered_somewhere() {
        let cfg = load(
            "node a\nnode b\nlogfacility daemon\nlogfile /l\ndebugfile /d\nrealtime off\n\
             watchdog /dev/watchdog\n",
        );
        for n in NAMES {
            assert!(parameter(&cfg, n).is_some(), "{n}");
        }
        assert_eq!(parameter(&cfg, "realtime").as_deref(), Some("off"));
        assert_eq!(parameter(&cfg, "logfacility").as_deref(), Some("daemon"));
        assert_eq!(
            parameter(&cfg, "watchdog").as_deref(),
            Some("/dev/watchdog")
        );
    }
}
