//! The public surface other code is written against, checked by the
//! compiler: this file only has to build. A change that breaks one of these
//! signatures breaks the build of the tests.

#![allow(dead_code, clippy::extra_unused_type_parameters)]
// No `allow(clippy::result_large_err)`: `Error` stays under clippy's 128
// bytes (`Error::Api`'s details are boxed), so callers' functions returning
// `Result<_, Error>` do not trip the lint either.

use std::time::Duration;

use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, QuotaState, Release};
use yandex_market_chats::{
    ApiErrorDetails, ApiErrorEntry, BusinessId, CampaignId, Chat, ChatContext,
    ChatContextIdentifiableType, ChatHandle, ChatId, ChatMessage, ChatStream, ChatTarget, Client,
    ClientBuilder, Credential, Error, InProcessLimiter, MessageId, MessageStream, Operation,
    OrderId, PageStream, RateLimit, RetryPolicy, ReturnId, TimeoutKind,
};
use yandex_market_chats_httpmock::httpmock::MockServer;

fn send_sync_static<T: Send + Sync + 'static>() {}
fn send_unpin_static<T: Send + Unpin + 'static>() {}
fn clone<T: Clone>() {}

fn traits() {
    send_sync_static::<Client>();
    send_sync_static::<Error>();
    send_sync_static::<InProcessLimiter>();
    send_unpin_static::<ChatStream>();
    send_unpin_static::<PageStream>();
    send_unpin_static::<MessageStream>();
    clone::<ClientBuilder>();
    clone::<Client>();
    clone::<InProcessLimiter>();
    send_sync_static::<ChatTarget>();
    copy::<ChatId>();
    copy::<MessageId>();
    copy::<BusinessId>();
}

fn copy<T: Copy + std::fmt::Display + Eq + std::hash::Hash + Ord>() {}

/// Any `Limiter` is `Send + Sync + 'static` and plugs into the builder.
fn limiter<L: Limiter>(builder: ClientBuilder, limiter: L) -> ClientBuilder {
    send_sync_static::<L>();
    builder.limiter(limiter)
}

fn builder() -> Result<Client, Error> {
    Client::builder()
        .api_key("key")
        .base_url("http://127.0.0.1:1")
        .connect_timeout(Duration::from_secs(1))
        .attempt_timeout(Duration::from_secs(1))
        .total_timeout(Duration::from_secs(1))
        .max_in_flight_per_business(4)
        .max_tracked_businesses(10)
        .hourly_quota(Some(5000))
        .operation_quota(Operation::GetChat, None)
        .retry(RetryPolicy::disabled().quota_reset_margin(Duration::ZERO))
        .limiter(InProcessLimiter::new())
        .build()
}

async fn quota(client: &Client) -> Result<Option<QuotaState>, Error> {
    client.quota(42, Operation::GetChats).await
}

async fn drive(limiter: &InProcessLimiter, settings: &LimiterSettings) -> Result<(), Error> {
    limiter.configure(settings)?;
    let permit = Limiter::acquire(
        limiter,
        Acquire::new(42, Operation::GetChats, Duration::ZERO, Duration::ZERO),
    )
    .await?;
    limiter.release(permit, Release::not_sent());
    let _ = Release::sent(None::<RateLimit>);
    let _ = QuotaState::new(1, 1, None);
    Ok(())
}

fn rate_limit(rate: &RateLimit) -> (Option<u64>, Option<u64>, Option<Duration>, Option<Duration>) {
    let _until: Option<yandex_market_chats::chrono::DateTime<yandex_market_chats::chrono::Utc>> =
        rate.until;
    (rate.limit, rate.remaining, rate.resets_in, rate.retry_after)
}

