//! Sign-in through the application's OpenID Provider: starting the
//! authorization code flow, completing it at the callback, linking the IdP
//! identity to a user, logout (RP-initiated and back-channel), silent
//! refresh, and "Test connection".
//!
//! The state of one sign-in attempt (state, nonce, PKCE verifier, return
//! path) travels in a cookie sealed under the master key, named after the
//! state, so several sign-ins in parallel tabs do not disturb each other and
//! any node can complete a sign-in another node started. Each state is
//! accepted once (recorded in the store).

mod backchannel;
mod logout;
mod refresh;
mod sign_in;
mod test_connection;
pub(crate) mod users;

use gatehouse_crypto::SealContext;
use std::time::Duration;

use gatehouse_core::claims::{MappedIdentity, MappingError};
use gatehouse_core::user::Deactivation;
use gatehouse_core::{AppId, ReturnPath};
use gatehouse_oidc::{Check, OidcError};

use serde::{Deserialize, Serialize};

pub use backchannel::BackchannelError;
pub use logout::{LogoutOutcome, LogoutTarget};
pub use sign_in::{CallbackParams, SignInDone};
pub use test_connection::ConnectionReport;

/// How long a sign-in attempt may take, from `/auth/login` to the callback.
pub const FLOW_TTL: Duration = Duration::from_secs(600);

/// What a sign-in attempt is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A user signing in to the application.
    SignIn,
    /// An administrator's "Try sign-in": show the claims, create no session.
    TrySignIn {
        /// The administrator who started it (e-mail).
        by: String,
    },
    /// An administrator signing in to the console.
    AdminSignIn,
}

/// How long a "Try sign-in" link from the console is valid.
pub const TRY_TTL: Duration = Duration::from_secs(600);

/// How long the page of a refused sign-in can be shown (and reloaded).
pub const REFUSAL_TTL: Duration = Duration::from_secs(600);

/// Signing in and out of applications: OIDC (authorization code with PKCE,
/// the callback, users made or linked from the claims), local passwords,
/// logout and back-channel logout. Holds what a session needs (it issues
/// them, through [`crate::sessions::Sessions`]) and the refusal ledger and
/// the login rate limiter.
pub struct SignIn<'a> {
    pub(crate) shared: &'a crate::Shared,
    pub(crate) caches: &'a crate::cache::Caches,
    pub(crate) router: &'a crate::routing::Router,
    pub(crate) feed: &'a crate::feed::FeedState,
    pub(crate) rp: &'a gatehouse_oidc::RelyingParty,
    pub(crate) refusals: &'a crate::refusals::Refusals,
    pub(crate) limiter: &'a crate::local_login::LoginLimiter,
}

impl<'a> SignIn<'a> {
    /// The directory handle (a sign-in makes, links or updates the user).
    pub(crate) fn directory(&self) -> crate::users::Directory<'a> {
        crate::users::Directory {
            shared: self.shared,
            caches: self.caches,
        }
    }

    /// The sessions handle (a sign-in ends by issuing one).
    pub(crate) fn sessions(&self) -> crate::sessions::Sessions<'a> {
        crate::sessions::Sessions {
            shared: self.shared,
            caches: self.caches,
            router: self.router,
            feed: self.feed,
            rp: self.rp,
        }
    }
}

