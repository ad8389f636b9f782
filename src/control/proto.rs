//! The control socket's protocol: one JSON request per line from `hbd status|standby|
//! takeover|cl_status`, one JSON response per line from the daemon. Plain data, so
//! the client side and the daemon side can be built and tested apart; the field
//! names and order are a contract (`hbd status --json` prints a `StatusReport`).

use crate::core::{GroupState, HoldSet, MonitorState, NodeState, PeerConfig, RscHold};
use serde::{Deserialize, Serialize};

/// The socket's file name inside the run directory.
pub const SOCKET_NAME: &str = "hbd.sock";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    /// `set` travels as heartbeat's word (`all`, `local`, `foreign`).
    Standby {
        set: HoldSet,
    },
    Takeover {
        set: HoldSet,
    },
    /// `hbd cleanup [GROUP]`: a group's key or one of its resources as
    /// written; every group when None.
    Cleanup {
        group: Option<String>,
    },
    /// `hbd standby --persistent SET` (Some), `hbd standby --clear` (None):
    /// recorded in the state directory, so it outlives the daemon.
    PersistentStandby {
        set: Option<HoldSet>,
    },
    /// `hbd maintenance on|off [--persistent]`; `off` also removes the
    /// record, whatever `persistent` says.
    Maintenance {
        on: bool,
        #[serde(default)]
        persistent: bool,
    },
    /// `hbd restart`: the daemon ends leaving its groups running and starts
    /// its binary again in place (same pid).
    Restart,
}

// One response per request, serialized at once: the size of the status variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Status(StatusReport),
    /// The command was handed to the core; `message` says what will happen.
    Accepted {
        message: String,
    },
    Error {
        message: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub pid: u32,
    pub config: String,
    pub uptime_ms: u64,
    pub local: NodeReport,
    pub peer: NodeReport,
    /// One per configured link, in config order.
    pub links: Vec<LinkReport>,
    pub groups: Vec<GroupReport>,
    pub rsc_hold: RscHold,
    /// The last transitions, oldest first.
    pub recent: Vec<TransitionReport>,
    pub keepalive_ms: u64,
    pub deadtime_ms: u64,
    pub auto_failback: String,
    // --- The peer as a partner: start-up negotiation, keys, configuration.
    // (`default` on each: a newer client reads an older daemon's report.)
    /// The start-up negotiation waits for the peer to say it is stable; the
    /// wait ends at the latest in this many ms (heartbeat's RQSTDELAY).
    /// None: not waiting.
    #[serde(default)]
    pub startup_wait_left_ms: Option<u64>,
    /// hbd peers: whether the peer's configuration agrees with ours.
    #[serde(default)]
    pub peer_config: PeerConfig,
    /// What an operator must look at now, each with its hint.
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// Notifications the `notify` hook never got since the start: dropped
    /// while its queue was full behind a slow or hung run.
    #[serde(default)]
    pub notify_dropped: u64,
    /// rc.d runs (heartbeat's harc) dropped since the start while their
    /// queue was full behind a slow or hung site script.
    #[serde(default)]
    pub rcd_dropped: u64,
    /// heartbeat's configuration parameters by ha.cf name, as `cl_status
    /// hbparameter` prints them (`config::parameters`).
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, String>,
    /// `hbd standby --persistent`: the set this node leaves to the peer
    /// across restarts (null: none).
    #[serde(default)]
    pub persistent_standby: Option<HoldSet>,
    /// The latest convergence check of each floating address taken here
    /// (`[hbd.announce] verify`), oldest first.
    #[serde(default)]
    pub convergence: Vec<ConvergenceReport>,
    /// Maintenance mode: `off`, `on` (until `hbd maintenance off` or a
    /// restart) or `persistent` (recorded in the state directory).
    #[serde(default)]
    pub maintenance: Maintenance,
    /// The peer (an hbd) is in maintenance mode.
    #[serde(default)]
    pub peer_maintenance: bool,
    /// The peer announced a planned restart: it is declared dead if nothing
    /// is heard from it within this many ms (null: no restart announced).
    #[serde(default)]
    pub peer_restart_wait_ms: Option<u64>,
}

