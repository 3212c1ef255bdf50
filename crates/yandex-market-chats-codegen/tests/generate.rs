//! The generator: same input, same bytes; a broken fragment is an error that
//! names the file and the problem, never a panic.

use std::path::{Path, PathBuf};

use yandex_market_chats_codegen::{Error, generate, generate_from_str};

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
