//! A fast loopback HTTP/1.1 server for the benchmark: keep-alive, and every
//! page serialized once, before timing starts, so the server costs almost
//! nothing per request.

use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const PAGE: usize = 20;

/// Messages per history page (the API's largest page).
pub const HISTORY_PAGE: usize = 100;

/// Builds `chats` chats in pages of 20 and `messages` messages in pages of
/// 100, and serves them (history for any chat); returns the base URL.
pub async fn start(chats: usize, messages: usize) -> String {
    let pages = Arc::new(Pages {
        chats: build_pages(chats),
        history: build_history(messages),
    });
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = socket.set_nodelay(true);
            tokio::spawn(serve(socket, Arc::clone(&pages)));
        }
    });
    format!("http://{address}")
}

struct Pages {
    chats: Vec<Vec<u8>>,
    history: Vec<Vec<u8>>,
}

fn build_history(messages: usize) -> Vec<Vec<u8>> {
    let count = messages.div_ceil(HISTORY_PAGE).max(1);
    (0..count)
        .map(|page| {
            let first = page * HISTORY_PAGE;
            let items: Vec<_> = (first..(first + HISTORY_PAGE).min(messages))
                .map(|i| {
                    json!({
                        "messageId": i as u64 + 1,
                        "createdAt": "2025-03-01T09:00:00+03:00",
                        "sender": if i % 2 == 0 { "CUSTOMER" } else { "PARTNER" },
                        "message": "Hello! When will my order arrive?"
                    })
                })
                .collect();
            let mut result =
                json!({ "context": {"type": "ORDER", "orderId": 70_000_001}, "messages": items });
            if page + 1 < count {
                result["paging"] = json!({ "nextPageToken": format!("t{}", page + 1) });
            }
            http_response(&json!({ "status": "OK", "result": result }))
        })
        .collect()
}

fn http_response(body: &serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(body).expect("JSON");
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
         x-ratelimit-resource-limit: 1000000\r\nx-ratelimit-resource-remaining: 999999\r\n\
         x-ratelimit-resource-until: Thu, 10 Jul 2099 00:42:42 GMT\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

fn build_pages(chats: usize) -> Vec<Vec<u8>> {
    let count = chats.div_ceil(PAGE).max(1);
    (0..count)
        .map(|page| {
            let first = page * PAGE;
            let items: Vec<_> = (first..(first + PAGE).min(chats))
                .map(|i| {
                    let id = i as u64 + 1;
                    json!({
                        "chatId": id,
                        "orderId": 70_000_000 + id,
                        "context": {
                            "type": "ORDER",
                            "orderId": 70_000_000 + id,
                            "campaignId": 21_000_000,
                            "customer": {"name": "Ivan", "publicId": "user-1a2b3c"}
                        },
                        "type": "CHAT",
                        "status": "WAITING_FOR_PARTNER",
                        "createdAt": "2025-03-01T09:00:00+03:00",
                        "updatedAt": "2025-03-02T10:30:00+03:00"
                    })
                })
                .collect();
            let mut result = json!({ "chats": items });
            if page + 1 < count {
                result["paging"] = json!({ "nextPageToken": format!("t{}", page + 1) });
            }
            http_response(&json!({ "status": "OK", "result": result }))
        })
        .collect()
}

async fn serve(mut socket: TcpStream, pages: Arc<Pages>) {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        // Read one request: head, then `content-length` bytes of body.
        let (head_end, length) = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buffer[..end]).unwrap_or("");
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0usize);
                break (end + 4, length);
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        while buffer.len() < head_end + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let head = std::str::from_utf8(&buffer[..head_end]).unwrap_or("");
        let pages = if head.contains("/chats/history") {
            &pages.history
        } else {
            &pages.chats
        };
        let page = Some(head)
            .and_then(|head| head.split_once("pageToken=t"))
            .and_then(|(_, rest)| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(0);
        buffer.drain(..head_end + length);
        let response = &pages[page.min(pages.len() - 1)];
        if socket.write_all(response).await.is_err() {
            return;
        }
    }
}
