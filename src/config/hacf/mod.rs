//! `/etc/ha.d/ha.cf` (spec §7.1, §7.2): heartbeat 3.0.6's directive set parsed into
//! [`Config`]. Honoured directives fill fields, directives heartbeat knows but hbd does
//! not act on are warnings saying why, unknown ones are errors naming the nearest known
//! directive. Derived timing defaults are applied here; cross-field rules live in
//! [`super::validate`] so the TOML form gets the same ones.
//!
//! Here: the parser. Which directives exist and how each takes its arguments
//! is in `directives.rs`; the syntax of their values in `values.rs`.

mod directives;
mod values;

pub use directives::{known_directives, nearest, suggest};
pub use values::{
    baud_refusal, host_name_ok, parse_bool, parse_time, ping_host, valid_node_name, TimeError,
    BAUD_RATES, FACILITIES,
};

use super::media6;
use super::model::{
    AutoFailback, Config, Diagnostic, Dropped, Location, Medium, MsgFmt, PingNode, StonithHost,
};
use crate::time::Duration;
use directives::{Shape, HBD_ONLY, HONOURED, IGNORED};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use values::{valid_ifname, BOOL_HELP};

/// heartbeat's MAXLINE for ha.cf.
const MAX_LINE: usize = 5120;

/// What the ha.cf parser saw besides the values: which timing directives were written
/// (their defaults derive from deadtime).
struct State<'a> {
    file: &'a Path,
    cfg: Config,
    diags: Vec<Diagnostic>,
    /// Scalar directive -> line it was last set on, for "overrides" warnings.
    seen: BTreeMap<&'static str, usize>,
    auto_failback_line: Option<usize>,
    /// heartbeat's ucast, bcast and serial plugins read `udpport` / `baud`
    /// once, when their first line is parsed: plugin -> (that line, the
    /// value then in effect).
    plugin_first: BTreeMap<&'static str, (usize, u32)>,
}

impl State<'_> {
    fn at(&self, line: usize) -> Option<Location> {
        Some(Location {
            file: self.file.to_path_buf(),
            line,
        })
    }
    fn error(&mut self, line: usize, directive: &str, msg: impl Into<String>) {
        let d = Diagnostic::error(self.at(line), directive, msg);
        self.diags.push(d);
    }
    fn warning(&mut self, line: usize, directive: &str, msg: impl Into<String>) {
        let d = Diagnostic::warning(self.at(line), directive, msg);
        self.diags.push(d);
    }
    fn origin(&mut self, key: &str, line: usize) {
        let loc = Location {
            file: self.file.to_path_buf(),
            line,
        };
        self.cfg.origins.insert(key.to_string(), loc);
    }
    /// Records a scalar setting; warns when it overrides an earlier one.
    fn scalar(&mut self, name: &'static str, line: usize) {
        if let Some(prev) = self.seen.insert(name, line) {
            self.warning(
                line,
                name,
                format!("overrides the value set on line {prev}; the last one wins"),
            );
        }
        self.origin(name, line);
    }
    /// Whether `dev` can name a network interface; an error saying it cannot.
    fn ifname(&mut self, name: &'static str, line: usize, dev: &str) -> bool {
        let ok = valid_ifname(dev);
        if !ok {
            self.error(line, name, format!("{dev:?} is not an interface name"));
        }
        ok
    }
    fn time(&mut self, name: &'static str, line: usize, v: &str) -> Option<Duration> {
        match parse_time(v) {
            Ok(d) => {
                self.scalar(name, line);
                Some(d)
            }
            Err(e) => {
                self.error(line, name, e.to_string());
                None
            }
        }
    }
    /// Records a directive the model does not carry, for `hbd migrate`.
    fn dropped(&mut self, line: usize, text: String, why: String) {
        let location = Location {
            file: self.file.to_path_buf(),
            line,
        };
        self.cfg.dropped.push(Dropped {
            location,
            text,
            why,
        });
    }
    /// Notes the `udpport` (or `baud`, for serial) a plugin fixes at its first line.
    fn plugin_line(&mut self, plugin: &'static str, line: usize) {
        let value = match plugin {
            "serial" => self.cfg.baud,
            _ => u32::from(self.cfg.udpport),
        };
        self.plugin_first.entry(plugin).or_insert((line, value));
    }
    fn add_medium(&mut self, line: usize, m: Medium) {
        let key = format!("media.{}", self.cfg.media.len());
        self.origin(&key, line);
        self.cfg.media.push(m);
    }
}

