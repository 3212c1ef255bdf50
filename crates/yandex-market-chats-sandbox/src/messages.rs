//! The sandbox's single-chat operations: getChat, getChatHistory,
//! getChatMessage, sendMessageToChat, sendFileToChat and createChat.

use serde_json::{Value, json};
use yandex_market_chats::{ChatMessage, ChatMessageSender, MAX_FILE_BYTES, MAX_MESSAGE_CHARS};

use crate::config::{HistoryOrder, MessageIdFrom};
use crate::input::Input;
use crate::routes::Failure;
use crate::state::{Shared, State};
use crate::talk::{self, About, Content};
use crate::{listing, multipart, paging};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;

fn ok(result: Value) -> Value {
    json!({ "status": "OK", "result": result })
}

fn chat_index(state: &State, chat_id: u64) -> Result<usize, Failure> {
    talk::position(state, chat_id)
        .ok_or_else(|| Failure::NotFound(format!("chat {chat_id} not found")))
}

/// The chat as the listed view shows it (a lagging one, maybe): a chat
/// opened less than the lag ago is not found yet.
pub(crate) fn get_chat(shared: &Shared, input: &Input) -> Result<Value, Failure> {
    let chat_id = input.query.id("chatId")?;
    let mut state = shared.state();
    let chat = listing::listed(&mut state)
        .into_iter()
        .find(|chat| chat.chat_id.get() == chat_id)
        .ok_or_else(|| Failure::NotFound(format!("chat {chat_id} not found")))?;
    Ok(ok(json!(chat)))
}

pub(crate) fn history(shared: &Shared, input: &Input) -> Result<Value, Failure> {
    let chat_id = input.query.id("chatId")?;
    let limit = input.query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let body = input.json_body()?;
    let from = match body.get("messageIdFrom") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|id| *id >= 1)
                .ok_or_else(|| format!("messageIdFrom must be an integer >= 1, got {value}"))?,
        ),
    };
    let config = &shared.config;
    let selects = |id: u64| match (from, config.message_id_from) {
        (None, _) => true,
        (Some(from), MessageIdFrom::Inclusive) => id >= from,
        (Some(from), MessageIdFrom::Exclusive) => id > from,
    };
    let state = shared.state();
    let index = chat_index(&state, chat_id)?;
    let mut matching: Vec<&ChatMessage> = state.messages[&chat_id]
        .iter()
        .filter(|m| selects(m.message_id.get()))
        .collect();
    // Page tokens are offsets into this list, whichever its order.
    if config.history_order == HistoryOrder::NewestFirst {
        matching.reverse();
    }
    let (page, paging) = paging::page(shared, &matching, input.query.page_token(), limit)?;
    Ok(ok(
        json!({ "context": state.chats[index].context, "messages": page, "paging": paging }),
    ))
}

pub(crate) fn get_message(shared: &Shared, input: &Input) -> Result<Value, Failure> {
    let chat_id = input.query.id("chatId")?;
    let message_id = input.query.id("messageId")?;
    let state = shared.state();
    chat_index(&state, chat_id)?;
    let message = state.messages[&chat_id]
        .iter()
        .find(|m| m.message_id.get() == message_id)
        .ok_or_else(|| {
            Failure::NotFound(format!("message {message_id} not found in chat {chat_id}"))
        })?;
    Ok(ok(json!(message)))
}

pub(crate) fn send_message(shared: &Shared, input: &Input) -> Result<Value, Failure> {
    let chat_id = input.query.id("chatId")?;
    let body = input.json_body()?;
    let text = body
        .get("message")
        .and_then(Value::as_str)
        .ok_or("message is required and must be a string".to_owned())?;
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_MESSAGE_CHARS {
        return Err(
            format!("message must have 1 to {MAX_MESSAGE_CHARS} characters, got {chars}").into(),
        );
    }
    post(shared, chat_id, Some(text.to_owned()), None)?;
    Ok(json!({ "status": "OK" }))
}

/// The only operation that waits: multer reads the form asynchronously
/// (from memory), before the state is locked.
pub(crate) async fn send_file(shared: &Shared, input: &Input) -> Result<Value, Failure> {
    let chat_id = input.query.id("chatId")?;
    let file = multipart::file_part(input.content_type.as_deref(), input.body.clone()).await?;
    if file.data.is_empty() || file.data.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file must have 1 to {MAX_FILE_BYTES} bytes, got {}",
            file.data.len()
        )
        .into());
    }
    let name = file.file_name.clone().unwrap_or_else(|| "file".to_owned());
    let size = i32::try_from(file.data.len()).unwrap_or(i32::MAX);
    post(shared, chat_id, None, Some((name, size)))?;
    Ok(json!({ "status": "OK" }))
}

/// Appends the partner's message to a chat (see [`talk::append`]).
fn post(
    shared: &Shared,
    chat_id: u64,
    text: Option<String>,
    file: Option<(String, i32)>,
) -> Result<(), Failure> {
    let mut state = shared.state();
    let index = chat_index(&state, chat_id)?;
    talk::append(
        shared,
        &mut state,
        index,
        ChatMessageSender::Partner,
        Content { text, file },
    );
    talk::changed(&mut state, index);
    Ok(())
}

pub(crate) fn create_chat(shared: &Shared, input: &Input) -> Result<Value, Failure> {
    let body = input.json_body()?;
    let about = match (
        body.get("context"),
        body.get("orderId").and_then(Value::as_u64),
    ) {
        (Some(context), _) => {
            let kind = context.get("type").and_then(Value::as_str);
            let id = context
                .get("id")
                .and_then(Value::as_u64)
                .filter(|id| *id >= 1);
            match (kind, id) {
                (Some("ORDER"), Some(id)) => About::Order(id),
                (Some("RETURN"), Some(id)) => About::Return(id),
                _ => {
                    return Err(format!(
                        "context must be {{type: ORDER|RETURN, id >= 1}}, got {context}"
                    )
                    .into());
                }
            }
        }
        (None, Some(order_id)) => About::Order(order_id),
        (None, None) => return Err("context is required".to_owned().into()),
    };
    let mut state = shared.state();
    let existing = match about {
        About::Order(id) => talk::order_chat(&state, id),
        About::Return(id) => talk::return_chat(&state, id),
    };
    if let Some(index) = existing {
        return Ok(ok(json!({ "chatId": state.chats[index].chat_id })));
    }
    let chat_id = talk::new_chat(shared, &mut state, about, None);
    let index = state.chats.len() - 1;
    talk::changed(&mut state, index);
    Ok(ok(json!({ "chatId": chat_id })))
}
