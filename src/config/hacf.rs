//! `/etc/ha.d/ha.cf` (spec §7.1, §7.2): heartbeat 3.0.6's directive set parsed into
//! [`Config`]. Honoured directives fill fields, directives heartbeat knows but hbd does
//! not act on are warnings saying why, unknown ones are errors naming the nearest known
//! directive. Derived timing defaults are applied here; cross-field rules live in
//! [`super::validate`] so the TOML form gets the same ones.

use super::model::{
    AutoFailback, Config, Diagnostic, Dropped, Location, Medium, MsgFmt, PingNode, StonithHost,
};
use crate::time::Duration;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// heartbeat's MAXLINE for ha.cf.
const MAX_LINE: usize = 5120;

/// Baud rates heartbeat's serial plugin accepts.
pub const BAUD_RATES: &[u32] = &[9600, 19200, 38400, 57600, 115200, 230400, 460800];

/// Syslog facility names heartbeat's `logfacility` accepts (besides `none`).
pub const FACILITIES: &[&str] = &[
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user",
    "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

/// Why a time value was refused; Display is the diagnostic's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("{0:?} is not a time: heartbeat reads a bare number as seconds and rejects the \"s\" suffix (write {1} or {1}000ms)")]
    SecondsSuffix(String, String),
    #[error("{0:?} is not a time (expected e.g. 30 or 500ms)")]
    Invalid(String),
}

/// `cl_get_msec` (spec §5.1): a number, then nothing (seconds), `ms`/`msec` or
/// `us`/`usec`, rounded to the nearest millisecond.
pub fn parse_time(s: &str) -> Result<Duration, TimeError> {
    let t = s.trim_start();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    let unit = unit.trim();
    let invalid = || TimeError::Invalid(s.to_string());
    // atof accepts "." as 0; we are stricter, there is no config that means it.
    let value: f64 = num.parse().map_err(|_| invalid())?;
    let ms = match unit.to_ascii_lowercase().as_str() {
        "" => value * 1000.0,
        "ms" | "msec" => value,
        "us" | "usec" => value / 1000.0,
        "s" | "sec" | "secs" | "second" | "seconds" => {
            return Err(TimeError::SecondsSuffix(s.to_string(), num.to_string()))
        }
        _ => return Err(invalid()),
    };
    if !ms.is_finite() || ms > 1e15 {
        return Err(invalid());
    }
    Ok(Duration::from_millis((ms + 0.5) as u64))
}

/// glib/heartbeat `cl_str_to_boolean`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "y" | "1" => Some(true),
        "false" | "off" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

const BOOL_HELP: &str = "expected on, off, yes, no, true, false, y, n, 1 or 0";

/// How heartbeat hands a directive its arguments.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Shape {
    /// Each blank/tab/comma separated token applied on its own.
    Options,
    /// The rest of the line as one value.
    WholeLine,
}

