//! Client configuration: credentials, base URL, timeouts, limits. Every check
//! happens in [`ClientBuilder::build`]; setters never fail.

use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use yandex_market_chats_api::request_context::RequestContext;

use crate::limits::{DynLimiter, InProcessLimiter, Limiter, LimiterSettings, Quotas};
use crate::{Client, Error, Operation, RetryPolicy};

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://api.partner.market.yandex.ru";

/// The `User-Agent` every request carries.
pub(crate) const USER_AGENT_VALUE: &str = concat!(
    env!("CARGO_PKG_NAME"),
    "/",
    env!("CARGO_PKG_VERSION"),
    " (Rust)"
);

/// getChats' hourly quota today (the documentation page still says 10,000).
pub const DEFAULT_HOURLY_QUOTA: u32 = Operation::GetChats.default_hourly_quota();

/// The API's limit on parallel requests per business.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;

/// How many businesses the default limiter keeps state for (plus those with
/// a request in flight); see [`ClientBuilder::max_tracked_businesses`].
pub const DEFAULT_MAX_TRACKED_BUSINESSES: usize = 10_000;

/// The environment variables [`ClientBuilder::from_env`] reads.
const ENV_API_KEY: &str = "YANDEX_MARKET_API_KEY";
const ENV_OAUTH_TOKEN: &str = "YANDEX_MARKET_OAUTH_TOKEN";
const ENV_BASE_URL: &str = "YANDEX_MARKET_BASE_URL";

/// A credential. Its `Debug` never shows the value.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// Builds a [`Client`]. Start with [`Client::builder`], or with
/// [`ClientBuilder::from_env`] to take the credential and the base URL from
/// the environment and add settings on top.
///
/// ```
/// use std::time::Duration;
/// use yandex_market_chats::{Client, RetryPolicy};
///
/// let client = Client::builder()
///     .api_key("my-api-key")
///     .attempt_timeout(Duration::from_secs(10))
///     .retry(RetryPolicy::default().max_attempts(5))
///     .build()?;
/// # Ok::<(), yandex_market_chats::Error>(())
/// ```
#[derive(Clone)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct ClientBuilder {
    api_key: Option<Secret>,
    oauth_token: Option<Secret>,
    base_url: Option<String>,
    http_client: Option<reqwest::Client>,
    connect_timeout: Duration,
    attempt_timeout: Duration,
    total_timeout: Duration,
    retry: RetryPolicy,
    quotas: Quotas,
    max_in_flight: usize,
    max_tracked_businesses: usize,
    limiter: Option<Arc<dyn DynLimiter>>,
    application: Option<String>,
    /// Read from the environment (`from_env`): a missing credential is
    /// reported naming the variables.
    from_env: bool,
    /// The credential came from the environment, so one set on the builder
    /// replaces it.
    credential_from_env: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key)
            .field("oauth_token", &self.oauth_token)
            .field("base_url", &self.base_url)
            .field("custom_http_client", &self.http_client.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("retry", &self.retry)
            .field("quotas", &self.quotas)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_tracked_businesses", &self.max_tracked_businesses)
            .field("custom_limiter", &self.limiter.is_some())
            .field("application", &self.application)
            .field("from_env", &self.from_env)
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            api_key: None,
            oauth_token: None,
            base_url: None,
            http_client: None,
            connect_timeout: Duration::from_secs(5),
            // The server gives up on a request after about 10 s.
            attempt_timeout: Duration::from_secs(15),
            total_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            quotas: Operation::ALL.map(|op| Some(op.default_hourly_quota())),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_tracked_businesses: DEFAULT_MAX_TRACKED_BUSINESSES,
            limiter: None,
            application: None,
            from_env: false,
            credential_from_env: false,
        }
    }
}

