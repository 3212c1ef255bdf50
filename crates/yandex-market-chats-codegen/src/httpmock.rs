//! Typed [httpmock](https://docs.rs/httpmock) mocks for every generated
//! operation: the source of `yandex-market-chats-httpmock`.
//!
//! progenitor's `Generator::httpmock` writes, per operation, a `When` with a
//! method per parameter (path, query, body) and a `Then` with a method per
//! response status, plus a `MockServerExt` trait that adds
//! `server.get_chats(|when, then| ..)` to `httpmock::MockServer`. It gets the
//! fragment after the same preparation as the client ([`crate::prepare`]) and
//! the same settings ([`crate::settings::settings`]), so a type the client
//! renames or replaces is renamed or replaced in the mocks too.
//!
//! The adjustments are the mocks' own:
//! - progenitor names a status's method after its reason phrase and panics on
//!   a status that has none, such as the API's 420 (its rate limit). Such a
//!   status is given to it as its class (`4XX`), whose method takes the
//!   status: `then.client_error(420, &body)`. The file's header names each one.
//! - A type the settings replace is named by its path in the client crate,
//!   `crate::open_enums::..` (or any other `crate::..` a setting gives); in
//!   the mock crate that is `yandex_market_chats_api::..`.
//! - An id parameter (`business_id`, `chat_id`, ...) takes `impl Into<Id>`,
//!   as the SDK does, so `when.business_id(42)` compiles; progenitor writes
//!   `&Id`.
//! - The `Then` of every operation that documents a 420 gets Market's two
//!   420s, `quota_spent(resets_in)` and `parallel_limit()`, with the
//!   rate-limit headers and the error body the API sends. They call the
//!   mock crate's hand-written `rate_limit` module, with the hourly limit
//!   the operation's description states ("Limit: 5,000 requests per hour").

use std::collections::BTreeSet;
use std::path::Path;

use heck::ToUpperCamelCase;
use openapiv3::{OpenAPI, Operation, ReferenceOr, StatusCode};
use proc_macro2::{Group, Ident, TokenStream, TokenTree};
use quote::ToTokens;

use crate::{Error, Prepared};

/// The crate the mocks take their types from: the generated `operations`
/// module starts with `use yandex_market_chats_api::*;`, and every type is
/// `types::..` from there.
const CLIENT_CRATE: &str = "yandex_market_chats_api";

/// The status of the API's rate limits, which gets its own `Then` methods.
const RATE_LIMITED: u16 = 420;

/// Reads the fragment at `spec` and returns the formatted Rust source of the
/// typed httpmock mocks (the `operations` module and the `MockServerExt`
/// trait) for the client [`generate`](crate::generate) writes from it.
///
/// The same input always gives the same bytes.
///
/// # Errors
/// As [`generate`](crate::generate).
pub fn generate_httpmock(spec: impl AsRef<Path>) -> Result<String, Error> {
    let path = spec.as_ref();
    generate_httpmock_from_str(path, &crate::read(path)?)
}

/// Like [`generate_httpmock`], for a fragment already in memory; `path` is
/// only used to name it in errors.
///
/// # Errors
/// As [`generate_httpmock`], except for reading.
pub fn generate_httpmock_from_str(path: impl AsRef<Path>, yaml: &str) -> Result<String, Error> {
    let path = path.as_ref();
    let Prepared {
        mut spec,
        left_out,
        enums,
        ids,
        // The mocks take the client's types; the marks are on those.
        deprecated: _,
    } = crate::prepare(path, yaml)?;
    let rate_limited = rate_limited_operations(&spec).map_err(|m| crate::unsupported(path, m))?;
    let classes = statuses_as_classes(&mut spec).map_err(|m| crate::unsupported(path, m))?;

    let mut generator = progenitor::Generator::new(&crate::settings::settings(&enums, &ids));
    let tokens = crate::run_progenitor(path, || generator.httpmock(&spec, CLIENT_CRATE))?;
    let mut file: syn::File =
        syn::parse2(in_client_crate(tokens)).map_err(|source| Error::Syntax {
            path: path.to_owned(),
            source,
        })?;
    let id_paths: Vec<syn::Path> = ids
        .iter()
        .map(|id| {
            syn::parse_str(&format!(
                "{CLIENT_CRATE}::{}::{}",
                crate::ids::MODULE,
                id.name
            ))
            .expect("an id's name is a Rust identifier")
        })
        .collect();
    let operations = operations_module(&mut file).ok_or_else(|| {
        crate::unsupported(path, "progenitor wrote no `operations` module".into())
    })?;
    ids_by_value(operations, &id_paths);
    add_rate_limit_methods(operations, &rate_limited).map_err(|m| crate::unsupported(path, m))?;
    let tokens = file.into_token_stream();

    let mut notes = Vec::new();
    if !left_out.is_empty() {
        notes.push(format!(
            "Left out (multipart/form-data, which progenitor 0.15 cannot generate; mock it with `MockServer::mock`): {}.",
            left_out.join(", ")
        ));
    }
    if !classes.is_empty() {
        let list: Vec<String> = classes
            .iter()
            .map(|(status, class)| format!("{status} as {class}XX"))
            .collect();
        notes.push(format!(
            "Statuses without a reason phrase, mocked by their class's method (`client_error(420, ..)`): {}.",
            list.join(", ")
        ));
    }
    if !rate_limited.is_empty() {
        notes.push(
            "Every operation with a 420 also has `then.quota_spent(resets_in)` and `then.parallel_limit()` (the crate's `rate_limit`)."
                .to_owned(),
        );
    }
    crate::render(path, &notes, tokens)
}

