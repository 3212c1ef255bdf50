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
//! Two adjustments are the mocks' own:
//! - progenitor names a status's method after its reason phrase and panics on
//!   a status that has none, such as the API's 420 (its rate limit). Such a
//!   status is given to it as its class (`4XX`), whose method takes the
//!   status: `then.client_error(420, &body)`. The file's header names each one.
//! - A type the settings replace is named by its path in the client crate,
//!   `crate::open_enums::..` (or any other `crate::..` a setting gives); in
//!   the mock crate that is `yandex_market_chats_api::..`.

use std::collections::BTreeSet;
use std::path::Path;

use openapiv3::{OpenAPI, Operation, ReferenceOr, StatusCode};
use proc_macro2::{Group, Ident, TokenStream, TokenTree};

use crate::{Error, Prepared};

/// The crate the mocks take their types from: the generated `operations`
/// module starts with `use yandex_market_chats_api::*;`, and every type is
/// `types::..` from there.
const CLIENT_CRATE: &str = "yandex_market_chats_api";

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
    let classes = statuses_as_classes(&mut spec).map_err(|m| crate::unsupported(path, m))?;

    let mut generator = progenitor::Generator::new(&crate::settings::settings(&enums, &ids));
    let tokens = crate::run_progenitor(path, || generator.httpmock(&spec, CLIENT_CRATE))?;
    let tokens = in_client_crate(tokens);

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
    crate::render(path, &notes, tokens)
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
    fn statuses_with_a_reason_are_kept() {
        assert!(has_reason_phrase(429));
        assert!(has_reason_phrase(500));
        assert!(!has_reason_phrase(420));
        assert!(!has_reason_phrase(99));
    }
}