/// Parses ha.cf text. `file` is used in diagnostics only. Returns the config with
/// heartbeat's defaults for everything not written (nodes, media, keys and groups
/// empty) and every diagnostic; the caller decides on errors.
pub fn parse_str(text: &str, file: &Path) -> (Config, Vec<Diagnostic>) {
    let mut st = State {
        file,
        cfg: Config::default(),
        diags: Vec::new(),
        seen: BTreeMap::new(),
        auto_failback_line: None,
        plugin_first: BTreeMap::new(),
    };
    // Line 0: the file as a whole, for rules about what is missing from it.
    st.origin("file", 0);
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim_end_matches('\r');
        if raw.len() > MAX_LINE {
            st.error(
                line_no,
                "ha.cf",
                format!(
                    "line is {} bytes long (heartbeat accepts at most {MAX_LINE})",
                    raw.len()
                ),
            );
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (directive, rest) = match line.find([' ', '\t']) {
            Some(p) => (&line[..p], line[p..].trim()),
            None => (line, ""),
        };
        parse_directive(&mut st, line_no, directive, rest);
    }
    plugin_settings(&mut st);
    apply_timing_defaults(&mut st.cfg);
    (st.cfg, st.diags)
}

/// `udpport` and `baud` as heartbeat 3.0.6 applies them: each media plugin
/// reads the value in effect at its first line and keeps it (checked against
/// heartbeat: with `ucast` before `udpport 700` and `bcast` after it, ucast
/// runs on 694 and bcast on 700). hbd has one port for every link: a value
/// set too late is read as heartbeat reads it, with a warning; two plugins
/// on different ports is an error.
fn plugin_settings(st: &mut State) {
    let udp: Vec<(&str, usize, u32)> = ["ucast", "bcast", "ucast6"]
        .into_iter()
        .filter_map(|p| st.plugin_first.get(p).map(|&(l, v)| (p, l, v)))
        .collect();
    let written = u32::from(st.cfg.udpport);
    if let (Some(&line), Some(&(_, _, first))) = (st.seen.get("udpport"), udp.first()) {
        if udp.iter().any(|(_, _, v)| *v != first) {
            let each: Vec<String> = udp
                .iter()
                .map(|(p, l, v)| format!("{p} links on {v} (fixed at line {l})"))
                .collect();
            st.error(
                line,
                "udpport",
                format!(
                    "heartbeat 3.0.6 runs {}, since each plugin reads udpport at its first line; hbd has one port for every link (expected udpport above all ucast and bcast lines)",
                    each.join(" and ")
                ),
            );
        } else if first != written {
            let (p, l, _) = udp[0];
            st.warning(
                line,
                "udpport",
                format!(
                    "{written} comes after the first {p} line (line {l}), where heartbeat 3.0.6 fixes the port, so heartbeat and hbd use {first} (move udpport above the media lines to use {written})"
                ),
            );
            st.cfg.udpport = first as u16;
        }
    }
    if let (Some(&line), Some(&(l, first))) = (st.seen.get("baud"), st.plugin_first.get("serial")) {
        if first != st.cfg.baud {
            st.warning(
                line,
                "baud",
                format!(
                    "{} comes after the first serial line (line {l}), where heartbeat 3.0.6 fixes the speed, so heartbeat and hbd use {first} (move baud above the serial lines to use {})",
                    st.cfg.baud, st.cfg.baud
                ),
            );
            st.cfg.baud = first;
        }
    }
}

/// heartbeat's derived defaults (spec §5.2) for timers not set explicitly, which
/// [`Config::origins`] records.
pub fn apply_timing_defaults(cfg: &mut Config) {
    let dead = cfg.deadtime.millis();
    if !cfg.origins.contains_key("warntime") {
        cfg.warntime = Duration::from_millis(dead / 2);
    }
    if !cfg.origins.contains_key("initdead") {
        cfg.initdead = Duration::from_millis(if dead > 10_000 {
            dead
        } else if dead < 6_000 {
            12_000
        } else {
            2 * dead
        });
    }
    if !cfg.origins.contains_key("deadping") {
        cfg.deadping = cfg.deadtime;
    }
}

