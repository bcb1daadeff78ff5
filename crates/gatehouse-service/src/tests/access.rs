//! Access decisions: grants by e-mail, group and tag; the default role;
//! route rules, first match wins; the reasons a refusal gives and the audit
//! events it writes; grants and policies changing without a sign-out.

use std::time::Duration;

use gatehouse_core::access::{
    AccessPolicyInput, Authorization, GrantInput, NewGrant, RouteRuleInput, Subject,
};
use gatehouse_core::user::User;
use serde_json::json;

use super::{Harness, ctx};
use crate::access::RequestFacts;
use crate::users::{TagInput, UserPatch};

fn facts(path: &str) -> RequestFacts<'_> {
    RequestFacts {
        path,
        via: "session",
        correlation_id: Some("cid-1"),
    }
}

async fn grant(h: &Harness, app: gatehouse_core::AppId, role: &str, subject: serde_json::Value) {
    h.gh.access()
        .create_grant(
            app,
            GrantInput {
                role: role.into(),
                subject,
            }
            .validate()
            .unwrap_or_else(|e| panic!("{e}")),
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn decide(h: &Harness, user: &User, path: &str) -> Authorization {
    h.gh.access()
        .authorize(&h.rt(user.app_id), user, facts(path))
        .await
}

fn roles(a: &Authorization) -> Vec<String> {
    match a {
        Authorization::Allowed { roles } => roles.iter().map(ToString::to_string).collect(),
        Authorization::Denied(_) => Vec::new(),
    }
}

#[tokio::test]
async fn nobody_gets_in_without_a_grant_or_a_default_role() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let ana = h.user(app.id, "ana@example.com", None).await;
    let Authorization::Denied(d) = decide(&h, &ana, "/").await else {
        panic!("allowed by default");
    };
    assert_eq!(d.reason(), "no_role");
    assert!(d.reasons[0].contains("ana@example.com"), "{:?}", d.reasons);
}

#[tokio::test]
async fn grants_by_email_group_and_tag_give_their_roles() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    grant(&h, app.id, "admin", json!({"email": "ana@example.com"})).await;
    grant(&h, app.id, "member", json!({"group": "eng"})).await;
    grant(
        &h,
        app.id,
        "viewer",
        json!({"tag": {"key": "dept", "value": "R&D"}}),
    )
    .await;
    let ana = h.user(app.id, "ana@example.com", None).await;
    assert_eq!(roles(&decide(&h, &ana, "/").await), vec!["admin"]);
    let bob = h.user(app.id, "bob@example.com", None).await;
    let bob =
        h.gh.directory()
            .update(
                app.id,
                bob.id,
                UserPatch {
                    groups: Some(vec!["eng".into()]),
                    tags: Some(vec![TagInput {
                        key: "dept".into(),
                        value: "R&D".into(),
                    }]),
                    ..UserPatch::default()
                },
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        roles(&decide(&h, &bob, "/").await),
        vec!["member", "viewer"]
    );
}

#[tokio::test]
async fn the_default_role_applies_only_when_no_grant_matches() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    grant(&h, app.id, "admin", json!({"email": "ana@example.com"})).await;
    h.gh.access()
        .put_policy(
            app.id,
            AccessPolicyInput {
                default_role: Some("viewer".into()),
                ..AccessPolicyInput::default()
            },
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ana = h.user(app.id, "ana@example.com", None).await;
    let eve = h.user(app.id, "eve@example.com", None).await;
    assert_eq!(roles(&decide(&h, &ana, "/").await), vec!["admin"]);
    assert_eq!(roles(&decide(&h, &eve, "/").await), vec!["viewer"]);
}

#[tokio::test]
async fn route_rules_refuse_with_the_rule_and_the_roles_it_needs() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    grant(&h, app.id, "member", json!({"group": "eng"})).await;
    grant(&h, app.id, "admin", json!({"email": "root@example.com"})).await;
    h.gh.access()
        .put_policy(
            app.id,
            AccessPolicyInput {
                routes: vec![
                    RouteRuleInput {
                        prefix: "/admin/help".into(),
                        roles: vec!["member".into()],
                    },
                    RouteRuleInput {
                        prefix: "/admin".into(),
                        roles: vec!["admin".into()],
                    },
                ],
                ..AccessPolicyInput::default()
            },
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mia = h.user(app.id, "mia@example.com", None).await;
    let mia =
        h.gh.directory()
            .update(
                app.id,
                mia.id,
                UserPatch {
                    groups: Some(vec!["eng".into()]),
                    ..UserPatch::default()
                },
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        decide(&h, &mia, "/shop").await,
        Authorization::Allowed { .. }
    ));
    assert!(matches!(
        decide(&h, &mia, "/admin/help/faq").await,
        Authorization::Allowed { .. }
    ));
    let Authorization::Denied(d) = decide(&h, &mia, "/admin/users").await else {
        panic!("past the rule");
    };
    assert_eq!(d.rule.map(|r| r.prefix), Some("/admin".to_owned()));
    let all = d.reasons.join(" ");
    assert!(all.contains("needs the role admin"), "{all}");
    assert!(
        !all.contains("root@example.com"),
        "other people's grants stay hidden: {all}"
    );
    let root = h.user(app.id, "root@example.com", None).await;
    assert!(matches!(
        decide(&h, &root, "/admin/users").await,
        Authorization::Allowed { .. }
    ));
}

#[tokio::test]
async fn refusals_are_audited_once_a_burst_with_the_count_left_out() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let ana = h.user(app.id, "ana@example.com", None).await;
    for _ in 0..3 {
        decide(&h, &ana, "/").await;
    }
    let ev = h.audit(app.id, "access.denied").await;
    assert_eq!(ev.len(), 1, "one event for the burst");
    assert_eq!(ev[0].details["reason"], "no_role");
    assert_eq!(ev[0].correlation_id.as_deref(), Some("cid-1"));
    h.advance(Duration::from_secs(61));
    decide(&h, &ana, "/").await;
    let ev = h.audit(app.id, "access.denied").await;
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].details["repeated_before"], 2);
}

#[tokio::test]
async fn a_new_grant_applies_to_the_next_request_and_a_deleted_one_stops() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let ana = h.user(app.id, "ana@example.com", None).await;
    assert!(matches!(
        decide(&h, &ana, "/").await,
        Authorization::Denied(_)
    ));
    grant(&h, app.id, "member", json!({"email": "ana@example.com"})).await;
    assert_eq!(roles(&decide(&h, &ana, "/").await), vec!["member"]);
    let grants =
        h.gh.access()
            .grants(app.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    h.gh.access()
        .delete_grant(app.id, grants[0].id, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        decide(&h, &ana, "/").await,
        Authorization::Denied(_)
    ));
    assert_eq!(
        h.audit(app.id, "grant.").await.len(),
        2,
        "created and deleted"
    );
}

#[tokio::test]
async fn the_same_grant_twice_is_a_conflict_and_bad_input_is_refused() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    grant(&h, app.id, "member", json!({"group": "eng"})).await;
    let again =
        h.gh.access()
            .create_grant(
                app.id,
                NewGrant::new("member", Subject::group("eng")).unwrap_or_else(|e| panic!("{e}")),
                &ctx(),
            )
            .await;
    assert!(
        matches!(again, Err(crate::ServiceError::Conflict { .. })),
        "{again:?}"
    );
    let bad = NewGrant::new("Not A Role", Subject::email("not an address"));
    let fields: Vec<String> = bad
        .err()
        .map(|e| e.errors.into_iter().map(|f| f.field).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        ["role", "subject.email"],
        "every field at fault is named"
    );
}
