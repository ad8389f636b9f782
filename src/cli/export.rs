//! `hbd export pacemaker`: the path from a heartbeat v1 pair to Corosync +
//! Pacemaker without retyping resources. The `haresources` groups become a
//! CIB (`crm_verify --xml-file` accepts it) or the equivalent `pcs` commands.
//!
//! The mapping is a pure [`plan`] of the loaded [`Config`]; the two printers
//! only format it, so the XML and the `pcs` script cannot disagree.
use super::ConfigPath;
use hbd::config::{load, AutoFailback, Config, LoadOptions, Purpose, Resource};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Target {
    /// Pacemaker: a CIB XML document (`--format cib`) or `pcs` commands.
    Pacemaker(PacemakerArgs),
}

#[derive(clap::Args, Debug)]
pub struct PacemakerArgs {
    #[command(flatten)]
    pub config: ConfigPath,
    /// A configured node's name, when this host is not one (default: `uname -n`).
    #[arg(long)]
    pub node: Option<String>,
    /// `cib`: XML for `crm_verify --xml-file` / `cibadmin --replace`; `pcs`: a shell script.
    #[arg(long, value_enum, default_value = "cib")]
    pub format: Format,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Cib,
    Pcs,
}

/// Preference for a group's home node: any positive score makes it start
/// there when both nodes are up.
pub const HOME_SCORE: u32 = 100;
/// `auto_failback off`: larger than [`HOME_SCORE`] so a group stays where it
/// runs when its home node returns, but finite so `pcs resource move` (an
/// INFINITY preference) still wins.
pub const STICKY: u32 = 1000;

