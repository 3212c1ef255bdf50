//! Pages of a listing, with opaque page tokens: the offset into the
//! listing, masked with a per-seed key, so that clients cannot read or
//! forge them.

use serde_json::{Value, json};

use crate::state::Shared;

/// The page of `items` that `token` points at (the first without one) and
/// the `paging` object to send with it: `nextPageToken` while more remain.
pub(crate) fn page<'a, T>(
    shared: &Shared,
    items: &'a [T],
    token: Option<&str>,
    limit: usize,
) -> Result<(&'a [T], Value), String> {
    let offset = match token {
        None => 0,
        Some(token) => decode(shared, token, items.len())?,
    };
    let end = offset.saturating_add(limit).min(items.len());
    let paging = if end < items.len() {
        json!({ "nextPageToken": encode(shared, end) })
    } else {
        json!({})
    };
    Ok((&items[offset..end], paging))
}

/// The token naming `offset`.
fn encode(shared: &Shared, offset: usize) -> String {
    format!("c{:016x}", offset as u64 ^ shared.token_mask)
}

/// The offset a token names, if it is one of ours and within `len`.
fn decode(shared: &Shared, token: &str, len: usize) -> Result<usize, String> {
    token
        .strip_prefix('c')
        .filter(|hex| hex.len() == 16)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .and_then(|masked| usize::try_from(masked ^ shared.token_mask).ok())
        .filter(|offset| *offset <= len)
        .ok_or_else(|| format!("invalid page token {token:?}"))
}
