//! The one typed configuration that `ha.cf` + `haresources` + `authkeys` and
//! the native TOML form both load into. Parsers fill it; `validate()` checks it.

use crate::time::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// Where a value came from, for `file:line` in diagnostics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0 means the file as a whole (its mode, a missing directive).
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}", self.file.display(), self.line)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Normal cluster nodes, lowercased, in `ha.cf` order (exactly two after validate()).
    pub nodes: Vec<String>,
    pub keepalive: Duration,
    pub deadtime: Duration,
    pub warntime: Duration,
    pub initdead: Duration,
    pub deadping: Duration,
    pub udpport: u16,
    pub baud: u32,
    /// Every heartbeat medium; a link is one entry (one `bcast` line with two
    /// devices gives two entries).
    pub media: Vec<Medium>,
    pub ping_nodes: Vec<PingNode>,
    pub auto_failback: AutoFailback,
    pub msgfmt: MsgFmt,
    pub max_rexmit_delay: Duration,
    pub logging: Logging,
    pub realtime: bool,
    /// heartbeat's `watchdog DEVICE`: armed at start, fed while the core
    /// sends its heartbeats, closed with the magic `V` on a clean stop only.
    pub watchdog: Option<PathBuf>,
    pub stonith_hosts: Vec<StonithHost>,
    pub auth: Auth,
    pub groups: Vec<ResourceGroup>,
    pub hbd: HbdOptions,
    /// Directive name -> where it was last set, so cross-field checks can name a line.
    pub origins: BTreeMap<String, Location>,
    /// What the source said that the model does not carry (directives heartbeat
    /// knows and hbd ignores, obsolete spellings read as another), so `hbd
    /// migrate` can say in the TOML what it left out and why.
    pub dropped: Vec<Dropped>,
}

/// One directive of the source that the model does not carry as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub location: Location,
    /// The directive and its value as written (a value that may hold a secret,
    /// such as an `env` assignment, is left out).
    pub text: String,
    /// Why it is not carried, or what it was read as.
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Medium {
    Ucast {
        dev: String,
        peer: String,
    },
    Bcast {
        dev: String,
    },
    Mcast {
        dev: String,
        group: Ipv4Addr,
        port: u16,
        ttl: u8,
        #[serde(rename = "loop")]
        loopback: bool,
    },
    /// heartbeat's `ucast6 DEV PEER[%SCOPE]`, on `udpport`.
    Ucast6 {
        dev: String,
        peer: Ipv6Addr,
        /// The scope as written after `%` (the device's name or its index);
        /// a link-local peer without one takes the device's.
        scope: Option<String>,
    },
    /// heartbeat's `mcast6 DEV GROUP PORT HOPS LOOP`.
    Mcast6 {
        dev: String,
        group: Ipv6Addr,
        port: u16,
        hops: u8,
        #[serde(rename = "loop")]
        loopback: bool,
    },
    Serial {
        path: PathBuf,
    },
}

