//! Medians, the comparison table and BENCHMARKS.md.
use crate::measure::{Cell, Phases, HBD_ADVERT};
use std::fmt::Write as _;
use std::process::Command;

pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let lo = v.iter().copied().reduce(f64::min)?;
    let hi = v.iter().copied().reduce(f64::max)?;
    Some((lo, hi))
}

/// `1234 (1200–1300) n=10`, or why there is no figure.
fn show(cell: Option<&Cell>, v: &[f64], digits: usize) -> String {
    let Some(cell) = cell else {
        return "not run".into();
    };
    if let Some(r) = &cell.refused {
        return format!("refused ({})", short(r));
    }
    match (median(v), min_max(v)) {
        (Some(m), Some((lo, hi))) if v.len() > 1 => {
            format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$}) n={}", v.len())
        }
        (Some(m), _) => format!("{m:.digits$} n=1"),
        _ if cell.failures.is_empty() => "—".into(),
        _ => format!("failed ({})", short(&cell.failures[0])),
    }
}

fn short(s: &str) -> String {
    let s = s.replace('|', "/").replace('\n', " ");
    if s.chars().count() > 90 {
        format!("{}…", s.chars().take(90).collect::<String>())
    } else {
        s
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        // A ratio of a negative overhead (the service came back before the
        // configured detection time had passed since the fault) means nothing.
        (Some(a), Some(b)) if a > 0.0 && b > f64::EPSILON => format!("{:.2}", a / b),
        _ => "—".into(),
    }
}

/// One figure of a cell.
type Value = fn(&Cell) -> f64;

/// The metrics of the table: name, unit digits, whether only hbd has it,
/// and how to get the values.
type Getter = fn(&Cell) -> Vec<f64>;
const METRICS: [(&str, usize, bool, Getter); 7] = [
    ("crash → service (ms)", 0, false, |c| c.crash_ms.clone()),
    ("link cut → service (ms)", 0, false, |c| c.cut_ms.clone()),
    ("takeover overhead (ms)", 0, false, |c| {
        c.crash_ms.iter().map(|t| t - c.detection_ms).collect()
    }),
    (
        "hbd's own share of a takeover (ms; crash and cut runs)",
        1,
        true,
        own_shares,
    ),
    ("planned switchover (ms)", 0, false, |c| c.switch_ms.clone()),
    ("idle CPU (s/hour per node)", 2, false, |c| {
        c.idle_cpu_s_per_h.into_iter().collect()
    }),
    ("idle RSS (MiB per node)", 1, false, |c| {
        c.idle_rss_kib.map(|k| k / 1024.0).into_iter().collect()
    }),
];

/// hbd's own share of each profiled takeover, crash and cut runs together.
pub fn own_shares(c: &Cell) -> Vec<f64> {
    c.phases
        .iter()
        .chain(&c.cut_phases)
        .filter_map(Phases::own_share)
        .collect()
}

