//! Seeded, deterministic chats and messages for the sandbox.

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, TimeZone};

use yandex_market_chats::{
    Chat, ChatContextType, ChatCustomer, ChatFullContext, ChatMessage, ChatMessageFile,
    ChatMessageSender, ChatStatus, ChatType,
};

/// Buyers' names.
pub(crate) const NAMES: &[&str] = &[
    "Ivan", "Maria", "Olga", "Pavel", "Anna", "Dmitry", "Elena", "Sergey",
];
/// Offsets the API sends: Moscow, Yekaterinburg, UTC.
const OFFSETS_SECS: &[i32] = &[3 * 3600, 5 * 3600, 0];

/// `count` chats from `seed` with their messages (see [`seed_chats`] and
/// [`seed_messages`]), each chat's `updatedAt` the time of its last message,
/// as the API defines it; and the next free message id.
pub(crate) fn seed(count: usize, seed: u64) -> (Vec<Chat>, HashMap<u64, Vec<ChatMessage>>, u64) {
    let mut chats = seed_chats(count, seed);
    let (messages, next_message_id) = seed_messages(&chats, seed);
    for chat in &mut chats {
        if let Some(last) = messages.get(&chat.chat_id.get()).and_then(|m| m.last()) {
            chat.updated_at = last.created_at;
        }
    }
    (chats, messages, next_message_id)
}

/// `count` chats from `seed`: every status, both chat types, ORDER, RETURN
/// and DIRECT contexts, customers and several offsets. The same seed and
/// count always give the same chats. Their `updatedAt` is their
/// `createdAt` until [`seed`] sets it from their messages.
// The API still sends the deprecated top-level `orderId`; so does the sandbox.
#[allow(deprecated)]
fn seed_chats(count: usize, seed: u64) -> Vec<Chat> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let base = DateTime::parse_from_rfc3339("2025-03-01T09:00:00+03:00").expect("a valid date");
    let mut next_id = 10_000 + rng.u64(0..1_000);
    (0..count)
        .map(|i| {
            next_id += rng.u64(1..20);
            // Cycles guarantee every value appears in the first few chats;
            // the generator varies the rest.
            let status = ChatStatus::KNOWN[i % ChatStatus::KNOWN.len()].clone();
            let kind = match i % 3 {
                0 => ChatContextType::Order,
                1 => ChatContextType::Return,
                _ => ChatContextType::Direct,
            };
            let chat_type = if i % 5 == 4 && kind != ChatContextType::Direct {
                ChatType::Arbitrage
            } else {
                ChatType::Chat
            };
            let order_id = 50_000_000 + rng.u64(0..10_000_000);
            let (order_id, return_id) = match kind {
                ChatContextType::Order => (Some(order_id), None),
                ChatContextType::Return => (Some(order_id), Some(900_000 + rng.u64(0..100_000))),
                _ => (None, None),
            };
            let offset =
                FixedOffset::east_opt(OFFSETS_SECS[i % OFFSETS_SECS.len()]).expect("valid offset");
            let created = base + Duration::minutes(i as i64 * 37 + rng.i64(0..30));
            // Once `updatedAt`, which now comes from the messages; still
            // drawn, so that each seed keeps the ids and buyers it had.
            let _ = rng.i64(1..5_000);
            let created_at = offset.from_utc_datetime(&created.naive_utc());
            Chat {
                chat_id: next_id.into(),
                order_id: order_id.map(Into::into),
                context: ChatFullContext {
                    type_: kind.clone(),
                    order_id: order_id.map(Into::into),
                    return_id: return_id.map(Into::into),
                    campaign_id: (kind != ChatContextType::Direct)
                        .then(|| (21_000_000 + rng.u64(0..3)).into()),
                    customer: Some(ChatCustomer {
                        name: Some(NAMES[rng.usize(0..NAMES.len())].to_owned()),
                        public_id: Some(format!("user-{:08x}", rng.u32(..))),
                    }),
                },
                type_: chat_type,
                status,
                created_at,
                updated_at: created_at,
            }
        })
        .collect()
}

/// What buyers write, in the seeded messages and when they write on their own.
pub(crate) const CUSTOMER_LINES: &[&str] = &[
    "Hello! When will my order arrive?",
    "The box was damaged, what should I do?",
    "Can I change the delivery address?",
    "Thank you!",
    "Здравствуйте! Подскажите, пожалуйста, сроки доставки.",
];
const PARTNER_LINES: &[&str] = &[
    "Hello! The order ships tomorrow.",
    "Please send a photo of the package.",
    "We have updated the address.",
    "You are welcome!",
];

/// Messages for each chat, oldest first, with ids increasing across the
/// business; returns them and the next free message id. Deterministic.
fn seed_messages(chats: &[Chat], seed: u64) -> (HashMap<u64, Vec<ChatMessage>>, u64) {
    let mut rng = fastrand::Rng::with_seed(seed.rotate_left(17) ^ 0x5eed);
    let mut next_id = 700_000 + rng.u64(0..1_000);
    let mut all = HashMap::with_capacity(chats.len());
    for chat in chats {
        let count = rng.usize(1..8);
        let mut at = chat.created_at;
        let messages = (0..count)
            .map(|i| {
                next_id += rng.u64(1..5);
                at += Duration::minutes(rng.i64(1..600));
                let sender = match (i % 2, rng.u8(0..10)) {
                    (_, 0) => ChatMessageSender::Market,
                    (_, 1) => ChatMessageSender::Support,
                    (0, _) => ChatMessageSender::Customer,
                    _ => ChatMessageSender::Partner,
                };
                let lines = if sender == ChatMessageSender::Partner {
                    PARTNER_LINES
                } else {
                    CUSTOMER_LINES
                };
                let with_file = rng.u8(0..6) == 0;
                ChatMessage {
                    message_id: next_id.into(),
                    created_at: at,
                    sender,
                    message: Some(lines[rng.usize(0..lines.len())].to_owned()),
                    payload: with_file.then(|| {
                        vec![ChatMessageFile {
                            name: format!("photo-{next_id}.jpg"),
                            size: rng.i32(10_000..2_000_000),
                            url: format!("https://sandbox.invalid/files/{next_id}.jpg"),
                        }]
                    }),
                }
            })
            .collect();
        all.insert(chat.chat_id.get(), messages);
    }
    (all, next_id + 1)
}
