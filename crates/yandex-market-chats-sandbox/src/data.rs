//! Seeded, deterministic chats and messages for the sandbox.

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, TimeZone};

use yandex_market_chats::{
    Chat, ChatContextType, ChatCustomer, ChatFullContext, ChatMessage, ChatMessageFile,
    ChatMessageSender, ChatStatus, ChatType,
};

/// How far after the first chat the last one may be created, in seconds.
const SPAN_SECS: i64 = 600 * 24 * 3600;

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

/// What the first chats are, in order: every status, every context type and
/// both chat types within the first ten, so that a small sandbox has them
/// all. The first six keep the statuses sandbox 0.1 gave them (tests that
/// script buyers in the first chats see the same status changes); the first
/// is the README's chat 10668 (seed 1): `NEW`, about an order.
const FIRST: &[(ChatStatus, ChatContextType, ChatType)] = {
    use ChatContextType::{Direct, Order, Return};
    use ChatStatus::{
        Finished, New, WaitingForArbiter, WaitingForCustomer, WaitingForMarket, WaitingForPartner,
    };
    use ChatType::{Arbitrage, Chat};
    &[
        (New, Order, Chat),
        (WaitingForCustomer, Return, Chat),
        (WaitingForPartner, Order, Chat),
        (WaitingForArbiter, Order, Arbitrage),
        (WaitingForMarket, Return, Arbitrage),
        (Finished, Direct, Chat),
        (WaitingForPartner, Return, Chat),
        (New, Return, Chat),
        (WaitingForCustomer, Order, Chat),
        (Finished, Order, Chat),
    ]
};

/// How often each status comes after [`FIRST`], in percent: most chats are
/// answered (`WAITING_FOR_CUSTOMER`) or closed (`FINISHED`); some wait for
/// the seller (`WAITING_FOR_PARTNER`, `NEW`); a few are disputes.
const STATUS_WEIGHTS: &[(ChatStatus, u8)] = &[
    (ChatStatus::Finished, 40),
    (ChatStatus::WaitingForCustomer, 30),
    (ChatStatus::WaitingForPartner, 14),
    (ChatStatus::New, 8),
    (ChatStatus::WaitingForArbiter, 4),
    (ChatStatus::WaitingForMarket, 4),
];

/// Chat `i`'s status, context type and chat type: [`FIRST`], then drawn
/// from `rng`. A dispute is an `ARBITRAGE` chat about an order or a return;
/// a few finished chats are settled disputes; the others are `CHAT`s, about
/// an order (most), a return or nothing (`DIRECT`).
fn kind_of(i: usize, rng: &mut fastrand::Rng) -> (ChatStatus, ChatContextType, ChatType) {
    if let Some(first) = FIRST.get(i) {
        return first.clone();
    }
    let mut roll = rng.u8(0..100);
    let status = STATUS_WEIGHTS
        .iter()
        .find(|(_, weight)| {
            let hit = roll < *weight;
            roll = roll.saturating_sub(*weight);
            hit
        })
        .map(|(status, _)| status.clone())
        .expect("the weights add up to 100");
    let dispute = matches!(
        status,
        ChatStatus::WaitingForArbiter | ChatStatus::WaitingForMarket
    );
    let context = match rng.u8(0..100) {
        0..60 => ChatContextType::Order,
        60..85 => ChatContextType::Return,
        _ if dispute => ChatContextType::Order,
        _ => ChatContextType::Direct,
    };
    let settled = status == ChatStatus::Finished && rng.u8(0..10) == 0;
    let chat_type = if (dispute || settled) && context != ChatContextType::Direct {
        ChatType::Arbitrage
    } else {
        ChatType::Chat
    };
    (status, context, chat_type)
}