impl ClientBuilder {
    /// A builder with the settings of the environment, to add more on top
    /// before [`build`](Self::build):
    ///
    /// - `YANDEX_MARKET_API_KEY`: the API key ([`api_key`](Self::api_key)), or
    /// - `YANDEX_MARKET_OAUTH_TOKEN`: an OAuth token
    ///   ([`oauth_token`](Self::oauth_token)); both set is an error naming
    ///   both;
    /// - `YANDEX_MARKET_BASE_URL` (optional): the base URL
    ///   ([`base_url`](Self::base_url)).
    ///
    /// A variable set to the empty string counts as unset. Settings made
    /// afterwards win: a credential set with `api_key` or `oauth_token`
    /// replaces the environment's, `base_url` its URL. With no credential
    /// from either, `build()` fails naming the variables.
    /// [`Client::from_env`] is `ClientBuilder::from_env()?.build()`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use yandex_market_chats::ClientBuilder;
    ///
    /// let client = ClientBuilder::from_env()?
    ///     .user_agent("help-desk-bridge/2.1")
    ///     .total_timeout(Duration::from_secs(30))
    ///     .build()?;
    /// # Ok::<(), yandex_market_chats::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when both `YANDEX_MARKET_API_KEY` and
    /// `YANDEX_MARKET_OAUTH_TOKEN` are set, or a variable is not valid
    /// UTF-8 (the message names it, never its value). What the values
    /// themselves must be is checked by `build()`.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// [`ClientBuilder::from_env`] with `lookup` as the environment, so that
    /// tests need not touch the process's.
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, Error> {
        let read = |name: &str| -> Result<Option<String>, Error> {
            match lookup(name) {
                None => Ok(None),
                Some(value) if value.is_empty() => Ok(None),
                Some(value) => value
                    .into_string()
                    .map(Some)
                    .map_err(|_| Error::invalid_input(format!("{name} is not valid UTF-8"))),
            }
        };
        let (key, token, url) = (
            read(ENV_API_KEY)?,
            read(ENV_OAUTH_TOKEN)?,
            read(ENV_BASE_URL)?,
        );
        let mut builder = Self {
            from_env: true,
            ..Self::default()
        };
        match (key, token) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_input(format!(
                    "both {ENV_API_KEY} and {ENV_OAUTH_TOKEN} are set: unset one (the client sends exactly one credential)"
                )));
            }
            (Some(key), None) => builder.api_key = Some(Secret(key)),
            (None, Some(token)) => builder.oauth_token = Some(Secret(token)),
            (None, None) => {}
        }
        builder.credential_from_env = builder.api_key.is_some() || builder.oauth_token.is_some();
        builder.base_url = url;
        Ok(builder)
    }

    /// A credential set on the builder replaces one from the environment.
    fn replace_env_credential(&mut self) {
        if std::mem::take(&mut self.credential_from_env) {
            self.api_key = None;
            self.oauth_token = None;
        }
    }

    /// Authorize with an API key (`Api-Key` header). Recommended.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.replace_env_credential();
        self.api_key = Some(Secret(key.into()));
        self
    }

    /// Authorize with an OAuth token (`Authorization: Bearer`), the older way.
    pub fn oauth_token(mut self, token: impl Into<String>) -> Self {
        self.replace_env_credential();
        self.oauth_token = Some(Secret(token.into()));
        self
    }

    /// Your application's name (and version), appended to the SDK's
    /// `User-Agent`, e.g. `"help-desk-bridge/2.1"`: tells your processes
    /// apart in logs. Printable ASCII only (checked by `build()`).
    pub fn user_agent(mut self, application: impl Into<String>) -> Self {
        self.application = Some(application.into());
        self
    }

    /// Where the API lives; default [`DEFAULT_BASE_URL`]. `http://` is only
    /// accepted for loopback hosts (`localhost`, `127.0.0.0/8`, `::1`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Use this `reqwest::Client` (proxies, root certificates, ...). The
    /// connect timeout then is the one it was built with.
    ///
    /// Build it with `redirect(reqwest::redirect::Policy::none())`: the API
    /// documents no redirects, and reqwest's default policy would send the
    /// `Api-Key` header to whatever host a redirect names. A response that
    /// comes from another origin than the base URL (a redirect was followed)
    /// fails with [`Error::Redirect`]; the client built by default follows
    /// none.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// How long to wait for a TCP/TLS connection; default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt (send and read the whole body) may take; default 15 s.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// How long one request (one page of a listing, or one call such as
    /// `send_message`) may take, retries and waits included; default 120 s.
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }

    /// How failed requests are retried; see [`RetryPolicy`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The client-side hourly quota of getChats per business, shared by
    /// clones; `None` switches it off. Default [`DEFAULT_HOURLY_QUOTA`].
    pub fn hourly_quota(self, requests_per_hour: Option<u32>) -> Self {
        self.operation_quota(Operation::GetChats, requests_per_hour)
    }

    /// The client-side hourly quota of one operation per business, shared by
    /// clones; `None` switches it off. Defaults:
    /// [`Operation::default_hourly_quota`].
    pub fn operation_quota(mut self, operation: Operation, requests_per_hour: Option<u32>) -> Self {
        self.quotas[operation.index()] = requests_per_hour;
        self
    }

    /// At most this many requests in flight per business, shared by clones;
    /// default [`DEFAULT_MAX_IN_FLIGHT`] (the API's limit).
    pub fn max_in_flight_per_business(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// How many businesses the default limiter keeps state for; default
    /// [`DEFAULT_MAX_TRACKED_BUSINESSES`]. Past it, idle businesses used
    /// longest ago are forgotten (their quota windows start afresh and the
    /// server's headers correct them); businesses with a request in flight
    /// or waiting are always kept.
    pub fn max_tracked_businesses(mut self, n: usize) -> Self {
        self.max_tracked_businesses = n;
        self
    }

    /// Use this [`Limiter`] for the client-side limits instead of a new
    /// [`InProcessLimiter`]. `build()` hands it the limit settings of this
    /// builder ([`Limiter::configure`]).
    pub fn limiter(mut self, limiter: impl Limiter) -> Self {
        self.limiter = Some(Arc::new(limiter));
        self
    }

    /// Checks everything and builds the client.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when there is no credential or two, a
    /// credential is empty or cannot be an HTTP header value, the base URL is
    /// malformed or plain `http://` to a non-loopback host, a timeout is zero,
    /// or a limit is zero.
    pub fn build(self) -> Result<Client, Error> {
        let (auth, credential) = match (&self.api_key, &self.oauth_token) {
            (Some(key), None) => (header("api-key", "API key", "", key)?, Credential::ApiKey),
            (None, Some(token)) => (
                header("authorization", "OAuth token", "Bearer ", token)?,
                Credential::OAuthToken,
            ),
            (None, None) if self.from_env => {
                return Err(Error::invalid_input(format!(
                    "no credentials: set {ENV_API_KEY} (or {ENV_OAUTH_TOKEN}) in the environment, or call `api_key` (or `oauth_token`)"
                )));
            }
            (None, None) => {
                return Err(Error::invalid_input(
                    "no credentials: set an API key (`api_key`) or an OAuth token (`oauth_token`)",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(Error::invalid_input(
                    "both an API key and an OAuth token are set: use exactly one",
                ));
            }
        };
        let base_url = check_base_url(self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL))?;
        for (name, value) in [
            ("connect timeout", self.connect_timeout),
            ("attempt timeout", self.attempt_timeout),
            ("total timeout", self.total_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::invalid_input(format!(
                    "the {name} must be above zero"
                )));
            }
        }
        if let Some(op) = Operation::ALL
            .into_iter()
            .find(|op| self.quotas[op.index()] == Some(0))
        {
            return Err(Error::invalid_input(format!(
                "the hourly quota of {op} must be at least 1 (use `None` to switch it off)"
            )));
        }
        self.retry.check()?;

        let settings = LimiterSettings::new(
            self.max_in_flight,
            self.attempt_timeout,
            self.retry.quota_reset_margin_value(),
            self.max_tracked_businesses,
            self.quotas,
        );
        let limiter = self
            .limiter
            .unwrap_or_else(|| Arc::new(InProcessLimiter::new()));
        limiter.configure(&settings)?;

        let http = match self.http_client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                // The API documents no redirects; following one would send the
                // key to whatever host it names (reqwest strips only
                // `Authorization` and cookies).
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Transport {
                    message: format!("cannot build the HTTP client: {e}"),
                    before_sending: true,
                    source: Some(Box::new(e)),
                })?,
        };
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(auth.0, auth.1);
        let user_agent = match &self.application {
            None => HeaderValue::from_static(USER_AGENT_VALUE),
            Some(application) => {
                let value = format!("{USER_AGENT_VALUE} {application}");
                HeaderValue::from_str(&value)
                    .ok()
                    .filter(|_| {
                        application
                            .chars()
                            .all(|c| c.is_ascii_graphic() || c == ' ')
                    })
                    .ok_or_else(|| {
                        Error::invalid_input(format!(
                            "user_agent {application:?} must be printable ASCII"
                        ))
                    })?
            }
        };
        headers.insert(USER_AGENT, user_agent);

        let secret = self.api_key.or(self.oauth_token).expect("checked above");
        let origin = Arc::new(reqwest::Url::parse(&base_url).map_err(|e| {
            Error::invalid_input(format!("base URL {base_url:?} is malformed: {e}"))
        })?);
        // One generated client for every request: the context adds the
        // headers and notes responses from another origin.
        let api = yandex_market_chats_api::Client::new_with_client(
            &base_url,
            http,
            RequestContext::new(Arc::new(headers)).with_origin(origin),
        );
        Ok(Client::from_config(Config {
            api,
            base_url,
            secret,
            credential,
            attempt_timeout: self.attempt_timeout,
            total_timeout: self.total_timeout,
            retry: self.retry,
            limiter,
        }))
    }
}

