//! Applications as code: make the instance match a file (`gatehouse
//! apply`, `POST /api/v1/apply`), and write the current state in the same
//! format (`gatehouse export`).
//!
//! Applying parses the file, checks every entry through the validation the
//! API uses (every error named by its place: `app[1] (beta): sso.issuer_url`),
//! reads the client secrets it names, and computes a plan: per application,
//! the fields and sections that differ, grants added and removed. Then, in
//! one unit of work ([`crate::Work`]: one transaction, taken under a lock so
//! concurrent applies run one after the other), it reads the state again,
//! recomputes the plan and refuses if the instance changed meanwhile; else
//! it runs the plan through the same use cases as the API (validation,
//! audit events with the actor `apply`, change rows for the other nodes)
//! and commits. Deletes run first, then updates, then creates, so a host or
//! slug can move between applications in one apply.

mod doc;

use std::collections::{HashMap, HashSet};
use std::fmt;

use gatehouse_core::access::{AccessPolicy, Grant, NewGrant};
use gatehouse_core::api_access::ApiAccess;
use gatehouse_core::provisioning::ProvisioningSettings;
use gatehouse_core::sso::OidcSettings;
use gatehouse_core::{AppId, Application, Invalid};
use gatehouse_crypto::SealContext;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

pub use doc::{
    AccessDoc, AppDoc, AppsFile, AttributeTagDoc, ClaimMappingsDoc, GrantDoc, OtherMappingDoc,
    ProvisioningDoc, RouteDoc, SsoDoc, SubjectDoc, secret_env_name,
};

use crate::apps::{AppPatch, NewApp};
use crate::{Context, Gatehouse, ServiceError};

/// The most applications one file may hold.
pub const MAX_APPS: usize = 1000;
/// The most grants one application may list in a file.
pub const MAX_GRANTS_PER_APP: usize = 1000;
/// The most route rules one application may list in a file.
pub const MAX_ROUTES_PER_APP: usize = 256;
/// The largest file accepted (bytes).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Where a client secret is: an environment variable or a file, as the
/// file names it. Never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// `client_secret_env = "NAME"`.
    Env(String),
    /// `client_secret_file = "PATH"`.
    File(String),
}

/// Whether `name` is one of Gatehouse's own variables (`GATEHOUSE_*`: the
/// admin token, the master key), which never serve as a client secret.
pub fn is_own_variable(name: &str) -> bool {
    name.trim().to_ascii_uppercase().starts_with("GATEHOUSE_")
}

impl SecretRef {
    /// Whether this names one of Gatehouse's own variables ([`is_own_variable`]).
    pub fn is_own_variable(&self) -> bool {
        matches!(self, Self::Env(n) if is_own_variable(n))
    }

    /// The key a client sending secrets to `POST /api/v1/apply` uses:
    /// `env:NAME` or `file:PATH`.
    pub fn key(&self) -> String {
        match self {
            Self::Env(n) => format!("env:{n}"),
            Self::File(p) => format!("file:{p}"),
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(n) => write!(f, "the variable {n}"),
            Self::File(p) => write!(f, "the file {p}"),
        }
    }
}

/// Reads the secrets a file names.
pub trait SecretSource: Send + Sync {
    /// The secret, or why it cannot be read (never the secret).
    fn read(&self, r: &SecretRef) -> Result<SecretString, String>;
}

/// Secrets from this process's environment and files: the command line
/// applying locally, or reading them to send with `--server`.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalSecrets;

impl SecretSource for LocalSecrets {
    fn read(&self, r: &SecretRef) -> Result<SecretString, String> {
        if let SecretRef::Env(n) = r
            && is_own_variable(n)
        {
            return Err(format!(
                "{n} is one of Gatehouse's own variables (GATEHOUSE_*): a client secret never comes from them, so a file cannot send the admin token or master key to an IdP"
            ));
        }
        let text = match r {
            SecretRef::Env(n) => std::env::var(n).map_err(|e| match e {
                std::env::VarError::NotPresent => format!("the variable {n} is not set"),
                std::env::VarError::NotUnicode(_) => format!("the variable {n} is not UTF-8"),
            })?,
            SecretRef::File(p) => {
                std::fs::read_to_string(p).map_err(|e| format!("cannot read {p}: {e}"))?
            }
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            return Err(format!("{r} is empty"));
        }
        Ok(SecretString::from(text.to_owned()))
    }
}

/// Secrets sent along with a file (`POST /api/v1/apply`), by
/// [`SecretRef::key`]. The server never reads its own environment or files
/// for a file sent to it: that would let an API caller read them.
#[derive(Default)]
pub struct SentSecrets(pub HashMap<String, SecretString>);

impl SecretSource for SentSecrets {
    fn read(&self, r: &SecretRef) -> Result<SecretString, String> {
        let sent = self
            .0
            .get(&r.key())
            .ok_or_else(|| format!("{r} was not sent with the file (secrets[\"{}\"])", r.key()))?;
        // As read locally: without the trailing newline a file ends with.
        let text = sent.expose_secret().trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            return Err(format!("{r} is empty"));
        }
        Ok(SecretString::from(text.to_owned()))
    }
}

