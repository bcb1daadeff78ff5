//! Starting a sign-in (`/auth/login`) and completing it (`/auth/callback`).

use gatehouse_crypto::SealContext;
use std::time::Duration;

use gatehouse_core::app::HostPattern;
use gatehouse_core::claims::mapping;
use gatehouse_core::sso::IssuerUrl;
use gatehouse_core::{Actor, ReturnPath};
use gatehouse_oidc::authorize::{self, AuthRequest, FlowSecrets};
use gatehouse_oidc::token::{self, ClientAuth};
use gatehouse_oidc::validate::{id_token, userinfo};
use gatehouse_oidc::{Check, OidcError, ProviderMetadata};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::SignIn;
use super::{
    FLOW_TTL, FlowState, LoginStart, Purpose, SignInError, TryResult, flow_cookie_name, safe_rd,
};
use crate::Context;
use crate::routing::AppRuntime;
use crate::sessions::{ClientInfo, IdpSessionData, IssuedSession};

/// The query of `/auth/callback`.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state sent.
    pub state: Option<String>,
    /// An error from the IdP.
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
}

/// A completed callback.
#[derive(Debug)]
pub enum SignInDone {
    /// A user signed in: set this session cookie and return to `rd`.
    SignedIn {
        /// The new session.
        issued: IssuedSession,
        /// Where to go.
        rd: ReturnPath,
        /// The user's e-mail (for the log).
        email: String,
        /// Time spent waiting for the IdP (token endpoint, userinfo, keys).
        idp_time: std::time::Duration,
    },
    /// An administrator's "Try sign-in".
    Tried(Box<TryResult>),
    /// The IdP vouched for someone signing in to the console; the caller finds the administrator.
    Admin {
        /// The token's issuer.
        issuer: String,
        /// The subject.
        sub: String,
        /// The mapped claims.
        mapped: Box<gatehouse_core::claims::MappedIdentity>,
        /// Where to return.
        rd: ReturnPath,
    },
}

/// The issuer and client id of an application whose SSO is usable.
pub(crate) fn sso_config(rt: &AppRuntime) -> Result<(&IssuerUrl, &str), SignInError> {
    let s = &rt.oidc;
    let issuer = s
        .issuer_url
        .as_ref()
        .ok_or_else(|| SignInError::NotConfigured("no Issuer URL".into()))?;
    if s.client_id.is_empty() {
        return Err(SignInError::NotConfigured("no Client ID".into()));
    }
    Ok((issuer, &s.client_id))
}

/// How the application authenticates to the token endpoint.
pub(crate) fn client_auth(rt: &AppRuntime) -> Result<ClientAuth<'_>, SignInError> {
    use gatehouse_core::sso::ClientAuthMethod as M;
    let missing = || {
        SignInError::NotConfigured(
            "no Client Secret is stored (or it cannot be opened with the master key)".into(),
        )
    };
    Ok(match rt.oidc.token_endpoint_auth_method {
        M::ClientSecretBasic => ClientAuth::Basic(rt.client_secret.as_ref().ok_or_else(missing)?),
        M::ClientSecretPost => ClientAuth::Post(rt.client_secret.as_ref().ok_or_else(missing)?),
        M::ClientSecretJwt => ClientAuth::SecretJwt(rt.client_secret.as_ref().ok_or_else(missing)?),
        M::PrivateKeyJwt => {
            ClientAuth::PrivateKeyJwt(rt.client_key.as_deref().ok_or_else(|| {
                SignInError::NotConfigured(
                    "private_key_jwt is selected but the application has no key".into(),
                )
            })?)
        }
    })
}