fn errors(error: &Error) -> Option<u16> {
    match error {
        Error::Redirect { status, target } => {
            let _: &Option<String> = target;
            Some(*status)
        }
        Error::MissingScope {
            operation,
            credential: Credential::ApiKey | Credential::OAuthToken,
            code,
            message,
        } => {
            let _ = (operation, code, message);
            None
        }
        Error::OutcomeUnknown { operation, cause } => {
            let _: &Operation = operation;
            cause.status()
        }
        Error::Timeout {
            kind: TimeoutKind::Attempt | TimeoutKind::Total,
            after,
        } => {
            let _: &Duration = after;
            None
        }
        Error::RateLimited {
            reset_at,
            local,
            message,
            rate_limit,
        } => {
            let _ = (reset_at, local, message, rate_limit);
            None
        }
        _ => error.status(),
    }
}

/// Every other error variant, with its fields.
fn more_errors(error: &Error) -> Option<String> {
    match error {
        Error::InvalidInput { message } => Some(message.clone()),
        Error::Api { status, details } => {
            let ApiErrorDetails {
                code,
                message,
                errors,
                rate_limit,
                ..
            } = details.as_ref();
            let entries: &Vec<ApiErrorEntry> = errors;
            let _ = (
                status,
                code,
                message,
                rate_limit,
                entries.first().map(|e| &e.code),
            );
            None
        }
        Error::Transport {
            message,
            before_sending,
            source,
        } => {
            let _ = (before_sending, source);
            Some(message.clone())
        }
        Error::Decode {
            status,
            reason,
            excerpt,
        } => {
            let _ = (status, excerpt);
            Some(reason.clone())
        }
        Error::PaginationLoop { token } => Some(token.clone()),
        _ => {
            let _ = (
                error.is_retryable(),
                error.is_rate_limited(),
                error.is_auth(),
                error.rate_limit(),
            );
            None
        }
    }
}

/// Ids read from a response go into the next call as they are; integer
/// literals keep compiling; ids are `Copy`, print as bare digits.
async fn ids_round_trip(client: &Client, chat: &Chat, message: &ChatMessage) -> Result<(), Error> {
    let handle = client.chat(42, chat.chat_id);
    let _ = client.chat(42u64, 10_668);
    let _ = client.chat(BusinessId::from(42), ChatId::from(10_668));
    let _: ChatMessage = handle.message(message.message_id).await?;
    let _: ChatMessage = handle.message(700_520).await?;
    let _ = handle.history().message_id_from(message.message_id);
    let _ = handle.history().message_id_from(1);
    let (id, again): (ChatId, ChatId) = (chat.chat_id, chat.chat_id);
    let _: (u64, String) = (id.get(), again.to_string());
    let _: (u64, u64) = (handle.id(), handle.business_id());
    if let Some(order_id) = chat.context.order_id {
        let _: ChatHandle = client.create_chat(42, ChatTarget::Order(order_id)).await?;
        let _ = client.chats(42).contexts([ChatTarget::Order(order_id)]);
    }
    let _: Option<(ReturnId, CampaignId)> = chat.context.return_id.zip(chat.context.campaign_id);
    let _ = client.create_chat(42, ChatTarget::Return(7.into())).await?;
    let _: MessageId = message.message_id;
    // The API's own context type still works wherever a target goes.
    let context = ChatContext {
        type_: ChatContextIdentifiableType::Order,
        id: 1.into(),
    };
    let _ = client.chats(42).contexts([context.clone()]);
    let _ = client.create_chat(42, context).await?;
    #[allow(deprecated)]
    let _ = client
        .chats(42)
        .order_ids([1, 2])
        .order_ids([OrderId::from(3)]);
    Ok(())
}

#[test]
fn the_public_surface_compiles() {
    // Nothing to run: the file building is the test.
    let _ = (traits as fn(), builder as fn() -> Result<Client, Error>);
    let _ = redis_surface as fn(&str) -> Result<Client, Error>;
}

