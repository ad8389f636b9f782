//! `/etc/ha.d/authkeys` (spec §2.1): `auth N` picks the outbound key, `N method [secret]`
//! lines list every accepted key. Secrets never appear in a diagnostic.

use super::model::{Auth, AuthKey, AuthMethod, Diagnostic, Location, Secret};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// heartbeat's MAXAUTH: key indices 0..=15.
const MAX_INDEX: u32 = 15;

/// Reads and parses an authkeys file, refusing one that group or others can read or
/// write. The mode is taken from the opened file, so a symlink cannot hide a
/// world-readable target. Returns `None` when the file cannot be used.
pub fn load(path: &Path) -> (Option<Auth>, Vec<Diagnostic>) {
    let at = |line| {
        Some(Location {
            file: path.to_path_buf(),
            line,
        })
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return (
                None,
                vec![Diagnostic::error(
                    at(0),
                    "authkeys",
                    format!("cannot open {}: {e}", path.display()),
                )],
            )
        }
    };
    let mut diags = Vec::new();
    if let Ok(meta) = file.metadata() {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o066 != 0 {
            diags.push(Diagnostic::error(
                at(0),
                "authkeys",
                format!(
                    "mode {mode:03o} lets group or others read or write the keys; run `chmod 600 {}`",
                    path.display()
                ),
            ));
        }
    }
    let mut text = String::new();
    if let Err(e) = file.read_to_string(&mut text) {
        diags.push(Diagnostic::error(
            at(0),
            "authkeys",
            format!("cannot read {}: {e}", path.display()),
        ));
        return (None, diags);
    }
    let (auth, more) = parse(&text, path);
    diags.extend(more);
    if diags.iter().any(Diagnostic::is_error) {
        (None, diags)
    } else {
        (Some(auth), diags)
    }
}

/// C's `%d` conversion: blanks, an optional sign, at least one digit. Returns
/// the number (saturated: only its range matters) and the text after it.
fn scan_int(s: &str) -> Option<(i64, &str)> {
    let t = s.trim_start();
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let magnitude = unsigned[..digits].parse::<i64>().unwrap_or(i64::MAX);
    let n = if t.starts_with('-') {
        -magnitude
    } else {
        magnitude
    };
    Some((n, &unsigned[digits..]))
}

/// heartbeat's `sscanf(line, "auth %d")`: the word `auth`, then blanks or none
/// at all (a blank in a scanf format matches any number of blanks, zero
/// included), then a number; the rest of the line is ignored. Returns the
/// number, whether no blank separated it, and whether text followed it.
fn scan_auth(line: &str) -> Option<(i64, bool, bool)> {
    let after = line.strip_prefix("auth")?;
    let glued = !after.starts_with(char::is_whitespace);
    let (n, rest) = scan_int(after)?;
    Some((n, glued, !rest.trim().is_empty()))
}

/// A short word that is one or two edits away from a method name.
fn looks_like_method(word: &str) -> bool {
    word.len() <= 7
        && word.bytes().all(|b| b.is_ascii_alphanumeric())
        && ["crc", "md5", "sha1", "sha256"].iter().any(|m| {
            let (a, b) = (word.as_bytes(), m.as_bytes());
            let common = a.iter().zip(b).filter(|(x, y)| x == y).count();
            a.len().max(b.len()) - common <= 2
        })
}

