//! No import cycle between modules: neither between the top-level modules of
//! `src/` (core, wire, config, control, shell, demo, time; cli in the binary)
//! nor between the files of one module (`shell/link.rs` ↔ `shell/serial.rs`,
//! `config/load.rs` ↔ `config/validate.rs` were such cycles once).
//!
//! The check reads the source as text, not just `use` lines: every path that
//! starts at `crate::`, `super::`, `self::`, `hbd::` or (in a `mod.rs`) at a
//! child module counts, in `use` trees and inline alike (`crate::control::
//! SOCKET_NAME` in an expression is as much a dependency as a `use`). Comments,
//! strings and `#[cfg(test)]` items are left out: a test may reach anywhere.
//! A name a `mod.rs` re-exports (`pub use jobs::Runner`) resolves to the file
//! that defines it, so a cycle cannot hide behind a re-export; the re-export
//! itself is the module's shape, not a dependency. What a `mod.rs` defines
//! itself belongs to the `mod.rs` node, which takes part in the cycle check
//! like any other file of its module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which crate a module belongs to: `src/lib.rs`'s or `src/main.rs`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Crate {
    Lib,
    Bin,
}

/// A module: its crate and its path from the crate root (`["core", "jobs"]`).
type Module = (Crate, Vec<String>);

struct Source {
    file: PathBuf,
    /// The code with comments, strings and `#[cfg(test)]` items blanked.
    code: String,
    /// Whether the file may have child modules (`lib.rs`, `main.rs`, `mod.rs`).
    is_dir_module: bool,
}

struct Tree {
    files: BTreeMap<Module, Source>,
}

/// One dependency: `from` names something in `to`, at `file`, as `path`.
#[derive(Clone, Debug)]
struct Edge {
    from: Module,
    to: Module,
    file: PathBuf,
    path: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Where `file` (relative to `src/`) sits in the module tree.
fn module_of(rel: &Path) -> (Module, bool) {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let krate =
        if parts.first().is_some_and(|p| p == "cli") || (parts.is_empty() && last == "main.rs") {
            Crate::Bin
        } else {
            Crate::Lib
        };
    match last.as_str() {
        "lib.rs" | "main.rs" if parts.is_empty() => ((krate, parts), true),
        "mod.rs" => ((krate, parts), true),
        leaf => {
            parts.push(leaf.trim_end_matches(".rs").to_string());
            ((krate, parts), false)
        }
    }
}

fn load_tree() -> Tree {
    let root = src_dir();
    let mut paths = Vec::new();
    rs_files(&root, &mut paths);
    let mut files = BTreeMap::new();
    for file in paths {
        let rel = file.strip_prefix(&root).unwrap().to_path_buf();
        let (module, is_dir_module) = module_of(&rel);
        let text = std::fs::read_to_string(&file).unwrap();
        let code = without_test_items(&code_only(&text));
        files.insert(
            module,
            Source {
                file: rel,
                code,
                is_dir_module,
            },
        );
    }
    Tree { files }
}

/// `src` with comments, string and character literals replaced by spaces
/// (newlines kept), so that only code is searched for paths.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !b[..i]
                .last()
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string r"…" or r#"…"#: ends at a quote and as many hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &b[i..j.min(b.len())] {
                blank(&mut out, ch);
            }
            i = j;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            if i < b.len() {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..b.len()).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    for &ch in &b[i..=e] {
                        blank(&mut out, ch);
                    }
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `code` with every item marked `#[cfg(test)]` blanked (up to its `;`, or
/// through its matching `}`).
fn without_test_items(code: &str) -> String {
    let mark: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut out: Vec<char> = code.chars().collect();
    let mut at = 0;
    while at + mark.len() <= out.len() {
        if out[at..at + mark.len()] != mark[..] {
            at += 1;
            continue;
        }
        let mut depth = 0usize;
        let mut i = at;
        while i < out.len() {
            let c = out[i];
            if c != '\n' {
                out[i] = ' ';
            }
            i += 1;
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => break,
                '}' => depth = depth.saturating_sub(1),
                ';' if depth == 0 => break,
                _ => {}
            }
        }
        at = i;
    }
    out.into_iter().collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Star,
    Semi,
    Other,
}

fn tokens(code: &str) -> Vec<Token> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(b[start..i].iter().collect()));
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let t = match c {
            ':' if b.get(i + 1) == Some(&':') => {
                i += 1;
                Token::PathSep
            }
            '{' => Token::Open,
            '}' => Token::Close,
            ',' => Token::Comma,
            '*' => Token::Star,
            ';' => Token::Semi,
            _ => Token::Other,
        };
        out.push(t);
        i += 1;
    }
    out
}

