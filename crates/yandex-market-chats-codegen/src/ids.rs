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
//!
//! Databases keep ids signed (Postgres `BIGINT`), so each id is also
//! `TryFrom<i64>`: a negative is a `NegativeIdError` naming the id type and
//! the value; 0 converts, like `From<u64>`. An id compares with a `u64` both
//! ways (`==`, `<`), so `chat.chat_id == 10668` needs no `.get()`.
//!
//! `TryFrom<i64>` beside `From<u64>` leaves `TryInto<Id>` with two integer
//! sources, so a literal given where progenitor's builders ask for
//! `TryInto<Id>` (`.business_id(42)`, `Chat::builder().chat_id(10668)`)
//! would no longer infer. [`literal_setters`] adds `Into<Id>` to those
//! bounds, which has one integer source: literals infer as `u64` again.

use openapiv3::{OpenAPI, ReferenceOr, SchemaKind, Type};
use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};
use syn::visit_mut::VisitMut;

/// The module, at the generated crate's root, that holds the id types.
pub(crate) const MODULE: &str = "ids";

/// The error of every id's `TryFrom<i64>`, in the same module.
pub(crate) const ERROR: &str = "NegativeIdError";

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

/// Adds `Into<Id>` to every `TryInto<Id>` bound of the generated code (the
/// setters of progenitor's operation and struct builders), so that an
/// integer literal infers as `u64` there (see the module docs). Returns how
/// many bounds it changed.
pub(crate) fn literal_setters(file: &mut syn::File, ids: &[Id]) -> usize {
    struct AddInto {
        paths: Vec<String>,
        changed: usize,
    }

    impl AddInto {
        /// The id path in `bound` when it is `TryInto<crate::ids::X>`.
        fn try_into_id(&self, bound: &syn::TypeParamBound) -> Option<syn::Type> {
            let syn::TypeParamBound::Trait(bound) = bound else {
                return None;
            };
            let last = bound.path.segments.last()?;
            if last.ident != "TryInto" {
                return None;
            }
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            let [syn::GenericArgument::Type(ty)] = args.args.iter().collect::<Vec<_>>()[..] else {
                return None;
            };
            let text = ty.to_token_stream().to_string().replace(' ', "");
            self.paths.contains(&text).then(|| ty.clone())
        }

        fn add(
            &mut self,
            bounds: &mut syn::punctuated::Punctuated<syn::TypeParamBound, syn::Token![+]>,
        ) {
            let ids: Vec<syn::Type> = bounds.iter().filter_map(|b| self.try_into_id(b)).collect();
            for ty in ids {
                bounds.push(syn::parse_quote!(::std::convert::Into<#ty>));
                self.changed += 1;
            }
        }
    }

    impl VisitMut for AddInto {
        fn visit_type_param_mut(&mut self, param: &mut syn::TypeParam) {
            self.add(&mut param.bounds);
            syn::visit_mut::visit_type_param_mut(self, param);
        }

        fn visit_predicate_type_mut(&mut self, predicate: &mut syn::PredicateType) {
            self.add(&mut predicate.bounds);
            syn::visit_mut::visit_predicate_type_mut(self, predicate);
        }
    }

    let mut visitor = AddInto {
        paths: ids
            .iter()
            .map(|id| id.rust_path().replace(' ', ""))
            .collect(),
        changed: 0,
    };
    visitor.visit_file_mut(file);
    visitor.changed
}

/// Writes the `ids` module.
pub(crate) fn module(ids: &[Id]) -> TokenStream {
    let items = ids.iter().map(one);
    let module = format_ident!("{MODULE}");
    let error = ids
        .first()
        .map(|id| negative_id_error(&id.name))
        .unwrap_or_default();
    quote! {
        /// Id types: one per kind of id, each a `u64` that is a JSON number on
        /// the wire and prints as bare digits.
        pub mod #module {
            #(#items)*
            #error
        }
    }
}

/// The error of `TryFrom<i64>`: which id type, which value. `example` is
/// an id type its doc example uses.
fn negative_id_error(example: &str) -> TokenStream {
    let name = format_ident!("{ERROR}");
    let example = format!(
        "```\n\
         use yandex_market_chats_api::ids::{example};\n\
         \n\
         let error = {example}::try_from(-7_i64).unwrap_err();\n\
         assert_eq!(error.id_type(), \"{example}\");\n\
         assert_eq!(error.value(), -7);\n\
         assert_eq!(error.to_string(), \"{example} cannot be negative, got -7\");\n\
         ```"
    );
    quote! {
        /// An id from a signed integer (a database's `BIGINT`, say) that is
        /// negative: ids are never negative. It names the id type and the
        /// value; `?` turns it into the SDK's `Error::InvalidInput`.
        ///
        #[doc = #example]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct #name {
            id_type: &'static str,
            value: i64,
        }

        impl #name {
            /// The id type the value was meant for (`"ChatId"`).
            pub const fn id_type(&self) -> &'static str {
                self.id_type
            }

            /// The negative value.
            pub const fn value(&self) -> i64 {
                self.value
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{} cannot be negative, got {}", self.id_type, self.value)
            }
        }

        impl ::std::error::Error for #name {}
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
        "```\n\
         use yandex_market_chats_api::ids::{0};\n\
         \n\
         let id = {0}::from(10_668);\n\
         assert_eq!(id.get(), 10_668);\n\
         assert!(id == 10_668 && 10_668 == id && id < 20_000);\n\
         assert_eq!(id.to_string(), \"10668\");\n\
         assert_eq!(serde_json::to_string(&id).unwrap(), \"10668\");\n\
         \n\
         let row_id: i64 = 10_668; // a database's BIGINT\n\
         assert_eq!({0}::try_from(row_id)?, id);\n\
         assert!({0}::try_from(-1_i64).is_err());\n\
         # Ok::<(), yandex_market_chats_api::ids::{ERROR}>(())\n\
         ```",
        id.name
    );
    let error = format_ident!("{ERROR}");
    let id_type = id.name.as_str();
    quote! {
        #[doc = #doc]
        ///
        /// Build one from a `u64` (`From`; integer literals work) or from an
        /// `i64` (`TryFrom`: a negative is a [`NegativeIdError`]; 0 converts
        /// and is refused when sent, as from a `u64`); read it with
        /// [`Self::get`] or compare it with a `u64` as it is (`==`, `<`). It
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

        impl ::std::convert::TryFrom<i64> for #name {
            type Error = #error;
            fn try_from(id: i64) -> ::std::result::Result<Self, #error> {
                u64::try_from(id).map(Self).map_err(|_| #error {
                    id_type: #id_type,
                    value: id,
                })
            }
        }

        impl ::std::cmp::PartialEq<u64> for #name {
            fn eq(&self, other: &u64) -> bool {
                self.0 == *other
            }
        }

        impl ::std::cmp::PartialEq<#name> for u64 {
            fn eq(&self, other: &#name) -> bool {
                *self == other.0
            }
        }

        impl ::std::cmp::PartialOrd<u64> for #name {
            fn partial_cmp(&self, other: &u64) -> ::std::option::Option<::std::cmp::Ordering> {
                self.0.partial_cmp(other)
            }
        }

        impl ::std::cmp::PartialOrd<#name> for u64 {
            fn partial_cmp(&self, other: &#name) -> ::std::option::Option<::std::cmp::Ordering> {
                self.partial_cmp(&other.0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_into_an_id_also_takes_into() {
        let ids = [Id {
            name: "ChatId".into(),
            description: None,
        }];
        let mut file: syn::File = syn::parse_quote! {
            fn op<V>(v: V) where V: std::convert::TryInto<crate::ids::ChatId> {}
            fn field<T: ::std::convert::TryInto<crate::ids::ChatId>>(t: T) {}
            fn optional<T>(t: T) where T: ::std::convert::TryInto<::std::option::Option<crate::ids::ChatId>> {}
            fn other<T>(t: T) where T: ::std::convert::TryInto<u64> {}
        };
        assert_eq!(literal_setters(&mut file, &ids), 2);
        let text = file.to_token_stream().to_string().replace(' ', "");
        assert!(
            text.contains("V:std::convert::TryInto<crate::ids::ChatId>+::std::convert::Into<crate::ids::ChatId>"),
            "{text}"
        );
        assert!(
            text.contains("T:::std::convert::TryInto<crate::ids::ChatId>+::std::convert::Into<crate::ids::ChatId>"),
            "{text}"
        );
        assert_eq!(
            text.matches("Into<crate::ids::ChatId>").count(),
            4,
            "{text}"
        );
        assert!(!text.contains("Into<u64>+"), "{text}");
    }
}
