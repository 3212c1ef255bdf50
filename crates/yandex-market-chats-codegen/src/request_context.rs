//! The context the generated client carries in progenitor's `inner` slot,
//! and the hooks that use it.
//!
//! progenitor's `Client` takes a ready `reqwest::Client`, so headers chosen per
//! client (auth, `User-Agent`) cannot be baked into a caller's own
//! `reqwest::Client`; the pre hook adds them to each request. And when a body
//! fails to decode, progenitor's error keeps neither status nor headers; the
//! post hook records both in a task-local slot that `capture` opens around
//! one call, so one client (built once) serves concurrent calls.

use proc_macro2::TokenStream;
use quote::quote;

/// The type progenitor is told to use as `inner`.
pub(crate) fn type_path() -> TokenStream {
    quote!(crate::request_context::RequestContext)
}

/// The pre hook: adds the context's headers.
pub(crate) fn pre_hook() -> TokenStream {
    quote!(crate::request_context::RequestContext::before_send)
}

/// The post hook: records the response's status (and headers when it failed).
pub(crate) fn post_hook() -> TokenStream {
    quote!(crate::request_context::RequestContext::after_send)
}

pub(crate) fn module() -> TokenStream {
    quote! {
        /// What the generated [`Client`] adds to every request, and what a
        /// response said before its body was decoded.
        pub mod request_context {
            /// Headers to add to every request (auth, `User-Agent`) and the
            /// origin the requests are meant for. Built once per client.
            ///
            /// Mark secret header values sensitive: `Debug` then prints
            /// `Sensitive` instead of the value.
            #[derive(Clone, Debug, Default)]
            pub struct RequestContext {
                headers: ::std::sync::Arc<::reqwest::header::HeaderMap>,
                origin: ::std::option::Option<::std::sync::Arc<::reqwest::Url>>,
            }

            impl RequestContext {
                /// A context that adds `headers` to every request.
                pub fn new(headers: ::std::sync::Arc<::reqwest::header::HeaderMap>) -> Self {
                    Self {
                        headers,
                        origin: ::std::option::Option::None,
                    }
                }

                /// Notes in [`ResponseInfo::foreign_origin`] when a response
                /// comes from another origin (scheme, host, port) than `base`: the
                /// HTTP client followed a redirect, and the headers went with it.
                pub fn with_origin(mut self, base: ::std::sync::Arc<::reqwest::Url>) -> Self {
                    self.origin = ::std::option::Option::Some(base);
                    self
                }

                /// The pre hook: adds the headers.
                pub fn before_send(&self, request: &mut ::reqwest::Request) {
                    let headers = request.headers_mut();
                    for (name, value) in self.headers.iter() {
                        headers.insert(name.clone(), value.clone());
                    }
                }

                /// The post hook: fills the [`ResponseInfo`] of the request when
                /// it runs inside [`capture`].
                pub fn after_send(&self, result: &::reqwest::Result<::reqwest::Response>) {
                    let ::std::result::Result::Ok(response) = result else {
                        return;
                    };
                    let status = response.status();
                    let foreign_origin = self.origin.as_ref().and_then(|base| {
                        let url = response.url();
                        let same = url.scheme() == base.scheme()
                            && url.host_str() == base.host_str()
                            && url.port_or_known_default() == base.port_or_known_default();
                        (!same).then(|| url.origin().ascii_serialization())
                    });
                    let _ = CURRENT.try_with(|info| {
                        *info.borrow_mut() = ResponseInfo {
                            status: ::std::option::Option::Some(status),
                            // A success's headers are on its `ResponseValue`.
                            headers: (!status.is_success()).then(|| response.headers().clone()),
                            foreign_origin,
                        };
                    });
                }
            }

            /// What one response said before its body was decoded: when a body
            /// fails to decode, progenitor's error keeps neither status nor
            /// headers. Filled by the post hook for a request sent inside
            /// [`capture`].
            #[derive(Clone, Debug, Default)]
            pub struct ResponseInfo {
                status: ::std::option::Option<::reqwest::StatusCode>,
                headers: ::std::option::Option<::reqwest::header::HeaderMap>,
                foreign_origin: ::std::option::Option<::std::string::String>,
            }

            impl ResponseInfo {
                /// The status of the response, once one arrived.
                pub fn status(&self) -> ::std::option::Option<::reqwest::StatusCode> {
                    self.status
                }

                /// The headers of a response with a non-success status.
                pub fn error_headers(&self) -> ::std::option::Option<&::reqwest::header::HeaderMap> {
                    self.headers.as_ref()
                }

                /// The origin the response came from, when it is not the one
                /// the context expected (see [`RequestContext::with_origin`]).
                pub fn foreign_origin(&self) -> ::std::option::Option<&str> {
                    self.foreign_origin.as_deref()
                }
            }

            ::tokio::task_local! {
                static CURRENT: ::std::cell::RefCell<ResponseInfo>;
            }

            /// Runs one generated call (its `send()` future) and returns its
            /// result with the [`ResponseInfo`] of its response. The client
            /// and its context stay shared; the info is the call's own.
            pub async fn capture<F: ::std::future::Future>(call: F) -> (F::Output, ResponseInfo) {
                CURRENT
                    .scope(::std::cell::RefCell::default(), async move {
                        let output = call.await;
                        (output, CURRENT.with(|info| info.take()))
                    })
                    .await
            }
        }
    }
}

/// Drops the `api-version` header progenitor adds to every request (it has
/// no setting for it): the Market API defines none, and its value would only
/// be the fragment's own version. Done on the syntax tree, so that the
/// generated client never builds the header instead of removing it on
/// every request.
pub(crate) fn drop_api_version_header(file: &mut syn::File) {
    use syn::visit_mut::VisitMut;

    struct Drop;
    impl VisitMut for Drop {
        fn visit_block_mut(&mut self, block: &mut syn::Block) {
            let before = block.stmts.len();
            block.stmts.retain(|stmt| {
                let text = quote!(#stmt).to_string();
                !(text.contains("\"api-version\"") && text.contains("append"))
            });
            // The map is then only filled when the operation has header
            // parameters; otherwise its `mut` would warn.
            let appends = block
                .stmts
                .iter()
                .any(|stmt| quote!(#stmt).to_string().contains("header_map . append"));
            if block.stmts.len() < before && !appends {
                for stmt in &mut block.stmts {
                    if let syn::Stmt::Local(local) = stmt
                        && let syn::Pat::Ident(ident) = &mut local.pat
                        && ident.ident == "header_map"
                    {
                        ident.mutability = None;
                    }
                }
            }
            syn::visit_mut::visit_block_mut(self, block);
        }
    }
    Drop.visit_file_mut(file);
}
