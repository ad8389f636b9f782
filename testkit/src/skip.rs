//! The one way a test says "not on this machine".
//!
//! A root-only or package-dependent test (or part of one) asks [`Needs`]
//! first. When something is missing it is skipped with the reason printed,
//! and for a missing package the `apt-get install` line that fixes it. Under
//! `HBD_REQUIRE_LAB=1` (CI, where root and every package are expected) the
//! same skip fails the test instead: a lab that silently did not run would
//! otherwise report the suite green.

use std::path::Path;

/// The environment variable that turns every skip into a failure.
pub const REQUIRE_LAB: &str = "HBD_REQUIRE_LAB";

/// Whether `HBD_REQUIRE_LAB` asks for skips to fail: set and neither empty
/// nor `0`.
pub fn require_lab() -> bool {
    require_lab_in(std::env::var_os(REQUIRE_LAB).as_deref())
}

/// [`require_lab`] for a given value of the variable.
pub fn require_lab_in(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0")
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether `tool` is an executable name found on `PATH` (or the sbin
/// directories, which a non-login root shell may not have on it).
pub fn have_tool(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(Into::into))
        .any(|d| d.join(tool).is_file())
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Missing {
    Root(String),
    /// A tool or file that a Debian package provides.
    Package {
        what: String,
        package: String,
    },
    Other(String),
}

/// What a test (or part of one) needs from the machine. Build it, then ask
/// [`Needs::met`]: `false` means "return now, skipped".
///
/// ```no_run
/// # use testkit::skip::Needs;
/// if !Needs::new("fault_matrix").lab().tool("socat", "socat").met() {
///     return;
/// }
/// ```
#[must_use = "ask met(): a Needs nobody asks skips nothing"]
#[derive(Clone, Debug)]
pub struct Needs {
    what: String,
    missing: Vec<Missing>,
}

impl Needs {
    /// `what`: the test's name, or `test: part` for a part of one.
    pub fn new(what: &str) -> Needs {
        Needs {
            what: what.to_string(),
            missing: Vec::new(),
        }
    }

    /// Root, for the reason given (`"network namespaces"`, `"dpkg -i"`).
    pub fn root(mut self, why: &str) -> Needs {
        if !is_root() {
            self.missing.push(Missing::Root(why.to_string()));
        }
        self
    }

    /// An executable on `PATH`, from Debian package `package`.
    pub fn tool(mut self, tool: &str, package: &str) -> Needs {
        if !have_tool(tool) {
            self.missing.push(Missing::Package {
                what: tool.to_string(),
                package: package.to_string(),
            });
        }
        self
    }

    /// A file or directory at `path`, from Debian package `package`.
    pub fn file(mut self, path: &str, package: &str) -> Needs {
        if !Path::new(path).exists() {
            self.missing.push(Missing::Package {
                what: path.to_string(),
                package: package.to_string(),
            });
        }
        self
    }

    /// What the namespace lab needs: root and the tools it builds nodes with.
    pub fn lab(self) -> Needs {
        self.root("network namespaces, mounts and loop devices")
            .tool("ip", "iproute2")
            .tool("nsenter", "util-linux")
            .tool("unshare", "util-linux")
    }

    /// Anything else the test cannot do without: `ok` false adds `reason`.
    pub fn that(mut self, ok: bool, reason: &str) -> Needs {
        if !ok {
            self.missing.push(Missing::Other(reason.to_string()));
        }
        self
    }

    /// True when everything is here. Otherwise prints why and returns false
    /// (the caller returns: skipped), or panics under `HBD_REQUIRE_LAB=1`.
    pub fn met(self) -> bool {
        self.met_if(require_lab())
    }

    /// [`Needs::met`] with the `HBD_REQUIRE_LAB` decision given.
    pub fn met_if(self, required: bool) -> bool {
        let Some(why) = self.reason() else {
            return true;
        };
        if required {
            panic!(
                "{what}: {REQUIRE_LAB}=1 and this test cannot run here: {why}",
                what = self.what
            );
        }
        eprintln!(
            "skipped: {}: {why}\n  ({REQUIRE_LAB}=1 makes this a failure)",
            self.what
        );
        false
    }

    /// Why the test cannot run here, with the `apt-get install` line for
    /// missing packages; None when it can.
    pub fn reason(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        let mut packages: Vec<&str> = Vec::new();
        for m in &self.missing {
            match m {
                Missing::Root(why) => parts.push(format!("needs root ({why})")),
                Missing::Package { what, package } => {
                    parts.push(format!("{what} not found"));
                    if !packages.contains(&package.as_str()) {
                        packages.push(package);
                    }
                }
                Missing::Other(why) => parts.push(why.clone()),
            }
        }
        let mut why = parts.join("; ");
        if !packages.is_empty() {
            why += &format!(
                "\n  install with: apt-get install -y {}",
                packages.join(" ")
            );
        }
        Some(why)
    }
}
