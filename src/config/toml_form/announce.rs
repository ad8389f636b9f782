//! `[hbd.announce]`: how floating addresses are announced after a takeover,
//! refreshed while held, and checked for convergence. Every value is bounded
//! here so that `hbd check` names the line of one that makes no sense.

use super::value::{bare_number, parse_duration, TomlDuration};
use super::{AnnounceT, Ctx};
use crate::config::model::{Announce, Config, Diagnostic, VerifyTarget};
use crate::time::Duration;
use std::net::IpAddr;
use toml::Spanned;

/// The agents' own bound on HBD_ARP_COUNT (a typo of 50000 would flood).
const MAX_COUNT: i64 = 1000;
const INTERVAL: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(60));
const REFRESH: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(86_400));
const VERIFY_LIMIT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(600));
const DAD: (Duration, Duration) = (Announce::DAD_MIN, Announce::DAD_MAX);

/// A duration within `range`, or an error naming `key` and the range.
fn bounded(
    cx: &mut Ctx,
    key: &str,
    v: &Spanned<TomlDuration>,
    range: (Duration, Duration),
) -> Option<Duration> {
    let r = match v.get_ref() {
        TomlDuration::Integer(n) => Err(bare_number(&n.to_string(), *n as f64).to_string()),
        TomlDuration::Float(x) => Err(bare_number(&x.to_string(), *x).to_string()),
        TomlDuration::Text(s) => parse_duration(s).map_err(|e| e.to_string()),
    };
    match r {
        Ok(d) if d < range.0 || d > range.1 => {
            cx.error(
                v.span(),
                key,
                format!("{d} is out of range (expected {} to {})", range.0, range.1),
            );
            None
        }
        Ok(d) => Some(d),
        Err(m) => {
            cx.error(v.span(), key, m);
            None
        }
    }
}

fn target(s: &str) -> Result<VerifyTarget, String> {
    if s == "gateway" {
        return Ok(VerifyTarget::Gateway);
    }
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(a))
            if a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_broadcast() =>
        {
            Err(format!(
                "{s:?} cannot answer for a LAN (unspecified, loopback, multicast or broadcast)"
            ))
        }
        Ok(IpAddr::V6(a)) if a.is_unspecified() || a.is_loopback() || a.is_multicast() => {
            Err(format!(
                "{s:?} cannot answer for a LAN (unspecified, loopback or multicast)"
            ))
        }
        Ok(a) => Ok(VerifyTarget::Addr(a)),
        Err(_) => Err(format!(
            "{s:?} is neither \"gateway\" nor an IP address (expected e.g. [\"gateway\", \"192.0.2.254\", \"2001:db8::1\"])"
        )),
    }
}

/// Reads the table into `cfg.hbd.announce`, with every error and warning.
pub(super) fn announce(cx: &mut Ctx, cfg: &mut Config, t: &Spanned<AnnounceT>) {
    let a = t.get_ref();
    let mut out = Announce {
        location: cx.loc(t.span()),
        ..Announce::default()
    };
    cfg.origins
        .insert("hbd.announce".into(), out.location.clone());
    if let Some(c) = &a.count {
        match u32::try_from(*c.get_ref()) {
            Ok(n) if i64::from(n) <= MAX_COUNT => out.count = Some(n),
            _ => cx.error(
                c.span(),
                "announce.count",
                format!(
                    "{} is not a count of announcements (expected 0 to {MAX_COUNT}; 0 sends none)",
                    c.get_ref()
                ),
            ),
        }
    }
    if let Some(v) = &a.interval {
        out.interval = bounded(cx, "announce.interval", v, INTERVAL);
    }
    if let Some(v) = &a.refresh {
        if matches!(v.get_ref(), TomlDuration::Text(s) if s.trim() == "off") {
            out.refresh = None;
        } else {
            out.refresh = bounded(cx, "announce.refresh", v, REFRESH);
        }
    }
    if let Some(v) = &a.verify {
        for s in v.get_ref() {
            match target(s.trim()) {
                Ok(t) if out.verify.contains(&t) => cx.error(
                    v.span(),
                    "announce.verify",
                    format!("{s:?} is listed twice"),
                ),
                Ok(t) => out.verify.push(t),
                Err(m) => cx.error(v.span(), "announce.verify", m),
            }
        }
        if !out.verify.is_empty() && out.count == Some(0) {
            cx.error(
                v.span(),
                "announce.verify",
                "the check re-announces until the targets answer, and count = 0 sends no announcement (expected count 1 or more, or no verify)",
            );
        }
    }
    if let Some(v) = &a.verify_limit {
        if let Some(d) = bounded(cx, "announce.verify_limit", v, VERIFY_LIMIT) {
            out.verify_limit = d;
            let burst = out.interval().saturating_mul(u64::from(out.count()));
            if a.verify.is_none() {
                let l = cx.loc(v.span());
                cx.diags.push(Diagnostic::warning(
                    Some(l),
                    "announce.verify_limit",
                    "has no effect without verify (no target to check)",
                ));
            } else if d < burst {
                let l = cx.loc(v.span());
                cx.diags.push(Diagnostic::warning(
                    Some(l),
                    "announce.verify_limit",
                    format!(
                        "{d} ends the check before the start's {} announcements ({burst}) are sent",
                        out.count()
                    ),
                ));
            }
        }
    }
    if let Some(v) = &a.dad {
        if matches!(v.get_ref(), TomlDuration::Text(s) if s.trim() == "off") {
            out.dad = None;
        } else {
            out.dad = bounded(cx, "announce.dad", v, DAD);
        }
    }
    if let Some(v) = &a.na_router {
        out.na_router = *v.get_ref();
    }
    // A target checks addresses of its own family only (ARP or neighbour
    // solicitation): one with none of them in any group is never asked.
    let resources = || cfg.groups.iter().flat_map(|g| &g.resources);
    let v6 = resources().any(crate::config::agents::is_ipv6_address);
    let v4 = resources().any(|r| {
        matches!(r.name.as_str(), "IPaddr" | "IPaddr2")
            && !crate::config::agents::is_ipv6_address(r)
    });
    if let (Some(v), false) = (&a.verify, cfg.groups.is_empty()) {
        for t in &out.verify {
            let (family, none) = match t {
                VerifyTarget::Addr(IpAddr::V4(_)) => ("IPv4", !v4),
                VerifyTarget::Addr(IpAddr::V6(_)) => ("IPv6", !v6),
                VerifyTarget::Gateway => continue,
            };
            if none {
                let l = cx.loc(v.span());
                cx.diags.push(Diagnostic::warning(
                    Some(l),
                    "announce.verify",
                    format!("{t} checks {family} floating addresses and no group has one: it is never asked"),
                ));
            }
        }
    }
    let addresses =
        resources().any(|r| matches!(r.name.as_str(), "IPaddr" | "IPaddr2" | "IPv6addr"));
    if !addresses && !cfg.groups.is_empty() {
        let l = cx.loc(t.span());
        cx.diags.push(Diagnostic::warning(
            Some(l),
            "announce",
            "no group has an IPaddr, IPaddr2 or IPv6addr resource: nothing will be announced",
        ));
    }
    cfg.hbd.announce = out;
}