/// `count` chats from `seed`: [`FIRST`], then mostly answered or closed
/// chats, some waiting for the seller about orders and returns, a few
/// disputes (see [`kind_of`]); customers and several offsets. The same seed
/// and count always give the same chats. Their `updatedAt` is their
/// `createdAt` until [`seed`] sets it from their messages.
///
/// Sandbox 0.2 changed the statuses and contexts (0.1 cycled them, so every
/// `WAITING_FOR_PARTNER` chat was `DIRECT`) but keeps every seed's chat ids,
/// order and return ids, dates and buyers: `rng` makes the same draws in the
/// same order as 0.1, including those 0.1's cycle made for chat `i` (a
/// return id when `i % 3 == 1`, a campaign unless `i % 3 == 2`); a drawn
/// value a chat no longer uses is dropped, and one it now needs comes from
/// a second generator.
// The API still sends the deprecated top-level `orderId`; so does the sandbox.
#[allow(deprecated)]
fn seed_chats(count: usize, seed: u64) -> Vec<Chat> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut more = fastrand::Rng::with_seed(seed ^ 0x5747_5e55_c0a7_e47d);
    let base = DateTime::parse_from_rfc3339("2025-03-01T09:00:00+03:00").expect("a valid date");
    let mut next_id = 10_000 + rng.u64(0..1_000);
    // A chat every 37 minutes (give or take 30), closer together for a
    // business with more chats than fit so into 600 days: the last chat's
    // messages stay in the past (before November 2026) at any size.
    let step = (SPAN_SECS / count.max(1) as i64).min(37 * 60);
    (0..count)
        .map(|i| {
            let (status, kind, chat_type) = kind_of(i, &mut more);
            // 0.1's draws, in 0.1's order (see above).
            next_id += rng.u64(1..20);
            let order_id = 50_000_000 + rng.u64(0..10_000_000);
            let drawn_return_id = (i % 3 == 1).then(|| 900_000 + rng.u64(0..100_000));
            let created = base + Duration::seconds(i as i64 * step + rng.i64(0..30) * step / 37);
            // Once `updatedAt`, which now comes from the messages.
            let _ = rng.i64(1..5_000);
            let drawn_campaign = (i % 3 != 2).then(|| 21_000_000 + rng.u64(0..3));
            let name = NAMES[rng.usize(0..NAMES.len())];
            let public_id = format!("user-{:08x}", rng.u32(..));

            let (order_id, return_id) = match kind {
                ChatContextType::Order => (Some(order_id), None),
                ChatContextType::Return => (
                    Some(order_id),
                    Some(drawn_return_id.unwrap_or_else(|| 900_000 + more.u64(0..100_000))),
                ),
                _ => (None, None),
            };
            let campaign_id = (kind != ChatContextType::Direct)
                .then(|| drawn_campaign.unwrap_or_else(|| 21_000_000 + more.u64(0..3)));
            let offset =
                FixedOffset::east_opt(OFFSETS_SECS[i % OFFSETS_SECS.len()]).expect("valid offset");
            let created_at = offset.from_utc_datetime(&created.naive_utc());
            Chat {
                chat_id: next_id.into(),
                order_id: order_id.map(Into::into),
                context: ChatFullContext {
                    type_: kind,
                    order_id: order_id.map(Into::into),
                    return_id: return_id.map(Into::into),
                    campaign_id: campaign_id.map(Into::into),
                    customer: Some(ChatCustomer {
                        name: Some(name.to_owned()),
                        public_id: Some(public_id),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(chats: &[Chat]) -> Vec<(ChatStatus, ChatContextType)> {
        chats
            .iter()
            .map(|c| (c.status.clone(), c.context.type_.clone()))
            .collect()
    }

    /// A chat from the future looks changed to any follower that starts
    /// now, and a buyer's message would move its `updatedAt` back in time:
    /// the real API has neither, however many chats a business has.
    #[test]
    fn every_chat_and_message_is_in_the_past_at_any_size() {
        let past = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap();
        for count in [95, 10_000, 100_000, 1_000_000] {
            let (chats, _, _) = seed(count, 1);
            let latest = chats.iter().map(|c| c.updated_at).max().unwrap();
            assert!(
                latest < past,
                "{count} chats: the latest updatedAt is {latest}"
            );
        }
    }

    #[test]
    fn the_first_chats_have_every_status_context_and_type() {
        let chats = seed_chats(FIRST.len(), 1);
        for status in ChatStatus::KNOWN {
            assert!(chats.iter().any(|c| c.status == *status), "{status}");
        }
        for kind in ChatContextType::KNOWN {
            assert!(chats.iter().any(|c| c.context.type_ == *kind), "{kind}");
        }
        for kind in ChatType::KNOWN {
            assert!(chats.iter().any(|c| c.type_ == *kind), "{kind}");
        }
        // The README's chat: the first of seed 1, new, about an order.
        assert_eq!(chats[0].chat_id, 10_668);
        assert_eq!(
            kinds(&chats[..1]),
            [(ChatStatus::New, ChatContextType::Order)]
        );
    }

    #[test]
    fn most_chats_are_answered_or_closed_and_some_wait_about_orders_and_returns() {
        let chats = seed_chats(1_000, 7);
        let share = |f: &dyn Fn(&Chat) -> bool| chats.iter().filter(|c| f(c)).count();
        let settled = share(&|c| {
            matches!(
                c.status,
                ChatStatus::Finished | ChatStatus::WaitingForCustomer
            )
        });
        assert!((600..800).contains(&settled), "{settled}");
        let disputes = share(&|c| {
            matches!(
                c.status,
                ChatStatus::WaitingForArbiter | ChatStatus::WaitingForMarket
            )
        });
        assert!((40..130).contains(&disputes), "{disputes}");
        for kind in [ChatContextType::Order, ChatContextType::Return] {
            for status in [ChatStatus::WaitingForPartner, ChatStatus::New] {
                let n = share(&|c| c.status == status && c.context.type_ == kind);
                assert!(n >= 10, "{status} {kind}: {n}");
            }
        }
        for chat in &chats {
            let dispute = matches!(
                chat.status,
                ChatStatus::WaitingForArbiter | ChatStatus::WaitingForMarket
            );
            if dispute {
                assert_eq!(chat.type_, ChatType::Arbitrage, "{chat:?}");
            }
            if chat.type_ == ChatType::Arbitrage {
                assert_ne!(chat.context.type_, ChatContextType::Direct, "{chat:?}");
            }
            // A context's ids match its type.
            let context = &chat.context;
            assert_eq!(
                context.order_id.is_some(),
                context.type_ != ChatContextType::Direct
            );
            assert_eq!(
                context.return_id.is_some(),
                context.type_ == ChatContextType::Return
            );
            assert_eq!(context.campaign_id.is_some(), context.order_id.is_some());
        }
    }

    /// Sandbox 0.1's chat ids, dates and buyers for seed 1 (the default),
    /// kept by 0.2: written down from 0.1 when 0.2 changed the statuses.
    #[test]
    fn every_seed_keeps_its_chat_ids_and_buyers() {
        let chats = seed_chats(95, 1);
        let ids: Vec<u64> = chats.iter().take(5).map(|c| c.chat_id.get()).collect();
        assert_eq!(ids, [10_668, 10_680, 10_691, 10_708, 10_721]);
        let sum: u64 = chats.iter().map(|c| c.chat_id.get()).sum();
        assert_eq!(sum, 1_058_236);
        let first = &chats[0];
        assert_eq!(first.context.order_id.map(|id| id.get()), Some(52_396_351));
        assert_eq!(first.created_at.to_rfc3339(), "2025-03-01T09:23:00+03:00");
        let customer = first.context.customer.as_ref().unwrap();
        assert_eq!(customer.name.as_deref(), Some("Elena"));
        assert_eq!(customer.public_id.as_deref(), Some("user-61dfa32a"));
        // The second was about a return in 0.1 too: the same return id.
        assert_eq!(chats[1].context.return_id.map(|id| id.get()), Some(906_363));
        let last = chats.last().unwrap();
        assert_eq!(last.chat_id, 11_626);
        assert_eq!(last.created_at.to_rfc3339(), "2025-03-03T21:04:00+05:00");
        let customer = last.context.customer.as_ref().unwrap();
        assert_eq!(customer.public_id.as_deref(), Some("user-53a625e6"));
    }
}