/// Directives heartbeat 3.0.6 knows that hbd accepts and ignores, with the reason.
const IGNORED: &[(&str, Shape, &str)] = &[
    (
        "use_logd",
        Shape::Options,
        "hbd logs to stderr, logfile and syslog itself, not through ha_logd",
    ),
    ("conn_logd_time", Shape::Options, "hbd does not use ha_logd"),
    (
        "syslogmsgfmt",
        Shape::Options,
        "hbd always writes its own log line format",
    ),
    (
        "rtprio",
        Shape::Options,
        "with `realtime on` hbd uses a fixed low SCHED_FIFO priority (5)",
    ),
    (
        "memreserve",
        Shape::Options,
        "hbd does not preallocate memory",
    ),
    (
        "hopfudge",
        Shape::Options,
        "heartbeat 3.x has no ring forwarding; the value only adds to an unused ttl",
    ),
    (
        "compression",
        Shape::Options,
        "hbd never compresses messages (v1 messages are far below the compression threshold)",
    ),
    (
        "compression_threshold",
        Shape::Options,
        "hbd never compresses messages",
    ),
    (
        "traditional_compression",
        Shape::Options,
        "hbd never compresses messages",
    ),
    (
        "hbgenmethod",
        Shape::Options,
        "hbd keeps its generation in its own state file",
    ),
    ("uuidfrom", Shape::Options, "hbd sends no node uuid"),
    (
        "cluster",
        Shape::Options,
        "the cluster name is informational only",
    ),
    ("quorum_server", Shape::Options, "it is for Pacemaker only"),
    (
        "stonith",
        Shape::WholeLine,
        "hbd does not read a STONITH configuration file; write stonith_host lines or set [hbd] fence_hook in hbd.toml",
    ),
    (
        "respawn",
        Shape::WholeLine,
        "hbd does not supervise client programs; use your init system",
    ),
    (
        "failfast",
        Shape::WholeLine,
        "hbd does not supervise client programs; use your init system",
    ),
    (
        "apiauth",
        Shape::WholeLine,
        "hbd has no heartbeat API socket (its control socket is root-only)",
    ),
    (
        "env",
        Shape::WholeLine,
        "hbd starts no respawned clients to pass it to",
    ),
    (
        "coredumps",
        Shape::Options,
        "core dumps follow the system's settings",
    ),
    (
        "coreroot",
        Shape::Options,
        "core dumps follow the system's settings",
    ),
    (
        "log_badpack",
        Shape::Options,
        "hbd always counts bad packets and logs them rate-limited",
    ),
    (
        "use_apphbd",
        Shape::Options,
        "hbd does not register with apphbd",
    ),
    (
        "normalpoll",
        Shape::Options,
        "it only exists in builds with ALLOWPOLLCHOICE",
    ),
    ("crm_daemon_dir", Shape::Options, "it is for Pacemaker only"),
    (
        "crmd_spawns_pengine",
        Shape::Options,
        "it is for Pacemaker only",
    ),
    (
        "record_config_changes",
        Shape::Options,
        "it is for Pacemaker only",
    ),
    (
        "record_pengine_inputs",
        Shape::Options,
        "it is for Pacemaker only",
    ),
    (
        "enable_config_writes",
        Shape::Options,
        "it is for Pacemaker only",
    ),
    (
        "ucast6",
        Shape::WholeLine,
        "hbd has no IPv6 media; use ucast",
    ),
    (
        "mcast6",
        Shape::WholeLine,
        "hbd has no IPv6 media; use mcast",
    ),
    (
        "ping6",
        Shape::Options,
        "hbd has no IPv6 ping nodes; use ping",
    ),
    ("tipc", Shape::WholeLine, "hbd has no TIPC medium"),
    ("rds", Shape::WholeLine, "hbd has no RDS medium"),
    (
        "hbaping",
        Shape::Options,
        "heartbeat never really supported it",
    ),
];

/// Directives hbd honours, with their argument shape.
const HONOURED: &[(&str, Shape)] = &[
    ("node", Shape::Options),
    ("keepalive", Shape::Options),
    ("deadtime", Shape::Options),
    ("warntime", Shape::Options),
    ("initdead", Shape::Options),
    ("deadping", Shape::Options),
    ("udpport", Shape::Options),
    ("baud", Shape::Options),
    ("serial", Shape::Options),
    ("bcast", Shape::Options),
    ("udp", Shape::Options),
    ("mcast", Shape::WholeLine),
    ("ucast", Shape::WholeLine),
    ("ping", Shape::Options),
    ("ping_group", Shape::WholeLine),
    ("auto_failback", Shape::Options),
    ("nice_failback", Shape::Options),
    ("logfile", Shape::Options),
    ("debugfile", Shape::Options),
    ("logfacility", Shape::Options),
    ("debug", Shape::Options),
    ("realtime", Shape::Options),
    ("watchdog", Shape::Options),
    ("msgfmt", Shape::Options),
    ("max_rexmit_delay", Shape::Options),
    ("stonith_host", Shape::WholeLine),
    ("autojoin", Shape::Options),
    ("pacemaker", Shape::Options),
    ("crm", Shape::Options),
];

/// Every directive name heartbeat 3.0.6 accepts (for suggestions and the docs test).
pub fn known_directives() -> impl Iterator<Item = &'static str> {
    HONOURED
        .iter()
        .map(|(n, _)| *n)
        .chain(IGNORED.iter().map(|(n, _, _)| *n))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// hbd's own settings (TOML `[hbd]`), refused by name when written in ha.cf.
