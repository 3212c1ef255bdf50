//! Every progenitor setting the generated client is built with. Change them
//! here, and only here; `cargo xtask generate` shows the effect as a diff.

use progenitor::{GenerationSettings, InterfaceStyle, TypeImpl, TypePatch};

use crate::ids::Id;
use crate::names;
use crate::open_enums::OpenEnum;
use crate::request_context;

pub(crate) fn settings(open_enums: &[OpenEnum], ids: &[Id]) -> GenerationSettings {
    let mut settings = GenerationSettings::default();
    settings
        // Builder methods: `client.get_chats().business_id(..).body(..).send()`.
        .with_interface(InterfaceStyle::Builder)
        // Per-request headers (auth) and the response's status and headers:
        // see request_context.rs.
        .with_inner_type(request_context::type_path())
        .with_pre_hook(request_context::pre_hook())
        .with_post_hook(request_context::post_hook())
        .with_derive("schemars::JsonSchema")
        .with_derive("PartialEq")
        // typify writes `DateTime<Utc>`, which drops the offset the server sent
        // (`+03:00`); FixedOffset keeps it.
        .with_conversion(
            date_time_schema(),
            "::chrono::DateTime<::chrono::FixedOffset>",
            [TypeImpl::Display, TypeImpl::FromStr].into_iter(),
        );
    for (typify_name, rust_name) in names::patches() {
        settings.with_patch(typify_name, TypePatch::default().with_rename(rust_name));
    }
    for id in ids {
        settings.with_replacement(
            &id.name,
            id.rust_path(),
            [TypeImpl::Display, TypeImpl::FromStr].into_iter(),
        );
    }
    for open in open_enums {
        settings.with_replacement(
            &open.name,
            open.rust_path(),
            [TypeImpl::Display, TypeImpl::FromStr].into_iter(),
        );
    }
    settings
}

/// `{type: string, format: date-time}`; typify matches it ignoring metadata
/// (descriptions, examples).
fn date_time_schema() -> schemars08::schema::SchemaObject {
    schemars08::schema::SchemaObject {
        instance_type: Some(schemars08::schema::InstanceType::String.into()),
        format: Some("date-time".to_owned()),
        ..Default::default()
    }
}