impl Medium {
    /// The directive that writes this medium in ha.cf (and its `type` in hbd.toml).
    pub fn kind(&self) -> &'static str {
        match self {
            Medium::Ucast { .. } => "ucast",
            Medium::Bcast { .. } => "bcast",
            Medium::Mcast { .. } => "mcast",
            Medium::Ucast6 { .. } => "ucast6",
            Medium::Mcast6 { .. } => "mcast6",
            Medium::Serial { .. } => "serial",
        }
    }

    /// A `ucast6` peer as ha.cf writes it, `%SCOPE` included.
    pub fn ucast6_peer_text(peer: &Ipv6Addr, scope: Option<&str>) -> String {
        match scope {
            Some(s) => format!("{peer}%{s}"),
            None => peer.to_string(),
        }
    }

    /// The link name heartbeat shows: the interface for UDP media, the tty
    /// path as written for serial.
    pub fn link_name(&self) -> String {
        match self {
            Medium::Ucast { dev, .. }
            | Medium::Bcast { dev }
            | Medium::Mcast { dev, .. }
            | Medium::Ucast6 { dev, .. }
            | Medium::Mcast6 { dev, .. } => dev.clone(),
            Medium::Serial { path } => path.display().to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingNode {
    /// The address as written for `ping`, the group name for `ping_group`.
    pub name: String,
    pub addrs: Vec<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoFailback {
    On,
    Off,
    Legacy,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MsgFmt {
    Classic,
    Netstring,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logging {
    pub logfile: Option<PathBuf>,
    pub debugfile: Option<PathBuf>,
    /// A syslog facility name (`daemon`, `local0`, …); None = no syslog.
    pub logfacility: Option<String>,
    pub debug: u8,
    /// The program name on syslog and log file lines (hbd.toml only); None =
    /// `hbd`. `heartbeat` keeps log filters written for heartbeat matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syslog_tag: Option<String>,
}

/// The tag log lines carry when `syslog_tag` is not set.
pub const DEFAULT_SYSLOG_TAG: &str = "hbd";

impl Logging {
    /// The program name on syslog datagrams and log file lines.
    pub fn tag(&self) -> &str {
        self.syslog_tag.as_deref().unwrap_or(DEFAULT_SYSLOG_TAG)
    }
}

/// Why `tag` cannot be a syslog tag (RFC 3164: at most 32 alphanumerics; `.`,
/// `_` and `-` are what syslog daemons and filters take as part of the name).
pub fn syslog_tag_problem(tag: &str) -> Option<String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !tag.is_empty() && tag.len() <= 32 && tag.chars().all(ok_char) {
        return None;
    }
    Some(format!(
        "{tag:?} is not a syslog tag (expected 1 to 32 letters, digits, '.', '_' or '-', e.g. heartbeat)"
    ))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StonithHost {
    /// Host name or `*`.
    pub host: String,
    pub kind: String,
    pub params: Vec<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    Crc,
    Md5,
    Sha1,
    /// HMAC-SHA256: hbd's own, for hbd-only pairs.
    Sha256,
}

impl AuthMethod {
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Crc => "crc",
            AuthMethod::Md5 => "md5",
            AuthMethod::Sha1 => "sha1",
            AuthMethod::Sha256 => "sha256",
        }
    }
}

/// A key's secret bytes. Debug and Display never show them.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<secret>")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthKey {
    pub method: AuthMethod,
    pub secret: Secret,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// The outbound key index (`auth N`).
    pub send_index: u8,
    /// Every accepted key by index 0..=15.
    pub keys: BTreeMap<u8, AuthKey>,
}

impl Auth {
    pub fn send_key(&self) -> Option<&AuthKey> {
        self.keys.get(&self.send_index)
    }
}

/// One `haresources` line: a home node and resources started left to right.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceGroup {
    pub home: String,
    pub resources: Vec<Resource>,
    #[serde(skip)]
    pub location: Location,
}

impl ResourceGroup {
    /// The group key heartbeat uses on the wire (`ipaddr=`): the first resource as written.
    pub fn key(&self) -> String {
        self.resources
            .first()
            .map(|r| r.to_string())
            .unwrap_or_default()
    }
}

/// `name::arg1::arg2` — a script name and its arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    pub args: Vec<String>,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for a in &self.args {
            write!(f, "::{a}")?;
        }
        Ok(())
    }
}

/// What to do when a resource will not stop and may still be active here.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopFailurePolicy {
    /// Keep the group marked failed here and never offer it to the peer
    /// (the operator must intervene). hbd's default.
    Block,
    /// Reboot the node as heartbeat does (`reboot -nf`).
    Reboot,
}

/// Whether statuses to an hbd peer go more than once on a lossy UDP link
/// (issue 22; the arithmetic is in `core::redundancy` and
/// docs/config-reference.md).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Redundancy {
    /// Number each status per link, report the peer's loss back, and send
    /// each status as often as the loss the peer reports needs (at least
    /// twice) within a bandwidth cap. hbd's default; nothing changes toward
    /// a heartbeat peer.
    #[default]
    Adaptive,
    /// Statuses go once on every link, as heartbeat sends them.
    Off,
}

impl Redundancy {
    pub fn word(self) -> &'static str {
        match self {
            Redundancy::Adaptive => "adaptive",
            Redundancy::Off => "off",
        }
    }
}

