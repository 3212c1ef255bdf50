//! What a chat is about, as a plain value: to open a chat
//! ([`Client::create_chat`](crate::Client::create_chat)) or to filter chats
//! ([`ChatsQuery::contexts`](crate::ChatsQuery::contexts)).

use crate::ids::checked;
use crate::{ChatContext, ChatContextIdentifiableType, ContextId, Error, OrderId, ReturnId};

/// An order or a return a chat is about.
///
/// ```no_run
/// # async fn run(client: yandex_market_chats::Client, chat: yandex_market_chats::Chat) -> Result<(), yandex_market_chats::Error> {
/// use yandex_market_chats::ChatTarget;
///
/// // An id read from a response goes in as it is.
/// if let Some(order_id) = chat.context.order_id {
///     let opened = client.create_chat(42, ChatTarget::Order(order_id)).await?;
///     opened.send_message("Hello! A question about your order.").await?;
/// }
/// let about_returns = client.chats(42).contexts([ChatTarget::Return(7.into())]);
/// # let _ = about_returns;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ChatTarget {
    /// An order.
    Order(OrderId),
    /// A return (refund).
    Return(ReturnId),
    /// A context as the API spells it, for a context type this version does
    /// not know.
    Context(ChatContext),
}

impl From<ChatContext> for ChatTarget {
    fn from(context: ChatContext) -> Self {
        match context.type_ {
            ChatContextIdentifiableType::Order => Self::Order(context.id.get().into()),
            ChatContextIdentifiableType::Return => Self::Return(context.id.get().into()),
            _ => Self::Context(context),
        }
    }
}

impl ChatTarget {
    /// The API's context; an id of 0 is refused here, before any request.
    pub(crate) fn context(&self) -> Result<ChatContext, Error> {
        let (type_, id) = match self {
            Self::Order(id) => (
                ChatContextIdentifiableType::Order,
                checked("an order id", *id)?.get(),
            ),
            Self::Return(id) => (
                ChatContextIdentifiableType::Return,
                checked("a return id", *id)?.get(),
            ),
            Self::Context(context) => {
                checked("a context id", context.id)?;
                return Ok(context.clone());
            }
        };
        Ok(ChatContext {
            type_,
            id: ContextId::from(id),
        })
    }
}
