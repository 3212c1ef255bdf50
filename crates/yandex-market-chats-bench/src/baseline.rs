//! The floor: reqwest plus serde_json decoding the same fields into plain
//! structs, written by hand, with no retries, limits or tracing.

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

#[derive(Deserialize)]
struct Response {
    result: Result_,
}

#[derive(Deserialize)]
struct Result_ {
    chats: Vec<Chat>,
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)] // decoded to be measured, not read
pub struct Chat {
    #[serde(rename = "chatId")]
    pub chat_id: u64,
    #[serde(rename = "orderId")]
    order_id: Option<u64>,
    context: Context,
    #[serde(rename = "type")]
    kind: String,
    status: String,
    #[serde(rename = "createdAt")]
    created_at: DateTime<FixedOffset>,
    #[serde(rename = "updatedAt")]
    updated_at: DateTime<FixedOffset>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Context {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "orderId")]
    order_id: Option<u64>,
    #[serde(rename = "returnId")]
    return_id: Option<u64>,
    #[serde(rename = "campaignId")]
    campaign_id: Option<u64>,
    customer: Option<Customer>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Customer {
    name: Option<String>,
    #[serde(rename = "publicId")]
    public_id: Option<String>,
}

/// Streams every chat, calling `each` for each; returns how many.
pub async fn list(http: &reqwest::Client, base_url: &str, mut each: impl FnMut(&Chat)) -> usize {
    let url = format!("{base_url}/v2/businesses/1/chats");
    let mut token: Option<String> = None;
    let mut count = 0;
    loop {
        let mut request = http
            .post(&url)
            .header("Api-Key", "bench-key")
            .query(&[("limit", "20")]);
        if let Some(token) = &token {
            request = request.query(&[("pageToken", token)]);
        }
        let bytes = request
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("send")
            .bytes()
            .await
            .expect("body");
        let page: Response = serde_json::from_slice(&bytes).expect("a page");
        for chat in &page.result.chats {
            each(chat);
        }
        count += page.result.chats.len();
        token = page
            .result
            .paging
            .and_then(|p| p.next_page_token)
            .filter(|t| !t.is_empty());
        if token.is_none() {
            return count;
        }
    }
}