/// The follower's surface: `client.follow(..)` -> `FollowQuery` ->
/// `FollowStream` (`Send + Unpin + 'static`) of `ChatEvent`s.
async fn follow_surface(client: &Client) -> Result<(), Error> {
    use futures::TryStreamExt;
    use yandex_market_chats::follow::{
        ChatEvent, Checkpoint, FileCheckpoint, FollowHints, FollowQuery, FollowStream,
        MemoryCheckpoint,
    };

    send_unpin_static::<FollowStream>();
    clone::<FollowHints>();
    let hints = FollowHints::new();
    let query: FollowQuery = client
        .follow(42)
        .checkpoint(FileCheckpoint::new("chats.state"))
        .poll_interval(Duration::from_secs(30))
        .statuses([yandex_market_chats::ChatStatus::New])
        .types([yandex_market_chats::ChatType::Chat])
        .context_types([yandex_market_chats::ChatContextType::Order])
        .from_beginning()
        .own_messages(false)
        .quota_share(0.5)
        .hints(hints.clone());
    let _ = client.follow(42).checkpoint(MemoryCheckpoint::new());
    let mut events: FollowStream = query.stream();
    while let Some(event) = events.try_next().await? {
        let _: String = event.dedup_key();
        let _: ChatId = event.chat_id();
        match event {
            ChatEvent::Message {
                chat_id, message, ..
            } => {
                let _: (ChatId, MessageId, Option<String>) =
                    (chat_id, message.message_id, message.message);
            }
            ChatEvent::NewChat { chat, .. } => {
                let _: Chat = chat;
            }
            ChatEvent::StatusChanged { chat, previous, .. } => {
                let _: (Chat, yandex_market_chats::ChatStatus) = (chat, previous);
            }
            ChatEvent::ChatGone { chat_id, .. } => {
                hints.chat(chat_id);
            }
            _ => {}
        }
    }
    fn checkpoint<C: Checkpoint>(_: C) {}
    checkpoint(FileCheckpoint::new(std::path::PathBuf::from("x")));
    Ok(())
}

/// The variants the follower and the shared limiter added.
fn newer_errors(error: &Error) -> Option<&str> {
    match error {
        Error::Checkpoint { message } | Error::LimiterUnavailable { message } => Some(message),
        _ => None,
    }
}

/// The shared limiter's surface (feature `redis`): no redis type in it.
fn redis_surface(key: &str) -> Result<Client, Error> {
    use yandex_market_chats::redis::{OnUnreachable, RedisLimiter};

    send_sync_static::<RedisLimiter>();
    clone::<RedisLimiter>();
    let limiter: RedisLimiter = RedisLimiter::new("redis://127.0.0.1:6379/0")?
        .key_prefix("app")
        .lease(Duration::from_secs(20))
        .unreachable_after(Duration::from_millis(300))
        .on_unreachable(OnUnreachable::FailOpen);
    let client = Client::builder().api_key(key).limiter(limiter).build()?;
    Ok(client)
}

/// The notification router's surface (feature `axum`).
fn axum_surface(hints: yandex_market_chats::follow::FollowHints) -> Result<axum::Router, Error> {
    use yandex_market_chats::notifications::axum::NotificationEndpoint;

    Ok(NotificationEndpoint::new("name", "1.0")?
        .hints(hints)
        .secret_path("secret")
        .max_body_bytes(65_536)
        .on_notification(|_| {})
        .router())
}

