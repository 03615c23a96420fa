//! The fleet model's operations, shared by every front end (native API, 3x-ui compatible
//! API, importer, jobs): each one validates everything first, reporting every bad field at
//! once, then writes in one transaction, then queues the new state of every affected server.
//! Errors are the model's own ([`ModelError`]); each front end says them in its own words.
//! Beside them, the read side the front ends share: servers ([`servers`]) and clients
//! ([`ClientView`]) as they are shown.

pub mod access_log;
pub mod alerts;
mod bulk;
pub mod client_rules;
mod clients;
pub mod core_templates;
mod emails;
pub mod host;
mod inbounds;
pub mod input;
mod options;
pub mod outbounds;
pub mod rollouts;
pub mod servers;
mod setting_rules;
pub mod settings;
mod views;
pub mod warp;

pub use bulk::*;
pub use clients::*;
pub use inbounds::*;
pub use input::{ClientInput, InboundInput};
pub use views::*;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::fleet::desired;
pub use crate::i18n::{Refusal, Said};
use crate::store::StoreError;
use crate::Controller;

/// One rejected field: a path into the request body and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// For a message from the catalogs (`web/i18n`, `err.*`): its key and values, so the
    /// panel can say it in the reader's language; `message` is its English text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<&'static str, String>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            key: None,
            args: BTreeMap::new(),
        }
    }

    /// The catalog's message `key` with `args` filled in.
    pub fn said(
        field: impl Into<String>,
        key: &'static str,
        args: &[(&'static str, String)],
    ) -> Self {
        let values: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Self {
            field: field.into(),
            message: crate::i18n::LANGUAGES[0].fill(key, &values),
            key: Some(key),
            args: args.iter().cloned().collect(),
        }
    }
}

// A catalog refusal (`i18n::Refusal`) put under a field.
impl Refusal {
    /// This refusal under `field`.
    pub fn at(self, field: impl Into<String>) -> FieldError {
        FieldError::said(field, self.key, &self.args)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Conflict(Said),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(StoreError),
}

/// Every rejected field in one line: `port: …; settings.clients[0].id: …`.
pub fn describe(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<StoreError> for ModelError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::NotFound(what) => Self::NotFound(what),
            other => Self::Store(other),
        }
    }
}

impl From<sqlx::Error> for ModelError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Collects field errors; `finish` fails if there are any.
#[derive(Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Adds the catalog's message `key` (see [`FieldError::said`]).
    pub fn say(
        &mut self,
        field: impl Into<String>,
        key: &'static str,
        args: &[(&'static str, String)],
    ) {
        self.0.push(FieldError::said(field, key, args));
    }

    /// Adds a helper's refusal under `field`.
    pub fn refuse(&mut self, field: impl Into<String>, why: Refusal) {
        self.0.push(why.at(field));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Invalid(self.0))
        }
    }
}

/// Queues the new state of each server, in id order.
pub async fn push_all(ctl: &Controller, servers: &BTreeSet<i64>, actor: &str) -> Result<()> {
    for server in servers {
        desired::push(ctl, *server, actor).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
