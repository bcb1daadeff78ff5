//! Sign-in: a mapped IdP identity becomes a user — created, brought up to
//! date, or linked to an existing account — and claims that cannot be
//! mapped refuse the sign-in.

use gatehouse_core::claims::mapping;
use gatehouse_core::sso::ClaimMappings;
use gatehouse_core::user::{TagSource, UserStatus};
use serde_json::json;

use super::{Harness, ISS, ctx, idp_tag, iss, mapped};
use crate::oidc::SignInError;
use crate::oidc::users::Link;

#[tokio::test]
async fn a_first_sign_in_creates_the_user_with_its_identity() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let user = h
        .idp_user(app.id, "sub-1", &mapped("ana@example.com"))
        .await;
    assert_eq!(user.email.as_str(), "ana@example.com");
    assert_eq!(user.identities[0].subject, "sub-1");
    assert_eq!(user.email_verified, Some(true));
    let created = h.audit(app.id, "user.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].details["source"], "idp");
    // The same identity again is the same user, and nothing is written.
    let again = h
        .idp_user(app.id, "sub-1", &mapped("ana@example.com"))
        .await;
    assert_eq!(again.id, user.id);
    assert!(h.audit(app.id, "user.updated_from_idp").await.is_empty());
}

#[tokio::test]
async fn a_later_sign_in_updates_fields_and_keeps_admin_tags() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let mut m = mapped("ana@example.com");
    m.tags = vec![idp_tag("dept", "R&D")];
    m.groups = Some(vec!["eng".into()]);
    let user = h.idp_user(app.id, "sub-1", &m).await;
    // An administrator adds a tag of their own.
    h.gh.directory()
        .update(
            app.id,
            user.id,
            crate::users::UserPatch {
                tags: Some(vec![
                    crate::users::TagInput {
                        key: "dept".into(),
                        value: "R&D".into(),
                    },
                    crate::users::TagInput {
                        key: "vip".into(),
                        value: "yes".into(),
                    },
                ]),
                ..crate::users::UserPatch::default()
            },
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The IdP now says another name, another department, other groups.
    m.first_name = "Anabel".into();
    m.tags = vec![idp_tag("dept", "Sales")];
    m.groups = Some(vec!["ops".into()]);
    let updated = h.idp_user(app.id, "sub-1", &m).await;
    assert_eq!(updated.first_name, "Anabel");
    assert_eq!(
        updated.group_names(),
        vec!["ops"],
        "groups follow the claim"
    );
    let tags: Vec<(String, String, TagSource)> = updated
        .tags
        .iter()
        .map(|t| (t.key.to_string(), t.value.clone(), t.source))
        .collect();
    assert!(
        tags.contains(&("dept".into(), "Sales".into(), TagSource::Idp)),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("vip".into(), "yes".into(), TagSource::Admin)),
        "{tags:?}"
    );
    assert!(
        !tags.contains(&("dept".into(), "R&D".into(), TagSource::Idp)),
        "the old IdP tag is gone: {tags:?}"
    );
    let ev = h.audit(app.id, "user.updated_from_idp").await;
    assert_eq!(ev.len(), 1);
    let changed = ev[0].details["changed"].to_string();
    assert!(
        changed.contains("first_name") && changed.contains("groups"),
        "{changed}"
    );
}

#[tokio::test]
async fn without_a_groups_claim_groups_are_left_alone() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let mut m = mapped("ana@example.com");
    m.groups = Some(vec!["eng".into()]);
    h.idp_user(app.id, "s", &m).await;
    m.groups = None;
    let u = h.idp_user(app.id, "s", &m).await;
    assert_eq!(u.group_names(), vec!["eng"]);
}

#[tokio::test]
async fn a_verified_address_links_to_an_existing_verified_account() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let local = h.user(app.id, "ana@example.com", None).await;
    let user = h
        .idp_user(app.id, "sub-9", &mapped("Ana@Example.com"))
        .await;
    assert_eq!(user.id, local.id, "one user, never two");
    assert_eq!(user.identities.len(), 1);
    let linked = h.audit(app.id, "user.identity_linked").await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].details["issuer"], ISS);
}

#[tokio::test]
async fn an_unverified_address_never_takes_over_an_account() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    h.user(app.id, "ana@example.com", None).await;
    for verified in [None, Some(false)] {
        let mut m = mapped("ana@example.com");
        m.email_verified = verified;
        let r =
            h.gh.directory()
                .sign_in_user(
                    app.id,
                    &gatehouse_core::user::Identity::of(&iss(), "attacker"),
                    &m,
                    verified,
                    Link::default(),
                    &ctx(),
                )
                .await;
        assert!(
            matches!(r, Err(SignInError::EmailNotVerified { .. })),
            "{verified:?}: {r:?}"
        );
    }
    assert!(h.audit(app.id, "user.identity_linked").await.is_empty());
}