/// Parse a file. Errors name the place (`app[1]: line 12`).
pub fn parse_file(text: &str) -> Result<AppsFile, Invalid> {
    if text.len() > MAX_FILE_BYTES {
        return Err(Invalid::field(
            "file",
            format!("is larger than {} MiB", MAX_FILE_BYTES / 1024 / 1024),
        ));
    }
    let file: AppsFile = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let index = before
            .lines()
            .filter(|l| l.trim_start().starts_with("[[app]]"))
            .count();
        let place = if index == 0 {
            format!("line {line}")
        } else {
            format!("app[{}]: line {line}", index - 1)
        };
        Invalid::field(place, e.message().trim().to_owned())
    })?;
    if file.app.len() > MAX_APPS {
        return Err(Invalid::field(
            "app",
            format!("at most {MAX_APPS} applications per file"),
        ));
    }
    Ok(file)
}

/// The secrets a file names, with the place naming each (to read them
/// before sending the file to a server).
pub fn secret_refs(file: &AppsFile) -> Vec<SecretRef> {
    let mut out = Vec::new();
    for a in &file.app {
        if let Some(s) = &a.sso {
            if let Some(n) = &s.client_secret_env {
                out.push(SecretRef::Env(n.clone()));
            }
            if let Some(p) = &s.client_secret_file {
                out.push(SecretRef::File(p.clone()));
            }
        }
    }
    out.sort_by_key(SecretRef::key);
    out.dedup();
    out
}

// ---- the plan ---------------------------------------------------------------

/// What a line of a plan does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Op {
    /// Added.
    #[serde(rename = "+")]
    Add,
    /// Changed.
    #[serde(rename = "~")]
    Change,
    /// Removed.
    #[serde(rename = "-")]
    Remove,
}

impl Op {
    fn sign(self) -> char {
        match self {
            Self::Add => '+',
            Self::Change => '~',
            Self::Remove => '-',
        }
    }
}

/// One line of a plan: `~ alpha.sso.client_id: "old" → "new"`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// What happens.
    pub op: Op,
    /// What: `app alpha`, `alpha.sso.client_id`, `alpha.grant member→group:eng`.
    pub what: String,
    /// The values, if any (`: "old" → "new"`, ` = "new"`, ` (changed)`).
    pub detail: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", self.op.sign(), self.what, self.detail)
    }
}

/// The plan for one application.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppPlan {
    /// The application's slug (the file's; the current one for a delete).
    pub slug: String,
    /// Its lines (empty: unchanged).
    pub changes: Vec<Change>,
}

/// A whole plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// Per application, in the order they run: deletes, updates, creates.
    pub apps: Vec<AppPlan>,
    /// Applications not in the file, left as they are (no `--prune`).
    pub unmanaged: Vec<String>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.apps.iter().all(|a| a.changes.is_empty())
    }

    /// Every line, in order.
    pub fn lines(&self) -> Vec<String> {
        self.apps
            .iter()
            .flat_map(|a| a.changes.iter().map(ToString::to_string))
            .collect()
    }

    /// What the plan does, for comparing two plans: every line, but the
    /// user and session counts of a deleted application (those change as
    /// people sign in).
    fn fingerprint(&self) -> Vec<String> {
        self.apps
            .iter()
            .flat_map(|a| a.changes.iter())
            .map(|c| match (c.op, c.what.starts_with("app ")) {
                (Op::Remove, true) => format!("- {}", c.what),
                _ => c.to_string(),
            })
            .collect()
    }

    /// How many applications change.
    pub fn changed_apps(&self) -> usize {
        self.apps.iter().filter(|a| !a.changes.is_empty()).count()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// What [`AppsAsCode::apply`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// The plan (the one applied, unless a dry run).
    pub plan: Plan,
    /// Whether anything was written.
    pub applied: bool,
}

/// Options of an apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Compute and show the plan only.
    pub dry_run: bool,
    /// Delete applications that are not in the file.
    pub prune: bool,
}

// ---- desired and current state ------------------------------------------------

/// One entry of the file, checked.
struct Desired {
    place: String,
    pinned: Option<AppId>,
    doc: AppDoc,
    app: Application,
    sso: OidcSettings,
    secret: Option<SecretString>,
    /// In a dry run, why the secret the entry names could not be read (a
    /// review job may not have the secrets): shown, not compared.
    unread: Option<String>,
    grants: Vec<NewGrant>,
    access: AccessPolicy,
    api: ApiAccess,
    provisioning: ProvisioningSettings,
}

/// What the stored client secret is, for comparing with the file's.
enum StoredSecret {
    None,
    Known(SecretString),
    /// Sealed under a key this node does not have.
    Unreadable,
}

/// One application as stored.
struct Current {
    app: Application,
    sso: OidcSettings,
    secret: StoredSecret,
    grants: Vec<Grant>,
    access: AccessPolicy,
    api: ApiAccess,
    provisioning: ProvisioningSettings,
}

/// The handles one pass reads (and writes) through: the plain ones, or
/// those of a unit of work.
struct Handles<'a> {
    apps: crate::apps::Apps<'a>,
    access: crate::access::Access<'a>,
    api: crate::api_access::ApiAccessSettings<'a>,
    provisioning: crate::provisioning::Provisioning<'a>,
}

