//! The sandbox's single-chat operations: getChat, getChatHistory,
//! getChatMessage, sendMessageToChat, sendFileToChat and createChat.

use chrono::{FixedOffset, Utc};
use serde_json::{Value, json};
use yandex_market_chats::{
    Chat, ChatContextType, ChatFullContext, ChatMessage, ChatMessageFile, ChatMessageSender,
    ChatStatus, ChatType, MAX_FILE_BYTES, MAX_MESSAGE_CHARS,
};

use crate::input::Input;
use crate::multipart;
use crate::paging;
use crate::routes::Failure;
use crate::state::{Shared, State};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;

fn ok(result: Value) -> Value {
    json!({ "status": "OK", "result": result })
}

fn chat_index(state: &State, chat_id: u64) -> Result<usize, Failure> {
    state
        .chats
        .iter()
        .position(|c| c.chat_id.get() == chat_id)
        .ok_or_else(|| Failure::NotFound(format!("chat {chat_id} not found")))
}

pub(crate) fn get_chat(shared: &Shared, input: &Input) -> Result<Value, Failure> {
    let chat_id = input.query.id("chatId")?;
    let state = shared.state();
    let index = chat_index(&state, chat_id)?;
    Ok(ok(json!(state.chats[index])))
}

pub(crate) fn history(shared: &Shared, input: &Input) -> Result<Value, Failure> {
    let chat_id = input.query.id("chatId")?;
    let limit = input.query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let body = input.json_body()?;
    let from = match body.get("messageIdFrom") {
        None | Some(Value::Null) => 1,
        Some(value) => value
            .as_u64()
            .filter(|id| *id >= 1)
            .ok_or_else(|| format!("messageIdFrom must be an integer >= 1, got {value}"))?,
    };
    let state = shared.state();
    let index = chat_index(&state, chat_id)?;
    let matching: Vec<&ChatMessage> = state.messages[&chat_id]
        .iter()
        .filter(|m| m.message_id.get() >= from)
        .collect();
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

/// Appends a message from the store to a chat.
fn post(
    shared: &Shared,
    chat_id: u64,
    text: Option<String>,
    file: Option<(String, i32)>,
) -> Result<(), Failure> {
    let mut state = shared.state();
    let index = chat_index(&state, chat_id)?;
    let message_id = state.next_message_id;
    state.next_message_id += 1;
    let now = now();
    let message = ChatMessage {
        message_id: message_id.into(),
        created_at: now,
        sender: ChatMessageSender::Partner,
        message: text,
        payload: file.map(|(name, size)| {
            vec![ChatMessageFile {
                url: format!("https://sandbox.invalid/files/{message_id}/{name}"),
                name,
                size,
            }]
        }),
    };
    state.messages.entry(chat_id).or_default().push(message);
    let chat = &mut state.chats[index];
    chat.updated_at = now;
    chat.status = ChatStatus::WaitingForCustomer;
    Ok(())
}

pub(crate) fn create_chat(shared: &Shared, input: &Input) -> Result<Value, Failure> {
    let body = input.json_body()?;
    let (kind, id) = match (
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
                (Some(kind @ ("ORDER" | "RETURN")), Some(id)) => (kind.to_owned(), id),
                _ => {
                    return Err(format!(
                        "context must be {{type: ORDER|RETURN, id >= 1}}, got {context}"
                    )
                    .into());
                }
            }
        }
        (None, Some(order_id)) => ("ORDER".to_owned(), order_id),
        (None, None) => return Err("context is required".to_owned().into()),
    };
    let mut state = shared.state();
    let existing = state.chats.iter().find(|chat| match kind.as_str() {
        "ORDER" => {
            chat.context.type_ == ChatContextType::Order
                && chat.context.order_id.map(|o| o.get()) == Some(id)
        }
        _ => {
            chat.context.type_ == ChatContextType::Return
                && chat.context.return_id.map(|r| r.get()) == Some(id)
        }
    });
    if let Some(chat) = existing {
        return Ok(ok(json!({ "chatId": chat.chat_id })));
    }
    let chat_id = state
        .chats
        .iter()
        .map(|c| c.chat_id.get())
        .max()
        .unwrap_or(10_000)
        + 1;
    let now = now();
    let is_order = kind == "ORDER";
    state.chats.push(Chat {
        chat_id: chat_id.into(),
        order_id: is_order.then(|| id.into()),
        context: ChatFullContext {
            type_: if is_order {
                ChatContextType::Order
            } else {
                ChatContextType::Return
            },
            order_id: is_order.then(|| id.into()),
            return_id: (!is_order).then(|| id.into()),
            campaign_id: None,
            customer: None,
        },
        type_: ChatType::Chat,
        status: ChatStatus::New,
        created_at: now,
        updated_at: now,
    });
    state.messages.insert(chat_id, Vec::new());
    Ok(ok(json!({ "chatId": chat_id })))
}

/// Now, in Moscow time, as the API writes dates.
fn now() -> chrono::DateTime<FixedOffset> {
    let moscow = FixedOffset::east_opt(3 * 3600).expect("a valid offset");
    // Whole seconds, as the API sends them.
    let now = Utc::now().with_timezone(&moscow);
    now - chrono::Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos()))
}