/// The paths one `use` tree names, from `toks[*i]` up to its end.
fn use_tree(toks: &[Token], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        match toks.get(*i) {
            Some(Token::Ident(name)) => {
                if name == "self" && !path.is_empty() {
                    // `use a::{self, B}`: `a` itself.
                } else {
                    path.push(name.clone());
                }
                *i += 1;
                if let Some(Token::Ident(kw)) = toks.get(*i) {
                    if kw == "as" {
                        *i += 2;
                    }
                }
                if toks.get(*i) == Some(&Token::PathSep) {
                    *i += 1;
                    continue;
                }
                out.push(path);
                return;
            }
            Some(Token::Star) => {
                *i += 1;
                out.push(path);
                return;
            }
            Some(Token::Open) => {
                *i += 1;
                loop {
                    match toks.get(*i) {
                        Some(Token::Close) => {
                            *i += 1;
                            return;
                        }
                        Some(Token::Comma) => *i += 1,
                        None => return,
                        _ => use_tree(toks, i, path.clone(), out),
                    }
                }
            }
            // `use ::std::…` or something this reader does not know: no path.
            Some(Token::PathSep) => {
                *i += 1;
            }
            _ => return,
        }
    }
}

/// The paths a file names: (path, whether it is a `pub use` re-export).
fn paths_in(code: &str) -> Vec<(Vec<String>, bool)> {
    let toks = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Token::Ident(kw) if kw == "use" => {
                let public = i > 0
                    && (matches!(&toks[i - 1], Token::Ident(p) if p == "pub")
                        // `pub(crate) use`, `pub(super) use`
                        || (i >= 4 && matches!(&toks[i - 4], Token::Ident(p) if p == "pub")));
                i += 1;
                let mut trees = Vec::new();
                use_tree(&toks, &mut i, Vec::new(), &mut trees);
                out.extend(trees.into_iter().map(|p| (p, public)));
            }
            Token::Ident(first) => {
                let preceded_by_sep = i > 0 && toks[i - 1] == Token::PathSep;
                if preceded_by_sep {
                    i += 1;
                    continue;
                }
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Token::PathSep) {
                    match toks.get(j + 1) {
                        Some(Token::Ident(n)) => {
                            path.push(n.clone());
                            j += 2;
                        }
                        _ => break,
                    }
                }
                if path.len() > 1 {
                    out.push((path, false));
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// The names a file imports only to add methods to them: every mention
/// outside its `use` lines is `impl Name`. Such a file is a part of that type,
/// split by concern (the core's `impl Machine` in `delivery.rs`, `jobs.rs`, …),
/// not a user of it; what its methods name is still counted.
fn extended_only(code: &str) -> BTreeSet<String> {
    let toks = tokens(code);
    let mut in_use = false;
    let mut impl_of = BTreeSet::new();
    let mut other = BTreeSet::new();
    for (i, t) in toks.iter().enumerate() {
        match t {
            Token::Ident(kw) if kw == "use" => in_use = true,
            Token::Semi => in_use = false,
            Token::Ident(name) if !in_use => {
                if i > 0 && toks[i - 1] == Token::Ident("impl".into()) {
                    impl_of.insert(name.clone());
                } else {
                    other.insert(name.clone());
                }
            }
            _ => {}
        }
    }
    impl_of.difference(&other).cloned().collect()
}

impl Tree {
    fn is_module(&self, m: &Module) -> bool {
        self.files.contains_key(m)
    }

    /// The module a path leads to, followed from `at` (the module of the
    /// file it is written in); `None` for paths outside the crates (std, …).
    fn resolve(&self, at: &Module, path: &[String], depth: usize) -> Option<Module> {
        if depth > 8 || path.is_empty() {
            return None;
        }
        let (krate, here) = at;
        let (mut cur, rest): (Module, &[String]) = match path[0].as_str() {
            "crate" => ((*krate, vec![]), &path[1..]),
            "hbd" if *krate == Crate::Bin => ((Crate::Lib, vec![]), &path[1..]),
            "self" => (at.clone(), &path[1..]),
            "super" => {
                let mut m = here.clone();
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    m.pop()?;
                    rest = &rest[1..];
                }
                ((*krate, m), rest)
            }
            child => {
                let mut m = here.clone();
                m.push(child.to_string());
                if !self.files.get(at).is_some_and(|s| s.is_dir_module)
                    || !self.is_module(&(*krate, m.clone()))
                {
                    return None;
                }
                ((*krate, m), &path[1..])
            }
        };
        for (k, seg) in rest.iter().enumerate() {
            let mut next = cur.1.clone();
            next.push(seg.clone());
            let next = (cur.0, next);
            if self.is_module(&next) {
                cur = next;
                continue;
            }
            // An item of `cur`: where `cur` imports it from, if it does.
            if let Some(target) = self.imported_from(&cur, seg) {
                let mut more = target;
                more.extend_from_slice(&rest[k + 1..]);
                return self.resolve(&cur, &more, depth + 1).or(Some(cur));
            }
            return Some(cur);
        }
        Some(cur)
    }

    /// The path `module`'s file brings `name` in by (`use x::name`, `pub use
    /// x::{name, …}`): a child sees its parent's imports, and a re-export is
    /// only a new name for the same item.
    fn imported_from(&self, module: &Module, name: &str) -> Option<Vec<String>> {
        let src = self.files.get(module)?;
        paths_in(&src.code)
            .into_iter()
            .map(|(path, _)| path)
            .find(|path| path.len() > 1 && path.last().is_some_and(|l| l == name))
    }

    fn edges(&self) -> Vec<Edge> {
        let mut out = Vec::new();
        for (module, src) in &self.files {
            let extends = extended_only(&src.code);
            for (path, public) in paths_in(&src.code) {
                if path.last().is_some_and(|name| extends.contains(name)) {
                    continue;
                }
                let Some(to) = self.resolve(module, &path, 0) else {
                    continue;
                };
                // A directory module re-exporting its own children is its
                // shape, not a dependency.
                if public && src.is_dir_module && to.0 == module.0 && to.1.starts_with(&module.1) {
                    continue;
                }
                if &to != module {
                    out.push(Edge {
                        from: module.clone(),
                        to,
                        file: src.file.clone(),
                        path: path.join("::"),
                    });
                }
            }
        }
        out
    }
}

/// The name of a module's part one level below `parent`: the child's name,
/// or `parent`'s own file when the module is `parent` itself.
fn part(parent: &[String], m: &[String]) -> String {
    match m.get(parent.len()) {
        Some(child) => child.clone(),
        None if parent.is_empty() => "(crate root)".into(),
        None => "(mod.rs)".into(),
    }
}

/// Parts of one module that reach each other through their imports.
#[derive(Debug)]
struct Cycle {
    /// `core`, `cli::control`, or `Lib crate` for the top-level modules.
    module: String,
    parts: BTreeSet<String>,
    /// Each step, with the first path that makes it.
    steps: Vec<String>,
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.module, self.steps.join("; "))
    }
}

