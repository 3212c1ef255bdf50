//! Push notifications: the events the sandbox reports to
//! `<notify_url>/notification` in the official format, the delivery faults a
//! test scripts, and the task on the sandbox's thread that sends them, one
//! at a time and in order.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use yandex_market_chats::reqwest;

use crate::state::{Shared, State};

/// How long Market waits for the answer to a chat notification.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Something that happened to a chat that Market reports.
pub(crate) enum Event {
    /// `CHAT_CREATED`.
    ChatCreated {
        chat_id: u64,
        created_at: DateTime<FixedOffset>,
    },
    /// `CHAT_MESSAGE_SENT`.
    MessageSent {
        chat_id: u64,
        message_id: u64,
        sent_at: DateTime<FixedOffset>,
    },
    /// `CHAT_ARBITRAGE_STARTED`.
    ArbitrageStarted {
        chat_id: u64,
        started_at: DateTime<FixedOffset>,
    },
    /// `CHAT_ARBITRAGE_FINISHED`.
    ArbitrageFinished {
        chat_id: u64,
        finished_at: DateTime<FixedOffset>,
    },
}

impl Event {
    /// The body of `POST /notification`, as the notification API's schemas
    /// describe it (`messageId` is a string there).
    fn body(&self, business_id: u64) -> Value {
        match self {
            Self::ChatCreated {
                chat_id,
                created_at,
            } => json!({
                "notificationType": "CHAT_CREATED",
                "chatId": chat_id,
                "businessId": business_id,
                "createdAt": time(created_at),
            }),
            Self::MessageSent {
                chat_id,
                message_id,
                sent_at,
            } => json!({
                "notificationType": "CHAT_MESSAGE_SENT",
                "chatId": chat_id,
                "messageId": message_id.to_string(),
                "businessId": business_id,
                "sentAt": time(sent_at),
            }),
            Self::ArbitrageStarted {
                chat_id,
                started_at,
            } => json!({
                "notificationType": "CHAT_ARBITRAGE_STARTED",
                "chatId": chat_id,
                "businessId": business_id,
                "startedAt": time(started_at),
            }),
            Self::ArbitrageFinished {
                chat_id,
                finished_at,
            } => json!({
                "notificationType": "CHAT_ARBITRAGE_FINISHED",
                "chatId": chat_id,
                "businessId": business_id,
                "finishedAt": time(finished_at),
            }),
        }
    }
}

/// ISO 8601 with the offset, fractions of a second only when there are some.
fn time(at: &DateTime<FixedOffset>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A notification the sandbox sent, or was to send.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RecordedNotification {
    /// The JSON body (what was sent, or would have been for a dropped one).
    pub body: Value,
    /// Whether this is the second copy of a notification, sent by
    /// [`Sandbox::duplicate_notifications`](crate::Sandbox::duplicate_notifications).
    pub duplicate: bool,
    /// What became of it.
    pub delivery: Delivery,
}

/// What became of a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Queued: its `POST` has not finished yet.
    Pending,
    /// Never sent: [`Sandbox::drop_notifications`](crate::Sandbox::drop_notifications)
    /// took it.
    Dropped,
    /// The receiver answered with this HTTP status. Only 200 is a success;
    /// any other is not retried.
    Answered(u16),
    /// The `POST` failed (no connection, no answer within 10 seconds, ...):
    /// the error's text. Not retried.
    Failed(String),
}

/// One `POST` for the delivery task: the notification's index in the log.
pub(crate) struct Outgoing {
    index: usize,
    body: Value,
}

/// The sending side, kept in [`Shared`]; the receiving side goes to the
/// delivery task.
pub(crate) type Outbox = mpsc::UnboundedReceiver<Outgoing>;
pub(crate) type Notifier = mpsc::UnboundedSender<Outgoing>;

/// A channel when notifications are configured.
pub(crate) fn channel(enabled: bool) -> (Option<Notifier>, Option<Outbox>) {
    if !enabled {
        return (None, None);
    }
    let (notifier, outbox) = mpsc::unbounded_channel();
    (Some(notifier), Some(outbox))
}

/// Queues the notification of `event`, applying the scripted delivery
/// faults. Called with the state locked, right where the event changes
/// it, so notifications leave in the order the events happened. Nothing
/// is queued (and no fault used up) without a notification URL.
pub(crate) fn queue(shared: &Shared, state: &mut State, event: &Event) {
    let Some(notifier) = &shared.notifier else {
        return;
    };
    let body = event.body(shared.config.business_id);
    if state.drop_notifications > 0 {
        state.drop_notifications -= 1;
        state.notifications.push(RecordedNotification {
            body,
            duplicate: false,
            delivery: Delivery::Dropped,
        });
        return;
    }
    let copies = if state.duplicate_notifications > 0 {
        state.duplicate_notifications -= 1;
        2
    } else {
        1
    };
    for copy in 0..copies {
        let index = state.notifications.len();
        state.notifications.push(RecordedNotification {
            body: body.clone(),
            duplicate: copy > 0,
            delivery: Delivery::Pending,
        });
        let outgoing = Outgoing {
            index,
            body: body.clone(),
        };
        if notifier.send(outgoing).is_err() {
            // The server thread is gone (the sandbox is being dropped).
            state.notifications[index].delivery =
                Delivery::Failed("the sandbox is stopping".to_owned());
        }
    }
}

/// Sends the queued notifications one at a time, in order, until the
/// sandbox stops. Runs on the sandbox's runtime.
pub(crate) async fn deliver(shared: Arc<Shared>, mut outbox: Outbox) {
    let Some(base) = shared.config.notify_url.clone() else {
        return;
    };
    let url = format!("{base}/notification");
    // Redirects are not followed: Market posts to the URL it was given.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ANSWER_TIMEOUT)
        .build();
    while let Some(Outgoing { index, body }) = outbox.recv().await {
        let delivery = match &client {
            Err(e) => Delivery::Failed(format!("no HTTP client: {e}")),
            Ok(client) => match client.post(&url).json(&body).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // Read to the end, so that the connection can be reused.
                    let _ = response.bytes().await;
                    Delivery::Answered(status)
                }
                Err(e) => Delivery::Failed(error_chain(&e)),
            },
        };
        if let Some(entry) = shared.state().notifications.get_mut(index) {
            entry.delivery = delivery;
        }
    }
}

/// An error and its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
