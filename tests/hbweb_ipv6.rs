//! The lab's test service `hbweb` (tests/fixtures/resource.d/hbweb) on an
//! IPv6 address (root; skipped with a printed reason otherwise, a failure
//! under HBD_REQUIRE_LAB=1): the failover bench's `ipv6` mode serves its
//! group from it (`hbweb::2001:db8:2:0:0:0:0:50::8080::DOCROOT`, written
//! without `::` because haresources separates arguments with `::`), so a
//! node must answer over IPv6 with its name, report running and stopped
//! truthfully, and refuse an address it does not have or that is not one.

use std::fs;
use testkit::nspair::{NsPair, Opts, Serial, CLIENT_IF, SVC_IF};
use testkit::skip::Needs;
use testkit::{one_at_a_time, wait_for};

const LONG: &str = "2001:db8:2:0:0:0:0:50";
const SHORT: &str = "2001:db8:2::50";

#[test]
fn hbweb_serves_status_and_stops_on_an_ipv6_address() {
    let test = "hbweb_serves_status_and_stops_on_an_ipv6_address";
    if !Needs::new(test)
        .lab()
        .tool("socat", "socat")
        .tool("curl", "curl")
        .met()
    {
        return;
    }
    let _one = one_at_a_time();
    let ns = NsPair::new(
        Opts {
            serial: Serial::None,
            ..Opts::default()
        },
        &testkit::hbd_exe!(),
    );
    let (a, client) = (&ns.nodes[0], ns.client.as_ref().expect("a client"));
    a.must(&[
        "ip",
        "addr",
        "add",
        &format!("{SHORT}/64"),
        "dev",
        SVC_IF,
        "nodad",
    ]);
    client.must(&[
        "ip",
        "addr",
        "add",
        "2001:db8:2::10/64",
        "dev",
        CLIENT_IF,
        "nodad",
    ]);
    let www = ns.lab().dir().join("www");
    fs::create_dir_all(&www).unwrap();
    fs::write(www.join("index.html"), "over IPv6\n").unwrap();
    let rsctmp = ns.lab().dir().join("rsctmp");
    let hbweb = format!(
        "{}/tests/fixtures/resource.d/hbweb",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = |ip: &str, action: &str| {
        let out = a.run_env(
            &[("HA_RSCTMP", rsctmp.to_str().unwrap())],
            &[&hbweb, ip, "8080", www.to_str().unwrap(), action],
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };

    assert_eq!(run(LONG, "status").0, 7, "running before its start");
    let (code, text) = run(LONG, "start");
    assert_eq!(code, 0, "start: {text}");
    assert_eq!(run(LONG, "status").0, 0, "not running after its start");
    let answer = wait_for(std::time::Duration::from_secs(3), || {
        client.http_get(&format!("[{SHORT}]"), 8080, 1000)
    });
    assert_eq!(
        answer,
        Some(("nodea".to_string(), "over IPv6\n".to_string()))
    );
    let (code, text) = run(LONG, "stop");
    assert_eq!((code, text.as_str()), (0, "INFO:  Success\n"));
    assert_eq!(run(LONG, "status").0, 7, "running after its stop");
    assert_eq!(client.http_get(&format!("[{SHORT}]"), 8080, 300), None);

    // An address nodea does not have: the start fails, nothing is left.
    let (code, text) = run("2001:db8:2:0:0:0:0:51", "start");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("socat did not listen"), "{text}");
    let (code, text) = run("2001:db8:2::g", "start");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not an IPv4 or IPv6 address"), "{text}");
}
