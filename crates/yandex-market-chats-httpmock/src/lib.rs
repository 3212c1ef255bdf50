// The front page is the README, so that crates.io and docs.rs show the same
// text and its example runs as a doc test.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub use generated::{MockServerExt, operations};
/// The httpmock these mocks are built on, so that a test's `MockServer` is
/// always the one they extend.
pub use httpmock;

pub mod rate_limit;

/// The generated code: `operations` (a `When` and a `Then` per operation) and
/// `MockServerExt`. progenitor writes no docs for them, and its code is not
/// clippy-clean (`value.to_string()` in `format!`); like the client's
/// generated modules, it is exempt from clippy. The `Then` methods of the
/// 420s call [`rate_limit`].
#[allow(missing_docs, clippy::all)]
mod generated {
    // Not `mod generated;`: the file is formatted by the generator (as the
    // client snapshot is), so rustfmt must not reach it.
    include!("generated.rs");
}
