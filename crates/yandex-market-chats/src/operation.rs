//! The API operations the client calls, with the facts each one carries:
//! its hourly quota, whether it writes, and the scopes it needs.

use std::fmt;

/// One operation of the chats API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// `getChats`: list chats.
    GetChats,
    /// `getChat`: one chat.
    GetChat,
    /// `getChatHistory`: a chat's messages.
    GetChatHistory,
    /// `getChatMessage`: one message.
    GetChatMessage,
    /// `sendMessageToChat`: send a text message.
    SendMessageToChat,
    /// `sendFileToChat`: send a file.
    SendFileToChat,
    /// `createChat`: open a chat about an order or a return.
    CreateChat,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 7] = [
        Self::GetChats,
        Self::GetChat,
        Self::GetChatHistory,
        Self::GetChatMessage,
        Self::SendMessageToChat,
        Self::SendFileToChat,
        Self::CreateChat,
    ];

    /// The API's `operationId`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::GetChats => "getChats",
            Self::GetChat => "getChat",
            Self::GetChatHistory => "getChatHistory",
            Self::GetChatMessage => "getChatMessage",
            Self::SendMessageToChat => "sendMessageToChat",
            Self::SendFileToChat => "sendFileToChat",
            Self::CreateChat => "createChat",
        }
    }

    /// The API's hourly quota today: 5,000 for getChats, 10,000 for
    /// getChatHistory, 1,000 for the rest.
    pub const fn default_hourly_quota(self) -> u32 {
        match self {
            Self::GetChats => 5_000,
            Self::GetChatHistory => 10_000,
            _ => 1_000,
        }
    }

    /// Whether the operation changes something on the server. Writes are not
    /// idempotent: the client retries them only when the request surely did
    /// not take effect.
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            Self::SendMessageToChat | Self::SendFileToChat | Self::CreateChat
        )
    }

    /// The API-key scopes that allow the operation.
    pub const fn scopes(self) -> &'static str {
        if self.is_write() {
            "communication or all-methods"
        } else {
            "communication, all-methods or all-methods:read-only"
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
