//! `/etc/ha.d/haresources` (spec §6.1): one resource group per logical line, the home
//! node first, then resources started left to right. Whether the home node is a
//! cluster node, and whether an agent's arguments are well formed, is checked by
//! [`super::validate`], so the TOML form gets the same rules.

use super::model::{Diagnostic, HbdOptions, Location, Resource, ResourceGroup};
use std::collections::BTreeMap;
use std::path::Path;

/// heartbeat's shorthand test for a bare IP: the shell glob `[0-9]*.[0-9]*.[0-9]*.[0-9]*`.
pub fn is_ip_shorthand(token: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') => (0..=s.len()).any(|i| glob(&p[1..], &s[i..])),
            Some(b'D') => s.first().is_some_and(u8::is_ascii_digit) && glob(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
        }
    }
    // `D` stands for `[0-9]`; a resource token holds no `D` we would confuse since
    // the pattern, not the token, carries it. Inputs are short (one token), so the
    // backtracking is cheap, but cap it anyway against a hostile file.
    token.len() <= 256 && glob(b"D*.D*.D*.D*", token.as_bytes())
}

/// Why a resource token was refused; Display is the diagnostic's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("{0:?} contains a backslash, quote or control character (resource arguments are passed as plain words)")]
    BadCharacter(String),
    #[error("{0:?} has no script name (expected NAME or NAME::ARG::ARG)")]
    NoName(String),
    #[error(
        "{token:?}: script name {name:?} must be a plain name found in resource.d, not a path"
    )]
    PathName { token: String, name: String },
    #[error("{0:?} has an empty argument (`::` twice in a row or at the end)")]
    EmptyArgument(String),
}

/// Parses one resource token (`name`, `name::a::b` or a bare IP).
pub fn resource(token: &str) -> Result<Resource, ResourceError> {
    if token.contains(['\\', '\'', '"']) || token.contains(char::is_control) {
        return Err(ResourceError::BadCharacter(token.to_string()));
    }
    if is_ip_shorthand(token) {
        // heartbeat rewrites the token to `IPaddr::<token>` and splits that;
        // the address itself is IPaddr's to check (super::agents).
        return resource(&format!("IPaddr::{token}"));
    }
    let mut parts = token.split("::");
    let name = parts.next().unwrap_or("");
    if name.is_empty() {
        return Err(ResourceError::NoName(token.to_string()));
    }
    if name.contains('/') || name == "." || name == ".." {
        return Err(ResourceError::PathName {
            token: token.to_string(),
            name: name.to_string(),
        });
    }
    let args: Vec<String> = parts.map(str::to_string).collect();
    if args.iter().any(String::is_empty) {
        return Err(ResourceError::EmptyArgument(token.to_string()));
    }
    Ok(Resource {
        name: name.to_string(),
        args,
    })
}

/// Parses haresources text. `file` is used in locations. Returns every group that
/// parsed and every diagnostic.
pub fn parse_str(text: &str, file: &Path) -> (Vec<ResourceGroup>, Vec<Diagnostic>) {
    let at = |line| {
        Some(Location {
            file: file.to_path_buf(),
            line,
        })
    };
    let mut diags = Vec::new();
    let mut groups: Vec<ResourceGroup> = Vec::new();
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    // (physical line, token) of the logical line being collected.
    let mut pending: Vec<(usize, String)> = Vec::new();
    let mut start_line = 0;

    let physical: Vec<&str> = text.split('\n').collect();
    for (i, raw) in physical.iter().enumerate() {
        let line_no = i + 1;
        let body = raw.split('#').next().unwrap_or("").trim_end_matches('\r');
        let trimmed = body.trim_end();
        let (content, continues) = match trimmed.strip_suffix('\\') {
            Some(c) => (c, true),
            None => (trimmed, false),
        };
        if pending.is_empty() {
            start_line = line_no;
        }
        pending.extend(content.split_whitespace().map(|t| (line_no, t.to_string())));
        if continues && i + 1 < physical.len() {
            continue;
        }
        let toks = std::mem::take(&mut pending);
        let Some(((_, home), rest)) = toks.split_first() else {
            continue;
        };
        let home = home.to_ascii_lowercase();
        if rest.is_empty() {
            diags.push(Diagnostic::error(
                at(start_line),
                "haresources",
                format!("group for node {home:?} lists no resources (expected `NODE RESOURCE...`)"),
            ));
            continue;
        }
        let mut resources = Vec::new();
        let mut ok = true;
        for (tline, tok) in rest {
            match resource(tok) {
                Ok(r) => resources.push(r),
                Err(e) => {
                    ok = false;
                    diags.push(Diagnostic::error(at(*tline), "haresources", e.to_string()));
                }
            }
        }
        if !ok {
            // The group goes no further (validate() never sees it): say what
            // is wrong with its other resources' arguments now.
            let timeout = HbdOptions::default().script_timeout;
            for r in &resources {
                if let Err(e) = super::agents::check(r, timeout) {
                    diags.push(Diagnostic::error(
                        at(start_line),
                        "haresources",
                        format!("{r}: {e}"),
                    ));
                }
            }
            continue;
        }
        let group = ResourceGroup {
            home,
            resources,
            location: Location {
                file: file.to_path_buf(),
                line: start_line,
            },
        };
        let key = group.key();
        if let Some(prev) = keys.get(&key) {
            diags.push(Diagnostic::error(
                at(start_line),
                "haresources",
                format!("group key {key:?} is already the first resource of the group on line {prev}; group keys must be unique"),
            ));
            continue;
        }
        keys.insert(key, start_line);
        groups.push(group);
    }
    (groups, diags)
}