impl SignIn<'_> {
    /// Start a sign-in at the application's IdP from a request for `host`.
    /// `params` are the `/auth/login` query parameters to forward. A failure
    /// is logged and audited (`signin.failed`).
    #[tracing::instrument(level = "info", skip_all, fields(app = %rt.app.slug), err(level = "debug"))]
    pub async fn start_oidc(
        &self,
        rt: &AppRuntime,
        host: &HostPattern,
        rd: &ReturnPath,
        params: &[(String, String)],
        purpose: Purpose,
        client: &ClientInfo,
    ) -> Result<LoginStart, SignInError> {
        if let Some(down) = self.feed.down_for() {
            // Its callback could not complete; say so before sending anyone to the IdP.
            tracing::warn!(app = %rt.app.slug, down_s = down.as_secs(), "sign-in refused: the database does not answer");
            return Err(SignInError::Service(crate::ServiceError::Unavailable(
                "the database does not answer".into(),
            )));
        }
        let result: Result<LoginStart, SignInError> = async {
            if !rt.oidc.enabled && !matches!(purpose, Purpose::TrySignIn { .. }) {
                return Err(SignInError::NotConfigured("SSO OIDC is disabled".into()));
            }
            let (issuer, client_id) = sso_config(rt)?;
            client_auth(rt)?;
            let meta = self.rp.metadata(issuer).await?;
            let secrets = FlowSecrets::generate();
            let app = &rt.app;
            let redirect_uri = format!("{}://{host}{}/callback", app.scheme, app.auth_prefix);
            let mut extra: Vec<(&str, &str)> = rt
                .oidc
                .extra
                .auth_params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if let Some(hd) = &rt.oidc.extra.hosted_domain {
                extra.push(gatehouse_oidc::providers::google::hd_param(hd));
            }
            let url = authorize::url(
                &AuthRequest {
                    endpoint: &meta.authorization_endpoint,
                    client_id,
                    redirect_uri: &redirect_uri,
                    scope: &rt.oidc.scopes,
                    extra,
                    forwarded: params
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect(),
                },
                &secrets,
            )?;
            let flow = FlowState {
                v: 1,
                app: app.id,
                host: host.to_string(),
                rd: rd.to_string(),
                created: self.shared.now().unix_timestamp(),
                purpose,
                state: secrets.state.expose_secret().to_owned(),
                nonce: secrets.nonce.expose_secret().to_owned(),
                verifier: secrets.pkce_verifier.expose_secret().to_owned(),
            };
            let json = serde_json::to_vec(&flow)
                .map_err(|e| crate::ServiceError::Internal(e.to_string()))?;
            let sealed = self
                .shared
                .keys
                .seal(&json, SealContext::LoginFlow(app.id))
                .map_err(crate::ServiceError::from)?;
            Ok(LoginStart {
                redirect: url.to_string(),
                cookie_name: flow_cookie_name(secrets.state.expose_secret()),
                cookie_value: sealed.into(),
                max_age: FLOW_TTL,
            })
        }
        .await;
        if let Err(e) = &result {
            self.record_failure(rt, e, client).await;
        }
        result
    }

    /// Write the audit event and log line of a failed sign-in.
    pub async fn record_failure(&self, rt: &AppRuntime, e: &SignInError, client: &ClientInfo) {
        let now = self.shared.now();
        let failed_check = e.checks().iter().find(|c| c.is_failed()).map(|c| c.name);
        let mut audit = gatehouse_core::AuditEvent::new(
            Some(rt.app.id),
            now,
            Actor::Anonymous {
                ip: client.ip.clone().unwrap_or_default(),
            },
            "signin.failed",
        )
        .correlated(client.correlation_id.clone())
        .detail("method", "oidc")
        .detail("reason", e.reason())
        .detail("message", e.to_string());
        if let Some(check) = failed_check {
            audit = audit.detail("check", check);
        }
        match e {
            SignInError::Mapping(gatehouse_core::claims::MappingError::MissingClaim {
                claim,
                mapping,
            }) => {
                audit = audit
                    .detail("claim", claim.to_string())
                    .detail("mapping", *mapping);
            }
            SignInError::EmailNotVerified { email }
            | SignInError::EmailTaken { email }
            | SignInError::Disabled { email, .. }
            | SignInError::NotProvisioned { email }
            | SignInError::NoAccess { email } => {
                audit = audit.target(email.as_str());
            }
            _ => {}
        }
        let source = client.ip.clone().unwrap_or_default();
        let key = match failed_check {
            Some(check) => format!("{}:{check}", e.reason()),
            None => e.reason().to_owned(),
        };
        match self.refusals.audit(self.shared, audit, &source, &key).await {
            Ok(true) => {
                tracing::warn!(app = %rt.app.slug, outcome = "failed", reason = e.reason(), error = %e, "sign-in refused");
            }
            Ok(false) => {
                tracing::debug!(app = %rt.app.slug, outcome = "failed", reason = e.reason(), "sign-in refused again (counted)");
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot write the audit event of a failed sign-in");
            }
        }
    }

    /// Complete a sign-in at the callback. `flow_cookie` looks up a cookie by
    /// name. A failure is logged and audited (`signin.failed`).
    #[tracing::instrument(level = "info", skip_all, fields(app = %rt.app.slug), err(level = "debug"))]
    pub async fn complete_oidc(
        &self,
        rt: &AppRuntime,
        params: &CallbackParams,
        flow_cookie: impl Fn(&str) -> Option<String>,
        client: &ClientInfo,
    ) -> Result<SignInDone, SignInError> {
        let result: Result<SignInDone, SignInError> = async {
            let app = &rt.app;
            let correlation_id = client.correlation_id.clone();
            let state = params
                .state
                .as_deref()
                .filter(|s| !s.is_empty())
                .ok_or(SignInError::StateMismatch)?;
            let sealed = flow_cookie(&flow_cookie_name(state))
                .and_then(|c| gatehouse_core::Sealed::parse(&c))
                .ok_or(SignInError::StateMismatch)?;
            let json = self
                .shared
                .keys
                .open(&sealed, SealContext::LoginFlow(app.id))
                .map_err(|_| SignInError::StateMismatch)?;
            let flow: FlowState =
                serde_json::from_slice(&json).map_err(|_| SignInError::StateMismatch)?;
            if flow.app != app.id
                || !gatehouse_crypto::token::secrets_equal(
                    &SecretString::from(flow.state.clone()),
                    state,
                )
            {
                return Err(SignInError::StateMismatch);
            }
            let now = self.shared.now();
            if now.unix_timestamp() - flow.created > FLOW_TTL.as_secs() as i64 {
                return Err(SignInError::Expired);
            }
            let used_until =
                time::OffsetDateTime::from_unix_timestamp(flow.created).unwrap_or(now) + FLOW_TTL;
            let first_use = self
                .shared
                .store
                .mark_used(
                    "flow_state",
                    gatehouse_crypto::token::lookup_hash(&format!("{}:{state}", app.id)).as_str(),
                    used_until,
                )
                .await
                .map_err(crate::ServiceError::from)?;
            if !first_use {
                return Err(SignInError::Replayed);
            }
            if let Some(error) = &params.error {
                return Err(SignInError::IdpError {
                    error: error
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(100)
                        .collect(),
                    description: params
                        .error_description
                        .as_ref()
                        .map(|d| d.chars().filter(|c| !c.is_control()).take(300).collect()),
                });
            }
            let code = params
                .code
                .as_deref()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| SignInError::IdpError {
                    error: "invalid_request".into(),
                    description: Some("the callback has no code".into()),
                })?;
            let (issuer, client_id) = sso_config(rt)?;
            let idp_started = std::time::Instant::now();
            let meta = self.rp.metadata(issuer).await?;
            let redirect_uri = format!("{}://{}{}/callback", app.scheme, flow.host, app.auth_prefix);
            let tokens = token::request(
                self.rp.http(),
                &meta.token_endpoint,
                client_id,
                client_auth(rt)?,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &redirect_uri),
                    ("code_verifier", &flow.verifier),
                ],
                now.unix_timestamp(),
            )
            .await?;
            let mut idp_time = idp_started.elapsed();
            let id_token = tokens.id_token.as_deref().ok_or_else(|| {
                SignInError::InvalidToken(OidcError::Invalid {
                    token: "token response",
                    checks: vec![Check::failed(
                        "id_token",
                        "the token response has no ID token (is the openid scope requested?)",
                    )],
                })
            })?;
            let (claims, checks) = validate_id_token(
                self.rp,
                self.shared.now(),
                rt,
                &meta,
                id_token,
                Some(&flow.nonce),
                Some(tokens.access_token.expose_secret()),
            )
            .await?;
            let sub = claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut merged = claims.clone();
            let userinfo_started = std::time::Instant::now();
            if let Some(info) = self
                .rp
                .userinfo(
                    &meta,
                    tokens.access_token.expose_secret(),
                    client_id,
                    hmac(rt),
                )
                .await?
            {
                let check = userinfo::check_sub(&info, &sub);
                if check.is_failed() {
                    return Err(SignInError::InvalidToken(OidcError::Invalid {
                        token: "userinfo",
                        checks: vec![check],
                    }));
                }
                merged = userinfo::merge(&claims, &info);
            }
            // Aggregated and distributed claims (OIDC Core §5.6.2), from the
            // ID token or userinfo.
            let claim_sources = self
                .rp
                .resolve_claim_sources(
                    &mut merged,
                    gatehouse_oidc::claim_sources::SourceRules {
                        issuer: &meta.issuer,
                        jwks_uri: &meta.jwks_uri,
                        allowed_hosts: &rt.oidc.extra.claim_source_hosts,
                        access_token: Some(tokens.access_token.expose_secret()),
                    },
                )
                .await;
            idp_time += userinfo_started.elapsed();
            let skipped_sources: Vec<Value> = claim_sources
                .iter()
                .filter(|r| r.skipped.is_some())
                .map(|r| serde_json::json!({"source": r.name, "kind": r.kind, "claims": r.claims, "reason": r.skipped}))
                .collect();
            if let Some(domain) = &rt.oidc.extra.hosted_domain {
                let check = gatehouse_oidc::providers::google::check_hd(&merged, domain);
                if check.is_failed() {
                    return Err(SignInError::InvalidToken(OidcError::Invalid {
                        token: "ID token",
                        checks: vec![check],
                    }));
                }
            }
            let mapped = mapping::map(
                &merged,
                &rt.oidc.claim_mappings,
                rt.oidc.groups_claim.as_ref(),
            );
            if let Purpose::TrySignIn { by } = &flow.purpose {
                let roles = match &mapped {
                    Ok(m) => {
                        let now = self.shared.now();
                        let mut would_be = gatehouse_core::user::User {
                            first_name: m.first_name.clone(),
                            last_name: m.last_name.clone(),
                            tags: m.tags.clone(),
                            email_verified: Some(super::users::sign_in_verified(&rt.oidc, m)),
                            ..gatehouse_core::user::User::new(app.id, m.email.clone(), now)
                        };
                        would_be.set_groups_from(
                            gatehouse_core::user::GroupSource::Claim,
                            m.groups.as_deref().unwrap_or_default(),
                        );
                        rt.decide(&would_be).roles
                    }
                    Err(_) => Vec::new(),
                };
                let result = TryResult {
                    claims: merged,
                    mapped: mapped.map_err(|e| e.to_string()),
                    checks,
                    roles,
                    claim_sources,
                };
                let ctx = Context {
                    actor: Actor::Admin {
                        id: String::new(),
                        email: by.clone(),
                    },
                    correlation_id: correlation_id.clone(),
                };
                let audit = ctx
                    .event(Some(app.id), self.shared.now(), "sso.try_signin")
                    .target(sub.as_str())
                    .detail("mapped", result.mapped.is_ok())
                    .detail("error", result.mapped.as_ref().err().cloned())
                    .detail("claim_sources_skipped", skipped_sources.clone());
                self.shared
                    .store
                    .append_audit(&audit)
                    .await
                    .map_err(crate::ServiceError::from)?;
                return Ok(SignInDone::Tried(Box::new(result)));
            }
            let mapped = mapped.map_err(SignInError::Mapping)?;
            if !skipped_sources.is_empty() {
                // Sign-in goes on without those claims, and says so.
                let ctx = Context {
                    actor: Actor::User {
                        id: String::new(),
                        email: mapped.email.to_string(),
                    },
                    correlation_id: correlation_id.clone(),
                };
                let audit = ctx
                    .event(Some(app.id), self.shared.now(), "signin.claims_incomplete")
                    .target(sub.as_str())
                    .detail("claim_sources_skipped", skipped_sources);
                self.shared
                    .store
                    .append_audit(&audit)
                    .await
                    .map_err(crate::ServiceError::from)?;
            }
            // The identity is keyed by the token's own issuer (for Entra multi-tenant, the tenant's).
            let token_iss = claims
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or(issuer.as_str())
                .to_owned();
            let identity_issuer = IssuerUrl::parse(&token_iss, "iss").map_err(|e| {
                SignInError::InvalidToken(gatehouse_oidc::OidcError::BadResponse {
                    what: "ID token",
                    detail: e.to_string(),
                })
            })?;
            if flow.purpose == Purpose::AdminSignIn {
                return Ok(SignInDone::Admin {
                    issuer: token_iss,
                    sub,
                    mapped: Box::new(mapped),
                    rd: safe_rd(&flow.rd, "/admin/auth"),
                });
            }
            let ctx = Context {
                actor: Actor::User {
                    id: String::new(),
                    email: mapped.email.to_string(),
                },
                correlation_id,
            };
            let user = self
                .directory()
                .sign_in_user(app.id, &gatehouse_core::user::Identity::of(&identity_issuer, &sub),
                    &mapped,
                    Some(super::users::sign_in_verified(&rt.oidc, &mapped)),
                    super::users::Link::from_claims(&rt.provisioning, &merged),
                    &ctx,
                )
                .await?;
            if let Some(why) = user.deactivation() {
                return Err(SignInError::Disabled {
                    email: user.email.to_string(),
                    why,
                });
            }
            if rt.provisioning.provisioned_only && !user.provisioned {
                return Err(SignInError::NotProvisioned {
                    email: user.email.to_string(),
                });
            }
            if !rt.decide(&user).allowed() {
                return Err(SignInError::NoAccess {
                    email: user.email.to_string(),
                });
            }
            let seal = |v: &str, ctx: SealContext| self.shared.keys.seal(v.as_bytes(), ctx).ok();
            let idp = IdpSessionData {
                issuer: Some(token_iss),
                sid: claims.get("sid").and_then(Value::as_str).map(str::to_owned),
                id_token_sealed: seal(id_token, SealContext::IdToken(app.id)),
                refresh_token_sealed: tokens
                    .refresh_token
                    .as_ref()
                    .and_then(|r| seal(r.expose_secret(), SealContext::RefreshToken(app.id))),
                token_expires_at: claims
                    .get("exp")
                    .and_then(Value::as_i64)
                    .and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok()),
            };
            let ctx = Context {
                actor: Actor::User {
                    id: user.id.to_string(),
                    email: user.email.to_string(),
                },
                correlation_id: ctx.correlation_id,
            };
            let issued = self
                .sessions()
                .create(app, &user, gatehouse_core::session::SignInMethod::Oidc, client, idp, &ctx)
                .await?;
            tracing::info!(app = %app.slug, outcome = "succeeded", method = "oidc", "signed in");
            Ok(SignInDone::SignedIn {
                issued,
                rd: safe_rd(&flow.rd, app.auth_prefix.as_str()),
                email: user.email.to_string(),
                idp_time,
            })
        }
        .await;
        if let Err(e) = &result {
            self.record_failure(rt, e, client).await;
        }
        result
    }
}

