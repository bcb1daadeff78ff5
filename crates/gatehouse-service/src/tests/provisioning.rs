//! Provisioning through the handle: SCIM tokens serve one application;
//! users SCIM creates, adopts, deactivates and deletes (sessions end at
//! once, the next sign-in is refused, an administrator's disable wins);
//! sign-ins link to provisioned users by the configured claim; groups from
//! SCIM and from the claim meet, and grants follow a rename.

use gatehouse_core::access::{NewGrant, Subject};
use gatehouse_core::provisioning::GroupsClaimValues;
use gatehouse_core::user::{Deactivation, GroupSource};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{Harness, ctx, iss, mapped};
use crate::oidc::SignInError;
use crate::oidc::users::Link;
use crate::provisioning::{ListQuery, ProvisioningError, ProvisioningInput, ScimCaller};

const BASE: &str = "http://alpha.localhost/auth/scim/v2";

async fn caller(h: &Harness, app: gatehouse_core::AppId) -> ScimCaller {
    let (_, token) =
        h.gh.provisioning()
            .create_token(app, "okta", &ctx())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    h.gh.provisioning()
        .authenticate(app, Some(token.expose_secret()), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn scim_user(user_name: &str, email: &str, ext: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": ext,
        "name": {"givenName": "Pia", "familyName": "Lund"},
        "emails": [{"value": email, "type": "work", "primary": true}],
        "active": true,
    })
}

fn id_of(doc: &Value) -> String {
    doc["id"].as_str().unwrap_or_default().to_owned()
}

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

#[tokio::test]
async fn a_token_serves_only_its_application_and_only_until_revoked() {
    let h = Harness::new().await;
    let a = h.app("alpha").await;
    let b = h.app("beta").await;
    let p = h.gh.provisioning();
    let (record, token) = p
        .create_token(a.id, "okta", &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(token.expose_secret().starts_with("ghscim_"));
    assert!(
        p.authenticate(a.id, Some(token.expose_secret()), None)
            .await
            .is_ok()
    );
    for (app, t) in [
        (b.id, token.expose_secret().to_owned()),
        (a.id, "gha_not_a_scim_token".to_owned()),
        (a.id, format!("{}x", token.expose_secret())),
    ] {
        assert!(matches!(
            p.authenticate(app, Some(&t), None).await,
            Err(ProvisioningError::Unauthorized)
        ));
    }
    p.revoke_token(a.id, record.id, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        p.authenticate(a.id, Some(token.expose_secret()), None)
            .await,
        Err(ProvisioningError::Unauthorized)
    ));
    // The audit names the token, never the token itself.
    let events = h.audit(a.id, "scim_token").await;
    assert_eq!(events.len(), 2);
    assert!(
        !serde_json::to_string(&events)
            .unwrap_or_default()
            .contains(token.expose_secret())
    );
}