/// One operation that documents the API's 420: the name of its `Then`
/// (`GetChatsThen`) and the hourly limit its description states.
#[derive(Debug, PartialEq, Eq)]
struct RateLimited {
    then: String,
    hourly_limit: u64,
}

/// Every operation with a 420 response, in the fragment's order, with the
/// hourly limit its description states; an error names an operation that
/// states none (its typed `quota_spent` would have no limit to send).
fn rate_limited_operations(spec: &OpenAPI) -> Result<Vec<RateLimited>, String> {
    let mut found = Vec::new();
    for (path, method, operation) in spec.operations() {
        if !operation
            .responses
            .responses
            .contains_key(&StatusCode::Code(RATE_LIMITED))
        {
            continue;
        }
        let name = operation.operation_id.as_deref().ok_or_else(|| {
            format!("paths/{path}/{method}: an operation with a 420 response needs an operationId")
        })?;
        let hourly_limit = operation
            .description
            .as_deref()
            .and_then(stated_hourly_limit)
            .ok_or_else(|| {
                format!(
                    "{name}: documents a 420 but its description states no hourly limit; \
                     the typed mocks' `quota_spent` sends it as X-RateLimit-Resource-Limit: \
                     say \"Limit: N requests per hour.\""
                )
            })?;
        found.push(RateLimited {
            then: format!("{}Then", name.to_upper_camel_case()),
            hourly_limit,
        });
    }
    Ok(found)
}

/// The `N` of the first "Limit: N requests per hour" in `description`
/// (whatever the line breaks; `5,000` or `5000`).
fn stated_hourly_limit(description: &str) -> Option<u64> {
    let text = description.split_whitespace().collect::<Vec<_>>().join(" ");
    text.match_indices("Limit: ").find_map(|(at, marker)| {
        let rest = &text[at + marker.len()..];
        let (number, rest) = rest.split_once(' ')?;
        if !rest.starts_with("requests per hour") {
            return None;
        }
        let digits: String = number.chars().filter(|c| *c != ',').collect();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    })
}

/// The generated `operations` module's items.
fn operations_module(file: &mut syn::File) -> Option<&mut Vec<syn::Item>> {
    file.items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(module) if module.ident == "operations" => {
            module.content.as_mut().map(|(_, items)| items)
        }
        _ => None,
    })
}

/// The name of the type an `impl` block is for, when it is a plain name.
fn impl_of(block: &syn::ItemImpl) -> Option<String> {
    match &*block.self_ty {
        syn::Type::Path(ty) if ty.qself.is_none() && ty.path.segments.len() == 1 => {
            Some(ty.path.segments[0].ident.to_string())
        }
        _ => None,
    }
}

