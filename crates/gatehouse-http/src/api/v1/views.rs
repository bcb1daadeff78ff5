//! What the API returns: explicit views of the domain, so the JSON shape is
//! a stable contract independent of internal types. Secrets have no field here.

use gatehouse_core::sso::{ClientAuthMethod, OidcExtra};
use gatehouse_core::user::{TagSource, User, UserStatus};
use gatehouse_core::{Actor, Application, AuditEvent};
use gatehouse_service::apps::SsoView;
use gatehouse_store::SessionRecord;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// An application.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppView {
    /// Id.
    #[schema(value_type = String, format = Uuid)]
    pub id: gatehouse_core::AppId,
    /// Name.
    pub name: String,
    /// URL-safe short name.
    pub slug: String,
    /// Host entries.
    pub hosts: Vec<String>,
    /// Upstream URL.
    pub upstream_url: Option<String>,
    /// `http` or `https`.
    pub scheme: String,
    /// Prefix of Gatehouse's routes on the hosts.
    pub auth_prefix: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<&Application> for AppView {
    fn from(a: &Application) -> Self {
        Self {
            id: a.id,
            name: a.name.clone(),
            slug: a.slug.to_string(),
            hosts: a.hosts.iter().map(ToString::to_string).collect(),
            upstream_url: a.upstream_url.as_ref().map(|u| u.as_str().to_owned()),
            scheme: a.scheme.to_string(),
            auth_prefix: a.auth_prefix.to_string(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// One other-claim mapping.
#[derive(Debug, Serialize, ToSchema)]
pub struct OtherMappingView {
    /// IdP claim.
    pub claim: String,
    /// Tag key.
    pub tag: String,
}

/// Claim mappings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimMappingsView {
    /// E-mail claim.
    pub email: String,
    /// First Name claim.
    pub first_name: String,
    /// Last Name claim.
    pub last_name: Option<String>,
    /// Other claims stored as tags.
    pub other: Vec<OtherMappingView>,
}

/// SSO OIDC settings of an application. The client secret is never
/// returned: only whether one is set.
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoOidcView {
    /// Enabled toggle.
    pub enabled: bool,
    /// Issuer URL.
    pub issuer_url: String,
    /// Client ID.
    pub client_id: String,
    /// Whether a Client Secret is stored.
    pub client_secret_set: bool,
    /// Scopes.
    pub scopes: String,
    /// Claim mappings.
    pub claim_mappings: ClaimMappingsView,
    /// Groups claim.
    pub groups_claim: Option<String>,
    /// Token endpoint auth method.
    pub token_endpoint_auth_method: ClientAuthMethod,
    /// Whether every e-mail address the IdP sends counts as verified.
    pub trust_email: bool,
    /// Advanced options.
    pub extra: OidcExtra,
    /// Callback URLs to register at the IdP.
    pub callback_urls: Vec<String>,
    /// Logout Redirect URLs to register at the IdP.
    pub logout_redirect_urls: Vec<String>,
    /// Back-Channel Logout URLs to register at the IdP.
    pub backchannel_logout_urls: Vec<String>,
    /// The application's public key set for `private_key_jwt` (register it at the IdP).
    #[schema(value_type = Option<Object>)]
    pub client_jwks: Option<serde_json::Value>,
    /// URLs where the IdP can fetch that key set.
    pub client_jwks_urls: Vec<String>,
}

impl From<SsoView> for SsoOidcView {
    fn from(v: SsoView) -> Self {
        let s = v.settings;
        Self {
            enabled: s.enabled,
            issuer_url: s
                .issuer_url
                .map(|i| i.as_str().to_owned())
                .unwrap_or_default(),
            client_id: s.client_id,
            client_secret_set: v.client_secret_set,
            scopes: s.scopes,
            claim_mappings: ClaimMappingsView {
                email: s.claim_mappings.email.to_string(),
                first_name: s.claim_mappings.first_name.to_string(),
                last_name: s.claim_mappings.last_name.map(|c| c.to_string()),
                other: s
                    .claim_mappings
                    .other
                    .into_iter()
                    .map(|o| OtherMappingView {
                        claim: o.claim.to_string(),
                        tag: o.tag.into(),
                    })
                    .collect(),
            },
            groups_claim: s.groups_claim.map(|c| c.to_string()),
            token_endpoint_auth_method: s.token_endpoint_auth_method,
            trust_email: s.trust_email,
            extra: s.extra,
            callback_urls: v.callback_urls,
            logout_redirect_urls: v.logout_redirect_urls,
            backchannel_logout_urls: v.backchannel_logout_urls,
            client_jwks: v.client_jwks,
            client_jwks_urls: v.client_jwks_urls,
        }
    }
}

/// A tag.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// `idp` (from a claim at sign-in) or `admin`.
    pub source: TagSource,
}

/// An IdP identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    /// Issuer.
    pub issuer: String,
    /// Subject.
    pub subject: String,
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id (sent upstream as `X-Auth-Request-User`).
    #[schema(value_type = String, format = Uuid)]
    pub id: gatehouse_core::UserId,
    /// Application id.
    #[schema(value_type = String, format = Uuid)]
    pub app_id: gatehouse_core::AppId,
    /// E-mail.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Tags.
    pub tags: Vec<TagView>,
    /// Groups (names, each once, from every source).
    pub groups: Vec<String>,
    /// Group memberships with their source (`claim`, `scim`, `admin`).
    pub memberships: Vec<MembershipView>,
    /// `active` or `disabled` (an administrator's; wins over provisioning).
    pub status: UserStatus,
    /// SCIM's `userName` (users made at sign-in: their e-mail).
    pub user_name: String,
    /// SCIM's `externalId`, if provisioned.
    pub external_id: Option<String>,
    /// Whether provisioning made or adopted the user.
    pub provisioned: bool,
    /// SCIM's `active` (`false`: deactivated by provisioning).
    pub scim_active: bool,
    /// When provisioning deleted the user (a tombstone that refuses sign-in).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deprovisioned_at: Option<OffsetDateTime>,
    /// Whether the user may sign in now.
    pub may_sign_in: bool,
    /// Linked IdP identities.
    pub identities: Vec<IdentityView>,
    /// Whether the e-mail address is verified (`null`: not known yet; an
    /// IdP user's flag is recorded at their next sign-in). Only verified
    /// addresses earn e-mail grants.
    pub email_verified: Option<bool>,
    /// Whether local sign-in with a password is possible.
    pub has_password: bool,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Last sign-in.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<OffsetDateTime>,
}

/// A group membership and where it came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    /// The group's display name.
    pub group: String,
    /// `claim` (the IdP's groups claim), `scim` (provisioning) or `admin`.
    pub source: gatehouse_core::user::GroupSource,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            app_id: u.app_id,
            email: u.email.to_string(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            tags: u
                .tags
                .iter()
                .map(|t| TagView {
                    key: t.key.to_string(),
                    value: t.value.clone(),
                    source: t.source,
                })
                .collect(),
            groups: u.group_names().into_iter().map(str::to_owned).collect(),
            memberships: u
                .groups
                .iter()
                .map(|m| MembershipView {
                    group: m.name.clone(),
                    source: m.source,
                })
                .collect(),
            status: u.status,
            user_name: u.user_name.clone(),
            external_id: u.external_id.clone(),
            provisioned: u.provisioned,
            scim_active: u.scim_active,
            deprovisioned_at: u.deprovisioned_at,
            may_sign_in: u.may_sign_in(),
            identities: u
                .identities
                .iter()
                .map(|i| IdentityView {
                    issuer: i.issuer.to_string(),
                    subject: i.subject.clone(),
                })
                .collect(),
            email_verified: u.email_verified,
            has_password: u.has_password,
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// A session (never its cookie value).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Public id (for revocation).
    #[schema(value_type = String, format = Uuid)]
    pub id: gatehouse_core::SessionId,
    /// The user.
    #[schema(value_type = String, format = Uuid)]
    pub user_id: gatehouse_core::UserId,
    /// `password` or `oidc`.
    pub method: String,
    /// Started.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last used.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: OffsetDateTime,
    /// Ends at the latest (absolute lifetime).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    /// Client address at sign-in.
    pub ip: Option<String>,
    /// Browser at sign-in.
    pub user_agent: Option<String>,
}

impl From<&SessionRecord> for SessionView {
    fn from(s: &SessionRecord) -> Self {
        Self {
            id: s.base.id,
            user_id: s.user_id,
            method: s.base.method.to_string(),
            created_at: s.base.created_at,
            last_seen_at: s.base.last_seen_at,
            expires_at: s.base.expires_at,
            ip: s.base.ip.clone(),
            user_agent: s.base.user_agent.clone(),
        }
    }
}

/// An audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    /// Position in the log (for paging with `before`).
    pub id: i64,
    /// Application id.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub app_id: Option<gatehouse_core::AppId>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// Who, structured.
    #[schema(value_type = Object)]
    pub actor: Actor,
    /// Who, as text (`admin-token:ci`, `user:ana@example.com`, ...).
    pub actor_name: String,
    /// What happened: `app.created`, `sso.updated`, `signin.succeeded`, `signin.failed`, ...
    pub action: String,
    /// What it happened to.
    pub target: Option<String>,
    /// Further facts (never secrets).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Correlation id of the request.
    pub correlation_id: Option<String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            app_id: e.app_id,
            at: e.at,
            actor_name: e.actor.to_string(),
            actor: e.actor,
            action: e.action,
            target: e.target,
            details: e.details,
            correlation_id: e.correlation_id,
        }
    }
}

