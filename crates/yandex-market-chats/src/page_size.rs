//! The limit rule: a page holds 1..=20 chats.

use std::fmt;

use crate::Error;

/// How many chats one request asks for: the API's `limit`, 1..=20.
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageSize(u32);

impl PageSize {
    /// The smallest page the API accepts.
    pub const MIN: PageSize = PageSize(1);
    /// The largest page the API accepts (20).
    pub const MAX: PageSize = PageSize(20);

    /// A page size of `n` chats.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] unless `1 <= n <= 20`.
    pub fn new(n: u32) -> Result<Self, Error> {
        if (Self::MIN.0..=Self::MAX.0).contains(&n) {
            Ok(Self(n))
        } else {
            Err(Error::invalid_input(format!(
                "page size must be between {} and {} (the API's `limit` rule), got {n}",
                Self::MIN.0,
                Self::MAX.0
            )))
        }
    }

    /// The number of chats per page.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageSize {
    fn default() -> Self {
        Self::MAX
    }
}

impl fmt::Display for PageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<u32> for PageSize {
    type Error = Error;
    fn try_from(n: u32) -> Result<Self, Error> {
        Self::new(n)
    }
}
