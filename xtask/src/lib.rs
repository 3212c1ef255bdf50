//! The tasks behind `cargo xtask`, as functions so that tests can run them on
//! a copy of the workspace.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub mod mutants;
pub mod tasks;

/// The fragment, relative to the workspace root: the single source.
pub const SPEC: &str = "openapi/chats.yaml";
/// The api crate's copy of the fragment, which its build script reads (so
/// that the packaged crate builds on its own), relative to the workspace root.
pub const SPEC_COPY: &str = "crates/yandex-market-chats-api/openapi/chats.yaml";
/// The committed snapshot of the generated client, relative to the workspace root.
pub const SNAPSHOT: &str = "crates/yandex-market-chats-api/snapshot/chats.rs";
/// The generated typed httpmock mocks, which `yandex-market-chats-httpmock`
/// compiles, relative to the workspace root.
pub const MOCKS: &str = "crates/yandex-market-chats-httpmock/src/generated.rs";
/// Every file `generate` writes from [`SPEC`] and `check` compares, in that order.
pub const GENERATED: [&str; 3] = [SPEC_COPY, SNAPSHOT, MOCKS];

/// Why `check` failed.
#[derive(Debug)]
pub enum CheckError {
    /// The fragment could not be read, or the generator failed (the message
    /// names the fragment).
    Generate(String),
    /// A generated file could not be read.
    Io(String),
    /// Generated files are missing or differ from a fresh generation.
    Drift {
        /// Each such file (one of [`GENERATED`]) with `missing` or `stale`,
        /// in the order of [`GENERATED`].
        files: Vec<(&'static str, &'static str)>,
        /// A unified diff from each committed file to its fresh generation,
        /// one after the other.
        diff: String,
    },
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Generate(message) | Self::Io(message) => f.write_str(message),
            Self::Drift { files, .. } => {
                let list: Vec<String> = files
                    .iter()
                    .map(|(path, what)| format!("{path} is {what}"))
                    .collect();
                write!(
                    f,
                    "{}: run `cargo xtask generate`, review the diff and commit it",
                    list.join(", ")
                )
            }
        }
    }
}

/// The workspace root at run time: the parent of `manifest_dir`, the value of
/// `CARGO_MANIFEST_DIR`, which `cargo run` (and so `cargo xtask`) sets to the
/// `xtask` folder of the workspace it runs in. Read at run time, not with
/// `env!`: with a shared `CARGO_TARGET_DIR`, a binary built in another clone
/// would otherwise work on that clone's files.
///
/// # Errors
/// When the variable is unset or empty (xtask was not started by cargo), or
/// names a folder without a parent.
pub fn workspace_root(manifest_dir: Option<OsString>) -> Result<PathBuf, String> {
    let manifest_dir = manifest_dir
        .filter(|dir| !dir.is_empty())
        .ok_or_else(|| {
            "CARGO_MANIFEST_DIR is not set: run xtask through cargo, as `cargo xtask <task>` inside the workspace"
                .to_owned()
        })?;
    let manifest_dir = PathBuf::from(manifest_dir);
    manifest_dir
        .parent()
        .filter(|root| !root.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "CARGO_MANIFEST_DIR is {}, which is not the xtask folder of a workspace",
                manifest_dir.display()
            )
        })
}

/// Each file of [`GENERATED`] with what it should contain, from the
/// workspace's fragment.
fn fresh(root: &Path) -> Result<[(&'static str, String); 3], String> {
    let spec = root.join(SPEC);
    let yaml = std::fs::read_to_string(&spec)
        .map_err(|e| format!("{}: cannot read the OpenAPI fragment: {e}", spec.display()))?;
    let client =
        yandex_market_chats_codegen::generate_from_str(&spec, &yaml).map_err(|e| e.to_string())?;
    let mocks = yandex_market_chats_codegen::generate_httpmock_from_str(&spec, &yaml)
        .map_err(|e| e.to_string())?;
    Ok([(SPEC_COPY, yaml), (SNAPSHOT, client), (MOCKS, mocks)])
}

/// Writes every file of [`GENERATED`] that differs from a fresh generation.
/// Returns a summary, one line per file.
///
/// # Errors
/// The generator's error, or a write failure.
pub fn generate(root: &Path) -> Result<String, String> {
    let mut summary = Vec::new();
    for (file, content) in fresh(root)? {
        let path = root.join(file);
        if std::fs::read(&path).ok().as_deref() == Some(content.as_bytes()) {
            summary.push(format!("{file} is already up to date"));
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, &content).map_err(|e| format!("cannot write {file}: {e}"))?;
        summary.push(format!(
            "wrote {file} ({} lines); review it with `git diff`",
            content.lines().count()
        ));
    }
    Ok(summary.join("\n"))
}

/// Regenerates in memory and compares every file of [`GENERATED`] with its
/// committed version, byte for byte. Returns a one-line summary when they
/// are all the same.
///
/// # Errors
/// [`CheckError::Drift`] with a unified diff when a file is missing or stale.
pub fn check(root: &Path) -> Result<String, CheckError> {
    let mut files = Vec::new();
    let mut diff = String::new();
    for (file, content) in fresh(root).map_err(CheckError::Generate)? {
        let committed = match std::fs::read(root.join(file)) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(CheckError::Io(format!("cannot read {file}: {e}"))),
        };
        if committed.as_deref() == Some(content.as_bytes()) {
            continue;
        }
        let old = committed
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let source = if file == SPEC_COPY {
            format!("copied from {SPEC}")
        } else {
            format!("generated from {SPEC}")
        };
        diff.push_str(
            &similar::TextDiff::from_lines(old.as_ref(), &content)
                .unified_diff()
                .context_radius(3)
                .header(
                    &format!("a/{file} (committed)"),
                    &format!("b/{file} ({source})"),
                )
                .to_string(),
        );
        files.push((
            file,
            if committed.is_none() {
                "missing"
            } else {
                "stale"
            },
        ));
    }
    if files.is_empty() {
        Ok(format!("{} are in sync with {SPEC}", GENERATED.join(", ")))
    } else {
        Err(CheckError::Drift { files, diff })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_parent_of_the_manifest_dir_given_at_run_time() {
        let root = workspace_root(Some("/somewhere/clone-b/xtask".into())).unwrap();
        assert_eq!(root, Path::new("/somewhere/clone-b"));
    }

    #[test]
    fn without_cargo_manifest_dir_the_error_says_how_to_run_it() {
        for unset in [None, Some(OsString::new())] {
            let error = workspace_root(unset).unwrap_err();
            assert!(error.contains("CARGO_MANIFEST_DIR is not set"), "{error}");
            assert!(error.contains("cargo xtask"), "{error}");
        }
        let error = workspace_root(Some("/".into())).unwrap_err();
        assert!(error.contains("not the xtask folder"), "{error}");
    }
}
