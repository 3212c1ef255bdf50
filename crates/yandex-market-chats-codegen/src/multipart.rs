//! Operations progenitor cannot generate.
//!
//! progenitor 0.15 has no `multipart/form-data` request bodies and fails the
//! whole document on one. The fragment still describes such operations
//! truthfully (`sendFileToChat`); they are taken out of what progenitor gets,
//! named in the generated file's header, and sent by the wrapper with
//! reqwest's multipart support. Their schemas stay, so their response types
//! are still generated.

use openapiv3::{OpenAPI, Operation, ReferenceOr};

const MULTIPART: &str = "multipart/form-data";

/// Removes every operation with a multipart request body; returns their
/// operation ids (or `METHOD path` when an operation has none), in order.
pub(crate) fn leave_out(spec: &mut OpenAPI) -> Vec<String> {
    let mut left_out = Vec::new();
    for (path, item) in spec.paths.paths.iter_mut() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        for (method, slot) in [
            ("GET", &mut item.get),
            ("PUT", &mut item.put),
            ("POST", &mut item.post),
            ("DELETE", &mut item.delete),
            ("PATCH", &mut item.patch),
        ] {
            if slot.as_ref().is_some_and(is_multipart) {
                let operation = slot.take().expect("checked above");
                left_out.push(
                    operation
                        .operation_id
                        .unwrap_or_else(|| format!("{method} {path}")),
                );
            }
        }
    }
    left_out
}

fn is_multipart(operation: &Operation) -> bool {
    matches!(
        &operation.request_body,
        Some(ReferenceOr::Item(body)) if body.content.contains_key(MULTIPART)
    )
}
