//! Lazy pagination over `nextPageToken`, for chats and for messages.
//!
//! A request is sent only when the consumer asks for the next item, one page
//! at a time (no read-ahead), and dropping a stream cancels the request in
//! flight. Paging ends on a missing or empty token; a token this stream has
//! already sent coming back ends it with [`Error::PaginationLoop`] instead of
//! looping forever. The page whose answer named that token is not yielded:
//! its next token is unusable, so the page is treated like a failed request.
//! After an error the stream ends; resume from [`Pages::next_page_token`],
//! which after a loop is the token that page was requested with: a resumed
//! stream asks for it again, so a one-off repeat loses nothing, and nothing
//! the first stream yielded comes again.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use futures_core::Stream;

use crate::{Chat, ChatFullContext, ChatMessage, Client, Error, RateLimit};

/// One page of chats.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// The chats on this page, in the server's order.
    pub chats: Vec<Chat>,
    /// The token of the next page; `None` on the last page. Pass it to
    /// `ChatsQuery::resume_from` or `ChatsQuery::page` to continue later.
    pub next_page_token: Option<String>,
    /// The rate-limit headers of the response.
    pub rate_limit: Option<RateLimit>,
    /// The token this page was requested with (`None` for the first page).
    pub page_token: Option<String>,
    /// The response's `Date` header: the server's clock when it answered
    /// (one-second resolution), which may differ from this host's.
    pub date: Option<DateTime<Utc>>,
}

/// One page of a chat's messages.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MessagePage {
    /// The messages on this page, in the server's order.
    pub messages: Vec<ChatMessage>,
    /// What the chat is about.
    pub context: ChatFullContext,
    /// The token of the next page; `None` on the last page.
    pub next_page_token: Option<String>,
    /// The rate-limit headers of the response.
    pub rate_limit: Option<RateLimit>,
    /// The token this page was requested with (`None` for the first page).
    pub page_token: Option<String>,
    /// The response's `Date` header: the server's clock when it answered
    /// (one-second resolution), which may differ from this host's.
    pub date: Option<DateTime<Utc>>,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Page {}
    impl Sealed for super::MessagePage {}
}

/// A page the streams of this crate walk through: [`Page`] or [`MessagePage`].
pub trait Paged: sealed::Sealed + Send + 'static {
    /// What the page holds.
    type Item: Send + 'static;
    /// The token of the next page, if any.
    fn next_page_token(&self) -> Option<&str>;
    /// The page's items, in order.
    fn into_items(self) -> Vec<Self::Item>;
}

impl Paged for Page {
    type Item = Chat;
    fn next_page_token(&self) -> Option<&str> {
        self.next_page_token.as_deref()
    }
    fn into_items(self) -> Vec<Chat> {
        self.chats
    }
}

impl Paged for MessagePage {
    type Item = ChatMessage;
    fn next_page_token(&self) -> Option<&str> {
        self.next_page_token.as_deref()
    }
    fn into_items(self) -> Vec<ChatMessage> {
        self.messages
    }
}

pub(crate) type PageFuture<P> = Pin<Box<dyn Future<Output = Result<P, Error>> + Send>>;
/// Fetches the page a token names (`None`: the first page).
type Fetch<P> = Box<dyn Fn(Option<String>) -> PageFuture<P> + Send>;

/// A checked listing request (chats, or one chat's messages): how to fetch
/// one of its pages. Both queries page through this one core.
pub(crate) trait Listing: Send + Sync + Sized + 'static {
    /// The pages it yields.
    type Page: Paged;
    /// Fetches the page `token` names (`None`: the first page).
    fn fetch(
        &self,
        client: &Client,
        token: Option<String>,
    ) -> impl Future<Output = Result<Self::Page, Error>> + Send;
}

/// What both queries offer for paging, and its checks.
#[derive(Clone, Debug, Default)]
pub(crate) struct PagingOptions {
    pub max_pages: Option<u32>,
    pub resume_from: Option<String>,
}