/// Typed mocks written as a newcomer writes them: the bodies and the error
/// body from the SDK's root (never `yandex_market_chats_api`, never
/// `serde_json::from_value(json!(..))`), ids as the SDK takes them (literals,
/// ids from a response, no `&..into()`), and Market's 420s by name.
fn typed_mocks_surface(server: &MockServer, chat: &Chat, message: &ChatMessage) {
    use yandex_market_chats::{
        ApiErrorEntry, ApiErrorResponse, ApiResponseStatusType, ChatsResult, CreateChatRequest,
        CreateChatResponse, CreateChatResult, EmptyApiResponse, GetChatHistoryRequest,
        GetChatHistoryResponse, GetChatMessageResponse, GetChatResponse, GetChatsRequest,
        GetChatsResponse, Paging, SendMessageToChatRequest,
    };
    use yandex_market_chats_httpmock::{MockServerExt, rate_limit};

    server.get_chats(|when, then| {
        when.business_id(42);
        then.ok(&GetChatsResponse {
            status: ApiResponseStatusType::Ok,
            result: Some(ChatsResult {
                chats: vec![chat.clone()],
                paging: Some(Paging {
                    next_page_token: Some("next".into()),
                }),
            }),
        });
    });
    server.get_chats(|when, then| {
        when.business_id(BusinessId::from(42))
            .page_token("next")
            .body(&GetChatsRequest::default());
        then.quota_spent(Duration::from_secs(600));
    });
    server.get_chat(|when, then| {
        when.business_id(42u64).chat_id(chat.chat_id);
        then.parallel_limit();
    });
    server.get_chat(|when, then| {
        when.business_id(42).chat_id(10_668);
        then.ok(&GetChatResponse {
            status: ApiResponseStatusType::Ok,
            result: Some(chat.clone()),
        });
    });
    server.get_chat_history(|when, then| {
        when.business_id(42)
            .chat_id(10_668)
            .body(&GetChatHistoryRequest {
                message_id_from: Some(700.into()),
            });
        then.ok(&GetChatHistoryResponse {
            status: ApiResponseStatusType::Ok,
            result: None,
        });
    });
    server.get_chat_message(|when, then| {
        when.business_id(42)
            .chat_id(12)
            .message_id(message.message_id);
        then.ok(&GetChatMessageResponse {
            status: ApiResponseStatusType::Ok,
            result: Some(message.clone()),
        });
    });
    server.get_chat_message(|when, then| {
        when.business_id(42).chat_id(12).message_id(700);
        then.not_found(&ApiErrorResponse {
            status: Some(ApiResponseStatusType::Error),
            errors: Some(vec![ApiErrorEntry {
                code: "NOT_FOUND".into(),
                message: Some("message 700 not found".into()),
            }]),
            ..Default::default()
        });
    });
    server.create_chat(|when, then| {
        when.business_id(42).body(&CreateChatRequest::default());
        then.ok(&CreateChatResponse {
            status: ApiResponseStatusType::Ok,
            result: Some(CreateChatResult {
                chat_id: 10_668.into(),
            }),
        });
    });
    server.send_message_to_chat(|when, then| {
        when.business_id(42)
            .chat_id(12)
            .body(&SendMessageToChatRequest {
                message: "Hello!".try_into().unwrap(),
            });
        then.ok(&EmptyApiResponse {
            status: ApiResponseStatusType::Ok,
        });
    });
    // A plain mock (sendFileToChat has no typed one) gets the same 420s.
    server.mock(|when, then| {
        when.path("/v2/businesses/42/chats/file/send");
        rate_limit::quota_spent(then, 1_000, Duration::from_secs(600));
    });
    server.mock(|_, then| {
        rate_limit::parallel_limit(then, 1_000);
    });
}

// --- Issue 21, items 4, 5, 7 and 8: ids from a database, literal page
// sizes, the wire types' builders, ids and text, the environment. ---

