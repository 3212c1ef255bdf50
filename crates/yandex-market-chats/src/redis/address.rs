//! How a Redis address is shown in `Debug`, errors and logs: built from
//! the parsed parts only (scheme, host and port or socket path, database),
//! so no user name or password, wherever the URL carried it
//! (`redis://user:pw@host`, `redis+unix:///path?pass=pw`), can show.

use ::redis::{ConnectionAddr, ConnectionInfo};

/// A Redis address as it may be shown, and the secrets to keep out of any
/// message that might echo them (a driver's error).
#[derive(Clone)]
pub(crate) struct Address {
    shown: String,
    secrets: Vec<String>,
}

impl Address {
    pub(crate) fn new(info: &ConnectionInfo) -> Self {
        let settings = info.redis_settings();
        Self {
            shown: shown(info),
            secrets: [settings.username(), settings.password()]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// `message` with the address's user name and password replaced.
    pub(crate) fn scrub(&self, message: &str) -> String {
        self.secrets.iter().fold(message.to_owned(), |m, secret| {
            m.replace(secret.as_str(), "<redacted>")
        })
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The shown form of a parsed address, e.g. `redis://127.0.0.1:6379/0`,
/// `rediss://redis.example:6380/0`, `redis+unix:///run/redis.sock?db=2`.
fn shown(info: &ConnectionInfo) -> String {
    let db = info.redis_settings().db();
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => format!("redis://{}:{port}/{db}", bracketed(host)),
        ConnectionAddr::TcpTls { host, port, .. } => {
            format!("rediss://{}:{port}/{db}", bracketed(host))
        }
        ConnectionAddr::Unix(path) => format!("redis+unix://{}?db={db}", path.display()),
        // A kind of address this version does not know: nothing of it.
        _ => "redis://<address>".to_owned(),
    }
}

/// A URL that does not parse: its scheme only, in case the rest holds a
/// secret.
pub(crate) fn shown_unparsed(url: &str) -> String {
    url.split_once("://").map_or_else(
        || "<unparseable Redis URL>".to_owned(),
        |(scheme, _)| format!("{scheme}://<unparseable>"),
    )
}

/// An IPv6 host in brackets, as in a URL.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use ::redis::IntoConnectionInfo;

    use super::*;

    fn show(url: &str) -> String {
        Address::new(&url.into_connection_info().expect("a valid URL")).to_string()
    }

    #[test]
    fn never_a_user_name_or_password() {
        for (url, expected) in [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:s3cret-pw@127.0.0.1/3", "redis://127.0.0.1:6379/3"),
            (
                "redis://alice:s3cret-pw@redis.example:7000",
                "redis://redis.example:7000/0",
            ),
            (
                "rediss://alice:s3cret-pw@redis.example:6380/1",
                "rediss://redis.example:6380/1",
            ),
            (
                "redis+unix:///run/redis.sock?pass=s3cret-pw&db=2",
                "redis+unix:///run/redis.sock?db=2",
            ),
            (
                "unix:///run/redis.sock?user=alice&pass=s3cret-pw",
                "redis+unix:///run/redis.sock?db=0",
            ),
            ("redis://[::1]:6379", "redis://[::1]:6379/0"),
        ] {
            let shown = show(url);
            assert_eq!(shown, expected, "{url}");
            assert!(
                !shown.contains("s3cret-pw") && !shown.contains("alice"),
                "{shown}"
            );
        }
        assert_eq!(
            shown_unparsed("redis://:s3cret-pw@[::1"),
            "redis://<unparseable>"
        );
        let address = Address::new(
            &"redis+unix:///run/redis.sock?user=alice&pass=s3cret-pw"
                .into_connection_info()
                .unwrap(),
        );
        let echoed = address.scrub("AUTH failed for alice with s3cret-pw");
        assert_eq!(echoed, "AUTH failed for <redacted> with <redacted>");
        assert_eq!(shown_unparsed("s3cret-pw"), "<unparseable Redis URL>");
    }
}
