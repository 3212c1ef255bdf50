//! The Rust names of the fragment's schemas, chosen once, here.
//!
//! The fragment keeps the official schema names (`GetChatInfoDTO`, ...) so
//! that it can be compared with the official spec field by field; users read
//! Rust names without the `DTO` suffix. Struct renames reach progenitor as
//! type patches (`settings.rs`); open enums are named here directly.

use heck::ToUpperCamelCase;

/// Schema name -> Rust name, for every schema whose Rust name is not simply
/// its schema name.
const RENAMES: &[(&str, &str)] = &[
    ("ApiErrorDTO", "ApiErrorEntry"),
    ("ChatContextDTO", "ChatContext"),
    ("ChatCustomerDTO", "ChatCustomer"),
    ("ChatFullContextDTO", "ChatFullContext"),
    ("ChatMessageDTO", "ChatMessage"),
    ("ChatMessagePayloadDTO", "ChatMessageFile"),
    ("ChatMessageSenderType", "ChatMessageSender"),
    ("ChatMessagesResultDTO", "ChatHistoryResult"),
    ("ChatStatusType", "ChatStatus"),
    ("CreateChatResultDTO", "CreateChatResult"),
    ("ForwardScrollingPagerDTO", "Paging"),
    ("GetChatInfoDTO", "Chat"),
    ("GetChatsInfoDTO", "ChatsResult"),
    ("LegacyApiErrorDTO", "LegacyApiError"),
];

/// The Rust name the schema `schema` of the fragment gets (`GetChatInfoDTO`
/// -> `Chat`); a name that is already a Rust name comes back unchanged.
///
/// ```
/// assert_eq!(yandex_market_chats_codegen::rust_name("GetChatInfoDTO"), "Chat");
/// assert_eq!(yandex_market_chats_codegen::rust_name("Chat"), "Chat");
/// ```
pub fn rust_name(schema: &str) -> String {
    RENAMES
        .iter()
        .find(|(from, _)| *from == schema)
        .map_or_else(|| schema.to_upper_camel_case(), |(_, to)| (*to).to_owned())
}

/// `(name typify would write, Rust name)` for every renamed schema.
pub(crate) fn patches() -> impl Iterator<Item = (String, &'static str)> {
    RENAMES
        .iter()
        .map(|(from, to)| (from.to_upper_camel_case(), *to))
}