/// Ids from a database's `i64` (Postgres `BIGINT`): `TryFrom<i64>`, whose
/// error `?` turns into the SDK's `Error` (or any boxed error); literals
/// still infer (`From<u64>` is the only `From`); an id compares with an
/// integer as it is.
async fn ids_from_a_database(
    client: &Client,
    chat: &Chat,
    row_id: i64,
) -> Result<BusinessId, Error> {
    use yandex_market_chats::{ContextId, NegativeIdError};

    let business = BusinessId::try_from(row_id)?;
    let _: Result<ChatId, NegativeIdError> = ChatId::try_from(row_id);
    if let Err(error) = MessageId::try_from(row_id) {
        let _: (&'static str, i64, String) = (error.id_type(), error.value(), error.to_string());
    }
    let boxed = || -> Result<OrderId, Box<dyn std::error::Error + Send + Sync>> {
        Ok(OrderId::try_from(row_id)?)
    };
    let _ = boxed();
    let _ = (
        ReturnId::try_from(row_id),
        CampaignId::try_from(row_id),
        ContextId::try_from(row_id),
    );
    let _: ChatHandle = client.chat(business, ChatId::try_from(row_id)?);
    let _: ChatHandle = client.chat(42, 10668);
    let _ = client.chats(BusinessId::try_from(row_id)?);

    let _: bool = chat.chat_id == 10668u64;
    let _: bool = chat.chat_id == 10668;
    let _: bool = 10668 == chat.chat_id;
    let _: bool = chat.chat_id != 1 && chat.chat_id < 20_000 && 1 <= chat.chat_id;
    let _: bool = business == 42;
    let _: bool = chat.context.order_id.is_some_and(|id| id == 51_234_567);
    Ok(business)
}

/// Page sizes as literals, as before as checked values; an out-of-range
/// literal compiles and is refused when the query runs.
fn literal_page_sizes(client: &Client) -> Result<(), Error> {
    use yandex_market_chats::{HistoryPageSize, PageSize};

    let _ = client.chats(42).page_size(20);
    let _ = client.chats(42).page_size(PageSize::new(20)?);
    let _ = client.chats(42).page_size(PageSize::MAX);
    let n: u32 = 5;
    let _ = client.chats(42).page_size(n);
    let _ = client.chats(42).page_size(21); // refused when it runs
    let chat = client.chat(42, 10668);
    let _ = chat.history().page_size(100);
    let _ = chat.history().page_size(HistoryPageSize::new(50)?);
    let _ = chat.history().page_size(HistoryPageSize::MAX);
    Ok(())
}

/// The wire types: `Chat::builder()` returns a type the SDK names
/// (`builder::Chat`), a message's text, the context's id type.
fn wire_types(
    message: &ChatMessage,
    context: &ChatContext,
) -> Result<Chat, Box<dyn std::error::Error>> {
    use yandex_market_chats::{
        ChatContextType, ChatFullContext, ChatStatus, ChatType, ContextId, builder,
    };

    let _: &str = message.text();
    let id: ContextId = context.id;
    let _: (u64, bool) = (id.get(), id == 7);
    let _ = ChatTarget::from(ChatContext {
        type_: ChatContextIdentifiableType::Return,
        id: 7.into(),
    });
    let context: builder::ChatFullContext = ChatFullContext::builder()
        .type_(ChatContextType::Order)
        .order_id(OrderId::from(51_234_567));
    let started: builder::Chat = Chat::builder();
    let at =
        yandex_market_chats::chrono::DateTime::parse_from_rfc3339("2025-03-01T09:00:00+03:00")?;
    let chat: Chat = started
        .chat_id(10668)
        .context(context)
        .type_(ChatType::Chat)
        .status(ChatStatus::New)
        .created_at(at)
        .updated_at(at)
        .try_into()?;
    let _ = builder::Chat::from(chat.clone());
    Ok(chat)
}

/// The environment: `ClientBuilder::from_env()` returns a builder to add
/// settings to; `Client::from_env()` stays.
fn from_the_environment() -> Result<Client, Error> {
    let _: Result<Client, Error> = Client::from_env();
    let builder: ClientBuilder = ClientBuilder::from_env()?;
    builder
        .user_agent("help-desk-bridge/2.1")
        .total_timeout(Duration::from_secs(30))
        .build()
}

#[test]
fn the_issue_21_surface_compiles() {
    let _ = (
        literal_page_sizes as fn(&Client) -> Result<(), Error>,
        from_the_environment as fn() -> Result<Client, Error>,
        wire_types as fn(&ChatMessage, &ChatContext) -> Result<Chat, Box<dyn std::error::Error>>,
    );
}