fn tokens(rest: &str) -> Vec<&str> {
    rest.split([' ', '\t', ','])
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_directive(st: &mut State, line: usize, directive: &str, rest: &str) {
    if let Some((name, shape, why)) = IGNORED.iter().find(|(n, _, _)| *n == directive) {
        if *shape == Shape::Options && tokens(rest).is_empty() {
            st.error(line, name, "needs a value");
        }
        st.warning(
            line,
            name,
            format!("heartbeat knows {name}; hbd ignores it because {why}"),
        );
        // An `env` line's value may be a secret meant for a client program.
        let text = match (*name, rest.split_once('=')) {
            ("env", Some((var, _))) => format!("env {var}=…"),
            _ => format!("{name} {rest}"),
        };
        st.dropped(line, text, format!("hbd ignores it because {why}"));
        return;
    }
    let Some((name, shape)) = HONOURED.iter().find(|(n, _)| *n == directive).copied() else {
        if HBD_ONLY.contains(&directive) {
            // ha.cf stays a file heartbeat can read, and hbd's own settings
            // (e.g. a wire format heartbeat cannot parse) must not sneak in.
            st.error(
                line,
                directive,
                format!("{directive} is an hbd.toml [hbd] setting, not an ha.cf directive; run `hbd migrate` and set it under [hbd] there"),
            );
            return;
        }
        let hint = match suggest(directive) {
            Some(k) => format!(" (did you mean {k:?}?)"),
            None => String::new(),
        };
        st.error(
            line,
            directive,
            format!("unknown directive {directive:?}{hint}; docs/config-reference.md lists every directive heartbeat 3.0.6 accepts"),
        );
        return;
    };
    if shape == Shape::WholeLine {
        whole_line(st, line, name, rest);
        return;
    }
    let toks = tokens(rest);
    if toks.is_empty() {
        st.error(line, name, "needs a value");
        return;
    }
    for tok in toks {
        option(st, line, name, tok);
    }
}

fn option(st: &mut State, line: usize, name: &'static str, v: &str) {
    match name {
        "node" => {
            let n = v.to_ascii_lowercase();
            if !valid_node_name(&n) {
                st.error(
                    line,
                    name,
                    format!("{v:?} is not a node name (expected the node's `uname -n`, without control characters or blanks)"),
                );
            } else if st.cfg.nodes.contains(&n) {
                st.warning(line, name, format!("node {n:?} is listed twice"));
            } else {
                if !st.cfg.origins.contains_key("node") {
                    st.origin("node", line);
                }
                st.cfg.nodes.push(n);
            }
        }
        "keepalive" | "deadtime" | "warntime" | "initdead" | "deadping" => {
            if let Some(d) = st.time(name, line, v) {
                *timing(&mut st.cfg, name) = d;
            }
        }
        "udpport" => match v.parse::<u16>() {
            Ok(p) if p > 0 => {
                st.scalar(name, line);
                st.cfg.udpport = p;
            }
            _ => st.error(
                line,
                name,
                format!("{v:?} is not a UDP port (expected 1 to 65535)"),
            ),
        },
        "baud" => match v.parse::<u32>() {
            Ok(b) if BAUD_RATES.contains(&b) => {
                st.scalar(name, line);
                st.cfg.baud = b;
            }
            _ => st.error(
                line,
                name,
                baud_refusal(v),
            ),
        },
        "serial" => {
            if !v.starts_with('/') {
                st.error(
                    line,
                    name,
                    format!("{v:?} is not an absolute device path (expected e.g. /dev/ttyS0)"),
                );
            } else {
                st.plugin_line("serial", line);
                st.add_medium(
                    line,
                    Medium::Serial {
                        path: PathBuf::from(v),
                    },
                );
            }
        }
        "bcast" | "udp" => {
            if name == "udp" {
                st.warning(line, name, "udp is a deprecated alias; write bcast");
                st.dropped(line, format!("udp {v}"), format!("deprecated alias, written as bcast {v}"));
            }
            if st.ifname(name, line, v) {
                st.plugin_line("bcast", line);
                st.add_medium(line, Medium::Bcast { dev: v.to_string() });
            }
        }
        "ping" => match ping_host(v) {
            Ok(()) => {
                let key = format!("ping.{}", st.cfg.ping_nodes.len());
                st.origin(&key, line);
                st.cfg.ping_nodes.push(PingNode {
                    name: v.to_string(),
                    addrs: vec![v.to_string()],
                });
            }
            Err(why) => st.error(line, name, why),
        },
        "auto_failback" => {
            let af = match v.to_ascii_lowercase().as_str() {
                "legacy" => Some(AutoFailback::Legacy),
                _ => parse_bool(v).map(|b| {
                    if b {
                        AutoFailback::On
                    } else {
                        AutoFailback::Off
                    }
                }),
            };
            match af {
                Some(af) => {
                    st.scalar(name, line);
                    st.auto_failback_line = Some(line);
                    // validate() warns about legacy, written or by default.
                    st.cfg.auto_failback = af;
                }
                None => st.error(
                    line,
                    name,
                    format!("{v:?} is not on, off or legacy (or a boolean: {BOOL_HELP})"),
                ),
            }
        }
        // heartbeat's set_nice_failback ignores the value (once it is a valid
        // boolean): it turns auto_failback off when an earlier line set it on
        // or off, and to legacy otherwise. hbd reads it the same way.
        "nice_failback" => match parse_bool(v) {
            Some(_) => {
                let before = st.cfg.auto_failback;
                let since = st
                    .auto_failback_line
                    .map(|l| format!(" (line {l})"))
                    .unwrap_or_default();
                let (af, word, why) = match before {
                    AutoFailback::On => (
                        AutoFailback::Off,
                        "off",
                        format!("after `auto_failback on`{since}, heartbeat reads any nice_failback as auto_failback off, so failback is now off"),
                    ),
                    AutoFailback::Off => (
                        AutoFailback::Off,
                        "off",
                        format!("after `auto_failback off`{since}, heartbeat reads any nice_failback as auto_failback off, which it already was"),
                    ),
                    AutoFailback::Legacy => (
                        AutoFailback::Legacy,
                        "legacy",
                        "without an earlier auto_failback on or off, heartbeat reads any nice_failback as auto_failback legacy".to_string(),
                    ),
                };
                st.warning(
                    line,
                    name,
                    format!("{v:?} is obsolete: {why}; hbd reads it the same (effective value: auto_failback {word}; write that instead)"),
                );
                st.origin("auto_failback", line);
                st.auto_failback_line = Some(line);
                st.cfg.auto_failback = af;
                st.dropped(
                    line,
                    format!("nice_failback {v}"),
                    format!("obsolete; read as auto_failback {word}, as heartbeat 3.0.6 reads it here"),
                );
            }
            None => st.error(line, name, format!("{v:?} is not a boolean ({BOOL_HELP})")),
        },
        "watchdog" => {
            if !v.starts_with('/') {
                st.error(
                    line,
                    name,
                    format!("{v:?} is not an absolute path (expected a watchdog device, e.g. /dev/watchdog)"),
                );
                return;
            }
            st.scalar(name, line);
            st.cfg.watchdog = Some(PathBuf::from(v));
        }
        "logfile" | "debugfile" => {
            if !v.starts_with('/') {
                st.error(
                    line,
                    name,
                    format!("{v:?} is not an absolute path (expected e.g. /var/log/ha-log)"),
                );
                return;
            }
            st.scalar(name, line);
            let p = Some(PathBuf::from(v));
            if name == "logfile" {
                st.cfg.logging.logfile = p;
            } else {
                st.cfg.logging.debugfile = p;
            }
        }
        "logfacility" => {
            let l = v.to_ascii_lowercase();
            if l == "none" {
                st.scalar(name, line);
                st.cfg.logging.logfacility = None;
            } else if FACILITIES.contains(&l.as_str()) {
                st.scalar(name, line);
                st.cfg.logging.logfacility = Some(l);
            } else {
                st.error(
                    line,
                    name,
                    format!("{v:?} is not a syslog facility (expected none, daemon, local0..local7, auth, authpriv, cron, ftp, kern, lpr, mail, news, syslog, user or uucp)"),
                );
            }
        }
        "debug" => match v.parse::<u8>() {
            Ok(d) => {
                st.scalar(name, line);
                st.cfg.logging.debug = d;
            }
            Err(_) => st.error(
                line,
                name,
                format!("{v:?} is not a debug level (expected 0 to 255)"),
            ),
        },
        "realtime" => match parse_bool(v) {
            Some(b) => {
                st.scalar(name, line);
                st.cfg.realtime = b;
            }
            None => st.error(line, name, format!("{v:?} is not a boolean ({BOOL_HELP})")),
        },
        "msgfmt" => match v {
            "classic" => {
                st.scalar(name, line);
                st.cfg.msgfmt = MsgFmt::Classic;
            }
            "netstring" => {
                st.scalar(name, line);
                st.cfg.msgfmt = MsgFmt::Netstring;
            }
            _ => st.error(
                line,
                name,
                format!("{v:?} is not a message format (expected classic or netstring)"),
            ),
        },
        "max_rexmit_delay" => match v.parse::<u64>() {
            // heartbeat reads a plain integer of milliseconds here, not a time.
            Ok(ms) if ms > 0 => {
                st.scalar(name, line);
                st.cfg.max_rexmit_delay = Duration::from_millis(ms);
            }
            _ => st.error(
                line,
                name,
                format!("{v:?} is not a delay (expected a whole number of milliseconds above 0, e.g. 250)"),
            ),
        },
        "autojoin" => match v.to_ascii_lowercase().as_str() {
            "none" => {
                st.scalar(name, line);
                st.dropped(line, format!("autojoin {v}"), "heartbeat's default and hbd's only way".into());
            }
            "other" | "any" => st.error(
                line,
                name,
                format!("{v:?} conflicts with haresources resource management, as in heartbeat (expected none)"),
            ),
            _ => st.error(
                line,
                name,
                format!("{v:?} is not none, other or any (hbd accepts only none)"),
            ),
        },
        "pacemaker" | "crm" => match parse_bool(v) {
            Some(false) => {
                st.scalar(name, line);
                st.dropped(line, format!("{name} {v}"), "heartbeat's default and hbd's only way (haresources mode)".into());
            }
            _ if matches!(
                v.to_ascii_lowercase().as_str(),
                "respawn" | "minimal" | "manual" | "valgrind" | "ccm-only"
            ) || parse_bool(v) == Some(true) =>
            {
                st.error(
                    line,
                    name,
                    format!("{v:?} turns on Pacemaker, which disables haresources; hbd only does v1 (haresources) mode (expected off)"),
                )
            }
            _ => st.error(
                line,
                name,
                format!("{v:?} is not a {name} value (expected off; hbd does not run Pacemaker)"),
            ),
        },
        _ => unreachable!("option directive {name} without a handler"),
    }
}

/// The field a timing directive sets.
fn timing<'a>(cfg: &'a mut Config, name: &str) -> &'a mut Duration {
    match name {
        "keepalive" => &mut cfg.keepalive,
        "deadtime" => &mut cfg.deadtime,
        "warntime" => &mut cfg.warntime,
        "initdead" => &mut cfg.initdead,
        "deadping" => &mut cfg.deadping,
        _ => unreachable!("{name} is not a timing directive"),
    }
}

