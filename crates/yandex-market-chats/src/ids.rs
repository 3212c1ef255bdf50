//! The one check every id gets before it is sent: ids start at 1. The id
//! types themselves are generated (`yandex_market_chats_api::ids`) and hold
//! any `u64`, so that a response is never refused for an id.

use crate::Error;

/// `id`, or [`Error::InvalidInput`] naming `what` when it is 0.
pub(crate) fn checked<T: Copy + Into<u64>>(what: &str, id: T) -> Result<T, Error> {
    if id.into() == 0 {
        Err(Error::invalid_input(format!(
            "{what} must be at least 1, got 0"
        )))
    } else {
        Ok(id)
    }
}
