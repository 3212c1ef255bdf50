//! getChats in the sandbox: the listed view, filters, order and paging.

use std::cmp::Reverse;

use serde_json::{Value, json};
use yandex_market_chats::{Chat, ChatContextType, ChatStatus, ChatType};

use crate::config::ListingOrder;
use crate::input::Input;
use crate::paging;
use crate::routes::Failure;
use crate::state::{Shared, State};

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 20;

/// One page of the chats the request's filters select.
pub(crate) fn list(shared: &Shared, input: &Input) -> Result<Value, Failure> {
    let limit = input.query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let body = input.json_body()?;
    let filter = Filter::parse(&body)?;

    let mut state = shared.state();
    let mut matching: Vec<&Chat> = listed(&mut state)
        .into_iter()
        .filter(|chat| filter.matches(chat))
        .collect();
    if shared.config.listing_order == ListingOrder::RecentlyUpdatedFirst {
        // Sorted again at every request, and the page token is an offset
        // into this list: what moved since the last page shifts the rest.
        matching.sort_by_key(|chat| Reverse((chat.updated_at, chat.chat_id.get())));
    }
    let (page, paging) = paging::page(shared, &matching, input.query.page_token(), limit)?;
    Ok(json!({ "status": "OK", "result": { "chats": page, "paging": paging } }))
}

/// Every chat as the listed view shows it (the lag late, if any), in the
/// seeded order; chats not listed yet are left out.
pub(crate) fn listed(state: &mut State) -> Vec<&Chat> {
    state.view.catch_up();
    let state: &State = state;
    state
        .chats
        .iter()
        .filter_map(|chat| state.view.show(chat))
        .collect()
}

/// The request body's filters; absent means "any".
struct Filter {
    statuses: Option<Vec<ChatStatus>>,
    types: Option<Vec<ChatType>>,
    context_types: Option<Vec<ChatContextType>>,
    contexts: Option<Vec<(String, u64)>>,
    order_ids: Option<Vec<u64>>,
}

impl Filter {
    fn parse(body: &Value) -> Result<Self, String> {
        if !body.is_object() {
            return Err("the body must be a JSON object".to_owned());
        }
        Ok(Self {
            statuses: known_values(body, "statuses", ChatStatus::KNOWN)?,
            types: known_values(body, "types", ChatType::KNOWN)?,
            context_types: known_values(body, "contextTypes", ChatContextType::KNOWN)?,
            contexts: array(body, "contexts")?
                .map(|items| {
                    items
                        .iter()
                        .map(|item| {
                            let kind = item["type"]
                                .as_str()
                                .filter(|t| matches!(*t, "ORDER" | "RETURN"));
                            match (kind, item["id"].as_u64().filter(|id| *id >= 1)) {
                                (Some(kind), Some(id)) => Ok((kind.to_owned(), id)),
                                _ => Err(format!(
                                    "contexts: {item} is not {{type: ORDER|RETURN, id >= 1}}"
                                )),
                            }
                        })
                        .collect()
                })
                .transpose()?,
            order_ids: array(body, "orderIds")?
                .map(|items| {
                    items
                        .iter()
                        .map(|v| {
                            v.as_u64()
                                .filter(|id| *id >= 1)
                                .ok_or(format!("orderIds: {v} is not an id"))
                        })
                        .collect()
                })
                .transpose()?,
        })
    }

    fn matches(&self, chat: &Chat) -> bool {
        let order_id = chat.context.order_id.map(|id| id.get());
        let return_id = chat.context.return_id.map(|id| id.get());
        self.statuses
            .as_ref()
            .is_none_or(|s| s.contains(&chat.status))
            && self.types.as_ref().is_none_or(|t| t.contains(&chat.type_))
            && self
                .context_types
                .as_ref()
                .is_none_or(|t| t.contains(&chat.context.type_))
            && self
                .order_ids
                .as_ref()
                .is_none_or(|ids| order_id.is_some_and(|id| ids.contains(&id)))
            && self.contexts.as_ref().is_none_or(|contexts| {
                contexts
                    .iter()
                    .any(|(kind, id)| match (kind.as_str(), &chat.context.type_) {
                        ("ORDER", ChatContextType::Order) => order_id == Some(*id),
                        ("RETURN", ChatContextType::Return) => return_id == Some(*id),
                        _ => false,
                    })
            })
    }
}

/// A filter array: absent or null is `None`; empty or with duplicates is a 400.
fn array<'a>(body: &'a Value, name: &str) -> Result<Option<&'a Vec<Value>>, String> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.is_empty() => {
            Err(format!("{name} must have at least one item"))
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    return Err(format!("{name} must have unique items, {item} is repeated"));
                }
            }
            Ok(Some(items))
        }
        Some(other) => Err(format!("{name} must be an array, got {other}")),
    }
}

/// An array of enum values; values the API does not know are a 400.
fn known_values<T>(body: &Value, name: &str, known: &[T]) -> Result<Option<Vec<T>>, String>
where
    T: Clone + PartialEq + std::fmt::Display + for<'a> From<&'a str>,
{
    let Some(items) = array(body, name)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| {
            let value = T::from(item.as_str().unwrap_or_default());
            if known.contains(&value) {
                Ok(value)
            } else {
                let names: Vec<String> = known.iter().map(ToString::to_string).collect();
                Err(format!("{name}: {item} is not one of {}", names.join(", ")))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