impl PagingOptions {
    /// Checks the options; called before any request.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.max_pages == Some(0) {
            return Err(Error::invalid_input("max_pages must be at least 1"));
        }
        if self.resume_from.as_deref() == Some("") {
            return Err(Error::invalid_input("the resume token is empty"));
        }
        Ok(())
    }
}

/// The lazy pages of `listing` (or its input error, first and alone).
pub(crate) fn pages<L: Listing>(
    client: &Client,
    listing: Result<L, Error>,
    options: PagingOptions,
) -> Pages<L::Page> {
    let fetch = listing.map(|listing| {
        let (client, listing) = (client.clone(), Arc::new(listing));
        Box::new(move |token| {
            let (client, listing) = (client.clone(), Arc::clone(&listing));
            Box::pin(async move { listing.fetch(&client, token).await }) as PageFuture<L::Page>
        }) as Fetch<L::Page>
    });
    Pages::new(fetch, options.resume_from, options.max_pages)
}

/// One page of `listing`: the first with `None`, else the page `token` names.
pub(crate) async fn page<L: Listing>(
    client: &Client,
    listing: Result<L, Error>,
    token: Option<String>,
) -> Result<L::Page, Error> {
    let listing = listing?;
    if token.as_deref() == Some("") {
        return Err(Error::invalid_input("the page token is empty"));
    }
    listing.fetch(client, token).await
}

/// The next page's token from a response's `paging`: a missing or empty
/// token both mean the last page. The one place tokens are read.
pub(crate) fn next_token(paging: Option<yandex_market_chats_api::types::Paging>) -> Option<String> {
    paging
        .and_then(|p| p.next_page_token)
        .filter(|t| !t.is_empty())
}

enum State<P> {
    /// The next poll sends a request with `next_token`.
    Idle,
    InFlight(PageFuture<P>),
    /// Yield this error next, then end.
    Failing(Error),
    Done,
}

/// A lazy stream of pages: [`PageStream`] for chats, [`MessagePageStream`]
/// for messages.
///
/// `Send + Unpin + 'static`. Dropping it cancels the request in flight.
#[must_use = "streams do nothing unless polled"]
pub struct Pages<P: Paged> {
    fetch: Option<Fetch<P>>,
    next_token: Option<String>,
    sent: HashSet<String>,
    pages_left: Option<u32>,
    state: State<P>,
}

/// A lazy stream of chats' pages; see [`crate::ChatsQuery::pages`].
pub type PageStream = Pages<Page>;
/// A lazy stream of message pages; see [`crate::HistoryQuery::pages`].
pub type MessagePageStream = Pages<MessagePage>;

impl<P: Paged> std::fmt::Debug for Pages<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("next_page_token", &self.next_token)
            .field("pages_left", &self.pages_left)
            .finish_non_exhaustive()
    }
}

impl<P: Paged> Pages<P> {
    /// A stream that fetches with `fetch`, or yields `fetch`'s error first.
    fn new(
        fetch: Result<Fetch<P>, Error>,
        resume_from: Option<String>,
        max_pages: Option<u32>,
    ) -> Self {
        let (fetch, state) = match fetch {
            Ok(fetch) => (Some(fetch), State::Idle),
            Err(error) => (None, State::Failing(error)),
        };
        Self {
            fetch,
            sent: resume_from.iter().cloned().collect(),
            next_token: resume_from,
            pages_left: max_pages,
            state,
        }
    }

    /// The token the next request will send: after an error, or after
    /// stopping early, pass it to `resume_from` to continue exactly where
    /// this stream stopped (never re-fetching a page it yielded). After
    /// [`Error::PaginationLoop`] it is the token of the page whose answer
    /// repeated a token, which was not yielded: a resumed stream asks for
    /// that page again and, when the repeat was a one-off, goes on with
    /// nothing lost. `None` before the first page and once the last page was
    /// seen.
    pub fn next_page_token(&self) -> Option<&str> {
        self.next_token.as_deref()
    }

