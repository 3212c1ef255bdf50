//! The generator: same input, same bytes; a broken fragment is an error that
//! names the file and the problem, never a panic.

use std::path::{Path, PathBuf};

use quote::ToTokens;

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
    // Market's two 420s on every operation's `Then`, with its hourly limit.
    assert_eq!(first.matches("pub fn quota_spent(").count(), 6);
    assert_eq!(first.matches("pub fn parallel_limit(self)").count(), 6);
    assert!(first.contains("crate::rate_limit::quota_spent(self.0, 5000u64, resets_in)"));
    // Ids as the SDK takes them.
    assert!(
        first
            .contains("value: impl ::std::convert::Into<yandex_market_chats_api::ids::BusinessId>")
    );
    assert!(!first.contains("value: &yandex_market_chats_api::ids::"));
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

/// The fields the official spec marks `deprecated: true` in the chat
/// operations' schemas (schema, property).
const DEPRECATED_OFFICIALLY: &[(&str, &str)] = &[
    ("GetChatsRequest", "orderIds"),
    ("CreateChatRequest", "orderId"),
    ("GetChatInfoDTO", "orderId"),
    ("ChatMessagesResultDTO", "orderId"),
];

/// The fields of `types::<name>` that carry `#[deprecated]`, by their JSON
/// name.
fn deprecated_fields(source: &str, name: &str) -> Vec<String> {
    let file = syn::parse_file(source).unwrap();
    let types = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == "types" => m.content.as_ref().map(|(_, items)| items),
            _ => None,
        })
        .expect("a types module");
    let strukt = types
        .iter()
        .find_map(|item| match item {
            syn::Item::Struct(s) if s.ident == name => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no struct {name}"));
    strukt
        .fields
        .iter()
        .filter(|field| field.attrs.iter().any(|a| a.path().is_ident("deprecated")))
        .map(|field| {
            let ident = field.ident.as_ref().unwrap().to_string();
            let rename = field.attrs.iter().find_map(|a| {
                let text = a.to_token_stream().to_string();
                text.split("rename = \"")
                    .nth(1)
                    .map(|rest| rest.split('"').next().unwrap().to_owned())
            });
            rename.unwrap_or(ident)
        })
        .collect()
}

#[test]
fn every_deprecated_field_is_deprecated_in_the_fragment_and_in_rust() {
    let yaml = std::fs::read_to_string(fragment()).unwrap();
    let spec: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
    let rust = generate(fragment()).unwrap();
    for (schema, property) in DEPRECATED_OFFICIALLY {
        let declared = &spec["components"]["schemas"][*schema]["properties"][*property];
        assert_eq!(
            declared["deprecated"],
            serde_norway::Value::Bool(true),
            "{schema}.{property}: deprecated in the fragment"
        );
        let name = yandex_market_chats_codegen::rust_name(schema);
        assert!(
            deprecated_fields(&rust, &name).contains(&(*property).to_owned()),
            "{schema}.{property}: #[deprecated] on types::{name}"
        );
    }
    // And nothing else: every #[deprecated] field is deprecated in the fragment.
    let schemas = spec["components"]["schemas"].as_mapping().unwrap();
    for (schema, _) in schemas {
        let schema = schema.as_str().unwrap();
        let name = yandex_market_chats_codegen::rust_name(schema);
        if !rust.contains(&format!("pub struct {name} {{")) {
            continue;
        }
        for property in deprecated_fields(&rust, &name) {
            assert!(
                DEPRECATED_OFFICIALLY.contains(&(schema, property.as_str())),
                "{schema}.{property} is deprecated in Rust only"
            );
        }
    }
}
