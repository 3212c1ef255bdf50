//! Follows a business's chats and prints events as they come: new
//! messages, new chats, status changes.
//!
//! ```text
//! cargo run --example follow_chats                          # the sandbox, buyers writing on their own
//! cargo run --example follow_chats -- --for 20 --json
//! cargo run --example follow_chats -- --checkpoint chats.state   # run it again: it goes on where it stopped
//! ```
//!
//! Exit codes: 0 success (also when `--for` ends it, or its output is
//! closed early), 2 usage error, 1 anything else.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use futures::TryStreamExt;
use yandex_market_chats::follow::{ChatEvent, FileCheckpoint};
use yandex_market_chats_examples::{Failure, connect, exit, number, value, write_error};
use yandex_market_chats_sandbox::SandboxConfig;

const HELP: &str =
    "Follow a business's chats: print new messages, new chats and status changes as they come.

USAGE:
    cargo run --example follow_chats -- [OPTIONS]

Without YANDEX_MARKET_API_KEY (or YANDEX_MARKET_OAUTH_TOKEN) it uses the built-in sandbox,
whose buyers write on their own.

OPTIONS:
    --for SECONDS        stop after this long (default: run until interrupted)
    --checkpoint PATH    keep the place in this file, to go on after a restart
    --from-beginning     replay existing messages on a fresh start (default: from now)
    --json               one JSON object per event per line
    --business-id N      the business (cabinet) id
    --help               this text";

#[tokio::main]
async fn main() -> ExitCode {
    exit(run().await)
}

async fn run() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let (mut duration, mut checkpoint, mut from_beginning, mut json, mut business_id) =
        (None, None, false, false, None);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--help" | "-h" => {
                return writeln!(std::io::stdout(), "{HELP}").map_err(write_error);
            }
            "--json" => json = true,
            "--from-beginning" => from_beginning = true,
            "--for" => {
                duration = Some(Duration::from_secs(number(
                    &flag,
                    &value(&flag, &mut args)?,
                )?));
            }
            "--checkpoint" => checkpoint = Some(value(&flag, &mut args)?),
            "--business-id" => business_id = Some(number(&flag, &value(&flag, &mut args)?)?),
            other => {
                return Err(Failure::Usage(format!(
                    "unknown argument {other:?} (see --help)"
                )));
            }
        }
    }
    let sandbox = SandboxConfig::default()
        .chats(20)
        .buyers_write_every(Duration::from_millis(700));
    let target = connect(business_id, sandbox)?;
    let mut query = target
        .client
        .follow(target.business_id)
        .poll_interval(Duration::from_secs(if target.sandbox.is_some() {
            1
        } else {
            30
        }));
    if let Some(path) = checkpoint {
        query = query.checkpoint(FileCheckpoint::new(path));
    }
    if from_beginning {
        query = query.from_beginning();
    }
    let mut events = query.stream();
    let mut out = std::io::stdout().lock();
    let follow = async {
        while let Some(event) = events.try_next().await? {
            let line = if json { as_json(&event) } else { human(&event) };
            writeln!(out, "{line}").map_err(write_error)?;
            out.flush().map_err(write_error)?;
        }
        Ok::<(), Failure>(())
    };
    match duration {
        Some(duration) => match tokio::time::timeout(duration, follow).await {
            Ok(result) => result,
            Err(_) => Ok(()), // --for ended it
        },
        None => follow.await,
    }
}

fn human(event: &ChatEvent) -> String {
    match event {
        ChatEvent::Message {
            chat_id, message, ..
        } => format!(
            "{} chat {chat_id}: {} wrote: {}",
            message.created_at.to_rfc3339(),
            message.sender,
            message.message.as_deref().unwrap_or("[file]")
        ),
        ChatEvent::NewChat { chat, .. } => format!(
            "{} chat {}: new chat about {} {}",
            chat.created_at.to_rfc3339(),
            chat.chat_id,
            chat.context.type_,
            chat.context
                .order_id
                .map(|id| id.to_string())
                .or(chat.context.return_id.map(|id| id.to_string()))
                .unwrap_or_default()
        ),
        ChatEvent::StatusChanged { chat, previous, .. } => format!(
            "{} chat {}: {previous} -> {}",
            chat.updated_at.to_rfc3339(),
            chat.chat_id,
            chat.status
        ),
        ChatEvent::ChatGone { chat_id, .. } => format!("chat {chat_id}: gone"),
        other => format!("{other:?}"),
    }
}

fn as_json(event: &ChatEvent) -> String {
    let body = match event {
        ChatEvent::Message {
            chat_id, message, ..
        } => {
            serde_json::json!({"event": "message", "chatId": chat_id, "message": message})
        }
        ChatEvent::NewChat { chat, .. } => serde_json::json!({"event": "newChat", "chat": chat}),
        ChatEvent::StatusChanged { chat, previous, .. } => {
            serde_json::json!({"event": "statusChanged", "chat": chat, "previous": previous})
        }
        ChatEvent::ChatGone { chat_id, .. } => {
            serde_json::json!({"event": "chatGone", "chatId": chat_id})
        }
        other => serde_json::json!({"event": "other", "debug": format!("{other:?}")}),
    };
    let mut body = body;
    body["dedupKey"] = serde_json::Value::String(event.dedup_key());
    body.to_string()
}
