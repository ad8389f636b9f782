//! The native `hbd.toml` form: everything ha.cf, haresources and authkeys say, plus
//! hbd's own options, loading into the same [`Config`]. Unknown keys are errors; every
//! error names `file:line`. Durations are strings with a unit (`"500ms"`, `"2s"`,
//! `"1.5s"`, `"2min"`); a bare number is an error that spells out the fix, since
//! ha.cf reads one as seconds and an operator copying `keepalive 1` from there
//! must not get a 1 ms keepalive. The layout is documented in
//! docs/config-reference.md and written by [`to_toml`].

use super::hacf::{apply_timing_defaults, BAUD_RATES, FACILITIES};
use super::haresources::resource as parse_resource;
use super::model::{
    Auth, AuthKey, AuthMethod, AutoFailback, Config, Diagnostic, HbdOptions, Location, Logging,
    Medium, Monitor, MonitorCheck, MsgFmt, OnFail, PingNode, ResourceGroup, Secret, StonithHost,
    StopFailurePolicy,
};
use crate::time::Duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Deserialize)]
#[serde(untagged)]
enum TomlDuration {
    Integer(i64),
    Float(f64),
    Text(String),
}

/// Why a TOML value was refused; Display is the diagnostic's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TomlError {
    #[error("{0:?} is not a duration (expected e.g. \"500ms\", \"2s\", \"1.5s\" or \"2min\")")]
    Duration(String),
    #[error("{0} is negative (expected a duration such as \"2s\")")]
    NegativeDuration(String),
    #[error("{0} is a number without a unit: did you mean \"{1}\"? (expected a string with a unit: \"500ms\", \"2s\", \"1.5s\" or \"2min\")")]
    BareNumber(String, String),
}

/// Parses a TOML duration string: a number and one of `us`, `ms`, `s`, `min`.
pub fn parse_duration(s: &str) -> Result<Duration, TomlError> {
    let t = s.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    let bad = || TomlError::Duration(s.to_string());
    let v: f64 = num.parse().map_err(|_| bad())?;
    let ms = match unit.trim() {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "min" => v * 60_000.0,
        _ => return Err(bad()),
    };
    if !ms.is_finite() || ms > 1e15 {
        return Err(bad());
    }
    Ok(Duration::from_millis((ms + 0.5) as u64))
}

/// The error for a duration written as a bare number, with the unit it most
/// likely meant: seconds for small values (ha.cf's unit, where they come
/// from), milliseconds from 100 up (shown as seconds when whole).
fn bare_number(written: &str, v: f64) -> TomlError {
    if v < 0.0 {
        return TomlError::NegativeDuration(written.to_string());
    }
    let meant = if v < 100.0 {
        format!("{written}s")
    } else if v % 1000.0 == 0.0 {
        format!("{}s", v / 1000.0)
    } else {
        format!("{written}ms")
    };
    TomlError::BareNumber(written.to_string(), meant)
}

