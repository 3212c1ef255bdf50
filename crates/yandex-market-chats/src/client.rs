//! The client handle: cheap to clone, shared connections and limits.

use std::fmt;
use std::sync::Arc;

use crate::config::Config;
use crate::limits::QuotaState;
use crate::{BusinessId, ChatsQuery, ClientBuilder, Error, Operation};

/// A Yandex.Market chats client. Cheap to clone: clones share the connection
/// pool, the in-flight limit and the hourly quota.
///
/// ```no_run
/// # async fn run() -> Result<(), yandex_market_chats::Error> {
/// use futures::TryStreamExt;
/// use yandex_market_chats::Client;
///
/// let client = Client::from_env()?;
/// let chats: Vec<_> = client.chats(42).stream().try_collect().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: Config,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client from the environment: `YANDEX_MARKET_API_KEY` or
    /// `YANDEX_MARKET_OAUTH_TOKEN` (one of them), and optionally
    /// `YANDEX_MARKET_BASE_URL`. To add settings on top of the environment,
    /// start from [`ClientBuilder::from_env`] instead.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when neither credential variable is set, or
    /// both are (the message names the variables), and anything
    /// [`ClientBuilder::from_env`] or [`ClientBuilder::build`] refuses.
    pub fn from_env() -> Result<Self, Error> {
        ClientBuilder::from_env()?.build()
    }

    pub(crate) fn from_config(config: Config) -> Self {
        Self {
            inner: Arc::new(Inner { config }),
        }
    }

    /// A query for the chats of one business (cabinet). Nothing is sent until
    /// you call `.stream()`, `.pages()` or `.page(..)`.
    ///
    /// A `business_id` of 0 is reported by the first request method, before
    /// anything is sent.
    pub fn chats(&self, business_id: impl Into<BusinessId>) -> ChatsQuery {
        ChatsQuery::new(self.clone(), business_id.into())
    }

    /// How much of `operation`'s hourly quota is left for a business, as the
    /// client's limiter sees it (following the server's headers); `None` when
    /// that quota is switched off. For a caller that paces itself.
    ///
    /// # Errors
    /// What the limiter reports (the default one never fails).
    pub async fn quota(
        &self,
        business_id: impl Into<BusinessId>,
        operation: Operation,
    ) -> Result<Option<QuotaState>, Error> {
        let business_id: BusinessId = business_id.into();
        self.inner
            .config
            .limiter
            .quota(business_id.get(), operation)
            .await
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.inner.config.base_url
    }
}
