//! `[[group]]` tables and their `[[group.monitor]]`s: the resource groups as
//! haresources lists them, and which of their resources are monitored how.

use super::value::format_duration;
use super::{Ctx, GroupT, MonitorT};
use crate::config::haresources::resource as parse_resource;
use crate::config::model::{Config, Monitor, MonitorCheck, OnFail, ResourceGroup};
use crate::time::Duration;
use toml::Spanned;

/// Every `[[group]]`, in file order, into `cfg.groups` (their monitors into
/// `cfg.hbd.monitors`); a group with an error is left out.
pub(super) fn groups(cx: &mut Ctx, cfg: &mut Config, groups: &[Spanned<GroupT>]) {
    for g in groups {
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
            if let Some(m) = monitor(cx, cfg, index, &group, m) {
                cfg.hbd.monitors.push(m);
            }
        }
        cfg.groups.push(group);
    }
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
