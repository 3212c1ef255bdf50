//! The tasks behind `cargo xtask`, as functions so that tests can run them on
//! a copy of the workspace.

use std::path::Path;

pub mod mutants;
pub mod tasks;

/// The fragment, relative to the workspace root.
pub const SPEC: &str = "openapi/chats.yaml";
/// The committed snapshot of the generated client, relative to the workspace root.
pub const SNAPSHOT: &str = "crates/yandex-market-chats-api/snapshot/chats.rs";

/// Why `check` failed.
#[derive(Debug)]
pub enum CheckError {
    /// The generator failed (the message names the fragment).
    Generate(String),
    /// The snapshot could not be read.
    Io(String),
    /// The snapshot is missing or differs; `diff` is a unified diff from the
    /// committed snapshot to a fresh generation.
    Drift {
        /// `missing` or `stale`.
        what: &'static str,
        /// The unified diff.
        diff: String,
    },
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Generate(message) | Self::Io(message) => f.write_str(message),
            Self::Drift { what, .. } => write!(
                f,
                "{SNAPSHOT} is {what}: run `cargo xtask generate`, review the diff and commit it"
            ),
        }
    }
}

fn fresh(root: &Path) -> Result<String, String> {
    yandex_market_chats_codegen::generate(root.join(SPEC)).map_err(|e| e.to_string())
}

/// Regenerates the snapshot. Returns a one-line summary.
///
/// # Errors
/// The generator's error, or a write failure.
pub fn generate(root: &Path) -> Result<String, String> {
    let source = fresh(root)?;
    let path = root.join(SNAPSHOT);
    if std::fs::read_to_string(&path).ok().as_deref() == Some(source.as_str()) {
        return Ok(format!("{SNAPSHOT} is already up to date"));
    }
    std::fs::write(&path, &source).map_err(|e| format!("cannot write {SNAPSHOT}: {e}"))?;
    Ok(format!(
        "wrote {SNAPSHOT} ({} lines); review it with `git diff`",
        source.lines().count()
    ))
}

/// Regenerates in memory and compares with the snapshot. Returns a one-line
/// summary when they are the same.
///
/// # Errors
/// [`CheckError::Drift`] with a unified diff when the snapshot is missing or stale.
pub fn check(root: &Path) -> Result<String, CheckError> {
    let source = fresh(root).map_err(CheckError::Generate)?;
    let committed = match std::fs::read_to_string(root.join(SNAPSHOT)) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CheckError::Io(format!("cannot read {SNAPSHOT}: {e}"))),
    };
    if committed.as_deref() == Some(source.as_str()) {
        return Ok(format!(
            "{SNAPSHOT} is in sync with {SPEC} ({} lines)",
            source.lines().count()
        ));
    }
    let old = committed.as_deref().unwrap_or("");
    let diff = similar::TextDiff::from_lines(old, &source)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("a/{SNAPSHOT} (committed)"),
            &format!("b/{SNAPSHOT} (generated from {SPEC})"),
        )
        .to_string();
    Err(CheckError::Drift {
        what: if committed.is_none() {
            "missing"
        } else {
            "stale"
        },
        diff,
    })
}