#[tokio::test]
async fn deactivation_ends_sessions_refuses_sign_in_and_reactivation_lets_in() {
    let h = Harness::new().await;
    let a = h.app("alpha").await;
    let who = caller(&h, a.id).await;
    let p = h.gh.provisioning();
    let made = p
        .create_user(&who, BASE, &scim_user("pia", "pia@example.com", "00u1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = id_of(&made);
    assert_eq!(made["userName"], "pia");

    // She signs in through the IdP with another address: linked by
    // externalId = sub (the default link claim), not by e-mail.
    let rt = h.rt(a.id);
    let signed_in =
        h.gh.directory()
            .sign_in_user(
                a.id,
                &gatehouse_core::user::Identity::of(&iss(), "00u1"),
                &mapped("pia.lund@corp.example"),
                Some(true),
                Link {
                    external_id: Some("00u1"),
                    settings: &rt.provisioning,
                },
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(signed_in.id.to_string(), id, "one user, never two");
    assert_eq!(
        h.audit(a.id, "user.identity_linked").await[0].details["by"],
        "external_id"
    );
    let (cookie, _) = h.session_for(&a, &signed_in).await;
    assert!(h.live(a.id, &cookie).await);

    // Entra ID's shape: capitalised op, the boolean as a string.
    p.patch_user(
        &who,
        BASE,
        &id,
        &patch(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!h.live(a.id, &cookie).await, "the session ended at once");
    let r =
        h.gh.directory()
            .sign_in_user(
                a.id,
                &gatehouse_core::user::Identity::of(&iss(), "00u1"),
                &mapped("pia.lund@corp.example"),
                Some(true),
                Link::default(),
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.deactivation(),
        Some(Deactivation::DeactivatedByProvisioning)
    );

    // Okta's shape: replace without a path.
    p.patch_user(
        &who,
        BASE,
        &id,
        &patch(json!([{"op": "replace", "value": {"active": true}}])),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let u =
        h.gh.directory()
            .get(a.id, signed_in.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(u.may_sign_in());

    // An administrator's disable wins over SCIM's active: true.
    h.disable(a.id, u.id).await;
    p.replace_user(
        &who,
        BASE,
        &id,
        &scim_user("pia", "pia@example.com", "00u1"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let u =
        h.gh.directory()
            .get(a.id, u.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(u.deactivation(), Some(Deactivation::DisabledByAdmin));
    let events = h.audit(a.id, "scim.user.replaced").await;
    assert_eq!(events[0].details["admin_disable_kept"], true);
    assert!(events[0].actor.to_string().starts_with("scim-token:okta"));
}

#[tokio::test]
async fn delete_leaves_a_tombstone_that_refuses_the_next_sign_in() {
    let h = Harness::new().await;
    let a = h.app("alpha").await;
    let who = caller(&h, a.id).await;
    let p = h.gh.provisioning();
    let signed_in = h
        .idp_user(a.id, "sub-ola", &mapped("ola@example.com"))
        .await;
    assert_eq!(signed_in.user_name, "ola@example.com");
    let (cookie, _) = h.session_for(&a, &signed_in).await;
    // Okta finds the signed-in user by userName, and adopts it with a PUT.
    let found = p
        .list_users(
            &who,
            BASE,
            &ListQuery {
                filter: Some(r#"userName eq "OLA@example.com""#.into()),
                count: Some("100".into()),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found["totalResults"], 1);
    let id = id_of(&found["Resources"][0]);
    p.replace_user(
        &who,
        BASE,
        &id,
        &scim_user("ola@example.com", "ola@example.com", "00u2"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    p.delete_user(&who, &id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!h.live(a.id, &cookie).await);
    assert!(
        matches!(p.get_user(&who, BASE, &id, &Default::default()).await, Err(ProvisioningError::Scim(e)) if e.status == 404)
    );
    let listed = p
        .list_users(&who, BASE, &ListQuery::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed["totalResults"], 0, "invisible to SCIM");
    let again =
        h.gh.directory()
            .sign_in_user(
                a.id,
                &gatehouse_core::user::Identity::of(&iss(), "sub-ola"),
                &mapped("ola@example.com"),
                Some(true),
                Link::default(),
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.id, signed_in.id, "not re-created");
    assert_eq!(
        again.deactivation(),
        Some(Deactivation::DeletedByProvisioning)
    );
    // Provisioning may make the user again.
    let made = p
        .create_user(
            &who,
            BASE,
            &scim_user("ola@example.com", "ola@example.com", "00u2"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(id_of(&made), id);
}

#[tokio::test]
async fn a_taken_user_name_is_a_uniqueness_conflict() {
    let h = Harness::new().await;
    let a = h.app("alpha").await;
    let who = caller(&h, a.id).await;
    let p = h.gh.provisioning();
    p.create_user(&who, BASE, &scim_user("pia", "pia@example.com", "1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let e = p
        .create_user(&who, BASE, &scim_user("PIA", "other@example.com", "2"))
        .await;
    assert!(
        matches!(e, Err(ProvisioningError::Scim(e)) if e.status == 409 && e.scim_type == Some(gatehouse_scim::ScimType::Uniqueness))
    );
}

#[tokio::test]
async fn provisioned_only_refuses_anyone_not_provisioned() {
    let h = Harness::new().await;
    let a = h.app("alpha").await;
    h.gh.provisioning()
        .put_settings(
            a.id,
            ProvisioningInput {
                attribute_tags: None,
                groups_claim_values: None,
                link_claim: None,
                provisioned_only: Some(true),
            },
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = h.rt(a.id);
    let r =
        h.gh.directory()
            .sign_in_user(
                a.id,
                &gatehouse_core::user::Identity::of(&iss(), "x"),
                &mapped("x@example.com"),
                Some(true),
                Link {
                    external_id: Some("x"),
                    settings: &rt.provisioning,
                },
                &ctx(),
            )
            .await;
    assert!(
        matches!(r, Err(SignInError::NotProvisioned { .. })),
        "{r:?}"
    );
    // A local password does not get around it.
    h.user(a.id, "local@example.com", Some("a-long-password"))
        .await;
    let local =
        h.gh.sign_in()
            .with_password(
                &a,
                "local@example.com",
                secrecy::SecretString::from("a-long-password".to_owned()),
                None,
                &crate::sessions::ClientInfo::default(),
                &ctx(),
            )
            .await;
    assert!(matches!(
        local,
        Err(crate::ServiceError::InvalidCredentials)
    ));
    assert_eq!(
        h.audit(a.id, "signin.failed").await[0].details["reason"],
        "not_provisioned"
    );
}

#[tokio::test]
async fn scim_and_claim_groups_meet_and_grants_follow_a_rename() {
    let h = Harness::new().await;
    let a = h.app("alpha").await;
    let who = caller(&h, a.id).await;
    let p = h.gh.provisioning();
    h.gh.provisioning()
        .put_settings(
            a.id,
            ProvisioningInput {
                attribute_tags: None,
                groups_claim_values: Some(GroupsClaimValues::Ids),
                link_claim: Some("oid".into()),
                provisioned_only: None,
            },
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pia = id_of(
        &p.create_user(
            &who,
            BASE,
            &scim_user("pia@example.com", "pia@example.com", "oid-pia"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let g = p
        .create_group(
            &who,
            BASE,
            &json!({"displayName": "eng", "externalId": "grp-eng", "members": [{"value": pia}]}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let gid = id_of(&g);
    h.gh.access()
        .create_grant(
            a.id,
            NewGrant::new("member", Subject::group("eng")).unwrap_or_else(|e| panic!("{e}")),
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Entra ID: the groups claim carries object ids; the link claim is oid.
    let rt = h.rt(a.id);
    let mut m = mapped("pia@example.com");
    m.groups = Some(vec!["grp-eng".into(), "grp-other".into()]);
    let u =
        h.gh.directory()
            .sign_in_user(
                a.id,
                &gatehouse_core::user::Identity::of(&iss(), "pairwise-sub"),
                &m,
                Some(true),
                Link {
                    external_id: Some("oid-pia"),
                    settings: &rt.provisioning,
                },
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(u.id.to_string(), pia);
    assert_eq!(u.group_names(), vec!["eng", "grp-other"]);
    assert!(
        u.groups
            .iter()
            .any(|m| m.name == "eng" && m.source == GroupSource::Scim)
    );
    assert!(
        u.groups
            .iter()
            .any(|m| m.name == "eng" && m.source == GroupSource::Claim)
    );
    assert!(h.rt(a.id).decide(&u).allowed());

    // Renamed by SCIM: the grant moves along, and the user's groups follow.
    p.patch_group(
        &who,
        BASE,
        &gid,
        &patch(json!([{"op": "replace", "path": "displayName", "value": "engineering"}])),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let grants =
        h.gh.access()
            .grants(a.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(grants[0].subject, Subject::Group("engineering".into()));
    let u =
        h.gh.directory()
            .get(a.id, u.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(u.in_group("engineering") && !u.in_group("eng"));
    assert!(h.rt(a.id).decide(&u).allowed());
    let ev = h.audit(a.id, "scim.group.patched").await;
    assert_eq!(ev[0].details["renamed_from"], "eng");
    assert_eq!(ev[0].details["grants_moved"], 1);

    // Entra ID removes members by a value array.
    p.patch_group(
        &who,
        BASE,
        &gid,
        &patch(json!([{"op": "Remove", "path": "members", "value": [{"value": pia}]}])),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let u =
        h.gh.directory()
            .get(a.id, u.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(!u.groups.iter().any(|m| m.source == GroupSource::Scim));
}

#[tokio::test]
async fn concurrent_member_patches_all_take_effect() {
    let h = Harness::new().await;
    let a = h.app("alpha").await;
    let who = caller(&h, a.id).await;
    let p = h.gh.provisioning();
    let mut ids = Vec::new();
    for i in 0..8 {
        let d = p
            .create_user(
                &who,
                BASE,
                &scim_user(
                    &format!("u{i}@example.com"),
                    &format!("u{i}@example.com"),
                    &format!("e{i}"),
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        ids.push(id_of(&d));
    }
    let g = id_of(
        &p.create_group(&who, BASE, &json!({"displayName": "all"}))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let adds = ids.iter().map(|id| {
        let (gh, who, g) = (h.gh.clone(), who.clone(), g.clone());
        let body = patch(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]));
        tokio::spawn(async move {
            gh.provisioning()
                .patch_group(&who, BASE, &g, &body)
                .await
                .map(|_| ())
        })
    });
    for t in adds.collect::<Vec<_>>() {
        t.await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let doc = p
        .get_group(&who, BASE, &g, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["members"].as_array().map(Vec::len), Some(8), "{doc}");
}

#[tokio::test]
async fn a_concurrent_patch_never_undoes_a_deactivation_or_a_rename() {
    let h = Harness::new().await;
    let a = h.app("alpha").await;
    let who = caller(&h, a.id).await;
    let p = h.gh.provisioning();
    for round in 0..10 {
        let id = id_of(
            &p.create_user(
                &who,
                BASE,
                &scim_user(
                    &format!("r{round}@example.com"),
                    &format!("r{round}@example.com"),
                    &format!("x{round}"),
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        );
        let off = patch(json!([{"op": "replace", "path": "active", "value": false}]));
        let name = patch(
            json!([{"op": "replace", "path": "name.givenName", "value": format!("N{round}")}]),
        );
        let (gh1, gh2, w1, w2, i1, i2) = (
            h.gh.clone(),
            h.gh.clone(),
            who.clone(),
            who.clone(),
            id.clone(),
            id.clone(),
        );
        let t1 = tokio::spawn(async move {
            gh1.provisioning()
                .patch_user(&w1, BASE, &i1, &off)
                .await
                .map(|_| ())
        });
        let t2 = tokio::spawn(async move {
            gh2.provisioning()
                .patch_user(&w2, BASE, &i2, &name)
                .await
                .map(|_| ())
        });
        t1.await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        t2.await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let doc = p
            .get_user(&who, BASE, &id, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc["active"], false, "round {round}: {doc}");
        assert_eq!(
            doc["name"]["givenName"],
            format!("N{round}"),
            "both applied"
        );
    }
    // A rename and a member change of one group: both land.
    let u = id_of(
        &p.create_user(
            &who,
            BASE,
            &scim_user("m@example.com", "m@example.com", "m"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}")),
    );
    for round in 0..5 {
        let g = id_of(
            &p.create_group(&who, BASE, &json!({"displayName": format!("g{round}")}))
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let rename = patch(
            json!([{"op": "replace", "path": "displayName", "value": format!("renamed{round}")}]),
        );
        let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": u}]}]));
        let (gh1, gh2, w1, w2, g1, g2) = (
            h.gh.clone(),
            h.gh.clone(),
            who.clone(),
            who.clone(),
            g.clone(),
            g.clone(),
        );
        let t1 = tokio::spawn(async move {
            gh1.provisioning()
                .patch_group(&w1, BASE, &g1, &rename)
                .await
                .map(|_| ())
        });
        let t2 = tokio::spawn(async move {
            gh2.provisioning()
                .patch_group(&w2, BASE, &g2, &add)
                .await
                .map(|_| ())
        });
        t1.await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        t2.await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let doc = p
            .get_group(&who, BASE, &g, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc["displayName"], format!("renamed{round}"), "{doc}");
        assert_eq!(doc["members"].as_array().map(Vec::len), Some(1), "{doc}");
    }
}

#[tokio::test]
async fn scim_sees_only_groups_it_made_or_adopted_and_deleting_one_keeps_others_memberships() {
    let h = Harness::new().await;
    let a = h.app("alpha").await;
    let who = caller(&h, a.id).await;
    let p = h.gh.provisioning();
    let admin_made = h.user(a.id, "ops@example.com", None).await;
    h.gh.directory()
        .update(
            a.id,
            admin_made.id,
            crate::users::UserPatch {
                groups: Some(vec!["ops".into()]),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listed = p
        .list_groups(&who, BASE, &ListQuery::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        listed["totalResults"], 0,
        "the administrator's group is not SCIM's"
    );
    // SCIM adopts it by name; a second POST of the name is a conflict.
    let g = id_of(
        &p.create_group(&who, BASE, &json!({"displayName": "ops"}))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let again = p
        .create_group(
            &who,
            BASE,
            &json!({"displayName": "ops", "externalId": "other"}),
        )
        .await;
    assert!(matches!(again, Err(ProvisioningError::Scim(e)) if e.status == 409));
    // Deleted by SCIM: the administrator's membership stays.
    p.delete_group(&who, &g)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let u =
        h.gh.directory()
            .get(a.id, admin_made.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(u.group_names(), vec!["ops"]);
    assert!(
        matches!(p.get_group(&who, BASE, &g, &Default::default()).await, Err(ProvisioningError::Scim(e)) if e.status == 404)
    );
    // A no-op PATCH writes nothing.
    let g2 = id_of(
        &p.create_group(&who, BASE, &json!({"displayName": "quiet"}))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let before = h.audit(a.id, "scim.group").await.len();
    p.patch_group(
        &who,
        BASE,
        &g2,
        &patch(json!([{"op": "replace", "path": "displayName", "value": "quiet"}])),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.audit(a.id, "scim.group").await.len(), before);
}

#[tokio::test]
async fn a_stale_user_name_adopts_nobody_and_active_cannot_be_removed() {
    let h = Harness::new().await;
    let a = h.app("alpha").await;
    let who = caller(&h, a.id).await;
    let p = h.gh.provisioning();
    // Carl's address changed; his userName is still the old one.
    let carl = h.user(a.id, "carl@example.com", None).await;
    h.gh.directory()
        .update(
            a.id,
            carl.id,
            crate::users::UserPatch {
                email: Some("carl.moved@example.com".into()),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let newcomer = p
        .create_user(
            &who,
            BASE,
            &scim_user("carl@example.com", "carl@example.com", "n1"),
        )
        .await;
    assert!(
        matches!(newcomer, Err(ProvisioningError::Scim(e)) if e.status == 409),
        "not Carl's account"
    );
    let carl =
        h.gh.directory()
            .get(a.id, carl.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(carl.email.as_str(), "carl.moved@example.com");
    assert!(!carl.provisioned);
    // Removing `active` does not re-activate anyone: refused.
    let id = id_of(
        &p.create_user(
            &who,
            BASE,
            &scim_user("dee@example.com", "dee@example.com", "d"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}")),
    );
    p.patch_user(
        &who,
        BASE,
        &id,
        &patch(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    for op in [
        json!({"op": "remove", "path": "active"}),
        json!({"op": "replace", "path": "active", "value": null}),
    ] {
        let r = p.patch_user(&who, BASE, &id, &patch(json!([op]))).await;
        assert!(matches!(r, Err(ProvisioningError::Scim(e)) if e.status == 400));
    }
    let doc = p
        .get_user(&who, BASE, &id, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["active"], false);
    // A PUT with the same members is no change.
    let g = id_of(
        &p.create_group(
            &who,
            BASE,
            &json!({"displayName": "same", "members": [{"value": id}]}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let before = h.audit(a.id, "scim.group").await.len();
    p.replace_group(
        &who,
        BASE,
        &g,
        &json!({"displayName": "same", "members": [{"value": id}]}),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.audit(a.id, "scim.group").await.len(), before);
}