/// Which kind of credential a client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Credential {
    /// An API key (`Api-Key` header).
    ApiKey,
    /// An OAuth token (`Authorization: Bearer`).
    OAuthToken,
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ApiKey => "API key",
            Self::OAuthToken => "OAuth token",
        })
    }
}

/// What a built client holds; checked, immutable.
pub(crate) struct Config {
    /// The generated client, with the auth and `User-Agent` headers (the
    /// auth value marked sensitive) and the base URL's origin.
    pub api: yandex_market_chats_api::Client,
    pub base_url: String,
    /// Kept only to scrub it from server-derived text.
    pub secret: Secret,
    pub credential: Credential,
    pub attempt_timeout: Duration,
    pub total_timeout: Duration,
    pub retry: RetryPolicy,
    pub limiter: Arc<dyn DynLimiter>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("auth", &self.secret)
            .field("credential", &self.credential)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The auth header; `prefix` goes before the secret (`Bearer `).
fn header(
    name: &'static str,
    what: &str,
    prefix: &str,
    secret: &Secret,
) -> Result<(HeaderName, HeaderValue), Error> {
    let value = secret.expose();
    if value.trim().is_empty() {
        return Err(Error::invalid_input(format!(
            "the {what} is empty or only whitespace"
        )));
    }
    // HTTP allows a tab inside a header value; no credential holds one, so
    // every control character is refused, not only those HTTP forbids.
    let control = value.chars().any(char::is_control);
    let mut value = HeaderValue::from_str(&format!("{prefix}{value}"))
        .ok()
        .filter(|_| !control)
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "the {what} contains characters an HTTP header cannot carry (newline or other control characters)"
            ))
        })?;
    // Keeps the value out of reqwest's and hyper's Debug output and logs.
    value.set_sensitive(true);
    Ok((HeaderName::from_static(name), value))
}