/// Verify an ID token and check its claims with `rp` at `now`. Returns
/// its claims and the checks made.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn validate_id_token(
    rp: &gatehouse_oidc::RelyingParty,
    now: time::OffsetDateTime,
    rt: &AppRuntime,
    meta: &ProviderMetadata,
    id_token: &str,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> Result<(serde_json::Map<String, Value>, Vec<Check>), SignInError> {
    let (issuer, client_id) = sso_config(rt)?;
    let verified = rp
        .verify(id_token, &meta.jwks_uri, hmac(rt), "ID token")
        .await?;
    let entra = rt.oidc.extra.entra_multi_tenant;
    let rules = id_token::IdTokenRules {
        issuer: if entra { issuer.as_str() } else { &meta.issuer },
        entra_template: entra,
        client_id,
        nonce,
        access_token,
        now,
        skew: Duration::from_secs(u64::from(rt.oidc.extra.clock_skew_seconds)),
    };
    let mut checks = vec![
        Check::ok("signature"),
        gatehouse_oidc::validate::claims::alg(
            verified.alg,
            rt.oidc.extra.id_token_signed_response_alg,
        ),
    ];
    checks.extend(id_token::check(&verified.claims, verified.alg, &rules));
    if entra && !rt.oidc.extra.entra_allowed_tenants.is_empty() {
        let tid = verified
            .claims
            .get("tid")
            .and_then(Value::as_str)
            .unwrap_or("");
        checks.push(
            if rt
                .oidc
                .extra
                .entra_allowed_tenants
                .iter()
                .any(|t| t.eq_ignore_ascii_case(tid))
            {
                Check::ok("tenant")
            } else {
                Check::failed(
                    "tenant",
                    format!("the tenant {tid:?} is not one of the allowed tenants"),
                )
            },
        );
    }
    if checks.iter().any(Check::is_failed) {
        return Err(SignInError::InvalidToken(OidcError::Invalid {
            token: "ID token",
            checks,
        }));
    }
    Ok((verified.claims, checks))
}

/// The client secret as the HMAC key for HS* tokens.
pub(crate) fn hmac(rt: &AppRuntime) -> Option<&[u8]> {
    rt.client_secret
        .as_ref()
        .map(|s| s.expose_secret().as_bytes())
}
