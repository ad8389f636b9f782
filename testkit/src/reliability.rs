//! The reliability matrix: rows the fault and hostile-input suites measure,
//! written as Markdown so that RELIABILITY.md is produced by a test run and
//! never by hand.
//!
//! Each suite writes its own section to `target/reliability/<suite>.md` as
//! soon as its rows are known (also when some are red: the row is written
//! before the test fails), then `target/RELIABILITY.md` is assembled from the
//! sections present. With `HBD_WRITE_RELIABILITY=1` the assembled file is
//! also copied to the repository root, which is what the lead commits.
use crate::skip::{Needs, REQUIRE_LAB};
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// How a row ended.
#[derive(Clone, Debug)]
pub enum Verdict {
    Pass,
    /// Red, with the reason.
    Fail(String),
    /// Not run, with the reason (a missing tool, a kernel without netem…).
    NotRun(String),
}

impl Verdict {
    pub fn cell(&self) -> String {
        match self {
            Verdict::Pass => "pass".into(),
            Verdict::Fail(r) => format!("**FAIL**: {}", md(r)),
            Verdict::NotRun(r) => format!("not run: {}", md(r)),
        }
    }
    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }

    /// The verdict of a row that cannot run for want of `needs`: not run,
    /// with the reason, or under `HBD_REQUIRE_LAB=1` a failure (the skip
    /// rule of [`crate::skip`], for a row that is recorded, not asserted).
    /// None when everything is here.
    pub fn unmet(needs: &Needs) -> Option<Verdict> {
        Self::unmet_if(needs, crate::skip::require_lab())
    }

    /// [`Verdict::unmet`] with the `HBD_REQUIRE_LAB` decision given.
    pub fn unmet_if(needs: &Needs, required: bool) -> Option<Verdict> {
        let why = needs.reason()?;
        Some(if required {
            Verdict::Fail(format!("{REQUIRE_LAB}=1 and it cannot run here: {why}"))
        } else {
            eprintln!("not run: {why}");
            Verdict::NotRun(why)
        })
    }
}

/// One scenario's result.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    pub expected: String,
    pub observed: String,
    /// Milliseconds during which the resource was active on both nodes
    /// (`None`: not measured in this scenario).
    pub dual_ms: Option<u64>,
    /// Milliseconds from the fault to service (see the section's legend).
    pub service_ms: Option<u64>,
    pub verdict: Verdict,
}

/// Escapes what would break a Markdown table cell.
pub fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn num(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "–".into())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo().join("target"))
}

fn sh_out(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .current_dir(crate::repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Where the suites keep the daemons' logs of their last run.
pub fn logs_dir() -> PathBuf {
    target_dir().join("reliability").join("logs")
}

/// Date, commit and machine, for the section header.
pub fn provenance() -> String {
    let date = sh_out("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"]);
    let commit = sh_out("git", &["rev-parse", "--short=12", "HEAD"]);
    let dirty = if sh_out("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " (with uncommitted changes)"
    };
    let kernel = sh_out("uname", &["-srm"]);
    let cpus = sh_out("nproc", &[]);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    format!("run {date}, commit {commit}{dirty}, {kernel}, {cpus} × {model}")
}

/// Writes one suite's section and reassembles RELIABILITY.md.
pub fn write_section(suite: &str, title: &str, legend: &str, rows: &[Row]) {
    let mut s = format!("## {title}\n\n{}\n\n{legend}\n\n", provenance());
    s.push_str(
        "| scenario | expected | observed | dual-ownership window (ms) | time to service (ms) | result |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            md(&r.scenario),
            md(&r.expected),
            md(&r.observed),
            num(r.dual_ms),
            num(r.service_ms),
            r.verdict.cell()
        ));
    }
    write_text_section(suite, &s);
}

/// Writes a suite's section as given (a `## ` title first) and reassembles
/// RELIABILITY.md: for a suite whose results are not one table of rows.
pub fn write_text_section(suite: &str, text: &str) {
    let dir = target_dir().join("reliability");
    fs::create_dir_all(&dir).expect("create target/reliability");
    fs::write(dir.join(format!("{suite}.md")), text).expect("write reliability section");
    assemble();
}

fn assemble() {
    let dir = target_dir().join("reliability");
    let mut out = String::from(
        "# hbd reliability matrix\n\n\
         Generated by the test suite (`tests/faults.rs`, `tests/hostile.rs`, `tests/campaign.rs`); do not edit by hand.\n\
         Regenerate as root with `HBD_WRITE_RELIABILITY=1 cargo test --no-fail-fast --test faults --test hostile -- --nocapture`\n\
         and the campaign with `HBD_CAMPAIGN_MINUTES=60 HBD_WRITE_RELIABILITY=1 cargo test --release --test campaign -- --nocapture`\n\
         (see docs/reliability.md). Each section names the run, commit and machine it comes from.\n\n",
    );
    // A suite not run in this target directory keeps the section the
    // committed file has (the 60-minute campaign is not rerun with the
    // fault matrix, nor the matrix with a campaign).
    let committed = fs::read_to_string(crate::repo().join("RELIABILITY.md")).unwrap_or_default();
    for suite in ["faults", "hostile", "campaign"] {
        match fs::read_to_string(dir.join(format!("{suite}.md"))) {
            Ok(text) => out.push_str(&text),
            Err(_) => match committed_section(&committed, suite) {
                Some(text) => out.push_str(text.trim_end()),
                None => out.push_str(&format!(
                    "## {suite}\n\n(no run of tests/{suite}.rs in this target directory)\n"
                )),
            },
        }
        out.push('\n');
    }
    let file = target_dir().join("RELIABILITY.md");
    fs::write(&file, &out).expect("write target/RELIABILITY.md");
    eprintln!("reliability matrix written to {}", file.display());
    if std::env::var("HBD_WRITE_RELIABILITY").as_deref() == Ok("1") {
        let root = crate::repo().join("RELIABILITY.md");
        fs::write(&root, &out).expect("write RELIABILITY.md");
        eprintln!("and copied to {}", root.display());
    }
}

/// The section of `text` (a RELIABILITY.md) whose title names
/// `tests/<suite>.rs`, up to the next section.
fn committed_section<'a>(text: &'a str, suite: &str) -> Option<&'a str> {
    let mark = format!("(tests/{suite}.rs)");
    let start = text
        .match_indices("## ")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || text[..i].ends_with('\n'))
        .find(|&i| text[i..].lines().next().is_some_and(|l| l.contains(&mark)))?;
    let rest = &text[start + 3..];
    let end = rest.find("\n## ").map_or(text.len(), |e| start + 3 + e + 1);
    Some(&text[start..end])
}

/// Panics listing the red rows (after the section was written).
pub fn assert_green(rows: &[Row]) {
    let red: Vec<String> = rows
        .iter()
        .filter(|r| r.verdict.is_fail())
        .map(|r| format!("{}: {}", r.scenario, r.verdict.cell()))
        .collect();
    assert!(red.is_empty(), "red rows:\n{}", red.join("\n"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_committed_section_ends_at_the_next() {
        let t = "# x\n\n## A (tests/faults.rs)\nrow\n### sub\n## B (tests/hostile.rs)\nb\n";
        assert_eq!(
            super::committed_section(t, "faults"),
            Some("## A (tests/faults.rs)\nrow\n### sub\n")
        );
        assert_eq!(
            super::committed_section(t, "hostile"),
            Some("## B (tests/hostile.rs)\nb\n")
        );
        assert_eq!(super::committed_section(t, "campaign"), None);
    }
}
