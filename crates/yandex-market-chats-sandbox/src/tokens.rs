//! Opaque page tokens: the offset into a listing, masked with a per-seed
//! key, so that clients cannot read or forge them.

use crate::state::Shared;

/// The token naming `offset`.
pub(crate) fn encode(shared: &Shared, offset: usize) -> String {
    format!("c{:016x}", offset as u64 ^ shared.token_mask)
}

/// The offset a token names, if it is one of ours and within `len`.
pub(crate) fn decode(shared: &Shared, token: &str, len: usize) -> Result<usize, String> {
    token
        .strip_prefix('c')
        .filter(|hex| hex.len() == 16)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .and_then(|masked| usize::try_from(masked ^ shared.token_mask).ok())
        .filter(|offset| *offset <= len)
        .ok_or_else(|| format!("invalid page token {token:?}"))
}