/// Rewrites every method of a `When` that takes `&Id` (an id type of
/// `id_paths`) to take `impl Into<Id>`, as the SDK's methods do, converting
/// it first: `when.business_id(42)` and `when.chat_id(chat.chat_id)`.
fn ids_by_value(operations: &mut [syn::Item], id_paths: &[syn::Path]) {
    for item in operations {
        let syn::Item::Impl(block) = item else {
            continue;
        };
        if !impl_of(block).is_some_and(|name| name.ends_with("When")) {
            continue;
        }
        for member in &mut block.items {
            let syn::ImplItem::Fn(method) = member else {
                continue;
            };
            let mut conversions = Vec::new();
            for input in method.sig.inputs.iter_mut() {
                let syn::FnArg::Typed(argument) = input else {
                    continue;
                };
                let syn::Type::Reference(reference) = &*argument.ty else {
                    continue;
                };
                let syn::Type::Path(target) = &*reference.elem else {
                    continue;
                };
                let written = target.path.to_token_stream().to_string();
                if target.qself.is_some()
                    || !id_paths
                        .iter()
                        .any(|id| id.to_token_stream().to_string() == written)
                {
                    continue;
                }
                let id = target.path.clone();
                let pattern = argument.pat.clone();
                *argument.ty = syn::parse_quote!(impl ::std::convert::Into<#id>);
                conversions.push(syn::parse_quote! {
                    let #pattern: #id = ::std::convert::Into::into(#pattern);
                });
            }
            let body = std::mem::take(&mut method.block.stmts);
            method.block.stmts = conversions.into_iter().chain(body).collect();
        }
    }
}

/// Adds `quota_spent` and `parallel_limit` to the `Then` of every operation
/// of `rate_limited`; an error names one whose `Then` progenitor did not
/// write under the expected name.
fn add_rate_limit_methods(
    operations: &mut [syn::Item],
    rate_limited: &[RateLimited],
) -> Result<(), String> {
    for operation in rate_limited {
        let block = operations
            .iter_mut()
            .find_map(|item| match item {
                syn::Item::Impl(block) if impl_of(block).as_deref() == Some(&operation.then) => {
                    Some(block)
                }
                _ => None,
            })
            .ok_or_else(|| format!("no `impl {}` among the generated mocks", operation.then))?;
        block
            .items
            .extend(rate_limit_methods(operation.hourly_limit));
    }
    Ok(())
}

/// The two 420 methods of one `Then`, for an operation whose hourly limit is
/// `hourly_limit`: thin calls into the mock crate's `rate_limit` module,
/// which documents what the client does with each answer.
fn rate_limit_methods(hourly_limit: u64) -> Vec<syn::ImplItem> {
    let quota_doc = [
        " The 420 of a spent hourly quota: `X-RateLimit-Resource-Remaining: 0`,".to_owned(),
        format!(" `-Limit: {hourly_limit}` (the operation's hourly limit), `-Until`"),
        " `resets_in` after the mock is defined, and the API's error body. The".to_owned(),
        " SDK fails at once with `Error::RateLimited` when the reset is further".to_owned(),
        " than its `max_quota_wait` (60 s by default), and otherwise waits for it".to_owned(),
        " and tries again: see [`rate_limit`](crate::rate_limit).".to_owned(),
    ];
    let parallel_doc = [
        " The 420 of the limit of 4 parallel requests per business: the API's".to_owned(),
        " message (\"Hit rate limit of 4 parallel requests\"), with".to_owned(),
        format!(" `X-RateLimit-Resource-Limit: {hourly_limit}` and a `-Remaining` above 0."),
        " The SDK retries it until its total timeout (120 s by default): end the".to_owned(),
        " mock with `into_inner().up_to_n_times(n)`; see [`rate_limit`](crate::rate_limit)."
            .to_owned(),
    ];
    let limit = proc_macro2::Literal::u64_suffixed(hourly_limit);
    vec![
        syn::parse_quote! {
            #(#[doc = #quota_doc])*
            pub fn quota_spent(self, resets_in: ::std::time::Duration) -> Self {
                Self(crate::rate_limit::quota_spent(self.0, #limit, resets_in))
            }
        },
        syn::parse_quote! {
            #(#[doc = #parallel_doc])*
            pub fn parallel_limit(self) -> Self {
                Self(crate::rate_limit::parallel_limit(self.0, #limit))
            }
        },
    ]
}

/// Replaces, in every operation's responses, each status without a reason
/// phrase by its class (`420` by `4XX`), in place; when the operation already
/// has that class, the status is dropped (the class's method covers it).
/// Returns each `(status, class)` replaced or dropped.
fn statuses_as_classes(spec: &mut OpenAPI) -> Result<BTreeSet<(u16, u16)>, String> {
    let mut replaced = BTreeSet::new();
    for (path, item) in spec.paths.paths.iter_mut() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        for (method, slot) in [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("options", &mut item.options),
            ("head", &mut item.head),
            ("patch", &mut item.patch),
            ("trace", &mut item.trace),
        ] {
            if let Some(operation) = slot {
                as_classes(operation, &mut replaced)
                    .map_err(|message| format!("paths/{path}/{method}: {message}"))?;
            }
        }
    }
    Ok(replaced)
}

fn as_classes(
    operation: &mut Operation,
    replaced: &mut BTreeSet<(u16, u16)>,
) -> Result<(), String> {
    let responses = std::mem::take(&mut operation.responses.responses);
    let mut classes: BTreeSet<u16> = responses
        .keys()
        .filter_map(|status| match status {
            StatusCode::Range(class) => Some(*class),
            StatusCode::Code(_) => None,
        })
        .collect();
    let mut kept = Vec::with_capacity(responses.len());
    for (status, response) in responses {
        let StatusCode::Code(code) = status else {
            kept.push((status, response));
            continue;
        };
        if has_reason_phrase(code) {
            kept.push((status, response));
            continue;
        }
        let class = code / 100;
        if !(1..=5).contains(&class) {
            return Err(format!("status {code} is not an HTTP status"));
        }
        replaced.insert((code, class));
        if classes.insert(class) {
            kept.push((StatusCode::Range(class), response));
        }
    }
    operation.responses.responses = kept.into_iter().collect();
    Ok(())
}

/// Rewrites every path that starts with `crate::` to start with
/// [`CLIENT_CRATE`]: in the mocks, such a path comes from the client's
/// settings and names an item of the client crate. (progenitor's mock code
/// itself never names its own crate.)
fn in_client_crate(tokens: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(trees.len());
    for (i, tree) in trees.iter().enumerate() {
        out.push(match tree {
            TokenTree::Ident(ident)
                if *ident == "crate"
                    && matches!(trees.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == ':') =>
            {
                TokenTree::Ident(Ident::new(CLIENT_CRATE, ident.span()))
            }
            TokenTree::Group(group) => {
                let mut inner = Group::new(group.delimiter(), in_client_crate(group.stream()));
                inner.set_span(group.span());
                TokenTree::Group(inner)
            }
            other => other.clone(),
        });
    }
    out.into_iter().collect()
}

/// What progenitor's mock generator needs: `http`'s canonical reason phrase.
fn has_reason_phrase(code: u16) -> bool {
    http::StatusCode::from_u16(code)
        .ok()
        .and_then(|status| status.canonical_reason())
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(statuses: &[&str]) -> Operation {
        let responses: String = statuses
            .iter()
            .map(|s| format!("  '{s}':\n    description: x\n"))
            .collect();
        serde_norway::from_str(&format!("responses:\n{responses}")).unwrap()
    }

    fn statuses(operation: &Operation) -> Vec<String> {
        operation
            .responses
            .responses
            .keys()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_status_without_a_reason_becomes_its_class_in_place() {
        let mut op = operation(&["200", "404", "420", "500"]);
        let mut replaced = BTreeSet::new();
        as_classes(&mut op, &mut replaced).unwrap();
        assert_eq!(statuses(&op), ["200", "404", "4XX", "500"]);
        assert_eq!(replaced.into_iter().collect::<Vec<_>>(), [(420, 4)]);
    }

    #[test]
    fn a_class_already_there_covers_the_status() {
        let mut op = operation(&["200", "420", "4XX", "499"]);
        let mut replaced = BTreeSet::new();
        as_classes(&mut op, &mut replaced).unwrap();
        assert_eq!(statuses(&op), ["200", "4XX"]);
        assert_eq!(
            replaced.into_iter().collect::<Vec<_>>(),
            [(420, 4), (499, 4)]
        );
    }

    #[test]
    fn a_status_outside_the_classes_is_an_error() {
        let mut op = operation(&["200", "600"]);
        let error = as_classes(&mut op, &mut BTreeSet::new()).unwrap_err();
        assert!(error.contains("600"), "{error}");
    }

    #[test]
    fn paths_of_the_client_crate_name_it() {
        let tokens = quote::quote! {
            fn f<T: Into<Option<&'a crate::open_enums::ChatType>>>(v: Vec<crate::ids::ChatId>) {}
            pub(crate) struct S;
        };
        let out = in_client_crate(tokens).to_string();
        assert!(
            out.contains("yandex_market_chats_api :: open_enums :: ChatType"),
            "{out}"
        );
        assert!(
            out.contains("Vec < yandex_market_chats_api :: ids :: ChatId >"),
            "{out}"
        );
        assert!(out.contains("pub (crate) struct S"), "{out}");
        assert!(!out.contains("crate ::"), "{out}");
    }

    #[test]
    fn the_hourly_limit_is_read_from_the_description() {
        assert_eq!(
            stated_hourly_limit("Returns chats.\n\nLimit: 5,000 requests per hour per business."),
            Some(5_000)
        );
        assert_eq!(
            stated_hourly_limit(
                "Do not pass a `limit` greater than 100. Limit: 10000\n  requests per hour."
            ),
            Some(10_000)
        );
        assert_eq!(stated_hourly_limit("No limit: stated here."), None);
        assert_eq!(stated_hourly_limit("Limit: many requests per hour."), None);
        assert_eq!(stated_hourly_limit("Limit: 4 parallel requests."), None);
    }

    fn spec(operation: &str) -> OpenAPI {
        serde_norway::from_str(&format!(
            "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n  /x:\n    get:\n{operation}"
        ))
        .unwrap()
    }

    #[test]
    fn only_operations_with_a_420_get_the_rate_limit_methods() {
        let with = spec(
            "      operationId: getChats\n      description: 'Limit: 1,000 requests per hour.'\n      responses:\n        '200': {description: x}\n        '420': {description: x}\n",
        );
        assert_eq!(
            rate_limited_operations(&with).unwrap(),
            [RateLimited {
                then: "GetChatsThen".into(),
                hourly_limit: 1_000
            }]
        );
        let without = spec(
            "      operationId: getChats\n      responses:\n        '200': {description: x}\n",
        );
        assert_eq!(rate_limited_operations(&without).unwrap(), []);
        let unstated = spec(
            "      operationId: getChats\n      responses:\n        '420': {description: x}\n",
        );
        let error = rate_limited_operations(&unstated).unwrap_err();
        assert!(
            error.contains("getChats") && error.contains("requests per hour"),
            "{error}"
        );
    }

    fn operations_of(code: &str) -> Vec<syn::Item> {
        let mut file: syn::File =
            syn::parse_str(&format!("pub mod operations {{ {code} }}")).unwrap();
        operations_module(&mut file).unwrap().clone()
    }

    #[test]
    fn id_parameters_of_a_when_take_impl_into() {
        let ids: Vec<syn::Path> =
            vec![syn::parse_str("yandex_market_chats_api::ids::ChatId").unwrap()];
        let mut items = operations_of(
            "impl GetChatWhen { pub fn chat_id(self, value: &yandex_market_chats_api::ids::ChatId) -> Self { self.f(value.to_string()) } \
             pub fn body(self, value: &types::GetChatsRequest) -> Self { self } } \
             impl GetChatThen { pub fn ok(self, value: &yandex_market_chats_api::ids::ChatId) -> Self { self } }",
        );
        ids_by_value(&mut items, &ids);
        let out: String = items
            .iter()
            .map(|i| i.to_token_stream().to_string())
            .collect();
        assert!(
            out.contains("value : impl :: std :: convert :: Into < yandex_market_chats_api :: ids :: ChatId >"),
            "{out}"
        );
        assert!(
            out.contains("let value : yandex_market_chats_api :: ids :: ChatId = :: std :: convert :: Into :: into (value) ; self . f"),
            "{out}"
        );
        // Other parameters, and a `Then`, are left as they are.
        assert!(out.contains("value : & types :: GetChatsRequest"), "{out}");
        assert!(
            out.contains("fn ok (self , value : & yandex_market_chats_api :: ids :: ChatId)"),
            "{out}"
        );
    }

    #[test]
    fn a_then_that_is_not_there_is_an_error() {
        let mut items = operations_of("impl GetChatsThen { }");
        let wanted = |then: &str| RateLimited {
            then: then.into(),
            hourly_limit: 5_000,
        };
        add_rate_limit_methods(&mut items, &[wanted("GetChatsThen")]).unwrap();
        let out = items[0].to_token_stream().to_string();
        assert!(
            out.contains("pub fn quota_spent (self , resets_in : :: std :: time :: Duration)"),
            "{out}"
        );
        assert!(
            out.contains("crate :: rate_limit :: parallel_limit (self . 0 , 5000u64)"),
            "{out}"
        );
        let error = add_rate_limit_methods(&mut items, &[wanted("GetChatThen")]).unwrap_err();
        assert!(error.contains("GetChatThen"), "{error}");
    }

    #[test]
    fn statuses_with_a_reason_are_kept() {
        assert!(has_reason_phrase(429));
        assert!(has_reason_phrase(500));
        assert!(!has_reason_phrase(420));
        assert!(!has_reason_phrase(99));
    }
}
