//! The examples as processes: default runs against the sandbox, `--json`,
//! and clean usage errors. (cargo builds a package's examples before running
//! its tests, so the binaries are next to this test's.)

use std::path::PathBuf;
use std::process::{Command, Output};

fn example() -> PathBuf {
    example_named("list_chats")
}

fn example_named(name: &str) -> PathBuf {
    let mut path = std::env::current_exe().expect("the test binary has a path");
    path.pop(); // deps/
    path.pop(); // debug/ (or the profile's folder)
    path.push("examples");
    path.push(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} is not built", path.display());
    path
}

fn run(args: &[&str]) -> Output {
    run_named("list_chats", args)
}

fn run_named(name: &str, args: &[&str]) -> Output {
    Command::new(example_named(name))
        .args(args)
        .env_remove("YANDEX_MARKET_API_KEY")
        .env_remove("YANDEX_MARKET_OAUTH_TOKEN")
        .env_remove("YANDEX_MARKET_BUSINESS_ID")
        .env_remove("YANDEX_MARKET_BASE_URL")
        .output()
        .expect("the example runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn default_run_lists_the_sandbox_as_a_table() {
    let output = run(&[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.lines().next().unwrap().contains("sandbox"),
        "{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("CHAT_ID"), "{stdout}");
    assert_eq!(lines.len(), 1 + 95, "a header and the sandbox's 95 chats");
    // Aligned: every row has its STATUS column at the same place.
    let column = lines[0].find("STATUS").unwrap();
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.as_bytes()[column - 1] == b' ' && l.as_bytes()[column] != b' ')
    );
    assert!(
        stderr.contains("page 2"),
        "progress for a listing of several pages: {stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn json_prints_one_api_shaped_object_per_chat() {
    let output = run(&[
        "--json",
        "--status",
        "NEW",
        "--status",
        "FINISHED",
        "--page-size",
        "3",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let chats: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert!(!chats.is_empty());
    for chat in &chats {
        assert!(chat["chatId"].as_u64().is_some(), "{chat}");
        assert!(chat["createdAt"].as_str().is_some(), "{chat}");
        assert!(
            matches!(chat["status"].as_str(), Some("NEW" | "FINISHED")),
            "{chat}"
        );
    }
}

#[test]
fn max_pages_and_type_filters_apply() {
    let output = run(&[
        "--json",
        "--max-pages",
        "1",
        "--page-size",
        "5",
        "--type",
        "ARBITRAGE",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines: Vec<String> = text(&output.stdout).lines().map(str::to_owned).collect();
    assert!(!lines.is_empty() && lines.len() <= 5);
    assert!(lines.iter().all(|l| l.contains("\"type\":\"ARBITRAGE\"")));
}

#[test]
fn usage_errors_exit_2_with_one_clear_line() {
    for (args, expect) in [
        (&["--page-size", "21"][..], "between 1 and 20"),
        (&["--status", "FOO"][..], "valid values: NEW"),
        (&["--type", "CHATS"][..], "CHAT, ARBITRAGE"),
        (&["--bogus"][..], "unknown argument"),
        (&["--business-id"][..], "needs a value"),
    ] {
        let output = run(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_key_without_a_business_id_is_a_usage_error_and_never_printed() {
    let output = Command::new(example())
        .env("YANDEX_MARKET_API_KEY", "very-secret-key-42")
        .env_remove("YANDEX_MARKET_OAUTH_TOKEN")
        .env_remove("YANDEX_MARKET_BUSINESS_ID")
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("YANDEX_MARKET_BUSINESS_ID"));
    assert!(!stderr.contains("very-secret-key-42"));
}

/// A port nothing listens on: bound, then closed (never a fixed port).
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// A one-thread HTTP server answering every request with one page of chat
/// 77; returns its URL and the request heads it saw.
fn page_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&heads);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stream.read(&mut chunk) {
                request.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if n == 0 || request.len() >= end + 4 + length {
                        seen.lock().unwrap().push(text);
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let body = r#"{"status":"OK","result":{"chats":[{"chatId":77,"context":{"type":"ORDER","orderId":1077},"type":"CHAT","status":"NEW","createdAt":"2025-01-01T10:00:00+03:00","updatedAt":"2025-01-02T10:00:00+03:00"}]}}"#;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (url, heads)
}

#[test]
fn a_real_run_error_exits_1_without_the_key() {
    // A key and a business, but nothing listens on the URL.
    let output = Command::new(example())
        .env("YANDEX_MARKET_API_KEY", "very-secret-key-42")
        .env_remove("YANDEX_MARKET_OAUTH_TOKEN")
        .env("YANDEX_MARKET_BUSINESS_ID", "5")
        .env("YANDEX_MARKET_BASE_URL", closed_port_url())
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("very-secret-key-42"));
    assert!(!stderr.contains("panicked"));
}

#[test]
fn from_env_sends_to_yandex_market_base_url_with_the_key() {
    let (url, heads) = page_server();
    let output = Command::new(example())
        .args(["--json"])
        .env("YANDEX_MARKET_API_KEY", "env-key-123")
        .env_remove("YANDEX_MARKET_OAUTH_TOKEN")
        .env("YANDEX_MARKET_BUSINESS_ID", "5")
        .env("YANDEX_MARKET_BASE_URL", &url)
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    let heads = heads.lock().unwrap();
    assert_eq!(
        heads.len(),
        1,
        "the request reached the URL from the environment"
    );
    assert!(
        heads[0].starts_with("POST /v2/businesses/5/chats"),
        "{}",
        heads[0]
    );
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("api-key: env-key-123"),
        "{}",
        heads[0]
    );
    let chat: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(chat["chatId"], 77);
}

#[test]
fn from_env_sends_the_oauth_token_and_refuses_two_credentials() {
    let (url, heads) = page_server();
    let output = Command::new(example())
        .args(["--json"])
        .env_remove("YANDEX_MARKET_API_KEY")
        .env("YANDEX_MARKET_OAUTH_TOKEN", "env-token-456")
        .env("YANDEX_MARKET_BUSINESS_ID", "5")
        .env("YANDEX_MARKET_BASE_URL", &url)
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let seen = heads.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "the token alone means the API: {stderr}");
    assert!(
        seen[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer env-token-456"),
        "{}",
        seen[0]
    );

    let output = Command::new(example())
        .env("YANDEX_MARKET_API_KEY", "very-secret-key-42")
        .env("YANDEX_MARKET_OAUTH_TOKEN", "very-secret-token-42")
        .env("YANDEX_MARKET_BUSINESS_ID", "5")
        .env("YANDEX_MARKET_BASE_URL", &url)
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("YANDEX_MARKET_API_KEY") && stderr.contains("YANDEX_MARKET_OAUTH_TOKEN"),
        "{stderr}"
    );
    assert!(!stderr.contains("very-secret"), "{stderr}");
    assert_eq!(
        heads.lock().unwrap().len(),
        1,
        "nothing sent with two credentials"
    );
}

#[test]
fn chat_history_prints_a_sandbox_chat_and_json_lines() {
    let output = run_named("chat_history", &[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("sandbox"), "{stderr}");
    assert!(!stdout.is_empty());
    let output = run_named("chat_history", &["--json", "--page-size", "1"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    // One JSON object per message, one page of one message at a time.
    assert!(stdout.lines().count() >= 2, "{stdout}");
    for line in stdout.lines() {
        let message: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(message["messageId"].as_u64().is_some(), "{message}");
        assert!(message["sender"].as_str().is_some(), "{message}");
    }
    let output = run_named("chat_history", &["--page-size", "101"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
}

#[test]
fn reply_sends_to_a_sandbox_chat_and_refuses_bad_input() {
    let output = run_named("reply", &["--text", "Hello from the test"]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("Hello from the test"), "{stdout}");
    assert!(stdout.contains("PARTNER"), "{stdout}");

    let too_long = "x".repeat(4097);
    for args in [
        &["--text", ""][..],
        &["--text", too_long.as_str()][..],
        &[][..],
        &["--text", "a", "--file", "b"][..],
    ] {
        let output = run_named("reply", args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{:?}: {}",
            args.len(),
            text(&output.stderr)
        );
    }
}

/// `... | head -1`: the reader closes the pipe after one line; every
/// example then ends quietly with status 0.
#[test]
fn every_example_ends_quietly_when_its_output_is_closed_early() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    for (name, args) in [
        ("list_chats", &[][..]),
        ("chat_history", &[][..]),
        ("follow_chats", &["--from-beginning", "--for", "30"][..]),
    ] {
        let mut child = Command::new(example_named(name))
            .args(args)
            .env_remove("YANDEX_MARKET_API_KEY")
            .env_remove("YANDEX_MARKET_OAUTH_TOKEN")
            .env_remove("YANDEX_MARKET_BUSINESS_ID")
            .env_remove("YANDEX_MARKET_BASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example runs");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{name} printed nothing");
        // The reader is gone: the pipe is closed.
        let output = child.wait_with_output().unwrap();
        let stderr = text(&output.stderr);
        assert!(
            output.status.success(),
            "{name}: {:?} {stderr}",
            output.status
        );
        assert!(!stderr.contains("Broken pipe"), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn follow_chats_prints_events_as_buyers_write() {
    let output = run_named("follow_chats", &["--for", "4", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let events: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    let messages: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "message").collect();
    assert!(
        !messages.is_empty(),
        "the sandbox's buyers wrote: {events:?}"
    );
    for message in messages {
        assert_eq!(message["message"]["sender"], "CUSTOMER");
        assert!(
            message["dedupKey"]
                .as_str()
                .unwrap()
                .starts_with("message:")
        );
    }
    // The same exit codes as the other examples.
    let output = run_named("follow_chats", &["--for", "soon"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stderr).lines().count(), 1);
}
