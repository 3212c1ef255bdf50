//! What can go wrong while turning the fragment into Rust.

use std::path::PathBuf;

/// A failure to generate the client. Every variant names the fragment it came from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The fragment could not be read from disk.
    #[error("{}: cannot read the OpenAPI fragment: {source}", path.display())]
    Read {
        /// The fragment's path.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The fragment is not valid YAML, or not an OpenAPI 3.0 document.
    #[error("{}: not a valid OpenAPI 3.0 document: {source}", path.display())]
    Parse {
        /// The fragment's path.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: serde_norway::Error,
    },
    /// The fragment parsed, but something in it cannot be generated.
    #[error("{}: {message}", path.display())]
    Unsupported {
        /// The fragment's path.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// progenitor refused the fragment.
    #[error("{}: progenitor cannot generate a client from it: {source}", path.display())]
    Progenitor {
        /// The fragment's path.
        path: PathBuf,
        /// progenitor's error.
        source: progenitor::Error,
    },
    /// The generated tokens are not a valid Rust file (a generator bug).
    #[error("{}: the generated code is not valid Rust: {source}", path.display())]
    Syntax {
        /// The fragment's path.
        path: PathBuf,
        /// The parser's error.
        source: syn::Error,
    },
}
