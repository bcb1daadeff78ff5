//! Resolution: grants → roles, and per-route rules → allowed or not.

use serde::Serialize;

use super::grant::{AccessPolicy, Grant, Role, RouteRule, Subject};
use crate::user::User;

/// A user's roles in an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Decision {
    /// Roles, sorted, no duplicates. Empty: no access.
    pub roles: Vec<Role>,
}

impl Decision {
    /// Whether the user has any role.
    pub fn allowed(&self) -> bool {
        !self.roles.is_empty()
    }
}

/// Whether a request may go through ([`authorize`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// It may; with the user's roles (for the identity headers).
    Allowed {
        /// The user's roles, sorted.
        roles: Vec<Role>,
    },
    /// It may not, and why.
    Denied(Denied),
}

/// Why a request was refused: what the refused person may be told. It
/// names the rule that refused and the roles it needs, never anyone
/// else's grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The route rule that refused; `None`: no role in the application at all.
    pub rule: Option<RouteRule>,
    /// The user's roles (empty when `rule` is `None`).
    pub roles: Vec<Role>,
    /// Why, one sentence each, for the 403 page, the log line and the audit event.
    pub reasons: Vec<String>,
}

impl Denied {
    /// A stable machine name: `no_role` or `route_rule`.
    pub fn reason(&self) -> &'static str {
        if self.rule.is_some() {
            "route_rule"
        } else {
            "no_role"
        }
    }
}

fn matches(subject: &Subject, user: &User) -> bool {
    match subject {
        // Only an address someone verified: an IdP that lets users type any
        // address (email_verified: false) must not hand out e-mail grants.
        Subject::Email(e) => user.email_verified == Some(true) && user.email.normalized() == *e,
        Subject::Group(g) => user.in_group(g),
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
    }
    if d.roles.is_empty()
        && let Some(role) = &policy.default_role
    {
        d.roles.push(role.clone());
    }
    d.roles.sort();
    d
}

/// The access decision for one request: `user`'s roles from `grants` and
/// the default role, then the first route rule matching `path` (the
/// request's canonical match key). Reasons are written only for a refusal,
/// so an allowed request costs no more than the lookup.
pub fn authorize(
    user: &User,
    grants: &[Grant],
    policy: &AccessPolicy,
    path: &str,
) -> Authorization {
    let decision = resolve(user, grants, policy);
    if !decision.allowed() {
        let mut reasons = vec![format!(
            "No grant gives {} a role in this application, and it has no default role.",
            user.email
        )];
        if user.email_verified != Some(true) {
            reasons.push(
                "Your identity provider has not verified your e-mail address, so grants by e-mail address do not apply to you."
                    .to_owned(),
            );
        }
        return Authorization::Denied(Denied {
            rule: None,
            roles: Vec::new(),
            reasons,
        });
    }
    match route_allows(policy, path, &decision.roles) {
        Ok(()) => Authorization::Allowed {
            roles: decision.roles,
        },
        Err(rule) => {
            let reasons = vec![
                format!(
                    "The rule for {} needs the role {}.",
                    rule.prefix,
                    Role::join(&rule.roles, " or ")
                ),
                format!("Your roles here: {}.", Role::join(&decision.roles, ", ")),
            ];
            Authorization::Denied(Denied {
                rule: Some(rule.clone()),
                roles: decision.roles,
                reasons,
            })
        }
    }
}

