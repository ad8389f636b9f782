//! heartbeat's `rc.d` event scripts, judged by what they are (spec §6.3).
//! heartbeat runs `harc TYPE` for some messages when `rc.d/TYPE` exists; the
//! scripts Debian's heartbeat 3.0.6 installs there ARE its resource manager
//! (`status` runs `mach_down`, `ip-request`/`ip-request-resp` call
//! `ResourceManager`, `hb_takeover` runs `hb_standby`). hbd manages resources
//! itself, so running them would be a second manager starting and stopping
//! groups behind its back: resources active on both nodes. This module
//! recognises them (by content and by what they invoke) so that they are never
//! run, and lets every other (site-local) script run.
//!
//! Pure: the caller reads the directory ([`super::facts::rc_scripts`]).

use sha1::{Digest, Sha1};

/// The files Debian's heartbeat 3.0.6 (1:3.0.6-13) installs in
/// `/etc/ha.d/rc.d`, by the SHA-1 of their content.
pub const STOCK_RC_D: [(&str, &str); 5] = [
    ("ask_resources", "425c7b10779b6850c327f3431fe51e37a30eabb9"),
    ("hb_takeover", "3b8b92976884c1612fb2dab0c4e0c8c6d00b97b6"),
    ("ip-request", "ac94873f6a24d6ac40df46be2902407f10b574a2"),
    (
        "ip-request-resp",
        "5d40418fb4de2f886d914b1fb09986efbe3041da",
    ),
    ("status", "3f48ce315903c3c47442d21772e94d2c97cc2dfe"),
];

/// The SHA-1 of Debian's heartbeat 3.0.6 `/etc/ha.d/harc`.
pub const STOCK_HARC: &str = "476660eab8a5674e8ad51337a0f899b6a8910631";

/// What makes a script heartbeat's resource manager: the tools that start,
/// stop or hand over resource groups, and the FIFO writer through which
/// `ask_resources` tells heartbeat what it holds. A script calling any of
/// them only works with heartbeat managing the resources.
pub const RESOURCE_TOOLS: [&str; 5] = [
    "ResourceManager",
    "mach_down",
    "hb_standby",
    "req_resource",
    "ha_clustermsg",
];

/// What hbd does with one file of `rc.d`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RcKind {
    /// A site-local script: run (through `harc`) when its message comes.
    SiteLocal,
    /// heartbeat's own resource management: never run.
    Heartbeat {
        /// The stock file it is identical to, if any.
        stock: bool,
        /// The first resource tool it calls and the line (1-based).
        calls: Option<(&'static str, usize)>,
    },
    /// Not an executable file: heartbeat's harc refuses it too.
    NotExecutable,
}

/// One entry of `rc.d`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RcScript {
    /// The file name: the message type that runs it.
    pub name: String,
    pub path: std::path::PathBuf,
    pub kind: RcKind,
}

impl RcScript {
    /// Whether hbd runs it.
    pub fn runs(&self) -> bool {
        self.kind == RcKind::SiteLocal
    }

    /// What it is, in short, when hbd does not run it: `heartbeat 3.0.6's
    /// own rc.d/status, calls mach_down`, `calls heartbeat's ResourceManager
    /// (line 3)`, `not an executable file`.
    pub fn what(&self) -> Option<String> {
        match &self.kind {
            RcKind::SiteLocal => None,
            RcKind::NotExecutable => Some("not an executable file".into()),
            RcKind::Heartbeat { stock, calls } => Some(match (stock, calls) {
                (true, Some((tool, _))) => {
                    format!("heartbeat 3.0.6's own rc.d/{} (calls {tool})", self.name)
                }
                (true, None) => format!("heartbeat 3.0.6's own rc.d/{}", self.name),
                (false, Some((tool, line))) => format!("calls heartbeat's {tool} (line {line})"),
                (false, None) => "heartbeat's resource management".into(),
            }),
        }
    }

    /// Why hbd does not run it (None when it does): for the log and `check`.
    pub fn skip_reason(&self) -> Option<String> {
        let what = self.what()?;
        Some(match self.kind {
            RcKind::Heartbeat { .. } => {
                format!("{what}: {HEARTBEATS_OWN}")
            }
            _ => what,
        })
    }
}

/// Why heartbeat's own scripts are not run, for every message that says so.
pub const HEARTBEATS_OWN: &str = "heartbeat's resource manager, and hbd manages resources itself";

