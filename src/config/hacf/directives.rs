//! heartbeat 3.0.6's ha.cf directives: those hbd honours, with how each takes
//! its arguments; those it knows and ignores, with why; hbd's own settings,
//! which belong in hbd.toml; and the nearest known one to a misspelt word.

/// How heartbeat hands a directive its arguments.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(super) enum Shape {
    /// Each blank/tab/comma separated token applied on its own.
    Options,
    /// The rest of the line as one value.
    WholeLine,
}

/// Directives heartbeat 3.0.6 knows that hbd accepts and ignores, with the reason.
pub(super) const IGNORED: &[(&str, Shape, &str)] = &[
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
pub(super) const HONOURED: &[(&str, Shape)] = &[
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
    ("ucast6", Shape::WholeLine),
    ("mcast6", Shape::WholeLine),
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
pub(super) const HBD_ONLY: &[&str] = &[
    "compact_serial",
    "redundancy",
    "builtin_ipaddr",
    "script_timeout",
    "stop_failure",
    "resource_dirs",
    "fence_hook",
    "bind",
    "notify",
    "notify_timeout",
    "announce",
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
