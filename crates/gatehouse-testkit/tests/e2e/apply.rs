//! Applications as code through the real binary: `gatehouse apply` locally
//! (on the database a running node uses) and with `--server`, `gatehouse
//! export`, and `gatehouse grant`. The running node must see every apply
//! within a second; secrets never appear in any output.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use gatehouse_testkit::app::ADMIN_TOKEN;
use gatehouse_testkit::node::{Node, SHARED_MASTER_KEY};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse-node");
const SECRET_A: &str = "alpha-secret-0123456789abcdef-one";
const SECRET_B: &str = "alpha-secret-0123456789abcdef-two";

/// A node on a SQLite file, and the command line on the same file.
struct Rig {
    dir: tempfile::TempDir,
    node: Node,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Rig {
    /// The node logs at debug level into `node.log` (read by [`Rig::log`]).
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/gh.db", dir.path().display());
        let log = dir.path().join("node.log");
        let node =
            Node::start_logging(BIN, &url, &[("GATEHOUSE_LOG_LEVEL", "debug")], Some(&log)).await;
        Self { dir, node }
    }

    /// The node's log so far; it never holds a secret.
    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("node.log")).unwrap();
        for s in [SECRET_A, SECRET_B, ADMIN_TOKEN] {
            assert!(!log.contains(s), "a secret in the node's log");
        }
        log
    }

    fn db(&self) -> String {
        format!("sqlite://{}/gh.db", self.dir.path().display())
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `gatehouse <args>` on this rig's database (`env` added).
    async fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        cli_on(&self.db(), self.dir.path(), args, env).await
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.node.api().get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.json
    }

    async fn app_id(&self, slug: &str) -> Option<String> {
        let apps = self.get("/api/v1/apps").await;
        apps.as_array()
            .unwrap()
            .iter()
            .find(|a| a["slug"] == slug)
            .map(|a| a["id"].as_str().unwrap().to_owned())
    }
}

async fn cli_on(db: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = tokio::process::Command::new(BIN);
    gatehouse_testkit::process::dies_with_us(&mut cmd);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("GATEHOUSE_TOKEN")
        .env("GATEHOUSE_DATABASE_URL", db)
        .env("GATEHOUSE_DATA_DIR", dir.join("data"))
        .env("GATEHOUSE_MASTER_KEY", SHARED_MASTER_KEY)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().await.unwrap();
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    for s in [SECRET_A, SECRET_B] {
        assert!(
            !out.stdout.contains(s) && !out.stderr.contains(s),
            "a secret in the output of {args:?}: {} {}",
            out.stdout,
            out.stderr
        );
    }
    out
}

fn file_text(client_id: &str, port: u16) -> String {
    format!(
        r#"
[[app]]
slug = "alpha"
name = "Alpha"
hosts = ["alpha.localhost:{port}"]
upstream_url = "http://127.0.0.1:9"

[app.sso]
enabled = true
issuer_url = "http://127.0.0.1:9/idp"
client_id = "{client_id}"
client_secret_env = "ALPHA_CLIENT_SECRET"
scopes = "openid profile email groups"
trust_email = true

[app.sso.claim_mappings]
other = [{{ claim = "department", tag = "dept" }}]

[[app.grant]]
role = "member"
subject = {{ group = "engineering" }}

[[app.grant]]
role = "admin"
subject = {{ email = "ana@example.com" }}

[app.access]
default_role = "viewer"
routes = [{{ prefix = "/admin", roles = ["admin"] }}]
strip_headers = ["X-Debug"]

[app.api_access]
enabled = true
audience = "alpha-api"

[app.provisioning]
provisioned_only = true
link_claim = "oid"

[[app]]
slug = "beta"
name = "Beta"
hosts = ["beta.localhost:{port}"]
"#
    )
}

