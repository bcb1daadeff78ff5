//! The command line: `serve`, and the commands that let a deployment be
//! scripted (`admin token create`, `app create`, `user create`, `migrate`).
//! Results go to standard output (one value per line), messages to standard
//! error; exit codes are listed in `docs/cli.md`.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use gatehouse_core::SystemClock;
use gatehouse_service::Context;
use gatehouse_service::apps::NewApp;
use gatehouse_service::assertion::KeyStatus;
use gatehouse_service::users::NewUser;
use secrecy::{ExposeSecret, SecretString};

use crate::config::LogFormat;
use crate::{Application, CliError, Config};

/// Gatehouse: a self-hosted single sign-on gateway.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version = crate::VERSION, about)]
pub struct Cli {
    /// Configuration file (default: ./gatehouse.toml when it exists).
    #[arg(long, short, global = true, env = "GATEHOUSE_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve {
        /// Log format, overriding the configuration.
        #[arg(long, value_parser = ["text", "json"])]
        log_format: Option<String>,
    },
    /// Administrators and admin API tokens.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Applications.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Users of an application.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Provisioning (SCIM 2.0) of an application.
    Scim {
        #[command(subcommand)]
        command: ScimCommand,
    },
    /// Grants of roles in an application.
    Grant {
        #[command(subcommand)]
        command: GrantCommand,
    },
    /// Make the instance match a file of applications (applications as code).
    Apply(crate::ops::ApplyArgs),
    /// Print the applications in the format `apply` reads.
    Export(crate::ops::ExportArgs),
    /// The keys that sign `X-Gatehouse-Assertion`.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create or update the database schema, then exit.
    Migrate,
}

/// `gatehouse keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the assertion keys: kid, state, created, published until.
    List,
    /// Rotate: the next key (already published) starts signing; the active
    /// one stays published for a day. Running nodes follow within a second.
    Rotate,
}

/// `gatehouse admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a console administrator and print their id.
    Create {
        /// E-mail (the sign-in name).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// File holding the password ("-" for standard input).
        #[arg(long)]
        password_file: PathBuf,
    },
    /// Admin API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

/// `gatehouse admin token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an admin API token and print it (shown once).
    Create {
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

/// `gatehouse scim ...`
#[derive(Debug, Subcommand)]
pub enum ScimCommand {
    /// SCIM tokens of an application.
    Token {
        #[command(subcommand)]
        command: ScimTokenCommand,
    },
}

/// `gatehouse scim token ...`
#[derive(Debug, Subcommand)]
pub enum ScimTokenCommand {
    /// Create a SCIM token for an application and print it (shown once),
    /// with the SCIM base URLs to paste into the IdP's provisioning settings.
    Create {
        /// The application's slug.
        #[arg(long)]
        app: String,
        /// A name to recognise the token by ("okta", "entra").
        #[arg(long)]
        name: String,
    },
}

/// `gatehouse grant ...`
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Grant a role to users by e-mail, group or tag, and print the grant's id.
    Create(crate::ops::GrantCreate),
    /// List an application's grants: id, role, subject.
    List {
        /// The application's slug.
        #[arg(long)]
        app: String,
    },
    /// Delete a grant.
    Delete {
        /// The application's slug.
        #[arg(long)]
        app: String,
        /// The grant's id (from `grant list`).
        id: String,
    },
}

/// `gatehouse app ...`
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an application and print its id.
    Create(AppCreate),
}

/// Arguments of `gatehouse app create`.
#[derive(Debug, Args)]
pub struct AppCreate {
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// A host entry (repeatable), e.g. myapp.example.com or myapp.localhost:8080.
    #[arg(long = "host", required = true)]
    pub hosts: Vec<String>,
    /// Where signed-in requests are proxied.
    #[arg(long)]
    pub upstream: Option<String>,
    /// URL-safe short name (default: derived from the name).
    #[arg(long)]
    pub slug: Option<String>,
    /// http or https (default: https, or http when every host is *.localhost).
    #[arg(long)]
    pub scheme: Option<String>,
}

/// `gatehouse user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a local user and print their id.
    Create(UserCreate),
}

/// Arguments of `gatehouse user create`.
#[derive(Debug, Args)]
pub struct UserCreate {
    /// The application's slug.
    #[arg(long)]
    pub app: String,
    /// E-mail.
    #[arg(long)]
    pub email: String,
    /// First name.
    #[arg(long)]
    pub first_name: String,
    /// Last name.
    #[arg(long)]
    pub last_name: Option<String>,
    /// File holding the password ("-" for standard input).
    #[arg(long)]
    pub password_file: PathBuf,
}

