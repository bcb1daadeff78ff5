//! The console's own sign-in through SSO OIDC. Administrators are found by
//! their IdP identity, or linked by e-mail when the IdP verified it; nobody
//! else gets in. The local password of an administrator stays as the
//! break-glass way in (when the IdP is down or misconfigured).

use gatehouse_core::Actor;
use gatehouse_core::claims::MappedIdentity;
use gatehouse_core::sso::{OidcSettings, OidcSettingsInput, SecretChange};
use gatehouse_crypto::SealContext;
use gatehouse_store::AdminRecord;

use crate::admin::Admin;
use crate::apps::SsoView;
use crate::console::AdminView;
use crate::routing::{ADMIN_SSO_KEY, console_app};
use crate::sessions::{ClientInfo, IssuedSession};
use crate::{Context, ServiceError};

impl Admin<'_> {
    /// The console's SSO OIDC settings, with the URLs to register at the IdP
    /// as the console is reached at `public_host` (the request's host).
    pub async fn sso(
        &self,
        public_host: &gatehouse_core::HostPattern,
    ) -> Result<SsoView, ServiceError> {
        let app = console_app(public_host, self.shared.settings.admin_scheme);
        let stored = self.shared.store.get_setting(ADMIN_SSO_KEY).await?;
        let (settings, secret_set) = match stored {
            Some((v, sealed)) => (
                serde_json::from_value(v).map_err(|e| ServiceError::Internal(e.to_string()))?,
                sealed.is_some(),
            ),
            None => (OidcSettings::default(), false),
        };
        Ok(SsoView {
            settings,
            client_secret_set: secret_set,
            callback_urls: app.callback_urls(),
            logout_redirect_urls: vec![format!("{}://{public_host}/admin/login", app.scheme)],
            backchannel_logout_urls: Vec::new(),
            client_jwks: None,
            client_jwks_urls: Vec::new(),
        })
    }

    /// Save the console's SSO OIDC settings (`private_key_jwt` is not offered for the console).
    pub async fn put_sso(
        &self,
        input: OidcSettingsInput,
        public_host: &gatehouse_core::HostPattern,
        ctx: &Context,
    ) -> Result<SsoView, ServiceError> {
        let stored = self.shared.store.get_setting(ADMIN_SSO_KEY).await?;
        let secret_stored = stored.as_ref().is_some_and(|(_, s)| s.is_some());
        let (settings, secret) = input.validate(secret_stored)?;
        if settings.token_endpoint_auth_method
            == gatehouse_core::sso::ClientAuthMethod::PrivateKeyJwt
        {
            return Err(gatehouse_core::Invalid::field(
                "token_endpoint_auth_method",
                "the console signs in with client_secret_basic or client_secret_post",
            )
            .into());
        }
        let (sealed, note): (Option<Option<gatehouse_core::Sealed>>, &str) = match secret {
            SecretChange::Keep => (None, "unchanged"),
            SecretChange::Remove => (Some(None), "removed"),
            SecretChange::Set(s) => (
                Some(Some(
                    self.shared
                        .keys
                        .seal_secret(&s, SealContext::AdminClientSecret)?,
                )),
                "replaced",
            ),
        };
        let now = self.shared.now();
        let value =
            serde_json::to_value(&settings).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let audit = ctx
            .event(None, now, "admin.sso_updated")
            .detail("enabled", settings.enabled)
            .detail(
                "issuer_url",
                settings.issuer_url.as_ref().map(|i| i.as_str().to_owned()),
            )
            .detail("client_id", settings.client_id.as_str())
            .detail("client_secret", note);
        self.shared
            .store
            .put_setting(
                ADMIN_SSO_KEY,
                &value,
                sealed.as_ref().map(Option::as_ref),
                now,
                &audit,
            )
            .await?;
        if let Some(i) = &settings.issuer_url {
            self.rp.forget(i.as_str());
        }
        self.router.reload(self.shared).await?;
        self.sso(public_host).await
    }

    /// The administrator an IdP sign-in is for: by identity, or by an e-mail
    /// the IdP verified (then the identity is linked). Others are refused.
    pub async fn sso_sign_in(
        &self,
        issuer: &str,
        sub: &str,
        mapped: &MappedIdentity,
        client: &ClientInfo,
    ) -> Result<(AdminView, IssuedSession), ServiceError> {
        let now = self.shared.now();
        let refuse = |reason: &str| {
            crate::console::admin_signin_failed(now, client, mapped.email.as_str(), reason)
                .detail("method", "oidc")
        };
        let admin: AdminRecord = match self
            .shared
            .store
            .find_admin_by_identity(issuer, sub)
            .await?
        {
            Some(a) => a,
            None => {
                let by_email = self
                    .shared
                    .store
                    .find_admin_by_email(&mapped.email.normalized())
                    .await?;
                match by_email {
                    Some(a)
                        if mapped.email_verified == Some(true)
                            || self
                                .router
                                .current()
                                .console()
                                .is_some_and(|rt| rt.oidc.trust_email) =>
                    {
                        let ctx = Context {
                            actor: Actor::Admin {
                                id: a.id.to_string(),
                                email: a.email.clone(),
                            },
                            correlation_id: client.correlation_id.clone(),
                        };
                        let audit = ctx
                            .event(None, now, "admin.identity_linked")
                            .target(a.email.as_str())
                            .detail("issuer", issuer);
                        self.shared
                            .store
                            .link_admin_identity(a.id, issuer, sub, &audit)
                            .await?;
                        a
                    }
                    Some(_) => {
                        self.shared
                            .store
                            .append_audit(&refuse("email_not_verified"))
                            .await?;
                        return Err(ServiceError::Unauthorized);
                    }
                    None => {
                        self.shared
                            .store
                            .append_audit(&refuse("not_an_admin"))
                            .await?;
                        return Err(ServiceError::Unauthorized);
                    }
                }
            }
        };
        if !admin.active {
            self.shared.store.append_audit(&refuse("disabled")).await?;
            return Err(ServiceError::Unauthorized);
        }
        self.create_session(&admin, gatehouse_core::session::SignInMethod::Oidc, client)
            .await
    }
}
