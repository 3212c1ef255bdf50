//! A ready [`axum::Router`] for Market's push notifications (Cargo feature
//! `axum`): `POST /notification`, the path the official spec names.
//!
//! It answers within Market's timeouts (10 s; 1 s for `PING`): the handler
//! does no I/O, it parses the body, answers with [`Reply`] (or the
//! documented error reply for a bad body) and hands chat notifications to a
//! follower as [`FollowHints`], and to your callback if you set one.
//!
//! **Market does not sign notifications.** Anyone who learns the URL can post
//! to it. Hints only make a follower read a chat sooner (polling stays the
//! truth, so a forged notification cannot invent an event), but a deployment
//! should still: put a secret segment in the path
//! ([`NotificationEndpoint::secret_path`]: `/<secret>/notification`, a wrong
//! one answers 404), allow only Market's addresses at the proxy or firewall
//! in front (Yandex publishes them), and serve it over HTTPS. Bodies are
//! capped ([`NotificationEndpoint::max_body_bytes`], 64 KiB by default:
//! Market's notifications are a few hundred bytes; larger ones get 413).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use yandex_market_chats::follow::FollowHints;
//! use yandex_market_chats::notifications::axum::NotificationEndpoint;
//!
//! let hints = FollowHints::new(); // also given to `client.follow(..).hints(..)`
//! let app = NotificationEndpoint::new("my-integration", "1.0.0")?
//!     .hints(hints.clone())
//!     .secret_path("k3J9q-long-random-segment")
//!     .router();
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::{Notification, Reply};
use crate::Error;
use crate::follow::FollowHints;

type Callback = Arc<dyn Fn(Notification) + Send + Sync>;

/// Builds the notification endpoint's router. See the [module docs](self).
#[derive(Clone)]
#[must_use = "call .router() to get the axum Router"]
pub struct NotificationEndpoint {
    name: String,
    version: String,
    hints: Option<FollowHints>,
    secret: Option<String>,
    max_body: usize,
    callback: Option<Callback>,
}

impl fmt::Debug for NotificationEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationEndpoint")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("secret_path", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl NotificationEndpoint {
    /// An endpoint that answers with your integration's `name` and
    /// `version` (the `200` body, [`Reply`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] unless both have 1..=100 characters.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Result<Self, Error> {
        let (name, version) = (name.into(), version.into());
        Reply::new(name.clone(), version.clone())?;
        Ok(Self {
            name,
            version,
            hints: None,
            secret: None,
            max_body: 64 * 1024,
            callback: None,
        })
    }

    /// Hints the chat of every chat notification to a follower.
    pub fn hints(mut self, hints: FollowHints) -> Self {
        self.hints = Some(hints);
        self
    }

    /// Serves at `/<segment>/notification` instead of `/notification`.
    pub fn secret_path(mut self, segment: impl Into<String>) -> Self {
        self.secret = Some(segment.into().trim_matches('/').to_owned());
        self
    }

    /// The largest body accepted, in bytes (default 64 KiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Called with every notification that parsed (after the hint, before
    /// the answer): keep it quick, Market waits at most 10 s (1 s for
    /// `PING`).
    pub fn on_notification(
        mut self,
        callback: impl Fn(Notification) + Send + Sync + 'static,
    ) -> Self {
        self.callback = Some(Arc::new(callback));
        self
    }

    /// The router.
    pub fn router(self) -> Router {
        let path = match &self.secret {
            Some(secret) if !secret.is_empty() => format!("/{secret}/notification"),
            _ => "/notification".to_owned(),
        };
        let limit = self.max_body;
        Router::new()
            .route(&path, post(handle))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(Arc::new(self))
    }
}

async fn handle(State(endpoint): State<Arc<NotificationEndpoint>>, body: Bytes) -> Response {
    let notification = match Notification::from_json(&body) {
        Ok(notification) => notification,
        Err(error) => {
            let reply = error.reply();
            return json(reply.status(), reply.to_json());
        }
    };
    if let Some(hints) = &endpoint.hints {
        hints.notification(&notification);
    }
    if let Some(callback) = &endpoint.callback {
        callback(notification);
    }
    match Reply::new(endpoint.name.clone(), endpoint.version.clone()) {
        Ok(reply) => json(200, reply.to_json()),
        // Checked in `new`; kept total.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn json(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
