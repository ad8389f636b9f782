//! The nodes' configuration: each daemon's files under the node's
//! `/etc/ha.d` (agents, service, ha.cf, haresources, authkeys, hbd.toml from
//! `hbd migrate`, keepalived.conf and its notify script), and the knobs the
//! modes turn (hbd options, monitors, keepalived's service tracking).

use super::*;
/// The notify script keepalived runs on each state change: it records the
/// state (the bench's settle check reads it). The service is started and
/// stopped by the `notify_master`/`notify_backup`/`notify_fault`/`notify_stop`
/// lines, which keepalived runs as the command itself (no shell in
/// between), as hbd and heartbeat run `hbweb … start` from haresources.
const KA_NOTIFY: &str =
    "#!/bin/sh\n# keepalived notify: TYPE NAME STATE PRIORITY\necho \"$3\" > /run/ka.state\n";

/// keepalived's lines that start the service on MASTER and stop it on any
/// other state (removed by [`Cluster::keepalived_track_service`], where
/// the service runs on both nodes).
fn ka_service_lines(floating: &str) -> String {
    let hbweb = format!("/etc/ha.d/resource.d/hbweb {floating} {PORT} /etc/ha.d/www");
    format!(
        "  notify_master \"{hbweb} start\"\n  notify_backup \"{hbweb} stop\"\n  \
         notify_fault \"{hbweb} stop\"\n  notify_stop \"{hbweb} stop\"\n"
    )
}

