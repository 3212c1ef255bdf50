//! The limit rules: how many items one page may hold.

use std::fmt;

use crate::Error;

/// Defines a page-size type: a `u32` checked against the API's bounds.
macro_rules! page_size {
    ($(#[$doc:meta])* $name:ident, $min:literal..=$max:literal, default $default:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u32);

        impl $name {
            /// The smallest page the API accepts.
            pub const MIN: $name = $name($min);
            /// The largest page the API accepts.
            pub const MAX: $name = $name($max);

            /// A page size of `n`.
            ///
            /// # Errors
            /// [`Error::InvalidInput`] unless `n` is within the bounds.
            pub fn new(n: u32) -> Result<Self, Error> {
                if ($min..=$max).contains(&n) {
                    Ok(Self(n))
                } else {
                    Err(Error::invalid_input(format!(
                        "{} must be between {} and {} (the API's `limit` rule), got {n}",
                        $what, $min, $max
                    )))
                }
            }

            /// The number of items per page.
            pub const fn get(self) -> u32 {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self($default)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl TryFrom<u32> for $name {
            type Error = Error;
            fn try_from(n: u32) -> Result<Self, Error> {
                Self::new(n)
            }
        }
    };
}

page_size! {
    /// How many chats one getChats request asks for: the API's `limit`, 1..=20.
    ///
    /// The API answers 400 above 20, so the rule is checked here, before any
    /// request. The default is [`PageSize::MAX`], the fewest requests per chat.
    ///
    /// ```
    /// use yandex_market_chats::PageSize;
    ///
    /// assert_eq!(PageSize::new(5)?.get(), 5);
    /// assert!(PageSize::new(0).is_err());
    /// assert!(PageSize::new(21).is_err());
    /// assert_eq!(PageSize::default(), PageSize::MAX);
    /// # Ok::<(), yandex_market_chats::Error>(())
    /// ```
    PageSize, 1..=20, default 20, "page size"
}

page_size! {
    /// How many messages one getChatHistory request asks for: the API's
    /// `limit`, 1..=100, default 50 (the API's own default).
    ///
    /// ```
    /// use yandex_market_chats::HistoryPageSize;
    ///
    /// assert_eq!(HistoryPageSize::default().get(), 50);
    /// assert!(HistoryPageSize::new(101).is_err());
    /// assert_eq!(HistoryPageSize::MAX.get(), 100);
    /// ```
    HistoryPageSize, 1..=100, default 50, "history page size"
}