/// Poll `f` until it is true, for at most `limit`; how long it took.
async fn until<F, Fut>(limit: Duration, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if f().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_plans_creates_is_idempotent_and_applies_one_change_exactly() {
    let rig = Rig::start().await;
    let port = rig.node.port();
    let f = rig.file("apps.toml", &file_text("alpha-client", port));
    let fp = f.to_str().unwrap();
    let env = [("ALPHA_CLIENT_SECRET", SECRET_A)];

    // Dry run: the plan, nothing written.
    let o = rig.cli(&["apply", "--file", fp, "--dry-run"], &env).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("+ app alpha\n"), "{}", o.stdout);
    assert!(o.stdout.contains("+ app beta\n"), "{}", o.stdout);
    assert!(
        o.stdout.contains("+ alpha.sso.client_secret (set)"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("+ alpha.grant member→group:engineering"),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr.contains("Dry run: 2 applications would change"),
        "{}",
        o.stderr
    );
    assert!(rig.app_id("alpha").await.is_none());

    // The host is unknown to the running node until the apply.
    let browser = rig.node.client("alpha.localhost");
    assert_ne!(browser.get("/").await.status, 303);

    let o = rig.cli(&["apply", "--file", fp], &env).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("Applied: 2 applications changed"),
        "{}",
        o.stderr
    );
    let took = until(Duration::from_secs(1), || async {
        browser.get("/").await.status == 303
    })
    .await;
    eprintln!("the running node saw the apply after {took:?}");

    let id = rig.app_id("alpha").await.unwrap();
    let sso = rig.get(&format!("/api/v1/apps/{id}/sso/oidc")).await;
    assert_eq!(sso["client_id"], "alpha-client");
    assert_eq!(sso["client_secret_set"], true);
    assert_eq!(sso["trust_email"], true);
    assert_eq!(sso["claim_mappings"]["other"][0]["tag"], "dept");
    let grants = rig.get(&format!("/api/v1/apps/{id}/grants")).await;
    assert_eq!(grants.as_array().unwrap().len(), 2);
    let access = rig.get(&format!("/api/v1/apps/{id}/access")).await;
    assert_eq!(access["default_role"], "viewer");
    assert_eq!(access["routes"][0]["prefix"], "/admin");
    assert_eq!(access["strip_headers"][0], "x-debug");
    let api = rig.get(&format!("/api/v1/apps/{id}/api-access")).await;
    assert_eq!(api["enabled"], true);
    assert_eq!(api["audience"], "alpha-api");
    let prov = rig.get(&format!("/api/v1/apps/{id}/scim/settings")).await;
    assert_eq!(prov["provisioned_only"], true);
    assert_eq!(prov["link_claim"], "oid");

    // Audited as `apply`, without the secret.
    let audit = rig.get(&format!("/api/v1/apps/{id}/audit")).await;
    let events = audit["events"]
        .as_array()
        .unwrap_or_else(|| audit.as_array().unwrap());
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "sso.updated" && e["actor"]["kind"] == "apply")
    );
    assert!(!audit.to_string().contains(SECRET_A));

    // The same file again: no changes.
    let o = rig.cli(&["apply", "--file", fp], &env).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "", "no plan lines");
    assert!(o.stderr.contains("No changes"), "{}", o.stderr);

    // One change: exactly that line, exactly that change.
    std::fs::write(&f, file_text("alpha-client-2", port)).unwrap();
    let before = rig.get(&format!("/api/v1/apps/{id}/grants")).await;
    let o = rig.cli(&["apply", "--file", fp], &env).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        "~ alpha.sso.client_id: \"alpha-client\" → \"alpha-client-2\"\n"
    );
    let sso = rig.get(&format!("/api/v1/apps/{id}/sso/oidc")).await;
    assert_eq!(sso["client_id"], "alpha-client-2");
    assert_eq!(
        rig.get(&format!("/api/v1/apps/{id}/grants")).await,
        before,
        "grants untouched"
    );

    // A new secret is a change shown without its value.
    let o = rig
        .cli(
            &["apply", "--file", fp],
            &[("ALPHA_CLIENT_SECRET", SECRET_B)],
        )
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "~ alpha.sso.client_secret (changed)\n");

    // Grants are the whole set: one removed from the file is removed.
    let text = file_text("alpha-client-2", port).replace(
        "[[app.grant]]\nrole = \"admin\"\nsubject = { email = \"ana@example.com\" }\n",
        "",
    );
    std::fs::write(&f, text).unwrap();
    let o = rig
        .cli(
            &["apply", "--file", fp],
            &[("ALPHA_CLIENT_SECRET", SECRET_B)],
        )
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "- alpha.grant admin→email:ana@example.com\n");
    let grants = rig.get(&format!("/api/v1/apps/{id}/grants")).await;
    assert_eq!(grants.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_changes_nothing_and_names_each_place() {
    let rig = Rig::start().await;
    let port = rig.node.port();
    let text = format!(
        r#"
[[app]]
slug = "alpha"
name = "Alpha"
hosts = ["alpha.localhost:{port}"]

[[app]]
slug = "beta"
name = "Beta"
hosts = ["beta.localhost:{port}"]

[app.sso]
enabled = true
issuer_url = "not a url"
client_id = "beta"
client_secret = "inline-is-refused"

[[app.grant]]
role = "member"
subject = {{ email = "not-an-email" }}
"#
    );
    let f = rig.file("bad.toml", &text);
    let o = rig
        .cli(&["apply", "--file", f.to_str().unwrap()], &[])
        .await;
    assert_eq!(o.code, 4, "{} {}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("app[1] (beta): sso.issuer_url:"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("app[1] (beta): sso.client_secret:"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("client_secret_env"), "{}", o.stderr);
    assert!(
        o.stderr.contains("app[1] (beta): grant[0].subject.email:"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("inline-is-refused"), "{}", o.stderr);
    assert!(o.stderr.contains("nothing was changed"), "{}", o.stderr);
    assert!(
        rig.app_id("alpha").await.is_none(),
        "the good entry is not applied either"
    );

    // A syntax error names its entry and line.
    let f = rig.file(
        "syntax.toml",
        "[[app]]\nslug = \"a\"\nname = \"A\"\nhosts = [\"a.localhost\"]\n\n[[app]]\nslug = \"b\"\nhostz = 3\n",
    );
    let o = rig
        .cli(&["apply", "--file", f.to_str().unwrap()], &[])
        .await;
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("app[1]: line 8"), "{}", o.stderr);
    assert!(o.stderr.contains("hostz"), "{}", o.stderr);

    // A dry run without the secrets (a review job) shows the plan and says
    // which secret it could not compare; the apply needs them.
    let f = rig.file(
        "review.toml",
        &format!("[[app]]\nslug = \"a\"\nname = \"A\"\nhosts = [\"a.localhost:{port}\"]\n[app.sso]\nenabled = true\nissuer_url = \"https://idp.example\"\nclient_id = \"a\"\nclient_secret_env = \"NOT_SET_ANYWHERE\"\n"),
    );
    let server = format!("http://localhost:{port}");
    for extra in [&[][..], &["--server", server.as_str()][..]] {
        let mut args = vec!["apply", "--file", f.to_str().unwrap(), "--dry-run"];
        args.extend_from_slice(extra);
        let o = rig.cli(&args, &[("GATEHOUSE_TOKEN", ADMIN_TOKEN)]).await;
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        assert!(o.stdout.contains("+ app a\n"), "{}", o.stdout);
        assert!(
            o.stdout.contains(
                "~ a.sso.client_secret (not compared in this dry run: the variable NOT_SET_ANYWHERE"
            ),
            "{}",
            o.stdout
        );
    }

    // A secret variable that is not set.
    let f = rig.file(
        "nosecret.toml",
        &format!("[[app]]\nslug = \"a\"\nname = \"A\"\nhosts = [\"a.localhost:{port}\"]\n[app.sso]\nclient_secret_env = \"NOT_SET_ANYWHERE\"\n"),
    );
    let o = rig
        .cli(&["apply", "--file", f.to_str().unwrap()], &[])
        .await;
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(
        o.stderr.contains(
            "app[0] (a): sso.client_secret_env: the variable NOT_SET_ANYWHERE is not set"
        ),
        "{}",
        o.stderr
    );

    // A host that an application outside the file holds: refused, named.
    let r = rig
        .node
        .api()
        .post(
            "/api/v1/apps",
            &json!({"name": "Other", "slug": "other", "hosts": [format!("alpha.localhost:{port}")]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let f = rig.file(
        "taken.toml",
        &format!(
            "[[app]]\nslug = \"alpha\"\nname = \"Alpha\"\nhosts = [\"alpha.localhost:{port}\"]\n"
        ),
    );
    let o = rig
        .cli(&["apply", "--file", f.to_str().unwrap()], &[])
        .await;
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("app[0] (alpha): hosts:"), "{}", o.stderr);
    assert!(
        o.stderr.contains("belongs to application other"),
        "{}",
        o.stderr
    );
    assert_eq!(rig.get("/api/v1/apps").await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_id_renames_and_prune_deletes_what_the_file_lacks() {
    let rig = Rig::start().await;
    let port = rig.node.port();
    let f = rig.file(
        "apps.toml",
        &format!(
            "[[app]]\nslug = \"alpha\"\nname = \"Alpha\"\nhosts = [\"alpha.localhost:{port}\"]\n"
        ),
    );
    let fp = f.to_str().unwrap().to_owned();
    assert_eq!(rig.cli(&["apply", "--file", &fp], &[]).await.code, 0);
    let id = rig.app_id("alpha").await.unwrap();
    let user = rig
        .node
        .api()
        .post(
            &format!("/api/v1/apps/{id}/users"),
            &json!({"email": "ana@example.com", "first_name": "Ana", "password": "correct-horse-battery"}),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.text);

    // The export pins the id; renaming the slug there renames the application.
    let o = rig.cli(&["export", "--app", "alpha"], &[]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains(&format!("id = \"{id}\"")), "{}", o.stdout);
    let renamed = o.stdout.replace("slug = \"alpha\"", "slug = \"alpha-two\"");
    std::fs::write(&f, &renamed).unwrap();
    let o = rig.cli(&["apply", "--file", &fp], &[]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains(&format!("~ app alpha → alpha-two (renamed; id {id})")),
        "{}",
        o.stdout
    );
    assert!(rig.app_id("alpha").await.is_none());
    assert_eq!(rig.app_id("alpha-two").await.as_deref(), Some(id.as_str()));
    let users = rig.get(&format!("/api/v1/apps/{id}/users")).await;
    assert_eq!(
        users
            .as_array()
            .map_or(0, Vec::len)
            .max(users["users"].as_array().map_or(0, Vec::len)),
        1,
        "the users stay: {users}"
    );

    // An application outside the file stays, unless --prune.
    let r = rig
        .node
        .api()
        .post(
            "/api/v1/apps",
            &json!({"name": "Gamma", "slug": "gamma", "hosts": [format!("gamma.localhost:{port}")]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let o = rig.cli(&["apply", "--file", &fp], &[]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("No changes"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("left as they are (--prune deletes them): gamma"),
        "{}",
        o.stderr
    );
    let o = rig
        .cli(&["apply", "--file", &fp, "--prune", "--dry-run"], &[])
        .await;
    assert!(
        o.stdout.starts_with("- app gamma (\"Gamma\""),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("0 users, 0 sessions go with it"),
        "{}",
        o.stdout
    );
    assert!(rig.app_id("gamma").await.is_some());
    let o = rig.cli(&["apply", "--file", &fp, "--prune"], &[]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(rig.app_id("gamma").await.is_none());
    assert!(rig.app_id("alpha-two").await.is_some());

    // An empty file with --prune is refused.
    let empty = rig.file("empty.toml", "");
    let o = rig
        .cli(
            &["apply", "--file", empty.to_str().unwrap(), "--prune"],
            &[],
        )
        .await;
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(rig.app_id("alpha-two").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_api_and_exported_into_a_fresh_instance_the_state_is_the_same() {
    let rig = Rig::start().await;
    let port = rig.node.port();
    let f = rig.file("apps.toml", &file_text("alpha-client", port));
    let fp = f.to_str().unwrap();
    let server = format!("http://localhost:{port}");
    let env = [
        ("ALPHA_CLIENT_SECRET", SECRET_A),
        ("GATEHOUSE_TOKEN", ADMIN_TOKEN),
    ];

    // No token, a wrong token: refused with the configuration's exit code.
    let o = rig
        .cli(&["apply", "--file", fp, "--server", &server], &env[..1])
        .await;
    assert_eq!(o.code, 3, "{}", o.stderr);
    let o = rig
        .cli(
            &["apply", "--file", fp, "--server", &server],
            &[
                ("ALPHA_CLIENT_SECRET", SECRET_A),
                ("GATEHOUSE_TOKEN", "wrong"),
            ],
        )
        .await;
    assert_eq!(o.code, 3, "{}", o.stderr);

    let o = rig
        .cli(
            &["apply", "--file", fp, "--server", &server, "--dry-run"],
            &env,
        )
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("+ app alpha"), "{}", o.stdout);
    assert!(rig.app_id("alpha").await.is_none());
    let o = rig
        .cli(&["apply", "--file", fp, "--server", &server], &env)
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("Applied"), "{}", o.stderr);
    let id = rig.app_id("alpha").await.unwrap();
    let audit = rig.get(&format!("/api/v1/apps/{id}/audit")).await;
    assert!(
        audit.to_string().contains("apply (admin-token:config)"),
        "the actor names the token: {audit}"
    );
    let o = rig
        .cli(&["apply", "--file", fp, "--server", &server], &env)
        .await;
    assert!(o.stderr.contains("No changes"), "{}", o.stderr);
    // The node logged the apply (at debug level); no secret in its log.
    let log = rig.log();
    assert!(log.contains("applications as code applied"), "{log}");

    // A bad file through the API: 422 naming the place, nothing changed.
    let bad = rig.file(
        "bad.toml",
        "[[app]]\nslug = \"x\"\nname = \"X\"\nhosts = []\n",
    );
    let o = rig
        .cli(
            &[
                "apply",
                "--file",
                bad.to_str().unwrap(),
                "--server",
                &server,
            ],
            &env,
        )
        .await;
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("app[0] (x): hosts"), "{}", o.stderr);

    // Export (through the API), apply to a fresh instance: the same state.
    let o = rig.cli(&["export", "--server", &server], &env).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let exported = o.stdout;
    assert!(
        exported.contains("client_secret_env = \"ALPHA_CLIENT_SECRET\""),
        "{exported}"
    );
    let fresh = Rig::start().await;
    let fresh_port = fresh.node.port();
    let moved = exported.replace(&format!(":{port}\""), &format!(":{fresh_port}\""));
    let g = fresh.file("exported.toml", &moved);
    let o = fresh
        .cli(
            &["apply", "--file", g.to_str().unwrap()],
            &[("ALPHA_CLIENT_SECRET", SECRET_A)],
        )
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    for slug in ["alpha", "beta"] {
        let a = rig.app_id(slug).await.unwrap();
        let b = fresh.app_id(slug).await.unwrap();
        assert_eq!(a, b, "the export pins ids");
        for path in ["sso/oidc", "access", "api-access", "scim/settings"] {
            let mut x = rig.get(&format!("/api/v1/apps/{a}/{path}")).await;
            let mut y = fresh.get(&format!("/api/v1/apps/{b}/{path}")).await;
            for v in [&mut x, &mut y] {
                for k in [
                    "callback_urls",
                    "logout_redirect_urls",
                    "backchannel_logout_urls",
                    "client_jwks_urls",
                    "base_urls",
                ] {
                    v.as_object_mut().map(|o| o.remove(k));
                }
            }
            assert_eq!(x, y, "{slug} {path}");
        }
        let grants = |v: Value| {
            let mut g: Vec<String> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|g| format!("{}{}", g["role"], g["subject"]))
                .collect();
            g.sort();
            g
        };
        assert_eq!(
            grants(rig.get(&format!("/api/v1/apps/{a}/grants")).await),
            grants(fresh.get(&format!("/api/v1/apps/{b}/grants")).await)
        );
    }
    // And applying the export to where it came from changes nothing.
    let h = rig.file("exported.toml", &exported);
    let o = rig
        .cli(
            &["apply", "--file", h.to_str().unwrap()],
            &[("ALPHA_CLIENT_SECRET", SECRET_A)],
        )
        .await;
    assert_eq!(o.stdout, "", "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applies_at_once_make_each_application_once() {
    let rig = Rig::start().await;
    let port = rig.node.port();
    let f = rig.file("apps.toml", &file_text("alpha-client", port));
    let fp = f.to_str().unwrap();
    let env = [("ALPHA_CLIENT_SECRET", SECRET_A)];
    let args = ["apply", "--file", fp];
    let (a, b) = tokio::join!(rig.cli(&args, &env), rig.cli(&args, &env));
    for o in [&a, &b] {
        assert!(
            o.code == 0 || (o.code == 5 && o.stderr.contains("changed while the plan")),
            "{} {}",
            o.code,
            o.stderr
        );
    }
    assert!(a.code == 0 || b.code == 0);
    let apps = rig.get("/api/v1/apps").await;
    assert_eq!(apps.as_array().unwrap().len(), 2, "{apps}");
    let id = rig.app_id("alpha").await.unwrap();
    assert_eq!(
        rig.get(&format!("/api/v1/apps/{id}/grants"))
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let o = rig.cli(&["apply", "--file", fp], &env).await;
    assert!(o.stderr.contains("No changes"), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_from_the_command_line() {
    let rig = Rig::start().await;
    let port = rig.node.port();
    let f = rig.file(
        "apps.toml",
        &format!(
            "[[app]]\nslug = \"alpha\"\nname = \"Alpha\"\nhosts = [\"alpha.localhost:{port}\"]\n"
        ),
    );
    assert_eq!(
        rig.cli(&["apply", "--file", f.to_str().unwrap()], &[])
            .await
            .code,
        0
    );
    let o = rig
        .cli(
            &[
                "grant",
                "create",
                "--app",
                "alpha",
                "--role",
                "member",
                "--group",
                "engineering",
            ],
            &[],
        )
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let gid = o.stdout.trim().to_owned();
    let o = rig
        .cli(
            &[
                "grant", "create", "--app", "alpha", "--role", "viewer", "--tag", "dept=R&D",
            ],
            &[],
        )
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = rig
        .cli(
            &[
                "grant",
                "create",
                "--app",
                "alpha",
                "--role",
                "admin",
                "--email",
                "ana@example.com",
            ],
            &[],
        )
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = rig.cli(&["grant", "list", "--app", "alpha"], &[]).await;
    assert!(
        o.stdout
            .contains(&format!("{gid}\tmember\tgroup:engineering")),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("viewer\ttag:dept=R&D"), "{}", o.stdout);
    assert!(
        o.stdout.contains("admin\temail:ana@example.com"),
        "{}",
        o.stdout
    );
    // Bad input: exit 4; unknown app: 6; a grant twice: 5.
    let o = rig
        .cli(
            &[
                "grant", "create", "--app", "alpha", "--role", "member", "--tag", "novalue",
            ],
            &[],
        )
        .await;
    assert_eq!(o.code, 4, "{}", o.stderr);
    let o = rig
        .cli(
            &[
                "grant", "create", "--app", "nope", "--role", "member", "--group", "g",
            ],
            &[],
        )
        .await;
    assert_eq!(o.code, 6, "{}", o.stderr);
    let o = rig
        .cli(
            &[
                "grant",
                "create",
                "--app",
                "alpha",
                "--role",
                "member",
                "--group",
                "engineering",
            ],
            &[],
        )
        .await;
    assert_eq!(o.code, 5, "{}", o.stderr);
    let o = rig
        .cli(&["grant", "delete", "--app", "alpha", &gid], &[])
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = rig.cli(&["grant", "list", "--app", "alpha"], &[]).await;
    assert!(!o.stdout.contains(&gid), "{}", o.stdout);
    let o = rig
        .cli(&["grant", "delete", "--app", "alpha", &gid], &[])
        .await;
    assert_eq!(o.code, 6, "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renames_chain_swaps_are_refused_at_plan_time_and_own_variables_are_never_secrets() {
    let rig = Rig::start().await;
    let port = rig.node.port();
    let entry = |id: Option<&str>, slug: &str, host: &str| {
        let id = id.map_or_else(String::new, |i| format!("id = \"{i}\"\n"));
        format!(
            "[[app]]\n{id}slug = \"{slug}\"\nname = \"{slug}\"\nhosts = [\"{host}.localhost:{port}\"]\n"
        )
    };
    let f = rig.file(
        "apps.toml",
        &(entry(None, "a", "ha") + &entry(None, "b", "hb")),
    );
    let fp = f.to_str().unwrap().to_owned();
    assert_eq!(rig.cli(&["apply", "--file", &fp], &[]).await.code, 0);
    let (a, b) = (
        rig.app_id("a").await.unwrap(),
        rig.app_id("b").await.unwrap(),
    );

    // A chain, listed in the order that fails naively: a takes b's slug
    // and host while b moves on to c.
    std::fs::write(&f, entry(Some(&a), "b", "hb") + &entry(Some(&b), "c", "hc")).unwrap();
    let o = rig.cli(&["apply", "--file", &fp], &[]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(rig.app_id("b").await.as_deref(), Some(a.as_str()));
    assert_eq!(rig.app_id("c").await.as_deref(), Some(b.as_str()));

    // A swap cannot happen in one transaction: refused by the dry run
    // already, naming both entries; nothing changes.
    std::fs::write(&f, entry(Some(&a), "c", "hc") + &entry(Some(&b), "b", "hb")).unwrap();
    let o = rig.cli(&["apply", "--file", &fp, "--dry-run"], &[]).await;
    assert_eq!(o.code, 4, "{} {}", o.stdout, o.stderr);
    assert!(o.stderr.contains("app[0] (c), app[1] (b)"), "{}", o.stderr);
    assert!(
        o.stderr.contains("exchange a slug or a host"),
        "{}",
        o.stderr
    );
    let o = rig.cli(&["apply", "--file", &fp], &[]).await;
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert_eq!(rig.app_id("b").await.as_deref(), Some(a.as_str()));

    // Gatehouse's own variables are never read as a client secret (a file
    // in review could otherwise send the admin token to an IdP of its choice).
    let f = rig.file(
        "steal.toml",
        &format!("{}[app.sso]\nenabled = true\nissuer_url = \"https://idp.example\"\nclient_id = \"x\"\nclient_secret_env = \"GATEHOUSE_TOKEN\"\n", entry(None, "steal", "hs")),
    );
    let server = format!("http://localhost:{port}");
    for args in [
        vec!["apply", "--file", f.to_str().unwrap(), "--dry-run"],
        vec![
            "apply",
            "--file",
            f.to_str().unwrap(),
            "--dry-run",
            "--server",
            &server,
        ],
    ] {
        let o = rig.cli(&args, &[("GATEHOUSE_TOKEN", ADMIN_TOKEN)]).await;
        assert_eq!(o.code, 4, "{args:?}: {} {}", o.stdout, o.stderr);
        assert!(o.stderr.contains("GATEHOUSE_"), "{}", o.stderr);
        assert!(!o.stderr.contains(ADMIN_TOKEN) && !o.stdout.contains(ADMIN_TOKEN));
    }

    // More grants than an application may list: refused, named.
    let mut text = entry(None, "many", "hm");
    for i in 0..1001 {
        text.push_str(&format!(
            "[[app.grant]]\nrole = \"member\"\nsubject = {{ group = \"g{i}\" }}\n"
        ));
    }
    let f = rig.file("many.toml", &text);
    let o = rig
        .cli(&["apply", "--file", f.to_str().unwrap(), "--dry-run"], &[])
        .await;
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(
        o.stderr.contains("app[0] (many): grant: at most 1000"),
        "{}",
        o.stderr
    );
}