impl SignIn<'_> {
    /// A link token for "Try sign-in" on `app`, started by the administrator `by`.
    pub fn try_token(&self, app: AppId, by: &str) -> Result<String, crate::ServiceError> {
        let body =
            serde_json::json!({"by": by, "exp": (self.shared.now() + TRY_TTL).unix_timestamp()});
        let sealed = self
            .shared
            .keys
            .seal(body.to_string().as_bytes(), SealContext::TrySignIn(app))?;
        Ok(sealed.into())
    }

    /// Seal `note` (why a sign-in was refused) for a short-lived cookie of
    /// `app`, so the refusal is shown on a clean URL after a redirect from
    /// the callback (a reload there would replay a used code).
    pub fn seal_refusal(
        &self,
        app: AppId,
        note: &serde_json::Value,
    ) -> Result<String, crate::ServiceError> {
        let body = serde_json::json!({"note": note, "exp": (self.shared.now() + REFUSAL_TTL).unix_timestamp()});
        let sealed = self
            .shared
            .keys
            .seal(body.to_string().as_bytes(), SealContext::Refusal(app))?;
        Ok(sealed.into())
    }

    /// A note sealed by [`SignIn::seal_refusal`] for `app`, if not expired.
    pub fn open_refusal(&self, app: AppId, token: &str) -> Option<serde_json::Value> {
        let token = gatehouse_core::Sealed::parse(token)?;
        let bytes = self
            .shared
            .keys
            .open(&token, SealContext::Refusal(app))
            .ok()?;
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let exp = v.get("exp")?.as_i64()?;
        (exp > self.shared.now().unix_timestamp())
            .then(|| v.get_mut("note").map(serde_json::Value::take))?
    }

    /// Who started a "Try sign-in" link, if the token is valid for `app` and not expired.
    pub fn open_try_token(&self, app: AppId, token: &str) -> Option<String> {
        let token = gatehouse_core::Sealed::parse(token)?;
        let bytes = self
            .shared
            .keys
            .open(&token, SealContext::TrySignIn(app))
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let exp = v.get("exp")?.as_i64()?;
        (exp > self.shared.now().unix_timestamp())
            .then(|| v.get("by")?.as_str().map(str::to_owned))
            .flatten()
    }
}

/// A sign-in attempt just started: send the browser to `redirect` with this cookie.
#[derive(Debug)]
pub struct LoginStart {
    /// The IdP's authorization URL.
    pub redirect: String,
    /// The flow cookie's name.
    pub cookie_name: String,
    /// The flow cookie's value (sealed).
    pub cookie_value: String,
    /// How long the cookie lives.
    pub max_age: Duration,
}

/// The content of a flow cookie (only ever stored sealed; no `Debug`).
#[derive(Serialize, Deserialize)]
struct FlowState {
    v: u8,
    app: AppId,
    host: String,
    state: String,
    nonce: String,
    verifier: String,
    rd: String,
    created: i64,
    purpose: Purpose,
}

/// The flow cookie for a `state`: its own name, so attempts in parallel
/// tabs never overwrite each other.
pub fn flow_cookie_name(state: &str) -> String {
    let h = gatehouse_crypto::token::lookup_hash(state);
    format!("gatehouse_flow_{}", &h.as_str()[..16])
}

/// What an administrator's "Try sign-in" shows.
#[derive(Debug, Clone, Serialize)]
pub struct TryResult {
    /// Every claim the IdP sent (ID token merged with userinfo).
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// How the mappings resolved, or why they failed.
    pub mapped: Result<MappedIdentity, String>,
    /// The checks the ID token passed.
    pub checks: Vec<Check>,
    /// The roles the user would have (from the grants and the default role).
    pub roles: Vec<gatehouse_core::access::Role>,
    /// Aggregated and distributed claim sources, and whether each was used.
    pub claim_sources: Vec<gatehouse_oidc::claim_sources::SourceReport>,
}

impl TryResult {
    /// The roles as one line (`admin, member`).
    pub fn roles_text(&self) -> String {
        gatehouse_core::access::Role::join(&self.roles, ", ")
    }
}

