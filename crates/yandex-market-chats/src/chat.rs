//! One chat: read it, its history and single messages, and reply; and
//! opening a chat about an order or a return.
//!
//! Writes (`send_message`, `send_file`, `create_chat`) are not idempotent.
//! The client retries them only when the request surely did not take effect
//! (no connection could be made, or a 420 refused it). After a timeout, a
//! dropped connection or a 5xx the error is [`Error::OutcomeUnknown`]: the
//! write may have happened, so check (for example in the history) before
//! repeating it.

use yandex_market_chats_api::types::{CreateChatRequest, SendMessageToChatRequest};

use crate::calls::{CreateChat, GetChat, GetChatMessage, SendFile, SendMessage};
use crate::ids::checked;
use crate::{
    BusinessId, Chat, ChatId, ChatMessage, ChatTarget, Client, Error, HistoryQuery, MessageId,
};

/// The longest message the API accepts, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;
/// The largest file the API accepts: 5 MB.
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;

impl Client {
    /// A handle on one chat. Nothing is sent until you call one of its
    /// methods; ids of 0 are reported there, before any request.
    ///
    /// Ids read from a response go in as they are (`chat.chat_id`), and so
    /// do integer literals.
    pub fn chat(
        &self,
        business_id: impl Into<BusinessId>,
        chat_id: impl Into<ChatId>,
    ) -> ChatHandle {
        ChatHandle {
            client: self.clone(),
            business_id: business_id.into(),
            chat_id: chat_id.into(),
        }
    }

    /// Opens a chat with the buyer about an order or a return (or returns the
    /// one opened earlier for it) and gives a handle on it.
    ///
    /// Not idempotent in general; see the module docs for the retry rule.
    ///
    /// ```no_run
    /// # async fn run(client: yandex_market_chats::Client) -> Result<(), yandex_market_chats::Error> {
    /// use yandex_market_chats::ChatTarget;
    ///
    /// let chat = client.create_chat(42, ChatTarget::Order(51_234_567.into())).await?;
    /// chat.send_message("Hello! Your order is on its way.").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Input errors before any request; what the API answers; see the module
    /// docs for writes.
    pub async fn create_chat(
        &self,
        business_id: impl Into<BusinessId>,
        target: impl Into<ChatTarget>,
    ) -> Result<ChatHandle, Error> {
        let business = checked("business id", business_id.into())?;
        let call = CreateChat {
            // `orderId` is deprecated by the API and never sent: `context`
            // says the same.
            body: CreateChatRequest {
                context: Some(target.into().context()?),
                ..CreateChatRequest::default()
            },
        };
        let answer = self.execute(business, &call).await?;
        Ok(self.chat(business, answer.result.chat_id))
    }
}

/// One chat of one business, from [`Client::chat`] or [`Client::create_chat`].
/// Cheap to clone.
///
/// ```no_run
/// # async fn run(client: yandex_market_chats::Client) -> Result<(), yandex_market_chats::Error> {
/// use futures::TryStreamExt;
///
/// let chat = client.chat(42, 1001);
/// let mut messages = chat.history().stream();
/// while let Some(message) = messages.try_next().await? {
///     println!("{} {}: {}", message.created_at, message.sender, message.message.unwrap_or_default());
/// }
/// chat.send_message("Thank you, we will check.").await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ChatHandle {
    pub(crate) client: Client,
    business_id: BusinessId,
    chat_id: ChatId,
}

impl ChatHandle {
    /// The chat's id.
    pub fn id(&self) -> u64 {
        self.chat_id.get()
    }

    /// The business the chat belongs to.
    pub fn business_id(&self) -> u64 {
        self.business_id.get()
    }

    pub(crate) fn ids(&self) -> Result<(BusinessId, ChatId), Error> {
        Ok((
            checked("business id", self.business_id)?,
            checked("chat id", self.chat_id)?,
        ))
    }

    /// The chat (getChat).
    ///
    /// # Errors
    /// Input errors before any request, then what the request ends with.
    pub async fn get(&self) -> Result<Chat, Error> {
        Ok(self.get_answer().await?.result)
    }

    /// The chat with the response's `Date` (the server's clock) and
    /// rate-limit headers.
    pub(crate) async fn get_answer(&self) -> Result<crate::transport::Answer<Chat>, Error> {
        let (business, chat_id) = self.ids()?;
        self.client.execute(business, &GetChat { chat_id }).await
    }

    /// The chat's messages (getChatHistory), as a lazy query; see
    /// [`HistoryQuery`].
    pub fn history(&self) -> HistoryQuery {
        HistoryQuery::new(self.clone())
    }

    /// One message (getChatMessage).
    ///
    /// # Errors
    /// Input errors (an id of 0) before any request, then what the request ends with.
    pub async fn message(&self, message_id: impl Into<MessageId>) -> Result<ChatMessage, Error> {
        let (business, chat_id) = self.ids()?;
        let message_id = checked("message id", message_id.into())?;
        let answer = self
            .client
            .execute(
                business,
                &GetChatMessage {
                    chat_id,
                    message_id,
                },
            )
            .await?;
        Ok(answer.result)
    }

    /// Sends a text message (sendMessageToChat): 1 to 4,096 characters,
    /// checked before sending. Not idempotent; see the module docs.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty or too long text (nothing is
    /// sent), [`Error::MissingScope`] for a read-only key,
    /// [`Error::OutcomeUnknown`] when the message may or may not have been sent.
    pub async fn send_message(&self, text: impl Into<String>) -> Result<(), Error> {
        let text = text.into();
        let (business, chat_id) = self.ids()?;
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_MESSAGE_CHARS {
            return Err(Error::invalid_input(format!(
                "a message must have 1 to {MAX_MESSAGE_CHARS} characters, this one has {chars}"
            )));
        }
        let body = SendMessageToChatRequest {
            message: text
                .try_into()
                .map_err(|e| Error::invalid_input(format!("message: {e}")))?,
        };
        self.client
            .execute(business, &SendMessage { chat_id, body })
            .await?;
        Ok(())
    }

    /// Sends a file (sendFileToChat, multipart): at most 5 MB, checked before
    /// sending. Not idempotent; see the module docs.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty name, an empty file or one over
    /// 5 MB (nothing is sent); otherwise as [`ChatHandle::send_message`].
    pub async fn send_file(
        &self,
        name: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<(), Error> {
        let (name, bytes) = (name.into(), bytes.into());
        let (business, chat_id) = self.ids()?;
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                "a file needs a name without control characters",
            ));
        }
        if bytes.is_empty() || bytes.len() > MAX_FILE_BYTES {
            return Err(Error::invalid_input(format!(
                "a file must have 1 to {MAX_FILE_BYTES} bytes (5 MB), this one has {}",
                bytes.len()
            )));
        }
        let call = SendFile {
            chat_id,
            name,
            bytes: bytes::Bytes::from(bytes),
        };
        self.client.execute(business, &call).await?;
        Ok(())
    }
}
