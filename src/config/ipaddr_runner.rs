//! Who runs an `IPaddr`/`IPaddr2` resource with an IPv4 address: hbd's
//! built-in address (src/shell/ipaddr.rs) or the agent script. With
//! `[hbd] builtin_ipaddr = "auto"` (the default) the built-in address runs
//! only where it does exactly what hbd's own agent (resource.d/IPaddr,
//! IPaddr2) would do with those arguments on this host: the same address,
//! prefix, interface, alias label and broadcast, the same gratuitous ARP
//! (count, spacing, request or reply) and the same answers. Everything the
//! two implementations do differently is listed in [`differences`]; each is a
//! reason to run the script. Pure: what the host has (which script the search
//! path finds, what `hbd-agents.conf` says) comes in as values, read by
//! `facts::ipaddr_runner`.

use super::agents::{self, parse_ip};
use super::model::{Announce, BuiltinIpaddr, Resource};
use std::path::PathBuf;

/// Who runs the resource, and why, for `hbd check` and the logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub builtin: bool,
    pub why: String,
    /// The script the search path finds, if any (what runs when not built in).
    pub script: Option<PathBuf>,
}

/// The script the search path finds for `IPaddr`/`IPaddr2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Agent {
    /// hbd's own agent, byte for byte this build's (with the shell function
    /// files it sources): what the built-in address reproduces.
    Hbd(PathBuf),
    /// Some other script (heartbeat's, a local one, an older hbd's).
    Other(PathBuf),
    /// None: the script path cannot run it at all.
    Missing,
}

/// `$HA_DIR/hbd-agents.conf` as the agents read it (`hbd_load_conf` in
/// resource.d/.hbd-functions): `HBD_NAME=value` lines, the first of a name
/// wins, lines the agents ignore are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentsConf {
    pub file: PathBuf,
    /// (line, name, value), in file order.
    pub knobs: Vec<(usize, String, String)>,
    /// Why the agents refuse the whole file (and fail), if they do.
    pub refused: Option<String>,
}

impl AgentsConf {
    /// Parses the file's text with the agents' rules.
    pub fn parse(file: PathBuf, text: &str) -> AgentsConf {
        let mut knobs: Vec<(usize, String, String)> = Vec::new();
        // Lines end at \n only: `read` keeps a \r, whose value the agents refuse.
        for (i, line) in text.split('\n').enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let name_ok = key.len() > 4
                && key.starts_with("HBD_")
                && key[4..]
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            let value_ok = value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_./-".contains(&b));
            if name_ok && value_ok && !knobs.iter().any(|(_, k, _)| k == key) {
                knobs.push((i + 1, key.to_string(), value.to_string()));
            }
        }
        AgentsConf {
            file,
            knobs,
            refused: None,
        }
    }

    fn get(&self, name: &str) -> Option<(usize, &str)> {
        self.knobs
            .iter()
            .find(|(_, k, _)| k == name)
            .map(|(l, _, v)| (*l, v.as_str()))
    }
}

/// A number as the agents' `hbd_uint_env` reads it: empty is the default;
/// digits only, at most 9 of them, and (the shell's arithmetic) a leading 0
/// makes it octal.
fn shell_uint(v: &str, default: u32) -> Option<u32> {
    if v.is_empty() {
        return Some(default);
    }
    if v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if v.len() > 1 && v.starts_with('0') {
        return u32::from_str_radix(v, 8).ok();
    }
    v.parse().ok()
}

/// The prefix of `ip/cidr…` when hbd's agent dies on it: its
/// `$((HBD_CIDR + 0))` reads `08` and `09` as bad octal numbers (dash), while
/// `01`-`07` mean what they say and the built-in address reads all of them
/// as decimal.
pub fn octal_prefix(arg: &str) -> Option<&str> {
    let cidr = arg.split('/').nth(1)?;
    matches!(cidr.as_bytes(), [b'0', b'8' | b'9']).then_some(cidr)
}

