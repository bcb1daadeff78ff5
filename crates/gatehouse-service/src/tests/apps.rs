//! Applications: created, changed and deleted through the use cases, each
//! with its audit event, and the routing snapshot following at once.

use gatehouse_core::RequestHost;

use super::{Harness, ctx, new_app};
use crate::ServiceError;
use crate::apps::{AppPatch, NewApp};

fn host(raw: &str) -> RequestHost {
    RequestHost::parse(raw).unwrap_or_else(|| panic!("{raw} is not a host"))
}

#[tokio::test]
async fn a_new_application_is_routed_at_once_and_audited() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let routes = h.gh.routes();
    let found = routes.find(&host("alpha.localhost")).map(|rt| rt.app.id);
    assert_eq!(found, Some(app.id));
    assert!(routes.find(&host("beta.localhost")).is_none());
    let ev = h.audit(app.id, "app.created").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].target.as_deref(), Some("alpha"));
}

#[tokio::test]
async fn a_host_belongs_to_one_application_only() {
    let h = Harness::new().await;
    h.app("alpha").await;
    let r =
        h.gh.apps()
            .create(
                NewApp {
                    name: "Thief".into(),
                    hosts: vec!["alpha.localhost".into()],
                    ..NewApp::default()
                },
                &ctx(),
            )
            .await;
    assert!(
        matches!(r, Err(ServiceError::Conflict { field: "hosts", .. })),
        "{r:?}"
    );
}

#[tokio::test]
async fn bad_input_names_every_field_at_fault_and_writes_nothing() {
    let h = Harness::new().await;
    let r =
        h.gh.apps()
            .create(
                NewApp {
                    name: String::new(),
                    slug: Some("Bad Slug".into()),
                    hosts: vec!["http://not a host".into()],
                    ..NewApp::default()
                },
                &ctx(),
            )
            .await;
    let Err(ServiceError::Invalid(inv)) = r else {
        panic!("accepted: {r:?}");
    };
    let fields: Vec<&str> = inv.errors.iter().map(|e| e.field.as_str()).collect();
    assert!(
        fields.contains(&"name") && fields.contains(&"slug"),
        "{fields:?}"
    );
    assert!(
        h.gh.apps()
            .list()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
}

#[tokio::test]
async fn moving_a_host_reroutes_it_and_deleting_unroutes_it() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    h.gh.apps()
        .update(
            app.id,
            AppPatch {
                hosts: Some(vec!["moved.localhost".into()]),
                ..AppPatch::default()
            },
            &ctx(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(h.gh.routes().find(&host("alpha.localhost")).is_none());
    assert!(h.gh.routes().find(&host("moved.localhost")).is_some());
    assert_eq!(h.audit(app.id, "app.updated").await.len(), 1);
    h.gh.apps()
        .delete(app.id, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(h.gh.routes().find(&host("moved.localhost")).is_none());
    assert!(matches!(
        h.gh.apps().get(app.id).await,
        Err(ServiceError::NotFound(_))
    ));
}

#[tokio::test]
async fn applications_are_found_by_slug() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let found =
        h.gh.apps()
            .by_slug("alpha")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.id, app.id);
    assert!(h.gh.apps().by_slug("nope").await.is_err());
}

#[tokio::test]
async fn deleting_an_application_ends_its_sessions() {
    let h = Harness::new().await;
    let app = h.app("alpha").await;
    let user = h.user(app.id, "ana@example.com", None).await;
    let (cookie, _) = h.session_for(&app, &user).await;
    assert!(h.live(app.id, &cookie).await);
    h.gh.apps()
        .delete(app.id, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !h.live(app.id, &cookie).await,
        "the cached session went with the application"
    );
}

#[tokio::test]
async fn a_unit_of_work_applies_several_use_cases_at_once_or_not_at_all() {
    use gatehouse_core::access::{AccessPolicyInput, NewGrant, Subject};
    let h = Harness::new().await;
    h.app("alpha").await;

    // An application, a grant and an access policy, committed together.
    let work = h.gh.work().await.unwrap_or_else(|e| panic!("{e}"));
    let beta = work
        .apps()
        .create(new_app("beta"), &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let grant = NewGrant::new("member", Subject::group("eng")).unwrap_or_else(|e| panic!("{e}"));
    work.access()
        .create_grant(beta.id, grant, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let policy = AccessPolicyInput {
        default_role: Some("viewer".into()),
        ..AccessPolicyInput::default()
    };
    work.access()
        .put_policy(beta.id, policy, &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        h.gh.routes().get(beta.id).is_none(),
        "not routed before the commit"
    );
    assert!(
        matches!(
            h.gh.apps().get(beta.id).await,
            Err(ServiceError::NotFound(_))
        ),
        "not visible before the commit"
    );
    work.commit().await.unwrap_or_else(|e| panic!("{e}"));
    let rt = h.rt(beta.id);
    assert_eq!(rt.grants.len(), 1);
    assert_eq!(
        rt.access.default_role.as_ref().map(|r| r.as_str()),
        Some("viewer")
    );
    for action in ["app.created", "grant.created", "access.updated"] {
        assert_eq!(h.audit(beta.id, action).await.len(), 1, "{action}");
    }

    // One failed write (a taken slug) fails the unit: nothing of it lands.
    let work = h.gh.work().await.unwrap_or_else(|e| panic!("{e}"));
    let gamma = work
        .apps()
        .create(new_app("gamma"), &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut again = new_app("alpha");
    again.hosts = vec!["alpha2.localhost".into()];
    assert!(matches!(
        work.apps().create(again, &ctx()).await,
        Err(ServiceError::Conflict { field: "slug", .. })
    ));
    assert!(work.commit().await.is_err(), "the commit refuses");
    assert!(matches!(
        h.gh.apps().get(gamma.id).await,
        Err(ServiceError::NotFound(_))
    ));
    assert!(h.gh.routes().get(gamma.id).is_none());
    assert!(h.audit(gamma.id, "app.created").await.is_empty());

    // Dropped without a commit: nothing either.
    let work = h.gh.work().await.unwrap_or_else(|e| panic!("{e}"));
    let delta = work
        .apps()
        .create(new_app("delta"), &ctx())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(work);
    assert!(h.gh.apps().get(delta.id).await.is_err());
}