/// Whether `roles` may reach `path`: the first rule whose prefix matches
/// decides (one of its roles is needed); no rule matching: any role will do.
/// `path` is the request's canonical match key
/// ([`crate::target::CanonicalPath::match_key`]), never the raw path.
/// Returns the rule that refused, if any.
pub fn route_allows<'p>(
    policy: &'p AccessPolicy,
    path: &str,
    roles: &[Role],
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
    use crate::ids::{AppId, GrantId};
    use crate::user::{Email, Tag, TagSource};
    use time::OffsetDateTime;

    fn tag_key(k: &str) -> crate::user::TagKey {
        crate::user::TagKey::parse(k, "key").unwrap_or_else(|e| panic!("{e}"))
    }

    fn r(name: &str) -> Role {
        Role::parse(name, "role").unwrap_or_else(|e| panic!("{e}"))
    }

    fn user(email: &str, groups: &[&str], tags: &[(&str, &str)]) -> User {
        let email = Email::parse(email).unwrap_or_else(|e| panic!("{e}"));
        User {
            first_name: "A".into(),
            tags: tags
                .iter()
                .map(|(k, v)| Tag {
                    key: crate::user::TagKey::parse(k, "key").unwrap_or_else(|e| panic!("{e}")),
                    value: (*v).into(),
                    source: TagSource::Idp,
                })
                .collect(),
            groups: groups
                .iter()
                .map(|g| crate::user::Membership::new(*g, crate::user::GroupSource::Claim))
                .collect(),
            email_verified: Some(true),
            ..User::new(AppId::new(), email, OffsetDateTime::UNIX_EPOCH)
        }
    }

    fn grant(role: &str, subject: Subject) -> Grant {
        Grant {
            id: GrantId::new(),
            app_id: AppId::new(),
            role: r(role),
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
                    key: tag_key("dept"),
                    value: "R&D".into(),
                },
            ),
            grant(
                "member",
                Subject::Tag {
                    key: tag_key("dept"),
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
        let nobody = resolve(
            &user("x@example.com", &["ops"], &[]),
            &grants,
            &AccessPolicy::default(),
        );
        assert!(!nobody.allowed(), "deny by default");
        let with_default = AccessPolicy {
            default_role: Some(r("viewer")),
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
                    roles: vec![r("viewer"), r("member")],
                },
                RouteRule {
                    prefix: "/admin".into(),
                    roles: vec![r("admin")],
                },
            ],
            ..AccessPolicy::default()
        };
        let member = vec![r("member")];
        assert!(route_allows(&policy, "/admin/users", &member).is_err());
        assert!(route_allows(&policy, "/admin", &member).is_err());
        assert!(route_allows(&policy, "/admin/public/x", &member).is_ok());
        assert!(
            route_allows(&policy, "/administrator", &member).is_ok(),
            "a prefix is a path segment"
        );
        assert!(route_allows(&policy, "/shop", &member).is_ok());
        assert!(route_allows(&policy, "/admin/users", &[r("admin")]).is_ok());
    }

    #[test]
    fn refusals_say_which_rule_refused_and_nothing_of_other_grants() {
        let grants = vec![
            grant("member", Subject::Group("eng".into())),
            grant("admin", Subject::Email("boss@example.com".into())),
        ];
        let policy = AccessPolicy {
            routes: vec![RouteRule {
                prefix: "/admin".into(),
                roles: vec![r("admin")],
            }],
            ..AccessPolicy::default()
        };
        let eng = user("ana@example.com", &["eng"], &[]);
        assert_eq!(
            authorize(&eng, &grants, &policy, "/shop"),
            Authorization::Allowed {
                roles: vec![r("member")]
            }
        );
        let Authorization::Denied(d) = authorize(&eng, &grants, &policy, "/admin/x") else {
            panic!("allowed past the rule");
        };
        assert_eq!(d.reason(), "route_rule");
        assert_eq!(d.rule.as_ref().map(|r| r.prefix.as_str()), Some("/admin"));
        assert!(
            d.reasons[0].contains("/admin needs the role admin"),
            "{:?}",
            d.reasons
        );
        assert!(d.reasons[1].contains("member"));
        let mut stranger = user("x@example.com", &[], &[]);
        stranger.email_verified = Some(false);
        let Authorization::Denied(d) = authorize(&stranger, &grants, &policy, "/") else {
            panic!("a stranger allowed");
        };
        assert_eq!(d.reason(), "no_role");
        assert_eq!(d.reasons.len(), 2, "the unverified address is explained");
        let all = d.reasons.join(" ");
        assert!(
            !all.contains("boss@example.com") && !all.contains("eng"),
            "{all}"
        );
    }

    #[test]
    fn policies_and_grants_are_validated() {
        let p = super::super::AccessPolicyInput {
            default_role: Some("Bad Role".into()),
            routes: vec![super::super::RouteRuleInput {
                prefix: "admin".into(),
                roles: vec![],
            }],
            ..Default::default()
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
            g.validate().ok().map(|g| g.subject),
            Some(Subject::Tag {
                key: tag_key("dept"),
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