/// `[hbd] builtin_ipaddr`: who runs an `IPaddr`/`IPaddr2` (IPv4) resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BuiltinIpaddr {
    /// hbd itself wherever it does exactly what hbd's agent script would do
    /// for those arguments on this host, the script otherwise
    /// (`config::ipaddr_runner`).
    #[default]
    Auto,
    /// hbd itself, always (`true`).
    Always,
    /// The script, always (`false`): heartbeat's way.
    Never,
}

impl BuiltinIpaddr {
    /// As hbd.toml writes it: `true`, `false` or `"auto"`.
    pub fn toml(self) -> &'static str {
        match self {
            BuiltinIpaddr::Auto => "\"auto\"",
            BuiltinIpaddr::Always => "true",
            BuiltinIpaddr::Never => "false",
        }
    }
}

/// Settings heartbeat does not have; TOML only (defaults when loaded from ha.cf).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HbdOptions {
    /// Longest a resource script step may run before its process group is killed.
    pub script_timeout: Duration,
    pub stop_failure: StopFailurePolicy,
    /// Extra resource script directories searched after `<config dir>/resource.d`.
    pub resource_dirs: Vec<PathBuf>,
    /// Executable run before taking over a peer declared dead (fencing hook).
    pub fence_hook: Option<PathBuf>,
    /// Take over a dead peer only after the fence succeeded (retrying every
    /// 5 s); false = take over anyway after a failed fence, loudly.
    pub fence_required: bool,
    /// Use hbd's compact signed frame on serial links (hbd-to-hbd only).
    pub compact_serial: bool,
    /// Loss-adaptive redundancy toward an hbd peer.
    pub redundancy: Redundancy,
    /// Whether IPaddr/IPaddr2 resources run in-process (netlink + gratuitous
    /// ARP) or by their scripts.
    pub builtin_ipaddr: BuiltinIpaddr,
    /// Local address ucast/bcast links receive on instead of INADDR_ANY, so two
    /// nodes can share one host (e.g. 127.0.0.1 and 127.0.0.2). None = heartbeat's way.
    pub bind: Option<std::net::IpAddr>,
    /// Where the Prometheus `/metrics` endpoint listens (TOML only). None = off.
    pub metrics: Option<std::net::SocketAddr>,
    /// Executable run once per cluster transition (`HOOK EVENT NODE GROUP`,
    /// details in `HBD_*` variables), one at a time, after the fact: it never
    /// delays a decision. None = off.
    pub notify: Option<PathBuf>,
    /// Longest one run of `notify` may take before its process group is killed.
    pub notify_timeout: Duration,
    /// Resource monitors (`[[group.monitor]]`, TOML only); none = heartbeat v1
    /// behaviour, where only a dead node is noticed.
    pub monitors: Vec<Monitor>,
    /// How floating addresses are announced after a takeover, refreshed while
    /// held, and verified (`[hbd.announce]`, TOML only).
    pub announce: Announce,
}

/// `[hbd.announce]`: gratuitous ARP after a takeover, the optional refresh
/// while active, and the convergence check (docs/config-reference.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// Announcements per start; None = the agent's own setting (its
    /// `HBD_ARP_COUNT`, default 5), which the built-in address uses too.
    pub count: Option<u32>,
    /// Spacing of the start's announcements; None = the agent's (200 ms).
    pub interval: Option<Duration>,
    /// One more announcement this often while the address is held. None:
    /// heartbeat's behaviour, nothing after the start's burst.
    pub refresh: Option<Duration>,
    /// Who must answer an ARP request from the floating address before its
    /// clients count as converged; empty = no check (heartbeat had none).
    pub verify: Vec<VerifyTarget>,
    /// Re-announcing with backoff stops this long after the start, with a
    /// warning naming the targets that never answered.
    pub verify_limit: Duration,
    /// IPv6 addresses: None adds them `nodad` (a floating address moves, the
    /// peer that held it is gone or being stopped); Some(t) lets the kernel
    /// run duplicate address detection and waits up to t for it, failing the
    /// start if the address is still tentative or DAD failed.
    pub dad: Option<Duration>,
    /// IPv6 addresses: set the router flag in the neighbour advertisements
    /// (the nodes route for their clients).
    pub na_router: bool,
    pub location: Location,
}

