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

/// The post hook: records the response's status (and headers when it failed).
pub(crate) fn post_hook() -> TokenStream {
    quote!(crate::request_context::RequestContext::after_send)
}

pub(crate) fn module() -> TokenStream {
    quote! {
        /// Per-request state for the generated [`Client`]: headers to add, and
        /// what the response said before its body was decoded.
        pub mod request_context {
            /// Headers to send with a request and, once it is answered, the
            /// response's status (and its headers, for a non-success status).
            ///
            /// Create one per request (`Client::new_with_client` is cheap) to read
            /// [`RequestContext::status`] afterwards. Mark secret header values
            /// sensitive: `Debug` then prints `Sensitive` instead of the value.
            #[derive(Clone, Debug, Default)]
            pub struct RequestContext {
                headers: ::std::sync::Arc<::reqwest::header::HeaderMap>,
                origin: ::std::option::Option<::std::sync::Arc<::reqwest::Url>>,
                response: ::std::sync::OnceLock<(
                    ::reqwest::StatusCode,
                    ::std::option::Option<::reqwest::header::HeaderMap>,
                )>,
                foreign_origin: ::std::sync::OnceLock<::std::string::String>,
            }

            impl RequestContext {
                /// A context that adds `headers` to the request. The map is shared,
                /// so one map can serve every request of a client.
                pub fn new(headers: ::std::sync::Arc<::reqwest::header::HeaderMap>) -> Self {
                    Self {
                        headers,
                        origin: ::std::option::Option::None,
                        response: ::std::sync::OnceLock::new(),
                        foreign_origin: ::std::sync::OnceLock::new(),
                    }
                }

                /// Records it when a response comes from another origin (scheme,
                /// host, port) than `base`: the HTTP client followed a redirect,
                /// and the headers went with it.
                pub fn with_origin(mut self, base: ::std::sync::Arc<::reqwest::Url>) -> Self {
                    self.origin = ::std::option::Option::Some(base);
                    self
                }

                /// The origin a response came from, when it is not the expected
                /// one (see [`RequestContext::with_origin`]).
                pub fn foreign_origin(&self) -> ::std::option::Option<&str> {
                    self.foreign_origin.get().map(::std::string::String::as_str)
                }

                /// The status of the response, once one arrived.
                pub fn status(&self) -> ::std::option::Option<::reqwest::StatusCode> {
                    self.response.get().map(|(status, _)| *status)
                }

                /// The headers of a response with a non-success status (there a
                /// body that fails to decode would lose them). A success's
                /// headers are on its `ResponseValue`, so they are not copied here.
                pub fn error_headers(&self) -> ::std::option::Option<&::reqwest::header::HeaderMap> {
                    self.response.get().and_then(|(_, headers)| headers.as_ref())
                }

                /// The pre hook.
                pub fn before_send(&self, request: &mut ::reqwest::Request) {
                    let headers = request.headers_mut();
                    headers.remove("api-version");
                    for (name, value) in self.headers.iter() {
                        headers.insert(name.clone(), value.clone());
                    }
                }

                /// The post hook.
                pub fn after_send(&self, result: &::reqwest::Result<::reqwest::Response>) {
                    if let ::std::result::Result::Ok(response) = result {
                        let status = response.status();
                        let headers = (!status.is_success()).then(|| response.headers().clone());
                        let _ = self.response.set((status, headers));
                        if let ::std::option::Option::Some(base) = &self.origin {
                            let url = response.url();
                            if url.scheme() != base.scheme()
                                || url.host_str() != base.host_str()
                                || url.port_or_known_default() != base.port_or_known_default()
                            {
                                let origin = url.origin().ascii_serialization();
                                let _ = self.foreign_origin.set(origin);
                            }
                        }
                    }
                }
            }
        }
    }
}
