//! The daemon's `log::Log`: stderr always (systemd style), plus heartbeat's
//! `logfile`, `debugfile` and syslog (`logfacility`) once the config is known.
//! Also the rate limiter that keeps a flood of bad packets to one line per 10 s.

use crate::config::Logging;
use crate::time::{Duration, Instant};
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Mutex;

struct Sinks {
    node: String,
    /// The program name on syslog datagrams and log file lines (`syslog_tag`).
    tag: String,
    /// Level for stderr, logfile and syslog.
    level: LevelFilter,
    journald: bool,
    logfile: Option<File>,
    debugfile: Option<File>,
    syslog: Option<(UnixDatagram, u8)>,
}

pub struct Logger {
    sinks: Mutex<Sinks>,
}

static LOGGER: Logger = Logger {
    sinks: Mutex::new(Sinks {
        node: String::new(),
        tag: String::new(),
        level: LevelFilter::Info,
        journald: false,
        logfile: None,
        debugfile: None,
        syslog: None,
    }),
};

/// `HBD_LOG=error|warn|info|debug|trace` overrides the config's verbosity.
fn env_level() -> Option<LevelFilter> {
    std::env::var("HBD_LOG").ok()?.parse().ok()
}

/// Installs the logger with stderr only (before the config is read).
pub fn init() {
    let level = env_level().unwrap_or(LevelFilter::Info);
    {
        let mut s = LOGGER.sinks.lock().unwrap_or_else(|e| e.into_inner());
        s.level = level;
        s.journald = std::env::var_os("JOURNAL_STREAM").is_some();
    }
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// heartbeat's `debug N`: 0 = info, 1 = debug, 2 and up = trace (every heartbeat).
pub fn level_for_debug(debug: u8) -> LevelFilter {
    match debug {
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Where syslog listens.
const SYSLOG_SOCKET: &str = "/dev/log";

/// Applies the config's logging directives. Files that cannot be opened are
/// reported (and skipped); a missing /dev/log is ignored, as heartbeat does.
pub fn configure(node: &str, cfg: &Logging) {
    configure_with(node, cfg, Path::new(SYSLOG_SOCKET));
}

/// [`configure`] with syslog at `syslog_socket` (a test's own socket).
fn configure_with(node: &str, cfg: &Logging, syslog_socket: &Path) {
    let level = env_level().unwrap_or_else(|| level_for_debug(cfg.debug));
    let mut problems = Vec::new();
    let open = |p: &Path, problems: &mut Vec<String>| -> Option<File> {
        if p == Path::new("/dev/null") {
            return None;
        }
        match OpenOptions::new().create(true).append(true).open(p) {
            Ok(f) => Some(f),
            Err(e) => {
                problems.push(format!("cannot open log file {}: {e}", p.display()));
                None
            }
        }
    };
    let logfile = cfg.logfile.as_deref().and_then(|p| open(p, &mut problems));
    let debugfile = cfg
        .debugfile
        .as_deref()
        .and_then(|p| open(p, &mut problems));
    let syslog = cfg.logfacility.as_deref().and_then(|name| {
        let Some(code) = facility_code(name) else {
            if name != "none" {
                problems.push(format!("unknown syslog facility {name:?}; syslog off"));
            }
            return None;
        };
        let sock = UnixDatagram::unbound().ok()?;
        sock.connect(syslog_socket).ok()?;
        sock.set_nonblocking(true).ok()?;
        Some((sock, code))
    });
    let max = if debugfile.is_some() {
        level.max(LevelFilter::Debug)
    } else {
        level
    };
    {
        let mut s = LOGGER.sinks.lock().unwrap_or_else(|e| e.into_inner());
        s.node = node.to_string();
        s.tag = cfg.tag().to_string();
        s.level = level;
        s.logfile = logfile;
        s.debugfile = debugfile;
        s.syslog = syslog;
    }
    log::set_max_level(max);
    for p in problems {
        log::warn!("{p}");
    }
}

/// heartbeat's SIGUSR1/SIGUSR2: one step more (`up`) or less verbose, between
/// warn and trace, for stderr, logfile and syslog. Returns the new level.
pub fn step_verbosity(up: bool) -> LevelFilter {
    const STEPS: [LevelFilter; 4] = [
        LevelFilter::Warn,
        LevelFilter::Info,
        LevelFilter::Debug,
        LevelFilter::Trace,
    ];
    let mut s = LOGGER.sinks.lock().unwrap_or_else(|e| e.into_inner());
    let i = STEPS.iter().position(|l| *l == s.level).unwrap_or(1);
    let j = if up {
        (i + 1).min(STEPS.len() - 1)
    } else {
        i.saturating_sub(1)
    };
    s.level = STEPS[j];
    let max = if s.debugfile.is_some() {
        s.level.max(LevelFilter::Debug)
    } else {
        s.level
    };
    log::set_max_level(max);
    s.level
}

pub fn facility_code(name: &str) -> Option<u8> {
    Some(match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

/// heartbeat's level words (`info`, `WARN`, `ERROR`, `debug`).
fn level_word(l: Level) -> &'static str {
    match l {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

fn syslog_severity(l: Level) -> u8 {
    match l {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One RFC 3164 datagram: `<PRI>Mon dd HH:MM:SS TAG[pid]: level: text`
/// (`TAG` is `syslog_tag`, `hbd` by default).
pub fn syslog_datagram(
    facility: u8,
    level: Level,
    stamp: &str,
    tag: &str,
    pid: u32,
    text: &str,
) -> String {
    let pri = u16::from(facility) * 8 + u16::from(syslog_severity(level));
    format!("<{pri}>{stamp} {tag}[{pid}]: {}: {text}", level_word(level))
}

/// One `logfile`/`debugfile` line, in heartbeat's form:
/// `Mon dd HH:MM:SS NODE TAG: [pid]: level: text`.
fn file_line(stamp: &str, node: &str, tag: &str, pid: u32, level: Level, text: &str) -> String {
    format!(
        "{stamp} {node} {tag}: [{pid}]: {}: {text}\n",
        level_word(level)
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mon dd HH:MM:SS` (UTC) for unix seconds `secs`: syslog's and heartbeat's stamp.
pub fn syslog_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let mut sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        // Disjoint borrows: the tag is read while the files are written.
        let s = &mut *sinks;
        let level = r.level();
        let word = level_word(level);
        let text = r.args().to_string();
        let stamp = syslog_stamp(unix_now());
        let main = level <= s.level;
        if main {
            let line = if s.journald {
                // journald reads the sd-daemon `<N>` prefix as the priority and
                // adds its own time stamp.
                format!("<{}>{word}: {text}\n", syslog_severity(level))
            } else {
                format!("{stamp} {word}: {text}\n")
            };
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        let pid = std::process::id();
        // Before configure() (a refusal to start) the tag is not known yet.
        let tag = if s.tag.is_empty() {
            crate::config::DEFAULT_SYSLOG_TAG
        } else {
            s.tag.as_str()
        };
        let file_line = file_line(&stamp, &s.node, tag, pid, level, &text);
        if main {
            if let Some(f) = s.logfile.as_mut() {
                let _ = f.write_all(file_line.as_bytes());
            }
        }
        if level <= Level::Debug || main {
            if let Some(f) = s.debugfile.as_mut() {
                let _ = f.write_all(file_line.as_bytes());
            }
        }
        if main {
            if let Some((sock, fac)) = s.syslog.as_ref() {
                let datagram = syslog_datagram(*fac, level, &stamp, tag, pid, &text);
                let _ = sock.send(datagram.as_bytes());
            }
        }
    }

    fn flush(&self) {
        let mut s = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = s.logfile.as_mut() {
            let _ = f.flush();
        }
        if let Some(f) = s.debugfile.as_mut() {
            let _ = f.flush();
        }
    }
}

/// At most one line per key per window; the next allowed line carries the
/// number of lines suppressed in between.
#[derive(Debug)]
pub struct RateLimiter<K> {
    window: Duration,
    seen: HashMap<K, (Instant, u64)>,
}

impl<K: std::hash::Hash + Eq> RateLimiter<K> {
    pub fn new(window: Duration) -> Self {
        RateLimiter {
            window,
            seen: HashMap::new(),
        }
    }

    /// Some(suppressed since the last allowed line) when a line may be logged now.
    pub fn allow(&mut self, key: K, now: Instant) -> Option<u64> {
        match self.seen.get_mut(&key) {
            Some((last, suppressed)) if now.saturating_since(*last) < self.window => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                let n = *suppressed;
                *last = now;
                *suppressed = 0;
                Some(n)
            }
            None => {
                self.seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::t;

    /// The logger is global: tests that configure it take turns.
    static GLOBAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn rate_limiter_allows_one_line_per_window_and_counts_the_rest() {
        let mut r = RateLimiter::new(Duration::from_secs(10));
        assert_eq!(r.allow((0, "bad_mac"), t(0)), Some(0));
        assert_eq!(r.allow((0, "bad_mac"), t(1)), None);
        assert_eq!(r.allow((0, "bad_mac"), t(9_999)), None);
        // Another reason or link has its own budget.
        assert_eq!(r.allow((0, "malformed"), t(2)), Some(0));
        assert_eq!(r.allow((1, "bad_mac"), t(2)), Some(0));
        assert_eq!(r.allow((0, "bad_mac"), t(10_000)), Some(2));
        assert_eq!(r.allow((0, "bad_mac"), t(10_001)), None);
        assert_eq!(r.allow((0, "bad_mac"), t(30_000)), Some(1));
    }

    #[test]
    fn stamps_look_like_syslog() {
        // 2026-11-22 03:04:05 UTC
        assert_eq!(syslog_stamp(1_795_316_645), "Nov 22 03:04:05");
        assert_eq!(syslog_stamp(0), "Jan  1 00:00:00");
        assert_eq!(syslog_stamp(951_782_400), "Feb 29 00:00:00");
    }

    #[test]
    fn logfile_has_heartbeat_lines_and_debugfile_gets_debug_too() {
        let _g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
        let d = tempfile::tempdir().unwrap();
        let logfile = d.path().join("ha-log");
        let debugfile = d.path().join("ha-debug");
        init();
        configure(
            "alpha",
            &Logging {
                logfile: Some(logfile.clone()),
                debugfile: Some(debugfile.clone()),
                logfacility: Some("local7".into()),
                debug: 0,
                syslog_tag: None,
            },
        );
        log::info!("marker-info Link beta:eth0 up.");
        log::debug!("marker-debug detail");
        log::logger().flush();
        let log = std::fs::read_to_string(&logfile).unwrap();
        let dbg = std::fs::read_to_string(&debugfile).unwrap();
        let line = log.lines().find(|l| l.contains("marker-info")).unwrap();
        // `Nov 22 03:04:05 alpha hbd: [1234]: info: text`
        let (stamp, rest) = line.split_at(15);
        assert_eq!(stamp.as_bytes()[3], b' ', "{line}");
        assert_eq!(&stamp[9..10], ":", "{line}");
        let pid = std::process::id();
        assert_eq!(
            rest,
            format!(" alpha hbd: [{pid}]: info: marker-info Link beta:eth0 up.")
        );
        if std::env::var_os("HBD_LOG").is_none() {
            assert!(!log.contains("marker-debug"), "{log}");
        }
        assert!(dbg.contains("marker-info"), "{dbg}");
        assert!(
            dbg.contains(&format!("hbd: [{pid}]: debug: marker-debug detail")),
            "{dbg}"
        );
        // Leave the global logger writing nowhere in particular.
        configure("alpha", &Logging::default());
    }

    #[test]
    fn syslog_tag_names_the_program_on_syslog_and_in_the_log_file() {
        let _g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
        let d = tempfile::tempdir().unwrap();
        let logfile = d.path().join("ha-log");
        let dev_log = d.path().join("log");
        let syslogd = UnixDatagram::bind(&dev_log).unwrap();
        syslogd
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        init();
        let cfg = Logging {
            logfile: Some(logfile.clone()),
            logfacility: Some("daemon".into()),
            syslog_tag: Some("heartbeat".into()),
            ..Logging::default()
        };
        configure_with("alpha", &cfg, &dev_log);
        log::warn!("marker-tag Link beta:eth0 dead.");
        log::logger().flush();
        let pid = std::process::id();
        let mut buf = [0u8; 512];
        let datagram = loop {
            let n = syslogd.recv(&mut buf).expect("a syslog datagram");
            let s = String::from_utf8_lossy(&buf[..n]).into_owned();
            if s.contains("marker-tag") {
                break s;
            }
        };
        // daemon (3) * 8 + warning (4)
        assert!(datagram.starts_with("<28>"), "{datagram}");
        assert!(
            datagram.ends_with(&format!(
                " heartbeat[{pid}]: WARN: marker-tag Link beta:eth0 dead."
            )),
            "{datagram}"
        );
        let log = std::fs::read_to_string(&logfile).unwrap();
        assert!(
            log.contains(&format!(" alpha heartbeat: [{pid}]: WARN: marker-tag")),
            "{log}"
        );
        // Unset, it is hbd again.
        configure_with(
            "alpha",
            &Logging {
                syslog_tag: None,
                ..cfg
            },
            &dev_log,
        );
        log::warn!("marker-default");
        let datagram = loop {
            let n = syslogd.recv(&mut buf).expect("a syslog datagram");
            let s = String::from_utf8_lossy(&buf[..n]).into_owned();
            if s.contains("marker-default") {
                break s;
            }
        };
        assert!(
            datagram.contains(&format!(" hbd[{pid}]: WARN: ")),
            "{datagram}"
        );
        configure("alpha", &Logging::default());
    }

    #[test]
    fn usr1_usr2_step_verbosity_within_bounds() {
        let _g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
        init();
        configure("alpha", &Logging::default());
        if !testkit::skip::Needs::new("usr1_usr2_step_verbosity_within_bounds")
            .that(
                std::env::var_os("HBD_LOG").is_none(),
                "HBD_LOG sets the starting level",
            )
            .met()
        {
            return;
        }
        assert_eq!(step_verbosity(true), LevelFilter::Debug);
        assert_eq!(step_verbosity(true), LevelFilter::Trace);
        assert_eq!(step_verbosity(true), LevelFilter::Trace);
        assert_eq!(step_verbosity(false), LevelFilter::Debug);
        assert_eq!(step_verbosity(false), LevelFilter::Info);
        assert_eq!(step_verbosity(false), LevelFilter::Warn);
        assert_eq!(step_verbosity(false), LevelFilter::Warn);
        configure("alpha", &Logging::default());
    }

    #[test]
    fn syslog_datagrams_carry_facility_and_severity() {
        assert_eq!(
            syslog_datagram(
                23,
                Level::Warn,
                "Nov 22 03:04:05",
                "hbd",
                42,
                "node beta: is dead"
            ),
            "<188>Nov 22 03:04:05 hbd[42]: WARN: node beta: is dead"
        );
        assert_eq!(
            syslog_datagram(3, Level::Info, "Jan  1 00:00:00", "heartbeat", 1, "x"),
            "<30>Jan  1 00:00:00 heartbeat[1]: info: x"
        );
    }

    #[test]
    fn debug_levels_map_like_heartbeat() {
        assert_eq!(level_for_debug(0), LevelFilter::Info);
        assert_eq!(level_for_debug(1), LevelFilter::Debug);
        assert_eq!(level_for_debug(3), LevelFilter::Trace);
        assert_eq!(facility_code("local7"), Some(23));
        assert_eq!(facility_code("bogus"), None);
    }
}
