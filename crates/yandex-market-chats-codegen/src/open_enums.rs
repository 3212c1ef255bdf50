//! Open enums: the known values from the fragment plus `Unknown(String)`.
//!
//! progenitor (typify) writes strict enums, so one value the client has never
//! seen would fail a whole page. The API adds values over time (`DIRECT` in
//! 2025), so every named string enum in the fragment is written here instead
//! and plugged into progenitor with `with_replacement`.

use heck::ToUpperCamelCase;
use openapiv3::{OpenAPI, ReferenceOr, SchemaKind, StringType, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The module, at the generated crate's root, that holds the open enums.
pub(crate) const MODULE: &str = "open_enums";

/// One named string enum of the fragment.
pub(crate) struct OpenEnum {
    /// The schema's name in `components/schemas`.
    pub name: String,
    /// Its Rust name (see `names.rs`).
    pub rust_name: String,
    description: Option<String>,
    values: Vec<String>,
}

impl OpenEnum {
    /// The path progenitor writes wherever the schema is referenced.
    pub fn rust_path(&self) -> String {
        format!("crate::{MODULE}::{}", self.rust_name)
    }
}

/// Finds every named string enum in `components/schemas`, in name order.
pub(crate) fn collect(spec: &OpenAPI) -> Result<Vec<OpenEnum>, String> {
    let Some(components) = &spec.components else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for (name, schema) in &components.schemas {
        let ReferenceOr::Item(schema) = schema else {
            continue;
        };
        let SchemaKind::Type(Type::String(StringType { enumeration, .. })) = &schema.schema_kind
        else {
            continue;
        };
        if enumeration.is_empty() {
            continue;
        }
        let mut values = Vec::with_capacity(enumeration.len());
        for value in enumeration {
            let Some(value) = value else {
                return Err(format!(
                    "components/schemas/{name}: null is not supported as an enum value"
                ));
            };
            if values.contains(value) {
                return Err(format!(
                    "components/schemas/{name}: enum value {value:?} is listed twice"
                ));
            }
            values.push(value.clone());
        }
        found.push(OpenEnum {
            rust_name: crate::names::rust_name(name),
            name: name.clone(),
            description: schema.schema_data.description.clone(),
            values,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Writes the `open_enums` module.
pub(crate) fn module(enums: &[OpenEnum]) -> Result<TokenStream, String> {
    let items = enums.iter().map(one).collect::<Result<Vec<_>, _>>()?;
    let module = format_ident!("{MODULE}");
    Ok(quote! {
        /// Enums that accept values this client has never seen.
        ///
        /// Each has the values the fragment lists plus `Unknown(String)`, which keeps
        /// the server's text so that it serializes back unchanged.
        pub mod #module {
            #(#items)*
        }
    })
}

fn one(open: &OpenEnum) -> Result<TokenStream, String> {
    let name = format_ident!("{}", open.rust_name);
    let schema_name = &open.name;
    let mut variants = Vec::with_capacity(open.values.len());
    for value in &open.values {
        let ident = value.to_upper_camel_case();
        if ident.is_empty() || ident == "Unknown" || !ident.starts_with(char::is_alphabetic) {
            return Err(format!(
                "components/schemas/{}: enum value {value:?} has no usable Rust name",
                open.name
            ));
        }
        variants.push(format_ident!("{ident}"));
    }
    let values = &open.values;
    let description = open.description.as_deref().unwrap_or("").trim();
    let doc = if description.is_empty() {
        format!("`{}` from the OpenAPI fragment.", open.name)
    } else {
        description.to_owned()
    };
    let variant_docs = values.iter().map(|v| format!("`{v}`"));
    let schema_description = description.to_owned();

    Ok(quote! {
        #[doc = #doc]
        ///
        /// Open: a value this client does not know parses as `Unknown` with its
        /// text, and `Display` and serialization give the wire value back.
        /// Values compare, hash and order by their wire form, so
        /// `Unknown("NEW")` and the known variant for `NEW` are the same value.
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub enum #name {
            #(
                #[doc = #variant_docs]
                #variants,
            )*
            /// A value the fragment does not list, kept as the server sent it.
            Unknown(::std::string::String),
        }

        impl #name {
            /// Every value the fragment lists, in its order.
            pub const KNOWN: &'static [Self] = &[#(Self::#variants),*];

            /// The value as the API spells it (`NEW`, `ORDER`, ...).
            pub fn as_str(&self) -> &str {
                match self {
                    #(Self::#variants => #values,)*
                    Self::Unknown(other) => other.as_str(),
                }
            }

            /// Whether this is a value the fragment does not list.
            pub fn is_unknown(&self) -> bool {
                matches!(self, Self::Unknown(_))
            }

            fn known(value: &str) -> ::std::option::Option<Self> {
                match value {
                    #(#values => ::std::option::Option::Some(Self::#variants),)*
                    _ => ::std::option::Option::None,
                }
            }
        }

        impl ::std::cmp::PartialEq for #name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl ::std::cmp::Eq for #name {}

        impl ::std::hash::Hash for #name {
            fn hash<H: ::std::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state);
            }
        }

        impl ::std::cmp::PartialOrd for #name {
            fn partial_cmp(&self, other: &Self) -> ::std::option::Option<::std::cmp::Ordering> {
                ::std::option::Option::Some(self.cmp(other))
            }
        }

        impl ::std::cmp::Ord for #name {
            fn cmp(&self, other: &Self) -> ::std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for #name {
            type Err = ::std::convert::Infallible;
            fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                ::std::result::Result::Ok(Self::from(value))
            }
        }

        impl ::std::convert::From<&str> for #name {
            fn from(value: &str) -> Self {
                Self::known(value).unwrap_or_else(|| Self::Unknown(value.to_owned()))
            }
        }

        impl ::std::convert::From<::std::string::String> for #name {
            fn from(value: ::std::string::String) -> Self {
                Self::known(&value).unwrap_or(Self::Unknown(value))
            }
        }

        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                struct Visitor;
                impl ::serde::de::Visitor<'_> for Visitor {
                    type Value = #name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("a string (", #schema_name, ")"))
                    }
                    fn visit_str<E: ::serde::de::Error>(
                        self,
                        value: &str,
                    ) -> ::std::result::Result<Self::Value, E> {
                        ::std::result::Result::Ok(#name::from(value))
                    }
                    fn visit_string<E: ::serde::de::Error>(
                        self,
                        value: ::std::string::String,
                    ) -> ::std::result::Result<Self::Value, E> {
                        ::std::result::Result::Ok(#name::from(value))
                    }
                }
                deserializer.deserialize_str(Visitor)
            }
        }

        impl ::schemars::JsonSchema for #name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(#schema_name)
            }

            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                // Known values first, then any other string: the enum is open.
                ::schemars::json_schema!({
                    "description": #schema_description,
                    "anyOf": [
                        { "type": "string", "enum": [#(#values),*] },
                        { "type": "string" }
                    ]
                })
            }
        }
    })
}