impl Handles<'_> {
    fn shared(&self) -> &crate::Shared {
        self.apps.shared
    }

    async fn load(&self) -> Result<Vec<Current>, ServiceError> {
        let mut out = Vec::new();
        for app in self.apps.list().await? {
            let stored = self.shared().store.get_oidc(app.id).await?;
            let (sso, secret) = match stored {
                Some(s) => {
                    let secret = match &s.client_secret_sealed {
                        None => StoredSecret::None,
                        Some(sealed) => match self
                            .shared()
                            .keys
                            .open_secret(sealed, SealContext::ClientSecret(app.id))
                        {
                            Ok(v) => StoredSecret::Known(v),
                            Err(_) => StoredSecret::Unreadable,
                        },
                    };
                    (s.settings, secret)
                }
                None => (OidcSettings::default(), StoredSecret::None),
            };
            let grants = self.access.grants(app.id).await?;
            let access = self.access.policy(app.id).await?;
            let api = self.api.get(app.id).await?;
            let provisioning = self.provisioning.settings(app.id).await?;
            out.push(Current {
                app,
                sso,
                secret,
                grants,
                access,
                api,
                provisioning,
            });
        }
        Ok(out)
    }
}

/// A new application id (for an entry that pins none).
fn fresh_id() -> AppId {
    AppId::new()
}

/// `e` with every field named by `place` first.
fn placed(place: &str, e: Invalid) -> Invalid {
    Invalid {
        errors: e
            .errors
            .into_iter()
            .map(|mut fe| {
                fe.field = format!("{place}: {}", fe.field);
                fe
            })
            .collect(),
    }
}

/// A service error of a use case run for the entry at `place`, named by it.
fn at(place: &str, e: ServiceError) -> ServiceError {
    match e {
        ServiceError::Invalid(inv) => ServiceError::Invalid(placed(place, inv)),
        ServiceError::Conflict { field, message } => {
            ServiceError::Invalid(Invalid::field(format!("{place}: {field}"), message))
        }
        other => other,
    }
}

fn check_entry(
    apps: &crate::apps::Apps<'_>,
    index: usize,
    doc: &AppDoc,
    secrets: &dyn SecretSource,
    dry_run: bool,
) -> Result<Desired, Invalid> {
    let label = if doc.slug.trim().is_empty() {
        doc.name.trim()
    } else {
        doc.slug.trim()
    };
    let place = format!("app[{index}] ({label})");
    let mut errors = Vec::new();
    let mut keep = |r: Result<(), Invalid>| {
        if let Err(e) = r {
            errors.extend(e.errors);
        }
    };

    let pinned = match doc.id.as_deref() {
        None => None,
        Some(raw) => match raw.trim().parse::<AppId>() {
            Ok(id) if !id.as_uuid().is_nil() => Some(id),
            _ => {
                keep(Err(Invalid::field(
                    "id",
                    "must be an application id, as `gatehouse export` writes it",
                )));
                None
            }
        },
    };
    if doc.slug.trim().is_empty() {
        keep(Err(Invalid::field(
            "slug",
            "is required: applications are matched by slug",
        )));
    }
    let new_app = NewApp {
        name: doc.name.clone(),
        slug: Some(doc.slug.clone()),
        hosts: doc.hosts.clone(),
        upstream_url: doc.upstream_url.clone(),
        scheme: doc.scheme.clone(),
        auth_prefix: doc.auth_prefix.clone(),
    };
    let app = match apps.check_new(pinned.unwrap_or_else(fresh_id), &new_app) {
        Ok(a) => Some(a),
        Err(ServiceError::Invalid(inv)) => {
            keep(Err(inv));
            None
        }
        Err(other) => {
            keep(Err(Invalid::field("app", other.to_string())));
            None
        }
    };

    // SSO, with the secret read from where the file says.
    let sso_doc = doc.sso.clone().unwrap_or_default();
    let mut secret = None;
    if sso_doc.client_secret.is_some() {
        keep(Err(Invalid::field(
            "sso.client_secret",
            "a secret is never written in the file (it is meant for git); name where it is with client_secret_env = \"VARIABLE\" or client_secret_file = \"PATH\"",
        )));
    }
    let reference = match (&sso_doc.client_secret_env, &sso_doc.client_secret_file) {
        (Some(_), Some(_)) => {
            keep(Err(Invalid::field(
                "sso.client_secret_env",
                "give client_secret_env or client_secret_file, not both",
            )));
            None
        }
        (Some(n), None) if n.trim().is_empty() => {
            keep(Err(Invalid::field(
                "sso.client_secret_env",
                "must name an environment variable",
            )));
            None
        }
        (None, Some(p)) if p.trim().is_empty() => {
            keep(Err(Invalid::field(
                "sso.client_secret_file",
                "must name a file",
            )));
            None
        }
        (Some(n), None) if is_own_variable(n) => {
            keep(Err(Invalid::field(
                "sso.client_secret_env",
                "names one of Gatehouse's own variables (GATEHOUSE_*): a client secret never comes from them, so a file cannot send the admin token or master key to an IdP",
            )));
            None
        }
        (Some(n), None) => Some(("sso.client_secret_env", SecretRef::Env(n.trim().to_owned()))),
        (None, Some(p)) => Some((
            "sso.client_secret_file",
            SecretRef::File(p.trim().to_owned()),
        )),
        (None, None) => None,
    };
    // A secret named but not read is reported once (not again as missing).
    let mut named_unread = false;
    let mut unread = None;
    if let Some((field, r)) = reference {
        match secrets.read(&r) {
            Ok(s) => secret = Some(s),
            Err(why) => {
                named_unread = true;
                // (Gatehouse's own variables were refused above, unread.)
                if dry_run {
                    unread = Some(why);
                } else {
                    keep(Err(Invalid::field(field, why)));
                }
            }
        }
    }
    let input = sso_doc.input(Some(match (&secret, named_unread) {
        (Some(s), _) => s.clone(),
        (None, true) => SecretString::from("unread".to_owned()),
        (None, false) => SecretString::from(String::new()),
    }));
    let sso = match input.validate(false) {
        Ok((s, _)) => Some(s),
        Err(e) => {
            keep(Err(e.nested("sso")));
            None
        }
    };

    if doc.grant.len() > MAX_GRANTS_PER_APP {
        keep(Err(Invalid::field(
            "grant",
            format!(
                "at most {MAX_GRANTS_PER_APP} grants per application (grant groups, not people)"
            ),
        )));
    }
    if doc
        .access
        .as_ref()
        .is_some_and(|a| a.routes.len() > MAX_ROUTES_PER_APP)
    {
        keep(Err(Invalid::field(
            "access.routes",
            format!("at most {MAX_ROUTES_PER_APP} route rules per application"),
        )));
    }
    let mut grants: Vec<NewGrant> = Vec::new();
    for (j, g) in doc.grant.iter().enumerate().take(MAX_GRANTS_PER_APP) {
        match NewGrant::new(&g.role, g.subject.parse()) {
            Ok(ng) if grants.contains(&ng) => keep(Err(Invalid::field(
                format!("grant[{j}]"),
                "is listed twice",
            ))),
            Ok(ng) => grants.push(ng),
            Err(e) => keep(Err(e.nested(&format!("grant[{j}]")))),
        }
    }

    let access = match doc.access.clone().unwrap_or_default().input().validate() {
        Ok(a) => Some(a),
        Err(e) => {
            keep(Err(e.nested("access")));
            None
        }
    };

    let (issuer, client_id) = sso.as_ref().map_or((String::new(), String::new()), |s| {
        (
            s.issuer_url
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .unwrap_or_default(),
            s.client_id.clone(),
        )
    });
    let api = match crate::api_access::check_settings(
        doc.api_access.clone().unwrap_or_default(),
        &issuer,
        &client_id,
    ) {
        Ok(a) => Some(a),
        Err(e) => {
            keep(Err(e.nested("api_access")));
            None
        }
    };

    let provisioning = match crate::provisioning::merge_settings(
        ProvisioningSettings::default(),
        &doc.provisioning.clone().unwrap_or_default().input(),
    ) {
        Ok(p) => Some(p),
        Err(e) => {
            keep(Err(e.nested("provisioning")));
            None
        }
    };

    match (app, sso, access, api, provisioning) {
        (Some(app), Some(sso), Some(access), Some(api), Some(provisioning))
            if errors.is_empty() =>
        {
            Ok(Desired {
                place,
                pinned,
                doc: doc.clone(),
                app,
                sso,
                secret,
                unread,
                grants,
                access,
                api,
                provisioning,
            })
        }
        _ => {
            if errors.is_empty() {
                errors.push(gatehouse_core::FieldError::new("app", "is invalid"));
            }
            Err(placed(&place, Invalid { errors }))
        }
    }
}

