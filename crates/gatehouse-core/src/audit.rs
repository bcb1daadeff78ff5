//! Audit events: who did what, to what, when. Details are built from plain
//! values by the code that records the event; secrets have no `Serialize`
//! implementation anywhere in Gatehouse, so they cannot end up here.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::AppId;

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// Gatehouse itself (expiry, start-up).
    System,
    /// The command line on the server.
    Cli,
    /// An admin API token from the database.
    AdminToken {
        /// The token record's id.
        id: String,
        /// Its name.
        name: String,
    },
    /// The bootstrap admin token from the configuration.
    ConfigToken,
    /// An administrator signed in to the console.
    Admin {
        /// The administrator's id.
        id: String,
        /// Their e-mail.
        email: String,
    },
    /// A user of an application (sign-in, sign-out).
    User {
        /// The user's id.
        id: String,
        /// The user's e-mail.
        email: String,
    },
    /// Someone not (yet) identified, e.g. a failed sign-in.
    Anonymous {
        /// The client's address.
        ip: String,
    },
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System => f.write_str("system"),
            Self::Cli => f.write_str("cli"),
            Self::AdminToken { name, .. } => write!(f, "admin-token:{name}"),
            Self::ConfigToken => f.write_str("admin-token:config"),
            Self::Admin { email, .. } => write!(f, "admin:{email}"),
            Self::User { email, .. } => write!(f, "user:{email}"),
            Self::Anonymous { ip } => write!(f, "anonymous:{ip}"),
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Position in the log (assigned by the store; 0 before it is stored).
    pub id: i64,
    /// The application concerned, if any.
    pub app_id: Option<AppId>,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who caused it.
    pub actor: Actor,
    /// What happened, dotted: `app.created`, `sso.updated`, `signin.failed`, ...
    pub action: String,
    /// What it happened to (an id or an e-mail), if anything.
    pub target: Option<String>,
    /// Further facts (never secrets).
    pub details: serde_json::Value,
    /// The request's correlation id, when it came from a request.
    pub correlation_id: Option<String>,
}

impl AuditEvent {
    /// A new event with empty details.
    pub fn new(app_id: Option<AppId>, at: OffsetDateTime, actor: Actor, action: &str) -> Self {
        Self {
            id: 0,
            app_id,
            at,
            actor,
            action: action.to_owned(),
            target: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
            correlation_id: None,
        }
    }

    /// Set the target.
    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Add one detail.
    #[must_use]
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(m) = &mut self.details {
            m.insert(key.to_owned(), value.into());
        }
        self
    }

    /// Set the correlation id.
    #[must_use]
    pub fn correlated(mut self, id: Option<String>) -> Self {
        self.correlation_id = id;
        self
    }
}
