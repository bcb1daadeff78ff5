//! Access: grants by e-mail, group and tag; default deny and default role;
//! per-route rules; changes applying on the next request.

use gatehouse_testkit::{EchoUpstream, TestApp};
use serde_json::json;

const PW: &str = "correct-horse-battery";

struct Fixture {
    app: TestApp,
    id: String,
    _up: EchoUpstream,
}

impl Fixture {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let up = EchoUpstream::start().await;
        let id = app.create_app_denying("shop", Some(&up.url())).await;
        Self { app, id, _up: up }
    }

    async fn user(
        &self,
        email: &str,
        groups: &[&str],
        tags: &[(&str, &str)],
    ) -> gatehouse_testkit::AppClient {
        let tags: Vec<_> = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let r = self
            .app
            .api()
            .post(
                &format!("/api/v1/apps/{}/users", self.id),
                &json!({"email": email, "first_name": "U", "password": PW, "groups": groups, "tags": tags}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        self.app.client("shop.localhost")
    }

    async fn grant(&self, role: &str, subject: serde_json::Value) -> String {
        let r = self
            .app
            .api()
            .post(
                &format!("/api/v1/apps/{}/grants", self.id),
                &json!({"role": role, "subject": subject}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["id"].as_str().unwrap().to_owned()
    }

    async fn sign_in(&self, c: &gatehouse_testkit::AppClient, email: &str) -> u16 {
        c.post_form(
            "/auth/login",
            &[("email", email), ("password", PW), ("rd", "/")],
        )
        .await
        .status
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_come_from_grants_by_email_group_and_tag_and_nobody_else_gets_in() {
    let f = Fixture::new().await;
    let ana = f.user("ana@example.com", &[], &[]).await;
    let bo = f.user("bo@example.com", &["eng"], &[]).await;
    let cy = f.user("cy@example.com", &[], &[("dept", "R&D")]).await;
    let dee = f
        .user("dee@example.com", &["sales"], &[("dept", "Sales")])
        .await;
    f.grant("admin", json!({"email": "ANA@example.com"})).await;
    f.grant("member", json!({"group": "eng"})).await;
    f.grant("viewer", json!({"tag": {"key": "dept", "value": "R&D"}}))
        .await;
    f.grant("member", json!({"tag": {"key": "dept", "value": "R&D"}}))
        .await;

    for (c, email) in [
        (&ana, "ana@example.com"),
        (&bo, "bo@example.com"),
        (&cy, "cy@example.com"),
    ] {
        assert_eq!(f.sign_in(c, email).await, 303, "{email}");
    }
    let roles = |r: &gatehouse_testkit::client::Resp| {
        r.json["headers"]["x-auth-request-roles"][0]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(roles(&ana.get("/").await), "admin");
    assert_eq!(roles(&bo.get("/").await), "member");
    assert_eq!(roles(&cy.get("/").await), "member,viewer");

    // dee matches no grant: refused at sign-in with a page saying who she is, and no session.
    let r = dee
        .post_form(
            "/auth/login",
            &[("email", "dee@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.text.contains("dee@example.com")
            && r.text.contains("Ask an administrator to grant you access"),
        "{}",
        r.text
    );
    assert!(dee.session_cookie().is_none());
    let audit = f
        .app
        .api()
        .get(&format!("/api/v1/apps/{}/audit?action=signin.failed", f.id))
        .await;
    assert_eq!(audit.json[0]["details"]["reason"], "no_access");

    // With a default role, everyone who signs in gets it.
    let r = f
        .app
        .api()
        .put(
            &format!("/api/v1/apps/{}/access", f.id),
            &json!({"default_role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(f.sign_in(&dee, "dee@example.com").await, 303);
    assert_eq!(roles(&dee.get("/").await), "viewer");
    // The default does not add to roles granted.
    assert_eq!(roles(&bo.get("/").await), "member");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_and_user_changes_apply_on_the_next_request_without_signing_out() {
    let f = Fixture::new().await;
    let bo = f.user("bo@example.com", &["eng"], &[]).await;
    let grant = f.grant("member", json!({"group": "eng"})).await;
    assert_eq!(f.sign_in(&bo, "bo@example.com").await, 303);
    assert_eq!(bo.get("/").await.status, 200);

    // The grant is taken back: the very next request is refused, with a way to sign out.
    assert_eq!(
        f.app
            .api()
            .delete(&format!("/api/v1/apps/{}/grants/{grant}", f.id))
            .await
            .status,
        204
    );
    let r = bo.get("/").await;
    assert_eq!(r.status, 403);
    assert!(r.text.contains("bo@example.com") && r.text.contains("/auth/logout"));
    // A grant on a tag bo does not have yet: still refused; give bo the tag: in.
    f.grant("member", json!({"tag": {"key": "team", "value": "blue"}}))
        .await;
    assert_eq!(bo.get("/").await.status, 403);
    let users = f
        .app
        .api()
        .get(&format!("/api/v1/apps/{}/users", f.id))
        .await;
    let uid = users.json[0]["id"].as_str().unwrap();
    let r = f
        .app
        .api()
        .patch(
            &format!("/api/v1/apps/{}/users/{uid}", f.id),
            &json!({"tags": [{"key": "team", "value": "blue"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        bo.get("/").await.status,
        200,
        "the user change applies at once"
    );
    // API callers get a problem document.
    let api = bo
        .get_with("/api/x", &[("accept", "application/json")])
        .await;
    assert_eq!(api.status, 200);
    let audit = f
        .app
        .api()
        .get(&format!("/api/v1/apps/{}/audit?action=grant", f.id))
        .await;
    let actions: Vec<&str> = audit
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["grant.created", "grant.deleted", "grant.created"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_route_rules_are_evaluated_in_order() {
    let f = Fixture::new().await;
    let admin = f.user("root@example.com", &["ops"], &[]).await;
    let member = f.user("mia@example.com", &["eng"], &[]).await;
    f.grant("admin", json!({"group": "ops"})).await;
    f.grant("member", json!({"group": "eng"})).await;
    let policy = json!({"routes": [
        {"prefix": "/admin/help", "roles": ["member", "admin"]},
        {"prefix": "/admin/", "roles": ["admin"]},
    ]});
    let r = f
        .app
        .api()
        .put(&format!("/api/v1/apps/{}/access", f.id), &policy)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["routes"][1]["prefix"], "/admin",
        "a trailing slash is dropped"
    );
    for (c, email) in [(&admin, "root@example.com"), (&member, "mia@example.com")] {
        assert_eq!(f.sign_in(c, email).await, 303);
    }
    assert_eq!(member.get("/shop").await.status, 200);
    let refused = member.get("/admin/users").await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.text.contains("needs the role admin"),
        "{}",
        refused.text
    );
    assert_eq!(member.get("/admin").await.status, 403);
    assert_eq!(
        member.get("/admin/help/faq").await.status,
        200,
        "the earlier rule wins"
    );
    assert_eq!(
        member.get("/administrators").await.status,
        200,
        "a prefix matches whole path segments"
    );
    assert_eq!(admin.get("/admin/users").await.status, 200);

    // Invalid policies name the field.
    let bad = f
        .app
        .api()
        .put(
            &format!("/api/v1/apps/{}/access", f.id),
            &json!({"routes": [{"prefix": "admin", "roles": ["Admin"]}]}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json["field"], "routes[0].prefix");
    let bad = f
        .app
        .api()
        .post(
            &format!("/api/v1/apps/{}/grants", f.id),
            &json!({"role": "member", "subject": {"team": "x"}}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.json["field"].as_str()),
        (422, Some("subject"))
    );
    let dup = f
        .app
        .api()
        .post(
            &format!("/api/v1/apps/{}/grants", f.id),
            &json!({"role": "member", "subject": {"group": "eng"}}),
        )
        .await;
    assert_eq!(dup.status, 409);
}
