//! `parse_str`: hbd.toml's text into a [`Config`], key by key and table by
//! table in the file's layout, with every diagnostic; the `[auth]` table and
//! the groups are read by `auth.rs` and `groups.rs`.

use super::auth::auth;
use super::groups::groups;
use super::value::parse_metrics_addr;
use super::{Ctx, File, MediumT, Source};
use crate::config::hacf::{apply_timing_defaults, baud_refusal, BAUD_RATES, FACILITIES};
use crate::config::media6;
use crate::config::model::{
    AutoFailback, BuiltinIpaddr, Config, Diagnostic, HbdOptions, Location, Logging, Medium, MsgFmt,
    PingNode, Redundancy, StonithHost, StopFailurePolicy,
};
use std::net::Ipv4Addr;
use std::path::PathBuf;

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
            if !crate::config::hacf::valid_node_name(&l) {
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
            _ => cx.error(b.span(), "baud", baud_refusal(b.get_ref())),
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
            MediumT::Ucast6 { dev, peer } => match media6::ucast6_peer(dev, peer) {
                Ok((peer, scope)) => Some(Medium::Ucast6 {
                    dev: dev.clone(),
                    peer,
                    scope,
                }),
                Err(why) => {
                    cx.error(span.clone(), "media", format!("ucast6 peer {why}"));
                    None
                }
            },
            MediumT::Mcast6 {
                dev,
                group,
                port,
                hops,
                loopback,
            } => {
                let parsed = media6::mcast6_group(group).and_then(|group| {
                    let port = u16::try_from(*port)
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("{port} is not a UDP port (expected 1 to 65535)"))?;
                    Ok(Medium::Mcast6 {
                        dev: dev.clone(),
                        group,
                        port,
                        hops: media6::mcast6_hops(*hops)?,
                        loopback: *loopback,
                    })
                });
                match parsed {
                    Ok(m) => Some(m),
                    Err(why) => {
                        cx.error(span.clone(), "media", format!("mcast6: {why}"));
                        None
                    }
                }
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
            .find_map(|a| crate::config::hacf::ping_host(a).err())
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
            match crate::config::model::syslog_tag_problem(tag.get_ref()) {
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
    groups(&mut cx, &mut cfg, &f.group);
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
        if let Some(r) = &h.redundancy {
            match r.get_ref().as_str() {
                "adaptive" => o.redundancy = Redundancy::Adaptive,
                "off" => o.redundancy = Redundancy::Off,
                other => cx.error(
                    r.span(),
                    "redundancy",
                    format!("{other:?} is not adaptive or off"),
                ),
            }
        }
        if let Some(b) = &h.builtin_ipaddr {
            match b.get_ref() {
                toml::Value::Boolean(true) => o.builtin_ipaddr = BuiltinIpaddr::Always,
                toml::Value::Boolean(false) => o.builtin_ipaddr = BuiltinIpaddr::Never,
                toml::Value::String(s) if s == "auto" => o.builtin_ipaddr = BuiltinIpaddr::Auto,
                other => cx.error(
                    b.span(),
                    "builtin_ipaddr",
                    format!(
                        "{other} is not accepted (expected true: always built in, false: always the IPaddr/IPaddr2 scripts, or \"auto\": built in where it does what the script would)"
                    ),
                ),
            }
            cfg.origins
                .insert("hbd.builtin_ipaddr".into(), cx.loc(b.span()));
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
        if let Some(a) = &h.announce {
            super::announce::announce(&mut cx, &mut cfg, a);
        }
    }
    apply_timing_defaults(&mut cfg);
    let ok = !cx.diags.iter().any(Diagnostic::is_error);
    (ok.then_some(cfg), cx.diags)
}
