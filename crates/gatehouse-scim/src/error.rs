//! SCIM error documents (RFC 7644 §3.12): an HTTP status, a `scimType`
//! where the RFC defines one, and a detail for the person reading it.

use serde_json::{Value, json};

/// The error schema URN.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` of a 400 or 409 (RFC 7644 §3.12, table 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    /// The filter syntax was invalid, or an attribute or operator is not supported.
    InvalidFilter,
    /// The specified filter yields more results than the server will give.
    TooMany,
    /// An attribute value conflicts with another resource (a taken `userName`).
    Uniqueness,
    /// The change tried to modify an immutable or read-only attribute.
    Mutability,
    /// The request body could not be parsed or violates the schema.
    InvalidSyntax,
    /// A PATCH path is invalid or names an attribute that is not there.
    InvalidPath,
    /// A PATCH path's filter matched nothing.
    NoTarget,
    /// A value is not compatible with the attribute.
    InvalidValue,
}

impl ScimType {
    /// The name in the error document.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
        }
    }
}

/// An error to answer a SCIM client with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    /// The HTTP status.
    pub status: u16,
    /// The `scimType`, for the statuses that have one.
    pub scim_type: Option<ScimType>,
    /// What went wrong, for a person.
    pub detail: String,
}

impl ScimError {
    /// A 400 with `scimType`.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// A filter that cannot be used (400 `invalidFilter`).
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    /// The error document (`status` is a string, as the RFC's examples have it).
    pub fn document(&self) -> Value {
        let mut doc = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, doc.as_object_mut()) {
            obj.insert("scimType".into(), Value::String(t.as_str().into()));
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_rfc() {
        let e = ScimError::invalid_filter("bad");
        assert_eq!(
            e.document(),
            json!({"schemas": [ERROR_SCHEMA], "status": "400", "scimType": "invalidFilter", "detail": "bad"})
        );
        let nf = ScimError {
            status: 404,
            scim_type: None,
            detail: "no such user".into(),
        };
        assert!(nf.document().get("scimType").is_none());
    }
}
