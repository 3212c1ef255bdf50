//! The one check every id gets before it is sent: ids start at 1. The id
//! types themselves are generated (`yandex_market_chats_api::ids`) and hold
//! any `u64`, so that a response is never refused for an id.
//!
//! An id from an `i64` (`BusinessId::try_from(row_id)?`) fails with a
//! [`NegativeIdError`]; `?` turns it into [`Error::InvalidInput`] here.

use crate::{Error, NegativeIdError};

impl From<NegativeIdError> for Error {
    /// [`Error::InvalidInput`] with the error's message, which names the id
    /// type and the value.
    fn from(error: NegativeIdError) -> Self {
        Error::invalid_input(error.to_string())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BusinessId, ChatId, ContextId, MessageId};

    fn business(row_id: i64) -> Result<BusinessId, Error> {
        Ok(BusinessId::try_from(row_id)?)
    }

    #[test]
    fn an_id_from_an_i64() {
        assert_eq!(business(42).unwrap(), 42);
        assert_eq!(business(i64::MAX).unwrap().get(), i64::MAX as u64);
        // 0 converts, as from a `u64`, and is refused when sent.
        let zero = business(0).unwrap();
        assert_eq!(zero, 0);
        assert!(checked("business id", zero).is_err());
        let error = business(-5).unwrap_err();
        assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.contains("BusinessId") && text.contains("-5"), "{text}");
        let raw = ChatId::try_from(i64::MIN).unwrap_err();
        assert_eq!((raw.id_type(), raw.value()), ("ChatId", i64::MIN));
        assert_eq!(
            MessageId::try_from(-1_i64).unwrap_err().to_string(),
            "MessageId cannot be negative, got -1"
        );
    }

    #[test]
    fn ids_compare_with_integers_both_ways() {
        let id = ChatId::from(10_668);
        assert!(id == 10_668);
        assert!(10_668 == id);
        assert!(id != 1);
        assert!(id < 10_669);
        assert!(id > 10_667);
        assert!(10_667 < id);
        assert!(20_000 >= id);
        assert_eq!(id, 10_668_u64);
        assert_eq!(ContextId::from(7), 7);
    }
}