/// Every cycle, one per strongly connected group of parts of one module.
fn cycles(edges: &[Edge]) -> Vec<Cycle> {
    // (crate, parent module) -> part -> part -> the edges behind it
    type Graph = BTreeMap<(Crate, Vec<String>), BTreeMap<String, BTreeMap<String, Vec<Edge>>>>;
    let mut graphs: Graph = BTreeMap::new();
    for e in edges {
        if e.from.0 != e.to.0 {
            continue; // the binary uses the library; never the other way
        }
        let (a, b) = (&e.from.1, &e.to.1);
        let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let parent = a[..common].to_vec();
        let (pa, pb) = (part(&parent, a), part(&parent, b));
        graphs
            .entry((e.from.0, parent))
            .or_default()
            .entry(pa)
            .or_default()
            .entry(pb)
            .or_default()
            .push(e.clone());
    }
    let mut found = Vec::new();
    for ((krate, parent), g) in &graphs {
        for parts in strongly_connected(g) {
            let module = if parent.is_empty() {
                format!("{krate:?} crate")
            } else {
                parent.join("::")
            };
            let mut steps = Vec::new();
            for a in &parts {
                for (b, es) in g.get(a).into_iter().flatten() {
                    if parts.contains(b) {
                        let more = match es.len() {
                            1 => String::new(),
                            n => format!(" and {} more", n - 1),
                        };
                        let e = &es[0];
                        steps.push(format!(
                            "{a} -> {b} ({}: {}{more})",
                            e.file.display(),
                            e.path
                        ));
                    }
                }
            }
            found.push(Cycle {
                module,
                parts,
                steps,
            });
        }
    }
    found
}

/// The groups of more than one node that reach each other (Tarjan).
fn strongly_connected<V>(g: &BTreeMap<String, BTreeMap<String, V>>) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a, V>(g: &'a BTreeMap<String, BTreeMap<String, V>>, v: &'a str, s: &mut State<'a>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in g.get(v).into_iter().flat_map(|m| m.keys()) {
            if !s.index.contains_key(w.as_str()) {
                visit(g, w, s);
                let lw = s.low[w.as_str()];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on_stack.contains(w.as_str()) {
                let iw = s.index[w.as_str()];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                s.out.push(group);
            }
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    let nodes: BTreeSet<&str> = g
        .iter()
        .flat_map(|(a, m)| std::iter::once(a.as_str()).chain(m.keys().map(|b| b.as_str())))
        .collect();
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(g, v, &mut s);
        }
    }
    s.out
}

