//! Lists a business's chats with buyers.
//!
//! ```text
//! cargo run --example list_chats                    # against the built-in sandbox
//! YANDEX_MARKET_API_KEY=... YANDEX_MARKET_BUSINESS_ID=... cargo run --example list_chats
//! cargo run --example list_chats -- --status NEW --json
//! ```
//!
//! Exit codes: 0 success, 2 usage error, 1 anything else.

use std::io::Write;
use std::process::ExitCode;

use futures::TryStreamExt;
use yandex_market_chats::{Chat, ChatStatus, ChatTarget, ChatType, OrderId, PageSize, ReturnId};
use yandex_market_chats_examples::{Failure, Target, connect, exit, number, value, write_error};
use yandex_market_chats_sandbox::SandboxConfig;

const HELP: &str = "List a business's chats with buyers (Yandex.Market Partner API, getChats).

USAGE:
    cargo run --example list_chats -- [OPTIONS]

Without YANDEX_MARKET_API_KEY (or YANDEX_MARKET_OAUTH_TOKEN) the example
starts the built-in sandbox and lists its chats. With one, it lists the
chats of YANDEX_MARKET_BUSINESS_ID (or --business-id) from the API;
YANDEX_MARKET_BASE_URL overrides the URL.
Flags win over the environment.

OPTIONS:
    --business-id N   the business (cabinet) id
    --status S        only chats in status S (repeatable): NEW, WAITING_FOR_CUSTOMER,
                      WAITING_FOR_PARTNER, WAITING_FOR_ARBITER, WAITING_FOR_MARKET, FINISHED
    --type T          only chats of type T (repeatable): CHAT, ARBITRAGE
    --order-id N      only chats about order N (repeatable)
    --return-id N     only chats about return N (repeatable)
    --page-size N     chats per request, 1..=20 (default 20)
    --max-pages N     stop after N pages
    --json            one JSON object per chat per line, with the API's field names
    --help            this text";

#[derive(Default)]
struct Args {
    business_id: Option<u64>,
    statuses: Vec<ChatStatus>,
    types: Vec<ChatType>,
    contexts: Vec<ChatTarget>,
    page_size: PageSize,
    max_pages: Option<u32>,
    json: bool,
    help: bool,
}

fn parse_args(raw: impl IntoIterator<Item = String>) -> Result<Args, Failure> {
    let mut args = Args::default();
    let mut raw = raw.into_iter();
    while let Some(flag) = raw.next() {
        let mut value = || value(&flag, &mut raw);
        match flag.as_str() {
            "--help" | "-h" => args.help = true,
            "--json" => args.json = true,
            "--business-id" => args.business_id = Some(number(&flag, &value()?)?),
            "--status" => args
                .statuses
                .push(known(&flag, &value()?, ChatStatus::KNOWN)?),
            "--type" => args.types.push(known(&flag, &value()?, ChatType::KNOWN)?),
            "--order-id" => args
                .contexts
                .push(ChatTarget::Order(id(&flag, &value()?)?.into())),
            "--return-id" => args
                .contexts
                .push(ChatTarget::Return(id(&flag, &value()?)?.into())),
            "--page-size" => {
                let n = number(&flag, &value()?)?;
                args.page_size =
                    PageSize::new(n).map_err(|e| Failure::Usage(format!("--page-size: {e}")))?;
            }
            "--max-pages" => {
                let n = number(&flag, &value()?)?;
                if n == 0 {
                    return Err(Failure::Usage("--max-pages must be at least 1".into()));
                }
                args.max_pages = Some(n);
            }
            other => {
                return Err(Failure::Usage(format!(
                    "unknown argument {other:?} (see --help)"
                )));
            }
        }
    }
    Ok(args)
}

/// A wire name the SDK knows (`NEW`, `CHAT`, ...); anything else is refused
/// with the valid names, before any request.
fn known<T>(flag: &str, raw: &str, values: &[T]) -> Result<T, Failure>
where
    T: Clone + PartialEq + std::fmt::Display + for<'a> From<&'a str>,
{
    let value = T::from(raw);
    if values.contains(&value) {
        return Ok(value);
    }
    let names: Vec<String> = values.iter().map(ToString::to_string).collect();
    Err(Failure::Usage(format!(
        "{flag}: unknown value {raw:?}; valid values: {}",
        names.join(", ")
    )))
}

/// An order or return id: at least 1.
fn id(flag: &str, raw: &str) -> Result<u64, Failure> {
    match number(flag, raw)? {
        0 => Err(Failure::Usage(format!("{flag} must be at least 1"))),
        id => Ok(id),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    exit(run().await)
}

async fn run() -> Result<(), Failure> {
    let args = parse_args(std::env::args().skip(1))?;
    if args.help {
        return writeln!(std::io::stdout(), "{HELP}").map_err(write_error);
    }
    let Target {
        client,
        business_id,
        sandbox: _sandbox,
    } = connect(args.business_id, SandboxConfig::default())?;
    if business_id == 0 {
        return Err(Failure::Usage("the business id must be at least 1".into()));
    }

    let mut query = client
        .chats(business_id)
        .statuses(args.statuses)
        .types(args.types)
        .contexts(args.contexts)
        .page_size(args.page_size);
    if let Some(max_pages) = args.max_pages {
        query = query.max_pages(max_pages);
    }

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !args.json {
        writeln!(
            out,
            "{}",
            row([
                "CHAT_ID",
                "STATUS",
                "TYPE",
                "CONTEXT",
                "ORDER",
                "RETURN",
                "CUSTOMER",
                "UPDATED_AT"
            ])
        )
        .map_err(write_error)?;
    }
    let mut pages = query.pages();
    let (mut page_count, mut chat_count) = (0usize, 0usize);
    while let Some(page) = pages.try_next().await? {
        page_count += 1;
        chat_count += page.chats.len();
        for chat in &page.chats {
            let line = if args.json {
                serde_json::to_string(chat).map_err(|e| Failure::Run(e.to_string()))?
            } else {
                table_row(chat)
            };
            writeln!(out, "{line}").map_err(write_error)?;
        }
        out.flush().map_err(write_error)?;
        if page_count > 1 || page.next_page_token.is_some() {
            eprintln!("page {page_count}: {chat_count} chats so far");
        }
    }
    if !args.json {
        eprintln!("{chat_count} chats in {page_count} page(s)");
    }
    Ok(())
}

fn table_row(chat: &Chat) -> String {
    let id = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let customer = chat
        .context
        .customer
        .as_ref()
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| "-".to_owned());
    row([
        &chat.chat_id.to_string(),
        chat.status.as_str(),
        chat.type_.as_str(),
        chat.context.type_.as_str(),
        &id(chat.context.order_id.map(OrderId::get)),
        &id(chat.context.return_id.map(ReturnId::get)),
        &customer,
        &chat.updated_at.to_rfc3339(),
    ])
}

/// Fixed column widths keep rows aligned while streaming.
fn row<const N: usize>(cells: [&str; N]) -> String {
    const WIDTHS: [usize; 8] = [10, 20, 9, 7, 10, 8, 10, 25];
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i + 1 == N {
            line.push_str(cell);
        } else {
            line.push_str(&format!("{cell:<width$} ", width = WIDTHS[i]));
        }
    }
    line
}
