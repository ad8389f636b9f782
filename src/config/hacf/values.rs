//! The values ha.cf's directives take, as heartbeat 3.0.6 reads them: times,
//! booleans, node and interface names, ping hosts, baud rates and syslog
//! facilities. The TOML form checks its values with the same rules.

use crate::time::Duration;
use std::net::Ipv4Addr;

/// Baud rates heartbeat's serial plugin accepts.
pub const BAUD_RATES: &[u32] = &[9600, 19200, 38400, 57600, 115200, 230400, 460800];

/// The refusal of an unsupported `baud` value, listing `BAUD_RATES` so the
/// message cannot drift from what is accepted.
pub fn baud_refusal(value: impl std::fmt::Debug) -> String {
    let rates: Vec<String> = BAUD_RATES.iter().map(u32::to_string).collect();
    format!(
        "{value:?} is not a supported baud rate (expected one of {})",
        rates.join(", ")
    )
}

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

pub(super) const BOOL_HELP: &str = "expected on, off, yes, no, true, false, y, n, 1 or 0";

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
/// it runs: config::facts). `Err` is the diagnostic's message.
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
pub(super) fn inet_aton(v: &str) -> Option<Ipv4Addr> {
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

pub(super) fn valid_ifname(s: &str) -> bool {
    !s.is_empty() && s.len() < 16 && !s.contains(['/', ' ', '\t'])
}
