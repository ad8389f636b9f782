//! `hbd man` and `hbd completions`: documentation generated from the things
//! it documents, so it cannot drift. hbd(8) and one hbd-SUBCOMMAND(8) page per
//! subcommand come from the clap definition (clap_mangen), and cl_status(8)
//! for the drop-in the package installs as heartbeat's; hbd.toml(5) is
//! docs/config-reference.md, compiled in and turned into roff here. The
//! command comes from `main`, which defines it, so this module does not
//! reach back into the binary's root.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to write hbd.8, hbd-*.8 and hbd.toml.5 into (created if missing).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, thiserror::Error)]
pub enum ManError {
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

const CONFIG_REFERENCE: &str = include_str!("../../docs/config-reference.md");

/// `cmd` is the whole `hbd` command (`Cli::command()`).
pub fn run(args: Args, cmd: clap::Command) -> ExitCode {
    match write_all(&args.out, cmd) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hbd man: {e}");
            ExitCode::from(1)
        }
    }
}

/// `cmd` is the whole `hbd` command (`Cli::command()`).
pub fn completions(args: CompletionArgs, mut cmd: clap::Command) -> ExitCode {
    clap_complete::generate(args.shell, &mut cmd, "hbd", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// Every page of `cmd` (the whole `hbd` command) as (file name, roff text).
pub fn pages(cmd: clap::Command) -> Vec<(String, Vec<u8>)> {
    // `hbd help X` is `man hbd-X` here: no page for it, so no entry either.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    command_pages(&cmd, "hbd", &mut out);
    // The package installs /usr/bin/cl_status (running `hbd cl_status`) where
    // heartbeat's users call it: it gets a page under its own name.
    if let Some(cl_status) = cmd.find_subcommand("cl_status") {
        let mut buf = render_page(&cl_status.clone().bin_name("cl_status"), "cl_status");
        buf.extend_from_slice(CL_STATUS_SEE_ALSO.as_bytes());
        out.push(("cl_status.8".into(), buf));
    }
    out.push(("hbd.toml.5".into(), config_page().into_bytes()));
    out
}

/// `cmd` as a section 8 page named `name`.
fn render_page(cmd: &clap::Command, name: &str) -> Vec<u8> {
    let page = cmd.clone().name(name.to_string()).display_name(name);
    let mut buf = Vec::new();
    let man = clap_mangen::Man::new(page)
        .section("8")
        .manual("hbd manual")
        .source(format!("hbd {}", env!("CARGO_PKG_VERSION")));
    // Writing to a Vec cannot fail.
    let _ = man.render(&mut buf);
    buf
}

fn command_pages(cmd: &clap::Command, name: &str, out: &mut Vec<(String, Vec<u8>)>) {
    let mut buf = render_page(cmd, name);
    if name == "hbd" {
        buf.extend_from_slice(SEE_ALSO.as_bytes());
    }
    out.push((format!("{name}.8"), buf));
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        command_pages(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}

const SEE_ALSO: &str =
    ".SH \"SEE ALSO\"\n\\fBhbd.toml\\fR(5), \\fBsystemctl\\fR(1), \\fBsd_notify\\fR(3)\n";

const CL_STATUS_SEE_ALSO: &str = ".SH NOTES\nInstalled by the hbd package as /usr/bin/cl_status, it runs \\fBhbd cl_status\\fR \
     with \\fB\\-\\-run\\-dir\\fR from \\fBHBD_RUN_DIR\\fR (default /run/hbd). While hbd's control socket \
     is absent and heartbeat's own cl_status is installed (diverted to /usr/bin/cl_status.heartbeat), \
     that one answers.\n.SH \"SEE ALSO\"\n\\fBhbd\\-cl_status\\fR(8), \\fBhbd\\fR(8)\n";

pub fn write_all(dir: &Path, cmd: clap::Command) -> Result<Vec<PathBuf>, ManError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let mut written = Vec::new();
    for (name, text) in pages(cmd) {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(err(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// hbd.toml(5) from the markdown reference: headings, paragraphs, lists,
/// code blocks and tables (a table row becomes a tagged paragraph).
pub fn config_page() -> String {
    let mut r = String::new();
    let _ = writeln!(
        r,
        ".TH HBD.TOML 5 \"\" \"hbd {}\" \"hbd manual\"\n.SH NAME\nhbd.toml \\- hbd configuration: /etc/ha.d (ha.cf, haresources, authkeys) and hbd.toml",
        env!("CARGO_PKG_VERSION")
    );
    let mut lines = CONFIG_REFERENCE.lines().peekable();
    let mut header: Vec<String> = Vec::new();
    let mut in_list = false;
    let mut after_blank = true;
    while let Some(line) = lines.next() {
        if let Some(fence) = line.strip_prefix("```") {
            let _ = fence;
            r.push_str(".PP\n.nf\n.RS 4\n");
            for code in lines.by_ref() {
                if code.starts_with("```") {
                    break;
                }
                let _ = writeln!(r, "{}", escape_line(&escape(code)));
            }
            r.push_str(".RE\n.fi\n");
            continue;
        }
        let t = line.trim_end();
        if t.is_empty() {
            header.clear();
            in_list = false;
            after_blank = true;
            continue;
        }
        let new_paragraph = std::mem::take(&mut after_blank);
        if let Some(h) = t.strip_prefix("# ") {
            // The document title: the NAME section already says it.
            let _ = h;
            r.push_str(".SH DESCRIPTION\n");
        } else if let Some(h) = t.strip_prefix("## ") {
            let _ = writeln!(r, ".SH \"{}\"", plain(h).to_uppercase());
        } else if let Some(h) = t.strip_prefix("### ") {
            let _ = writeln!(r, ".SS \"{}\"", plain(h));
        } else if t.starts_with('|') {
            let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
            if cells
                .iter()
                .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
            {
                continue;
            }
            if header.is_empty() {
                header = cells.iter().map(|c| plain(c)).collect();
                continue;
            }
            let _ = writeln!(r, ".TP\n{}", escape_line(&inline(cells[0])));
            let rest: Vec<String> = cells
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(_, c)| !c.is_empty() && **c != "—")
                .map(|(i, c)| match header.get(i) {
                    Some(h) if h != "notes" => format!("{h}: {}", inline(c)),
                    _ => inline(c),
                })
                .collect();
            let _ = writeln!(r, "{}", escape_line(&rest.join("; ")));
        } else if let Some(item) = t.strip_prefix("* ").or_else(|| t.strip_prefix("- ")) {
            in_list = true;
            let _ = writeln!(r, ".IP \\(bu 2\n{}", escape_line(&inline(item)));
        } else if in_list && line.starts_with("  ") {
            let _ = writeln!(r, "{}", escape_line(&inline(t.trim_start())));
        } else {
            if new_paragraph || !prev_is_text(&r) {
                r.push_str(".PP\n");
            }
            let _ = writeln!(r, "{}", escape_line(&inline(t)));
        }
    }
    r.push_str(".SH \"SEE ALSO\"\n\\fBhbd\\fR(8), \\fBhbd-check\\fR(8), \\fBhbd-migrate\\fR(8)\n");
    r
}

/// Whether the last line written was running text (a paragraph continues).
fn prev_is_text(r: &str) -> bool {
    let last = r.trim_end_matches('\n').rsplit('\n').next().unwrap_or("");
    !last.is_empty() && !last.starts_with('.') && !r.ends_with(".fi\n")
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

/// A line starting with `.` or `'` would be read as a request.
fn escape_line(s: &str) -> String {
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s.to_string()
    }
}

/// Markdown without its marks, for headings and table headers.
fn plain(s: &str) -> String {
    s.replace(['`', '*'], "")
}

/// `code` and **bold** become bold; everything else is escaped.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut bold = false;
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("**") {
            out.push_str(if bold { "\\fR" } else { "\\fB" });
            bold = !bold;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('`') {
            let end = r.find('`').unwrap_or(r.len());
            let _ = write!(out, "\\fB{}\\fR", escape(&r[..end]));
            if bold {
                out.push_str("\\fB");
            }
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push_str(&escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    if bold {
        out.push_str("\\fR");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn inline_markup_becomes_roff() {
        assert_eq!(inline("a `b-c` **d**"), "a \\fBb\\-c\\fR \\fBd\\fR");
        assert_eq!(inline("back\\slash"), "back\\eslash");
        assert_eq!(escape_line(".x"), "\\&.x");
    }

    #[test]
    fn config_page_has_every_section_of_the_reference() {
        let page = config_page();
        for h in CONFIG_REFERENCE.lines().filter(|l| l.starts_with("## ")) {
            let want = format!(".SH \"{}\"", plain(&h[3..]).to_uppercase());
            assert!(page.contains(&want), "missing {want}");
        }
        // Every directive row of the tables is a tagged paragraph.
        assert!(page.contains(".TP\n\\fBkeepalive\\fR"), "{page}");
    }

    #[test]
    fn every_visible_subcommand_has_a_page() {
        let names: Vec<String> = pages(crate::Cli::command())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for sub in crate::Cli::command().get_subcommands() {
            if sub.is_hide_set() {
                continue;
            }
            let want = format!("hbd-{}.8", sub.get_name());
            assert!(names.contains(&want), "no {want} in {names:?}");
        }
        assert!(names.contains(&"hbd-export-pacemaker.8".to_string()));
        assert!(!names.iter().any(|n| n.contains("demo-service")));
    }
}
