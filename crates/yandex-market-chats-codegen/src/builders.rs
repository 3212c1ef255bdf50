//! Documentation for the struct builders progenitor writes.
//!
//! With the builder interface, progenitor (typify) gives every type of the
//! `types` module a `builder()` returning `types::builder::<Type>`, and the
//! operation builders use them (`body_map`). There is no setting that keeps
//! the operation builders and drops the struct builders, so they stay; but
//! progenitor writes them without a word, and `Chat::builder()` returned a
//! type rustdoc could not explain. Here each `builder()`, each builder
//! struct and the module get documentation that names the type, says how to
//! finish it and where to find it (the SDK re-exports the module as
//! `yandex_market_chats::builder`).

use crate::accessors::is_impl_of;

/// Documents `types::builder`, its structs and every `builder()` in `types`.
///
/// # Errors
/// When progenitor wrote no `types` module.
pub(crate) fn document(file: &mut syn::File) -> Result<(), String> {
    let items = &mut crate::types_module(file)?
        .content
        .as_mut()
        .ok_or("the `types` module has no body")?
        .1;
    for item in items.iter_mut() {
        match item {
            syn::Item::Impl(own) => {
                let syn::Type::Path(path) = &*own.self_ty else {
                    continue;
                };
                let Some(name) = path.path.get_ident().map(ToString::to_string) else {
                    continue;
                };
                if !is_impl_of(own, &name) {
                    continue;
                }
                for inner in &mut own.items {
                    if let syn::ImplItem::Fn(f) = inner
                        && f.sig.ident == "builder"
                        && f.sig.inputs.is_empty()
                    {
                        let doc = builder_fn_doc(&name);
                        f.attrs.insert(0, syn::parse_quote!(#[doc = #doc]));
                    }
                }
            }
            syn::Item::Mod(module) if module.ident == "builder" => {
                module.attrs.retain(|attr| !attr.path().is_ident("doc"));
                let doc = MODULE_DOC;
                module.attrs.insert(0, syn::parse_quote!(#[doc = #doc]));
                let Some((_, inner)) = module.content.as_mut() else {
                    continue;
                };
                for item in inner {
                    if let syn::Item::Struct(strukt) = item {
                        let doc = builder_struct_doc(&strukt.ident.to_string());
                        strukt.attrs.insert(0, syn::parse_quote!(#[doc = #doc]));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

const MODULE_DOC: &str = "Builders for the types of this module: `Chat::builder()` returns a \
     [`builder::Chat`](Chat), and so on.\n\n\
     Set fields one at a time (each setter takes anything that converts into the field's \
     type, so ids and enums take literals), then finish with `try_into()` (or \
     `Chat::try_from(builder)`): it fails naming the first required field left unset. \
     Optional fields start as `None`, so a deprecated field need not be named. Made for test \
     fixtures and mock bodies; the generated operation builders use them too (`body_map`).\n\n\
     The SDK re-exports this module as `yandex_market_chats::builder`.";

fn builder_fn_doc(name: &str) -> String {
    format!(
        "Starts a [`builder::{name}`]: set its fields, then `try_into()` a `{name}` \
         (an error names the first required field left unset)."
    )
}

fn builder_struct_doc(name: &str) -> String {
    format!(
        "The builder of [`{name}`](super::{name}): from [`{name}::builder()`](super::{name}::builder) \
         or from a value (`From`). Each setter takes anything that converts into its field; \
         `try_into()` gives the `{name}`."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn builder_fns_structs_and_the_module_are_documented() {
        let mut file: syn::File = syn::parse_str(
            "pub mod types { pub struct Chat; impl Chat { pub fn builder() -> builder::Chat { Default::default() } } \
             impl Default for Chat { fn default() -> Self { Chat } } \
             /// Types for composing complex structures.\n pub mod builder { pub struct Chat; } }",
        )
        .unwrap();
        document(&mut file).unwrap();
        let text = quote!(#file).to_string();
        assert!(text.contains("Starts a [`builder::Chat`]"), "{text}");
        assert!(
            text.contains("The builder of [`Chat`](super::Chat)"),
            "{text}"
        );
        assert!(text.contains("yandex_market_chats::builder"), "{text}");
        assert!(!text.contains("composing complex structures"), "{text}");
        // A trait impl's functions are left alone.
        assert_eq!(text.matches("Starts a").count(), 1, "{text}");
    }
}