/// This node's maintenance mode as `status --json` words it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Maintenance {
    #[default]
    Off,
    On,
    /// On, and recorded in the state directory: it survives a restart.
    Persistent,
}

/// One floating address's convergence check: did the targets (the gateway,
/// configured hosts) answer an ARP request from the address after its start?
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvergenceReport {
    pub address: String,
    pub iface: String,
    /// The group's key.
    pub group: String,
    pub state: ConvergenceState,
    /// Converged: the last target's answer, since the start succeeded.
    pub after_ms: Option<u64>,
    /// Not converged: the limit that passed.
    pub limit_ms: Option<u64>,
    pub targets: Vec<String>,
    pub answered: Vec<TargetAnswer>,
    /// Targets that never answered (not converged).
    pub missing: Vec<String>,
    /// Gratuitous announcements sent so far by the start and the check.
    pub announcements: u32,
    /// Since the start succeeded.
    pub started_ms_ago: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetAnswer {
    pub target: String,
    pub after_ms: u64,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvergenceState {
    /// Probing and re-announcing with backoff.
    #[default]
    Verifying,
    /// Every target answered.
    Converged,
    /// The limit passed with targets silent: clients may still go to the old node.
    NotConverged,
}

/// Something wrong between the two nodes that does not stop either of them,
/// but will hurt when the other one is needed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// What, where, since when, and the likely cause.
    pub text: String,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Packets claiming to be the peer's fail authentication on a link and the
    /// peer is not heard on it: each node will declare the other dead.
    PeerAuthFailing,
    /// The hbd peer's configuration differs on a part both must agree on.
    PeerConfigDiffers,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    pub name: String,
    pub state: NodeState,
    pub generation: Option<u64>,
    pub last_heard_ms_ago: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkReport {
    /// heartbeat's link name: the interface, or the tty path as written.
    pub name: String,
    /// `ucast`, `bcast`, `mcast` or `serial`.
    pub kind: String,
    /// The peer is heard on this link.
    pub up: bool,
    pub last_heard_ms_ago: Option<u64>,
    pub sent: u64,
    pub received: u64,
    pub bad_auth: u64,
    pub malformed: u64,
    pub late: u64,
    /// Send or transport errors (a serial hang-up, a failed sendto).
    pub errors: u64,
    /// Packets that claimed to be the peer's and failed authentication.
    #[serde(default)]
    pub peer_auth_failures: u64,
    /// Such packets keep coming and the peer is not heard on this link.
    #[serde(default)]
    pub peer_auth_failing: bool,
    /// Of the peer's last datagrams counted here (its link numbers, else
    /// its sequence numbers), how many never came; null before any came.
    #[serde(default)]
    pub loss: Option<LossCount>,
    /// What an hbd peer says it missed of ours here; null from heartbeat.
    #[serde(default)]
    pub peer_loss: Option<LossCount>,
    /// How many times each of our statuses goes on this link (1 unless the
    /// peer is an hbd and redundancy is on).
    #[serde(default)]
    pub copies: u32,
    /// What `loss` means for the peer's deadtime, when a false death is
    /// likelier than once in a million days; null otherwise.
    #[serde(default)]
    pub advice: Option<String>,
}

/// `lost` of the last `of` datagrams counted.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossCount {
    pub lost: u32,
    pub of: u32,
}

impl LossCount {
    pub fn ratio(&self) -> f64 {
        if self.of == 0 {
            0.0
        } else {
            self.lost as f64 / self.of as f64
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReport {
    pub key: String,
    pub home: String,
    pub owner: Option<String>,
    pub state: GroupState,
    pub resources: Vec<String>,
    /// Why the group is failed here (null when it is not): cleared by `hbd
    /// cleanup`, a takeover or `failure_timeout`.
    pub failure: Option<FailureReport>,
    /// Failures counted here per resource, in `resources` order.
    pub fail_counts: Vec<u32>,
    /// The group's monitored resources, in `resources` order.
    pub monitors: Vec<MonitorReport>,
}

/// One failed script run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReport {
    pub resource: String,
    /// `start`, `stop`, `status` or `monitor`.
    pub action: String,
    pub exit_code: Option<i32>,
    pub reason: String,
    /// The last lines the script wrote.
    pub output: String,
    pub ms_ago: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorReport {
    pub resource: String,
    /// `status` or `monitor`.
    pub check: String,
    pub interval_ms: u64,
    pub on_fail: String,
    pub state: MonitorState,
    pub fail_count: u32,
    pub last_failure: Option<FailureReport>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionReport {
    pub ms_ago: u64,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::PeerConfigState;

    /// A report with every field set and both optional forms present.
    fn full_report() -> StatusReport {
        StatusReport {
            version: "0.1.0".into(),
            pid: 4242,
            config: "/etc/ha.d".into(),
            uptime_ms: 125_000,
            local: NodeReport {
                name: "alpha".into(),
                state: NodeState::Active,
                generation: Some(12),
                last_heard_ms_ago: None,
            },
            peer: NodeReport {
                name: "beta".into(),
                state: NodeState::Other("ping".into()),
                generation: None,
                last_heard_ms_ago: Some(3_400),
            },
            links: vec![LinkReport {
                name: "eth0".into(),
                kind: "ucast".into(),
                up: true,
                last_heard_ms_ago: Some(120),
                sent: 100,
                received: 98,
                bad_auth: 2,
                malformed: 1,
                late: 3,
                errors: 4,
                peer_auth_failures: 5,
                peer_auth_failing: true,
                loss: Some(LossCount { lost: 51, of: 256 }),
                peer_loss: Some(LossCount { lost: 3, of: 200 }),
                copies: 5,
                advice: Some("at 20 % loss on eth0 …".into()),
            }],
            groups: vec![GroupReport {
                key: "IPaddr::10.0.0.5".into(),
                home: "alpha".into(),
                owner: None,
                state: GroupState::Failed,
                resources: vec!["IPaddr::10.0.0.5".into(), "httpd".into()],
                failure: Some(FailureReport {
                    resource: "httpd".into(),
                    action: "start".into(),
                    exit_code: Some(1),
                    reason: "exit code 1".into(),
                    output: "httpd: cannot bind 10.0.0.5:80".into(),
                    ms_ago: 9_000,
                }),
                fail_counts: vec![0, 2],
                monitors: vec![MonitorReport {
                    resource: "httpd".into(),
                    check: "status".into(),
                    interval_ms: 5_000,
                    on_fail: "restart".into(),
                    state: MonitorState::Failed,
                    fail_count: 2,
                    last_failure: None,
                }],
            }],
            rsc_hold: RscHold::Transition,
            recent: vec![TransitionReport {
                ms_ago: 61_000,
                text: "beta: declared dead".into(),
            }],
            keepalive_ms: 200,
            deadtime_ms: 1000,
            auto_failback: "legacy".into(),
            startup_wait_left_ms: Some(7_300),
            peer_config: PeerConfig {
                state: PeerConfigState::Differs,
                differences: vec!["deadtime: 1s here, 2s on beta".into()],
            },
            problems: vec![Problem {
                kind: ProblemKind::PeerAuthFailing,
                text: "authkeys differ?".into(),
            }],
            notify_dropped: 21,
            rcd_dropped: 4,
            parameters: [("deadtime".to_string(), "1".to_string())].into(),
            persistent_standby: Some(HoldSet::Local),
            convergence: vec![ConvergenceReport {
                address: "192.0.2.100".into(),
                iface: "svc0".into(),
                group: "IPaddr::192.0.2.100".into(),
                state: ConvergenceState::Converged,
                after_ms: Some(312),
                limit_ms: None,
                targets: vec!["192.0.2.254".into()],
                answered: vec![TargetAnswer {
                    target: "192.0.2.254".into(),
                    after_ms: 312,
                }],
                missing: Vec::new(),
                announcements: 4,
                started_ms_ago: 4200,
            }],
            maintenance: Maintenance::Persistent,
            peer_maintenance: true,
            peer_restart_wait_ms: Some(25_000),
        }
    }

    /// What `hbd status --json` prints, pinned whole: scripts parse it, so a
    /// renamed field, a reordered one or a respelled state is a break.
    const FULL_REPORT_PRETTY: &str = r#"{
  "version": "0.1.0",
  "pid": 4242,
  "config": "/etc/ha.d",
  "uptime_ms": 125000,
  "local": {
    "name": "alpha",
    "state": "active",
    "generation": 12,
    "last_heard_ms_ago": null
  },
  "peer": {
    "name": "beta",
    "state": "ping",
    "generation": null,
    "last_heard_ms_ago": 3400
  },
  "links": [
    {
      "name": "eth0",
      "kind": "ucast",
      "up": true,
      "last_heard_ms_ago": 120,
      "sent": 100,
      "received": 98,
      "bad_auth": 2,
      "malformed": 1,
      "late": 3,
      "errors": 4,
      "peer_auth_failures": 5,
      "peer_auth_failing": true,
      "loss": {
        "lost": 51,
        "of": 256
      },
      "peer_loss": {
        "lost": 3,
        "of": 200
      },
      "copies": 5,
      "advice": "at 20 % loss on eth0 …"
    }
  ],
  "groups": [
    {
      "key": "IPaddr::10.0.0.5",
      "home": "alpha",
      "owner": null,
      "state": "failed",
      "resources": [
        "IPaddr::10.0.0.5",
        "httpd"
      ],
      "failure": {
        "resource": "httpd",
        "action": "start",
        "exit_code": 1,
        "reason": "exit code 1",
        "output": "httpd: cannot bind 10.0.0.5:80",
        "ms_ago": 9000
      },
      "fail_counts": [
        0,
        2
      ],
      "monitors": [
        {
          "resource": "httpd",
          "check": "status",
          "interval_ms": 5000,
          "on_fail": "restart",
          "state": "failed",
          "fail_count": 2,
          "last_failure": null
        }
      ]
    }
  ],
  "rsc_hold": "transition",
  "recent": [
    {
      "ms_ago": 61000,
      "text": "beta: declared dead"
    }
  ],
  "keepalive_ms": 200,
  "deadtime_ms": 1000,
  "auto_failback": "legacy",
  "startup_wait_left_ms": 7300,
  "peer_config": {
    "state": "differs",
    "differences": [
      "deadtime: 1s here, 2s on beta"
    ]
  },
  "problems": [
    {
      "kind": "peer_auth_failing",
      "text": "authkeys differ?"
    }
  ],
  "notify_dropped": 21,
  "rcd_dropped": 4,
  "parameters": {
    "deadtime": "1"
  },
  "persistent_standby": "local",
  "convergence": [
    {
      "address": "192.0.2.100",
      "iface": "svc0",
      "group": "IPaddr::192.0.2.100",
      "state": "converged",
      "after_ms": 312,
      "limit_ms": null,
      "targets": [
        "192.0.2.254"
      ],
      "answered": [
        {
          "target": "192.0.2.254",
          "after_ms": 312
        }
      ],
      "missing": [],
      "announcements": 4,
      "started_ms_ago": 4200
    }
  ],
  "maintenance": "persistent",
  "peer_maintenance": true,
  "peer_restart_wait_ms": 25000
}"#;

    #[test]
    fn status_json_document_is_pinned() {
        let pretty = serde_json::to_string_pretty(&full_report()).unwrap();
        assert_eq!(pretty, FULL_REPORT_PRETTY);
        assert_eq!(
            serde_json::from_str::<StatusReport>(FULL_REPORT_PRETTY).unwrap(),
            full_report()
        );
    }

    #[test]
    fn a_report_from_an_older_daemon_still_reads() {
        let old: serde_json::Value = serde_json::from_str(FULL_REPORT_PRETTY).unwrap();
        let mut old = old.as_object().unwrap().clone();
        for k in [
            "startup_wait_left_ms",
            "peer_config",
            "problems",
            "notify_dropped",
            "rcd_dropped",
            "parameters",
            "persistent_standby",
            "convergence",
            "maintenance",
            "peer_maintenance",
            "peer_restart_wait_ms",
        ] {
            old.remove(k);
        }
        let r: StatusReport = serde_json::from_value(old.into()).unwrap();
        assert!(r.parameters.is_empty());
        assert_eq!(r.persistent_standby, None);
        assert_eq!(r.maintenance, Maintenance::Off);
        assert!(!r.peer_maintenance);
        assert_eq!(r.peer_restart_wait_ms, None);
        assert_eq!(r.startup_wait_left_ms, None);
        assert_eq!(r.peer_config, PeerConfig::default());
        assert!(r.problems.is_empty());
        assert_eq!(r.notify_dropped, 0);
        assert_eq!(r.rcd_dropped, 0);
        assert!(r.convergence.is_empty());
    }

    #[test]
    fn status_response_is_the_report_tagged_on_one_line() {
        let line = serde_json::to_string(&Response::Status(full_report())).unwrap();
        let report = serde_json::to_string(&full_report()).unwrap();
        assert_eq!(line, format!(r#"{{"result":"status",{}"#, &report[1..]));
        assert!(!line.contains('\n'));
        assert_eq!(
            serde_json::to_string(&Response::Accepted {
                message: "going standby [all]".into()
            })
            .unwrap(),
            r#"{"result":"accepted","message":"going standby [all]"}"#
        );
        assert_eq!(
            serde_json::to_string(&Response::Error {
                message: "hbd is shutting down".into()
            })
            .unwrap(),
            r#"{"result":"error","message":"hbd is shutting down"}"#
        );
    }

    #[test]
    fn requests_are_one_json_object_each() {
        let r = Request::Standby {
            set: HoldSet::Foreign,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(line, r#"{"cmd":"standby","set":"foreign"}"#);
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), r);
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"cmd":"status"}"#
        );
        let c = Request::Cleanup {
            group: Some("IPaddr::10.0.0.5".into()),
        };
        let line = serde_json::to_string(&c).unwrap();
        assert_eq!(line, r#"{"cmd":"cleanup","group":"IPaddr::10.0.0.5"}"#);
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), c);
        assert_eq!(
            serde_json::to_string(&Request::Cleanup { group: None }).unwrap(),
            r#"{"cmd":"cleanup","group":null}"#
        );
        let p = Request::PersistentStandby {
            set: Some(HoldSet::All),
        };
        let line = serde_json::to_string(&p).unwrap();
        assert_eq!(line, r#"{"cmd":"persistent_standby","set":"all"}"#);
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), p);
        assert_eq!(
            serde_json::to_string(&Request::PersistentStandby { set: None }).unwrap(),
            r#"{"cmd":"persistent_standby","set":null}"#
        );
        let m = Request::Maintenance {
            on: true,
            persistent: true,
        };
        let line = serde_json::to_string(&m).unwrap();
        assert_eq!(line, r#"{"cmd":"maintenance","on":true,"persistent":true}"#);
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), m);
        assert_eq!(
            serde_json::to_string(&Request::Restart).unwrap(),
            r#"{"cmd":"restart"}"#
        );
        // An unknown set never reaches the daemon's command handling.
        assert!(
            serde_json::from_str::<Request>(r#"{"cmd":"standby","set":"everything"}"#).is_err()
        );
    }
}