/// One check of "Test connection".
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    /// What was checked: `discovery`, `issuer`, `jwks`, `pkce`, ...
    pub name: String,
    /// `ok`, `failed`, `warning` or `skipped`.
    pub status: String,
    /// Why (absent when ok).
    pub message: Option<String>,
}

impl From<&gatehouse_oidc::Check> for CheckView {
    fn from(c: &gatehouse_oidc::Check) -> Self {
        use gatehouse_oidc::Outcome;
        let (status, message) = match &c.outcome {
            Outcome::Ok => ("ok", None),
            Outcome::Failed(m) => ("failed", Some(m.clone())),
            Outcome::Warning(m) => ("warning", Some(m.clone())),
            Outcome::Skipped(m) => ("skipped", Some(m.clone())),
        };
        Self {
            name: c.name.to_owned(),
            status: status.to_owned(),
            message,
        }
    }
}

/// The result of "Test connection".
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTestView {
    /// No check failed.
    pub ok: bool,
    /// Every check in order.
    pub checks: Vec<CheckView>,
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:gatehouse:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short title.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong.
    pub detail: String,
    /// The first field at fault.
    pub field: Option<String>,
    /// Every field at fault.
    pub errors: Vec<FieldErrorView>,
    /// Correlation id (also in the logs).
    pub correlation_id: String,
}

/// A field at fault.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorView {
    /// Path of the field, e.g. `hosts[1]`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}
