//! The JSON Schema schemars derives for every generated type agrees with the
//! fragment's schema of the same name: the same properties and required
//! ones, each property of the same shape (type, the date-time format, array
//! items, the schema it refers to), nullable where the fragment says so and
//! never null where it requires a value, and exactly the enum values the
//! fragment lists (the open enums also admit other strings).

use std::collections::BTreeSet;

use serde_json::Value;
use yandex_market_chats_api::ids;
use yandex_market_chats_api::open_enums::*;
use yandex_market_chats_api::types::*;

fn fragment() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/chats.yaml"
    ))
    .expect("the fragment exists");
    serde_norway::from_str(&text).expect("the fragment is YAML")
}

/// Every schema of the fragment, with the generated type's derived schema.
fn derived() -> Vec<(&'static str, Value)> {
    macro_rules! schemas {
        ($($name:literal => $type:ty),* $(,)?) => {
            vec![$(($name, serde_json::to_value(schemars::schema_for!($type)).unwrap())),*]
        };
    }
    schemas![
        "GetChatsRequest" => GetChatsRequest,
        "ChatContextDTO" => ChatContext,
        "ChatContextIdentifiableType" => ChatContextIdentifiableType,
        "ChatStatusType" => ChatStatus,
        "ChatType" => ChatType,
        "ChatContextType" => ChatContextType,
        "ApiResponseStatusType" => ApiResponseStatusType,
        "GetChatsResponse" => GetChatsResponse,
        "GetChatsInfoDTO" => ChatsResult,
        "ForwardScrollingPagerDTO" => Paging,
        "GetChatInfoDTO" => Chat,
        "ChatFullContextDTO" => ChatFullContext,
        "ChatCustomerDTO" => ChatCustomer,
        "CreateChatRequest" => CreateChatRequest,
        "CreateChatResponse" => CreateChatResponse,
        "CreateChatResultDTO" => CreateChatResult,
        "GetChatResponse" => GetChatResponse,
        "GetChatHistoryRequest" => GetChatHistoryRequest,
        "GetChatHistoryResponse" => GetChatHistoryResponse,
        "ChatMessagesResultDTO" => ChatHistoryResult,
        "GetChatMessageResponse" => GetChatMessageResponse,
        "ChatMessageDTO" => ChatMessage,
        "ChatMessageSenderType" => ChatMessageSender,
        "ChatMessagePayloadDTO" => ChatMessageFile,
        "SendMessageToChatRequest" => SendMessageToChatRequest,
        "SendFileToChatRequest" => SendFileToChatRequest,
        "EmptyApiResponse" => EmptyApiResponse,
        "ApiErrorResponse" => ApiErrorResponse,
        "ApiErrorDTO" => ApiErrorEntry,
        "LegacyApiErrorDTO" => LegacyApiError,
        "BusinessId" => ids::BusinessId,
        "CampaignId" => ids::CampaignId,
        "ChatId" => ids::ChatId,
        "ContextId" => ids::ContextId,
        "MessageId" => ids::MessageId,
        "OrderId" => ids::OrderId,
        "ReturnId" => ids::ReturnId,
    ]
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// A schema's Rust name, from the fragment's reference (`GetChatInfoDTO`
/// -> `Chat`) or the derived one (`Chat`), as the codegen names it.
fn normalized(name: &str) -> String {
    yandex_market_chats_codegen::rust_name(name.rsplit('/').next().unwrap())
}

/// What a schema says about a value, in terms both sides can state.
#[derive(Debug, PartialEq)]
enum Shape {
    Ref(String),
    Scalar(String, Option<String>),
    Array(Box<Shape>),
    Object,
}

/// Integer widths and signs are the generator's choice (`NonZeroU32` for
/// `int32, minimum: 1`), and `binary` only describes sendFileToChat's
/// multipart part, which the wrapper builds itself (typify makes it a plain
/// `String`); date-times are kept.
fn format(value: &Value) -> Option<String> {
    value
        .as_str()
        .filter(|f| matches!(*f, "date-time" | "date"))
        .map(str::to_owned)
}

/// The one schema of an `allOf` with one entry: how OpenAPI 3.0 lets a
/// reference carry keywords (`deprecated`), and how schemars writes one.
fn single_all_of(schema: &Value) -> Option<&Value> {
    match schema["allOf"].as_array().map(Vec::as_slice) {
        Some([only]) => Some(only),
        _ => None,
    }
}

fn fragment_shape(schema: &Value) -> Shape {
    if let Some(only) = single_all_of(schema) {
        return fragment_shape(only);
    }
    if let Some(reference) = schema["$ref"].as_str() {
        // Id types are transparent: a plain integer in the derived schema.
        if [
            "BusinessId",
            "CampaignId",
            "ChatId",
            "ContextId",
            "MessageId",
            "OrderId",
            "ReturnId",
        ]
        .iter()
        .any(|id| reference.ends_with(&format!("/{id}")))
        {
            return Shape::Scalar("integer".to_owned(), None);
        }
        return Shape::Ref(normalized(reference));
    }
    match schema["type"]
        .as_str()
        .expect("every fragment schema has a type")
    {
        "array" => Shape::Array(Box::new(fragment_shape(&schema["items"]))),
        "object" => Shape::Object,
        scalar => Shape::Scalar(scalar.to_owned(), format(&schema["format"])),
    }
}

/// The derived schema's shape and whether it admits null. A reference to a
/// scalar definition (a constrained string newtype) is followed.
fn derived_shape(root: &Value, schema: &Value) -> (Shape, bool) {
    if let Some(only) = single_all_of(schema) {
        return derived_shape(root, only);
    }
    if let Some(branches) = schema["anyOf"].as_array() {
        let (nulls, others): (Vec<_>, Vec<_>) = branches.iter().partition(|b| b["type"] == "null");
        if others.len() == 1 {
            let (shape, nullable) = derived_shape(root, others[0]);
            return (shape, nullable || !nulls.is_empty());
        }
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        let definition = &root["$defs"][name];
        let scalar = definition["type"]
            .as_str()
            .is_some_and(|t| !matches!(t, "object" | "array"))
            && definition.get("enum").is_none();
        if scalar {
            return derived_shape(root, definition);
        }
        return (Shape::Ref(normalized(name)), false);
    }
    let (kind, nullable) = match &schema["type"] {
        Value::String(kind) => (kind.clone(), false),
        Value::Array(kinds) => {
            let kinds: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
            let kind = kinds.iter().find(|k| **k != "null").unwrap().to_string();
            (kind, kinds.contains(&"null"))
        }
        other => panic!("no type in {schema} ({other})"),
    };
    let shape = match kind.as_str() {
        "array" => Shape::Array(Box::new(derived_shape(root, &schema["items"]).0)),
        "object" => Shape::Object,
        scalar => Shape::Scalar(scalar.to_owned(), format(&schema["format"])),
    };
    (shape, nullable)
}

/// Every string an enum schema (possibly `anyOf` of enums) lists.
fn enum_values(schema: &Value) -> BTreeSet<String> {
    let mut values = strings(&schema["enum"]);
    for branch in schema["anyOf"].as_array().into_iter().flatten() {
        values.extend(enum_values(branch));
    }
    values
}

#[test]
fn every_schema_of_the_fragment_agrees_with_its_generated_type() {
    let spec = fragment();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let derived = derived();
    let covered: BTreeSet<String> = derived.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(
        covered,
        schemas.keys().cloned().collect::<BTreeSet<_>>(),
        "every schema of the fragment is checked"
    );

    for (name, root) in &derived {
        let want = &schemas[*name];
        if want.get("enum").is_some() {
            let values = strings(&want["enum"]);
            assert!(!values.is_empty());
            let got = enum_values(root);
            assert_eq!(
                got, values,
                "{name}: the open enum lists exactly the fragment's values"
            );
            continue;
        }
        if want["type"] == "integer" {
            // An id type: a JSON integer on both sides.
            assert_eq!(root["type"], "integer", "{name}: an integer");
            continue;
        }
        assert_eq!(
            strings(&root["required"]),
            strings(&want["required"]),
            "{name}: required"
        );
        assert_eq!(
            keys(&root["properties"]),
            keys(&want["properties"]),
            "{name}: properties"
        );
        let required = strings(&want["required"]);
        for (property, fragment_property) in want["properties"].as_object().unwrap() {
            let (shape, nullable) = derived_shape(root, &root["properties"][property]);
            assert_eq!(
                shape,
                fragment_shape(fragment_property),
                "{name}.{property}: shape"
            );
            assert_eq!(
                root["properties"][property]["deprecated"] == true,
                fragment_property["deprecated"] == true,
                "{name}.{property}: deprecated on both sides or neither"
            );
            if fragment_property["nullable"] == true {
                assert!(nullable, "{name}.{property}: the fragment allows null");
            }
            if required.contains(property) && fragment_property["nullable"] != true {
                assert!(!nullable, "{name}.{property}: required and never null");
            }
        }
    }
}