    /// Whether the stream has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn start(&mut self) -> Option<PageFuture<P>> {
        if self.pages_left == Some(0) {
            return None;
        }
        let fetch = self.fetch.as_ref()?;
        Some(fetch(self.next_token.clone()))
    }

    /// Takes in a page that arrived: `Ok` with the page to yield, or the
    /// error that ends the stream instead.
    fn finish_page(&mut self, page: P) -> Result<P, Error> {
        // Tokens are normalized by `next_token`: `None` is the last page.
        if let Some(token) = page.next_page_token()
            && self.sent.contains(token)
        {
            // The server named a page this stream already asked for. This
            // page is not yielded and `next_token` stays the token it was
            // requested with: a resumed stream asks for it again, so nothing
            // yielded here comes twice, and a one-off repeat loses nothing.
            self.state = State::Done;
            return Err(Error::PaginationLoop {
                token: token.to_owned(),
            });
        }
        if let Some(left) = &mut self.pages_left {
            *left -= 1;
        }
        self.state = match page.next_page_token() {
            None => {
                self.next_token = None;
                State::Done
            }
            Some(token) => {
                self.sent.insert(token.to_owned());
                self.next_token = Some(token.to_owned());
                if self.pages_left == Some(0) {
                    State::Done
                } else {
                    State::Idle
                }
            }
        };
        Ok(page)
    }
}

impl<P: Paged> Stream for Pages<P> {
    type Item = Result<P, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Failing(_) => {
                    let State::Failing(error) = std::mem::replace(&mut this.state, State::Done)
                    else {
                        unreachable!("matched above")
                    };
                    return Poll::Ready(Some(Err(error)));
                }
                State::Idle => {
                    this.state = match this.start() {
                        Some(future) => State::InFlight(future),
                        None => State::Done,
                    };
                }
                State::InFlight(future) => {
                    return match future.as_mut().poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(page)) => Poll::Ready(Some(this.finish_page(page))),
                        Poll::Ready(Err(error)) => {
                            this.state = State::Done;
                            Poll::Ready(Some(Err(error)))
                        }
                    };
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.state {
            State::Done => (0, Some(0)),
            _ => (0, self.pages_left.map(|n| n as usize + 1)),
        }
    }
}

/// A lazy stream of items, one page in memory at a time: [`ChatStream`] for
/// chats, [`MessageStream`] for messages.
///
/// `Send + Unpin + 'static`. Dropping it cancels the request in flight.
#[must_use = "streams do nothing unless polled"]
pub struct Items<P: Paged> {
    pages: Pages<P>,
    current: std::vec::IntoIter<P::Item>,
}

// Neither stream pins anything structurally: the page future is boxed.
impl<P: Paged> Unpin for Pages<P> {}
impl<P: Paged> Unpin for Items<P> {}

/// A lazy stream of chats; see [`crate::ChatsQuery::stream`].
pub type ChatStream = Items<Page>;
/// A lazy stream of a chat's messages; see [`crate::HistoryQuery::stream`].
pub type MessageStream = Items<MessagePage>;

impl<P: Paged> std::fmt::Debug for Items<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Items")
            .field("pages", &self.pages)
            .field("buffered", &self.current.len())
            .finish()
    }
}

impl<P: Paged> Items<P> {
    pub(crate) fn new(pages: Pages<P>) -> Self {
        Self {
            pages,
            current: Vec::new().into_iter(),
        }
    }

    /// The token of the page after the one being yielded now. Once the
    /// current page is drained (or after an error), resuming from it
    /// continues without repeating or skipping an item.
    pub fn next_page_token(&self) -> Option<&str> {
        self.pages.next_page_token()
    }

    /// How many items of the current page are still to be yielded.
    pub fn buffered(&self) -> usize {
        self.current.len()
    }
}

impl<P: Paged> Stream for Items<P> {
    type Item = Result<P::Item, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(item) = self.current.next() {
                return Poll::Ready(Some(Ok(item)));
            }
            match Pin::new(&mut self.pages).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Some(Ok(page))) => self.current = page.into_items().into_iter(),
            }
        }
    }
}