const HBD_ONLY: &[&str] = &[
    "compact_serial",
    "builtin_ipaddr",
    "script_timeout",
    "stop_failure",
    "resource_dirs",
    "fence_hook",
    "bind",
    "notify",
    "notify_timeout",
];

/// The known directive closest to a misspelt one, if any is close.
pub fn suggest(word: &str) -> Option<&'static str> {
    nearest(word, known_directives())
}

/// The candidate closest to a misspelt `word`, if any is close (a quarter of
/// its length, at least two edits), compared without case.
pub fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    // Nothing long is a typo of a short name; skip the quadratic distance.
    if word.len() > 40 {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    candidates
        // Lengths further apart than the threshold cannot be close: skip the work.
        .filter(|k| k.len().abs_diff(lower.len()) <= 2.max(k.len() / 4))
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

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
    let udp: Vec<(&str, usize, u32)> = ["ucast", "bcast"]
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
                format!("{v:?} is not a supported baud rate (expected one of 9600, 19200, 38400, 57600, 115200, 230400, 460800)"),
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

/// A node name both forms accept: what `uname -n` can return and a TOML string and
/// a heartbeat message field can carry.
pub fn valid_node_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '=')
}

/// A ping node as heartbeat's ping plugins take it: an IPv4 address, or a host
/// name they resolve with gethostbyname (resolving is a fact of the host where
/// it runs: super::facts). `Err` is the diagnostic's message.
pub fn ping_host(v: &str) -> Result<(), String> {
    if v.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    // gethostbyname reads "192.0.2" as 192.0.0.2 (inet_aton); that is a typo
    // far more often than a wish, so a numeric name must be a full address.
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let read_as = match inet_aton(v) {
            Some(a) => format!("heartbeat's resolver would read it as {a}"),
            None => "heartbeat's resolver would not read it either".to_string(),
        };
        return Err(format!(
            "{v:?} is not an IPv4 address ({read_as}; write all four parts, e.g. 192.0.2.254)"
        ));
    }
    if host_name_ok(v) {
        Ok(())
    } else {
        Err(format!(
            "{v:?} is not an IPv4 address or host name (expected e.g. 192.0.2.254 or gateway)"
        ))
    }
}

/// What inet_aton makes of decimal dotted text with fewer than four parts: the
/// last part fills the remaining bytes (`192.0.2` is 192.0.0.2).
fn inet_aton(v: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u32> = v
        .split('.')
        .map(|p| p.parse::<u32>().ok())
        .collect::<Option<_>>()?;
    let (last, head) = parts.split_last()?;
    if head.len() > 3 || head.iter().any(|p| *p > 255) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if room < 32 && *last >> room != 0 {
        return None;
    }
    let high = head
        .iter()
        .fold(0u32, |acc, p| (acc << 8) | p)
        .checked_shl(room)
        .unwrap_or(0);
    Some(Ipv4Addr::from(high | last))
}

