//! The commands operators script deployments with: `apply` and `export`
//! (applications as code, locally or through a running instance's API)
//! and `grant create|list|delete`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use gatehouse_core::access::{NewGrant, Subject};
use gatehouse_core::{Actor, Clock};
use gatehouse_service::apply::{self, LocalSecrets, Options, SecretSource};
use gatehouse_service::{Context, Gatehouse, ServiceError};
use secrecy::ExposeSecret;

use crate::cli::GrantCommand;
use crate::{CliError, Config};

/// Arguments of `gatehouse apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The file of applications (TOML; "-" for standard input).
    #[arg(long, short)]
    pub file: PathBuf,
    /// Show the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete applications that are not in the file (with their users and sessions).
    #[arg(long)]
    pub prune: bool,
    /// Apply through a running instance's admin API (its URL, e.g.
    /// https://gatehouse.example.com) instead of the configured database.
    /// The admin token comes from GATEHOUSE_TOKEN.
    #[arg(long)]
    pub server: Option<String>,
}

/// Arguments of `gatehouse export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only this application (its slug).
    #[arg(long)]
    pub app: Option<String>,
    /// Export from a running instance's admin API (GATEHOUSE_TOKEN).
    #[arg(long)]
    pub server: Option<String>,
}

/// Arguments of `gatehouse grant create`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["email", "group", "tag"])))]
pub struct GrantCreate {
    /// The application's slug.
    #[arg(long)]
    pub app: String,
    /// The role (admin, member, viewer, or a custom one).
    #[arg(long)]
    pub role: String,
    /// A user, by e-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// Members of an IdP or SCIM group.
    #[arg(long)]
    pub group: Option<String>,
    /// Users with a tag: KEY=VALUE.
    #[arg(long)]
    pub tag: Option<String>,
}

fn read_file(path: &PathBuf) -> Result<String, CliError> {
    use std::io::Read;
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(apply::MAX_FILE_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .map_err(|e| CliError::Invalid(format!("cannot read standard input: {e}")))?;
    } else {
        let f = std::fs::File::open(path)
            .map_err(|e| CliError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        f.take(apply::MAX_FILE_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .map_err(|e| CliError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    }
    Ok(text)
}

/// Every field error on its own line.
fn invalid_lines(inv: &gatehouse_core::Invalid) -> String {
    let mut out = String::from("the file has errors; nothing was changed:");
    for e in &inv.errors {
        out.push_str(&format!("\n  {}: {}", e.field, e.message));
    }
    out
}

fn apply_error(e: ServiceError) -> CliError {
    match e {
        ServiceError::Invalid(inv) => CliError::Invalid(invalid_lines(&inv)),
        ServiceError::Conflict { message, .. } => CliError::Conflict(message),
        other => other.into(),
    }
}

fn summary(plan_changed: usize, applied: bool, dry_run: bool, unmanaged: &[String]) {
    if plan_changed == 0 {
        eprintln!("No changes: the instance matches the file.");
    } else if dry_run {
        eprintln!(
            "Dry run: {plan_changed} application{} would change; nothing was changed.",
            if plan_changed == 1 { "" } else { "s" }
        );
    } else if applied {
        eprintln!(
            "Applied: {plan_changed} application{} changed.",
            if plan_changed == 1 { "" } else { "s" }
        );
    }
    if !unmanaged.is_empty() {
        eprintln!(
            "Not in the file, left as they are (--prune deletes them): {}",
            unmanaged.join(", ")
        );
    }
}

/// `gatehouse apply`.
pub async fn apply(
    config: &Config,
    clock: Arc<dyn Clock>,
    args: ApplyArgs,
) -> Result<(), CliError> {
    let text = read_file(&args.file)?;
    let options = Options {
        dry_run: args.dry_run,
        prune: args.prune,
    };
    if let Some(server) = &args.server {
        return apply_remote(server, &text, options).await;
    }
    let (gh, _) = crate::startup::gatehouse(config, clock, config.listen.port()).await?;
    let ctx = Context {
        actor: Actor::Apply { by: None },
        correlation_id: None,
    };
    let outcome = gh
        .apps_as_code()
        .apply(&text, &LocalSecrets, options, &ctx)
        .await
        .map_err(apply_error)?;
    print!("{}", outcome.plan);
    summary(
        outcome.plan.changed_apps(),
        outcome.applied,
        options.dry_run,
        &outcome.plan.unmanaged,
    );
    Ok(())
}

/// The admin API's base and token for `--server`.
fn remote(server: &str) -> Result<(String, String), CliError> {
    let token = std::env::var("GATEHOUSE_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            CliError::Config(
                "--server needs an admin token in GATEHOUSE_TOKEN (gatehouse admin token create)"
                    .into(),
            )
        })?;
    let url = url_base(server)?;
    Ok((url, token.trim().to_owned()))
}

fn url_base(server: &str) -> Result<String, CliError> {
    let s = server.trim().trim_end_matches('/');
    if !(s.starts_with("http://") || s.starts_with("https://")) {
        return Err(CliError::Invalid(format!(
            "--server must be an http:// or https:// URL, not \"{server}\""
        )));
    }
    Ok(s.to_owned())
}

fn client() -> Result<reqwest::Client, CliError> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| CliError::Other(format!("cannot make an HTTP client: {e}")))
}

