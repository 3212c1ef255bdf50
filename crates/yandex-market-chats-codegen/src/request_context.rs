//! The per-request context the generated client carries in progenitor's
//! `inner` slot, and the hooks that use it.
//!
//! progenitor's `Client` takes a ready `reqwest::Client`, so headers chosen per
//! client (auth, `User-Agent`) cannot be baked into a caller's own
//! `reqwest::Client`; the pre hook adds them to each request. And when a body
//! fails to decode, progenitor's error keeps neither status nor headers; the
//! post hook records both here first.

use proc_macro2::TokenStream;
use quote::quote;

/// The type progenitor is told to use as `inner`.
pub(crate) fn type_path() -> TokenStream {
    quote!(crate::request_context::RequestContext)
}

/// The pre hook: adds the context's headers and drops progenitor's
/// `api-version` header, which the Market API does not define (its value
/// would only be the fragment's own version).
pub(crate) fn pre_hook() -> TokenStream {
    quote!(crate::request_context::RequestContext::before_send)
}

/// The post hook: records the response's status and headers.
pub(crate) fn post_hook() -> TokenStream {
    quote!(crate::request_context::RequestContext::after_send)
}

pub(crate) fn module() -> TokenStream {
    quote! {
        /// Per-request state for the generated [`Client`]: headers to add, and
        /// the status and headers of the response once it arrives.
        pub mod request_context {
            /// Headers to send with a request and, once it is answered, the
            /// response's status and headers.
            ///
            /// Create one per request (`Client::new_with_client` is cheap) to read
            /// [`RequestContext::response`] afterwards. Mark secret header values
            /// sensitive: `Debug` then prints `Sensitive` instead of the value.
            #[derive(Clone, Debug, Default)]
            pub struct RequestContext {
                headers: ::reqwest::header::HeaderMap,
                response: ::std::sync::OnceLock<(
                    ::reqwest::StatusCode,
                    ::reqwest::header::HeaderMap,
                )>,
            }

            impl RequestContext {
                /// A context that adds `headers` to the request.
                pub fn new(headers: ::reqwest::header::HeaderMap) -> Self {
                    Self { headers, response: ::std::sync::OnceLock::new() }
                }

                /// The status and headers of the response, once one arrived.
                pub fn response(
                    &self,
                ) -> ::std::option::Option<&(::reqwest::StatusCode, ::reqwest::header::HeaderMap)>
                {
                    self.response.get()
                }

                /// The pre hook.
                pub fn before_send(&self, request: &mut ::reqwest::Request) {
                    let headers = request.headers_mut();
                    headers.remove("api-version");
                    for (name, value) in &self.headers {
                        headers.insert(name.clone(), value.clone());
                    }
                }

                /// The post hook.
                pub fn after_send(&self, result: &::reqwest::Result<::reqwest::Response>) {
                    if let ::std::result::Result::Ok(response) = result {
                        let _ = self
                            .response
                            .set((response.status(), response.headers().clone()));
                    }
                }
            }
        }
    }
}