/// Why a sign-in through the IdP failed. Each has a stable reason (audit
/// details, metric label) and a message for the person signing in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// SSO is off or incomplete for this application.
    #[error("SSO OIDC is not set up for this application: {0}")]
    NotConfigured(String),
    /// The IdP answered the authorization request with `error=`.
    #[error("the identity provider refused the sign-in: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    IdpError {
        /// The OAuth error code.
        error: String,
        /// Its description.
        description: Option<String>,
    },
    /// No flow cookie for this state, or it does not open.
    #[error("no sign-in in progress in this browser matches this callback")]
    StateMismatch,
    /// The flow is older than [`FLOW_TTL`].
    #[error("the sign-in took longer than {} minutes", FLOW_TTL.as_secs() / 60)]
    Expired,
    /// The state was already used.
    #[error("this sign-in callback was already used")]
    Replayed,
    /// The IdP is unreachable or failing.
    #[error("{0}")]
    Unavailable(OidcError),
    /// The token endpoint refused the code (or a refresh).
    #[error("{0}")]
    TokenRefused(OidcError),
    /// A token or response failed a check.
    #[error("{0}")]
    InvalidToken(OidcError),
    /// A required claim is missing or unusable.
    #[error("{0}")]
    Mapping(MappingError),
    /// The e-mail belongs to an existing user but the IdP did not verify it.
    #[error(
        "an account with the e-mail {email} exists, and the identity provider did not confirm the address is verified"
    )]
    EmailNotVerified {
        /// The e-mail.
        email: String,
    },
    /// The IdP identity's e-mail is used by another user of the application.
    #[error("the e-mail {email} already belongs to another user of this application")]
    EmailTaken {
        /// The e-mail.
        email: String,
    },
    /// The user may not sign in: disabled by an administrator, or
    /// deactivated or deleted by provisioning.
    #[error("the account {email} is {}", if matches!(why, Deactivation::DisabledByAdmin) { "disabled" } else { "deactivated" })]
    Disabled {
        /// The e-mail.
        email: String,
        /// Why.
        why: Deactivation,
    },
    /// Only provisioned users may sign in, and this one was not provisioned.
    #[error("{email} was not provisioned to this application")]
    NotProvisioned {
        /// The e-mail.
        email: String,
    },
    /// No role grants the user the application.
    #[error("{email} has no access to this application")]
    NoAccess {
        /// The e-mail.
        email: String,
    },
    /// Storage or another internal failure.
    #[error("{0}")]
    Service(#[from] crate::ServiceError),
}

impl SignInError {
    /// The stable reason: audit `details.reason` and the metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotConfigured(_) => "not_configured",
            Self::IdpError { .. } => "idp_error",
            Self::StateMismatch => "state_mismatch",
            Self::Expired => "expired_login",
            Self::Replayed => "replayed",
            Self::Unavailable(_) => "idp_unreachable",
            Self::TokenRefused(_) => "token_error",
            Self::InvalidToken(_) => "invalid_token",
            Self::Mapping(MappingError::MissingClaim { .. }) => "missing_claim",
            Self::Mapping(_) => "invalid_claim",
            Self::EmailNotVerified { .. } => "email_not_verified",
            Self::EmailTaken { .. } => "email_taken",
            Self::Disabled {
                why: Deactivation::DisabledByAdmin,
                ..
            } => "user_disabled",
            Self::Disabled { .. } => "user_deactivated",
            Self::NotProvisioned { .. } => "not_provisioned",
            Self::NoAccess { .. } => "no_access",
            Self::Service(_) => "internal",
        }
    }

    /// The checks behind an invalid token, if any.
    pub fn checks(&self) -> &[Check] {
        match self {
            Self::InvalidToken(e) => e.checks(),
            _ => &[],
        }
    }
}

impl From<OidcError> for SignInError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::Invalid { .. }
            | OidcError::IssuerMismatch { .. }
            | OidcError::BadResponse { .. } => Self::InvalidToken(e),
            OidcError::TokenRefused { .. } => Self::TokenRefused(e),
            OidcError::Config(m) => Self::NotConfigured(m),
            other => Self::Unavailable(other),
        }
    }
}

/// The return path of a flow, never back into Gatehouse's own routes.
fn safe_rd(rd: &str, prefix: &str) -> ReturnPath {
    let rd = ReturnPath::parse_or_root(Some(rd));
    if rd.is_under(prefix) {
        ReturnPath::root()
    } else {
        rd
    }
}