/// The columns of the main table (daemon key, heading) and the ratios
/// (numerator, denominator, heading) that this run's cells fill.
type Columns = (
    Vec<(&'static str, &'static str)>,
    Vec<(&'static str, &'static str, &'static str)>,
);

fn columns(cells: &[Cell]) -> Columns {
    let advert = cells.iter().any(|c| c.daemon == HBD_ADVERT);
    let mut cols = vec![("hbd", "hbd")];
    let mut ratios = vec![
        ("hbd", "heartbeat", "hbd/heartbeat"),
        ("hbd", "keepalived", "hbd/keepalived"),
    ];
    if advert {
        cols.push((HBD_ADVERT, "hbd at keepalived's interval"));
        ratios.push((
            HBD_ADVERT,
            "keepalived",
            "hbd at keepalived's interval/keepalived",
        ));
    }
    cols.push(("heartbeat", "heartbeat 3.0.6"));
    cols.push(("keepalived", "keepalived"));
    (cols, ratios)
}

/// The table in Markdown (also printed to the terminal).
pub fn table(cells: &[Cell], settings: &[String]) -> String {
    let find = |d: &str, s: &str| cells.iter().find(|c| c.daemon == d && c.setting == s);
    let (cols, ratios) = columns(cells);
    let mut t = String::from("| keepalive/deadtime | metric |");
    for (_, head) in &cols {
        let _ = write!(t, " {head} |");
    }
    for (_, _, head) in &ratios {
        let _ = write!(t, " {head} |");
    }
    t += "\n|---|---|";
    t += &"---|".repeat(cols.len() + ratios.len());
    t += "\n";
    for s in settings {
        for (name, digits, hbd_only, get) in METRICS {
            let vals = |d: &str| find(d, s).map(get).unwrap_or_default();
            let usable = |d: &str| find(d, s).is_some_and(|c| c.refused.is_none());
            let med = |d: &str| if usable(d) { median(&vals(d)) } else { None };
            let _ = write!(t, "| {s} | {name} |");
            for (d, _) in &cols {
                let shown = if hbd_only && !d.starts_with("hbd") {
                    "—".to_string()
                } else {
                    show(find(d, s), &vals(d), digits)
                };
                let _ = write!(t, " {shown} |");
            }
            for (a, b, _) in &ratios {
                let r = if hbd_only {
                    "—".into()
                } else {
                    ratio(med(a), med(b))
                };
                let _ = write!(t, " {r} |");
            }
            t += "\n";
        }
        let rows: [(&str, Value); 2] = [
            ("heartbeat interval (ms; keepalived: advert)", |c| {
                c.interval_ms
            }),
            ("configured detection (ms)", |c| c.detection_ms),
        ];
        for (name, get) in rows {
            let _ = write!(t, "| {s} | {name} |");
            for (d, _) in &cols {
                let v = find(d, s)
                    .map(get)
                    .filter(|v| *v > 0.0)
                    .map(|v| format!("{v:.0}"))
                    .unwrap_or_else(|| "—".into());
                let _ = write!(t, " {v} |");
            }
            t += &" |".repeat(ratios.len());
            t += "\n";
        }
    }
    t
}

/// The `ipv6` mode's table: crash (and other faults) to service over IPv6,
/// with hbd's convergence next to it.
pub fn ipv6_table(cells: &[Cell], settings: &[String]) -> String {
    let find = |d: &str, s: &str| cells.iter().find(|c| c.daemon == d && c.setting == s);
    const ROWS: [(&str, Getter); 6] = [
        ("crash → service (ms)", |c| c.crash_ms.clone()),
        ("hbd: clients converged, from the fault (ms)", |c| {
            c.converge_fault_ms.clone()
        }),
        (
            "hbd: clients converged, as hbd reports it (ms after the address's start)",
            |c| c.converge_ms.clone(),
        ),
        ("link cut → service (ms)", |c| c.cut_ms.clone()),
        ("takeover overhead (ms)", |c| {
            c.crash_ms.iter().map(|t| t - c.detection_ms).collect()
        }),
        ("planned switchover (ms)", |c| c.switch_ms.clone()),
    ];
    let mut t = String::new();
    t += "| keepalive/deadtime | metric | hbd | keepalived | heartbeat 3.0.6 | hbd/keepalived |\n";
    t += "|---|---|---|---|---|---|\n";
    for s in settings {
        for (name, get) in ROWS {
            let vals = |d: &str| find(d, s).map(get).unwrap_or_default();
            let (h, ka, hb) = (vals("hbd"), vals("keepalived"), vals("heartbeat"));
            // A fault not injected in this run has no row.
            if [&h, &ka, &hb].iter().all(|v| v.is_empty())
                && !name.starts_with("crash")
                && !name.starts_with("hbd:")
            {
                continue;
            }
            let usable = |d: &str| find(d, s).is_some_and(|c| c.refused.is_none());
            let med = |d: &str, v: &[f64]| if usable(d) { median(v) } else { None };
            let hbd_only = name.starts_with("hbd:");
            let other = |d: &str, v: &[f64]| {
                if hbd_only {
                    "—".to_string()
                } else {
                    show(find(d, s), v, 0)
                }
            };
            let _ = writeln!(
                t,
                "| {s} | {name} | {} | {} | {} | {} |",
                show(find("hbd", s), &h, 0),
                other("keepalived", &ka),
                other("heartbeat", &hb),
                if hbd_only {
                    "—".to_string()
                } else {
                    ratio(med("hbd", &h), med("keepalived", &ka))
                },
            );
        }
        let det = |d: &str| {
            find(d, s)
                .map(|c| format!("{:.0}", c.detection_ms))
                .unwrap_or_else(|| "—".into())
        };
        let _ = writeln!(
            t,
            "| {s} | configured detection (ms) | {} | {} | {} | |",
            det("hbd"),
            det("keepalived"),
            det("heartbeat")
        );
    }
    t
}

/// What the `ipv6` table shows and how each daemon was set up.
pub fn ipv6_intro(o: &crate::Opts, verify: &[String]) -> String {
    format!(
        "The floating address is `{addr}/64` on the service LAN (2001:db8:2::/64, the \
         nodes `::1` and `::2`, the client `::10`), the service `hbweb` on `[{addr}]:{port}`. \
         The client sends a GET every {p} ms ({to} ms timeout) over IPv6; a time is from the \
         fault to the first answer from the survivor. \
         hbd runs `IPv6addr::{long}/64/svc0` (built in: `nodad`, unsolicited neighbour \
         advertisements with the override flag, the default 5 × 200 ms) on `hbd migrate`'s \
         hbd.toml with `[hbd.announce] verify = [{targets}]`; its heartbeats stay on IPv4 ucast \
         and the serial cable, as in the main table. \
         keepalived 2.2.7 runs a native IPv6 VRRPv3 instance (the VIP `{addr}/64 dev svc0` in \
         `virtual_ipaddress` makes the instance IPv6, keepalived.conf(5); unicast to the peer's \
         IPv6 address on `hb0`), otherwise configured as in the main table. heartbeat 3.0.6 is \
         not in the default: with its own `IPv6addr` (resource-agents) it did not take over \
         after the crash in this lab (docs/benchmarks.md, \"An IPv6 floating address\").\n\n\
         \"Clients converged\" is hbd's own check (`hbd status --json`, `convergence`): the \
         survivor sends neighbour solicitations from the floating address to the targets and \
         counts until each answered, from the moment the address's start succeeded; \"from the \
         fault\" adds the time of that start in the survivor's log. keepalived has no such check.\n\n",
        addr = crate::family::FLOATING6_SHORT,
        long = crate::family::FLOATING6,
        port = crate::cluster::PORT,
        p = o.probe_ms,
        to = o.probe_timeout_ms,
        targets = verify
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// hbd's takeover profile: median of each phase over the crash runs and
/// over the link cut runs, with hbd's own share.
pub fn profile(cells: &[Cell]) -> String {
    let mut t = String::new();
    let hbd: Vec<&Cell> = cells
        .iter()
        .filter(|c| {
            c.daemon.starts_with("hbd") && !(c.phases.is_empty() && c.cut_phases.is_empty())
        })
        .collect();
    if hbd.is_empty() {
        return "No hbd takeover was profiled in this run.\n".into();
    }
    t += "Median over the runs, ms after the fault (from hbd's log lines on the survivor, stamped as they arrive on its stderr, and the client's `ip monitor neigh`). \
          \"In starts\" is the time inside the resources' start commands before the first answer, \
          \"after the starts\" the time from the end of the last start to the first answer (the client's next GET and the service's reply), \
          \"answering GET\" how long the GET that got the first answer took (connect, request, reply), \
          and hbd's own share is dead → answer minus the time in starts (so it includes the time after the starts; docs/benchmarks.md):\n\n";
    t += "| keepalive/deadtime | fault | peer declared dead | IPaddr start | IPaddr done | client ARP updated | hbweb start | hbweb done | first answer | dead → answer | in starts | after the starts | answering GET | hbd's own share |\n";
    t += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for c in hbd {
        let setting = if c.daemon == HBD_ADVERT {
            format!("{} (hbd at {:.0}ms)", c.setting, c.interval_ms)
        } else {
            c.setting.clone()
        };
        for (fault, phases) in [("crash", &c.phases), ("link cut", &c.cut_phases)] {
            if phases.is_empty() {
                continue;
            }
            let col = |f: &dyn Fn(&Phases) -> Option<f64>| {
                let v: Vec<f64> = phases.iter().filter_map(f).collect();
                median(&v)
                    .map(|m| format!("{m:.1}"))
                    .unwrap_or_else(|| "not seen".into())
            };
            let _ = writeln!(
                t,
                "| {setting} | {fault} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                col(&|p| p.dead),
                col(&|p| p.ip_start),
                col(&|p| p.ip_done),
                col(&|p| p.client_arp),
                col(&|p| p.svc_start),
                col(&|p| p.svc_done),
                col(&|p| p.answer),
                col(&|p| Some(p.answer? - p.dead?)),
                col(&Phases::in_starts),
                col(&Phases::after_starts),
                col(&Phases::answering_get),
                col(&Phases::own_share),
            );
        }
    }
    t
}

fn cmd_out(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| {
            let s = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            s.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// Machine, versions and date, as Markdown bullet points.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let pkg = |p: &str| cmd_out("dpkg-query", &["-W", "-f", "${Version}", p]);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "- date: {}",
        cmd_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(
        s,
        "- machine: {} CPUs (`nproc`), {cpu}",
        cmd_out("nproc", &[])
    );
    let _ = writeln!(s, "- kernel: {}", cmd_out("uname", &["-sr"]));
    let _ = writeln!(
        s,
        "- hbd {} (commit {}), release build",
        env!("CARGO_PKG_VERSION"),
        cmd_out("git", &["rev-parse", "--short", "HEAD"])
    );
    let _ = writeln!(s, "- heartbeat (Debian package) {}", pkg("heartbeat"));
    let _ = writeln!(s, "- keepalived (Debian package) {}", pkg("keepalived"));
    let _ = writeln!(
        s,
        "- load average at the end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    s
}

/// The targets for hbd, each with what this run measured and the
/// verdict (met, or missed by how much).
pub fn targets(cells: &[Cell]) -> String {
    let find = |d: &str, s: &str| {
        cells
            .iter()
            .find(|c| c.daemon == d && c.setting == s && c.refused.is_none())
    };
    let med = |d: &str, s: &str, f: fn(&Cell) -> Vec<f64>| find(d, s).and_then(|c| median(&f(c)));
    let crash: fn(&Cell) -> Vec<f64> = |c| c.crash_ms.clone();
    let mut t = String::new();
    t += "| target | measured (hbd, medians) | verdict |\n|---|---|---|\n";
    let mut row = |target: String, measured: String, verdict: String| {
        let _ = writeln!(t, "| {target} | {measured} | {verdict} |");
    };
    let verdict = |value: Option<f64>, limit: f64, unit: &str| match value {
        None => "not measured".to_string(),
        Some(v) if v <= limit => "met".to_string(),
        Some(v) if unit.contains("ratio") => format!("**missed** by {:.2}{unit}", v - limit),
        Some(v) => format!("**missed** by {:.1}{unit}", v - limit),
    };
    let mut settings: Vec<&str> = cells
        .iter()
        .filter(|c| c.daemon == "hbd")
        .map(|c| c.setting.as_str())
        .collect();
    settings.dedup();
    for s in &settings {
        let Some(c) = find("hbd", s) else { continue };
        let m = median(&c.crash_ms);
        row(
            format!("crash → service ≤ deadtime + 30 ms at {s}"),
            m.map(|v| format!("{v:.0} ms (deadtime {:.0} ms)", c.detection_ms))
                .unwrap_or_else(|| "—".into()),
            verdict(m, c.detection_ms + 30.0, " ms"),
        );
    }
    let r = |s: &str| Some(med("hbd", s, crash)? / med("heartbeat", s, crash)?);
    row(
        "crash → service at 200ms/1s ≤ half of heartbeat's".into(),
        r("200ms/1s")
            .map(|v| format!("hbd/heartbeat {v:.2}"))
            .unwrap_or_else(|| "—".into()),
        verdict(r("200ms/1s"), 0.5, " (ratio)"),
    );
    let k = (|| Some(med("hbd", "20ms/100ms", crash)? / med("keepalived", "20ms/100ms", crash)?))();
    row(
        "crash → service at 20ms/100ms no slower than keepalived".into(),
        k.map(|v| format!("hbd/keepalived {v:.2}"))
            .unwrap_or_else(|| "—".into()),
        verdict(k, 1.0, " (ratio)"),
    );
    for s in &settings {
        let Some(c) = find("hbd", s) else { continue };
        let gap: Vec<f64> = c
            .phases
            .iter()
            .filter_map(|p| Some(p.answer? - p.dead?))
            .collect();
        let m = median(&gap);
        row(
            format!("takeover overhead ≤ 10 ms at {s} (peer declared dead → first answer)"),
            m.map(|v| format!("{v:.1} ms"))
                .unwrap_or_else(|| "—".into()),
            verdict(m, 10.0, " ms"),
        );
    }
    for s in &settings {
        let Some(c) = find("hbd", s) else { continue };
        let m = median(&own_shares(c));
        row(
            format!("hbd's own share of a takeover ≤ 2 ms at {s} (dead → first answer minus the start commands; crash and cut runs)"),
            m.map(|v| format!("{v:.1} ms")).unwrap_or_else(|| "—".into()),
            verdict(m, 2.0, " ms"),
        );
    }
    // Issue 18: no slower than keepalived at the same detection time and
    // the same interval (the extra column; hbd's D/5 when it is missing).
    let at_advert = cells.iter().any(|c| c.daemon == HBD_ADVERT);
    let (who, how) = if at_advert {
        (HBD_ADVERT, "hbd at keepalived's interval")
    } else {
        (
            "hbd",
            "hbd at keepalive D/5: no interval column in this run",
        )
    };
    let cut: fn(&Cell) -> Vec<f64> = |c| c.cut_ms.clone();
    for s in &settings {
        for (what, get) in [("crash", crash), ("link cut", cut)] {
            let (h, k) = (med(who, s, get), med("keepalived", s, get));
            row(
                format!("{what} → service ≤ keepalived's at {s} ({how})"),
                match (h, k) {
                    (Some(h), Some(k)) => format!("{h:.0} vs {k:.0} ms (ratio {:.2})", h / k),
                    _ => "—".into(),
                },
                match (h, k) {
                    (Some(h), Some(k)) => verdict(Some(h), k, " ms"),
                    _ => "not measured".into(),
                },
            );
        }
    }
    for s in &settings {
        let c = |d: &str| find(d, s).and_then(|c| c.idle_cpu_s_per_h);
        row(
            format!("idle CPU per node ≤ keepalived's at {s}"),
            match (c("hbd"), c("keepalived")) {
                (Some(a), Some(b)) => format!("{a:.2} vs {b:.2} CPU s/h (ratio {:.2})", a / b),
                _ => "—".into(),
            },
            match (c("hbd"), c("keepalived")) {
                (Some(a), Some(b)) => verdict(Some(a), b, " CPU s/h"),
                _ => "not measured".into(),
            },
        );
    }
    let rss = settings
        .iter()
        .filter_map(|s| find("hbd", s).and_then(|c| c.idle_rss_kib))
        .reduce(f64::max)
        .map(|k| k / 1024.0);
    row(
        "RSS ≤ 5 MiB per node at every setting (the largest)".into(),
        rss.map(|v| format!("{v:.1} MiB per node"))
            .unwrap_or_else(|| "—".into()),
        verdict(rss, 5.0, " MiB"),
    );
    let cpu = |d: &str| find(d, "200ms/1s").and_then(|c| c.idle_cpu_s_per_h);
    let cr = cpu("hbd").zip(cpu("heartbeat")).map(|(a, b)| a / b);
    row(
        "idle CPU at 200 ms keepalive ≤ 1/5 of heartbeat's".into(),
        match (cpu("hbd"), cpu("heartbeat")) {
            (Some(a), Some(b)) => format!("{a:.2} vs {b:.2} CPU s/h per node (ratio {:.2})", a / b),
            _ => "—".into(),
        },
        verdict(cr, 0.2, " (ratio)"),
    );
    t
}
