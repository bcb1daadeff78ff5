//! The directory: local users created, changed, listed and deleted by an
//! administrator, with every field at fault named and every change audited.

use gatehouse_store::UserQuery;

use super::{Harness, ctx};
use crate::ServiceError;
use crate::users::{NewUser, TagInput, UserPatch};

#[tokio::test]
async fn an_address_is_one_user_per_application() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    h.user(app.id, "ana@example.com", None).await;
    let again =
        h.gh.directory()
            .create(
                app.id,
                NewUser {
                    email: "ANA@example.com".into(),
                    first_name: "Other".into(),
                    ..NewUser::default()
                },
                &ctx(),
            )
            .await;
    assert!(
        matches!(again, Err(ServiceError::Conflict { field: "email", .. })),
        "{again:?}"
    );
    // Another application may have its own Ana.
    let beta = h.app("beta").await;
    h.user(beta.id, "ana@example.com", None).await;
    assert_eq!(h.audit(app.id, "user.created").await.len(), 1);
}

#[tokio::test]
async fn bad_user_input_names_every_field_and_stores_nothing() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let r =
        h.gh.directory()
            .create(
                app.id,
                NewUser {
                    email: "not an address".into(),
                    first_name: String::new(),
                    tags: vec![TagInput {
                        key: "Bad Key!".into(),
                        value: "x".into(),
                    }],
                    ..NewUser::default()
                },
                &ctx(),
            )
            .await;
    let Err(ServiceError::Invalid(inv)) = r else {
        panic!("accepted: {r:?}");
    };
    let fields: Vec<&str> = inv.errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"email"), "{fields:?}");
    assert!(fields.contains(&"first_name"), "{fields:?}");
    assert!(
        fields.iter().any(|f| f.starts_with("tags[0]")),
        "{fields:?}"
    );
    let listed =
        h.gh.directory()
            .list(
                app.id,
                UserQuery {
                    limit: 10,
                    ..UserQuery::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(listed.is_empty());
}

#[tokio::test]
async fn users_are_listed_and_searched_by_email() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    for e in ["ana@example.com", "bob@example.com", "bea@other.org"] {
        h.user(app.id, e, None).await;
    }
    let q = |search: Option<&str>| UserQuery {
        search: search.map(str::to_owned),
        limit: 10,
        ..UserQuery::default()
    };
    let all =
        h.gh.directory()
            .list(app.id, q(None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let emails: Vec<&str> = all.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(
        emails,
        ["ana@example.com", "bea@other.org", "bob@example.com"]
    );
    let found =
        h.gh.directory()
            .list(app.id, q(Some("other.org")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn a_change_is_audited_with_what_changed() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let u = h.user(app.id, "ana@example.com", None).await;
    let changed =
        h.gh.directory()
            .update(
                app.id,
                u.id,
                UserPatch {
                    first_name: Some("Anabel".into()),
                    groups: Some(vec!["eng".into()]),
                    ..UserPatch::default()
                },
                &ctx(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(changed.first_name, "Anabel");
    assert_eq!(changed.group_names(), vec!["eng"]);
    let ev = h.audit(app.id, "user.updated").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].target.as_deref(), Some("ana@example.com"));
    let other = h.app("beta").await;
    let r =
        h.gh.directory()
            .update(other.id, u.id, UserPatch::default(), &ctx())
            .await;
    assert!(
        matches!(r, Err(ServiceError::NotFound(_))),
        "a user of another application is not found: {r:?}"
    );
}

#[tokio::test]
async fn a_user_deleted_in_a_unit_of_work_is_signed_out_at_the_commit_and_not_before() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let ana = h.user(app.id, "ana@example.com", None).await;
    let (cookie, _) = h.session_for(&app, &ana).await;
    assert!(h.live(app.id, &cookie).await);

    // Rolled back: the session was never touched on this node.
    let work = h.gh.work().await.unwrap_or_else(|e| panic!("{e}"));
    work.directory()
        .delete(app.id, ana.id, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(work);
    assert!(
        h.live(app.id, &cookie).await,
        "a rolled-back delete ends nothing"
    );

    // Committed: gone at once.
    let work = h.gh.work().await.unwrap_or_else(|e| panic!("{e}"));
    work.directory()
        .delete(app.id, ana.id, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        h.live(app.id, &cookie).await,
        "nothing changes before the commit"
    );
    work.commit().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !h.live(app.id, &cookie).await,
        "the commit ends the session here"
    );
}