/// Whether `r` is a resource this module decides for: `IPaddr`/`IPaddr2`
/// with an IPv4 address (IPv6 addresses are always built in: hbd has no
/// script for them).
pub fn applies(r: &Resource) -> bool {
    matches!(r.name.as_str(), "IPaddr" | "IPaddr2") && !agents::is_ipv6_address(r)
}

/// Everything hbd's agent would do differently from the built-in address
/// for `r` on a host where `agent` is the script found and `conf` the
/// agents' env file; empty when the built-in address reproduces it exactly.
pub fn differences(
    r: &Resource,
    announce: &Announce,
    agent: &Agent,
    conf: &AgentsConf,
) -> Vec<String> {
    let mut out = Vec::new();
    match agent {
        Agent::Hbd(_) | Agent::Missing => {}
        Agent::Other(_) => out.push(format!(
            "not hbd's own {} agent (heartbeat's, a local or an older hbd's): the built-in address stands in for hbd's only",
            r.name
        )),
    }
    match r.args.as_slice() {
        [arg] => match parse_ip(arg) {
            Ok(spec) => {
                if let Some(cidr) = octal_prefix(arg) {
                    out.push(format!(
                        "prefix {cidr:?}: the agent's shell reads it as an octal number and fails"
                    ));
                }
                if let Some(n) = spec.nic.as_deref().filter(|n| n.contains('@')) {
                    out.push(format!(
                        "interface {n:?}: the agent reads interface names from `ip -o addr` only up to '@', so it would not find the address on it"
                    ));
                }
            }
            Err(why) => out.push(format!(
                "the agent refuses the argument itself ({why}), with its own message and exit code"
            )),
        },
        args => out.push(format!(
            "{} arguments: the agent answers with its usage and exit code",
            args.len()
        )),
    }
    let at = |line: usize| format!("{}:{line}", conf.file.display());
    if let Some(why) = &conf.refused {
        out.push(format!(
            "{}: the agents refuse this file ({why}) and fail",
            conf.file.display()
        ));
    }
    if let Some((l, v)) = conf
        .get("HBD_ARP_MODE")
        .filter(|(_, v)| !["", "request"].contains(v))
    {
        out.push(format!(
            "{}: HBD_ARP_MODE={v}: the built-in address announces with ARP requests only",
            at(l)
        ));
    }
    if let Some((l, v)) = conf
        .get("HBD_ARP_BACKGROUND")
        .filter(|(_, v)| !["", "yes"].contains(v))
    {
        out.push(format!(
            "{}: HBD_ARP_BACKGROUND={v}: the agent's start waits for its whole burst",
            at(l)
        ));
    }
    // hbd.toml's [hbd.announce] count/interval reach the agent as its
    // environment, which wins over the file; the built-in address takes them
    // from there too.
    let knobs = [
        (
            "HBD_ARP_COUNT",
            announce.count.is_some(),
            Announce::DEFAULT_COUNT,
            "count",
        ),
        (
            "HBD_ARP_INTERVAL_MS",
            announce.interval.is_some(),
            Announce::DEFAULT_INTERVAL.millis() as u32,
            "interval",
        ),
    ];
    for (name, overridden, default, key) in knobs {
        if overridden {
            continue;
        }
        if let Some((l, v)) = conf
            .get(name)
            .filter(|(_, v)| shell_uint(v, default) != Some(default))
        {
            out.push(format!(
                "{}: {name}={v}: only the agent reads it ([hbd.announce] {key} sets both)",
                at(l)
            ));
        }
    }
    out
}