/// The lowercase hex SHA-1 of `content`.
pub fn sha1_hex(content: &[u8]) -> String {
    Sha1::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Judges an `rc.d` file from its content and whether it is executable.
pub fn classify(content: &[u8], executable: bool) -> RcKind {
    let digest = sha1_hex(content);
    let stock = STOCK_RC_D.iter().any(|(_, d)| *d == digest);
    let calls = resource_tool_call(content);
    if stock || calls.is_some() {
        return RcKind::Heartbeat { stock, calls };
    }
    if !executable {
        return RcKind::NotExecutable;
    }
    RcKind::SiteLocal
}

/// The first of [`RESOURCE_TOOLS`] that `content` names outside a comment, as
/// a word of its own, and its line. A comment mentioning a tool is no call.
pub fn resource_tool_call(content: &[u8]) -> Option<(&'static str, usize)> {
    let text = String::from_utf8_lossy(content);
    for (i, line) in text.lines().enumerate() {
        let code = strip_comment(line);
        for tool in RESOURCE_TOOLS {
            if has_word(code, tool) {
                return Some((tool, i + 1));
            }
        }
    }
    None
}

/// A shell line without its comment: `#` starts one at the beginning of a
/// word (`$#` and `${#x}` do not).
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace() || b[i - 1] == b';') {
            return &line[..i];
        }
    }
    line
}

fn has_word(hay: &str, word: &str) -> bool {
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let b = hay.as_bytes();
    hay.match_indices(word).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| b[j]);
        let after = b.get(i + word.len()).copied();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stock_copy_is_heartbeats_even_when_renamed() {
        // The content decides, not the name: Debian's status script under another name.
        let status = b"#!/bin/sh\n# License:  GNU General Public License (GPL)\n#\n\n. $HA_FUNCS\n\ncase $HA_st in\n  dead)\t$HA_NOARCHBIN/mach_down $HA_src;;\nesac\n";
        assert_eq!(sha1_hex(status), STOCK_RC_D[4].1);
        assert_eq!(
            classify(status, true),
            RcKind::Heartbeat {
                stock: true,
                calls: Some(("mach_down", 8))
            }
        );
    }

    #[test]
    fn a_modified_copy_is_recognised_by_what_it_calls() {
        let s = b"#!/bin/sh\nlogger got $HA_t\n[ \"$HA_st\" = dead ] && /usr/share/heartbeat/mach_down $HA_src\n";
        assert_eq!(
            classify(s, true),
            RcKind::Heartbeat {
                stock: false,
                calls: Some(("mach_down", 3))
            }
        );
        for tool in RESOURCE_TOOLS {
            let s = format!("#!/bin/sh\nX=$HA_NOARCHBIN/{tool}\n$X takegroup $HA_ipaddr\n");
            assert!(
                matches!(classify(s.as_bytes(), true), RcKind::Heartbeat { calls: Some((t, 2)), .. } if t == tool),
                "{tool}"
            );
        }
    }

    #[test]
    fn comments_and_longer_words_are_no_call() {
        let s = b"#!/bin/sh\n# unlike mach_down, this only pages\n  # ResourceManager is heartbeat's\necho \"$#\" my_mach_down_log hb_standby-notes; # ha_clustermsg\nlogger \"status $HA_st from $HA_src\"\n";
        assert_eq!(resource_tool_call(s), None);
        assert_eq!(classify(s, true), RcKind::SiteLocal);
        assert_eq!(classify(s, false), RcKind::NotExecutable);
    }

    #[test]
    fn skip_reasons_name_the_file_and_the_tool() {
        let s = RcScript {
            name: "status".into(),
            path: "/etc/ha.d/rc.d/status".into(),
            kind: RcKind::Heartbeat {
                stock: true,
                calls: Some(("mach_down", 8)),
            },
        };
        assert_eq!(
            s.skip_reason().unwrap(),
            "heartbeat 3.0.6's own rc.d/status (calls mach_down): heartbeat's resource manager, and hbd manages resources itself"
        );
        let m = RcScript {
            kind: RcKind::Heartbeat {
                stock: false,
                calls: Some(("ResourceManager", 12)),
            },
            ..s.clone()
        };
        assert!(m
            .skip_reason()
            .unwrap()
            .starts_with("calls heartbeat's ResourceManager (line 12)"));
        assert!(!s.runs() && !m.runs());
    }
}
