//! Which operation a request names, and running it.

use serde_json::Value;
use yandex_market_chats::Operation;

use crate::input::Input;
use crate::state::Shared;
use crate::{listing, messages};

/// Why an operation refused a request.
pub(crate) enum Failure {
    BadRequest(String),
    NotFound(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::BadRequest(message)
    }
}

/// `/v2/businesses/{id}/{rest}` → `(id, rest)`.
pub(crate) fn business_of(path: &str) -> Option<(u64, &str)> {
    let rest = path.strip_prefix("/v2/businesses/")?;
    let (id, tail) = rest.split_once('/')?;
    Some((id.parse().ok()?, tail))
}

/// The operation at `rest` (the path after the business) for `method`.
pub(crate) fn route(method: &str, rest: &str) -> Option<Operation> {
    Some(match (method, rest) {
        ("POST", "chats") => Operation::GetChats,
        ("POST", "chats/new") => Operation::CreateChat,
        ("GET", "chat") => Operation::GetChat,
        ("POST", "chats/history") => Operation::GetChatHistory,
        ("GET", "chats/message") => Operation::GetChatMessage,
        ("POST", "chats/message") => Operation::SendMessageToChat,
        ("POST", "chats/file/send") => Operation::SendFileToChat,
        _ => return None,
    })
}

/// Runs the operation: the `result` body of a 200, or why not.
pub(crate) async fn run(
    shared: &Shared,
    operation: Operation,
    input: &Input,
) -> Result<Value, Failure> {
    match operation {
        Operation::GetChats => listing::list(shared, input),
        Operation::GetChat => messages::get_chat(shared, input),
        Operation::GetChatHistory => messages::history(shared, input),
        Operation::GetChatMessage => messages::get_message(shared, input),
        Operation::SendMessageToChat => messages::send_message(shared, input),
        Operation::SendFileToChat => messages::send_file(shared, input).await,
        Operation::CreateChat => messages::create_chat(shared, input),
        // `Operation` is open; `route` names none the sandbox does not serve.
        other => Err(Failure::NotFound(format!("{other} is not served"))),
    }
}