fn read_secret_file(path: &PathBuf) -> Result<SecretString, CliError> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            CliError::Invalid(format!("cannot read the password from standard input: {e}"))
        })?;
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    }
    Ok(SecretString::from(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Command::Serve {
        log_format: Some(f),
    } = &cli.command
    {
        config.log_format = if f == "json" {
            LogFormat::Json
        } else {
            LogFormat::Text
        };
    }
    // Commands other than `serve` print their result; only warnings are worth logging there.
    let level = if matches!(cli.command, Command::Serve { .. }) {
        config.log_level.as_str()
    } else {
        "warn"
    };
    crate::telemetry::init(config.log_format, level);
    let clock = Arc::new(SystemClock);
    match cli.command {
        Command::Apply(args) => crate::ops::apply(&config, clock, args).await,
        Command::Export(args) => crate::ops::export(&config, clock, args).await,
        Command::Grant { command } => crate::ops::grant(&config, clock, command).await,
        Command::Serve { .. } => serve(&config, clock).await,
        Command::Keys { command } => {
            let (gh, _) = crate::startup::gatehouse(&config, clock, config.listen.port()).await?;
            let keys = match command {
                KeysCommand::List => gh.assertions().keys(),
                KeysCommand::Rotate => gh.assertions().rotate(&Context::cli()).await?,
            };
            for k in &keys {
                let until = k
                    .published_until
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default();
                let created = k
                    .created_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let status = match k.status {
                    KeyStatus::Active => "active",
                    KeyStatus::Next => "next",
                    KeyStatus::Retired => "retired",
                };
                println!("{}\t{status}\t{created}\t{until}", k.kid);
            }
            if matches!(command, KeysCommand::Rotate) {
                eprintln!(
                    "Rotated the assertion keys. Upstreams verifying with {}/.well-known/jwks.json already know the new key.",
                    gh.assertions().issuer()
                );
            }
            Ok(())
        }
        Command::Migrate => {
            crate::startup::open_store(&config).await?;
            eprintln!("The database schema is up to date.");
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    name,
                    password_file,
                },
        } => {
            let password = read_secret_file(&password_file)?;
            let (gh, _) = crate::startup::gatehouse(&config, clock, config.listen.port()).await?;
            let admin = gh
                .admin()
                .create(&email, &name, Some(password), &Context::cli())
                .await?;
            println!("{}", admin.id);
            eprintln!(
                "Created administrator {}. Sign in at the console: /admin",
                admin.email
            );
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Token {
                    command: TokenCommand::Create { name },
                },
        } => {
            let (gh, _) = crate::startup::gatehouse(&config, clock, config.listen.port()).await?;
            let (_, token) = gh.admin().create_token(&name, &Context::cli()).await?;
            println!("{}", token.expose_secret());
            eprintln!(
                "Created admin token \"{name}\". It is shown only this once; use it as: Authorization: Bearer <token>"
            );
            Ok(())
        }
        Command::Scim {
            command:
                ScimCommand::Token {
                    command: ScimTokenCommand::Create { app, name },
                },
        } => {
            let (gh, _) = crate::startup::gatehouse(&config, clock, config.listen.port()).await?;
            let application = crate::ops::app_by_slug(&gh, &app).await?;
            let (_, token) = gh
                .provisioning()
                .create_token(application.id, &name, &Context::cli())
                .await?;
            println!("{}", token.expose_secret());
            eprintln!(
                "Created SCIM token \"{name}\" for {}. It is shown only this once. In the IdP's provisioning settings:",
                application.slug
            );
            for url in application.scim_base_urls() {
                eprintln!("  SCIM base URL (Tenant URL): {url}");
            }
            eprintln!("  Authentication: HTTP header, Bearer token (the token above)");
            Ok(())
        }
        Command::App {
            command: AppCommand::Create(a),
        } => {
            let (gh, _) = crate::startup::gatehouse(&config, clock, config.listen.port()).await?;
            let input = NewApp {
                name: a.name,
                slug: a.slug,
                hosts: a.hosts,
                upstream_url: a.upstream,
                scheme: a.scheme,
                auth_prefix: None,
            };
            let app = gh.apps().create(input, &Context::cli()).await?;
            println!("{}", app.id);
            eprintln!(
                "Created application \"{}\" (slug {}) for {}.",
                app.name,
                app.slug,
                app.hosts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        Command::User {
            command: UserCommand::Create(u),
        } => {
            let password = read_secret_file(&u.password_file)?;
            let (gh, _) = crate::startup::gatehouse(&config, clock, config.listen.port()).await?;
            let app = crate::ops::app_by_slug(&gh, &u.app).await?;
            let input = NewUser {
                email: u.email,
                first_name: u.first_name,
                last_name: u.last_name,
                password: Some(password),
                ..NewUser::default()
            };
            let user = gh
                .directory()
                .create(app.id, input, &Context::cli())
                .await?;
            println!("{}", user.id);
            eprintln!("Created user {} in {}.", user.email, app.slug);
            Ok(())
        }
    }
}

async fn serve(config: &Config, clock: Arc<SystemClock>) -> Result<(), CliError> {
    let app = Application::build(config, clock).await?;
    let addr = app.local_addr();
    let port = addr.port();
    // The console as a browser on this machine reaches it (behind a proxy, use its public URL).
    let admin = if port == 80 {
        format!("http://{}", config.admin_host)
    } else {
        format!("http://{}:{port}", config.admin_host)
    };
    tracing::info!(%addr, backend = app.gatehouse().store().backend(), "Gatehouse listening");
    println!("Gatehouse is listening on http://{addr}");
    println!("  Console:   {admin}/admin");
    println!("  Admin API: {admin}/api/v1   (OpenAPI: {admin}/api/v1/openapi.json)");
    if let Some(token) = app.gatehouse().admin().setup_token().await? {
        use secrecy::ExposeSecret;
        println!("  First time? Create the first administrator here (the link works once):");
        println!("    {admin}/admin/setup?token={}", token.expose_secret());
        println!("  (or: gatehouse admin create --email you@example.com --password-file FILE)");
    }
    if config.admin_token.is_none() {
        println!("  For scripts, create an admin API token in another terminal:");
        println!("    gatehouse admin token create --name me");
    }
    println!(
        "  Then create an application: gatehouse app create --name Demo --host demo.localhost:{port} --upstream http://127.0.0.1:3000"
    );
    app.run_until_stopped(shutdown_signal())
        .await
        .map_err(|e| CliError::Unavailable(format!("server error: {e}")))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
