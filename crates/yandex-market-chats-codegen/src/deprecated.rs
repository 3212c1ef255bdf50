//! Deprecated fields: `deprecated: true` on a property of the fragment
//! becomes `#[deprecated]` on its field.
//!
//! progenitor (typify) drops the keyword, so the generated struct field is
//! marked here, on the syntax tree. Users then get a warning where they read
//! or set a field the API deprecates; the generated code itself uses every
//! field (serde, builders), so the `types` module allows `deprecated`
//! inside it (lint levels apply where a field is used: users still see the
//! warning). OpenAPI 3.0 ignores keywords next to a `$ref`, so a deprecated
//! reference is written `allOf: [$ref]`; a `deprecated` beside a bare `$ref`
//! is refused rather than silently lost.

use openapiv3::{OpenAPI, ReferenceOr, SchemaKind, Type};
use quote::ToTokens;

use crate::names::rust_name;

/// One deprecated property of a schema in `components/schemas`.
pub(crate) struct Deprecated {
    /// The schema's name in the fragment (`GetChatInfoDTO`).
    pub schema: String,
    /// The property's JSON name (`orderId`).
    pub property: String,
}

/// Every property marked `deprecated: true`, schema by schema in the
/// fragment's order.
pub(crate) fn collect(spec: &OpenAPI) -> Vec<Deprecated> {
    let Some(components) = &spec.components else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (schema, item) in &components.schemas {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        let SchemaKind::Type(Type::Object(object)) = &item.schema_kind else {
            continue;
        };
        for (property, value) in &object.properties {
            if let ReferenceOr::Item(value) = value
                && value.schema_data.deprecated
            {
                found.push(Deprecated {
                    schema: schema.clone(),
                    property: property.clone(),
                });
            }
        }
    }
    found
}

/// Refuses `deprecated` next to a `$ref` in a property: OpenAPI 3.0 (and
/// the parser) ignore it, so the mark would be lost without a word.
pub(crate) fn check_beside_refs(yaml: &str) -> Result<(), String> {
    let Ok(document) = serde_norway::from_str::<serde_norway::Value>(yaml) else {
        // A document that is not YAML is reported by the parser.
        return Ok(());
    };
    let Some(schemas) = document["components"]["schemas"].as_mapping() else {
        return Ok(());
    };
    for (schema, body) in schemas {
        let Some(properties) = body["properties"].as_mapping() else {
            continue;
        };
        for (property, value) in properties {
            if value.get("$ref").is_some() && value.get("deprecated").is_some() {
                return Err(format!(
                    "components/schemas/{}/properties/{}: `deprecated` next to `$ref` is \
                     ignored by OpenAPI 3.0; write the reference as `allOf: [$ref]`",
                    schema.as_str().unwrap_or("?"),
                    property.as_str().unwrap_or("?"),
                ));
            }
        }
    }
    Ok(())
}

/// Puts `#[deprecated]` on the field of every deprecated property and lets
/// the `types` module use them without warnings.
pub(crate) fn mark(file: &mut syn::File, deprecated: &[Deprecated]) -> Result<(), String> {
    let Some(types) = file.items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == "types" => Some(m),
        _ => None,
    }) else {
        return if deprecated.is_empty() {
            Ok(())
        } else {
            Err("progenitor wrote no `types` module".to_owned())
        };
    };
    if deprecated.is_empty() {
        return Ok(());
    }
    types.attrs.push(syn::parse_quote!(#[allow(deprecated)]));
    let items = &mut types
        .content
        .as_mut()
        .ok_or("the `types` module has no body")?
        .1;
    for one in deprecated {
        let name = rust_name(&one.schema);
        let strukt = items
            .iter_mut()
            .find_map(|item| match item {
                syn::Item::Struct(s) if s.ident == name => Some(s),
                _ => None,
            })
            .ok_or_else(|| {
                format!(
                    "components/schemas/{}: no struct {name} to mark `{}` deprecated in",
                    one.schema, one.property
                )
            })?;
        let field = strukt
            .fields
            .iter_mut()
            .find(|field| json_name(field).as_deref() == Some(one.property.as_str()))
            .ok_or_else(|| {
                format!(
                    "components/schemas/{}/properties/{}: no field of {name} to mark deprecated",
                    one.schema, one.property
                )
            })?;
        let note = format!(
            "`{}` is deprecated by the Yandex.Market API (see the field's documentation)",
            one.property
        );
        field
            .attrs
            .push(syn::parse_quote!(#[deprecated(note = #note)]));
    }
    Ok(())
}

/// The JSON name of a generated field: its `#[serde(rename = "..")]`, else
/// its Rust name.
fn json_name(field: &syn::Field) -> Option<String> {
    let renamed = field.attrs.iter().find_map(|attr| {
        if !attr.path().is_ident("serde") {
            return None;
        }
        let mut rename = None;
        // Other serde keys (`default`, `skip_serializing_if = ..`) are skipped.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                rename = Some(meta.value()?.parse::<syn::LitStr>()?.value());
            } else if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            }
            Ok(())
        });
        rename
    });
    renamed.or_else(|| {
        field
            .ident
            .as_ref()
            .map(|ident| ident.to_token_stream().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rename_among_other_serde_keys() {
        let field: syn::Field = syn::parse_quote! {
            #[serde(rename = "orderId", default, skip_serializing_if = "::std::option::Option::is_none")]
            pub order_id: Option<i64>
        };
        assert_eq!(json_name(&field).as_deref(), Some("orderId"));
        let plain: syn::Field = syn::parse_quote!(pub paging: Option<u8>);
        assert_eq!(json_name(&plain).as_deref(), Some("paging"));
    }

    #[test]
    fn a_deprecated_beside_a_ref_is_refused() {
        let yaml = "components:\n  schemas:\n    A:\n      type: object\n      properties:\n        b:\n          deprecated: true\n          $ref: '#/components/schemas/B'\n";
        let error = check_beside_refs(yaml).unwrap_err();
        assert!(
            error.contains("components/schemas/A/properties/b"),
            "{error}"
        );
        let wrapped = yaml.replace("$ref: ", "allOf:\n            - $ref: ");
        assert!(check_beside_refs(&wrapped).is_ok());
    }
}