/// Writes a duration the way [`parse_duration`] reads it back exactly.
pub fn format_duration(d: Duration) -> String {
    let ms = d.millis();
    if ms != 0 && ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    nodes: Option<Spanned<Vec<String>>>,
    keepalive: Option<Spanned<TomlDuration>>,
    deadtime: Option<Spanned<TomlDuration>>,
    warntime: Option<Spanned<TomlDuration>>,
    initdead: Option<Spanned<TomlDuration>>,
    deadping: Option<Spanned<TomlDuration>>,
    udpport: Option<Spanned<i64>>,
    baud: Option<Spanned<i64>>,
    auto_failback: Option<Spanned<String>>,
    msgfmt: Option<Spanned<String>>,
    max_rexmit_delay: Option<Spanned<TomlDuration>>,
    realtime: Option<bool>,
    watchdog: Option<Spanned<String>>,
    #[serde(default)]
    media: Vec<Spanned<MediumT>>,
    #[serde(default)]
    ping: Vec<Spanned<PingT>>,
    logging: Option<LoggingT>,
    #[serde(default)]
    stonith_host: Vec<Spanned<StonithT>>,
    auth: Option<Spanned<AuthT>>,
    #[serde(default)]
    group: Vec<Spanned<GroupT>>,
    hbd: Option<HbdT>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum MediumT {
    Ucast {
        dev: String,
        peer: String,
    },
    Bcast {
        dev: String,
    },
    Mcast {
        dev: String,
        group: String,
        port: i64,
        ttl: i64,
        #[serde(rename = "loop", default)]
        loopback: bool,
    },
    Serial {
        path: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PingT {
    name: Option<String>,
    addrs: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoggingT {
    logfile: Option<Spanned<String>>,
    debugfile: Option<Spanned<String>>,
    logfacility: Option<Spanned<String>>,
    debug: Option<Spanned<i64>>,
    syslog_tag: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StonithT {
    host: String,
    kind: String,
    #[serde(default)]
    params: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthT {
    send: Option<Spanned<i64>>,
    authkeys: Option<Spanned<String>>,
    #[serde(default)]
    keys: Vec<Spanned<KeyT>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyT {
    index: i64,
    method: String,
    secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupT {
    home: String,
    resources: Vec<String>,
    #[serde(default)]
    monitor: Vec<Spanned<MonitorT>>,
}

/// `[[group.monitor]]`: one monitored resource of the group.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorT {
    resource: String,
    check: Option<String>,
    interval: Option<Spanned<TomlDuration>>,
    timeout: Option<Spanned<TomlDuration>>,
    fall: Option<i64>,
    rise: Option<i64>,
    on_fail: Option<String>,
    max_restarts: Option<i64>,
    restart_window: Option<Spanned<TomlDuration>>,
    failure_timeout: Option<Spanned<TomlDuration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HbdT {
    script_timeout: Option<Spanned<TomlDuration>>,
    stop_failure: Option<Spanned<String>>,
    #[serde(default)]
    resource_dirs: Vec<String>,
    fence_hook: Option<String>,
    fence_required: Option<Spanned<bool>>,
    compact_serial: Option<Spanned<bool>>,
    builtin_ipaddr: Option<bool>,
    bind: Option<Spanned<String>>,
    metrics: Option<Spanned<String>>,
    notify: Option<Spanned<String>>,
    notify_timeout: Option<Spanned<TomlDuration>>,
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn line(&self, span: std::ops::Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
    fn loc(&self, span: std::ops::Range<usize>) -> Location {
        Location {
            file: self.file.to_path_buf(),
            line: self.line(span),
        }
    }
    fn error(&mut self, span: std::ops::Range<usize>, key: &str, msg: impl Into<String>) {
        let l = self.loc(span);
        self.diags.push(Diagnostic::error(Some(l), key, msg));
    }
    fn duration(
        &mut self,
        cfg: &mut Config,
        key: &str,
        v: &Spanned<TomlDuration>,
    ) -> Option<Duration> {
        let r = match v.get_ref() {
            TomlDuration::Integer(n) => Err(bare_number(&n.to_string(), *n as f64)),
            TomlDuration::Float(x) => Err(bare_number(&x.to_string(), *x)),
            TomlDuration::Text(s) => parse_duration(s),
        };
        match r {
            Ok(d) => {
                cfg.origins.insert(key.to_string(), self.loc(v.span()));
                Some(d)
            }
            Err(m) => {
                let key_name = key.rsplit('.').next().unwrap_or(key).to_string();
                self.error(v.span(), &key_name, m.to_string());
                None
            }
        }
    }
}

/// What [`parse_str`] needs besides the text: where relative paths start and whether
/// inline secrets are allowed in this file.
pub struct Source<'a> {
    pub file: &'a Path,
    /// Directory relative `authkeys` paths are read from.
    pub dir: &'a Path,
    /// The file's mode when read from disk; inline secrets demand no group/other access.
    pub mode: Option<u32>,
}

/// Parses hbd.toml text into a [`Config`] (None when any error was found) with every diagnostic.
pub fn parse_str(text: &str, src: &Source) -> (Option<Config>, Vec<Diagnostic>) {
    let mut cx = Ctx {
        file: src.file,
        text,
        diags: Vec::new(),
    };
    let f: File = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            let line = e.span().map(|s| cx.line(s)).unwrap_or(0);
            let msg = e.message().trim().to_string();
            cx.diags.push(Diagnostic::error(
                Some(Location {
                    file: src.file.to_path_buf(),
                    line,
                }),
                "toml",
                msg,
            ));
            return (None, cx.diags);
        }
    };
    let mut cfg = Config::default();
    cfg.origins.insert(
        "file".into(),
        Location {
            file: src.file.to_path_buf(),
            line: 0,
        },
    );
    if let Some(n) = &f.nodes {
        cfg.origins.insert("node".into(), cx.loc(n.span()));
        for name in n.get_ref() {
            let l = name.to_ascii_lowercase();
            if !super::hacf::valid_node_name(&l) {
                cx.error(n.span(), "nodes", format!("{name:?} is not a node name"));
            } else if cfg.nodes.contains(&l) {
                cx.error(n.span(), "nodes", format!("node {l:?} is listed twice"));
            } else {
                cfg.nodes.push(l);
            }
        }
    }
    macro_rules! dur {
        ($field:ident) => {
            if let Some(v) = &f.$field {
                if let Some(d) = cx.duration(&mut cfg, stringify!($field), v) {
                    cfg.$field = d;
                }
            }
        };
    }
    dur!(keepalive);
    dur!(deadtime);
    dur!(warntime);
    dur!(initdead);
    dur!(deadping);
    dur!(max_rexmit_delay);
    if let Some(p) = &f.udpport {
        match u16::try_from(*p.get_ref()) {
            Ok(v) if v > 0 => {
                cfg.udpport = v;
                cfg.origins.insert("udpport".into(), cx.loc(p.span()));
            }
            _ => cx.error(
                p.span(),
                "udpport",
                format!("{} is not a UDP port (expected 1 to 65535)", p.get_ref()),
            ),
        }
    }
    if let Some(b) = &f.baud {
        match u32::try_from(*b.get_ref()) {
            Ok(v) if BAUD_RATES.contains(&v) => cfg.baud = v,
            _ => cx.error(b.span(), "baud", format!("{} is not a supported baud rate (expected one of 9600, 19200, 38400, 57600, 115200, 230400, 460800)", b.get_ref())),
        }
    }
    if let Some(a) = &f.auto_failback {
        cfg.origins.insert("auto_failback".into(), cx.loc(a.span()));
        match a.get_ref().as_str() {
            "on" => cfg.auto_failback = AutoFailback::On,
            "off" => cfg.auto_failback = AutoFailback::Off,
            "legacy" => cfg.auto_failback = AutoFailback::Legacy,
            other => cx.error(
                a.span(),
                "auto_failback",
                format!("{other:?} is not on, off or legacy"),
            ),
        }
    }
    if let Some(m) = &f.msgfmt {
        match m.get_ref().as_str() {
            "classic" => cfg.msgfmt = MsgFmt::Classic,
            "netstring" => cfg.msgfmt = MsgFmt::Netstring,
            other => cx.error(
                m.span(),
                "msgfmt",
                format!("{other:?} is not a message format (expected classic or netstring)"),
            ),
        }
    }
    if let Some(r) = f.realtime {
        cfg.realtime = r;
    }
    if let Some(w) = &f.watchdog {
        if w.get_ref().starts_with('/') {
            cfg.watchdog = Some(PathBuf::from(w.get_ref()));
            cfg.origins.insert("watchdog".into(), cx.loc(w.span()));
        } else {
            cx.error(
                w.span(),
                "watchdog",
                format!(
                    "{:?} is not an absolute path (expected a watchdog device, e.g. /dev/watchdog)",
                    w.get_ref()
                ),
            );
        }
    }
    for m in &f.media {
        let span = m.span();
        let medium = match m.get_ref() {
            MediumT::Ucast { dev, peer } => Some(Medium::Ucast {
                dev: dev.clone(),
                peer: peer.clone(),
            }),
            MediumT::Bcast { dev } => Some(Medium::Bcast { dev: dev.clone() }),
            MediumT::Serial { path } if path.starts_with('/') => Some(Medium::Serial {
                path: PathBuf::from(path),
            }),
            MediumT::Serial { path } => {
                cx.error(
                    span.clone(),
                    "media",
                    format!("serial path {path:?} is not absolute (expected e.g. /dev/ttyS0)"),
                );
                None
            }
            MediumT::Mcast {
                dev,
                group,
                port,
                ttl,
                loopback,
            } => {
                let g = group
                    .parse::<Ipv4Addr>()
                    .ok()
                    .filter(Ipv4Addr::is_multicast);
                let p = u16::try_from(*port).ok().filter(|p| *p > 0);
                let t = u8::try_from(*ttl).ok().filter(|t| *t <= 4);
                match (g, p, t) {
                    (Some(group), Some(port), Some(ttl)) => Some(Medium::Mcast {
                        dev: dev.clone(),
                        group,
                        port,
                        ttl,
                        loopback: *loopback,
                    }),
                    (None, _, _) => {
                        cx.error(span.clone(), "media", format!("{group:?} is not a multicast group (expected 224.0.0.0 to 239.255.255.255)"));
                        None
                    }
                    (_, None, _) => {
                        cx.error(
                            span.clone(),
                            "media",
                            format!("{port} is not a UDP port (expected 1 to 65535)"),
                        );
                        None
                    }
                    (_, _, None) => {
                        cx.error(
                            span.clone(),
                            "media",
                            format!("ttl {ttl} is out of range (heartbeat accepts 0 to 4)"),
                        );
                        None
                    }
                }
            }
        };
        if let Some(medium) = medium {
            cfg.origins
                .insert(format!("media.{}", cfg.media.len()), cx.loc(span));
            cfg.media.push(medium);
        }
    }
    for p in &f.ping {
        let pt = p.get_ref();
        if pt.addrs.is_empty() {
            cx.error(
                p.span(),
                "ping",
                "addrs is empty (expected one or more IPv4 addresses or host names)",
            );
            continue;
        }
        if let Some(why) = pt
            .addrs
            .iter()
            .find_map(|a| super::hacf::ping_host(a).err())
        {
            cx.error(p.span(), "ping", why);
            continue;
        }
        let name = match (&pt.name, pt.addrs.len()) {
            (Some(n), _) => n.clone(),
            (None, 1) => pt.addrs[0].clone(),
            (None, _) => {
                cx.error(
                    p.span(),
                    "ping",
                    "a ping group of several addresses needs a name",
                );
                continue;
            }
        };
        cfg.origins
            .insert(format!("ping.{}", cfg.ping_nodes.len()), cx.loc(p.span()));
        cfg.ping_nodes.push(PingNode {
            name,
            addrs: pt.addrs.clone(),
        });
    }
    if let Some(l) = &f.logging {
        let mut lg = Logging {
            logfile: l.logfile.as_ref().map(|p| PathBuf::from(p.get_ref())),
            debugfile: l.debugfile.as_ref().map(|p| PathBuf::from(p.get_ref())),
            ..Logging::default()
        };
        for (key, p) in [("logfile", &l.logfile), ("debugfile", &l.debugfile)] {
            if let Some(p) = p.as_ref().filter(|p| !p.get_ref().starts_with('/')) {
                cx.error(
                    p.span(),
                    key,
                    format!(
                        "{:?} is not an absolute path (expected e.g. /var/log/ha-log)",
                        p.get_ref()
                    ),
                );
            }
        }
        if let Some(fac) = &l.logfacility {
            let v = fac.get_ref().to_ascii_lowercase();
            if v == "none" {
            } else if FACILITIES.contains(&v.as_str()) {
                lg.logfacility = Some(v);
            } else {
                cx.error(fac.span(), "logfacility", format!("{:?} is not a syslog facility (expected none, daemon, local0..local7, auth, authpriv, cron, ftp, kern, lpr, mail, news, syslog, user or uucp)", fac.get_ref()));
            }
        }
        if let Some(d) = &l.debug {
            match u8::try_from(*d.get_ref()) {
                Ok(v) => lg.debug = v,
                Err(_) => cx.error(
                    d.span(),
                    "debug",
                    format!("{} is not a debug level (expected 0 to 255)", d.get_ref()),
                ),
            }
        }
        if let Some(tag) = &l.syslog_tag {
            match super::model::syslog_tag_problem(tag.get_ref()) {
                None => lg.syslog_tag = Some(tag.get_ref().clone()),
                Some(why) => cx.error(tag.span(), "syslog_tag", why),
            }
        }
        cfg.logging = lg;
    }
    for s in &f.stonith_host {
        cfg.origins.insert(
            format!("stonith_host.{}", cfg.stonith_hosts.len()),
            cx.loc(s.span()),
        );
        let st = s.get_ref();
        cfg.stonith_hosts.push(StonithHost {
            host: st.host.to_ascii_lowercase(),
            kind: st.kind.clone(),
            params: st.params.clone(),
        });
    }
    match &f.auth {
        None => cx.diags.push(Diagnostic::error(
            Some(Location {
                file: src.file.to_path_buf(),
                line: 0,
            }),
            "auth",
            "no [auth] table (expected authkeys = \"PATH\" or [[auth.keys]] entries)",
        )),
        Some(a) => auth(&mut cx, &mut cfg, a, src),
    }
    for g in &f.group {
        let loc = cx.loc(g.span());
        let gt = g.get_ref();
        let mut resources = Vec::new();
        for r in &gt.resources {
            if r.is_empty() || r.contains(char::is_whitespace) {
                cx.error(
                    g.span(),
                    "group",
                    format!(
                        "{r:?} is not a resource (expected NAME or NAME::ARG::ARG without blanks)"
                    ),
                );
                continue;
            }
            match parse_resource(r) {
                Ok(res) => resources.push(res),
                Err(e) => cx.error(g.span(), "group", e.to_string()),
            }
        }
        if resources.is_empty() {
            cx.error(
                g.span(),
                "group",
                format!("group for {:?} lists no resources", gt.home),
            );
            continue;
        }
        let group = ResourceGroup {
            home: gt.home.to_ascii_lowercase(),
            resources,
            location: loc,
        };
        if let Some(prev) = cfg.groups.iter().find(|p| p.key() == group.key()) {
            let m = format!("group key {:?} is already the first resource of the group on line {}; group keys must be unique", group.key(), prev.location.line);
            cx.error(g.span(), "group", m);
            continue;
        }
        let index = cfg.groups.len();
        for m in &gt.monitor {
            if let Some(m) = monitor(&mut cx, &mut cfg, index, &group, m) {
                cfg.hbd.monitors.push(m);
            }
        }
        cfg.groups.push(group);
    }
    if let Some(h) = &f.hbd {
        let mut o = HbdOptions {
            monitors: std::mem::take(&mut cfg.hbd.monitors),
            ..HbdOptions::default()
        };
        if let Some(v) = &h.script_timeout {
            if let Some(d) = cx.duration(&mut cfg, "hbd.script_timeout", v) {
                o.script_timeout = d;
            }
        }
        if let Some(s) = &h.stop_failure {
            match s.get_ref().as_str() {
                "block" => o.stop_failure = StopFailurePolicy::Block,
                "reboot" => o.stop_failure = StopFailurePolicy::Reboot,
                other => cx.error(
                    s.span(),
                    "stop_failure",
                    format!("{other:?} is not block or reboot"),
                ),
            }
        }
        // Relative paths start at the TOML file's directory, as `authkeys` does;
        // absolute so the daemon's working directory does not matter.
        let here = |p: &String| {
            let joined = src.dir.join(p);
            std::path::absolute(&joined).unwrap_or(joined)
        };
        o.resource_dirs = h.resource_dirs.iter().map(here).collect();
        o.fence_hook = h.fence_hook.as_ref().map(here);
        if let Some(n) = &h.notify {
            o.notify = Some(here(n.get_ref()));
            cfg.origins.insert("hbd.notify".into(), cx.loc(n.span()));
        }
        if let Some(v) = &h.notify_timeout {
            if let Some(d) = cx.duration(&mut cfg, "hbd.notify_timeout", v) {
                o.notify_timeout = d;
            }
        }
        if let Some(r) = &h.fence_required {
            o.fence_required = *r.get_ref();
            cfg.origins
                .insert("hbd.fence_required".into(), cx.loc(r.span()));
        }
        if let Some(c) = &h.compact_serial {
            o.compact_serial = *c.get_ref();
            cfg.origins
                .insert("hbd.compact_serial".into(), cx.loc(c.span()));
        }
        if let Some(b) = h.builtin_ipaddr {
            o.builtin_ipaddr = b;
        }
        if let Some(b) = &h.bind {
            match b.get_ref().parse::<std::net::IpAddr>() {
                Ok(ip) => {
                    o.bind = Some(ip);
                    cfg.origins.insert("hbd.bind".into(), cx.loc(b.span()));
                }
                Err(_) => cx.error(
                    b.span(),
                    "bind",
                    format!(
                        "{:?} is not an IP address (expected e.g. 127.0.0.2)",
                        b.get_ref()
                    ),
                ),
            }
        }
        if let Some(m) = &h.metrics {
            match parse_metrics_addr(m.get_ref()) {
                Ok(a) => {
                    if !a.ip().is_loopback() {
                        let l = cx.loc(m.span());
                        cx.diags.push(Diagnostic::warning(
                            Some(l),
                            "metrics",
                            format!("{a} is not a loopback address: anyone who can reach it reads the cluster's state (the endpoint has no authentication)"),
                        ));
                    }
                    o.metrics = Some(a);
                    cfg.origins.insert("hbd.metrics".into(), cx.loc(m.span()));
                }
                Err(why) => cx.error(
                    m.span(),
                    "metrics",
                    format!(
                        "{:?} {why} (expected ADDRESS:PORT such as \"127.0.0.1:9694\", or a port alone for loopback)",
                        m.get_ref()
                    ),
                ),
            }
        }
        cfg.hbd = o;
    }
    apply_timing_defaults(&mut cfg);
    let ok = !cx.diags.iter().any(Diagnostic::is_error);
    (ok.then_some(cfg), cx.diags)
}

/// One `[[group.monitor]]` of the group about to become `cfg.groups[index]`;
/// None (with the errors recorded) when it is not usable.
fn monitor(
    cx: &mut Ctx,
    cfg: &mut Config,
    index: usize,
    group: &ResourceGroup,
    m: &Spanned<MonitorT>,
) -> Option<Monitor> {
    let (span, mt) = (m.span(), m.get_ref());
    let names: Vec<String> = group.resources.iter().map(|r| r.to_string()).collect();
    // The resource as written in `resources`, or its agent's name when only
    // one resource of the group has that agent.
    let written = parse_resource(&mt.resource).ok().map(|r| r.to_string());
    let by_agent: Vec<usize> = (0..group.resources.len())
        .filter(|&i| group.resources[i].name == mt.resource)
        .collect();
    let resource = match names.iter().position(|n| Some(n) == written.as_ref()) {
        Some(i) => i,
        None if by_agent.len() == 1 => by_agent[0],
        None if by_agent.len() > 1 => {
            cx.error(span, "monitor", format!("resource {:?} names {} resources of the group; write the one meant as in `resources` (one of {})", mt.resource, by_agent.len(), names.join(", ")));
            return None;
        }
        None => {
            cx.error(
                span,
                "monitor",
                format!(
                    "resource {:?} is not in this group (expected one of {}, or an agent name among them)",
                    mt.resource,
                    names.join(", ")
                ),
            );
            return None;
        }
    };
    if cfg
        .hbd
        .monitors
        .iter()
        .any(|o| o.group == index && o.resource == resource)
    {
        cx.error(
            span,
            "monitor",
            format!(
                "{} has a monitor already (one per resource)",
                names[resource]
            ),
        );
        return None;
    }
    let mut mon = Monitor::new(index, resource);
    mon.location = cx.loc(span.clone());
    let mut ok = true;
    match mt.check.as_deref() {
        None | Some("status") => {}
        Some("monitor") => mon.check = MonitorCheck::Monitor,
        Some(other) => {
            cx.error(span.clone(), "check", format!("{other:?} is not status or monitor (status: heartbeat's \"running\" in the output; monitor: OCF's exit 0 running, 7 stopped)"));
            ok = false;
        }
    }
    match mt.on_fail.as_deref() {
        None | Some("restart") => {}
        Some("move") => mon.on_fail = OnFail::Move,
        Some("block") => mon.on_fail = OnFail::Block,
        Some("ignore") => mon.on_fail = OnFail::Ignore,
        Some(other) => {
            cx.error(
                span.clone(),
                "on_fail",
                format!("{other:?} is not restart, move, block or ignore"),
            );
            ok = false;
        }
    }
    let mut count = |key: &str, v: Option<i64>, min: i64, max: i64| -> Option<u32> {
        let v = v?;
        if v < min || v > max {
            cx.error(
                span.clone(),
                key,
                format!("{v} is out of range (expected {min} to {max})"),
            );
            ok = false;
            return None;
        }
        Some(v as u32)
    };
    if let Some(v) = count("fall", mt.fall, 1, 100) {
        mon.fall = v;
    }
    if let Some(v) = count("rise", mt.rise, 1, 100) {
        mon.rise = v;
    }
    if let Some(v) = count("max_restarts", mt.max_restarts, 0, 1000) {
        mon.max_restarts = v;
    }
    let durations = [
        ("interval", &mt.interval),
        ("timeout", &mt.timeout),
        ("restart_window", &mt.restart_window),
        ("failure_timeout", &mt.failure_timeout),
    ];
    for (key, v) in durations {
        let Some(v) = v else { continue };
        let Some(d) = cx.duration(cfg, &format!("group.monitor.{key}"), v) else {
            ok = false;
            continue;
        };
        // A check every few milliseconds would only load the machine; a
        // zero window or timeout would make the setting meaningless.
        if d < Duration::from_millis(100) {
            cx.error(
                v.span(),
                key,
                format!(
                    "{} is too short (expected at least 100ms{})",
                    format_duration(d),
                    if key == "failure_timeout" {
                        "; leave it out to keep failures until `hbd cleanup`"
                    } else {
                        ""
                    }
                ),
            );
            ok = false;
            continue;
        }
        match key {
            "interval" => mon.interval = d,
            "timeout" => mon.timeout = d,
            "restart_window" => mon.restart_window = d,
            _ => mon.failure_timeout = Some(d),
        }
    }
    ok.then_some(mon)
}

fn auth(cx: &mut Ctx, cfg: &mut Config, a: &Spanned<AuthT>, src: &Source) {
    let at = a.get_ref();
    cfg.origins.insert("auth".into(), cx.loc(a.span()));
    match (&at.authkeys, at.keys.is_empty()) {
        (Some(p), true) => {
            let path = src.dir.join(p.get_ref());
            let (loaded, d) = super::authkeys::load(&path);
            cx.diags.extend(d);
            if let Some(auth) = loaded {
                cfg.auth = auth;
                // Absolute, so `to_toml` output names the file from any directory.
                let abs = std::path::absolute(&path).unwrap_or(path);
                cfg.origins
                    .insert("authkeys".into(), Location { file: abs, line: 0 });
            }
            if at.send.is_some() {
                cx.error(a.span(), "auth", "`send` goes with inline keys; with `authkeys` the file's `auth N` line picks the send key");
            }
        }
        (Some(_), false) => cx.error(
            a.span(),
            "auth",
            "give either authkeys = \"PATH\" or [[auth.keys]], not both",
        ),
        (None, true) => cx.error(
            a.span(),
            "auth",
            "no keys (expected authkeys = \"PATH\" or [[auth.keys]] entries)",
        ),
        (None, false) => {
            let mut auth = Auth::default();
            let mut any_secret = false;
            for k in &at.keys {
                let kt = k.get_ref();
                let Ok(index) = u8::try_from(kt.index).map_err(|_| ()).and_then(|i| {
                    if i <= 15 {
                        Ok(i)
                    } else {
                        Err(())
                    }
                }) else {
                    cx.error(
                        k.span(),
                        "auth",
                        format!("key index {} is out of range (expected 0 to 15)", kt.index),
                    );
                    continue;
                };
                let method = match kt.method.as_str() {
                    "crc" => AuthMethod::Crc,
                    "md5" => AuthMethod::Md5,
                    "sha1" => AuthMethod::Sha1,
                    "sha256" => AuthMethod::Sha256,
                    other => {
                        cx.error(k.span(), "auth", format!("key {index}: unknown method {other:?} (expected crc, md5, sha1 or sha256)"));
                        continue;
                    }
                };
                match (method, &kt.secret) {
                    (AuthMethod::Crc, Some(_)) => {
                        cx.error(
                            k.span(),
                            "auth",
                            format!("key {index}: crc takes no secret"),
                        );
                        continue;
                    }
                    (AuthMethod::Crc, None) => {
                        let l = cx.loc(k.span());
                        cx.diags.push(Diagnostic::warning(Some(l), "auth", format!("key {index}: crc authenticates nothing (anyone on the link can forge packets); use sha1, or sha256 for hbd-only pairs")));
                    }
                    (_, None) => {
                        cx.error(
                            k.span(),
                            "auth",
                            format!("key {index}: {} needs a secret", method.name()),
                        );
                        continue;
                    }
                    (_, Some(s)) if s.is_empty() || s.contains(char::is_whitespace) => {
                        cx.error(k.span(), "auth", format!("key {index}: the secret must be non-empty and without blanks (as in authkeys)"));
                        continue;
                    }
                    _ => any_secret = true,
                }
                if auth.keys.contains_key(&index) {
                    cx.error(k.span(), "auth", format!("key {index} is defined twice"));
                    continue;
                }
                auth.keys.insert(
                    index,
                    AuthKey {
                        method,
                        secret: Secret(kt.secret.clone().unwrap_or_default().into_bytes()),
                    },
                );
            }
            match &at.send {
                Some(s) => match u8::try_from(*s.get_ref()) {
                    Ok(i) if auth.keys.contains_key(&i) => auth.send_index = i,
                    _ => cx.error(
                        s.span(),
                        "auth",
                        format!("send = {} names no key in [[auth.keys]]", s.get_ref()),
                    ),
                },
                None if auth.keys.len() == 1 => {
                    auth.send_index = *auth.keys.keys().next().unwrap_or(&0)
                }
                None => cx.error(
                    a.span(),
                    "auth",
                    "several keys and no `send = N` to pick the outbound one",
                ),
            }
            if any_secret {
                if let Some(mode) = src.mode {
                    if mode & 0o066 != 0 {
                        cx.diags.push(Diagnostic::error(
                            Some(Location { file: src.file.to_path_buf(), line: 0 }),
                            "auth",
                            format!("mode {:03o} lets group or others read or write the inline keys; run `chmod 600 {}`", mode & 0o777, src.file.display()),
                        ));
                    }
                }
            }
            cfg.auth = auth;
        }
    }
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn qp(p: &Path) -> String {
    q(&p.display().to_string())
}

/// The TOML form of `config`. Keys come from `origins["authkeys"]` (an authkeys file,
/// referenced by path so secrets are not printed) or are written inline.
pub fn to_toml(c: &Config, local_node: Option<&str>) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# hbd.toml: generated by `hbd migrate`; see docs/config-reference.md."
    );
    if let Some(me) = local_node {
        let _ = writeln!(
            o,
            "# Checked for node {me}; the same file serves both nodes."
        );
    }
    if !c.dropped.is_empty() {
        let _ = writeln!(o, "#\n# Not carried over from the source, and why:");
        for d in &c.dropped {
            // A comment holds one line of printable text.
            let text: String = format!("{}: {}: {}", d.location, d.text.trim(), d.why)
                .chars()
                .map(|ch| {
                    if ch.is_control() && ch != '\t' {
                        '?'
                    } else {
                        ch
                    }
                })
                .collect();
            let _ = writeln!(o, "#   {text}");
        }
    }
    let nodes: Vec<String> = c.nodes.iter().map(|n| q(n)).collect();
    let _ = writeln!(o, "nodes = [{}]", nodes.join(", "));
    let _ = writeln!(o, "keepalive = {}", q(&format_duration(c.keepalive)));
    let _ = writeln!(o, "deadtime = {}", q(&format_duration(c.deadtime)));
    let _ = writeln!(o, "warntime = {}", q(&format_duration(c.warntime)));
    let _ = writeln!(o, "initdead = {}", q(&format_duration(c.initdead)));
    let _ = writeln!(o, "deadping = {}", q(&format_duration(c.deadping)));
    let _ = writeln!(o, "udpport = {}", c.udpport);
    let _ = writeln!(o, "baud = {}", c.baud);
    let af = match c.auto_failback {
        AutoFailback::On => "on",
        AutoFailback::Off => "off",
        AutoFailback::Legacy => "legacy",
    };
    if c.auto_failback == AutoFailback::Legacy && !c.origins.contains_key("auto_failback") {
        // Left unset, as in the source, so that check says the same about it.
        let _ = writeln!(
            o,
            "# auto_failback is not set: heartbeat's default, legacy, applies (write \"on\" or \"off\")."
        );
    } else {
        let _ = writeln!(o, "auto_failback = {}", q(af));
    }
    let mf = match c.msgfmt {
        MsgFmt::Classic => "classic",
        MsgFmt::Netstring => "netstring",
    };
    let _ = writeln!(o, "msgfmt = {}", q(mf));
    let _ = writeln!(
        o,
        "max_rexmit_delay = {}",
        q(&format_duration(c.max_rexmit_delay))
    );
    let _ = writeln!(o, "realtime = {}", c.realtime);
    if let Some(w) = &c.watchdog {
        let _ = writeln!(o, "watchdog = {}", qp(w));
    }
    for m in &c.media {
        let _ = writeln!(o, "\n[[media]]");
        match m {
            Medium::Ucast { dev, peer } => {
                let _ = writeln!(o, "type = \"ucast\"\ndev = {}\npeer = {}", q(dev), q(peer));
            }
            Medium::Bcast { dev } => {
                let _ = writeln!(o, "type = \"bcast\"\ndev = {}", q(dev));
            }
            Medium::Mcast {
                dev,
                group,
                port,
                ttl,
                loopback,
            } => {
                let _ = writeln!(o, "type = \"mcast\"\ndev = {}\ngroup = {}\nport = {port}\nttl = {ttl}\nloop = {loopback}", q(dev), q(&group.to_string()));
            }
            Medium::Serial { path } => {
                let _ = writeln!(o, "type = \"serial\"\npath = {}", qp(path));
            }
        }
    }
    for p in &c.ping_nodes {
        let addrs: Vec<String> = p.addrs.iter().map(|a| q(a)).collect();
        let _ = writeln!(
            o,
            "\n[[ping]]\nname = {}\naddrs = [{}]",
            q(&p.name),
            addrs.join(", ")
        );
    }
    let l = &c.logging;
    if *l != Logging::default() {
        let _ = writeln!(o, "\n[logging]");
        if let Some(p) = &l.logfile {
            let _ = writeln!(o, "logfile = {}", qp(p));
        }
        if let Some(p) = &l.debugfile {
            let _ = writeln!(o, "debugfile = {}", qp(p));
        }
        if let Some(f) = &l.logfacility {
            let _ = writeln!(o, "logfacility = {}", q(f));
        }
        if l.debug != 0 {
            let _ = writeln!(o, "debug = {}", l.debug);
        }
        if let Some(t) = &l.syslog_tag {
            let _ = writeln!(o, "syslog_tag = {}", q(t));
        }
    }
    for s in &c.stonith_hosts {
        let params: Vec<String> = s.params.iter().map(|a| q(a)).collect();
        let _ = writeln!(
            o,
            "\n[[stonith_host]]\nhost = {}\nkind = {}\nparams = [{}]",
            q(&s.host),
            q(&s.kind),
            params.join(", ")
        );
    }
    let _ = writeln!(o, "\n[auth]");
    match c.origins.get("authkeys") {
        Some(loc) => {
            let _ = writeln!(o, "authkeys = {}", qp(&loc.file));
        }
        None => {
            let _ = writeln!(
                o,
                "# Inline secrets: this file must be mode 600 (chmod 600)."
            );
            let _ = writeln!(o, "send = {}", c.auth.send_index);
            for (i, k) in &c.auth.keys {
                let _ = writeln!(
                    o,
                    "\n[[auth.keys]]\nindex = {i}\nmethod = {}",
                    q(k.method.name())
                );
                if k.method != AuthMethod::Crc {
                    let _ = writeln!(o, "secret = {}", q(&String::from_utf8_lossy(&k.secret.0)));
                }
            }
        }
    }
    for (gi, g) in c.groups.iter().enumerate() {
        let res: Vec<String> = g.resources.iter().map(|r| q(&r.to_string())).collect();
        let _ = writeln!(
            o,
            "\n[[group]]\nhome = {}\nresources = [{}]",
            q(&g.home),
            res.join(", ")
        );
        for m in c.hbd.monitors.iter().filter(|m| m.group == gi) {
            let Some(r) = g.resources.get(m.resource) else {
                continue;
            };
            let _ = writeln!(
                o,
                "\n[[group.monitor]]\nresource = {}\ncheck = {}\ninterval = {}\ntimeout = {}\nfall = {}\nrise = {}\non_fail = {}\nmax_restarts = {}\nrestart_window = {}",
                q(&r.to_string()),
                q(m.check.word()),
                q(&format_duration(m.interval)),
                q(&format_duration(m.timeout)),
                m.fall,
                m.rise,
                q(m.on_fail.word()),
                m.max_restarts,
                q(&format_duration(m.restart_window)),
            );
            if let Some(f) = m.failure_timeout {
                let _ = writeln!(o, "failure_timeout = {}", q(&format_duration(f)));
            }
        }
    }
    let h = &c.hbd;
    let _ = writeln!(o, "\n[hbd]");
    let _ = writeln!(
        o,
        "script_timeout = {}",
        q(&format_duration(h.script_timeout))
    );
    let sf = match h.stop_failure {
        StopFailurePolicy::Block => "block",
        StopFailurePolicy::Reboot => "reboot",
    };
    let _ = writeln!(o, "stop_failure = {}", q(sf));
    let dirs: Vec<String> = h.resource_dirs.iter().map(|p| qp(p)).collect();
    let _ = writeln!(o, "resource_dirs = [{}]", dirs.join(", "));
    if let Some(f) = &h.fence_hook {
        let _ = writeln!(o, "fence_hook = {}", qp(f));
    }
    let _ = writeln!(o, "fence_required = {}", h.fence_required);
    let _ = writeln!(o, "compact_serial = {}", h.compact_serial);
    let _ = writeln!(o, "builtin_ipaddr = {}", h.builtin_ipaddr);
    if let Some(b) = &h.bind {
        let _ = writeln!(o, "bind = {}", q(&b.to_string()));
    }
    if let Some(m) = &h.metrics {
        let _ = writeln!(o, "metrics = {}", q(&m.to_string()));
    }
    if let Some(n) = &h.notify {
        let _ = writeln!(o, "notify = {}", qp(n));
    }
    if h.notify.is_some() || h.notify_timeout != HbdOptions::default().notify_timeout {
        let _ = writeln!(
            o,
            "notify_timeout = {}",
            q(&format_duration(h.notify_timeout))
        );
    }
    o
}

/// `[hbd] metrics`: `ADDRESS:PORT` (`[::1]:9694` for IPv6) or a bare port, which
/// means loopback so that turning metrics on never exposes them by accident.
pub fn parse_metrics_addr(s: &str) -> Result<std::net::SocketAddr, &'static str> {
    use std::net::{Ipv4Addr, SocketAddr};
    let s = s.trim();
    let addr = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let port: u16 = s.parse().map_err(|_| "is not a port (1-65535)")?;
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    } else {
        s.parse::<SocketAddr>()
            .map_err(|_| "is not an address and port")?
    };
    if addr.port() == 0 {
        return Err("has port 0");
    }
    Ok(addr)
}

/// `c` without where its values came from, for comparing a config loaded from two
/// forms (origins and group locations differ by design).
pub fn comparable(c: &Config) -> Config {
    let mut c = c.clone();
    c.origins = BTreeMap::new();
    c.dropped = Vec::new();
    for g in &mut c.groups {
        g.location = Location::default();
    }
    for m in &mut c.hbd.monitors {
        m.location = Location::default();
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Source<'static> {
        Source {
            file: Path::new("hbd.toml"),
            dir: Path::new("."),
            mode: None,
        }
    }

    const MINIMAL: &str = r#"
nodes = ["alpha", "Beta"]
keepalive = "500ms"
deadtime = "10s"

[[media]]
type = "ucast"
dev = "eth0"
peer = "192.0.2.2"

[auth]
[[auth.keys]]
index = 1
method = "sha256"
secret = "s3cret"

[[group]]
home = "alpha"
resources = ["192.0.2.10/24/eth0", "apache"]
"#;

    #[test]
    fn metrics_address_or_port_alone_means_loopback() {
        let ok = |s: &str| parse_metrics_addr(s).unwrap().to_string();
        assert_eq!(ok("9694"), "127.0.0.1:9694");
        assert_eq!(ok("127.0.0.1:9100"), "127.0.0.1:9100");
        assert_eq!(ok("[::1]:9694"), "[::1]:9694");
        assert_eq!(parse_metrics_addr("0"), Err("has port 0"));
        assert_eq!(parse_metrics_addr("70000"), Err("is not a port (1-65535)"));
        assert!(parse_metrics_addr("localhost:9694").is_err());

        let text = format!("{MINIMAL}\n[hbd]\nmetrics = \"9694\"\n");
        let (c, d) = parse_str(&text, &src());
        assert!(d.is_empty(), "{d:?}");
        let c = c.unwrap();
        assert_eq!(c.hbd.metrics, Some("127.0.0.1:9694".parse().unwrap()));
        // Written back by `hbd migrate` and read again unchanged.
        let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
        assert_eq!(again.hbd.metrics, c.hbd.metrics);

        let text = format!("{MINIMAL}\n[hbd]\nmetrics = \"0.0.0.0:9694\"\n");
        let (c, d) = parse_str(&text, &src());
        assert!(c.is_some());
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(!d[0].is_error());
        assert!(
            d[0].to_string().starts_with(
                "hbd.toml:22: metrics: warning: 0.0.0.0:9694 is not a loopback address"
            ),
            "{}",
            d[0]
        );

        let text = format!("{MINIMAL}\n[hbd]\nmetrics = \"localhost\"\n");
        let (c, d) = parse_str(&text, &src());
        assert!(c.is_none());
        assert!(
            d[0].to_string()
                .starts_with("hbd.toml:22: metrics: \"localhost\" is not an address and port"),
            "{}",
            d[0]
        );
    }

    #[test]
    fn minimal_file_loads() {
        let (c, d) = parse_str(MINIMAL, &src());
        assert!(d.is_empty(), "{d:?}");
        let c = c.unwrap();
        assert_eq!(c.nodes, vec!["alpha", "beta"]);
        assert_eq!(c.keepalive.millis(), 500);
        assert_eq!(c.deadtime.millis(), 10_000);
        assert_eq!(c.initdead.millis(), 20_000);
        assert_eq!(c.auth.send_index, 1);
        assert_eq!(c.groups[0].resources[0].name, "IPaddr");
        assert_eq!(c.groups[0].location.line, 17);
    }

    #[test]
    fn syslog_tag_loads_round_trips_and_names_a_bad_one() {
        let text = format!("{MINIMAL}\n[logging]\nsyslog_tag = \"heartbeat\"\n");
        let (c, d) = parse_str(&text, &src());
        assert!(d.is_empty(), "{d:?}");
        let c = c.unwrap();
        assert_eq!(c.logging.tag(), "heartbeat");
        let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
        assert_eq!(again.logging.syslog_tag.as_deref(), Some("heartbeat"));
        assert_eq!(parse_str(MINIMAL, &src()).0.unwrap().logging.tag(), "hbd");

        let text = format!("{MINIMAL}\n[logging]\nsyslog_tag = \"hb d:\"\n");
        let (c, d) = parse_str(&text, &src());
        assert!(c.is_none());
        assert_eq!(
            d[0].to_string(),
            "hbd.toml:22: syslog_tag: \"hb d:\" is not a syslog tag (expected 1 to 32 \
             letters, digits, '.', '_' or '-', e.g. heartbeat)"
        );
    }

    #[test]
    fn watchdog_loads_round_trips_and_names_a_relative_path() {
        let text = format!("watchdog = \"/dev/watchdog\"\n{MINIMAL}");
        let (c, d) = parse_str(&text, &src());
        assert!(d.is_empty(), "{d:?}");
        let c = c.unwrap();
        assert_eq!(c.watchdog, Some(PathBuf::from("/dev/watchdog")));
        let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
        assert_eq!(again.watchdog, c.watchdog);
        let (c, d) = parse_str(&format!("watchdog = \"wd\"\n{MINIMAL}"), &src());
        assert!(c.is_none());
        assert_eq!(
            d[0].to_string(),
            "hbd.toml:1: watchdog: \"wd\" is not an absolute path (expected a watchdog device, e.g. /dev/watchdog)"
        );
    }

    #[test]
    fn unknown_key_names_its_line() {
        let (c, d) = parse_str("nodes = [\"a\", \"b\"]\nkeepalve = 2\n", &src());
        assert!(c.is_none());
        assert!(
            d[0].to_string()
                .starts_with("hbd.toml:2: toml: unknown field `keepalve`"),
            "{}",
            d[0]
        );
    }

    #[test]
    fn bad_duration_names_its_line() {
        let (_, d) = parse_str("deadtime = \"3O\"\n", &src());
        assert!(
            d[0].to_string()
                .starts_with("hbd.toml:1: deadtime: \"3O\" is not a duration"),
            "{}",
            d[0]
        );
    }

    #[test]
    fn a_bare_number_is_no_duration() {
        let msg = |text: &str| parse_str(text, &src()).1[0].to_string();
        assert_eq!(
            msg("keepalive = 1\n"),
            "hbd.toml:1: keepalive: 1 is a number without a unit: did you mean \"1s\"? (expected a string with a unit: \"500ms\", \"2s\", \"1.5s\" or \"2min\")"
        );
        assert!(msg("deadtime = 1.5\n")
            .contains("1.5 is a number without a unit: did you mean \"1.5s\"?"));
        assert!(msg("deadtime = 10000\n").contains("did you mean \"10s\"?"));
        assert!(msg("keepalive = 500\n").contains("did you mean \"500ms\"?"));
        let (_, d) = parse_str("[hbd]\nscript_timeout = -5\n", &src());
        assert!(
            d.iter()
                .any(|d| d.to_string() == "hbd.toml:2: script_timeout: -5 is negative (expected a duration such as \"2s\")"),
            "{d:?}"
        );
    }

    #[test]
    fn inline_secrets_need_mode_600() {
        let s = Source {
            mode: Some(0o644),
            ..src()
        };
        let (c, d) = parse_str(MINIMAL, &s);
        assert!(c.is_none());
        assert!(d.iter().any(|d| d.message.contains("chmod 600")));
        assert!(!d.iter().any(|d| d.to_string().contains("s3cret")));
    }

    #[test]
    fn durations_round_trip() {
        for ms in [0, 1, 250, 999, 1000, 1500, 30_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_millis(120_000)));
    }

    #[test]
    fn to_toml_round_trips_inline_keys() {
        let (c, _) = parse_str(MINIMAL, &src());
        let c = c.unwrap();
        let text = to_toml(&c, Some("alpha"));
        let (c2, d) = parse_str(&text, &src());
        assert!(!d.iter().any(Diagnostic::is_error), "{d:?}\n{text}");
        assert_eq!(comparable(&c), comparable(&c2.unwrap()));
    }

    #[test]
    fn monitors_load_with_their_defaults_and_round_trip() {
        let text = format!(
            "{MINIMAL}\n[[group.monitor]]\nresource = \"apache\"\ninterval = \"5s\"\nfall = 3\non_fail = \"move\"\nfailure_timeout = \"10min\"\n\n[[group.monitor]]\nresource = \"192.0.2.10/24/eth0\"\ncheck = \"monitor\"\n"
        );
        let (c, d) = parse_str(&text, &src());
        assert!(d.is_empty(), "{d:?}");
        let c = c.unwrap();
        let m = &c.hbd.monitors;
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].group, m[0].resource), (0, 1));
        assert_eq!(m[0].interval, Duration::from_secs(5));
        assert_eq!(m[0].timeout, Monitor::DEFAULT_TIMEOUT);
        assert_eq!((m[0].fall, m[0].rise), (3, 1));
        assert_eq!(m[0].on_fail, OnFail::Move);
        assert_eq!(m[0].failure_timeout, Some(Duration::from_secs(600)));
        assert_eq!(m[0].location.line, 21);
        // The address is found as written in `resources` (a shorthand).
        assert_eq!((m[1].group, m[1].resource), (0, 0));
        assert_eq!(m[1].check, MonitorCheck::Monitor);
        assert_eq!(m[1].on_fail, OnFail::Restart);
        assert_eq!(m[1].failure_timeout, None);
        // An [hbd] table does not drop them.
        let (c2, _) = parse_str(
            &format!("{text}\n[hbd]\nscript_timeout = \"30s\"\n"),
            &src(),
        );
        assert_eq!(c2.unwrap().hbd.monitors, c.hbd.monitors);
        let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
        assert_eq!(comparable(&again), comparable(&c));
    }

    #[test]
    fn a_bad_monitor_names_its_line_and_what_is_accepted() {
        let err = |extra: &str| {
            let (c, d) = parse_str(&format!("{MINIMAL}\n[[group.monitor]]\n{extra}"), &src());
            assert!(c.is_none(), "{extra}");
            d.iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            err("resource = \"nginx\"\n"),
            "hbd.toml:21: monitor: resource \"nginx\" is not in this group (expected one of IPaddr::192.0.2.10/24/eth0, apache, or an agent name among them)"
        );
        assert_eq!(
            err("resource = \"apache\"\non_fail = \"reboot\"\n"),
            "hbd.toml:21: on_fail: \"reboot\" is not restart, move, block or ignore"
        );
        assert_eq!(
            err("resource = \"apache\"\nfall = 0\n"),
            "hbd.toml:21: fall: 0 is out of range (expected 1 to 100)"
        );
        assert_eq!(
            err("resource = \"apache\"\ninterval = \"10ms\"\n"),
            "hbd.toml:23: interval: 10ms is too short (expected at least 100ms)"
        );
        assert!(err("resource = \"apache\"\ninterval = 5\n")
            .contains("interval: 5 is a number without a unit: did you mean \"5s\"?"));
        assert!(err("resource = \"apache\"\ncheck = \"ocf\"\n")
            .contains("check: \"ocf\" is not status or monitor"));
        assert!(err("resource = \"apache\"\nintervall = \"5s\"\n")
            .contains("unknown field `intervall`"));
        assert!(
            err("resource = \"apache\"\n\n[[group.monitor]]\nresource = \"apache\"\n")
                .contains("hbd.toml:24: monitor: apache has a monitor already (one per resource)")
        );
    }

    #[test]
    fn notify_hook_loads_with_its_line_and_round_trips() {
        let text = format!(
            "{MINIMAL}\n[hbd]\nnotify = \"/usr/local/sbin/page\"\nnotify_timeout = \"3s\"\n"
        );
        let (c, d) = parse_str(&text, &src());
        assert!(d.is_empty(), "{d:?}");
        let c = c.unwrap();
        assert_eq!(c.hbd.notify, Some(PathBuf::from("/usr/local/sbin/page")));
        assert_eq!(c.hbd.notify_timeout, Duration::from_secs(3));
        assert_eq!(c.origins["hbd.notify"].line, text.lines().count() - 1);
        let out = to_toml(&c, Some("alpha"));
        assert!(
            out.contains("notify = \"/usr/local/sbin/page\"\nnotify_timeout = \"3s\"\n"),
            "{out}"
        );
        let (c2, _) = parse_str(&out, &src());
        assert_eq!(comparable(&c), comparable(&c2.unwrap()));
        // Off by default, and then not written at all.
        let (c, _) = parse_str(MINIMAL, &src());
        let c = c.unwrap();
        assert_eq!(
            (c.hbd.notify.as_ref(), c.hbd.notify_timeout),
            (None, Duration::from_secs(10))
        );
        assert!(!to_toml(&c, Some("alpha")).contains("notify"));
        let (_, d) = parse_str(&format!("{MINIMAL}\n[hbd]\nnotify_timeout = 5\n"), &src());
        assert!(
            d.iter()
                .any(|d| d.directive == "notify_timeout" && d.is_error()),
            "{d:?}"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_str(&s, &src());
        }
    }
}
