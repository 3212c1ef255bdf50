//! Lazy pagination over `nextPageToken`.
//!
//! A request is sent only when the consumer asks for the next item, one page
//! at a time (no read-ahead), and dropping a stream cancels the request in
//! flight. Paging ends on a missing or empty token; a token this stream has
//! already sent coming back ends it with [`Error::PaginationLoop`] instead of
//! looping forever. After an error the stream ends; resume from
//! [`PageStream::next_page_token`].

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::transport::PageRequest;
use crate::{Chat, Client, Error, RateLimit};

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
}

type PageFuture = Pin<Box<dyn Future<Output = Result<Page, Error>> + Send>>;

enum State {
    /// The next call sends a request with `next_token`.
    Idle,
    InFlight(PageFuture),
    /// Yield this error next, then end.
    Failing(Error),
    Done,
}

/// A lazy stream of pages; see [`crate::ChatsQuery::pages`].
///
/// `Send + Unpin + 'static`. Dropping it cancels the request in flight.
#[must_use = "streams do nothing unless polled"]
pub struct PageStream {
    client: Client,
    request: Option<Arc<PageRequest>>,
    next_token: Option<String>,
    sent: HashSet<String>,
    pages_left: Option<u32>,
    state: State,
}

impl std::fmt::Debug for PageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageStream")
            .field("next_page_token", &self.next_token)
            .field("pages_left", &self.pages_left)
            .finish_non_exhaustive()
    }
}

impl PageStream {
    pub(crate) fn new(
        client: Client,
        request: Result<Arc<PageRequest>, Error>,
        resume_from: Option<String>,
        max_pages: Option<u32>,
    ) -> Self {
        let (request, state) = match request {
            Ok(request) => (Some(request), State::Idle),
            Err(error) => (None, State::Failing(error)),
        };
        Self {
            client,
            request,
            sent: resume_from.iter().cloned().collect(),
            next_token: resume_from,
            pages_left: max_pages,
            state,
        }
    }

    /// The token the next request will send: after an error, or after
    /// stopping early, pass it to `ChatsQuery::resume_from` to continue
    /// exactly where this stream stopped. `None` before the first page and
    /// once the last page was seen.
    pub fn next_page_token(&self) -> Option<&str> {
        self.next_token.as_deref()
    }

    /// Whether the stream has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn start(&mut self) -> Option<PageFuture> {
        if self.pages_left == Some(0) {
            return None;
        }
        let request = Arc::clone(self.request.as_ref()?);
        let client = self.client.clone();
        let token = self.next_token.clone();
        Some(Box::pin(async move {
            client.get_chats_page(&request, token).await
        }))
    }

    fn finish_page(&mut self, page: &Page) {
        if let Some(left) = &mut self.pages_left {
            *left -= 1;
        }
        self.state = match &page.next_page_token {
            None => {
                self.next_token = None;
                State::Done
            }
            Some(token) if self.sent.contains(token) => State::Failing(Error::PaginationLoop {
                token: token.clone(),
            }),
            Some(token) => {
                self.sent.insert(token.clone());
                self.next_token = Some(token.clone());
                if self.pages_left == Some(0) {
                    State::Done
                } else {
                    State::Idle
                }
            }
        };
    }
}

impl Stream for PageStream {
    type Item = Result<Page, Error>;

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
                        Poll::Ready(Ok(page)) => {
                            this.finish_page(&page);
                            Poll::Ready(Some(Ok(page)))
                        }
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

/// A lazy stream of chats, one page in memory at a time; see
/// [`crate::ChatsQuery::stream`].
///
/// `Send + Unpin + 'static`. Dropping it cancels the request in flight.
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct ChatStream {
    pages: PageStream,
    current: std::vec::IntoIter<Chat>,
}

impl ChatStream {
    pub(crate) fn new(pages: PageStream) -> Self {
        Self {
            pages,
            current: Vec::new().into_iter(),
        }
    }

    /// The token of the page after the one being yielded now. Once the
    /// current page is drained (or after an error), resuming from it
    /// continues without repeating or skipping a chat.
    pub fn next_page_token(&self) -> Option<&str> {
        self.pages.next_page_token()
    }

    /// How many chats of the current page are still to be yielded.
    pub fn buffered(&self) -> usize {
        self.current.len()
    }
}

impl Stream for ChatStream {
    type Item = Result<Chat, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(chat) = self.current.next() {
                return Poll::Ready(Some(Ok(chat)));
            }
            match Pin::new(&mut self.pages).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Some(Ok(page))) => self.current = page.chats.into_iter(),
            }
        }
    }
}
