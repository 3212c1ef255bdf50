//! Seeded, deterministic chats for the sandbox.

use chrono::{DateTime, Duration, FixedOffset, TimeZone};

use crate::{Chat, ChatContextType, ChatCustomer, ChatFullContext, ChatStatus, ChatType};

const NAMES: &[&str] = &[
    "Ivan", "Maria", "Olga", "Pavel", "Anna", "Dmitry", "Elena", "Sergey",
];
/// Offsets the API sends: Moscow, Yekaterinburg, UTC.
const OFFSETS_SECS: &[i32] = &[3 * 3600, 5 * 3600, 0];

/// `count` chats from `seed`: every status, both chat types, ORDER, RETURN
/// and DIRECT contexts, customers and several offsets. The same seed and
/// count always give the same chats.
pub(crate) fn seed_chats(count: usize, seed: u64) -> Vec<Chat> {
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
            let updated = created + Duration::minutes(rng.i64(1..5_000));
            Chat {
                chat_id: nonzero(next_id),
                order_id: order_id.map(nonzero),
                context: ChatFullContext {
                    type_: kind.clone(),
                    order_id: order_id.map(nonzero),
                    return_id: return_id.map(nonzero),
                    campaign_id: (kind != ChatContextType::Direct)
                        .then(|| nonzero(21_000_000 + rng.u64(0..3))),
                    customer: Some(ChatCustomer {
                        name: Some(NAMES[rng.usize(0..NAMES.len())].to_owned()),
                        public_id: Some(format!("user-{:08x}", rng.u32(..))),
                    }),
                },
                type_: chat_type,
                status,
                created_at: offset.from_utc_datetime(&created.naive_utc()),
                updated_at: offset.from_utc_datetime(&updated.naive_utc()),
            }
        })
        .collect()
}

fn nonzero(n: u64) -> std::num::NonZeroU64 {
    std::num::NonZeroU64::new(n).expect("seeded ids start above zero")
}
