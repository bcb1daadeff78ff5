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
    /// An identity provider provisioning through a SCIM token.
    ScimToken {
        /// The token record's id.
        id: String,
        /// Its name.
        name: String,
    },
    /// Applications as code (`gatehouse apply`, `POST /api/v1/apply`).
    Apply {
        /// Who ran it through the API (an admin token), if not the
        /// command line on the server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
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
            Self::ScimToken { name, .. } => write!(f, "scim-token:{name}"),
            Self::Apply { by: None } => f.write_str("apply"),
            Self::Apply { by: Some(by) } => write!(f, "apply ({by})"),
            Self::Anonymous { ip } => write!(f, "anonymous:{ip}"),
        }
    }
}

/// The longest target stored (an e-mail address is at most 254 bytes).
pub const MAX_TARGET: usize = 254;
/// The longest string detail stored.
pub const MAX_DETAIL: usize = 1024;
/// The most items of a list detail stored.
pub const MAX_DETAIL_ITEMS: usize = 100;

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn truncate(mut s: String, max: usize) -> String {
    let end = prefix(&s, max).len();
    s.truncate(end);
    s
}

/// The longest start of `s` of at most `max` bytes that ends on a
/// character boundary.
pub fn prefix(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn bounded(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(truncate(s, MAX_DETAIL)),
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .into_iter()
                .take(MAX_DETAIL_ITEMS)
                .map(bounded)
                .collect(),
        ),
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.into_iter()
                .take(MAX_DETAIL_ITEMS)
                .map(|(k, v)| (truncate(k, 64), bounded(v)))
                .collect(),
        ),
        other => other,
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

    /// Set the target (at most [`MAX_TARGET`] bytes: an identifier from
    /// outside never grows the log by more).
    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(truncate(target.into(), MAX_TARGET));
        self
    }

    /// Add one detail. Strings are cut at [`MAX_DETAIL`] bytes, lists at
    /// [`MAX_DETAIL_ITEMS`] items.
    #[must_use]
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(m) = &mut self.details {
            m.insert(truncate(key.to_owned(), 64), bounded(value.into()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_from_outside_are_capped() {
        let e = AuditEvent::new(
            None,
            OffsetDateTime::UNIX_EPOCH,
            Actor::Anonymous {
                ip: "1.2.3.4".into(),
            },
            "signin.failed",
        )
        .target(format!("{}@example.com", "é".repeat(1_000_000)))
        .detail("message", "x".repeat(5000))
        .detail("list", vec!["a"; 1000]);
        assert!(e.target.as_deref().is_some_and(|t| t.len() <= MAX_TARGET));
        assert_eq!(
            e.details["message"].as_str().map(str::len),
            Some(MAX_DETAIL)
        );
        assert_eq!(
            e.details["list"].as_array().map(Vec::len),
            Some(MAX_DETAIL_ITEMS)
        );
    }
}
