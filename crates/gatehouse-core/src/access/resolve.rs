//! Resolution: grants → roles, and per-route rules → allowed or not.

use serde::Serialize;

use super::grant::{AccessPolicy, Grant, RouteRule, Subject};
use crate::user::User;

/// Why a role applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A grant matched.
    Grant {
        /// The role.
        role: String,
        /// What matched.
        subject: String,
    },
    /// No grant matched; the application's default role applies.
    Default {
        /// The role.
        role: String,
    },
}

/// A user's roles in an application, with the reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Decision {
    /// Roles, sorted, no duplicates. Empty: no access.
    pub roles: Vec<String>,
    /// Why each role applies.
    pub reasons: Vec<Reason>,
}

impl Decision {
    /// Whether the user has any role.
    pub fn allowed(&self) -> bool {
        !self.roles.is_empty()
    }
}

fn matches(subject: &Subject, user: &User) -> bool {
    match subject {
        // Only an address someone verified: an IdP that lets users type any
        // address (email_verified: false) must not hand out e-mail grants.
        Subject::Email(e) => user.email_verified == Some(true) && user.email.normalized() == *e,
        Subject::Group(g) => user.groups.iter().any(|x| x == g),
        Subject::Tag { key, value } => user.tags.iter().any(|t| t.key == *key && t.value == *value),
    }
}

/// The roles of `user`: the union of matching grants, or the default role when none matches.
pub fn resolve(user: &User, grants: &[Grant], policy: &AccessPolicy) -> Decision {
    let mut d = Decision::default();
    for g in grants.iter().filter(|g| matches(&g.subject, user)) {
        if !d.roles.contains(&g.role) {
            d.roles.push(g.role.clone());
        }
        d.reasons.push(Reason::Grant {
            role: g.role.clone(),
            subject: g.subject.describe(),
        });
    }
    if d.roles.is_empty()
        && let Some(role) = &policy.default_role
    {
        d.roles.push(role.clone());
        d.reasons.push(Reason::Default { role: role.clone() });
    }
    d.roles.sort();
    d
}

/// Whether `roles` may reach `path`: the first rule whose prefix matches
/// decides (one of its roles is needed); no rule matching: any role will do.
/// `path` is the request's canonical match key
/// ([`crate::target::CanonicalPath::match_key`]), never the raw path.
/// Returns the rule that refused, if any.
pub fn route_allows<'p>(
    policy: &'p AccessPolicy,
    path: &str,
    roles: &[String],
) -> Result<(), &'p RouteRule> {
    let rule = policy
        .routes
        .iter()
        .find(|r| crate::target::under_prefix(path, &r.prefix));
    match rule {
        Some(r) if !r.roles.iter().any(|needed| roles.contains(needed)) => Err(r),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AppId, GrantId, UserId};
    use crate::user::{Email, Tag, TagSource, UserStatus};
    use time::OffsetDateTime;

    fn user(email: &str, groups: &[&str], tags: &[(&str, &str)]) -> User {
        User {
            id: UserId::new(),
            app_id: AppId::new(),
            email: Email::parse(email).unwrap_or_else(|e| panic!("{e}")),
            first_name: "A".into(),
            last_name: String::new(),
            tags: tags
                .iter()
                .map(|(k, v)| Tag {
                    key: (*k).into(),
                    value: (*v).into(),
                    source: TagSource::Idp,
                })
                .collect(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            status: UserStatus::Active,
            identities: vec![],
            email_verified: Some(true),
            has_password: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            last_login_at: None,
        }
    }

    fn grant(role: &str, subject: Subject) -> Grant {
        Grant {
            id: GrantId::new(),
            app_id: AppId::new(),
            role: role.into(),
            subject,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn roles_are_the_union_of_matching_grants() {
        let grants = vec![
            grant("admin", Subject::Email("ana@example.com".into())),
            grant("member", Subject::Group("eng".into())),
            grant(
                "viewer",
                Subject::Tag {
                    key: "dept".into(),
                    value: "R&D".into(),
                },
            ),
            grant(
                "member",
                Subject::Tag {
                    key: "dept".into(),
                    value: "R&D".into(),
                },
            ),
            grant("billing", Subject::Group("finance".into())),
        ];
        let d = resolve(
            &user("Ana@Example.com", &["eng"], &[("dept", "R&D")]),
            &grants,
            &AccessPolicy::default(),
        );
        assert_eq!(d.roles, vec!["admin", "member", "viewer"]);
        for unverified in [None, Some(false)] {
            let mut u = user("Ana@Example.com", &[], &[]);
            u.email_verified = unverified;
            assert!(
                !resolve(&u, &grants, &AccessPolicy::default()).allowed(),
                "an unverified address earns no e-mail grant ({unverified:?})"
            );
        }
        assert_eq!(d.reasons.len(), 4);
        let nobody = resolve(
            &user("x@example.com", &["ops"], &[]),
            &grants,
            &AccessPolicy::default(),
        );
        assert!(!nobody.allowed(), "deny by default");
        let with_default = AccessPolicy {
            default_role: Some("viewer".into()),
            ..AccessPolicy::default()
        };
        assert_eq!(
            resolve(&user("x@example.com", &[], &[]), &grants, &with_default).roles,
            vec!["viewer"]
        );
        // The default applies only when no grant matches.
        assert_eq!(
            resolve(
                &user("x@example.com", &["finance"], &[]),
                &grants,
                &with_default
            )
            .roles,
            vec!["billing"]
        );
    }

    #[test]
    fn the_first_matching_route_rule_decides() {
        let policy = AccessPolicy {
            default_role: None,
            routes: vec![
                RouteRule {
                    prefix: "/admin/public".into(),
                    roles: vec!["viewer".into(), "member".into()],
                },
                RouteRule {
                    prefix: "/admin".into(),
                    roles: vec!["admin".into()],
                },
            ],
            ..AccessPolicy::default()
        };
        let member = vec!["member".to_owned()];
        assert!(route_allows(&policy, "/admin/users", &member).is_err());
        assert!(route_allows(&policy, "/admin", &member).is_err());
        assert!(route_allows(&policy, "/admin/public/x", &member).is_ok());
        assert!(
            route_allows(&policy, "/administrator", &member).is_ok(),
            "a prefix is a path segment"
        );
        assert!(route_allows(&policy, "/shop", &member).is_ok());
        assert!(route_allows(&policy, "/admin/users", &["admin".to_owned()]).is_ok());
    }

    #[test]
    fn policies_and_grants_are_validated() {
        let p = AccessPolicy {
            default_role: Some("Bad Role".into()),
            routes: vec![RouteRule {
                prefix: "admin".into(),
                roles: vec![],
            }],
            ..AccessPolicy::default()
        };
        let fields: Vec<String> = p
            .validate()
            .err()
            .map(|e| e.errors.into_iter().map(|e| e.field).collect())
            .unwrap_or_default();
        assert_eq!(
            fields,
            vec!["default_role", "routes[0].prefix", "routes[0].roles"]
        );
        let g = super::super::GrantInput {
            role: "admin".into(),
            subject: serde_json::json!({"tag": {"key": "dept", "value": "R&D"}}),
        };
        assert_eq!(
            g.validate().ok().map(|(_, s)| s),
            Some(Subject::Tag {
                key: "dept".into(),
                value: "R&D".into()
            })
        );
        let bad = super::super::GrantInput {
            role: "admin".into(),
            subject: serde_json::json!({"email": "x", "group": "y"}),
        };
        assert!(bad.validate().is_err());
    }
}