/// RFC 1123 host name syntax: dot-separated labels of letters, digits and `-`
/// (and `_`, which resolvers pass), none empty or longer than 63.
pub fn host_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn valid_ifname(s: &str) -> bool {
    !s.is_empty() && s.len() < 16 && !s.contains(['/', ' ', '\t'])
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
mod tests {
    use super::*;

    fn p(text: &str) -> (Config, Vec<String>) {
        let (c, d) = parse_str(text, Path::new("ha.cf"));
        (c, d.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn time_syntax_is_cl_get_msec() {
        assert_eq!(parse_time("2"), Ok(Duration::from_millis(2000)));
        assert_eq!(parse_time("1.7"), Ok(Duration::from_millis(1700)));
        assert_eq!(parse_time("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_time("500MSEC"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_time("1500us"), Ok(Duration::from_millis(2)));
        assert_eq!(parse_time("100us"), Ok(Duration::from_millis(0)));
        assert!(matches!(
            parse_time("2s"),
            Err(TimeError::SecondsSuffix(..))
        ));
        assert!(matches!(parse_time("3O"), Err(TimeError::Invalid(_))));
        assert!(matches!(parse_time(""), Err(TimeError::Invalid(_))));
        assert!(matches!(parse_time("-1"), Err(TimeError::Invalid(_))));
    }

    #[test]
    fn watchdog_takes_an_absolute_device_path() {
        let (c, d) = p("watchdog /dev/watchdog\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.watchdog, Some(PathBuf::from("/dev/watchdog")));
        let (c, d) = p("watchdog watchdog\n");
        assert_eq!(c.watchdog, None);
        assert_eq!(
            d,
            ["ha.cf:1: watchdog: \"watchdog\" is not an absolute path (expected a watchdog device, e.g. /dev/watchdog)"]
        );
    }

    #[test]
    fn seconds_suffix_message_says_how_to_write_it() {
        let (_, d) = p("deadtime 2s\n");
        assert_eq!(
            d,
            vec!["ha.cf:1: deadtime: \"2s\" is not a time: heartbeat reads a bare number as seconds and rejects the \"s\" suffix (write 2 or 2000ms)"]
        );
    }

    #[test]
    fn vector_config_parses_as_heartbeat_reads_it() {
        let found = testkit::vectors();
        if !testkit::skip::Needs::new("vector_config_parses_as_heartbeat_reads_it")
            .that(found.is_some(), "the heartbeat 3.0.6 vectors are not found")
            .met()
        {
            return;
        }
        let text = std::fs::read_to_string(found.unwrap().join("sha1/ha.cf.nodea")).unwrap();
        let (c, d) = p(&text);
        assert!(d.iter().all(|d| d.contains("warning")), "{d:?}");
        assert_eq!(c.nodes, vec!["nodea", "nodeb"]);
        assert_eq!(c.keepalive.millis(), 1000);
        assert_eq!(c.deadtime.millis(), 5000);
        assert_eq!(c.initdead.millis(), 10_000);
        assert_eq!(c.warntime.millis(), 2500);
        assert_eq!(c.media.len(), 3);
        assert_eq!(c.auto_failback, AutoFailback::On);
    }

    #[test]
    fn option_tokens_split_on_commas_and_blanks() {
        let (c, d) = p("node Alpha,beta\tgamma\nbcast eth0 eth1\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.nodes, vec!["alpha", "beta", "gamma"]);
        assert_eq!(c.media.len(), 2);
    }

    #[test]
    fn node_names_with_control_characters_are_refused() {
        // Found by fuzzing: a vertical tab is not an ha.cf separator, so it ended
        // up inside a node name the TOML form (rightly) refuses.
        let (c, d) = p("node beta\u{b}x\n");
        assert!(c.nodes.is_empty());
        assert!(d[0].contains("is not a node name"), "{d:?}");
    }

    #[test]
    fn each_timing_directive_sets_its_own_field() {
        let (c, d) = p("keepalive 1\ndeadtime 31\nwarntime 12\ninitdead 62\ndeadping 33\n");
        assert!(d.is_empty(), "{d:?}");
        let got = [c.keepalive, c.deadtime, c.warntime, c.initdead, c.deadping];
        assert_eq!(
            got.map(|t| t.millis()),
            [1000, 31_000, 12_000, 62_000, 33_000]
        );
    }

    #[test]
    fn initdead_default_follows_deadtime() {
        assert_eq!(p("deadtime 5\n").0.initdead.millis(), 12_000);
        assert_eq!(p("deadtime 8\n").0.initdead.millis(), 16_000);
        assert_eq!(p("deadtime 20\n").0.initdead.millis(), 20_000);
        assert_eq!(p("deadtime 20\n").0.warntime.millis(), 10_000);
        assert_eq!(p("deadtime 20\n").0.deadping.millis(), 20_000);
    }

    #[test]
    fn comments_anywhere_and_crlf() {
        let (c, d) = p("keepalive 2 # two seconds\r\n# whole\r\n\r\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.keepalive.millis(), 2000);
    }

    #[test]
    fn unknown_directive_suggests_nearest() {
        let (_, d) = p("keepalve 2\n");
        assert_eq!(d.len(), 1);
        assert!(
            d[0].starts_with(
                "ha.cf:1: keepalve: unknown directive \"keepalve\" (did you mean \"keepalive\"?)"
            ),
            "{}",
            d[0]
        );
    }

    #[test]
    fn a_medium_on_a_bad_interface_name_is_refused_naming_it() {
        let (c, d) = p(
            "bcast a/b\nucast e f 192.0.2.2\nucast a/b 192.0.2.2\nmcast a/b 239.0.0.1 694 1 0\n",
        );
        assert_eq!(
            d,
            [
                "ha.cf:1: bcast: \"a/b\" is not an interface name",
                "ha.cf:2: ucast: \"e f 192.0.2.2\" is not `ucast DEVICE PEER` (e.g. ucast eth0 192.0.2.2)",
                "ha.cf:3: ucast: \"a/b\" is not an interface name",
                "ha.cf:4: mcast: \"a/b\" is not an interface name",
            ]
        );
        assert!(c.media.is_empty());
    }

    #[test]
    fn hbd_settings_are_refused_in_ha_cf() {
        let (_, d) = p("keepalive 2\ncompact_serial true\nbuiltin_ipaddr on\n");
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(
            d[0],
            "ha.cf:2: compact_serial: compact_serial is an hbd.toml [hbd] setting, not an ha.cf directive; run `hbd migrate` and set it under [hbd] there"
        );
        assert!(d[1].starts_with("ha.cf:3: builtin_ipaddr: "), "{}", d[1]);
    }

    #[test]
    fn ignored_directives_warn_with_reason() {
        let (_, d) = p("apiauth ipfail uid=hacluster\nuse_logd yes\n");
        assert_eq!(d.len(), 2);
        assert!(d[0].contains("warning: heartbeat knows apiauth; hbd ignores it because"));
    }

    #[test]
    fn pacemaker_on_is_an_error_off_is_fine() {
        assert!(p("crm no\n").1.is_empty());
        let (_, d) = p("pacemaker respawn\n");
        assert!(d[0].contains("hbd only does v1"), "{d:?}");
    }

    #[test]
    fn mcast_checks_every_field() {
        let (c, d) = p("mcast eth0 239.0.0.1 694 1 0\n");
        assert!(d.is_empty());
        assert_eq!(c.media.len(), 1);
        assert!(p("mcast eth0 239.0.0.1 694 5 0\n").1[0].contains("ttl \"5\" is out of range"));
        assert!(p("mcast eth0 10.0.0.1 694 1 0\n").1[0].contains("not a multicast group"));
        assert!(p("mcast eth0 239.0.0.1 694 1\n").1[0].contains("has 4 values"));
    }

    #[test]
    fn nice_failback_resolves_as_heartbeats_set_nice_failback() {
        // Checked against heartbeat 3.0.6 itself: alone, any value is legacy
        // ("nice_failback on has been strictly interpreted as 'auto_failback
        // legacy'"); after auto_failback on or off, any value is off.
        for v in ["on", "off"] {
            let (c, d) = p(&format!("nice_failback {v}\n"));
            assert_eq!(c.auto_failback, AutoFailback::Legacy, "{v}");
            assert_eq!(
                d,
                vec![format!("ha.cf:1: nice_failback: warning: \"{v}\" is obsolete: without an earlier auto_failback on or off, heartbeat reads any nice_failback as auto_failback legacy; hbd reads it the same (effective value: auto_failback legacy; write that instead)")]
            );
            let (c, d) = p(&format!("auto_failback on\nnice_failback {v}\n"));
            assert_eq!(c.auto_failback, AutoFailback::Off, "{v}");
            assert!(d[0].contains("after `auto_failback on` (line 1), heartbeat reads any nice_failback as auto_failback off, so failback is now off; hbd reads it the same (effective value: auto_failback off"), "{d:?}");
            assert_eq!(c.dropped.len(), 1);
            assert_eq!(c.origins["auto_failback"].line, 2);
        }
        let (c, _) = p("auto_failback legacy\nnice_failback on\n");
        assert_eq!(c.auto_failback, AutoFailback::Legacy);
        let (c, _) = p("nice_failback on\nnice_failback on\nauto_failback on\n");
        assert_eq!(c.auto_failback, AutoFailback::On, "the last line wins");
        assert!(p("nice_failback maybe\n").1[0].contains("is not a boolean"));
    }

    #[test]
    fn auto_failback_accepts_booleans() {
        assert_eq!(p("auto_failback yes\n").0.auto_failback, AutoFailback::On);
        assert_eq!(p("auto_failback 0\n").0.auto_failback, AutoFailback::Off);
        assert!(p("auto_failback maybe\n").1[0].contains("is not on, off or legacy"));
    }

    #[test]
    fn ping_takes_addresses_and_host_names() {
        let (c, d) = p("ping gateway 192.0.2.254\nping_group routers r1.example.net 192.0.2.1\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.ping_nodes[0].addrs, vec!["gateway"]);
        assert_eq!(c.ping_nodes[2].addrs, vec!["r1.example.net", "192.0.2.1"]);
        assert_eq!(
            p("ping 192.0.2\n").1,
            vec!["ha.cf:1: ping: \"192.0.2\" is not an IPv4 address (heartbeat's resolver would read it as 192.0.0.2; write all four parts, e.g. 192.0.2.254)"]
        );
        assert!(p("ping 1.2.3.4.5\n").1[0].contains("would not read it either"));
        assert!(p("ping_group g gate$way\n").1[0]
            .contains("\"gate$way\" is not an IPv4 address or host name"));
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("3232235777"), Some(Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!(inet_aton("1.2.300"), Some(Ipv4Addr::new(1, 2, 1, 44)));
        assert_eq!(inet_aton("1.2.70000"), None);
        assert_eq!(inet_aton("1.2.3.256"), None);
    }

    #[test]
    fn udpport_and_baud_apply_from_where_heartbeat_reads_them() {
        let (c, d) = p("udpport 700\nucast eth0 192.0.2.2\nbcast eth1\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.udpport, 700);
        let (c, d) = p("ucast eth0 192.0.2.2\nbcast eth1\nudpport 700\n");
        assert_eq!(c.udpport, 694);
        assert_eq!(
            d,
            vec!["ha.cf:3: udpport: warning: 700 comes after the first ucast line (line 1), where heartbeat 3.0.6 fixes the port, so heartbeat and hbd use 694 (move udpport above the media lines to use 700)"]
        );
        // As the real heartbeat ran it: ucast on 694, bcast on 700.
        let (_, d) = p("ucast eth1 10.250.0.2\nudpport 700\nbcast eth0\n");
        assert_eq!(
            d,
            vec!["ha.cf:2: udpport: heartbeat 3.0.6 runs ucast links on 694 (fixed at line 1) and bcast links on 700 (fixed at line 3), since each plugin reads udpport at its first line; hbd has one port for every link (expected udpport above all ucast and bcast lines)"]
        );
        // mcast carries its own port; serial its speed.
        let (c, d) = p("mcast eth0 239.0.0.1 700 1 0\nudpport 800\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.udpport, 800);
        let (c, d) = p("serial /dev/ttyS0\nbaud 115200\n");
        assert_eq!(c.baud, 19200);
        assert!(
            d[0].starts_with(
                "ha.cf:2: baud: warning: 115200 comes after the first serial line (line 1)"
            ),
            "{d:?}"
        );
    }

    #[test]
    fn repeated_scalar_warns() {
        let (c, d) = p("keepalive 1 2\n");
        assert_eq!(c.keepalive.millis(), 2000);
        assert!(d[0].contains("overrides the value set on line 1"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_str(&s, Path::new("ha.cf"));
        }
        #[test]
        fn never_panics_on_directive_lines(d in proptest::sample::select(known_directives().collect::<Vec<_>>()), rest in "[ -~\t]{0,40}") {
            let _ = parse_str(&format!("{d} {rest}\n"), Path::new("ha.cf"));
        }
        #[test]
        fn time_never_panics(s in "\\PC{0,20}") {
            let _ = parse_time(&s);
        }
    }
}