/// Check every entry, and the entries against each other.
fn check_file(
    apps: &crate::apps::Apps<'_>,
    file: &AppsFile,
    secrets: &dyn SecretSource,
    options: Options,
) -> Result<Vec<Desired>, Invalid> {
    if options.prune && file.app.is_empty() {
        return Err(Invalid::field(
            "app",
            "the file has no applications: with --prune it would delete every application; refusing",
        ));
    }
    let mut errors = Vec::new();
    let mut desired = Vec::new();
    for (i, doc) in file.app.iter().enumerate() {
        match check_entry(apps, i, doc, secrets, options.dry_run) {
            Ok(d) => desired.push(d),
            Err(e) => errors.extend(e.errors),
        }
    }
    // Within the file: one slug, id and host per entry.
    let mut slugs: HashMap<String, &str> = HashMap::new();
    let mut ids: HashMap<AppId, &str> = HashMap::new();
    let mut hosts: HashMap<String, &str> = HashMap::new();
    for d in &desired {
        if let Some(other) = slugs.insert(d.app.slug.to_string(), &d.place) {
            errors.push(gatehouse_core::FieldError::new(
                format!("{}: slug", d.place),
                format!("is also the slug of {other}"),
            ));
        }
        if let Some(id) = d.pinned
            && let Some(other) = ids.insert(id, &d.place)
        {
            errors.push(gatehouse_core::FieldError::new(
                format!("{}: id", d.place),
                format!("is also the id of {other}"),
            ));
        }
        for h in &d.app.hosts {
            if let Some(other) = hosts.insert(h.to_string(), &d.place) {
                errors.push(gatehouse_core::FieldError::new(
                    format!("{}: hosts", d.place),
                    format!("\"{h}\" is also a host of {other}"),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(desired)
    } else {
        Err(Invalid { errors })
    }
}

// ---- computing the plan ---------------------------------------------------------

/// What to do, in order.
enum Step {
    Delete { current: usize },
    Update { desired: usize, current: usize },
    Create { desired: usize },
}

struct Computed {
    plan: Plan,
    steps: Vec<Step>,
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        let cut: String = s.chars().take(117).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// Lines for every difference between `old` and `new` below `path`.
fn diff(path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                diff(
                    &p,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (a, b) if a == b => {}
        (Value::Null, b) => out.push(Change {
            op: Op::Add,
            what: path.to_owned(),
            detail: format!(" = {}", show(b)),
        }),
        (a, Value::Null) => out.push(Change {
            op: Op::Remove,
            what: path.to_owned(),
            detail: format!(" (was {})", show(a)),
        }),
        (a, b) => out.push(Change {
            op: Op::Change,
            what: path.to_owned(),
            detail: format!(": {} → {}", show(a), show(b)),
        }),
    }
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn app_fields(a: &Application) -> Value {
    serde_json::json!({
        "name": a.name,
        "slug": a.slug.to_string(),
        "hosts": a.hosts.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "upstream_url": a.upstream_url.as_ref().map(|u| u.as_str().to_owned()),
        "scheme": a.scheme.to_string(),
        "auth_prefix": a.auth_prefix.to_string(),
    })
}

fn describe_grant(g: &NewGrant) -> String {
    format!("{}→{}", g.role.as_str(), g.subject.label())
}

fn same_grant(g: &Grant, n: &NewGrant) -> bool {
    g.role == n.role && g.subject == n.subject
}

/// The secret line of an application's SSO settings, if the secret changes.
fn secret_change(
    slug: &str,
    current: &StoredSecret,
    desired: Option<&SecretString>,
) -> Option<Change> {
    let detail = match (current, desired) {
        (StoredSecret::None, None) => return None,
        (StoredSecret::None, Some(_)) => " (set)",
        (StoredSecret::Known(_) | StoredSecret::Unreadable, None) => " (removed)",
        (StoredSecret::Known(c), Some(d)) => {
            if gatehouse_crypto::token::secrets_equal(c, d.expose_secret()) {
                return None;
            }
            " (changed)"
        }
        (StoredSecret::Unreadable, Some(_)) => " (changed)",
    };
    Some(Change {
        op: match detail {
            " (removed)" => Op::Remove,
            " (set)" => Op::Add,
            _ => Op::Change,
        },
        what: format!("{slug}.sso.client_secret"),
        detail: detail.to_owned(),
    })
}

/// The lines of an application whose state goes from `c` (`None`: a new
/// application) to `d`.
fn app_changes(d: &Desired, c: Option<&Current>) -> Vec<Change> {
    let slug = d.app.slug.to_string();
    let mut out = Vec::new();
    match c {
        None => {
            out.push(Change {
                op: Op::Add,
                what: format!("app {slug}"),
                detail: d
                    .pinned
                    .map_or_else(String::new, |id| format!(" (id {id})")),
            });
            let fields = app_fields(&d.app);
            if let Value::Object(m) = &fields {
                for (k, v) in m {
                    if !v.is_null() {
                        out.push(Change {
                            op: Op::Add,
                            what: format!("{slug}.{k}"),
                            detail: format!(" = {}", show(v)),
                        });
                    }
                }
            }
        }
        Some(c) => {
            if c.app.slug != d.app.slug {
                out.push(Change {
                    op: Op::Change,
                    what: format!("app {}", c.app.slug),
                    detail: format!(" → {slug} (renamed; id {})", c.app.id),
                });
            }
            diff(&slug, &app_fields(&c.app), &app_fields(&d.app), &mut out);
        }
    }
    let default_sso = OidcSettings::default();
    let default_access = AccessPolicy::default();
    let default_api = ApiAccess::default();
    let default_prov = ProvisioningSettings::default();
    let no_secret = StoredSecret::None;
    let (sso, secret, access, api, prov, grants) = match c {
        Some(c) => (
            &c.sso,
            &c.secret,
            &c.access,
            &c.api,
            &c.provisioning,
            c.grants.as_slice(),
        ),
        None => (
            &default_sso,
            &no_secret,
            &default_access,
            &default_api,
            &default_prov,
            &[][..],
        ),
    };
    diff(&format!("{slug}.sso"), &json(sso), &json(&d.sso), &mut out);
    match &d.unread {
        None => out.extend(secret_change(&slug, secret, d.secret.as_ref())),
        Some(why) => out.push(Change {
            op: Op::Change,
            what: format!("{slug}.sso.client_secret"),
            detail: format!(" (not compared in this dry run: {why})"),
        }),
    }
    for g in grants {
        if !d.grants.iter().any(|n| same_grant(g, n)) {
            out.push(Change {
                op: Op::Remove,
                what: format!(
                    "{slug}.grant {}",
                    describe_grant(&NewGrant {
                        role: g.role.clone(),
                        subject: g.subject.clone()
                    })
                ),
                detail: String::new(),
            });
        }
    }
    for n in &d.grants {
        if !grants.iter().any(|g| same_grant(g, n)) {
            out.push(Change {
                op: Op::Add,
                what: format!("{slug}.grant {}", describe_grant(n)),
                detail: String::new(),
            });
        }
    }
    diff(
        &format!("{slug}.access"),
        &json(access),
        &json(&d.access),
        &mut out,
    );
    diff(
        &format!("{slug}.api_access"),
        &json(api),
        &json(&d.api),
        &mut out,
    );
    diff(
        &format!("{slug}.provisioning"),
        &json(prov),
        &json(&d.provisioning),
        &mut out,
    );
    out
}

async fn compute(
    h: &Handles<'_>,
    desired: &[Desired],
    current: &[Current],
    options: Options,
) -> Result<Computed, ServiceError> {
    // Match: pinned ids first, then slugs among the rest.
    let mut matched: Vec<Option<usize>> = vec![None; desired.len()];
    let mut taken: HashSet<usize> = HashSet::new();
    for (i, d) in desired.iter().enumerate() {
        if let Some(id) = d.pinned
            && let Some(ci) = current.iter().position(|c| c.app.id == id)
        {
            matched[i] = Some(ci);
            taken.insert(ci);
        }
    }
    for (i, d) in desired.iter().enumerate() {
        if matched[i].is_none()
            && d.pinned.is_none()
            && let Some(ci) = (0..current.len())
                .find(|ci| current[*ci].app.slug == d.app.slug && !taken.contains(ci))
        {
            matched[i] = Some(ci);
            taken.insert(ci);
        }
    }
    let others: Vec<usize> = (0..current.len())
        .filter(|ci| !taken.contains(ci))
        .collect();

    // What stays outside the file must not collide with the file.
    let mut errors = Vec::new();
    if !options.prune {
        for d in desired {
            for &ci in &others {
                let o = &current[ci].app;
                if o.slug == d.app.slug {
                    errors.push(gatehouse_core::FieldError::new(
                        format!("{}: slug", d.place),
                        format!(
                            "\"{}\" is the slug of application {} (\"{}\"), which is not in this file{}",
                            o.slug,
                            o.id,
                            o.name,
                            if d.pinned.is_some() {
                                "; rename it first, or apply with --prune to delete it"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
                for host in &d.app.hosts {
                    if o.hosts.contains(host) {
                        errors.push(gatehouse_core::FieldError::new(
                            format!("{}: hosts", d.place),
                            format!(
                                "\"{host}\" belongs to application {} (\"{}\"), which is not in this file; add it to the file, or apply with --prune to delete it",
                                o.slug, o.name
                            ),
                        ));
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(Invalid { errors }));
    }

    let mut plan = Plan::default();
    let mut steps = Vec::new();
    if options.prune {
        let now = h.shared().now();
        for &ci in &others {
            let app = &current[ci].app;
            let (_, users) = h.shared().store.scim_users_page(app.id, 0, 0).await?;
            let sessions = h
                .shared()
                .store
                .list_sessions(app.id, None, now)
                .await?
                .len();
            plan.apps.push(AppPlan {
                slug: app.slug.to_string(),
                changes: vec![Change {
                    op: Op::Remove,
                    what: format!("app {}", app.slug),
                    detail: format!(
                        " (\"{}\", id {}: {users} user{}, {sessions} session{} go with it)",
                        app.name,
                        app.id,
                        if users == 1 { "" } else { "s" },
                        if sessions == 1 { "" } else { "s" }
                    ),
                }],
            });
            steps.push(Step::Delete { current: ci });
        }
    } else {
        plan.unmanaged = others
            .iter()
            .map(|&ci| current[ci].app.slug.to_string())
            .collect();
    }
    let updates: Vec<(usize, usize)> = matched
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.map(|ci| (i, ci)))
        .collect();
    for (i, ci) in order_updates(desired, current, &updates)? {
        plan.apps.push(AppPlan {
            slug: desired[i].app.slug.to_string(),
            changes: app_changes(&desired[i], Some(&current[ci])),
        });
        steps.push(Step::Update {
            desired: i,
            current: ci,
        });
    }
    for (i, d) in desired.iter().enumerate() {
        if matched[i].is_none() {
            plan.apps.push(AppPlan {
                slug: d.app.slug.to_string(),
                changes: app_changes(d, None),
            });
            steps.push(Step::Create { desired: i });
        }
    }
    Ok(Computed { plan, steps })
}

/// The updates in an order where each runs after those that give up a
/// slug or host it takes (a rename chain `a → b`, `b → c` runs `b → c`
/// first). A cycle (two applications exchanging a slug or a host) cannot
/// run in one transaction: refused at plan time, naming the entries.
fn order_updates(
    desired: &[Desired],
    current: &[Current],
    updates: &[(usize, usize)],
) -> Result<Vec<(usize, usize)>, ServiceError> {
    // after[v] = the updates that must wait for update v.
    let n = updates.len();
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut waits = vec![0usize; n];
    for (u, &(du, _)) in updates.iter().enumerate() {
        let want = &desired[du].app;
        for (v, &(dv, cv)) in updates.iter().enumerate() {
            if u == v {
                continue;
            }
            let (held, keeps) = (&current[cv].app, &desired[dv].app);
            let slug = want.slug == held.slug && keeps.slug != held.slug;
            let host = want
                .hosts
                .iter()
                .any(|h| held.hosts.contains(h) && !keeps.hosts.contains(h));
            if slug || host {
                after[v].push(u);
                waits[u] += 1;
            }
        }
    }
    let mut ready: std::collections::VecDeque<usize> = (0..n).filter(|u| waits[*u] == 0).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(v) = ready.pop_front() {
        out.push(updates[v]);
        for &u in &after[v] {
            waits[u] -= 1;
            if waits[u] == 0 {
                ready.push_back(u);
            }
        }
    }
    if out.len() == n {
        return Ok(out);
    }
    let stuck: Vec<&str> = (0..n)
        .filter(|u| waits[*u] > 0)
        .map(|u| desired[updates[u].0].place.as_str())
        .collect();
    Err(ServiceError::Invalid(Invalid::field(
        format!("{}: slug/hosts", stuck.join(", ")),
        "these applications exchange a slug or a host, which cannot happen in one transaction: apply in two steps (first move one of them to a temporary slug or host)",
    )))
}

// ---- running the plan -------------------------------------------------------------

async fn run(
    h: &Handles<'_>,
    computed: &Computed,
    desired: &[Desired],
    current: &[Current],
    ctx: &Context,
) -> Result<(), ServiceError> {
    for step in &computed.steps {
        if let Step::Delete { current: ci } = step {
            let c = &current[*ci];
            h.apps
                .delete(c.app.id, ctx)
                .await
                .map_err(|e| at(&format!("app {}", c.app.slug), e))?;
        }
    }
    for step in &computed.steps {
        match step {
            Step::Delete { .. } => {}
            Step::Update {
                desired: di,
                current: ci,
            } => {
                let (d, c) = (&desired[*di], &current[*ci]);
                update(h, d, c, ctx).await.map_err(|e| at(&d.place, e))?;
            }
            Step::Create { desired: di } => {
                let d = &desired[*di];
                create(h, d, ctx).await.map_err(|e| at(&d.place, e))?;
            }
        }
    }
    Ok(())
}

fn secret_input(current: &StoredSecret, desired: Option<&SecretString>) -> Option<SecretString> {
    match (current, desired) {
        (StoredSecret::None, None) => None,
        (_, None) => Some(SecretString::from(String::new())),
        (StoredSecret::Known(c), Some(d))
            if gatehouse_crypto::token::secrets_equal(c, d.expose_secret()) =>
        {
            None
        }
        (_, Some(d)) => Some(d.clone()),
    }
}

async fn sections(
    h: &Handles<'_>,
    id: AppId,
    d: &Desired,
    c: Option<&Current>,
    ctx: &Context,
) -> Result<(), ServiceError> {
    let none = StoredSecret::None;
    let stored = c.map_or(&none, |c| &c.secret);
    let secret = secret_input(stored, d.secret.as_ref());
    let sso_now = c.map(|c| &c.sso);
    if secret.is_some() || sso_now.map_or(d.sso != OidcSettings::default(), |s| *s != d.sso) {
        h.apps
            .put_sso(id, d.doc.sso.clone().unwrap_or_default().input(secret), ctx)
            .await?;
    }
    let grants: &[Grant] = c.map_or(&[], |c| c.grants.as_slice());
    for g in grants {
        if !d.grants.iter().any(|n| same_grant(g, n)) {
            h.access.delete_grant(id, g.id, ctx).await?;
        }
    }
    let added: Vec<&NewGrant> = d
        .grants
        .iter()
        .filter(|n| !grants.iter().any(|g| same_grant(g, n)))
        .collect();
    if !added.is_empty() {
        // Read in this unit, under its lock: none of these exists yet.
        let application = h.apps.get(id).await?;
        for n in added {
            h.access.add_grant(&application, n.clone(), ctx).await?;
        }
    }
    if c.map_or(d.access != AccessPolicy::default(), |c| {
        c.access != d.access
    }) {
        h.access
            .put_policy(id, d.doc.access.clone().unwrap_or_default().input(), ctx)
            .await?;
    }
    if c.map_or(d.api != ApiAccess::default(), |c| c.api != d.api) {
        h.api
            .put(id, d.doc.api_access.clone().unwrap_or_default(), ctx)
            .await?;
    }
    if c.map_or(d.provisioning != ProvisioningSettings::default(), |c| {
        c.provisioning != d.provisioning
    }) {
        h.provisioning
            .put_settings(
                id,
                d.doc.provisioning.clone().unwrap_or_default().input(),
                ctx,
            )
            .await?;
    }
    Ok(())
}

async fn update(
    h: &Handles<'_>,
    d: &Desired,
    c: &Current,
    ctx: &Context,
) -> Result<(), ServiceError> {
    let (a, b) = (&c.app, &d.app);
    let patch = AppPatch {
        name: (a.name != b.name).then(|| b.name.clone()),
        slug: (a.slug != b.slug).then(|| b.slug.to_string()),
        hosts: (a.hosts != b.hosts).then(|| b.hosts.iter().map(ToString::to_string).collect()),
        upstream_url: (a.upstream_url != b.upstream_url)
            .then(|| b.upstream_url.as_ref().map(|u| u.as_str().to_owned())),
        scheme: (a.scheme != b.scheme).then(|| b.scheme.to_string()),
        auth_prefix: (a.auth_prefix != b.auth_prefix).then(|| b.auth_prefix.to_string()),
    };
    if patch.name.is_some()
        || patch.slug.is_some()
        || patch.hosts.is_some()
        || patch.upstream_url.is_some()
        || patch.scheme.is_some()
        || patch.auth_prefix.is_some()
    {
        h.apps.update(a.id, patch, ctx).await?;
    }
    sections(h, a.id, d, Some(c), ctx).await
}

async fn create(h: &Handles<'_>, d: &Desired, ctx: &Context) -> Result<(), ServiceError> {
    let input = NewApp {
        name: d.doc.name.clone(),
        slug: Some(d.doc.slug.clone()),
        hosts: d.doc.hosts.clone(),
        upstream_url: d.doc.upstream_url.clone(),
        scheme: d.doc.scheme.clone(),
        auth_prefix: d.doc.auth_prefix.clone(),
    };
    let app = h
        .apps
        .create_with_id(d.pinned.unwrap_or_else(fresh_id), input, ctx)
        .await?;
    sections(h, app.id, d, None, ctx).await
}

// ---- the use cases ------------------------------------------------------------------

/// Applications as code (see the module documentation).
pub struct AppsAsCode<'g> {
    pub(crate) gh: &'g Gatehouse,
}

impl Gatehouse {
    /// Applications as code: apply a file, export the state.
    pub fn apps_as_code(&self) -> AppsAsCode<'_> {
        AppsAsCode { gh: self }
    }
}

impl AppsAsCode<'_> {
    fn handles(&self) -> Handles<'_> {
        Handles {
            apps: self.gh.apps(),
            access: self.gh.access(),
            api: self.gh.api_access(),
            provisioning: self.gh.provisioning(),
        }
    }

    /// Make the instance match `text` (see the module documentation). With
    /// `dry_run`, only the plan. Errors: `Invalid` naming every place at
    /// fault (nothing changed), `Conflict` when the instance changed
    /// between the plan and the apply (nothing changed).
    #[tracing::instrument(level = "info", skip_all, fields(dry_run = options.dry_run, prune = options.prune), err(level = "debug"))]
    pub async fn apply(
        &self,
        text: &str,
        secrets: &dyn SecretSource,
        options: Options,
        ctx: &Context,
    ) -> Result<Outcome, ServiceError> {
        let file = parse_file(text)?;
        let h = self.handles();
        let desired = check_file(&h.apps, &file, secrets, options)?;
        let current = h.load().await?;
        let computed = compute(&h, &desired, &current, options).await?;
        if options.dry_run || computed.plan.is_empty() {
            return Ok(Outcome {
                plan: computed.plan,
                applied: false,
            });
        }

        // Under the lock, in one transaction: the state again, the plan again.
        let work = self.gh.work().await?;
        let wh = Handles {
            apps: work.apps(),
            access: work.access(),
            api: work.api_access(),
            provisioning: work.provisioning(),
        };
        let now_current = wh.load().await?;
        let again = compute(&wh, &desired, &now_current, options).await?;
        if again.plan.is_empty() {
            tracing::info!("applications as code: the instance came to match the file meanwhile");
            return Ok(Outcome {
                plan: again.plan,
                applied: false,
            });
        }
        if again.plan.fingerprint() != computed.plan.fingerprint() {
            return Err(ServiceError::Conflict {
                field: "plan",
                message: "the instance changed while the plan was being made (another apply or an administrator); nothing was changed: run it again to see the new plan".into(),
            });
        }
        run(&wh, &again, &desired, &now_current, ctx).await?;
        work.commit().await?;
        tracing::info!(
            applications = again.plan.changed_apps(),
            "applications as code applied"
        );
        Ok(Outcome {
            plan: again.plan,
            applied: true,
        })
    }

    /// The current state in the file's format: every application, or the
    /// one with slug `only`.
    pub async fn export(&self, only: Option<&str>) -> Result<String, ServiceError> {
        let h = self.handles();
        let mut current = h.load().await?;
        if let Some(slug) = only {
            current.retain(|c| c.app.slug.as_str() == slug);
            if current.is_empty() {
                return Err(ServiceError::NotFound("application"));
            }
        }
        current.sort_by(|a, b| a.app.slug.as_str().cmp(b.app.slug.as_str()));
        let mut out = String::from(
            "# Gatehouse applications, as `gatehouse export` wrote them.\n\
             # Apply with `gatehouse apply --file FILE`, with each client secret in the\n\
             # environment variable its client_secret_env names.\n",
        );
        for c in &current {
            let doc = AppDoc::of(&doc::CurrentView {
                app: &c.app,
                sso: &c.sso,
                secret_set: !matches!(c.secret, StoredSecret::None),
                grants: &c.grants,
                access: &c.access,
                api: &c.api,
                provisioning: &c.provisioning,
            });
            let text = toml::to_string(&AppsFile { app: vec![doc] })
                .map_err(|e| ServiceError::Internal(format!("export: {e}")))?;
            out.push('\n');
            out.push_str(&format!("# {}\n", c.app.name.replace('\n', " ")));
            if c.sso.token_endpoint_auth_method
                == gatehouse_core::sso::ClientAuthMethod::PrivateKeyJwt
            {
                out.push_str(
                    "# private_key_jwt: the client key does not travel. Applied elsewhere, a new\n\
                     # key is made: register its key set (GET /api/v1/apps/{id}/sso/oidc, client_jwks,\n\
                     # or the jwks.json URL it lists) at the IdP.\n",
                );
            }
            out.push_str(&text);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_entry_and_line() {
        let text = "[[app]]\nslug = \"a\"\n\n[[app]]\nslug = \"b\"\nhostz = []\n";
        let e = parse_file(text).unwrap_err();
        assert!(e.errors[0].field.starts_with("app[1]: line 6"), "{e}");
        assert!(e.errors[0].message.contains("hostz"), "{e}");
    }

    #[test]
    fn secret_env_names_follow_the_slug() {
        assert_eq!(secret_env_name("my-app"), "MY_APP_CLIENT_SECRET");
    }

    #[test]
    fn diff_names_each_changed_field() {
        let mut out = Vec::new();
        diff(
            "a.sso",
            &serde_json::json!({"client_id": "x", "scopes": "openid"}),
            &serde_json::json!({"client_id": "y", "scopes": "openid"}),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to_string(), "~ a.sso.client_id: \"x\" → \"y\"");
    }
}
