//! The operations: how each one builds and sends its request. Everything
//! they share (limits, retries, timeouts, errors) is in `transport.rs`.

use std::num::NonZeroU64;

use reqwest::header::{ACCEPT, HeaderValue};
use yandex_market_chats_api as api;
use yandex_market_chats_api::types::{
    CreateChatRequest, CreateChatResponse, EmptyApiResponse, GetChatHistoryRequest,
    GetChatHistoryResponse, GetChatMessageResponse, GetChatResponse, GetChatsRequest,
    GetChatsResponse, SendMessageToChatRequest,
};
use yandex_market_chats_api::{ClientInfo, ResponseValue};

use crate::transport::{Call, CallFuture};
use crate::{HistoryPageSize, Operation, PageSize};

/// A getChats request without its page token; checked, immutable.
#[derive(Debug)]
pub(crate) struct ChatsRequest {
    pub business_id: NonZeroU64,
    pub page_size: PageSize,
    pub body: GetChatsRequest,
}

pub(crate) struct GetChats<'r> {
    pub request: &'r ChatsRequest,
    pub token: Option<&'r str>,
}

impl Call for GetChats<'_> {
    type Output = GetChatsResponse;
    const OPERATION: Operation = Operation::GetChats;
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: NonZeroU64,
    ) -> CallFuture<'a, Self::Output> {
        let mut call = api
            .get_chats()
            .business_id(business_id)
            .limit(self.request.page_size.get())
            .body(self.request.body.clone());
        if let Some(token) = self.token {
            call = call.page_token(token.to_owned());
        }
        Box::pin(call.send())
    }
}

pub(crate) struct GetChat {
    pub chat_id: NonZeroU64,
}

impl Call for GetChat {
    type Output = GetChatResponse;
    const OPERATION: Operation = Operation::GetChat;
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: NonZeroU64,
    ) -> CallFuture<'a, Self::Output> {
        Box::pin(
            api.get_chat()
                .business_id(business_id)
                .chat_id(self.chat_id)
                .send(),
        )
    }
}

/// A getChatHistory request without its page token; checked, immutable.
#[derive(Debug)]
pub(crate) struct HistoryRequest {
    pub business_id: NonZeroU64,
    pub chat_id: NonZeroU64,
    pub page_size: HistoryPageSize,
    pub body: GetChatHistoryRequest,
}

pub(crate) struct GetChatHistory<'r> {
    pub request: &'r HistoryRequest,
    pub token: Option<&'r str>,
}

impl Call for GetChatHistory<'_> {
    type Output = GetChatHistoryResponse;
    const OPERATION: Operation = Operation::GetChatHistory;
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: NonZeroU64,
    ) -> CallFuture<'a, Self::Output> {
        let mut call = api
            .get_chat_history()
            .business_id(business_id)
            .chat_id(self.request.chat_id)
            .limit(self.request.page_size.get())
            .body(self.request.body.clone());
        if let Some(token) = self.token {
            call = call.page_token(token.to_owned());
        }
        Box::pin(call.send())
    }
}

pub(crate) struct GetChatMessage {
    pub chat_id: NonZeroU64,
    pub message_id: NonZeroU64,
}

impl Call for GetChatMessage {
    type Output = GetChatMessageResponse;
    const OPERATION: Operation = Operation::GetChatMessage;
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: NonZeroU64,
    ) -> CallFuture<'a, Self::Output> {
        Box::pin(
            api.get_chat_message()
                .business_id(business_id)
                .chat_id(self.chat_id)
                .message_id(self.message_id)
                .send(),
        )
    }
}

pub(crate) struct SendMessage {
    pub chat_id: NonZeroU64,
    pub body: SendMessageToChatRequest,
}

impl Call for SendMessage {
    type Output = EmptyApiResponse;
    const OPERATION: Operation = Operation::SendMessageToChat;
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: NonZeroU64,
    ) -> CallFuture<'a, Self::Output> {
        Box::pin(
            api.send_message_to_chat()
                .business_id(business_id)
                .chat_id(self.chat_id)
                .body(self.body.clone())
                .send(),
        )
    }
}

pub(crate) struct CreateChat {
    pub body: CreateChatRequest,
}

impl Call for CreateChat {
    type Output = CreateChatResponse;
    const OPERATION: Operation = Operation::CreateChat;
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: NonZeroU64,
    ) -> CallFuture<'a, Self::Output> {
        Box::pin(
            api.create_chat()
                .business_id(business_id)
                .body(self.body.clone())
                .send(),
        )
    }
}

/// sendFileToChat, written by hand: progenitor cannot generate multipart
/// bodies (the codegen crate leaves the operation out). It goes through the
/// same request context and decodes with the generated types, answering
/// exactly as a generated call would.
pub(crate) struct SendFile {
    pub chat_id: NonZeroU64,
    pub name: String,
    pub bytes: bytes::Bytes,
}

impl Call for SendFile {
    type Output = EmptyApiResponse;
    const OPERATION: Operation = Operation::SendFileToChat;
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: NonZeroU64,
    ) -> CallFuture<'a, Self::Output> {
        Box::pin(async move {
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
                .query(&[("chatId", self.chat_id.get())])
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
        })
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
