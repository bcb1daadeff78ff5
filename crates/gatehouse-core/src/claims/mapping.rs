//! Claim mapping: the IdP's claims → the user's fields, tags and groups,
//! as the application's Claim Mappings say. A missing required claim is a
//! [`MappingError`] that names the claim and the mapping to fix.

use serde::Serialize;
use serde_json::{Map, Value};

use super::ClaimPath;
use crate::sso::{ClaimMappings, OtherMapping};
use crate::user::{Email, Tag, TagSource};

/// The most values a claim may give (tag values or groups).
pub const MAX_VALUES: usize = 1000;

/// What the claims say about the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappedIdentity {
    /// E-mail.
    pub email: Email,
    /// What the IdP says of the e-mail: `email_verified` as sent, `None`
    /// when the claim is absent.
    pub email_verified: Option<bool>,
    /// First name.
    pub first_name: String,
    /// Last name (empty when not mapped or absent).
    pub last_name: String,
    /// Tags from other claim mappings.
    pub tags: Vec<Tag>,
    /// Groups from the groups claim (`None`: no groups claim configured).
    pub groups: Option<Vec<String>>,
    /// How each mapping resolved (shown by "Try sign-in").
    pub resolutions: Vec<Resolution>,
}

/// How one mapping resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The user field or tag: `E-mail`, `First Name`, `Last Name`, `tag dept`, `groups`.
    pub mapping: String,
    /// The claim it reads.
    pub claim: String,
    /// The value(s) it produced, as text; empty when the claim is absent.
    pub values: Vec<String>,
    /// A note (absent claim, ignored value, ...).
    pub note: Option<String>,
}

/// Why the claims cannot be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// A required claim is missing.
    #[error(
        "the identity provider did not send the claim \"{claim}\", which the {mapping} mapping reads"
    )]
    MissingClaim {
        /// The claim.
        claim: ClaimPath,
        /// The mapping: `E-mail` or `First Name`.
        mapping: &'static str,
    },
    /// A required claim has a value that cannot be used.
    #[error("the claim \"{claim}\" ({mapping}) cannot be used: {reason}")]
    InvalidClaim {
        /// The claim.
        claim: ClaimPath,
        /// The mapping.
        mapping: &'static str,
        /// Why.
        reason: String,
    },
}

/// A clean text value: control characters removed, at most `max` characters.
fn clean(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Scalars as text; arrays give several values; objects and nulls give none.
fn texts(v: &Value, max_len: usize) -> (Vec<String>, Option<String>) {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(clean(s, max_len)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Value::Array(items) => {
            let mut out: Vec<String> = items
                .iter()
                .filter_map(scalar)
                .filter(|s| !s.is_empty())
                .collect();
            let skipped = items.len() - out.len();
            out.dedup();
            out.truncate(MAX_VALUES);
            (
                out,
                (skipped > 0).then(|| {
                    format!(
                        "{skipped} value(s) that are not text, numbers or booleans were ignored"
                    )
                }),
            )
        }
        Value::Object(_) => (
            Vec::new(),
            Some("the claim is an object; map one of its fields with a dotted path".into()),
        ),
        Value::Null => (Vec::new(), Some("the claim is null".into())),
        other => (
            scalar(other)
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect(),
            None,
        ),
    }
}

fn required_text(
    claims: &Map<String, Value>,
    path: &ClaimPath,
    mapping: &'static str,
    max: usize,
) -> Result<String, MappingError> {
    match path.resolve(claims) {
        None | Some(Value::Null) => Err(MappingError::MissingClaim {
            claim: path.clone(),
            mapping,
        }),
        Some(Value::String(s)) if clean(s, max).is_empty() => Err(MappingError::MissingClaim {
            claim: path.clone(),
            mapping,
        }),
        Some(Value::String(s)) => Ok(clean(s, max)),
        Some(_) => Err(MappingError::InvalidClaim {
            claim: path.clone(),
            mapping,
            reason: "it is not text".into(),
        }),
    }
}

/// `email_verified` as sent: a boolean, or the text "true"/"false" (some
/// IdPs send text); `None` when absent. Anything else counts as `false`.
fn email_verified(claims: &Map<String, Value>) -> Option<bool> {
    match claims.get("email_verified")? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
        _ => Some(false),
    }
}