/// A group of `tokens` (each as haresources writes it) at `haresources:line`,
/// for tests that build a config by hand.
#[cfg(test)]
pub(crate) fn test_group(home: &str, line: usize, tokens: &[&str]) -> ResourceGroup {
    ResourceGroup {
        home: home.into(),
        resources: tokens.iter().map(|t| resource(t).unwrap()).collect(),
        location: Location {
            file: "haresources".into(),
            line,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> (Vec<ResourceGroup>, Vec<String>) {
        let (g, d) = parse_str(text, Path::new("haresources"));
        (g, d.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn glob_rule_matches_heartbeat() {
        assert!(is_ip_shorthand("10.0.0.5"));
        assert!(is_ip_shorthand("10.0.0.5/24/eth0/10.0.0.255"));
        assert!(!is_ip_shorthand("IPaddr::10.0.0.5"));
        assert!(!is_ip_shorthand("1.2.3"));
        assert!(!is_ip_shorthand("apache"));
    }

    #[test]
    fn vector_haresources() {
        let (g, d) = p("nodea IPaddr::192.0.2.50/24/svc0 hbweb::192.0.2.50::8080\n");
        assert!(d.is_empty());
        assert_eq!(g[0].home, "nodea");
        assert_eq!(g[0].key(), "IPaddr::192.0.2.50/24/svc0");
        assert_eq!(g[0].resources[1].args, vec!["192.0.2.50", "8080"]);
    }

    #[test]
    fn shorthand_becomes_ipaddr() {
        let (g, _) = p("Alpha 192.0.2.10/24/eth0 apache\n");
        assert_eq!(g[0].home, "alpha");
        assert_eq!(g[0].resources[0].name, "IPaddr");
        assert_eq!(g[0].resources[0].args, vec!["192.0.2.10/24/eth0"]);
    }

    #[test]
    fn shorthand_is_split_like_ipaddr_token() {
        // Found by fuzzing: heartbeat prefixes `IPaddr::` and then splits on `::`.
        let (g, d) = p("alpha 10.0.0.5/24::eth0\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(g[0].resources[0].args, vec!["10.0.0.5/24", "eth0"]);
        let (_, d) = p("alpha 10.0.0.5/24/x::\n");
        assert!(d[0].contains("empty argument"), "{d:?}");
    }

    #[test]
    fn continuation_and_comments_keep_start_line() {
        let text = "# header\n\nalpha 192.0.2.10 \\\n   Filesystem::/dev/sdb1::/srv::ext4 \\\n  apache # web\nbeta 192.0.2.11\n";
        let (g, d) = p(text);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(g.len(), 2, "{g:?}");
        assert_eq!(g[0].location.line, 3);
        assert_eq!(g[0].resources.len(), 3);
        assert_eq!(g[1].location.line, 6);
    }

    #[test]
    fn a_comment_hides_a_trailing_backslash() {
        let (g, d) = p("alpha a # x \\\nbeta c\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn token_error_names_its_physical_line() {
        let (_, d) = p("alpha 192.0.2.10 \\\n  Filesystem::::x\n");
        assert_eq!(d.len(), 1);
        assert!(
            d[0].starts_with(
                "haresources:2: haresources: \"Filesystem::::x\" has an empty argument"
            ),
            "{}",
            d[0]
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let (g, d) = p("alpha 192.0.2.10 a\nbeta 192.0.2.10 b\n");
        assert_eq!(g.len(), 1);
        assert!(d[0].starts_with("haresources:2:"));
        assert!(d[0].contains("line 1"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_str(&s, Path::new("haresources"));
        }
        #[test]
        fn group_lines_round_trip(home in "[a-z][a-z0-9]{0,8}", res in proptest::collection::vec("[A-Za-z][A-Za-z0-9]{0,6}(::[a-z0-9/.]{1,6}){0,3}", 1..5)) {
            let line = format!("{home} {}\n", res.join(" "));
            let (g, d) = parse_str(&line, Path::new("h"));
            if d.is_empty() {
                let back: Vec<String> = g[0].resources.iter().map(|r| r.to_string()).collect();
                proptest::prop_assert_eq!(back, res);
            }
        }
    }
}
