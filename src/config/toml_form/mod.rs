//! The native `hbd.toml` form: everything ha.cf, haresources and authkeys say, plus
//! hbd's own options, loading into the same [`Config`]. Unknown keys are errors; every
//! error names `file:line`. Durations are strings with a unit (`"500ms"`, `"2s"`,
//! `"1.5s"`, `"2min"`); a bare number is an error that spells out the fix, since
//! ha.cf reads one as seconds and an operator copying `keepalive 1` from there
//! must not get a 1 ms keepalive. The layout is documented in
//! docs/config-reference.md and written by [`to_toml`].
//!
//! Here: the layout as serde reads it (unknown keys refused) and the context
//! every table's reader writes its diagnostics to. Reading is in `read.rs` (the
//! top-level keys and tables), `groups.rs` (`[[group]]` and its monitors) and
//! `auth.rs`; writing in `write.rs`; the values with a syntax of their own
//! (durations, the metrics address) in `value.rs`.

mod announce;
mod auth;
mod groups;
mod read;
mod value;
mod write;

pub use read::parse_str;
pub use value::{format_duration, parse_duration, parse_metrics_addr, TomlError};
pub use write::{comparable, to_toml};

use super::model::{Config, Diagnostic, Location};
use crate::time::Duration;
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;
use value::{bare_number, TomlDuration};

/// hbd.toml as serde reads it; unknown keys are refused at every level.
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
    Ucast6 {
        dev: String,
        peer: String,
    },
    Mcast6 {
        dev: String,
        group: String,
        port: i64,
        hops: i64,
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
    redundancy: Option<Spanned<String>>,
    builtin_ipaddr: Option<Spanned<toml::Value>>,
    bind: Option<Spanned<String>>,
    metrics: Option<Spanned<String>>,
    notify: Option<Spanned<String>>,
    notify_timeout: Option<Spanned<TomlDuration>>,
    announce: Option<Spanned<AnnounceT>>,
}

/// `[hbd.announce]` (read in `announce.rs`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnounceT {
    count: Option<Spanned<i64>>,
    interval: Option<Spanned<TomlDuration>>,
    refresh: Option<Spanned<TomlDuration>>,
    verify: Option<Spanned<Vec<String>>>,
    verify_limit: Option<Spanned<TomlDuration>>,
    dad: Option<Spanned<TomlDuration>>,
    na_router: Option<Spanned<bool>>,
}

/// What every table's reader writes to: the diagnostics so far, and the file
/// and text that turn a value's span into its `file:line`.
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

#[cfg(test)]
mod tests;
