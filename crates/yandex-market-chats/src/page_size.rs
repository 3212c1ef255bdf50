//! The limit rules: how many items one page may hold.
//!
//! The queries' `page_size` takes a literal (`.page_size(20)`) as well as a
//! checked size (`.page_size(PageSize::new(20)?)`, `PageSize::MAX`): anything
//! that converts with `TryInto`. A number out of range is kept as its error
//! and reported when the query runs, before any request, like every other
//! input error of a query.

use std::convert::Infallible;
use std::fmt;

use crate::Error;

/// What a query holds for its page size until it runs: the size, or the
/// message of the error that refuses it.
#[derive(Clone, Debug)]
pub(crate) struct Requested<P>(Result<P, String>);

impl<P> Requested<P> {
    /// A page size as `page_size(..)` got it.
    pub(crate) fn new(size: impl TryInto<P, Error: Into<Error>>) -> Self {
        Self(size.try_into().map_err(|e| match e.into() {
            Error::InvalidInput { message } => message,
            other => other.to_string(),
        }))
    }

    /// The size, or [`Error::InvalidInput`] when it was out of range.
    pub(crate) fn get(&self) -> Result<P, Error>
    where
        P: Copy,
    {
        self.0.clone().map_err(Error::invalid_input)
    }
}

impl<P: Default> Default for Requested<P> {
    fn default() -> Self {
        Self(Ok(P::default()))
    }
}

/// A [`PageSize`] or [`HistoryPageSize`] converts into itself without
/// failing (`TryInto`'s `Infallible`); this lets `page_size(..)` take one
/// as well as a literal.
impl From<Infallible> for Error {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

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
    ///
    /// A query's `page_size` also takes a number as it is: `.page_size(10)`
    /// (out of range, the query fails before sending anything).
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
    ///
    /// `history().page_size(..)` also takes a number as it is:
    /// `.page_size(100)` (out of range, the query fails before sending
    /// anything).
    HistoryPageSize, 1..=100, default 50, "history page size"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_size_keeps_its_error_until_the_query_runs() {
        assert_eq!(Requested::<PageSize>::new(5).get().unwrap().get(), 5);
        assert_eq!(
            Requested::<PageSize>::new(PageSize::MAX).get().unwrap(),
            PageSize::MAX
        );
        assert_eq!(
            Requested::<PageSize>::default().get().unwrap(),
            PageSize::MAX
        );
        for (size, limit) in [(0, "between 1 and 20"), (21, "between 1 and 20")] {
            let requested = Requested::<PageSize>::new(size);
            // Asked twice (a query runs `page` as often as it likes): the
            // same error each time.
            for _ in 0..2 {
                let error = requested.get().unwrap_err();
                assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
                let text = error.to_string();
                assert!(
                    text.contains(limit) && text.contains(&format!("got {size}")),
                    "{text}"
                );
            }
        }
        let error = Requested::<HistoryPageSize>::new(101).get().unwrap_err();
        assert!(error.to_string().contains("between 1 and 100"), "{error}");
        assert_eq!(
            Requested::<HistoryPageSize>::new(100).get().unwrap(),
            HistoryPageSize::MAX
        );
    }
}