fn whole_line(st: &mut State, line: usize, name: &'static str, rest: &str) {
    let toks: Vec<&str> = rest.split_whitespace().collect();
    match name {
        "ucast" => {
            if toks.len() != 2 {
                st.error(
                    line,
                    name,
                    format!("{rest:?} is not `ucast DEVICE PEER` (e.g. ucast eth0 192.0.2.2)"),
                );
                return;
            }
            if !st.ifname(name, line, toks[0]) {
                return;
            }
            st.plugin_line("ucast", line);
            st.add_medium(
                line,
                Medium::Ucast {
                    dev: toks[0].to_string(),
                    peer: toks[1].to_string(),
                },
            );
        }
        "mcast" => {
            let usage =
                "expected `mcast DEVICE GROUP PORT TTL LOOP`, e.g. mcast eth0 239.0.0.1 694 1 0";
            if toks.len() != 5 {
                st.error(
                    line,
                    name,
                    format!("{rest:?} has {} values; {usage}", toks.len()),
                );
                return;
            }
            let group = match toks[1].parse::<Ipv4Addr>() {
                Ok(g) if g.is_multicast() => g,
                _ => {
                    st.error(
                        line,
                        name,
                        format!(
                            "{:?} is not a multicast group (expected 224.0.0.0 to 239.255.255.255)",
                            toks[1]
                        ),
                    );
                    return;
                }
            };
            let Ok(port) = toks[2].parse::<u16>().map_err(|_| ()).and_then(|p| {
                if p > 0 {
                    Ok(p)
                } else {
                    Err(())
                }
            }) else {
                st.error(
                    line,
                    name,
                    format!("{:?} is not a UDP port (expected 1 to 65535)", toks[2]),
                );
                return;
            };
            // The man page says 1..255, but 3.0.6's parser rejects anything above 4.
            let ttl = match toks[3].parse::<u8>() {
                Ok(t) if t <= 4 => t,
                _ => {
                    st.error(
                        line,
                        name,
                        format!(
                            "ttl {:?} is out of range (heartbeat accepts 0 to 4)",
                            toks[3]
                        ),
                    );
                    return;
                }
            };
            let loopback = match toks[4] {
                "0" => false,
                "1" => true,
                other => {
                    st.error(line, name, format!("loop {other:?} is not 0 or 1"));
                    return;
                }
            };
            if !st.ifname(name, line, toks[0]) {
                return;
            }
            st.add_medium(
                line,
                Medium::Mcast {
                    dev: toks[0].to_string(),
                    group,
                    port,
                    ttl,
                    loopback,
                },
            );
        }
        "ucast6" => {
            if toks.len() != 2 {
                st.error(
                    line,
                    name,
                    format!("{rest:?} is not `ucast6 DEVICE PEER` (e.g. ucast6 eth1 2001:db8::2 or ucast6 eth1 fe80::2%eth1)"),
                );
                return;
            }
            if !st.ifname(name, line, toks[0]) {
                return;
            }
            match media6::ucast6_peer(toks[0], toks[1]) {
                Ok((peer, scope)) => {
                    st.plugin_line("ucast6", line);
                    st.add_medium(
                        line,
                        Medium::Ucast6 {
                            dev: toks[0].to_string(),
                            peer,
                            scope,
                        },
                    );
                }
                Err(why) => st.error(line, name, why),
            }
        }
        "mcast6" => {
            let usage =
                "expected `mcast6 DEVICE GROUP PORT HOPS LOOP`, e.g. mcast6 eth1 ff02::694:1 694 1 0";
            if toks.len() != 5 {
                st.error(
                    line,
                    name,
                    format!("{rest:?} has {} values; {usage}", toks.len()),
                );
                return;
            }
            let group = match media6::mcast6_group(toks[1]) {
                Ok(g) => g,
                Err(why) => return st.error(line, name, why),
            };
            let Some(port) = toks[2].parse::<u16>().ok().filter(|p| *p > 0) else {
                return st.error(
                    line,
                    name,
                    format!("{:?} is not a UDP port (expected 1 to 65535)", toks[2]),
                );
            };
            let hops = match toks[3].parse::<i64>() {
                Ok(h) => media6::mcast6_hops(h),
                Err(_) => Err(format!(
                    "hops {:?} is not a number (heartbeat accepts 0 to 4)",
                    toks[3]
                )),
            };
            let hops = match hops {
                Ok(h) => h,
                Err(why) => return st.error(line, name, why),
            };
            let loopback = match toks[4] {
                "0" => false,
                "1" => true,
                other => return st.error(line, name, format!("loop {other:?} is not 0 or 1")),
            };
            if !st.ifname(name, line, toks[0]) {
                return;
            }
            st.add_medium(
                line,
                Medium::Mcast6 {
                    dev: toks[0].to_string(),
                    group,
                    port,
                    hops,
                    loopback,
                },
            );
        }
        "ping_group" => {
            if toks.len() < 2 {
                st.error(
                    line,
                    name,
                    format!("{rest:?} is not `ping_group NAME IP...` (e.g. ping_group routers 192.0.2.1 192.0.2.2)"),
                );
                return;
            }
            let mut addrs = Vec::new();
            for a in &toks[1..] {
                if let Err(why) = ping_host(a) {
                    st.error(line, name, why);
                    return;
                }
                addrs.push(a.to_string());
            }
            let key = format!("ping.{}", st.cfg.ping_nodes.len());
            st.origin(&key, line);
            st.cfg.ping_nodes.push(PingNode {
                name: toks[0].to_string(),
                addrs,
            });
        }
        "stonith_host" => {
            if toks.len() < 2 {
                st.error(
                    line,
                    name,
                    format!("{rest:?} is not `stonith_host HOST|* TYPE [PARAMS...]`"),
                );
                return;
            }
            let key = format!("stonith_host.{}", st.cfg.stonith_hosts.len());
            st.origin(&key, line);
            st.cfg.stonith_hosts.push(StonithHost {
                host: toks[0].to_ascii_lowercase(),
                kind: toks[1].to_string(),
                params: toks[2..].iter().map(|s| s.to_string()).collect(),
            });
        }
        _ => unreachable!("whole-line directive {name} without a handler"),
    }
}

#[cfg(test)]
mod tests;