/// Parses and checks a base URL; returns it without a trailing slash.
/// Messages quote the URL only once it is known to carry no credentials.
fn check_base_url(raw: &str) -> Result<String, Error> {
    let shown = redact_userinfo(raw);
    let url = reqwest::Url::parse(raw)
        .map_err(|e| Error::invalid_input(format!("base URL {shown:?} is malformed: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_input(
            "the base URL must not carry credentials (user name or password); set the key with `api_key`",
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Error::invalid_input(format!("base URL {shown:?} has no host")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => {
            return Err(Error::invalid_input(format!(
                "base URL {shown:?} uses plain http to a remote host; use https (http is only allowed for localhost, 127.0.0.0/8 and ::1)"
            )));
        }
        other => {
            return Err(Error::invalid_input(format!(
                "base URL {shown:?} has scheme {other:?}; use https"
            )));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid_input(format!(
            "base URL {shown:?} must not carry a query or a fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `raw` with anything that may be userinfo (before an `@` in the
/// authority) replaced, for messages about a URL that did not parse.
fn redact_userinfo(raw: &str) -> String {
    let (scheme, rest) = raw.split_once("://").unwrap_or(("", raw));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let sep = if scheme.is_empty() && !raw.contains("://") {
                ""
            } else {
                "://"
            };
            format!("{scheme}{sep}<redacted>@{}", &rest[at + 1..])
        }
        None => raw.to_owned(),
    }
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment of `(name, value)` pairs.
    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn built(vars: &[(&str, &str)]) -> Result<Client, Error> {
        ClientBuilder::from_lookup(env(vars))?.build()
    }

    #[test]
    fn from_env_reads_the_key_or_the_token_and_the_base_url() {
        let client = built(&[(ENV_API_KEY, "key-1")]).unwrap();
        assert_eq!(client.inner.config.credential, Credential::ApiKey);
        assert_eq!(client.base_url(), DEFAULT_BASE_URL);

        let client = built(&[
            (ENV_OAUTH_TOKEN, "token-1"),
            (ENV_BASE_URL, "http://127.0.0.1:8080/"),
        ])
        .unwrap();
        assert_eq!(client.inner.config.credential, Credential::OAuthToken);
        assert_eq!(client.base_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn from_env_with_both_credentials_names_both_and_neither_value() {
        let error = ClientBuilder::from_lookup(env(&[
            (ENV_API_KEY, "secret-key"),
            (ENV_OAUTH_TOKEN, "secret-token"),
        ]))
        .unwrap_err();
        assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains(ENV_API_KEY) && text.contains(ENV_OAUTH_TOKEN),
            "{text}"
        );
        assert!(!text.contains("secret-"), "{text}");
    }

    #[test]
    fn from_env_without_a_credential_fails_at_build_naming_the_variables() {
        let builder = ClientBuilder::from_lookup(env(&[])).unwrap();
        let text = builder.clone().build().unwrap_err().to_string();
        assert!(
            text.contains(ENV_API_KEY) && text.contains(ENV_OAUTH_TOKEN),
            "{text}"
        );
        // A credential set on the builder is enough.
        assert!(builder.api_key("key").build().is_ok());
        // Empty variables count as unset, also beside a set one.
        let text = built(&[(ENV_API_KEY, ""), (ENV_OAUTH_TOKEN, "")])
            .unwrap_err()
            .to_string();
        assert!(text.starts_with("invalid input: no credentials"), "{text}");
        let client = built(&[(ENV_API_KEY, "key"), (ENV_OAUTH_TOKEN, "")]).unwrap();
        assert_eq!(client.inner.config.credential, Credential::ApiKey);
    }

    #[test]
    fn settings_on_top_of_the_environment_win() {
        let vars = [
            (ENV_API_KEY, "env-key"),
            (ENV_BASE_URL, "http://127.0.0.1:1"),
        ];
        let client = ClientBuilder::from_lookup(env(&vars))
            .unwrap()
            .base_url("http://127.0.0.1:2")
            .user_agent("bot/1.0")
            .total_timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:2");
        assert_eq!(client.inner.config.total_timeout, Duration::from_secs(3));

        // A credential set on the builder replaces the environment's, of
        // either kind...
        let client = ClientBuilder::from_lookup(env(&vars))
            .unwrap()
            .oauth_token("explicit")
            .build()
            .unwrap();
        assert_eq!(client.inner.config.credential, Credential::OAuthToken);
        assert_eq!(client.inner.config.secret.expose(), "explicit");
        // ...but two set on the builder are still two.
        let error = ClientBuilder::from_lookup(env(&vars))
            .unwrap()
            .api_key("a")
            .oauth_token("b")
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("both"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_variable_that_is_not_utf8_is_named() {
        use std::os::unix::ffi::OsStringExt;
        let lookup =
            |name: &str| (name == ENV_OAUTH_TOKEN).then(|| OsString::from_vec(vec![b't', 0xff]));
        let text = ClientBuilder::from_lookup(lookup).unwrap_err().to_string();
        assert!(
            text.contains(ENV_OAUTH_TOKEN) && text.contains("UTF-8"),
            "{text}"
        );
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_repeating_them() {
        for raw in [
            "https://:hunter2@api.example",
            "https://user:hunter2@api.example",
            "https://user@api.example",
            "http://:hunter2@127.0.0.1:1",
            "https://:hunter2@bad host",
        ] {
            let error = check_base_url(raw).unwrap_err().to_string();
            assert!(!error.contains("hunter2"), "{error}");
            assert!(
                !error.contains("user@") && !error.contains("user:"),
                "{error}"
            );
        }
    }

    #[test]
    fn loopback_hosts() {
        for ok in [
            "http://localhost:1",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:80/",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://128.0.0.1",
            "ftp://localhost",
            "not a url",
            "https://",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_base_url("https://a.example/x/").unwrap(),
            "https://a.example/x"
        );
    }

    #[test]
    fn every_setting_shows_in_debug_and_no_secret_does() {
        let builder = Client::builder()
            .api_key("the-key")
            .base_url("http://127.0.0.1:9")
            .http_client(reqwest::Client::new())
            .connect_timeout(Duration::from_secs(2))
            .attempt_timeout(Duration::from_secs(3))
            .total_timeout(Duration::from_secs(4))
            .retry(RetryPolicy::default().max_attempts(2))
            .hourly_quota(Some(77))
            .operation_quota(Operation::GetChat, None)
            .max_in_flight_per_business(3)
            .max_tracked_businesses(9)
            .limiter(InProcessLimiter::new())
            .user_agent("bridge/1.0");
        let shown = format!("{builder:?}");
        for part in [
            "ClientBuilder { api_key: Some(<redacted>), oauth_token: None",
            "base_url: Some(\"http://127.0.0.1:9\")",
            "custom_http_client: true",
            "connect_timeout: 2s",
            "attempt_timeout: 3s",
            "total_timeout: 4s",
            "max_attempts: 2",
            "quotas: [Some(77), None,",
            "max_in_flight: 3",
            "max_tracked_businesses: 9",
            "custom_limiter: true",
            "application: Some(\"bridge/1.0\")",
            "from_env: false",
        ] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
        assert!(!shown.contains("the-key"), "{shown}");
        let shown = format!("{:?}", builder.build().unwrap());
        for part in [
            "Client { config: Config { base_url: \"http://127.0.0.1:9\"",
            "auth: <redacted>",
            "credential: ApiKey",
            "attempt_timeout: 3s",
            "total_timeout: 4s",
            "max_attempts: 2",
        ] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
        assert!(!shown.contains("the-key"), "{shown}");
        let shown = format!("{:?}", Client::builder().oauth_token("tok-1"));
        assert!(shown.contains("oauth_token: Some(<redacted>)") && !shown.contains("tok-1"));
    }

    #[test]
    fn credentials_are_named_in_words() {
        assert_eq!(Credential::ApiKey.to_string(), "API key");
        assert_eq!(Credential::OAuthToken.to_string(), "OAuth token");
    }

    #[test]
    fn a_builder_without_a_credential_says_which_methods_set_one() {
        let error = Client::builder().build().unwrap_err().to_string();
        assert!(
            error.contains("call") || error.contains("`api_key`"),
            "{error}"
        );
        assert!(!error.contains(ENV_API_KEY), "{error}");
        // From the environment, the variables are named.
        if std::env::var_os(ENV_API_KEY).is_none() && std::env::var_os(ENV_OAUTH_TOKEN).is_none() {
            let error = ClientBuilder::from_env()
                .unwrap()
                .build()
                .unwrap_err()
                .to_string();
            assert!(error.contains(ENV_API_KEY), "{error}");
        }
    }

    #[test]
    fn an_application_name_is_printable_ascii_spaces_allowed() {
        let with = |name: &str| Client::builder().api_key("k").user_agent(name).build();
        with("help desk/2.1").unwrap();
        for bad in ["tab\there", "bell\u{7}", "caf\u{e9}"] {
            let error = with(bad).unwrap_err().to_string();
            assert!(error.contains("must be printable ASCII"), "{error}");
        }
    }

    #[test]
    fn only_what_may_be_userinfo_is_redacted() {
        for (raw, shown) in [
            (
                "https://user:pw@bad host/x",
                "https://<redacted>@bad host/x",
            ),
            ("user:pw@host", "<redacted>@host"),
            ("://user@host", "://<redacted>@host"),
            ("https://host/a@b", "https://host/a@b"),
            ("https://host?q=a@b", "https://host?q=a@b"),
            ("plain", "plain"),
        ] {
            assert_eq!(redact_userinfo(raw), shown, "{raw}");
        }
    }

    #[test]
    fn a_base_url_with_a_query_or_a_fragment_is_refused() {
        for raw in ["https://api.example/?a=1", "https://api.example/#top"] {
            let error = check_base_url(raw).unwrap_err().to_string();
            assert!(
                error.contains("must not carry a query or a fragment"),
                "{error}"
            );
        }
        assert_eq!(
            check_base_url("https://api.example/v1/").unwrap(),
            "https://api.example/v1"
        );
    }
}