impl Announce {
    /// heartbeat's IPaddr (send_arp -r 5 -i 200) and hbd's agents.
    pub const DEFAULT_COUNT: u32 = 5;
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(200);
    pub const DEFAULT_VERIFY_LIMIT: Duration = Duration::from_secs(30);
    /// The longest pause between two re-announcements while verifying.
    pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
    /// The bounds of `dad`: a second or so is what the kernel takes with
    /// one probe (dad_transmits 1, retrans_timer 1 s).
    pub const DAD_MIN: Duration = Duration::from_millis(100);
    pub const DAD_MAX: Duration = Duration::from_secs(60);

    pub fn count(&self) -> u32 {
        self.count.unwrap_or(Announce::DEFAULT_COUNT)
    }

    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(Announce::DEFAULT_INTERVAL)
    }
}

impl Default for Announce {
    fn default() -> Self {
        Announce {
            count: None,
            interval: None,
            refresh: None,
            verify: Vec::new(),
            verify_limit: Announce::DEFAULT_VERIFY_LIMIT,
            dad: None,
            na_router: false,
            location: Location::default(),
        }
    }
}

/// One target of the convergence check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyTarget {
    /// The default route's gateway, when it is on the address's interface.
    Gateway,
    /// An IPv4 target checks IPv4 addresses (ARP), an IPv6 one IPv6
    /// addresses (neighbour solicitation).
    Addr(IpAddr),
}

impl fmt::Display for VerifyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyTarget::Gateway => f.write_str("gateway"),
            VerifyTarget::Addr(a) => write!(f, "{a}"),
        }
    }
}

impl HbdOptions {
    /// The monitor of resource `resource` of group `group`, if it has one.
    pub fn monitor(&self, group: usize, resource: usize) -> Option<&Monitor> {
        self.monitors
            .iter()
            .find(|m| m.group == group && m.resource == resource)
    }
}

/// How a monitor asks a resource whether it runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorCheck {
    /// `SCRIPT ARGS status`, read as heartbeat reads it: running iff the
    /// output says "running" or "OK" (and not "not running"); the exit code
    /// is ignored. Every heartbeat resource script has it.
    Status,
    /// `SCRIPT ARGS monitor`, read as OCF defines it: exit 0 running, exit 7
    /// cleanly stopped, anything else failed.
    Monitor,
}

impl MonitorCheck {
    pub fn word(self) -> &'static str {
        match self {
            MonitorCheck::Status => "status",
            MonitorCheck::Monitor => "monitor",
        }
    }
}

/// What a resource that failed its monitor `fall` times in a row leads to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFail {
    /// Stop it and the resources right of it (right to left), start them
    /// again (left to right); after `max_restarts` within `restart_window`, move.
    Restart,
    /// Stop the group and hand its set to the peer.
    Move,
    /// Leave everything as it is, mark the group failed and stop managing it.
    Block,
    /// Only report (and count) the failure.
    Ignore,
}

impl OnFail {
    pub fn word(self) -> &'static str {
        match self {
            OnFail::Restart => "restart",
            OnFail::Move => "move",
            OnFail::Block => "block",
            OnFail::Ignore => "ignore",
        }
    }
}

/// One monitored resource (`[[group.monitor]]` in hbd.toml).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Monitor {
    /// Index into `Config::groups`.
    pub group: usize,
    /// Index into that group's resources.
    pub resource: usize,
    pub check: MonitorCheck,
    /// From the end of one check to the start of the next.
    pub interval: Duration,
    /// A check running longer is killed (its process group) and counts as failed.
    pub timeout: Duration,
    /// Failed checks in a row that make the resource failed.
    pub fall: u32,
    /// Good checks in a row that make a failed resource healthy again.
    pub rise: u32,
    pub on_fail: OnFail,
    /// Restarts allowed within `restart_window`; one more failure moves the group.
    pub max_restarts: u32,
    pub restart_window: Duration,
    /// A failure older than this is forgotten (fail count cleared; a group
    /// that failed here may run here again). None: until `hbd cleanup`.
    pub failure_timeout: Option<Duration>,
    pub location: Location,
}