/// `VALUE` of `--hbd-option KEY=VALUE` as TOML: as given when it is a TOML
/// value (`true`, `3`, `"auto"`, `[1, 2]`), quoted otherwise, so that
/// `builtin_ipaddr=auto` means the string `"auto"`.
fn toml_value(v: &str) -> String {
    if format!("x = {v}").parse::<toml::Table>().is_ok() {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

impl Cluster {
    /// Node `i`'s `/etc/ha.d` (the pair made it: heartbeat's own for
    /// heartbeat, an empty resource.d otherwise): the agents, the service,
    /// ha.cf, haresources, authkeys and keepalived's configuration.
    pub(super) fn write_etc(
        daemon: Daemon,
        s: Setting,
        media: Media,
        family: Family,
        i: usize,
        etc: &Path,
        repo: &Path,
    ) {
        let floating = family.floating();
        if daemon != Daemon::Heartbeat {
            // hbd (and keepalived's notify script) use hbd's agents.
            for e in fs::read_dir(repo.join("resource.d"))
                .expect("repo resource.d")
                .flatten()
            {
                cp_a(&e.path(), &etc.join("resource.d"));
            }
        }
        cp_a(
            &repo.join("tests/fixtures/resource.d/hbweb"),
            &etc.join("resource.d/hbweb"),
        );
        fs::create_dir_all(etc.join("www")).expect("www");
        fs::write(etc.join("www/index.html"), "bench\n").expect("index.html");
        let initdead = (s.deadtime_ms * 2).max(4000);
        let media_lines = match media {
            Media::Both => format!(
                "baud 115200\nserial /run/ttyHB0\nucast hb0 {}\nucast hb0 {}\n",
                HB_ADDRS[0], HB_ADDRS[1]
            ),
            Media::BothAt { baud } => format!(
                "baud {baud}\nserial /run/ttyHB0\nucast hb0 {}\nucast hb0 {}\n",
                HB_ADDRS[0], HB_ADDRS[1]
            ),
            Media::SerialOnly { baud } => format!("baud {baud}\nserial /run/ttyHB0\n"),
            Media::UcastOnly => format!("ucast hb0 {}\nucast hb0 {}\n", HB_ADDRS[0], HB_ADDRS[1]),
        };
        let ha_cf = format!(
            "# hbd failover bench\nlogfacility none\nuse_logd no\nlogfile /var/log/ha-log\n\
             keepalive {}ms\ndeadtime {}ms\nwarntime {}ms\ninitdead {}ms\nudpport 694\n\
             {media_lines}auto_failback off\ncrm no\nnode nodea\nnode nodeb\n",
            s.keepalive_ms,
            s.deadtime_ms,
            (s.deadtime_ms / 2).max(s.keepalive_ms + 1),
            initdead,
        );
        fs::write(etc.join("ha.cf"), ha_cf).expect("ha.cf");
        fs::write(
            etc.join("haresources"),
            format!(
                "nodea {} hbweb::{floating}::{PORT}::/etc/ha.d/www\n",
                family.ip_resource()
            ),
        )
        .expect("haresources");
        let keys = etc.join("authkeys");
        fs::write(&keys, "auth 1\n1 sha1 bench-secret\n").expect("authkeys");
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).expect("chmod");
        write_exec(&etc.join("ka-notify"), KA_NOTIFY);
        // An IPv6 VIP makes the instance an IPv6 one (VRRPv3 over IPv6,
        // keepalived.conf(5): the VIPs determine the family), whose unicast
        // peers must be IPv6 too.
        let (vip, src, peer) = match family {
            Family::V4 => (format!("{FLOATING}/24"), HB_ADDRS[i], HB_ADDRS[1 - i]),
            Family::V6 => (
                format!("{FLOATING6_SHORT}/64"),
                crate::family::HB6[i],
                crate::family::HB6[1 - i],
            ),
        };
        let ka = format!(
            "global_defs {{\n  router_id {name}\n  script_user root\n  vrrp_version 3\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  nopreempt\n  interface hb0\n  \
             virtual_router_id 51\n  priority {prio}\n  advert_int {adv}\n  \
             unicast_src_ip {src}\n  unicast_peer {{\n    {peer}\n  }}\n  \
             virtual_ipaddress {{\n    {vip} dev svc0\n  }}\n{service}  \
             notify /etc/ha.d/ka-notify\n}}\n",
            service = ka_service_lines(floating),
            name = NAMES[i],
            // Tie-break on priority, not on address: nodea starts as master.
            prio = BACKUP_PRIORITY + 1 - i as u8,
            adv = format_args!("{:.2}", s.vrrp_advert_cs() as f64 / 100.0),
        );
        fs::write(etc.join("keepalived.conf"), ka).expect("keepalived.conf");
    }

    /// Node `i`'s ha.d as `hbd migrate` writes it (hbd.toml).
    fn migrated(&self, i: usize) -> Result<String, Refused> {
        let out = self
            .command(
                i,
                &[
                    self.ns.hbd().as_os_str(),
                    "migrate".as_ref(),
                    "-c".as_ref(),
                    "/etc/ha.d".as_ref(),
                    "--node".as_ref(),
                    NAMES[i].as_ref(),
                ],
            )
            .output()
            .map_err(|e| Refused(format!("hbd migrate: {e}")))?;
        if !out.status.success() {
            return Err(Refused(format!(
                "hbd migrate: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut toml = String::from_utf8_lossy(&out.stdout).into_owned();
        if !toml.contains("\n[hbd]\n") {
            toml += "\n[hbd]\n";
        }
        Ok(toml)
    }

    /// Sets hbd-only options (`KEY=VALUE` of hbd.toml's `[hbd]` table, which
    /// ha.cf cannot carry): each node's ha.d is converted with `hbd
    /// migrate`, the options set, and hbd started on that hbd.toml.
    pub fn hbd_options(&mut self, opts: &[String]) -> Result<(), Refused> {
        self.hbd_toml(opts, None)
    }

    /// [`Self::hbd_options`] plus, with `announce`, an `[hbd.announce]`
    /// table of that body (e.g. `verify = [...]`), which ha.cf cannot carry.
    pub fn hbd_toml(&mut self, opts: &[String], announce: Option<&str>) -> Result<(), Refused> {
        if (opts.is_empty() && announce.is_none()) || self.daemon != Daemon::Hbd {
            return Ok(());
        }
        for i in 0..2 {
            let mut toml = self.migrated(i)?;
            for o in opts {
                let Some((k, v)) = o.split_once('=') else {
                    return Err(Refused(format!("--hbd-option {o:?} is not KEY=VALUE")));
                };
                let (k, v) = (k.trim(), toml_value(v.trim()));
                let lines: Vec<String> = toml
                    .lines()
                    .filter(|l| !l.starts_with(&format!("{k} =")))
                    .map(str::to_string)
                    .collect();
                toml = lines.join("\n") + "\n";
                toml = toml.replacen("\n[hbd]\n", &format!("\n[hbd]\n{k} = {v}\n"), 1);
            }
            if let Some(body) = announce {
                // A table of its own at the end: valid whatever came last.
                toml = format!("{}\n\n[hbd.announce]\n{}\n", toml.trim_end(), body.trim());
            }
            fs::write(self.ns.host(i, Dir::Etc).join("hbd.toml"), toml).expect("hbd.toml");
        }
        self.hbd_config = "/etc/ha.d/hbd.toml".to_string();
        Ok(())
    }

    /// hbd with a monitor: `hbd migrate`'s hbd.toml with `table` (a
    /// `[[group.monitor]]` table) after the group, which is the file's only one.
    pub fn hbd_monitor(&mut self, table: &str) -> Result<(), Refused> {
        for i in 0..2 {
            let toml = self.migrated(i)?.replacen(
                "\n[hbd]\n",
                &format!("\n{}\n\n[hbd]\n", table.trim()),
                1,
            );
            fs::write(self.ns.host(i, Dir::Etc).join("hbd.toml"), toml).expect("hbd.toml");
        }
        self.hbd_config = "/etc/ha.d/hbd.toml".to_string();
        Ok(())
    }

    /// keepalived as it is deployed to watch a service: the service runs on
    /// both nodes (bound to the floating address, which the kernel allows
    /// with `ip_nonlocal_bind`), a `vrrp_script` runs its `status` every
    /// `interval_s` seconds, and `fall` failures in a row put the instance in
    /// FAULT, so the peer takes the address. The notify script only records
    /// the state. Call before starting; [`Self::start_service`] starts the
    /// service.
    pub fn keepalived_track_service(&self, interval_s: u32, fall: u32) {
        for i in 0..2 {
            let etc = self.ns.host(i, Dir::Etc);
            let conf = etc.join("keepalived.conf");
            let text = fs::read_to_string(&conf)
                .expect("keepalived.conf")
                .replacen(&ka_service_lines(FLOATING), "", 1);
            let script = format!(
                "vrrp_script chk_web {{\n  script \"/etc/ha.d/resource.d/hbweb {FLOATING} {PORT} /etc/ha.d/www status\"\n  \
                 interval {interval_s}\n  fall {fall}\n  rise 1\n  weight 0\n}}\n"
            );
            let text = text
                .replacen(
                    "vrrp_instance VI_1 {",
                    &format!("{script}vrrp_instance VI_1 {{"),
                    1,
                )
                .replacen(
                    "  notify /etc/ha.d/ka-notify\n",
                    "  track_script {\n    chk_web\n  }\n  notify /etc/ha.d/ka-notify\n",
                    1,
                );
            fs::write(&conf, text).expect("keepalived.conf");
            self.ns.nodes[i].must(&["sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1"]);
        }
    }
}