/// A problem document from the server, as a CLI error with its exit code.
async fn problem(resp: reqwest::Response) -> CliError {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    let detail = body
        .get("detail")
        .and_then(|d| d.as_str())
        .unwrap_or("")
        .to_owned();
    let errors: Vec<String> = body
        .get("errors")
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.get("field").and_then(|f| f.as_str()).unwrap_or(""),
                        e.get("message").and_then(|f| f.as_str()).unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    match status.as_u16() {
        401 | 403 => CliError::Config(format!(
            "the server refused the admin token in GATEHOUSE_TOKEN ({status})"
        )),
        422 | 400 if !errors.is_empty() => {
            let mut out = String::from("the file has errors; nothing was changed:");
            for e in errors {
                out.push_str(&format!("\n  {e}"));
            }
            CliError::Invalid(out)
        }
        400 | 413 | 415 | 422 => CliError::Invalid(format!(
            "the server refused the request ({status}): {detail}"
        )),
        404 => CliError::NotFound(if detail.is_empty() {
            format!("not found ({status})")
        } else {
            detail
        }),
        409 => CliError::Conflict(detail),
        _ => CliError::Unavailable(format!("the server answered {status}: {detail}")),
    }
}

/// What `POST /api/v1/apply` answers (the fields the command prints).
#[derive(serde::Deserialize)]
struct ApplyAnswer {
    applied: bool,
    plan: Vec<String>,
    unmanaged: Vec<String>,
    applications_changed: usize,
}

async fn apply_remote(server: &str, text: &str, options: Options) -> Result<(), CliError> {
    let (base, token) = remote(server)?;
    // Parse here too: the secrets the file names are read on this machine
    // (the server never reads its own), and errors show before sending.
    let file = apply::parse_file(text).map_err(|inv| CliError::Invalid(invalid_lines(&inv)))?;
    let mut secrets = HashMap::new();
    let mut missing = Vec::new();
    for (i, a) in file.app.iter().enumerate() {
        let Some(sso) = &a.sso else { continue };
        let refs = [
            (
                "sso.client_secret_env",
                sso.client_secret_env
                    .as_ref()
                    .map(|n| apply::SecretRef::Env(n.trim().to_owned())),
            ),
            (
                "sso.client_secret_file",
                sso.client_secret_file
                    .as_ref()
                    .map(|p| apply::SecretRef::File(p.trim().to_owned())),
            ),
        ];
        for (field, r) in refs {
            let Some(r) = r else { continue };
            match LocalSecrets.read(&r) {
                Ok(v) => {
                    secrets.insert(r.key(), v.expose_secret().to_owned());
                }
                // A dry run shows the secrets it could not read (a review
                // job may not have them) instead of failing.
                Err(_) if options.dry_run && !r.is_own_variable() => {}
                Err(why) => missing.push(format!("\n  app[{i}] ({}): {field}: {why}", a.slug)),
            }
        }
    }
    if !missing.is_empty() {
        return Err(CliError::Invalid(format!(
            "the file has errors; nothing was changed:{}",
            missing.concat()
        )));
    }
    let body = serde_json::json!({
        "file": text,
        "secrets": secrets,
        "dry_run": options.dry_run,
        "prune": options.prune,
    });
    let resp = client()?
        .post(format!("{base}/api/v1/apply"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .map_err(|e| CliError::Unavailable(format!("cannot reach {base}: {}", without_url(&e))))?;
    if !resp.status().is_success() {
        return Err(problem(resp).await);
    }
    let answer: ApplyAnswer = resp
        .json()
        .await
        .map_err(|e| CliError::Unavailable(format!("unexpected answer from {base}: {e}")))?;
    for l in &answer.plan {
        println!("{l}");
    }
    summary(
        answer.applications_changed,
        answer.applied,
        options.dry_run,
        &answer.unmanaged,
    );
    Ok(())
}

/// A request error without the URL's query (never a token there, but
/// keep messages short).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(src) = std::error::Error::source(e) {
        s = format!("{s}: {src}");
    }
    s
}