impl Monitor {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
    pub const DEFAULT_MAX_RESTARTS: u32 = 3;
    pub const DEFAULT_RESTART_WINDOW: Duration = Duration::from_secs(600);

    /// A monitor with every default, for resource `resource` of group `group`.
    pub fn new(group: usize, resource: usize) -> Monitor {
        Monitor {
            group,
            resource,
            check: MonitorCheck::Status,
            interval: Monitor::DEFAULT_INTERVAL,
            timeout: Monitor::DEFAULT_TIMEOUT,
            fall: 1,
            rise: 1,
            on_fail: OnFail::Restart,
            max_restarts: Monitor::DEFAULT_MAX_RESTARTS,
            restart_window: Monitor::DEFAULT_RESTART_WINDOW,
            failure_timeout: None,
            location: Location::default(),
        }
    }
}

impl Default for HbdOptions {
    fn default() -> Self {
        HbdOptions {
            script_timeout: Duration::from_secs(120),
            stop_failure: StopFailurePolicy::Block,
            resource_dirs: Vec::new(),
            fence_hook: None,
            fence_required: true,
            compact_serial: false,
            redundancy: Redundancy::Adaptive,
            builtin_ipaddr: BuiltinIpaddr::Auto,
            bind: None,
            metrics: None,
            notify: None,
            notify_timeout: Duration::from_secs(10),
            monitors: Vec::new(),
            announce: Announce::default(),
        }
    }
}

impl Default for Config {
    /// heartbeat 3.0.6's built-in defaults (spec §5.2, §7.2), with no nodes,
    /// media, keys or groups.
    fn default() -> Self {
        Config {
            nodes: Vec::new(),
            keepalive: Duration::from_millis(1000),
            deadtime: Duration::from_millis(30_000),
            warntime: Duration::from_millis(15_000),
            initdead: Duration::from_millis(30_000),
            deadping: Duration::from_millis(30_000),
            udpport: 694,
            baud: 19200,
            media: Vec::new(),
            ping_nodes: Vec::new(),
            auto_failback: AutoFailback::Legacy,
            msgfmt: MsgFmt::Classic,
            max_rexmit_delay: Duration::from_millis(250),
            logging: Logging::default(),
            realtime: true,
            watchdog: None,
            stonith_hosts: Vec::new(),
            auth: Auth::default(),
            groups: Vec::new(),
            hbd: HbdOptions::default(),
            origins: BTreeMap::new(),
            dropped: Vec::new(),
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl Config {
    /// The group an operator names (`hbd cleanup GROUP`): by its key, by any
    /// of its resources as written, or by an agent name only one group uses.
    /// Err says why not, listing the keys.
    pub fn group_named(&self, name: &str) -> Result<usize, String> {
        let keys = || {
            self.groups
                .iter()
                .map(|g| g.key())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(i) = self.groups.iter().position(|g| g.key() == name) {
            return Ok(i);
        }
        let by = |f: &dyn Fn(&Resource) -> bool| -> Vec<usize> {
            (0..self.groups.len())
                .filter(|&i| self.groups[i].resources.iter().any(f))
                .collect()
        };
        for found in [
            by(&|r: &Resource| r.to_string() == name),
            by(&|r: &Resource| r.name == name),
        ] {
            match found.as_slice() {
                [i] => return Ok(*i),
                [] => {}
                _ => {
                    return Err(format!(
                        "{name:?} is in {} groups; name one by its key ({})",
                        found.len(),
                        keys()
                    ))
                }
            }
        }
        Err(format!(
            "no group {name:?} (expected a group key: {}; or one of its resources)",
            keys()
        ))
    }
}

/// One problem found while loading or validating a configuration. Printed as
/// `file:line: directive: message` (warnings: `file:line: directive: warning: message`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Option<Location>,
    pub directive: String,
    pub message: String,
}

impl Diagnostic {
    pub fn error(location: Option<Location>, directive: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            location,
            directive: directive.to_string(),
            message: message.into(),
        }
    }

    pub fn warning(
        location: Option<Location>,
        directive: &str,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            location,
            directive: directive.to_string(),
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        write!(f, "{}: ", self.directive)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}
