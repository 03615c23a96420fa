//! A client's email is its identity across the fleet, and the core keys its users by the
//! email in lower case: two emails that differ only in letter case would be one user to it,
//! and a state with both is refused whole. So they are refused here, where the operator is.

use std::collections::hash_map::{Entry, HashMap};

use super::{Problems, Result};
use crate::store::ClientRow;
use crate::Controller;

/// The emails one request names, folded, so a second spelling of one is caught.
#[derive(Default)]
pub(super) struct Named(HashMap<String, String>);

impl Named {
    /// Records `email`; false (and a problem under `field`) when the request named it before
    /// in any letter case. `twice` is the catalog key that says an exact repeat.
    pub fn first(
        &mut self,
        email: &str,
        field: &str,
        twice: &'static str,
        p: &mut Problems,
    ) -> bool {
        match self.0.entry(email.to_lowercase()) {
            Entry::Vacant(slot) => {
                slot.insert(email.to_owned());
                true
            }
            Entry::Occupied(seen) if seen.get() == email => {
                p.say(field, twice, &[]);
                false
            }
            Entry::Occupied(seen) => {
                same_letters(p, field, email, seen.get());
                false
            }
        }
    }
}

/// The client other than `except` that holds `email` in any letter case, the exact spelling
/// first.
pub(super) async fn holder(
    ctl: &Controller,
    email: &str,
    except: Option<i64>,
) -> Result<Option<ClientRow>> {
    let mut rows = ctl.store.clients_by_folded_email(email).await?;
    rows.retain(|c| Some(c.id) != except);
    rows.sort_by_key(|c| c.email != email);
    Ok(rows.into_iter().next())
}

/// Says under `field` why `email` cannot be given to a new client when `other` holds it;
/// `attach`: an inbound's client list, where the way is to attach the existing client.
pub(super) fn taken(p: &mut Problems, field: &str, email: &str, other: &ClientRow, attach: bool) {
    if other.email == email {
        let key = if attach {
            "err.email_taken_attach"
        } else {
            "err.email_taken"
        };
        p.say(field, key, &[("email", email.to_owned())]);
    } else {
        same_letters(p, field, email, &other.email);
    }
}

fn same_letters(p: &mut Problems, field: &str, email: &str, other: &str) {
    p.say(
        field,
        "err.email_case",
        &[("email", email.to_owned()), ("other", other.to_owned())],
    );
}
