//! The generator: same input, same bytes; a broken fragment is an error that
//! names the file and the problem, never a panic.

use std::path::{Path, PathBuf};

use yandex_market_chats_codegen::{
    Error, generate, generate_from_str, generate_httpmock, generate_httpmock_from_str,
};

fn fragment() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/chats.yaml")
}

#[test]
fn same_input_same_bytes() {
    let first = generate(fragment()).unwrap();
    let second = generate(fragment()).unwrap();
    assert!(first == second);
    assert!(first.starts_with("// @generated"));
    assert!(first.contains("pub enum ChatStatus "));
    assert!(first.contains("pub struct ChatId(u64)"));
    assert!(!first.contains("Dto"));
    assert!(!first.contains("\"api-version\""));
    assert!(first.contains("Unknown(::std::string::String)"));
    assert!(first.contains("::chrono::DateTime<::chrono::FixedOffset>"));
    assert!(!first.contains("DateTime<::chrono::offset::Utc>"));
    assert!(first.contains("schemars::JsonSchema"));
}

#[test]
fn a_missing_file_is_named() {
    let error = generate("openapi/does-not-exist.yaml").unwrap_err();
    assert!(matches!(error, Error::Read { .. }));
    assert!(
        error
            .to_string()
            .starts_with("openapi/does-not-exist.yaml: cannot read"),
        "{error}"
    );
}

#[test]
fn broken_yaml_names_the_file_and_the_place() {
    let error =
        generate_from_str("openapi/chats.yaml", "openapi: 3.0.3\ninfo: [unclosed\n").unwrap_err();
    assert!(matches!(error, Error::Parse { .. }));
    let text = error.to_string();
    assert!(
        text.starts_with("openapi/chats.yaml: not a valid OpenAPI 3.0 document"),
        "{text}"
    );
    assert!(text.contains("line"), "{text}");
}

#[test]
fn what_progenitor_refuses_is_an_error_not_a_panic() {
    let yaml = std::fs::read_to_string(fragment()).unwrap();
    let unsupported = yaml.replacen("openapi: 3.0.3", "openapi: 3.1.0", 1);
    let error = generate_from_str("openapi/chats.yaml", &unsupported).unwrap_err();
    assert!(
        error.to_string().starts_with("openapi/chats.yaml: "),
        "{error}"
    );

    let duplicate = yaml.replacen(
        "        - CHAT\n        - ARBITRAGE\n",
        "        - CHAT\n        - CHAT\n",
        1,
    );
    assert_ne!(duplicate, yaml);
    let error = generate_from_str("openapi/chats.yaml", &duplicate).unwrap_err();
    assert!(matches!(error, Error::Unsupported { .. }));
    assert!(error.to_string().contains("ChatType"), "{error}");
}

#[test]
fn mocks_same_input_same_bytes_every_operation_and_420_as_its_class() {
    let first = generate_httpmock(fragment()).unwrap();
    let second = generate_httpmock(fragment()).unwrap();
    assert!(first == second);
    assert!(first.starts_with("// @generated"));
    assert!(first.contains("pub trait MockServerExt"));
    for operation in [
        "get_chats",
        "create_chat",
        "get_chat",
        "get_chat_history",
        "get_chat_message",
        "send_message_to_chat",
    ] {
        assert!(
            first.contains(&format!("    fn {operation}<F>")),
            "{operation}"
        );
    }
    // Multipart is left out, and said so.
    assert!(!first.contains("fn send_file_to_chat"));
    assert!(first.contains("): sendFileToChat.\n"));
    // 420 has no reason phrase: its class's method, and the header says so.
    assert!(
        first.contains("pub fn client_error(self, status: u16, value: &types::ApiErrorResponse)")
    );
    assert!(first.contains("420 as 4XX"));
    assert!(first.contains("pub fn not_found(self, value: &types::ApiErrorResponse)"));
}

#[test]
fn mocks_take_the_client_s_settings() {
    // A query parameter of an open enum's type: the mock takes the type the
    // client's settings put in its place, not typify's strict enum, named
    // from the mock crate.
    let yaml = std::fs::read_to_string(fragment()).unwrap();
    let with_enum = yaml.replacen(
        "        - $ref: '#/components/parameters/PageToken'\n",
        "        - $ref: '#/components/parameters/PageToken'\n        - name: chatType\n          in: query\n          schema:\n            $ref: '#/components/schemas/ChatType'\n",
        1,
    );
    assert_ne!(with_enum, yaml);
    let mocks = generate_httpmock_from_str("openapi/chats.yaml", &with_enum).unwrap();
    assert!(
        mocks.contains("T: Into<Option<&'a yandex_market_chats_api::open_enums::ChatType>>"),
        "{mocks}"
    );
}

#[test]
fn mocks_report_a_broken_fragment_like_the_client() {
    let error = generate_httpmock("openapi/does-not-exist.yaml").unwrap_err();
    assert!(matches!(error, Error::Read { .. }));
    let error =
        generate_httpmock_from_str("openapi/chats.yaml", "openapi: 3.0.3\ninfo: [unclosed\n")
            .unwrap_err();
    assert!(matches!(error, Error::Parse { .. }));
    let yaml = std::fs::read_to_string(fragment()).unwrap();
    let not_a_status = yaml.replacen("        '420':\n", "        '620':\n", 1);
    assert_ne!(not_a_status, yaml);
    let error = generate_httpmock_from_str("openapi/chats.yaml", &not_a_status).unwrap_err();
    assert!(matches!(error, Error::Unsupported { .. }));
    assert!(error.to_string().contains("status 620"), "{error}");
}