/// Map `claims` (ID token merged with userinfo).
pub fn map(
    claims: &Map<String, Value>,
    mappings: &ClaimMappings,
    groups_claim: Option<&ClaimPath>,
) -> Result<MappedIdentity, MappingError> {
    let mut resolutions = Vec::new();
    let raw_email = required_text(claims, &mappings.email, "E-mail", 254)?;
    let email = Email::parse(&raw_email).map_err(|_| MappingError::InvalidClaim {
        claim: mappings.email.clone(),
        mapping: "E-mail",
        reason: format!("{raw_email:?} is not an e-mail address"),
    })?;
    resolutions.push(Resolution {
        mapping: "E-mail".into(),
        claim: mappings.email.to_string(),
        values: vec![email.to_string()],
        note: None,
    });
    let first_name = required_text(claims, &mappings.first_name, "First Name", 200)?;
    resolutions.push(Resolution {
        mapping: "First Name".into(),
        claim: mappings.first_name.to_string(),
        values: vec![first_name.clone()],
        note: None,
    });
    let last_name = match &mappings.last_name {
        Some(path) => {
            let (values, note) = path
                .resolve(claims)
                .map_or((Vec::new(), Some("absent".into())), |v| texts(v, 200));
            let last = values.first().cloned().unwrap_or_default();
            resolutions.push(Resolution {
                mapping: "Last Name".into(),
                claim: path.to_string(),
                values,
                note,
            });
            last
        }
        None => String::new(),
    };
    let mut tags = Vec::new();
    for OtherMapping { claim, tag } in &mappings.other {
        let (values, note) = claim.resolve(claims).map_or(
            (Vec::new(), Some("absent: the tag is removed".into())),
            |v| texts(v, 1024),
        );
        for v in &values {
            tags.push(Tag {
                key: tag.clone(),
                value: v.clone(),
                source: TagSource::Idp,
            });
        }
        resolutions.push(Resolution {
            mapping: format!("tag {tag}"),
            claim: claim.to_string(),
            values,
            note,
        });
    }
    tags.sort();
    tags.dedup();
    let groups = groups_claim.map(|path| {
        let (mut values, note) = path
            .resolve(claims)
            .map_or((Vec::new(), Some("absent: no groups".into())), |v| {
                texts(v, 256)
            });
        values.sort();
        values.dedup();
        resolutions.push(Resolution {
            mapping: "groups".into(),
            claim: path.to_string(),
            values: values.clone(),
            note,
        });
        values
    });
    Ok(MappedIdentity {
        email,
        email_verified: email_verified(claims),
        first_name,
        last_name,
        tags,
        groups,
        resolutions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sso::ClaimMappings;
    use serde_json::json;

    fn path(s: &str) -> ClaimPath {
        ClaimPath::parse(s, "x").unwrap_or_else(|e| panic!("{e}"))
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn mappings() -> ClaimMappings {
        ClaimMappings {
            other: vec![
                OtherMapping {
                    claim: path("department"),
                    tag: crate::user::TagKey::parse("dept", "tag")
                        .unwrap_or_else(|e| panic!("{e}")),
                },
                OtherMapping {
                    claim: path("level"),
                    tag: crate::user::TagKey::parse("level", "tag")
                        .unwrap_or_else(|e| panic!("{e}")),
                },
                OtherMapping {
                    claim: path("projects"),
                    tag: crate::user::TagKey::parse("project", "tag")
                        .unwrap_or_else(|e| panic!("{e}")),
                },
                OtherMapping {
                    claim: path("address.locality"),
                    tag: crate::user::TagKey::parse("city", "tag")
                        .unwrap_or_else(|e| panic!("{e}")),
                },
                OtherMapping {
                    claim: path("is_admin"),
                    tag: crate::user::TagKey::parse("admin", "tag")
                        .unwrap_or_else(|e| panic!("{e}")),
                },
                OtherMapping {
                    claim: path("gone"),
                    tag: crate::user::TagKey::parse("gone", "tag")
                        .unwrap_or_else(|e| panic!("{e}")),
                },
            ],
            ..ClaimMappings::default()
        }
    }

    #[test]
    fn strings_numbers_booleans_arrays_and_paths_become_tags() {
        let c = claims(json!({
            "email": "Alice@Example.com", "email_verified": true, "given_name": "Alice", "family_name": "Liddell",
            "department": "R&D", "level": 3, "projects": ["apollo", "gemini", {"x": 1}], "address": {"locality": "Porto"},
            "is_admin": true, "groups": ["eng", "admins", "eng"]
        }));
        let m = map(&c, &mappings(), Some(&path("groups"))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.email.as_str(), "Alice@Example.com");
        assert_eq!(m.email_verified, Some(true));
        assert_eq!(
            (m.first_name.as_str(), m.last_name.as_str()),
            ("Alice", "Liddell")
        );
        let tags: Vec<(&str, &str)> = m
            .tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(
            tags,
            vec![
                ("admin", "true"),
                ("city", "Porto"),
                ("dept", "R&D"),
                ("level", "3"),
                ("project", "apollo"),
                ("project", "gemini")
            ]
        );
        assert_eq!(m.groups, Some(vec!["admins".to_owned(), "eng".to_owned()]));
        let gone = m
            .resolutions
            .iter()
            .find(|r| r.mapping == "tag gone")
            .map(|r| r.note.clone());
        assert_eq!(gone, Some(Some("absent: the tag is removed".into())));
    }

    #[test]
    fn a_missing_required_claim_names_claim_and_mapping() {
        let c = claims(json!({"email": "bob@example.com", "family_name": "Builder"}));
        let e = map(&c, &ClaimMappings::default(), None).err();
        assert_eq!(
            e,
            Some(MappingError::MissingClaim {
                claim: path("given_name"),
                mapping: "First Name"
            })
        );
        let e = map(
            &claims(json!({"given_name": "x"})),
            &ClaimMappings::default(),
            None,
        )
        .err();
        assert!(matches!(
            e,
            Some(MappingError::MissingClaim {
                mapping: "E-mail",
                ..
            })
        ));
        let e = map(
            &claims(json!({"email": "nope", "given_name": "x"})),
            &ClaimMappings::default(),
            None,
        )
        .err();
        assert!(matches!(
            e,
            Some(MappingError::InvalidClaim {
                mapping: "E-mail",
                ..
            })
        ));
        let e = map(
            &claims(json!({"email": "a@b.c", "given_name": 5})),
            &ClaimMappings::default(),
            None,
        )
        .err();
        assert!(matches!(
            e,
            Some(MappingError::InvalidClaim {
                mapping: "First Name",
                ..
            })
        ));
    }

    #[test]
    fn email_verified_as_text_and_control_characters() {
        let c = claims(
            json!({"email": "a@b.c", "email_verified": "true", "given_name": "A\u{0007}na\n"}),
        );
        let m = map(&c, &ClaimMappings::default(), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.email_verified, Some(true));
        assert_eq!(m.first_name, "Ana");
        assert_eq!(m.groups, None);
    }
}
