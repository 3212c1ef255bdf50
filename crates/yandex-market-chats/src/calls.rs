//! The operations: how each one builds and sends its request and what of
//! its answer the caller gets. Everything they share (limits, retries,
//! timeouts) is in `transport.rs`; what outcomes mean, in `classify.rs`.

use std::future::Future;

use reqwest::header::{ACCEPT, HeaderValue};
use yandex_market_chats_api as api;
use yandex_market_chats_api::types::{
    ChatHistoryResult, ChatsResult, CreateChatRequest, CreateChatResponse, CreateChatResult,
    EmptyApiResponse, GetChatHistoryRequest, GetChatHistoryResponse, GetChatMessageResponse,
    GetChatResponse, GetChatsRequest, GetChatsResponse, SendMessageToChatRequest,
};
use yandex_market_chats_api::{ClientInfo, ResponseValue};

use crate::classify::CallResult;
use crate::transport::Call;
use crate::{
    BusinessId, Chat, ChatId, ChatMessage, HistoryPageSize, MessageId, Operation, PageSize,
};

/// A getChats request without its page token; checked, immutable.
#[derive(Debug)]
pub(crate) struct ChatsRequest {
    pub business_id: BusinessId,
    pub page_size: PageSize,
    pub body: GetChatsRequest,
}

pub(crate) struct GetChats<'r> {
    pub request: &'r ChatsRequest,
    pub token: Option<&'r str>,
}

impl Call for GetChats<'_> {
    type Output = GetChatsResponse;
    type Result = ChatsResult;
    const OPERATION: Operation = Operation::GetChats;
    fn result(body: &mut GetChatsResponse) -> Option<ChatsResult> {
        body.result.take()
    }
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: BusinessId,
    ) -> impl Future<Output = CallResult<Self::Output>> + Send + 'a {
        let mut call = api
            .get_chats()
            .business_id(business_id)
            .limit(self.request.page_size.get())
            .body(self.request.body.clone());
        if let Some(token) = self.token {
            call = call.page_token(token.to_owned());
        }
        call.send()
    }
}

pub(crate) struct GetChat {
    pub chat_id: ChatId,
}

impl Call for GetChat {
    type Output = GetChatResponse;
    type Result = Chat;
    const OPERATION: Operation = Operation::GetChat;
    fn result(body: &mut GetChatResponse) -> Option<Chat> {
        body.result.take()
    }
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: BusinessId,
    ) -> impl Future<Output = CallResult<Self::Output>> + Send + 'a {
        api.get_chat()
            .business_id(business_id)
            .chat_id(self.chat_id)
            .send()
    }
}

/// A getChatHistory request without its page token; checked, immutable.
#[derive(Debug)]
pub(crate) struct HistoryRequest {
    pub business_id: BusinessId,
    pub chat_id: ChatId,
    pub page_size: HistoryPageSize,
    pub body: GetChatHistoryRequest,
}

pub(crate) struct GetChatHistory<'r> {
    pub request: &'r HistoryRequest,
    pub token: Option<&'r str>,
}

impl Call for GetChatHistory<'_> {
    type Output = GetChatHistoryResponse;
    type Result = ChatHistoryResult;
    const OPERATION: Operation = Operation::GetChatHistory;
    fn result(body: &mut GetChatHistoryResponse) -> Option<ChatHistoryResult> {
        body.result.take()
    }
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: BusinessId,
    ) -> impl Future<Output = CallResult<Self::Output>> + Send + 'a {
        let mut call = api
            .get_chat_history()
            .business_id(business_id)
            .chat_id(self.request.chat_id)
            .limit(self.request.page_size.get())
            .body(self.request.body.clone());
        if let Some(token) = self.token {
            call = call.page_token(token.to_owned());
        }
        call.send()
    }
}

pub(crate) struct GetChatMessage {
    pub chat_id: ChatId,
    pub message_id: MessageId,
}

impl Call for GetChatMessage {
    type Output = GetChatMessageResponse;
    type Result = ChatMessage;
    const OPERATION: Operation = Operation::GetChatMessage;
    fn result(body: &mut GetChatMessageResponse) -> Option<ChatMessage> {
        body.result.take()
    }
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: BusinessId,
    ) -> impl Future<Output = CallResult<Self::Output>> + Send + 'a {
        api.get_chat_message()
            .business_id(business_id)
            .chat_id(self.chat_id)
            .message_id(self.message_id)
            .send()
    }
}

pub(crate) struct SendMessage {
    pub chat_id: ChatId,
    pub body: SendMessageToChatRequest,
}

impl Call for SendMessage {
    type Output = EmptyApiResponse;
    type Result = ();
    const OPERATION: Operation = Operation::SendMessageToChat;
    fn result(_: &mut EmptyApiResponse) -> Option<()> {
        Some(())
    }
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: BusinessId,
    ) -> impl Future<Output = CallResult<Self::Output>> + Send + 'a {
        api.send_message_to_chat()
            .business_id(business_id)
            .chat_id(self.chat_id)
            .body(self.body.clone())
            .send()
    }
}

pub(crate) struct CreateChat {
    pub body: CreateChatRequest,
}

impl Call for CreateChat {
    type Output = CreateChatResponse;
    type Result = CreateChatResult;
    const OPERATION: Operation = Operation::CreateChat;
    fn result(body: &mut CreateChatResponse) -> Option<CreateChatResult> {
        body.result.take()
    }
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: BusinessId,
    ) -> impl Future<Output = CallResult<Self::Output>> + Send + 'a {
        api.create_chat()
            .business_id(business_id)
            .body(self.body.clone())
            .send()
    }
}

/// sendFileToChat, written by hand: progenitor cannot generate multipart
/// bodies (the codegen crate leaves the operation out). It goes through the
/// same request context and decodes with the generated types, answering
/// exactly as a generated call would.
pub(crate) struct SendFile {
    pub chat_id: ChatId,
    pub name: String,
    pub bytes: bytes::Bytes,
}

impl Call for SendFile {
    type Output = EmptyApiResponse;
    type Result = ();
    const OPERATION: Operation = Operation::SendFileToChat;
    fn result(_: &mut EmptyApiResponse) -> Option<()> {
        Some(())
    }
    async fn send(&self, api: &api::Client, business_id: BusinessId) -> CallResult<Self::Output> {
        {
            let body = reqwest::Body::from(self.bytes.clone());
            let part = reqwest::multipart::Part::stream_with_length(body, self.bytes.len() as u64)
                .file_name(self.name.clone())
                .mime_str(mime_type(&self.name))
                .map_err(|e| api::Error::InvalidRequest(e.to_string()))?;
            let form = reqwest::multipart::Form::new().part("file", part);
            let url = format!(
                "{}/v2/businesses/{business_id}/chats/file/send",
                api.baseurl()
            );
            let mut request = api
                .client()
                .post(url)
                .query(&[("chatId", self.chat_id)])
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .multipart(form)
                .build()
                .map_err(|e| api::Error::InvalidRequest(e.to_string()))?;
            api.inner().before_send(&mut request);
            let result = api.client().execute(request).await;
            api.inner().after_send(&result);
            let response = result.map_err(api::Error::CommunicationError)?;
            match response.status().as_u16() {
                200 => ResponseValue::from_response(response).await,
                400 | 401 | 403 | 404 | 420 | 500 => Err(api::Error::ErrorResponse(
                    ResponseValue::from_response(response).await?,
                )),
                _ => Err(api::Error::UnexpectedResponse(response)),
            }
        }
    }
}

/// The content type of a file, from its extension; the common kinds a chat
/// carries, else `application/octet-stream`.
fn mime_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}