/// Parses authkeys text. Errors make the result unusable; the caller checks for them.
pub fn parse(text: &str, file: &Path) -> (Auth, Vec<Diagnostic>) {
    let at = |line| {
        Some(Location {
            file: file.to_path_buf(),
            line,
        })
    };
    let mut diags = Vec::new();
    let mut keys: BTreeMap<u8, (AuthKey, usize)> = BTreeMap::new();
    let mut send: Option<(u8, usize)> = None;
    // heartbeat binds the outbound key while reading line N, so `auth N` after
    // line N fails there; hbd accepts it and says so.
    let mut order_warned = false;

    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('a') {
            match scan_auth(line) {
                Some((n, glued, rest)) if (0..=MAX_INDEX as i64).contains(&n) => {
                    let n = n as u8;
                    // An `auth` line holds no secret, so `auth1` may be quoted.
                    if glued {
                        diags.push(Diagnostic::warning(
                            at(line_no),
                            "auth",
                            format!("\"auth{n}\" is read as `auth {n}`, as heartbeat's sscanf(\"auth %d\") reads it; write `auth {n}`"),
                        ));
                    }
                    if rest {
                        diags.push(Diagnostic::warning(
                            at(line_no),
                            "auth",
                            format!("text after `auth {n}` is ignored, as heartbeat does (it is not shown as it may be a secret)"),
                        ));
                    }
                    if let Some((_, prev)) = send {
                        diags.push(Diagnostic::warning(
                            at(line_no),
                            "auth",
                            format!("overrides `auth` on line {prev}; the last one wins"),
                        ));
                    }
                    if keys.contains_key(&n) && !order_warned {
                        order_warned = true;
                        diags.push(Diagnostic::warning(
                            at(line_no),
                            "auth",
                            format!("heartbeat 3.0.6 requires `auth {n}` before key line {n} and would refuse this file; hbd accepts it"),
                        ));
                    }
                    send = Some((n, line_no));
                }
                // Only `auth` and a short number are shown: a malformed line may
                // go on with a secret, or be a stray secret starting with `a`.
                Some((n, _, _)) if n.unsigned_abs() < 1000 => diags.push(Diagnostic::error(
                    at(line_no),
                    "auth",
                    format!("\"auth {n}\" is not `auth N` with N from 0 to 15"),
                )),
                _ => diags.push(Diagnostic::error(
                    at(line_no),
                    "auth",
                    "line is not `auth N` with N from 0 to 15 (its text is not shown as it may be a secret)",
                )),
            }
            continue;
        }
        // heartbeat reads a key line with sscanf("%d%s%s"): the index, then the
        // method and secret words, with or without a blank after the index.
        let (index, glued, rest) = match scan_int(line) {
            Some((n, rest)) if (0..=MAX_INDEX as i64).contains(&n) => (
                n as u8,
                !rest.is_empty() && !rest.starts_with(char::is_whitespace),
                rest,
            ),
            Some((n, _)) => {
                diags.push(Diagnostic::error(
                    at(line_no),
                    "key",
                    format!("index {n} is out of range (expected 0 to 15)"),
                ));
                continue;
            }
            None => {
                // The line may be a stray secret (a wrapped or pasted line): never
                // echo it.
                diags.push(Diagnostic::error(
                    at(line_no),
                    "authkeys",
                    "line is not a key line (expected `auth N` or `N crc|md5|sha1|sha256 [secret]`; its text is not shown as it may be a secret)",
                ));
                continue;
            }
        };
        // Word 0 is the index, as the rest of the loop counts.
        let tokens: Vec<&str> = std::iter::once("").chain(rest.split_whitespace()).collect();
        let Some(method_name) = tokens.get(1) else {
            diags.push(Diagnostic::error(
                at(line_no),
                "key",
                format!("key {index} names no method (expected crc, md5, sha1 or sha256)"),
            ));
            continue;
        };
        let method = match *method_name {
            "crc" => AuthMethod::Crc,
            "md5" => AuthMethod::Md5,
            "sha1" => AuthMethod::Sha1,
            "sha256" => AuthMethod::Sha256,
            other => {
                diags.push(Diagnostic::error(
                    at(line_no),
                    "key",
                    // A line missing its method (`N SECRET`) has the secret in that
                    // place: show the word only when it is plainly a misspelt method
                    // name (found by fuzzing: even with a third word it may be a secret).
                    if looks_like_method(other) {
                        format!(
                            "key {index}: unknown method {other:?} (expected crc, md5, sha1 or sha256)"
                        )
                    } else {
                        format!(
                            "key {index}: the second word is not a method (expected `{index} crc|md5|sha1|sha256 [secret]`; the word is not shown as it may be a secret)"
                        )
                    },
                ));
                continue;
            }
        };
        if glued {
            diags.push(Diagnostic::warning(
                at(line_no),
                "key",
                format!("key {index}: the method follows the index without a blank; heartbeat reads it as `{index} {}`, and so does hbd (write it so)", method.name()),
            ));
        }
        let secret = tokens.get(2).map(|s| s.as_bytes().to_vec());
        match (method, &secret) {
            (AuthMethod::Crc, Some(_)) => {
                diags.push(Diagnostic::error(at(line_no), "key", format!("key {index}: crc takes no secret (write `{index} crc`)")));
                continue;
            }
            (AuthMethod::Crc, None) => diags.push(Diagnostic::warning(
                at(line_no),
                "key",
                format!("key {index}: crc authenticates nothing (anyone on the link can forge packets); use sha1, or sha256 for hbd-only pairs"),
            )),
            (_, None) => {
                diags.push(Diagnostic::error(at(line_no), "key", format!("key {index}: {} needs a secret (write `{index} {} SECRET`)", method.name(), method.name())));
                continue;
            }
            (AuthMethod::Sha256, Some(_)) => diags.push(Diagnostic::warning(
                at(line_no),
                "key",
                format!("key {index}: sha256 is hbd's own; heartbeat 3.0.6 peers cannot verify it"),
            )),
            _ => {}
        }
        if tokens.len() > 3 {
            diags.push(Diagnostic::warning(
                at(line_no),
                "key",
                format!("key {index}: text after the secret is ignored, as heartbeat does"),
            ));
        }
        if let Some((_, prev)) = keys.get(&index) {
            diags.push(Diagnostic::warning(
                at(line_no),
                "key",
                format!("key {index} is also defined on line {prev}; the last one wins"),
            ));
        }
        keys.insert(
            index,
            (
                AuthKey {
                    method,
                    secret: Secret(secret.unwrap_or_default()),
                },
                line_no,
            ),
        );
    }

    let send_index = match send {
        None => {
            diags.push(Diagnostic::error(
                at(0),
                "auth",
                "no `auth N` line selects the key to send with",
            ));
            0
        }
        Some((n, line)) => {
            if !keys.contains_key(&n) {
                diags.push(Diagnostic::error(
                    at(line),
                    "auth",
                    format!("auth key [{n}] not found in the file (add a line `{n} sha1 SECRET`)"),
                ));
            }
            n
        }
    };
    let auth = Auth {
        send_index,
        keys: keys.into_iter().map(|(i, (k, _))| (i, k)).collect(),
    };
    (auth, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> (Auth, Vec<String>) {
        let (a, d) = parse(text, Path::new("authkeys"));
        (a, d.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn sha1_key_selected_for_sending() {
        let (a, d) = p("# keys\nauth 1\n1 sha1 testsecret\n2 md5 other extra\n");
        assert_eq!(a.send_index, 1);
        assert_eq!(a.send_key().unwrap().method, AuthMethod::Sha1);
        assert_eq!(a.send_key().unwrap().secret.0, b"testsecret");
        assert_eq!(a.keys[&2].method, AuthMethod::Md5);
        assert_eq!(d, vec!["authkeys:4: key: warning: key 2: text after the secret is ignored, as heartbeat does"]);
    }

    #[test]
    fn key_line_missing_its_method_does_not_show_the_secret() {
        let (_, d) = p("auth 1\n1 correct-horse-battery\nauth1 sha1 correct-horse\n");
        assert!(d.iter().all(|d| !d.contains("correct-horse")), "{d:?}");
        assert!(d[0].contains("the word is not shown"), "{d:?}");
    }

    #[test]
    fn errors_name_line_and_never_the_secret() {
        let (_, d) =
            p("auth 3\n1 sha1 s3cr3t\n2 blowfish s3cr3t\n17 md5 x\nfoo\n4 md5\n5 crc s3cr3t\n");
        assert_eq!(
            d,
            vec![
                "authkeys:3: key: key 2: the second word is not a method (expected `2 crc|md5|sha1|sha256 [secret]`; the word is not shown as it may be a secret)",
                "authkeys:4: key: index 17 is out of range (expected 0 to 15)",
                "authkeys:5: authkeys: line is not a key line (expected `auth N` or `N crc|md5|sha1|sha256 [secret]`; its text is not shown as it may be a secret)",
                "authkeys:6: key: key 4: md5 needs a secret (write `4 md5 SECRET`)",
                "authkeys:7: key: key 5: crc takes no secret (write `5 crc`)",
                "authkeys:1: auth: auth key [3] not found in the file (add a line `3 sha1 SECRET`)",
            ]
        );
        assert!(d.iter().all(|l| !l.contains("s3cr3t")));
    }

    #[test]
    fn auth_lines_as_heartbeat_scans_them() {
        // Two public Ansible roles write `auth1`; heartbeat starts with it.
        let (a, d) = p("auth1\n1 sha1 k\n");
        assert_eq!(a.send_index, 1);
        assert_eq!(
            d,
            vec!["authkeys:1: auth: warning: \"auth1\" is read as `auth 1`, as heartbeat's sscanf(\"auth %d\") reads it; write `auth 1`"]
        );
        let (a, d) = p("auth\t2 s3cr3t-words\n2 md5 k\n");
        assert_eq!(a.send_index, 2);
        assert_eq!(
            d,
            vec!["authkeys:1: auth: warning: text after `auth 2` is ignored, as heartbeat does (it is not shown as it may be a secret)"]
        );
        assert_eq!(
            p("auth 16\n").1[0],
            "authkeys:1: auth: \"auth 16\" is not `auth N` with N from 0 to 15"
        );
        assert!(p("authx 1\n").1[0].contains("its text is not shown"));
        assert!(p("auth -1\n").1[0].contains("\"auth -1\" is not `auth N`"));
    }

    #[test]
    fn a_key_line_glued_to_its_index_is_read_as_heartbeat_does() {
        let (a, d) = p("auth 1\n1sha1 s3cr3t\n");
        assert_eq!(a.keys[&1].method, AuthMethod::Sha1);
        assert_eq!(a.keys[&1].secret.0, b"s3cr3t");
        assert_eq!(
            d,
            vec!["authkeys:2: key: warning: key 1: the method follows the index without a blank; heartbeat reads it as `1 sha1`, and so does hbd (write it so)"]
        );
        assert!(p("auth 1\n99 sha1 k\n").1[0].contains("index 99 is out of range"));
    }

    #[test]
    fn crc_is_accepted_with_a_warning() {
        let (a, d) = p("auth 1\n1 crc\n");
        assert_eq!(a.send_key().unwrap().method, AuthMethod::Crc);
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("crc authenticates nothing"), "{d:?}");
    }

    #[test]
    fn auth_after_its_key_line_is_a_warning() {
        let (a, d) = p("1 sha1 k\nauth 1\n");
        assert_eq!(a.send_index, 1);
        assert!(
            d[0].contains("heartbeat 3.0.6 requires `auth 1` before key line 1"),
            "{d:?}"
        );
    }

    #[test]
    fn missing_auth_line_is_an_error() {
        let (_, d) = p("1 sha1 k\n");
        assert_eq!(
            d,
            vec!["authkeys: auth: no `auth N` line selects the key to send with"]
        );
    }

    #[test]
    fn load_refuses_group_readable_file_even_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real");
        std::fs::write(&target, "auth 1\n1 sha1 k\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("authkeys");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let (auth, d) = load(&link);
        assert!(auth.is_none());
        assert!(
            d[0].to_string().contains("mode 644") && d[0].to_string().contains("chmod 600"),
            "{d:?}"
        );
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (auth, d) = load(&link);
        assert!(auth.is_some(), "{d:?}");
    }
}
