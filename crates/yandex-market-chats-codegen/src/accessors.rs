//! Accessors progenitor does not write, added to the generated types on the
//! syntax tree: a text that may be absent read as `&str`.
//!
//! A message's text is optional on the wire (a message may carry only
//! files), so the field is `Option<String>`; what callers want to print is
//! the text or nothing: `message.text()` instead of
//! `message.message.as_deref().unwrap_or("")`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::names::rust_name;

/// One `&str` accessor over an optional string property.
struct TextAccessor {
    /// The schema's name in the fragment.
    schema: &'static str,
    /// The property's Rust field name.
    field: &'static str,
    /// The accessor's name.
    method: &'static str,
    /// Its documentation.
    doc: &'static str,
}

const TEXT_ACCESSORS: &[TextAccessor] = &[TextAccessor {
    schema: "ChatMessageDTO",
    field: "message",
    method: "text",
    doc: "The message's text, or `\"\"` when it has none (a message may carry only \
          files, in `payload`): `message.message.as_deref().unwrap_or(\"\")`.",
}];

/// Adds every accessor of [`TEXT_ACCESSORS`] to the `types` module, each in
/// its own `impl` right after the struct's own `impl` (or the struct).
///
/// # Errors
/// A message naming the schema and field when the struct or its
/// `Option<String>` field is missing: the fragment changed under the table.
pub(crate) fn add(file: &mut syn::File) -> Result<(), String> {
    let items = &mut crate::types_module(file)?
        .content
        .as_mut()
        .ok_or("the `types` module has no body")?
        .1;
    for accessor in TEXT_ACCESSORS {
        let name = rust_name(accessor.schema);
        let at = items
            .iter()
            .position(|item| matches!(item, syn::Item::Struct(s) if s.ident == name))
            .ok_or_else(|| {
                format!(
                    "components/schemas/{}: no struct {name} for the `{}()` accessor",
                    accessor.schema, accessor.method
                )
            })?;
        let syn::Item::Struct(strukt) = &items[at] else {
            unreachable!("found above");
        };
        let field = strukt
            .fields
            .iter()
            .find(|f| f.ident.as_ref().is_some_and(|i| i == accessor.field))
            .ok_or_else(|| {
                format!(
                    "components/schemas/{}: {name} has no field `{}` for the `{}()` accessor",
                    accessor.schema, accessor.field, accessor.method
                )
            })?;
        let ty = &field.ty;
        let expected = quote!(::std::option::Option<::std::string::String>).to_string();
        if quote!(#ty).to_string() != expected {
            return Err(format!(
                "components/schemas/{}: {name}.{} is `{}`, not an optional string, so `{}()` cannot read it",
                accessor.schema,
                accessor.field,
                quote!(#ty),
                accessor.method
            ));
        }
        // After the struct's own `impl` (progenitor's `builder()`), if any.
        let after = match items.get(at + 1) {
            Some(syn::Item::Impl(own)) if is_impl_of(own, &name) => at + 2,
            _ => at + 1,
        };
        items.insert(
            after,
            syn::parse2(text_impl(&name, accessor)).expect("valid impl"),
        );
    }
    Ok(())
}

fn text_impl(name: &str, accessor: &TextAccessor) -> TokenStream {
    let name = format_ident!("{name}");
    let field = format_ident!("{}", accessor.field);
    let method = format_ident!("{}", accessor.method);
    let doc = accessor.doc;
    quote! {
        impl #name {
            #[doc = #doc]
            pub fn #method(&self) -> &str {
                self.#field.as_deref().unwrap_or("")
            }
        }
    }
}

/// `impl Name { .. }`, not a trait impl.
pub(crate) fn is_impl_of(item: &syn::ItemImpl, name: &str) -> bool {
    item.trait_.is_none()
        && matches!(&*item.self_ty, syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(field: &str) -> syn::File {
        syn::parse_str(&format!(
            "pub mod types {{ pub struct ChatMessage {{ {field} }} \
             impl ChatMessage {{ pub fn builder() {{}} }} pub struct Other; }}"
        ))
        .unwrap()
    }

    #[test]
    fn the_accessor_follows_the_struct_s_own_impl() {
        let mut f = file("pub message: ::std::option::Option<::std::string::String>,");
        add(&mut f).unwrap();
        let text = quote!(#f).to_string();
        let builder = text.find("fn builder").unwrap();
        let accessor = text.find("pub fn text (& self) -> & str").unwrap();
        let other = text.find("struct Other").unwrap();
        assert!(builder < accessor && accessor < other, "{text}");
        assert!(text.contains("self . message . as_deref () . unwrap_or (\"\")"));
    }

    #[test]
    fn a_missing_or_retyped_field_is_an_error() {
        let error = add(&mut file("pub body: u8,")).unwrap_err();
        assert!(
            error.contains("ChatMessageDTO") && error.contains("`message`"),
            "{error}"
        );
        let error = add(&mut file("pub message: ::std::string::String,")).unwrap_err();
        assert!(error.contains("not an optional string"), "{error}");
    }
}
