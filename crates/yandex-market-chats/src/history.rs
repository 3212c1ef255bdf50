//! The getChatHistory query builder: page size, where to start, paging bounds.

use yandex_market_chats_api::types::GetChatHistoryRequest;

use crate::calls::{GetChatHistory, HistoryRequest};
use crate::ids::checked;
use crate::page_size::Requested;
use crate::paging::{
    self, Items, Listing, MessagePage, MessagePageStream, MessageStream, PagingOptions,
};
use crate::{ChatHandle, Client, Error, HistoryPageSize, MessageId};

/// A query for a chat's messages, from [`ChatHandle::history`]. Nothing is
/// sent until `.stream()`, `.pages()` or `.page(..)`; invalid input is
/// reported there, before any request. The streams have the guarantees of
/// the chat streams: lazy, in order, each message once, resumable, guarded
/// against a repeated page token.
#[derive(Clone, Debug)]
#[must_use = "a query does nothing until you call .stream(), .pages() or .page()"]
pub struct HistoryQuery {
    chat: ChatHandle,
    page_size: Requested<HistoryPageSize>,
    message_id_from: Option<MessageId>,
    paging: PagingOptions,
}

impl HistoryQuery {
    pub(crate) fn new(chat: ChatHandle) -> Self {
        Self {
            chat,
            page_size: Requested::default(),
            message_id_from: None,
            paging: PagingOptions::default(),
        }
    }

    /// Messages per request, 1..=100 (the API's `limit` rule); default 50.
    /// A number as it is (`.page_size(100)`) or a [`HistoryPageSize`]. A
    /// number out of range is refused with [`Error::InvalidInput`] naming
    /// the limit when the query runs, before any request.
    pub fn page_size(
        mut self,
        page_size: impl TryInto<HistoryPageSize, Error: Into<Error>>,
    ) -> Self {
        self.page_size = Requested::new(page_size);
        self
    }

    /// Start with this message (`messageIdFrom`): it and every later one.
    pub fn message_id_from(mut self, message_id: impl Into<MessageId>) -> Self {
        self.message_id_from = Some(message_id.into());
        self
    }

    /// Stop after this many pages (at least 1).
    pub fn max_pages(mut self, max_pages: u32) -> Self {
        self.paging.max_pages = Some(max_pages);
        self
    }

    /// Start from this page token instead of the first page.
    pub fn resume_from(mut self, token: impl Into<String>) -> Self {
        self.paging.resume_from = Some(token.into());
        self
    }

    /// Every message, lazily, one page in memory at a time.
    pub fn stream(self) -> MessageStream {
        Items::new(self.pages())
    }

    /// Every page, lazily. Each page carries the token to resume from.
    pub fn pages(self) -> MessagePageStream {
        paging::pages(&self.chat.client, self.prepare(), self.paging)
    }

    /// One page: the first with `None`, else the page `token` names.
    ///
    /// # Errors
    /// Input errors before any request, then what the request ends with.
    pub async fn page(&self, token: Option<String>) -> Result<MessagePage, Error> {
        paging::page(&self.chat.client, self.prepare(), token).await
    }

    fn prepare(&self) -> Result<HistoryRequest, Error> {
        let (business_id, chat_id) = self.chat.ids()?;
        let page_size = self.page_size.get()?;
        let message_id_from = self
            .message_id_from
            .map(|m| checked("messageIdFrom", m))
            .transpose()?;
        self.paging.check()?;
        Ok(HistoryRequest {
            business_id,
            chat_id,
            page_size,
            body: GetChatHistoryRequest { message_id_from },
        })
    }
}

impl Listing for HistoryRequest {
    type Page = MessagePage;

    async fn fetch(&self, client: &Client, token: Option<String>) -> Result<MessagePage, Error> {
        {
            let call = GetChatHistory {
                request: self,
                token: token.as_deref(),
            };
            let answer = client.execute(self.business_id, &call).await?;
            Ok(MessagePage {
                messages: answer.result.messages,
                context: answer.result.context,
                next_page_token: paging::next_token(answer.result.paging),
                rate_limit: answer.rate_limit,
                date: answer.date,
                page_token: token,
            })
        }
    }
}
