//! Id types: every named integer schema of the fragment (`ChatId`,
//! `OrderId`, ...) becomes a newtype over `u64`, plugged into progenitor
//! with `with_replacement`.
//!
//! One type per kind of id lets an id read from a response go into the next
//! call as it is (`client.chat(business, chat.chat_id)`), and keeps a chat id
//! from being passed where a message id goes. Each has exactly one integer
//! `From` impl (`u64`), so integer literals still infer. An id holds any
//! `u64`: a response is never refused for its ids; the wrapper refuses an id
//! of 0 before sending it.

use openapiv3::{OpenAPI, ReferenceOr, SchemaKind, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The module, at the generated crate's root, that holds the id types.
pub(crate) const MODULE: &str = "ids";

/// One named integer schema.
pub(crate) struct Id {
    /// The schema's name in `components/schemas`, which is also the Rust name.
    pub name: String,
    description: Option<String>,
}

impl Id {
    /// The path progenitor writes wherever the schema is referenced.
    pub fn rust_path(&self) -> String {
        format!("crate::{MODULE}::{}", self.name)
    }
}

/// Finds every named integer schema in `components/schemas`, in name order.
pub(crate) fn collect(spec: &OpenAPI) -> Vec<Id> {
    let Some(components) = &spec.components else {
        return Vec::new();
    };
    let mut found: Vec<Id> = components
        .schemas
        .iter()
        .filter_map(|(name, schema)| match schema {
            ReferenceOr::Item(schema)
                if matches!(schema.schema_kind, SchemaKind::Type(Type::Integer(_))) =>
            {
                Some(Id {
                    name: name.clone(),
                    description: schema.schema_data.description.clone(),
                })
            }
            _ => None,
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// Writes the `ids` module.
pub(crate) fn module(ids: &[Id]) -> TokenStream {
    let items = ids.iter().map(one);
    let module = format_ident!("{MODULE}");
    quote! {
        /// Id types: one per kind of id, each a `u64` that is a JSON number on
        /// the wire and prints as bare digits.
        pub mod #module {
            #(#items)*
        }
    }
}

fn one(id: &Id) -> TokenStream {
    let name = format_ident!("{}", id.name);
    let description = id.description.as_deref().unwrap_or("").trim();
    let doc = if description.is_empty() {
        format!("`{}` from the OpenAPI fragment.", id.name)
    } else {
        description.to_owned()
    };
    let example = format!(
        "```\nlet id = yandex_market_chats_api::ids::{0}::from(10_668);\nassert_eq!(id.get(), 10_668);\nassert_eq!(id.to_string(), \"10668\");\nassert_eq!(serde_json::to_string(&id).unwrap(), \"10668\");\n```",
        id.name
    );
    quote! {
        #[doc = #doc]
        ///
        /// Build one from a `u64` (`From`), read it with [`Self::get`]; it
        /// serializes as a JSON number and displays as bare digits.
        ///
        #[doc = #example]
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize, schemars::JsonSchema,
        )]
        #[serde(transparent)]
        #[schemars(transparent)]
        pub struct #name(u64);

        impl #name {
            /// The id as a number.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl ::std::convert::From<u64> for #name {
            fn from(id: u64) -> Self {
                Self(id)
            }
        }

        impl ::std::convert::From<#name> for u64 {
            fn from(id: #name) -> u64 {
                id.0
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::str::FromStr for #name {
            type Err = ::std::num::ParseIntError;
            fn from_str(text: &str) -> ::std::result::Result<Self, Self::Err> {
                text.parse().map(Self)
            }
        }
    }
}
