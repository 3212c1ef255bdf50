//! Runnable examples for `yandex-market-chats`: see the `examples/` folder.
//! Run one from the workspace root, e.g. `cargo run --example list_chats`.
//!
//! This library holds what the examples share: where to connect (the API
//! with `YANDEX_MARKET_API_KEY` or `YANDEX_MARKET_OAUTH_TOKEN`, else the
//! built-in sandbox), argument
//! parsing helpers and exit codes (0 success, 2 usage error, 1 anything else).
//! It also runs the workspace README's code blocks as doc tests
//! (`ReadmeDoctests`, compiled only for them).

use std::process::ExitCode;

use yandex_market_chats::{Client, Error};
use yandex_market_chats_sandbox::{Sandbox, SandboxConfig};

/// What went wrong, and so which exit code.
#[derive(Debug)]
pub enum Failure {
    /// A usage error: exit code 2.
    Usage(String),
    /// Anything else: exit code 1.
    Run(String),
    /// Standard output was closed early (`... | head`): the reader has
    /// what it wanted, so the example ends quietly with exit code 0.
    OutputClosed,
}

/// What a failed write to standard output means: a closed pipe ends the
/// example quietly; anything else is a run error.
pub fn write_error(error: std::io::Error) -> Failure {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::OutputClosed
    } else {
        Failure::Run(format!("cannot write the output: {error}"))
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidInput { .. } => Self::Usage(error.to_string()),
            other => Self::Run(other.to_string()),
        }
    }
}

/// Prints a failure as one line on stderr and gives the exit code.
pub fn exit(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) | Err(Failure::OutputClosed) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Run(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// A number given to `flag`.
///
/// # Errors
/// A usage error naming the flag.
pub fn number<T: std::str::FromStr>(flag: &str, raw: &str) -> Result<T, Failure> {
    raw.parse().map_err(|_| {
        Failure::Usage(format!(
            "{flag} needs a non-negative whole number, got {raw:?}"
        ))
    })
}

/// The value after `flag`.
///
/// # Errors
/// A usage error when there is none.
pub fn value(flag: &str, args: &mut impl Iterator<Item = String>) -> Result<String, Failure> {
    args.next()
        .ok_or_else(|| Failure::Usage(format!("{flag} needs a value")))
}

/// Where the example talks to: the API or the sandbox it started. Keep it
/// alive until the work is done: dropping it stops the sandbox.
pub struct Target {
    /// The client.
    pub client: Client,
    /// The business to work on.
    pub business_id: u64,
    /// The sandbox, when there was no key.
    pub sandbox: Option<Sandbox>,
}

/// With `YANDEX_MARKET_API_KEY` or `YANDEX_MARKET_OAUTH_TOKEN`
/// ([`Client::from_env`]), the API (`YANDEX_MARKET_BASE_URL` overrides
/// the URL) and the business from `business_id` or
/// `YANDEX_MARKET_BUSINESS_ID`; without, a sandbox started with `config`,
/// announced in one line on stderr.
///
/// # Errors
/// A usage error for a key without a business id; whatever building the
/// client or starting the sandbox fails with.
pub fn connect(business_id: Option<u64>, config: SandboxConfig) -> Result<Target, Failure> {
    let credential = ["YANDEX_MARKET_API_KEY", "YANDEX_MARKET_OAUTH_TOKEN"]
        .into_iter()
        .find(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    if let Some(credential) = credential {
        let business_id = match business_id {
            Some(id) => id,
            None => {
                let raw = std::env::var("YANDEX_MARKET_BUSINESS_ID").map_err(|_| {
                    Failure::Usage(format!(
                        "{credential} is set but no business id: set YANDEX_MARKET_BUSINESS_ID or pass --business-id"
                    ))
                })?;
                number("YANDEX_MARKET_BUSINESS_ID", &raw)?
            }
        };
        return Ok(Target {
            client: Client::from_env()?,
            business_id,
            sandbox: None,
        });
    }
    let sandbox = Sandbox::start(config)?;
    eprintln!(
        "No YANDEX_MARKET_API_KEY (or YANDEX_MARKET_OAUTH_TOKEN) set: using the built-in sandbox at {}",
        sandbox.base_url()
    );
    Ok(Target {
        client: sandbox.client()?,
        business_id: business_id.unwrap_or(sandbox.business_id()),
        sandbox: Some(sandbox),
    })
}

/// `chat_id`, or else the business's first chat (announced on stderr).
///
/// # Errors
/// What listing fails with; a run error when the business has no chats.
pub async fn chat_or_first(target: &Target, chat_id: Option<u64>) -> Result<u64, Failure> {
    if let Some(id) = chat_id {
        return Ok(id);
    }
    let first = target.client.chats(target.business_id).page(None).await?;
    let chat = first
        .chats
        .first()
        .ok_or_else(|| Failure::Run("the business has no chats".into()))?;
    eprintln!("no --chat-id: using chat {}", chat.chat_id);
    Ok(chat.chat_id.get())
}

/// The workspace README's code blocks, compiled and run as doc tests by
/// `cargo test --workspace`. They live here, not in `yandex-market-chats`:
/// they use the sandbox crate, which depends on the product crate, so the
/// product crate cannot depend on it.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