/// Who runs `r` under `mode`; None when `r` is not an IPv4 `IPaddr`/`IPaddr2`.
pub fn decide(
    mode: BuiltinIpaddr,
    r: &Resource,
    announce: &Announce,
    agent: &Agent,
    conf: &AgentsConf,
) -> Option<Choice> {
    if !applies(r) {
        return None;
    }
    let script = match agent {
        Agent::Hbd(p) | Agent::Other(p) => Some(p.clone()),
        Agent::Missing => None,
    };
    let choice = |builtin, why: String| {
        Some(Choice {
            builtin,
            why,
            script: script.clone(),
        })
    };
    match mode {
        BuiltinIpaddr::Never => choice(false, "builtin_ipaddr = false".into()),
        BuiltinIpaddr::Always => {
            let d = differences(r, announce, agent, conf);
            if d.is_empty() {
                choice(true, "builtin_ipaddr = true".into())
            } else {
                choice(
                    true,
                    format!("builtin_ipaddr = true, although {}", d.join("; ")),
                )
            }
        }
        BuiltinIpaddr::Auto => {
            let d = differences(r, announce, agent, conf);
            if !d.is_empty() {
                return choice(false, d.join("; "));
            }
            match agent {
                Agent::Missing => choice(
                    true,
                    format!("no {} script on this host; the built-in address does what hbd's agent does", r.name),
                ),
                _ => choice(true, "does exactly what hbd's agent would".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, args: &[&str]) -> Resource {
        Resource {
            name: name.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn hbd() -> Agent {
        Agent::Hbd("/usr/lib/hbd/resource.d/IPaddr".into())
    }

    fn auto(res: &Resource, agent: &Agent, conf: &AgentsConf) -> Choice {
        decide(BuiltinIpaddr::Auto, res, &Announce::default(), agent, conf).expect("applies")
    }

    #[test]
    fn every_form_the_builtin_reproduces_runs_built_in() {
        let none = AgentsConf::default();
        for name in ["IPaddr", "IPaddr2"] {
            for arg in [
                "192.0.2.10",
                "192.0.2.10/24",
                "192.0.2.10/24/eth0",
                "192.0.2.10/255.255.255.0/eth0",
                "192.0.2.10/32/eth0",
                "192.0.2.10/07/eth0",
                "192.0.2.10/24/eth0:web",
                "192.0.2.10/24/eth0/192.0.2.255",
                "192.0.2.10/24/192.0.2.255/eth0",
                "192.0.2.10/24/192.0.2.255",
                "192.0.2.10//eth0.10",
            ] {
                let c = auto(&r(name, &[arg]), &hbd(), &none);
                assert!(c.builtin, "{name}::{arg}: {}", c.why);
            }
        }
        // No script at all: nothing else could run, the built-in does what
        // hbd's agent would.
        assert!(auto(&r("IPaddr", &["192.0.2.10"]), &Agent::Missing, &none).builtin);
    }

    #[test]
    fn forms_the_builtin_does_not_reproduce_run_the_script_and_say_why() {
        let none = AgentsConf::default();
        for (arg, why) in [
            ("192.0.2.10/08/eth0", "octal"),
            ("192.0.2.10/09", "octal"),
            ("192.0.2.10/0a", "refuses the argument"),
            ("192.0.2.10/24/eth0@x", "'@'"),
            ("192.0.2.10/24/eth0@x:web", "'@'"),
            ("192.0.2.10/33", "refuses the argument"),
            ("192.0.2.10/0.0.0.0", "refuses the argument"),
        ] {
            let c = auto(&r("IPaddr2", &[arg]), &hbd(), &none);
            assert!(!c.builtin, "{arg}");
            assert!(c.why.contains(why), "{arg}: {}", c.why);
        }
        for (arg, octal) in [
            ("192.0.2.10/08/eth0", Some("08")),
            ("192.0.2.10/09", Some("09")),
            ("192.0.2.10/07", None),
            ("192.0.2.10/0a", None),
            ("192.0.2.10/0:", None),
            ("192.0.2.10/8", None),
            ("192.0.2.10", None),
        ] {
            assert_eq!(octal_prefix(arg), octal, "{arg}");
        }
        let c = auto(&r("IPaddr", &["192.0.2.10", "lvs_support"]), &hbd(), &none);
        assert!(!c.builtin && c.why.contains("2 arguments"), "{}", c.why);
        let other = Agent::Other("/etc/ha.d/resource.d/IPaddr".into());
        let c = auto(&r("IPaddr", &["192.0.2.10/24/eth0"]), &other, &none);
        assert!(!c.builtin, "{c:?}");
        assert!(c.why.starts_with("not hbd's own IPaddr agent"), "{}", c.why);
        assert_eq!(c.script, Some("/etc/ha.d/resource.d/IPaddr".into()));
    }

    #[test]
    fn the_agents_env_file_decides_where_it_changes_the_announcement() {
        let res = r("IPaddr2", &["192.0.2.10/24/eth0"]);
        let conf = |text: &str| AgentsConf::parse("/etc/ha.d/hbd-agents.conf".into(), text);
        // Values equal to the built-in's, other agents' knobs, lines the
        // agents ignore: still built in.
        for text in [
            "",
            "# comment\nHBD_FSCK=no\n",
            "HBD_ARP_COUNT=5\nHBD_ARP_INTERVAL_MS=200\nHBD_ARP_MODE=request\nHBD_ARP_BACKGROUND=yes\n",
            "HBD_ARP_COUNT=005\nHBD_ARP_COUNT=3\n",
            "HBD_ARP_COUNT=\n",
            " HBD_ARP_COUNT=3\nHBD_ARP_COUNT=3;\nhbd_arp_count=3\n",
        ] {
            let c = auto(&res, &hbd(), &conf(text));
            assert!(c.builtin, "{text:?}: {}", c.why);
        }
        for (text, why) in [
            (
                "HBD_FSCK=no\nHBD_ARP_COUNT=3\n",
                "hbd-agents.conf:2: HBD_ARP_COUNT=3",
            ),
            ("HBD_ARP_COUNT=010\n", "HBD_ARP_COUNT=010"), // octal 8
            ("HBD_ARP_COUNT=five\n", "HBD_ARP_COUNT=five"),
            ("HBD_ARP_INTERVAL_MS=100\n", "[hbd.announce] interval"),
            ("HBD_ARP_MODE=reply\n", "requests only"),
            ("HBD_ARP_MODE=loud\n", "HBD_ARP_MODE=loud"),
            ("HBD_ARP_BACKGROUND=no\n", "whole burst"),
        ] {
            let c = auto(&res, &hbd(), &conf(text));
            assert!(!c.builtin, "{text:?}");
            assert!(c.why.contains(why), "{text:?}: {}", c.why);
        }
        // [hbd.announce] reaches the agent as its environment, which wins.
        let a = Announce {
            count: Some(3),
            interval: Some(crate::time::Duration::from_millis(100)),
            ..Announce::default()
        };
        let c = decide(
            BuiltinIpaddr::Auto,
            &res,
            &a,
            &hbd(),
            &conf("HBD_ARP_COUNT=7\nHBD_ARP_INTERVAL_MS=50\n"),
        )
        .unwrap();
        assert!(c.builtin, "{}", c.why);
        let mut refused = conf("");
        refused.refused = Some("owned by uid 1000".into());
        assert!(!auto(&res, &hbd(), &refused).builtin);
    }

    #[test]
    fn true_and_false_decide_alone_and_other_resources_are_not_ours() {
        let none = AgentsConf::default();
        let a = Announce::default();
        let odd = r("IPaddr2", &["192.0.2.10/08/eth0"]);
        let c = decide(BuiltinIpaddr::Always, &odd, &a, &hbd(), &none).unwrap();
        assert!(
            c.builtin && c.why.contains("although prefix \"08\""),
            "{}",
            c.why
        );
        let plain = r("IPaddr2", &["192.0.2.10/24/eth0"]);
        let c = decide(BuiltinIpaddr::Never, &plain, &a, &hbd(), &none).unwrap();
        assert!(!c.builtin && c.why == "builtin_ipaddr = false");
        for other in [
            r("IPv6addr", &["2001:db8:0:0:0:0:0:10/64/eth0"]),
            r("IPaddr2", &["2001:db8:0:0:0:0:0:10/64/eth0"]),
            r("Filesystem", &["/dev/sdb1", "/srv", "ext4"]),
        ] {
            assert_eq!(decide(BuiltinIpaddr::Auto, &other, &a, &hbd(), &none), None);
        }
    }
}