#[tokio::test]
async fn an_unknown_unverified_address_still_creates_its_own_user() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let mut m = mapped("new@example.com");
    m.email_verified = None;
    let u = h.idp_user(app.id, "n", &m).await;
    assert_eq!(
        u.email_verified, None,
        "the IdP said nothing of the address"
    );
}

#[tokio::test]
async fn an_address_taken_by_another_user_refuses_the_update() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    h.idp_user(app.id, "a", &mapped("a@example.com")).await;
    h.user(app.id, "b@example.com", None).await;
    // The IdP renames a@ to b@, an address another user already has.
    let r =
        h.gh.directory()
            .sign_in_user(
                app.id,
                &gatehouse_core::user::Identity::of(&iss(), "a"),
                &mapped("b@example.com"),
                Some(true),
                Link::default(),
                &ctx(),
            )
            .await;
    assert!(matches!(r, Err(SignInError::EmailTaken { .. })), "{r:?}");
}

#[tokio::test]
async fn two_first_sign_ins_of_one_identity_make_one_user() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let m = mapped("race@example.com");
    let c = ctx();
    let directory = h.gh.directory();
    let iss = iss();
    let same = gatehouse_core::user::Identity::of(&iss, "same");
    let (a, b) = tokio::join!(
        directory.sign_in_user(app.id, &same, &m, Some(true), Link::default(), &c),
        directory.sign_in_user(app.id, &same, &m, Some(true), Link::default(), &c),
    );
    let (a, b) = (
        a.unwrap_or_else(|e| panic!("{e}")),
        b.unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(a.id, b.id);
    assert_eq!(h.audit(app.id, "user.created").await.len(), 1);
}

#[tokio::test]
async fn the_same_identity_in_two_applications_is_two_users() {
    let h = Harness::new().await;
    let (a, b) = (h.app("alpha").await, h.app("beta").await);
    let ua = h.idp_user(a.id, "s", &mapped("ana@example.com")).await;
    let ub = h.idp_user(b.id, "s", &mapped("ana@example.com")).await;
    assert_ne!(ua.id, ub.id);
    assert_eq!(ub.app_id, b.id);
}

#[tokio::test]
async fn a_disabled_user_is_still_found_by_identity() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let u = h.idp_user(app.id, "d", &mapped("d@example.com")).await;
    h.gh.directory()
        .update(
            app.id,
            u.id,
            crate::users::UserPatch {
                status: Some(UserStatus::Disabled),
                ..crate::users::UserPatch::default()
            },
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = h.idp_user(app.id, "d", &mapped("d@example.com")).await;
    assert_eq!(again.id, u.id);
    assert_eq!(
        again.status,
        UserStatus::Disabled,
        "a sign-in does not re-enable"
    );
}

#[test]
fn claims_missing_a_required_mapping_are_refused() {
    let mappings = ClaimMappings::default();
    let claims = json!({"sub": "x", "given_name": "Ana"});
    let Some(claims) = claims.as_object() else {
        panic!("not an object")
    };
    let r = mapping::map(claims, &mappings, None);
    assert!(
        matches!(
            r,
            Err(mapping::MappingError::MissingClaim {
                mapping: "E-mail",
                ..
            })
        ),
        "{r:?}"
    );
    let claims = json!({"email": "ana@example.com"});
    let Some(claims) = claims.as_object() else {
        panic!("not an object")
    };
    let r = mapping::map(claims, &mappings, None);
    assert!(
        matches!(
            r,
            Err(mapping::MappingError::MissingClaim {
                mapping: "First Name",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn a_groups_claim_maps_to_groups() {
    let claims = json!({"email": "a@example.com", "given_name": "A", "groups": ["eng", "ops"]});
    let Some(claims) = claims.as_object() else {
        panic!("not an object")
    };
    let path = gatehouse_core::claims::ClaimPath::parse("groups", "groups_claim")
        .unwrap_or_else(|e| panic!("{e}"));
    let m = mapping::map(claims, &ClaimMappings::default(), Some(&path))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.groups, Some(vec!["eng".to_owned(), "ops".to_owned()]));
    let none =
        mapping::map(claims, &ClaimMappings::default(), None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(none.groups, None);
}