pub fn run(target: Target) -> ExitCode {
    let Target::Pacemaker(args) = target;
    let loaded = load(
        &args.config.path,
        &LoadOptions {
            node: args.node,
            purpose: Purpose::Portable,
        },
    );
    let Some(cfg) = &loaded.config else {
        for d in &loaded.diagnostics {
            eprintln!("{d}");
        }
        eprintln!(
            "hbd export: {} has errors; fix them first (`hbd check -c {}`; give --node NAME on a host that is not a cluster node)",
            args.config.path.display(),
            args.config.path.display()
        );
        return ExitCode::from(1);
    };
    let dirs = resource_dirs(&loaded.config_dir, cfg);
    let p = plan(cfg, |name| dirs.iter().any(|d| d.join(name).is_file()));
    for w in &p.warnings {
        eprintln!("hbd export: warning: {w}");
    }
    let source = args.config.path.display().to_string();
    match args.format {
        Format::Cib => print!("{}", to_cib(&p, &source)),
        Format::Pcs => print!("{}", to_pcs(&p, &source)),
    }
    ExitCode::SUCCESS
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub nodes: Vec<String>,
    /// (name, value, why)
    pub properties: Vec<(&'static str, String, String)>,
    pub stickiness: u32,
    pub stickiness_why: String,
    pub groups: Vec<Group>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub home: String,
    /// The haresources line, for the comment above it.
    pub line: String,
    pub members: Vec<Member>,
}

impl Group {
    fn primitives(&self) -> impl Iterator<Item = &Primitive> {
        self.members.iter().filter_map(|m| match m {
            Member::Primitive(p) => Some(p),
            Member::Unmapped { .. } => None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member {
    Primitive(Primitive),
    /// Kept as a comment in its place so the operator sees the gap.
    Unmapped {
        token: String,
        why: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Primitive {
    pub id: String,
    /// `ocf`, `lsb` or `systemd`.
    pub class: &'static str,
    pub provider: Option<&'static str>,
    pub kind: String,
    pub params: Vec<(&'static str, String)>,
}

impl Primitive {
    /// `ocf:heartbeat:IPaddr2`, `lsb:apache`, `systemd:nginx`.
    pub fn agent(&self) -> String {
        match self.provider {
            Some(p) => format!("{}:{p}:{}", self.class, self.kind),
            None => format!("{}:{}", self.class, self.kind),
        }
    }
}

/// Maps a configuration. `is_resource_script(name)` says whether `name` is a
/// script in one of the resource.d directories (heartbeat looks there before
/// /etc/init.d, so such a name is not an LSB service).
pub fn plan(cfg: &Config, is_resource_script: impl Fn(&str) -> bool) -> Plan {
    let mut ids = BTreeSet::new();
    let mut warnings = Vec::new();
    let mut groups = Vec::new();
    for g in &cfg.groups {
        let mut members = Vec::new();
        for r in &g.resources {
            match map_resource(r, &is_resource_script) {
                Ok(mut p) => {
                    p.id = unique(&mut ids, &p.id);
                    members.push(Member::Primitive(p));
                }
                Err(why) => {
                    warnings.push(format!(
                        "{}: {r}: {why}; left out of the group (a comment marks its place)",
                        g.location
                    ));
                    members.push(Member::Unmapped {
                        token: r.to_string(),
                        why,
                    });
                }
            }
        }
        let first = members.iter().find_map(|m| match m {
            Member::Primitive(p) => Some(p.id.clone()),
            Member::Unmapped { .. } => None,
        });
        let id = unique(
            &mut ids,
            &format!("grp-{}", first.as_deref().unwrap_or("empty")),
        );
        let line = std::iter::once(g.home.clone())
            .chain(g.resources.iter().map(|r| r.to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        if first.is_none() {
            warnings.push(format!(
                "{}: no resource of this group maps to Pacemaker; the group is left out",
                g.location
            ));
        }
        groups.push(Group {
            id,
            home: g.home.clone(),
            line,
            members,
        });
    }
    let (stickiness, stickiness_why) = match cfg.auto_failback {
        AutoFailback::Off => (
            STICKY,
            format!("auto_failback off: groups stay where they run ({STICKY} > home preference {HOME_SCORE})"),
        ),
        AutoFailback::On => (
            0,
            "auto_failback on: groups move back to their home node".to_string(),
        ),
        AutoFailback::Legacy => (
            0,
            "auto_failback legacy: groups move back to their home node (as on)".to_string(),
        ),
    };
    let stonith = !cfg.stonith_hosts.is_empty();
    if stonith {
        let hosts: Vec<String> = cfg
            .stonith_hosts
            .iter()
            // Not the parameters: they usually hold the fence device's password.
            .map(|s| format!("{} {}", s.host, s.kind))
            .collect();
        warnings.push(format!(
            "stonith_host is set ({}): stonith-enabled=true, and Pacemaker starts no resource until a fence device (pcs stonith create ...) is defined",
            hosts.join("; ")
        ));
    }
    let properties = vec![
        (
            "no-quorum-policy",
            "ignore".to_string(),
            "two nodes: the survivor of a peer failure has no majority and must still run the resources, as heartbeat did".to_string(),
        ),
        (
            "stonith-enabled",
            stonith.to_string(),
            if stonith {
                "heartbeat reset the dead peer (stonith_host) before taking over; keep fencing on and define the devices".to_string()
            } else {
                "heartbeat took over without fencing (no stonith_host); fencing stays off as before, but a two-node cluster without it risks both nodes active on a split".to_string()
            },
        ),
    ];
    Plan {
        nodes: cfg.nodes.clone(),
        properties,
        stickiness,
        stickiness_why,
        groups,
        warnings,
    }
}

fn map_resource(
    r: &Resource,
    is_resource_script: &dyn Fn(&str) -> bool,
) -> Result<Primitive, String> {
    let args = &r.args;
    let prim = |id: String, class, provider, kind: &str, params| Primitive {
        id,
        class,
        provider,
        kind: kind.to_string(),
        params,
    };
    match r.name.as_str() {
        // IPv6addr, and IPaddr2 with an IPv6 address: resource-agents has
        // both, with the same parameters under other names for the address.
        _ if hbd::config::agents::is_ipv6_address(r) => {
            let [spec] = args.as_slice() else {
                return Err(format!(
                    "{} takes one argument address[/prefix[/nic]] written out without `::`, not {}",
                    r.name,
                    args.len()
                ));
            };
            let s = hbd::config::agents::parse_ip6(spec)?;
            let key = if r.name == "IPv6addr" { "ipv6addr" } else { "ip" };
            let mut params = vec![(key, s.ip.to_string())];
            if let Some(p) = s.prefix {
                params.push(("cidr_netmask", p.to_string()));
            }
            if let Some(n) = s.nic {
                params.push(("nic", n));
            }
            Ok(prim(format!("ip-{}", s.ip), "ocf", Some("heartbeat"), &r.name, params))
        }
        "IPaddr" | "IPaddr2" => {
            let [spec] = args.as_slice() else {
                return Err(format!(
                    "{} takes one argument ip[/cidr[/nic[/broadcast]]], not {}",
                    r.name,
                    args.len()
                ));
            };
            let mut parts = spec.split('/');
            let ip = parts.next().unwrap_or_default();
            if ip.parse::<Ipv4Addr>().is_err() {
                return Err(format!("{ip:?} is not an IPv4 address"));
            }
            let mut params = vec![("ip", ip.to_string())];
            let rest: Vec<&str> = parts.collect();
            if rest.len() > 3 {
                return Err(format!("{spec:?} has more than ip/cidr/nic/broadcast"));
            }
            if let Some(mask) = rest.first() {
                params.push(("cidr_netmask", mask.to_string()));
            }
            // heartbeat accepts nic and broadcast in either order (§8.5).
            let (mut nic, mut bcast) = (rest.get(1).copied(), rest.get(2).copied());
            if nic.is_some_and(|n| n.parse::<Ipv4Addr>().is_ok()) {
                std::mem::swap(&mut nic, &mut bcast);
            }
            if let Some(n) = nic {
                params.push(("nic", n.to_string()));
            }
            if let Some(b) = bcast {
                params.push(("broadcast", b.to_string()));
            }
            Ok(prim(format!("ip-{ip}"), "ocf", Some("heartbeat"), "IPaddr2", params))
        }
        "Filesystem" => {
            if !(2..=4).contains(&args.len()) {
                return Err(format!(
                    "Filesystem takes device::directory[::fstype[::options]], not {} argument(s)",
                    args.len()
                ));
            }
            let names = ["device", "directory", "fstype", "options"];
            let params = names.iter().copied().zip(args.iter().cloned()).collect();
            Ok(prim(
                format!("fs-{}", args[1]),
                "ocf",
                Some("heartbeat"),
                "Filesystem",
                params,
            ))
        }
        "MailTo" => {
            if !(1..=2).contains(&args.len()) {
                return Err(format!(
                    "MailTo takes email[::subject], not {} argument(s)",
                    args.len()
                ));
            }
            let params = ["email", "subject"]
                .iter()
                .copied()
                .zip(args.iter().cloned())
                .collect();
            Ok(prim("mailto".into(), "ocf", Some("heartbeat"), "MailTo", params))
        }
        "service" => {
            let [unit] = args.as_slice() else {
                return Err(format!("service takes one unit name, not {}", args.len()));
            };
            let unit = unit.strip_suffix(".service").unwrap_or(unit);
            Ok(prim(format!("svc-{unit}"), "systemd", None, unit, vec![]))
        }
        name if is_resource_script(name) => Err(format!(
            "{name} is a resource.d script with no Pacemaker equivalent known to hbd (write an OCF agent, or install it as /etc/init.d/{name} and use lsb:{name})"
        )),
        name if !args.is_empty() => Err(format!(
            "{name} has arguments, which an LSB init script (lsb:{name}) cannot take"
        )),
        name => Ok(prim(name.to_string(), "lsb", None, name, vec![])),
    }
}

/// An XML ID pcs also accepts: a letter first, then letters, digits, `.`, `_`, `-`.
fn sanitize(raw: &str) -> String {
    let mut s = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '-'
        };
        if !(c == '-' && s.ends_with('-')) {
            s.push(c);
        }
    }
    let s = s.trim_matches('-').to_string();
    if s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s
    } else {
        format!("r-{s}")
    }
}

fn unique(ids: &mut BTreeSet<String>, raw: &str) -> String {
    let base = sanitize(raw);
    let mut id = base.clone();
    let mut n = 2;
    while !ids.insert(id.clone()) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// XML comments cannot hold `--`.
fn xml_comment(s: &str) -> String {
    let mut s = s.to_string();
    while s.contains("--") {
        s = s.replace("--", "- -");
    }
    s.trim_end_matches('-').to_string()
}

/// The CIB: properties, nodes, one group per haresources line with a
/// location preference for its home node, stickiness as a resource default.
pub fn to_cib(p: &Plan, source: &str) -> String {
    let mut x = String::new();
    let _ = writeln!(
        x,
        "<!-- hbd export pacemaker: the haresources groups of {} -->",
        xml_comment(source)
    );
    x.push_str("<cib crm_feature_set=\"3.0.14\" validate-with=\"pacemaker-3.0\" epoch=\"1\" num_updates=\"0\" admin_epoch=\"0\">\n");
    x.push_str("  <configuration>\n    <crm_config>\n      <cluster_property_set id=\"cib-bootstrap-options\">\n");
    for (name, value, why) in &p.properties {
        let _ = writeln!(x, "        <!-- {} -->", xml_comment(why));
        let _ = writeln!(
            x,
            "        <nvpair id=\"cib-bootstrap-options-{name}\" name=\"{name}\" value=\"{}\"/>",
            xml_attr(value)
        );
    }
    x.push_str("      </cluster_property_set>\n    </crm_config>\n");
    x.push_str("    <rsc_defaults>\n      <meta_attributes id=\"rsc-options\">\n");
    let _ = writeln!(x, "        <!-- {} -->", xml_comment(&p.stickiness_why));
    let _ = writeln!(
        x,
        "        <nvpair id=\"rsc-options-resource-stickiness\" name=\"resource-stickiness\" value=\"{}\"/>",
        p.stickiness
    );
    x.push_str("      </meta_attributes>\n    </rsc_defaults>\n");
    x.push_str("    <nodes>\n");
    for (i, n) in p.nodes.iter().enumerate() {
        let _ = writeln!(
            x,
            "      <node id=\"{}\" uname=\"{}\"/>",
            i + 1,
            xml_attr(n)
        );
    }
    x.push_str("    </nodes>\n    <resources>\n");
    for g in &p.groups {
        let _ = writeln!(x, "      <!-- haresources: {} -->", xml_comment(&g.line));
        if g.primitives().next().is_none() {
            let _ = writeln!(
                x,
                "      <!-- WARNING: nothing in this group maps to Pacemaker; left out -->"
            );
            continue;
        }
        let _ = writeln!(x, "      <group id=\"{}\">", g.id);
        for m in &g.members {
            match m {
                Member::Unmapped { token, why } => {
                    let _ = writeln!(
                        x,
                        "        <!-- WARNING: {} left out: {} -->",
                        xml_comment(token),
                        xml_comment(why)
                    );
                }
                Member::Primitive(pr) => write_primitive(&mut x, pr),
            }
        }
        x.push_str("      </group>\n");
    }
    x.push_str("    </resources>\n    <constraints>\n");
    for g in p.groups.iter().filter(|g| g.primitives().next().is_some()) {
        let _ = writeln!(
            x,
            "      <rsc_location id=\"loc-{id}-{home}\" rsc=\"{id}\" node=\"{home}\" score=\"{HOME_SCORE}\"/>",
            id = g.id,
            home = xml_attr(&g.home)
        );
    }
    x.push_str("    </constraints>\n  </configuration>\n  <status/>\n</cib>\n");
    x
}

fn write_primitive(x: &mut String, pr: &Primitive) {
    let provider = pr
        .provider
        .map(|p| format!(" provider=\"{p}\""))
        .unwrap_or_default();
    let _ = writeln!(
        x,
        "        <primitive id=\"{}\" class=\"{}\"{provider} type=\"{}\">",
        pr.id,
        pr.class,
        xml_attr(&pr.kind)
    );
    if !pr.params.is_empty() {
        let _ = writeln!(
            x,
            "          <instance_attributes id=\"{}-instance_attributes\">",
            pr.id
        );
        for (k, v) in &pr.params {
            let _ = writeln!(
                x,
                "            <nvpair id=\"{}-instance_attributes-{k}\" name=\"{k}\" value=\"{}\"/>",
                pr.id,
                xml_attr(v)
            );
        }
        x.push_str("          </instance_attributes>\n");
    }
    // heartbeat v1 never monitored a running resource; Pacemaker does, which
    // is the point of moving.
    let _ = writeln!(
        x,
        "          <operations>\n            <op id=\"{}-monitor-interval-30s\" name=\"monitor\" interval=\"30s\"/>\n          </operations>",
        pr.id
    );
    x.push_str("        </primitive>\n");
}

/// Single quotes unless the word is plainly safe for the shell.
fn sh(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The same configuration as `pcs` commands, for a cluster already set up
/// with `pcs cluster setup`.
pub fn to_pcs(p: &Plan, source: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "#!/bin/sh\n# hbd export pacemaker: the haresources groups of {source}\n\
         # Run on one node of a cluster created with: pcs cluster setup NAME {}\nset -e",
        p.nodes.join(" ")
    );
    for (name, value, why) in &p.properties {
        let _ = writeln!(
            s,
            "# {why}\npcs property set {}",
            sh(&format!("{name}={value}"))
        );
    }
    let _ = writeln!(
        s,
        "# {}\npcs resource defaults update resource-stickiness={}",
        p.stickiness_why, p.stickiness
    );
    for g in &p.groups {
        let _ = writeln!(s, "# haresources: {}", g.line);
        if g.primitives().next().is_none() {
            s.push_str("# WARNING: nothing in this group maps to Pacemaker; left out\n");
            continue;
        }
        for m in &g.members {
            match m {
                Member::Unmapped { token, why } => {
                    let _ = writeln!(s, "# WARNING: {token} left out: {why}");
                }
                Member::Primitive(pr) => {
                    let mut line = format!("pcs resource create {} {}", sh(&pr.id), pr.agent());
                    for (k, v) in &pr.params {
                        let _ = write!(line, " {}", sh(&format!("{k}={v}")));
                    }
                    let _ = writeln!(s, "{line} op monitor interval=30s --group {}", g.id);
                }
            }
        }
        let _ = writeln!(
            s,
            "pcs constraint location {} prefers {}",
            g.id,
            sh(&format!("{}={HOME_SCORE}", g.home))
        );
    }
    s
}

/// Where heartbeat would find a resource.d script before /etc/init.d.
pub fn resource_dirs(config_dir: &Path, cfg: &Config) -> Vec<PathBuf> {
    let mut dirs = vec![config_dir.join("resource.d")];
    dirs.extend(cfg.hbd.resource_dirs.iter().cloned());
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;
    use hbd::config::{ResourceGroup, StonithHost};

    fn cfg(haresources: &[(&str, &[&str])], failback: AutoFailback) -> Config {
        Config {
            nodes: vec!["alpha".into(), "beta".into()],
            auto_failback: failback,
            groups: haresources
                .iter()
                .map(|(home, res)| ResourceGroup {
                    home: home.to_string(),
                    resources: res
                        .iter()
                        .map(|t| hbd::config::haresources::resource(t).unwrap())
                        .collect(),
                    location: Default::default(),
                })
                .collect(),
            ..Config::default()
        }
    }

    fn sample() -> Config {
        cfg(
            &[
                (
                    "alpha",
                    &[
                        "192.0.2.10/24/eth0",
                        "Filesystem::/dev/sdb1::/srv/www::ext4",
                        "apache",
                    ],
                ),
                (
                    "beta",
                    &[
                        "IPaddr2::192.0.2.11/24/192.0.2.255/eth1",
                        "service::nginx.service",
                    ],
                ),
            ],
            AutoFailback::Off,
        )
    }

    #[test]
    fn cib_of_the_sample_is_exact() {
        let p = plan(&sample(), |_| false);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let want = r#"<!-- hbd export pacemaker: the haresources groups of /etc/ha.d -->
<cib crm_feature_set="3.0.14" validate-with="pacemaker-3.0" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <!-- two nodes: the survivor of a peer failure has no majority and must still run the resources, as heartbeat did -->
        <nvpair id="cib-bootstrap-options-no-quorum-policy" name="no-quorum-policy" value="ignore"/>
        <!-- heartbeat took over without fencing (no stonith_host); fencing stays off as before, but a two-node cluster without it risks both nodes active on a split -->
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="false"/>
      </cluster_property_set>
    </crm_config>
    <rsc_defaults>
      <meta_attributes id="rsc-options">
        <!-- auto_failback off: groups stay where they run (1000 > home preference 100) -->
        <nvpair id="rsc-options-resource-stickiness" name="resource-stickiness" value="1000"/>
      </meta_attributes>
    </rsc_defaults>
    <nodes>
      <node id="1" uname="alpha"/>
      <node id="2" uname="beta"/>
    </nodes>
    <resources>
      <!-- haresources: alpha IPaddr::192.0.2.10/24/eth0 Filesystem::/dev/sdb1::/srv/www::ext4 apache -->
      <group id="grp-ip-192.0.2.10">
        <primitive id="ip-192.0.2.10" class="ocf" provider="heartbeat" type="IPaddr2">
          <instance_attributes id="ip-192.0.2.10-instance_attributes">
            <nvpair id="ip-192.0.2.10-instance_attributes-ip" name="ip" value="192.0.2.10"/>
            <nvpair id="ip-192.0.2.10-instance_attributes-cidr_netmask" name="cidr_netmask" value="24"/>
            <nvpair id="ip-192.0.2.10-instance_attributes-nic" name="nic" value="eth0"/>
          </instance_attributes>
          <operations>
            <op id="ip-192.0.2.10-monitor-interval-30s" name="monitor" interval="30s"/>
          </operations>
        </primitive>
        <primitive id="fs-srv-www" class="ocf" provider="heartbeat" type="Filesystem">
          <instance_attributes id="fs-srv-www-instance_attributes">
            <nvpair id="fs-srv-www-instance_attributes-device" name="device" value="/dev/sdb1"/>
            <nvpair id="fs-srv-www-instance_attributes-directory" name="directory" value="/srv/www"/>
            <nvpair id="fs-srv-www-instance_attributes-fstype" name="fstype" value="ext4"/>
          </instance_attributes>
          <operations>
            <op id="fs-srv-www-monitor-interval-30s" name="monitor" interval="30s"/>
          </operations>
        </primitive>
        <primitive id="apache" class="lsb" type="apache">
          <operations>
            <op id="apache-monitor-interval-30s" name="monitor" interval="30s"/>
          </operations>
        </primitive>
      </group>
      <!-- haresources: beta IPaddr2::192.0.2.11/24/192.0.2.255/eth1 service::nginx.service -->
      <group id="grp-ip-192.0.2.11">
        <primitive id="ip-192.0.2.11" class="ocf" provider="heartbeat" type="IPaddr2">
          <instance_attributes id="ip-192.0.2.11-instance_attributes">
            <nvpair id="ip-192.0.2.11-instance_attributes-ip" name="ip" value="192.0.2.11"/>
            <nvpair id="ip-192.0.2.11-instance_attributes-cidr_netmask" name="cidr_netmask" value="24"/>
            <nvpair id="ip-192.0.2.11-instance_attributes-nic" name="nic" value="eth1"/>
            <nvpair id="ip-192.0.2.11-instance_attributes-broadcast" name="broadcast" value="192.0.2.255"/>
          </instance_attributes>
          <operations>
            <op id="ip-192.0.2.11-monitor-interval-30s" name="monitor" interval="30s"/>
          </operations>
        </primitive>
        <primitive id="svc-nginx" class="systemd" type="nginx">
          <operations>
            <op id="svc-nginx-monitor-interval-30s" name="monitor" interval="30s"/>
          </operations>
        </primitive>
      </group>
    </resources>
    <constraints>
      <rsc_location id="loc-grp-ip-192.0.2.10-alpha" rsc="grp-ip-192.0.2.10" node="alpha" score="100"/>
      <rsc_location id="loc-grp-ip-192.0.2.11-beta" rsc="grp-ip-192.0.2.11" node="beta" score="100"/>
    </constraints>
  </configuration>
  <status/>
</cib>
"#;
        let got = to_cib(&p, "/etc/ha.d");
        if got != want {
            for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
                assert_eq!(g, w, "line {}", i + 1);
            }
            assert_eq!(got, want);
        }
    }

    #[test]
    fn pcs_of_the_sample_is_exact() {
        let p = plan(&sample(), |_| false);
        let want = "#!/bin/sh
# hbd export pacemaker: the haresources groups of /etc/ha.d
# Run on one node of a cluster created with: pcs cluster setup NAME alpha beta
set -e
# two nodes: the survivor of a peer failure has no majority and must still run the resources, as heartbeat did
pcs property set no-quorum-policy=ignore
# heartbeat took over without fencing (no stonith_host); fencing stays off as before, but a two-node cluster without it risks both nodes active on a split
pcs property set stonith-enabled=false
# auto_failback off: groups stay where they run (1000 > home preference 100)
pcs resource defaults update resource-stickiness=1000
# haresources: alpha IPaddr::192.0.2.10/24/eth0 Filesystem::/dev/sdb1::/srv/www::ext4 apache
pcs resource create ip-192.0.2.10 ocf:heartbeat:IPaddr2 ip=192.0.2.10 cidr_netmask=24 nic=eth0 op monitor interval=30s --group grp-ip-192.0.2.10
pcs resource create fs-srv-www ocf:heartbeat:Filesystem device=/dev/sdb1 directory=/srv/www fstype=ext4 op monitor interval=30s --group grp-ip-192.0.2.10
pcs resource create apache lsb:apache op monitor interval=30s --group grp-ip-192.0.2.10
pcs constraint location grp-ip-192.0.2.10 prefers alpha=100
# haresources: beta IPaddr2::192.0.2.11/24/192.0.2.255/eth1 service::nginx.service
pcs resource create ip-192.0.2.11 ocf:heartbeat:IPaddr2 ip=192.0.2.11 cidr_netmask=24 nic=eth1 broadcast=192.0.2.255 op monitor interval=30s --group grp-ip-192.0.2.11
pcs resource create svc-nginx systemd:nginx op monitor interval=30s --group grp-ip-192.0.2.11
pcs constraint location grp-ip-192.0.2.11 prefers beta=100
";
        assert_eq!(to_pcs(&p, "/etc/ha.d"), want);
    }

    #[test]
    fn stickiness_follows_auto_failback() {
        let g: &[(&str, &[&str])] = &[("alpha", &["apache"])];
        assert_eq!(
            plan(&cfg(g, AutoFailback::Off), |_| false).stickiness,
            STICKY
        );
        assert_eq!(plan(&cfg(g, AutoFailback::On), |_| false).stickiness, 0);
        assert_eq!(plan(&cfg(g, AutoFailback::Legacy), |_| false).stickiness, 0);
    }

    #[test]
    fn stonith_host_turns_fencing_on_with_a_warning() {
        let mut c = cfg(&[("alpha", &["apache"])], AutoFailback::On);
        c.stonith_hosts.push(StonithHost {
            host: "*".into(),
            kind: "external/ipmi".into(),
            params: vec!["10.0.0.9".into()],
        });
        let p = plan(&c, |_| false);
        assert!(p
            .properties
            .iter()
            .any(|(n, v, _)| *n == "stonith-enabled" && v == "true"));
        assert!(
            p.warnings.iter().any(|w| w.contains("external/ipmi")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn custom_scripts_and_bad_arguments_are_left_out_with_a_warning() {
        let c = cfg(
            &[
                ("alpha", &["Dummy::x", "apache"]),
                (
                    "beta",
                    &[
                        "drbddisk::r0",
                        "IPaddr::192.0.2.9/24/eth0/192.0.2.255/extra",
                    ],
                ),
            ],
            AutoFailback::On,
        );
        let p = plan(&c, |n| n == "Dummy" || n == "drbddisk");
        assert_eq!(p.warnings.len(), 4, "{:?}", p.warnings);
        assert!(
            p.warnings[0].contains("Dummy::x: Dummy is a resource.d script"),
            "{}",
            p.warnings[0]
        );
        let cib = to_cib(&p, "x");
        assert!(cib.contains("<!-- WARNING: Dummy::x left out: "), "{cib}");
        // The first group keeps apache and is named after it.
        assert!(cib.contains("<group id=\"grp-apache\">"), "{cib}");
        // The second group has nothing left: no empty <group>, no constraint.
        assert!(cib.contains("<!-- WARNING: nothing in this group maps to Pacemaker; left out -->"));
        assert!(!cib.contains("rsc=\"grp-empty\""), "{cib}");
        let pcs = to_pcs(&p, "x");
        assert!(pcs.contains("# WARNING: Dummy::x left out: "), "{pcs}");
        assert!(!pcs.contains("grp-empty"), "{pcs}");
    }

    #[test]
    fn ids_are_valid_and_unique() {
        assert_eq!(sanitize("/srv/www"), "srv-www");
        assert_eq!(sanitize("0day"), "r-0day");
        assert_eq!(sanitize("a b//c"), "a-b-c");
        let mut ids = BTreeSet::new();
        assert_eq!(unique(&mut ids, "apache"), "apache");
        assert_eq!(unique(&mut ids, "apache"), "apache-2");
        assert_eq!(unique(&mut ids, "apache"), "apache-3");
    }

    #[test]
    fn comments_and_shell_words_are_escaped() {
        assert_eq!(xml_comment("a--b-"), "a- -b");
        assert_eq!(xml_attr("a\"<&>"), "a&quot;&lt;&amp;&gt;");
        assert_eq!(sh("options=rw,noatime"), "options=rw,noatime");
        assert_eq!(sh("it's"), "'it'\\''s'");
    }
}
