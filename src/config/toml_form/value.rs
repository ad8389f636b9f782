//! The values of hbd.toml with a syntax of their own: durations, written as
//! strings with a unit so that no bare number is read in the wrong one, and
//! the metrics endpoint's address.

use crate::time::Duration;
use serde::Deserialize;

/// A duration as TOML hands it over: only `Text` can be right; the numbers
/// are kept to say which string was meant.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum TomlDuration {
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
pub(super) fn bare_number(written: &str, v: f64) -> TomlError {
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
