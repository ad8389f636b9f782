//! `hbd export pacemaker` as a process, its CIB checked by Pacemaker's own
//! `crm_verify --xml-file` (Debian's pacemaker-cli-utils; CI installs it) and
//! its pcs script by `sh -n`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use testkit::skip::Needs;

fn write_had(dir: &Path, hacf_extra: &str, haresources: &str) {
    std::fs::write(
        dir.join("ha.cf"),
        format!(
            "node alpha\nnode beta\nucast eth0 192.0.2.2\nkeepalive 1\ndeadtime 10\n{hacf_extra}"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("haresources"), haresources).unwrap();
    std::fs::write(dir.join("authkeys"), "auth 1\n1 sha1 export-test\n").unwrap();
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn export(dir: &Path, format: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hbd"))
        .args([
            "export",
            "pacemaker",
            "--node",
            "alpha",
            "--format",
            format,
            "-c",
        ])
        .arg(dir)
        .output()
        .unwrap()
}

/// `Some(output)` of crm_verify on `xml`, or None (with the reason printed,
/// a failure under HBD_REQUIRE_LAB=1) when pacemaker-cli-utils is missing.
fn crm_verify(xml: &[u8]) -> Option<Output> {
    if !Needs::new("export: the crm_verify part")
        .tool("crm_verify", "pacemaker-cli-utils")
        .met()
    {
        return None;
    }
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), xml).unwrap();
    Some(
        Command::new("crm_verify")
            .arg("-V")
            .arg("--xml-file")
            .arg(f.path())
            .output()
            .unwrap(),
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_sample_groups_make_a_cib_crm_verify_accepts() {
    let d = tempfile::tempdir().unwrap();
    write_had(
        d.path(),
        "auto_failback off\n",
        "alpha 192.0.2.10/24/eth0 Filesystem::/dev/sdb1::/srv/www::ext4 apache\n\
         beta IPaddr2::192.0.2.11/24/eth0/192.0.2.255 service::nginx MailTo::root@example.org::failover\n",
    );
    let out = export(d.path(), "cib");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "no warnings for mappable resources");
    let xml = text(&out.stdout);
    for want in [
        "type=\"IPaddr2\"",
        "type=\"Filesystem\"",
        "class=\"lsb\" type=\"apache\"",
        "class=\"systemd\" type=\"nginx\"",
        "type=\"MailTo\"",
        "name=\"resource-stickiness\" value=\"1000\"",
        "rsc=\"grp-ip-192.0.2.11\" node=\"beta\" score=\"100\"",
    ] {
        assert!(xml.contains(want), "no {want} in\n{xml}");
    }
    if let Some(v) = crm_verify(&out.stdout) {
        assert!(
            v.status.success(),
            "crm_verify rejected:\n{}{}\n{xml}",
            text(&v.stdout),
            text(&v.stderr)
        );
    }
    let pcs = export(d.path(), "pcs");
    assert!(pcs.status.success());
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), &pcs.stdout).unwrap();
    let sh = Command::new("sh").arg("-n").arg(f.path()).output().unwrap();
    assert!(sh.status.success(), "{}", text(&sh.stderr));
    assert_eq!(
        text(&pcs.stdout)
            .lines()
            .filter(|l| l.starts_with("pcs resource create"))
            .count(),
        6
    );
}

#[test]
fn ipv6_addresses_map_to_ipv6addr_and_ipaddr2_and_verify() {
    let d = tempfile::tempdir().unwrap();
    write_had(
        d.path(),
        "auto_failback off\n",
        "alpha IPv6addr::2001:db8:0:0:0:0:0:10/64/eth0 apache\n\
         beta IPaddr2::2001:db8:0:0:0:0:0:11/64/eth1\n",
    );
    let out = export(d.path(), "cib");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "no warnings for mappable resources");
    let xml = text(&out.stdout);
    for want in [
        "id=\"ip-2001-db8-10\" class=\"ocf\" provider=\"heartbeat\" type=\"IPv6addr\"",
        "name=\"ipv6addr\" value=\"2001:db8::10\"",
        "id=\"ip-2001-db8-11\" class=\"ocf\" provider=\"heartbeat\" type=\"IPaddr2\"",
        "name=\"ip\" value=\"2001:db8::11\"",
        "name=\"cidr_netmask\" value=\"64\"",
        "name=\"nic\" value=\"eth1\"",
    ] {
        assert!(xml.contains(want), "no {want} in\n{xml}");
    }
    if let Some(v) = crm_verify(&out.stdout) {
        assert!(
            v.status.success(),
            "crm_verify rejected:\n{}{}\n{xml}",
            text(&v.stdout),
            text(&v.stderr)
        );
    }
    let pcs = text(&export(d.path(), "pcs").stdout);
    assert!(
        pcs.contains("pcs resource create ip-2001-db8-10 ocf:heartbeat:IPv6addr ipv6addr=2001:db8::10 cidr_netmask=64 nic=eth0"),
        "{pcs}"
    );
}

#[test]
fn custom_scripts_are_left_out_with_warnings_and_the_rest_still_verifies() {
    let d = tempfile::tempdir().unwrap();
    write_had(
        d.path(),
        "auto_failback on\n",
        "alpha Dummy::x 192.0.2.10\nbeta Dummy::y\n",
    );
    let rd = d.path().join("resource.d");
    std::fs::create_dir(&rd).unwrap();
    std::fs::write(rd.join("Dummy"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(rd.join("Dummy"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = export(d.path(), "cib");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("haresources:1: Dummy::x: Dummy is a resource.d script"),
        "{err}"
    );
    assert!(
        err.contains("haresources:2: no resource of this group maps"),
        "{err}"
    );
    let xml = text(&out.stdout);
    assert!(xml.contains("<!-- WARNING: Dummy::x left out:"), "{xml}");
    assert!(
        xml.contains("name=\"resource-stickiness\" value=\"0\""),
        "{xml}"
    );
    if let Some(v) = crm_verify(&out.stdout) {
        assert!(v.status.success(), "{}{}", text(&v.stdout), text(&v.stderr));
    }
}

#[test]
fn stonith_host_enables_fencing_and_crm_verify_asks_for_devices() {
    let d = tempfile::tempdir().unwrap();
    write_had(
        d.path(),
        "stonith_host * external/ipmi beta 192.0.2.99 admin secret lan\n",
        "alpha apache\n",
    );
    let out = export(d.path(), "cib");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("stonith-enabled=true"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("name=\"stonith-enabled\" value=\"true\""));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("secret"), "a stonith password leaked:\n{all}");
    // Pacemaker refuses resources until a fence device exists: exactly the
    // thing the warning tells the operator to add.
    if let Some(v) = crm_verify(&out.stdout) {
        assert!(!v.status.success());
        let all = format!("{}{}", text(&v.stdout), text(&v.stderr));
        assert!(
            all.contains("no STONITH resources have been defined"),
            "{all}"
        );
        assert!(
            !all.contains("Relax-NG"),
            "schema errors besides fencing:\n{all}"
        );
    }
}

#[test]
fn a_broken_config_exports_nothing_and_exits_1() {
    let d = tempfile::tempdir().unwrap();
    write_had(d.path(), "deadtime 3O\n", "alpha apache\n");
    let out = export(d.path(), "cib");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("ha.cf:6: deadtime"), "{err}");
}
