//! The JSON Schema schemars derives for the generated chat type agrees with
//! the fragment: the same required properties, and every enum value the
//! fragment lists (the open enums also admit other strings).

use std::collections::BTreeSet;

use serde_json::Value;
use yandex_market_chats_api::types::GetChatInfoDto;

fn fragment() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/chats.yaml"
    ))
    .expect("the fragment exists");
    serde_norway::from_str(&text).expect("the fragment is YAML")
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

/// Follows `$ref`s into the schema's `$defs`.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &root["$defs"][name]
        }
        None => schema,
    }
}

/// Every string an enum schema (possibly `anyOf` of enums) lists.
fn enum_values(root: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(root, schema);
    let mut values = strings(&schema["enum"]);
    for branch in schema["anyOf"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(schema["oneOf"].as_array().into_iter().flatten())
    {
        values.extend(enum_values(root, branch));
    }
    values
}

#[test]
fn chat_schema_agrees_with_the_fragment() {
    let spec = fragment();
    let schemas = &spec["components"]["schemas"];
    let derived = serde_json::to_value(schemars::schema_for!(GetChatInfoDto)).unwrap();

    let fragment_chat = &schemas["GetChatInfoDTO"];
    assert_eq!(
        strings(&derived["required"]),
        strings(&fragment_chat["required"])
    );

    let derived_props: BTreeSet<_> = derived["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let fragment_props: BTreeSet<_> = fragment_chat["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(derived_props, fragment_props);

    for (property, enum_schema) in [("status", "ChatStatusType"), ("type", "ChatType")] {
        let want = strings(&schemas[enum_schema]["enum"]);
        assert!(!want.is_empty());
        let got = enum_values(&derived, &derived["properties"][property]);
        assert!(
            want.is_subset(&got),
            "{property}: {want:?} not all in {got:?}"
        );
    }

    let context = resolve(&derived, &derived["properties"]["context"]);
    assert_eq!(
        strings(&context["required"]),
        strings(&schemas["ChatFullContextDTO"]["required"])
    );
    let want = strings(&schemas["ChatContextType"]["enum"]);
    assert!(want.contains("DIRECT"));
    assert!(want.is_subset(&enum_values(&derived, &context["properties"]["type"])));
}