/// `gatehouse export`.
pub async fn export(
    config: &Config,
    clock: Arc<dyn Clock>,
    args: ExportArgs,
) -> Result<(), CliError> {
    let text = if let Some(server) = &args.server {
        let (base, token) = remote(server)?;
        let mut req = client()?
            .get(format!("{base}/api/v1/export"))
            .bearer_auth(&token);
        if let Some(app) = &args.app {
            req = req.query(&[("app", app)]);
        }
        let resp = req.send().await.map_err(|e| {
            CliError::Unavailable(format!("cannot reach {base}: {}", without_url(&e)))
        })?;
        if !resp.status().is_success() {
            return Err(problem(resp).await);
        }
        resp.text()
            .await
            .map_err(|e| CliError::Unavailable(format!("unexpected answer from {base}: {e}")))?
    } else {
        let (gh, _) = crate::startup::gatehouse(config, clock, config.listen.port()).await?;
        gh.apps_as_code()
            .export(args.app.as_deref())
            .await
            .map_err(|e| match e {
                ServiceError::NotFound(_) => CliError::NotFound(format!(
                    "no application with slug \"{}\"",
                    args.app.as_deref().unwrap_or_default()
                )),
                other => other.into(),
            })?
    };
    print!("{text}");
    Ok(())
}

pub(crate) async fn app_by_slug(
    gh: &Gatehouse,
    slug: &str,
) -> Result<gatehouse_core::Application, CliError> {
    gh.apps().by_slug(slug).await.map_err(|e| match e {
        ServiceError::NotFound(_) => {
            CliError::NotFound(format!("no application with slug \"{slug}\""))
        }
        other => other.into(),
    })
}

/// `gatehouse grant ...`.
pub async fn grant(
    config: &Config,
    clock: Arc<dyn Clock>,
    command: GrantCommand,
) -> Result<(), CliError> {
    // Check the arguments before opening the database.
    let new = match &command {
        GrantCommand::Create(g) => {
            let subject = match (&g.email, &g.group, &g.tag) {
                (Some(e), _, _) => Subject::email(e),
                (_, Some(n), _) => Subject::group(n),
                (_, _, Some(t)) => match t.split_once('=') {
                    Some((k, v)) => Subject::tag(k, v),
                    None => {
                        return Err(CliError::Invalid(format!(
                            "--tag must be KEY=VALUE, not \"{t}\""
                        )));
                    }
                },
                _ => return Err(CliError::Invalid("give --email, --group or --tag".into())),
            };
            Some(NewGrant::new(&g.role, subject).map_err(|e| CliError::Invalid(e.to_string()))?)
        }
        _ => None,
    };
    let (gh, _) = crate::startup::gatehouse(config, clock, config.listen.port()).await?;
    let ctx = Context::cli();
    match command {
        GrantCommand::Create(g) => {
            let app = app_by_slug(&gh, &g.app).await?;
            let Some(new) = new else {
                return Err(CliError::Other("no grant to make".into()));
            };
            let grant = gh.access().create_grant(app.id, new, &ctx).await?;
            println!("{}", grant.id);
            eprintln!(
                "Granted {} to {} in {}.",
                grant.role.as_str(),
                grant.subject.label(),
                app.slug
            );
        }
        GrantCommand::List { app } => {
            let app = app_by_slug(&gh, &app).await?;
            for g in gh.access().grants(app.id).await? {
                println!("{}\t{}\t{}", g.id, g.role.as_str(), g.subject.label());
            }
        }
        GrantCommand::Delete { app, id } => {
            let app = app_by_slug(&gh, &app).await?;
            let id = id
                .trim()
                .parse()
                .map_err(|_| CliError::NotFound(format!("no grant with id \"{id}\"")))?;
            gh.access()
                .delete_grant(app.id, id, &ctx)
                .await
                .map_err(|e| match e {
                    ServiceError::NotFound(_) => {
                        CliError::NotFound(format!("no grant with that id in {}", app.slug))
                    }
                    other => other.into(),
                })?;
            eprintln!("Deleted the grant from {}.", app.slug);
        }
    }
    Ok(())
}
