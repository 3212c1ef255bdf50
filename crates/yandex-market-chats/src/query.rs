//! The getChats query builder: filters, page size, paging bounds.

use std::collections::HashSet;

use yandex_market_chats_api::types::GetChatsRequest;

use crate::calls::{ChatsRequest, GetChats};
use crate::page_size::Requested;
use crate::paging::{self, ChatStream, Items, Listing, Page, PageStream, PagingOptions};

use crate::ids::checked;
use crate::{
    BusinessId, ChatContextType, ChatStatus, ChatTarget, ChatType, Client, Error, OrderId, PageSize,
};

/// A query for one business's chats, from [`Client::chats`].
///
/// Filter setters replace what an earlier call set; duplicates are removed
/// and an empty filter is left out of the request (the API rejects empty
/// arrays). Nothing is sent until `.stream()`, `.pages()` or `.page(..)`;
/// invalid input is reported there, before any request.
///
/// ```no_run
/// # async fn run(client: yandex_market_chats::Client) -> Result<(), yandex_market_chats::Error> {
/// use futures::TryStreamExt;
/// use yandex_market_chats::{ChatContextType, ChatStatus};
///
/// let mut pages = client
///     .chats(42)
///     .statuses([ChatStatus::New])
///     .context_types([ChatContextType::Direct])
///     .page_size(10) // 1..=20, or a `PageSize`
///     .max_pages(3)
///     .pages();
/// while let Some(page) = pages.try_next().await? {
///     println!("{} chats, next token {:?}", page.chats.len(), page.next_page_token);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a query does nothing until you call .stream(), .pages() or .page()"]
pub struct ChatsQuery {
    client: Client,
    business_id: BusinessId,
    statuses: Vec<ChatStatus>,
    types: Vec<ChatType>,
    context_types: Vec<ChatContextType>,
    contexts: Vec<ChatTarget>,
    order_ids: Vec<OrderId>,
    page_size: Requested<PageSize>,
    paging: PagingOptions,
}

impl ChatsQuery {
    pub(crate) fn new(client: Client, business_id: BusinessId) -> Self {
        Self {
            client,
            business_id,
            statuses: Vec::new(),
            types: Vec::new(),
            context_types: Vec::new(),
            contexts: Vec::new(),
            order_ids: Vec::new(),
            page_size: Requested::default(),
            paging: PagingOptions::default(),
        }
    }

    /// Only chats in these statuses.
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = ChatStatus>) -> Self {
        self.statuses = dedup(statuses);
        self
    }

    /// Only chats of these types.
    pub fn types(mut self, types: impl IntoIterator<Item = ChatType>) -> Self {
        self.types = dedup(types);
        self
    }

    /// Only chats with these context types (`ORDER`, `RETURN`, `DIRECT`).
    pub fn context_types(mut self, types: impl IntoIterator<Item = ChatContextType>) -> Self {
        self.context_types = dedup(types);
        self
    }

    /// Only chats about these orders or returns: [`ChatTarget`]s (or the
    /// API's [`ChatContext`](crate::ChatContext)s).
    pub fn contexts(mut self, contexts: impl IntoIterator<Item = impl Into<ChatTarget>>) -> Self {
        self.contexts = dedup(contexts.into_iter().map(Into::into));
        self
    }

    /// Only chats about these orders. Deprecated by the API: use
    /// [`ChatsQuery::contexts`] with `ORDER` contexts.
    #[deprecated(note = "the API deprecates `orderIds`; use `contexts` with ORDER contexts")]
    pub fn order_ids(mut self, order_ids: impl IntoIterator<Item = impl Into<OrderId>>) -> Self {
        let mut seen = HashSet::new();
        self.order_ids = order_ids
            .into_iter()
            .map(Into::into)
            .filter(|id| seen.insert(*id))
            .collect();
        self
    }

    /// Chats per request, 1..=20 (the API's `limit` rule); default
    /// [`PageSize::MAX`] (20). A number as it is (`.page_size(10)`) or a
    /// [`PageSize`]. A number out of range is refused with
    /// [`Error::InvalidInput`] naming the limit when the query runs, before
    /// any request.
    pub fn page_size(mut self, page_size: impl TryInto<PageSize, Error: Into<Error>>) -> Self {
        self.page_size = Requested::new(page_size);
        self
    }

    /// Stop after this many pages (at least 1).
    pub fn max_pages(mut self, max_pages: u32) -> Self {
        self.paging.max_pages = Some(max_pages);
        self
    }

    /// Start from this page token (a `Page::next_page_token` or a stream's
    /// `next_page_token()`) instead of the first page.
    pub fn resume_from(mut self, token: impl Into<String>) -> Self {
        self.paging.resume_from = Some(token.into());
        self
    }

    /// Every matching chat, in order, each once, fetched lazily one page at a
    /// time. Errors end the stream; input errors come first, with no request.
    pub fn stream(self) -> ChatStream {
        Items::new(self.pages())
    }

    /// Every page, lazily. Each page carries the token to resume from.
    pub fn pages(self) -> PageStream {
        paging::pages(&self.client, self.prepare(), self.paging)
    }

    /// One page: the first with `None`, else the page `token` names. Ignores
    /// `resume_from` and `max_pages`.
    ///
    /// # Errors
    /// Input errors (before any request) and whatever the request ends with
    /// after retries.
    pub async fn page(&self, token: Option<String>) -> Result<Page, Error> {
        paging::page(&self.client, self.prepare(), token).await
    }

    /// Checks the input and builds the request body.
    fn prepare(&self) -> Result<ChatsRequest, Error> {
        let business_id = checked("business id", self.business_id)?;
        let page_size = self.page_size.get()?;
        let order_ids = self
            .order_ids
            .iter()
            .map(|&id| checked("order ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        let contexts = self
            .contexts
            .iter()
            .map(ChatTarget::context)
            .collect::<Result<Vec<_>, _>>()?;
        self.paging.check()?;
        // `orderIds` is deprecated by the API: sent only when the caller used
        // the deprecated `order_ids`.
        #[allow(deprecated)]
        let body = GetChatsRequest {
            statuses: non_empty(&self.statuses),
            types: non_empty(&self.types),
            context_types: non_empty(&self.context_types),
            contexts: non_empty(&contexts),
            order_ids: non_empty(&order_ids),
        };
        Ok(ChatsRequest {
            business_id,
            page_size,
            body,
        })
    }
}

/// Keeps the first of equal items, in order. Filters are short, so a scan
/// is cheaper than hashing (and the generated types are not all `Hash`).
fn dedup<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

impl Listing for ChatsRequest {
    type Page = Page;

    async fn fetch(&self, client: &Client, token: Option<String>) -> Result<Page, Error> {
        {
            let call = GetChats {
                request: self,
                token: token.as_deref(),
            };
            let answer = client.execute(self.business_id, &call).await?;
            Ok(Page {
                chats: answer.result.chats,
                next_page_token: paging::next_token(answer.result.paging),
                rate_limit: answer.rate_limit,
                date: answer.date,
                page_token: token,
            })
        }
    }
}