/// Cycles allowed for now: (module, the parts allowed in the cycle, the way
/// out). Empty since the last two (core: liveness <-> machine; cli::control:
/// mod.rs <-> cl_status, wait) were removed, so every cycle fails. A cycle
/// with any part not listed fails; an entry whose cycle is gone fails too, so
/// the list can only shrink.
const KNOWN: &[(&str, &[&str], &str)] = &[];

#[test]
fn no_import_cycle_between_modules_or_between_files_of_one_module() {
    let tree = load_tree();
    let edges = tree.edges();
    // The reader must see the layering it guards, or it guards nothing.
    let sees = |from: &[&str], to: &[&str]| {
        edges.iter().any(|e| {
            e.from.0 == Crate::Lib
                && e.to.0 == Crate::Lib
                && e.from
                    .1
                    .starts_with(&from.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                && e.to.1 == to.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        })
    };
    assert!(sees(&["shell"], &["core"]), "no shell -> core edge seen");
    assert!(sees(&["shell", "daemon"], &["shell", "startup"]));
    let found = cycles(&edges);
    let (known, new): (Vec<&Cycle>, Vec<&Cycle>) = found.iter().partition(|c| {
        KNOWN.iter().any(|(m, parts, _)| {
            c.module == *m && c.parts.iter().all(|p| parts.contains(&p.as_str()))
        })
    });
    let text = |cs: &[&Cycle]| {
        cs.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join("\n  ")
    };
    assert!(
        new.is_empty(),
        "import cycles in src/ (a -> b: a names something in b):\n  {}",
        text(&new)
    );
    for (module, parts, why) in KNOWN {
        assert!(
            known.iter().any(|c| c.module == *module),
            "the known cycle in {module} ({}) is gone: remove it from KNOWN",
            parts.join(", ")
        );
        eprintln!(
            "known cycle, to remove ({why}): {}",
            text(
                &known
                    .iter()
                    .copied()
                    .filter(|c| c.module == *module)
                    .collect::<Vec<_>>()
            )
        );
    }
}

mod reader {
    use super::*;

    #[test]
    fn comments_strings_and_test_items_are_not_code() {
        let code = code_only(
            "use a::b; // crate::x::y\nlet s = \"super::z\"; let c = '\"'; /* crate::w */ r#\"crate::v\"#;\n#[cfg(test)]\nmod tests { use crate::t; }\nfn f<'a>() {}",
        );
        let code = without_test_items(&code);
        assert!(!code.contains("crate::"), "{code}");
        assert!(!code.contains("super::"), "{code}");
        assert!(code.contains("fn f<'a>()"), "{code}");
    }

    #[test]
    fn use_trees_and_inline_paths_are_read() {
        let got = paths_in(
            "pub use super::link::{self, Links as L, x::*};\nuse crate::{core::Input, wire};\nfn f() { crate::control::SOCKET_NAME; }",
        );
        let want: Vec<(Vec<String>, bool)> = [
            (&["super", "link"][..], true),
            (&["super", "link", "Links"][..], true),
            (&["super", "link", "x"][..], true),
            (&["crate", "core", "Input"][..], false),
            (&["crate", "wire"][..], false),
            (&["crate", "control", "SOCKET_NAME"][..], false),
        ]
        .iter()
        .map(|(p, public)| (p.iter().map(|s| s.to_string()).collect(), *public))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_cycle_between_two_files_is_found_and_named() {
        let m = |p: &[&str]| (Crate::Lib, p.iter().map(|s| s.to_string()).collect());
        let e = |from: &[&str], to: &[&str]| Edge {
            from: m(from),
            to: m(to),
            file: PathBuf::from(format!("{}.rs", from.join("/"))),
            path: format!("super::{}", to.last().unwrap()),
        };
        let found = cycles(&[
            e(&["shell", "link"], &["shell", "serial"]),
            e(&["shell", "serial"], &["shell", "link"]),
            e(&["shell", "daemon"], &["core"]),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].to_string().starts_with("shell: link -> serial"),
            "{found:?}"
        );
        assert!(cycles(&[
            e(&["shell", "daemon"], &["core"]),
            e(&["core", "jobs"], &["wire"])
        ])
        .is_empty());
        // Across top-level modules: core -> shell -> core.
        let found = cycles(&[
            e(&["core", "jobs"], &["shell", "link"]),
            e(&["shell", "link"], &["core"]),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].to_string().starts_with("Lib crate: core -> shell"),
            "{found:?}"
        );
    }
}
