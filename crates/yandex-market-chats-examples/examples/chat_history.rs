//! Prints a chat's messages, oldest first.
//!
//! ```text
//! cargo run --example chat_history -- --chat-id 10668          # against the built-in sandbox
//! cargo run --example chat_history -- --chat-id 10668 --json
//! ```
//!
//! Without `--chat-id` it shows the first chat of the sandbox (or of the
//! business). Exit codes: 0 success, 2 usage error, 1 anything else.

use std::io::Write;
use std::process::ExitCode;

use futures::TryStreamExt;
use yandex_market_chats::{ChatMessage, HistoryPageSize};
use yandex_market_chats_examples::{
    Failure, chat_or_first, connect, exit, number, value, write_error,
};
use yandex_market_chats_sandbox::SandboxConfig;

const HELP: &str = "Print a chat's messages (getChatHistory), oldest first.

USAGE:
    cargo run --example chat_history -- [--chat-id N] [OPTIONS]

Without YANDEX_MARKET_API_KEY (or YANDEX_MARKET_OAUTH_TOKEN) it uses the built-in sandbox.

OPTIONS:
    --chat-id N        the chat (default: the business's first chat)
    --business-id N    the business (cabinet) id
    --from N           start with message N (messageIdFrom)
    --page-size N      messages per request, 1..=100 (default 50)
    --json             one JSON object per message per line, with the API's field names
    --help             this text";

#[tokio::main]
async fn main() -> ExitCode {
    exit(run().await)
}

async fn run() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let (mut chat_id, mut business_id, mut from, mut page_size, mut json) =
        (None, None, None, HistoryPageSize::default(), false);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--help" | "-h" => {
                return writeln!(std::io::stdout(), "{HELP}").map_err(write_error);
            }
            "--json" => json = true,
            "--chat-id" => chat_id = Some(number(&flag, &value(&flag, &mut args)?)?),
            "--business-id" => business_id = Some(number(&flag, &value(&flag, &mut args)?)?),
            "--from" => from = Some(number::<u64>(&flag, &value(&flag, &mut args)?)?),
            "--page-size" => {
                page_size = HistoryPageSize::new(number(&flag, &value(&flag, &mut args)?)?)?
            }
            other => {
                return Err(Failure::Usage(format!(
                    "unknown argument {other:?} (see --help)"
                )));
            }
        }
    }
    let target = connect(business_id, SandboxConfig::default())?;
    let chat_id = chat_or_first(&target, chat_id).await?;
    let mut query = target
        .client
        .chat(target.business_id, chat_id)
        .history()
        .page_size(page_size);
    if let Some(from) = from {
        query = query.message_id_from(from);
    }
    let mut messages = query.stream();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut count = 0;
    while let Some(message) = messages.try_next().await? {
        count += 1;
        let line = if json {
            serde_json::to_string(&message).map_err(|e| Failure::Run(e.to_string()))?
        } else {
            human(&message)
        };
        writeln!(out, "{line}").map_err(write_error)?;
    }
    out.flush().map_err(write_error)?;
    if !json {
        eprintln!("{count} message(s) in chat {chat_id}");
    }
    Ok(())
}

fn human(message: &ChatMessage) -> String {
    let files = message
        .payload
        .iter()
        .flatten()
        .map(|file| format!(" [file {} ({} bytes)]", file.name, file.size))
        .collect::<String>();
    format!(
        "{} {:<9} #{}: {}{files}",
        message.created_at.to_rfc3339(),
        message.sender.as_str(),
        message.message_id,
        message.message.as_deref().unwrap_or("")
    )
}
