//! Sends a message (or a file) to a chat.
//!
//! ```text
//! cargo run --example reply -- --chat-id 10668 --text "Hello! Your order ships tomorrow."
//! cargo run --example reply -- --chat-id 10668 --file ./photo.jpg
//! ```
//!
//! Without `YANDEX_MARKET_API_KEY` (or `YANDEX_MARKET_OAUTH_TOKEN`) it replies in the built-in sandbox (to its
//! first chat unless `--chat-id` says otherwise) and shows the chat's last
//! messages. Exit codes: 0 success, 2 usage error, 1
//! anything else; a write whose outcome is unknown says so.

use std::io::Write;
use std::process::ExitCode;

use yandex_market_chats_examples::{
    Failure, chat_or_first, connect, exit, number, value, write_error,
};
use yandex_market_chats_sandbox::SandboxConfig;

const HELP: &str = "Send a message or a file to a chat (sendMessageToChat, sendFileToChat).

USAGE:
    cargo run --example reply -- [--chat-id N] (--text TEXT | --file PATH)

Without YANDEX_MARKET_API_KEY (or YANDEX_MARKET_OAUTH_TOKEN) it uses the built-in sandbox.

OPTIONS:
    --chat-id N        the chat (default: the business's first chat)
    --business-id N    the business (cabinet) id
    --text TEXT        the message, 1 to 4,096 characters
    --file PATH        a file to send, at most 5 MB
    --help             this text";

#[tokio::main]
async fn main() -> ExitCode {
    exit(run().await)
}

async fn run() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let (mut chat_id, mut business_id, mut text, mut file) = (None, None, None, None);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--help" | "-h" => {
                return writeln!(std::io::stdout(), "{HELP}").map_err(write_error);
            }
            "--chat-id" => chat_id = Some(number::<u64>(&flag, &value(&flag, &mut args)?)?),
            "--business-id" => business_id = Some(number(&flag, &value(&flag, &mut args)?)?),
            "--text" => text = Some(value(&flag, &mut args)?),
            "--file" => file = Some(value(&flag, &mut args)?),
            other => {
                return Err(Failure::Usage(format!(
                    "unknown argument {other:?} (see --help)"
                )));
            }
        }
    }
    if text.is_some() == file.is_some() {
        return Err(Failure::Usage(
            "give exactly one of --text and --file".into(),
        ));
    }
    // Read the file before connecting, so that a bad path sends nothing.
    let file = match file {
        Some(path) => {
            let bytes = std::fs::read(&path)
                .map_err(|e| Failure::Usage(format!("cannot read {path}: {e}")))?;
            let name = std::path::Path::new(&path)
                .file_name()
                .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
            Some((name, bytes))
        }
        None => None,
    };
    let target = connect(business_id, SandboxConfig::default())?;
    let chat_id = chat_or_first(&target, chat_id).await?;
    let chat = target.client.chat(target.business_id, chat_id);
    match (text, file) {
        (Some(text), _) => chat.send_message(text).await?,
        (_, Some((name, bytes))) => chat.send_file(name, bytes).await?,
        _ => unreachable!("checked above"),
    }
    eprintln!("sent to chat {chat_id}");
    if let Some(sandbox) = &target.sandbox {
        let mut out = std::io::stdout().lock();
        for message in sandbox.messages(chat_id).iter().rev().take(3).rev() {
            writeln!(
                out,
                "{} {:<9} {}",
                message.created_at.to_rfc3339(),
                message.sender.as_str(),
                message.message.as_deref().unwrap_or("[file]")
            )
            .map_err(write_error)?;
        }
    }
    Ok(())
}
