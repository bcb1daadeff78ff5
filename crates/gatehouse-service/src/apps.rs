//! Applications and their SSO OIDC settings.

use gatehouse_core::app::{AuthPrefix, HostPattern, Scheme, UpstreamUrl, parse_app_name};
use gatehouse_core::sso::{OidcSettings, OidcSettingsInput, SecretChange};
use gatehouse_core::validation::Collector;
use gatehouse_core::{AppId, Application, Slug};
use gatehouse_crypto::SealContext;
use gatehouse_store::{SealedSecretChange, StoreError};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Context, ServiceError};

/// A new application, as sent by the API, the console or the CLI.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    /// Display name (required).
    #[serde(default)]
    pub name: String,
    /// URL-safe short name (derived from the name when absent).
    #[serde(default)]
    pub slug: Option<String>,
    /// Host entries, e.g. `myapp.example.com` or `myapp.localhost:8080` (at least one).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Where signed-in requests go.
    #[serde(default)]
    pub upstream_url: Option<String>,
    /// `http` or `https` (default `https`; `http` when every host is `localhost` or `*.localhost`).
    #[serde(default)]
    pub scheme: Option<String>,
    /// Prefix of Gatehouse's routes (default `/auth`).
    #[serde(default)]
    pub auth_prefix: Option<String>,
}

/// A change to an application: absent fields stay as they are;
/// `"upstream_url": null` removes the upstream.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New slug.
    #[serde(default)]
    pub slug: Option<String>,
    /// New host entries (replace all).
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// New upstream (`null` removes it).
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub upstream_url: Option<Option<String>>,
    /// New scheme.
    #[serde(default)]
    pub scheme: Option<String>,
    /// New prefix.
    #[serde(default)]
    pub auth_prefix: Option<String>,
}

fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// SSO OIDC settings as shown: never the secret, only whether one is set,
/// plus the URLs to register at the IdP.
#[derive(Debug, Clone, Serialize)]
pub struct SsoView {
    /// The settings.
    #[serde(flatten)]
    pub settings: OidcSettings,
    /// Whether a client secret is stored.
    pub client_secret_set: bool,
    /// Callback URLs to register.
    pub callback_urls: Vec<String>,
    /// Logout Redirect URLs to register.
    pub logout_redirect_urls: Vec<String>,
    /// Back-Channel Logout URLs to register.
    pub backchannel_logout_urls: Vec<String>,
    /// The application's public key set for `private_key_jwt` (register it at the IdP), if it has a key.
    pub client_jwks: Option<serde_json::Value>,
    /// Where the IdP can fetch that key set, per host.
    pub client_jwks_urls: Vec<String>,
}

/// The public JWK Set of an application's client key.
pub fn client_jwks(key: &gatehouse_crypto::signing::EcKey) -> serde_json::Value {
    let (x, y) = key.public_xy();
    serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": key.kid(), "use": "sig", "alg": "ES256"}]})
}

fn is_local_host(h: &HostPattern) -> bool {
    h.host() == "localhost" || h.host().ends_with(".localhost")
}

/// Applications: their fields, hosts and SSO settings, and the SSO
/// connection test. Holds the store, the routing snapshot (reloaded after
/// each change), the caches (a deleted application's sessions end here at
/// once) and the relying party (the connection test).
pub struct Apps<'a> {
    pub(crate) shared: &'a crate::Shared,
    pub(crate) router: &'a crate::routing::Router,
    pub(crate) caches: &'a crate::cache::Caches,
    pub(crate) rp: &'a gatehouse_oidc::RelyingParty,
}

impl Apps<'_> {
    fn parse_hosts(&self, raw: &[String], c: &mut Collector) -> Vec<HostPattern> {
        if raw.is_empty() {
            c.push("hosts", "at least one host is required");
        }
        let mut hosts: Vec<HostPattern> = Vec::new();
        for (i, h) in raw.iter().enumerate() {
            let field = format!("hosts[{i}]");
            match HostPattern::parse(h) {
                Err(e) => c.push(field, e.errors.into_iter().next().map(|e| e.message).unwrap_or_default()),
                Ok(h) if hosts.contains(&h) => c.push(field, format!("\"{h}\" is listed twice")),
                Ok(h) if h.host() == self.shared.settings.admin_host.host() => c.push(
                    field,
                    format!("\"{h}\" is the admin host, which serves the console and API; pick another host"),
                ),
                Ok(h) => hosts.push(h),
            }
        }
        hosts
    }

    /// Create an application.
    #[tracing::instrument(level = "info", skip_all, err(level = "debug"))]
    pub async fn create(&self, input: NewApp, ctx: &Context) -> Result<Application, ServiceError> {
        self.create_with_id(AppId::new(), input, ctx).await
    }

    /// Check a new application's fields as [`Apps::create`] does, without
    /// storing anything: the application it would make, with id `id`.
    pub(crate) fn check_new(&self, id: AppId, input: &NewApp) -> Result<Application, ServiceError> {
        let mut c = Collector::new();
        let name = c.check(parse_app_name(&input.name));
        let slug = match input.slug.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => c.check(Slug::parse(s)),
            _ => name.as_deref().and_then(Slug::from_name).or_else(|| {
                if name.is_some() {
                    c.push("slug", "cannot be derived from the name; give one");
                }
                None
            }),
        };
        let hosts = self.parse_hosts(&input.hosts, &mut c);
        let upstream_url = match input.upstream_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => c.check(UpstreamUrl::parse(u)),
        };
        let scheme = match input.scheme.as_deref() {
            Some(s) => c.check(Scheme::parse(s)).unwrap_or_default(),
            None if !hosts.is_empty() && hosts.iter().all(is_local_host) => Scheme::Http,
            None => Scheme::Https,
        };
        let auth_prefix = match input.auth_prefix.as_deref() {
            Some(p) => c.check(AuthPrefix::parse(p)).unwrap_or_default(),
            None => AuthPrefix::default(),
        };
        c.finish()?;
        let (Some(name), Some(slug)) = (name, slug) else {
            return Err(ServiceError::Internal(
                "validated input without name".into(),
            ));
        };
        let now = self.shared.now();
        Ok(Application {
            id,
            name,
            slug,
            hosts,
            upstream_url,
            scheme,
            auth_prefix,
            created_at: now,
            updated_at: now,
        })
    }

    /// Create an application with a given id (applications as code pin ids).
    pub(crate) async fn create_with_id(
        &self,
        id: AppId,
        input: NewApp,
        ctx: &Context,
    ) -> Result<Application, ServiceError> {
        let app = self.check_new(id, &input)?;
        let now = app.created_at;
        let audit = ctx
            .event(Some(app.id), now, "app.created")
            .target(app.slug.as_str())
            .detail("name", app.name.as_str())
            .detail(
                "hosts",
                app.hosts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .detail(
                "upstream_url",
                app.upstream_url.as_ref().map(|u| u.as_str().to_owned()),
            );
        self.shared
            .store
            .create_app(&app, &audit)
            .await
            .map_err(conflict)?;
        self.router.reload(self.shared).await?;
        tracing::info!(app = %app.slug, id = %app.id, "application created");
        Ok(app)
    }

    /// One application (from the store: the authoritative copy).
    pub async fn get(&self, id: AppId) -> Result<Application, ServiceError> {
        self.shared
            .store
            .get_app(id)
            .await?
            .ok_or(ServiceError::NotFound("application"))
    }

    /// One application by slug.
    pub async fn by_slug(&self, slug: &str) -> Result<Application, ServiceError> {
        let slug = Slug::parse(slug).map_err(|_| ServiceError::NotFound("application"))?;
        self.shared
            .store
            .get_app_by_slug(&slug)
            .await?
            .ok_or(ServiceError::NotFound("application"))
    }

    /// All applications.
    pub async fn list(&self) -> Result<Vec<Application>, ServiceError> {
        Ok(self.shared.store.list_apps().await?)
    }

    /// Change an application.
    #[tracing::instrument(level = "info", skip_all, fields(app = %id), err(level = "debug"))]
    pub async fn update(
        &self,
        id: AppId,
        patch: AppPatch,
        ctx: &Context,
    ) -> Result<Application, ServiceError> {
        let mut app = self.shared.app(id).await?;
        let mut c = Collector::new();
        let mut changed: Vec<&str> = Vec::new();
        if let Some(name) = &patch.name
            && let Some(n) = c.check(parse_app_name(name))
        {
            app.name = n;
            changed.push("name");
        }
        if let Some(slug) = &patch.slug
            && let Some(s) = c.check(Slug::parse(slug.trim()))
        {
            app.slug = s;
            changed.push("slug");
        }
        if let Some(hosts) = &patch.hosts {
            app.hosts = self.parse_hosts(hosts, &mut c);
            changed.push("hosts");
        }
        if let Some(upstream) = &patch.upstream_url {
            app.upstream_url = match upstream.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(u) => c.check(UpstreamUrl::parse(u)),
            };
            changed.push("upstream_url");
        }
        if let Some(s) = &patch.scheme
            && let Some(s) = c.check(Scheme::parse(s))
        {
            app.scheme = s;
            changed.push("scheme");
        }
        if let Some(p) = &patch.auth_prefix
            && let Some(p) = c.check(AuthPrefix::parse(p))
        {
            app.auth_prefix = p;
            changed.push("auth_prefix");
        }
        c.finish()?;
        let now = self.shared.now();
        app.updated_at = now;
        let audit = ctx
            .event(Some(id), now, "app.updated")
            .target(app.slug.as_str())
            .detail("changed", changed);
        self.shared
            .store
            .update_app(&app, &audit)
            .await
            .map_err(conflict)?;
        self.router.reload(self.shared).await?;
        Ok(app)
    }

    /// Delete an application with its users, sessions and settings.
    #[tracing::instrument(level = "info", skip_all, fields(app = %id), err(level = "debug"))]
    pub async fn delete(&self, id: AppId, ctx: &Context) -> Result<(), ServiceError> {
        let app = self.shared.app(id).await?;
        let now = self.shared.now();
        let audit = ctx
            .event(Some(id), now, "app.deleted")
            .target(app.slug.as_str())
            .detail("name", app.name.as_str());
        let ended = self.shared.store.delete_app(id, &audit).await?;
        self.router.reload(self.shared).await?;
        self.caches.forget_sessions(&ended, now);
        Ok(())
    }

    /// The SSO OIDC settings of an application.
    pub async fn sso(&self, id: AppId) -> Result<SsoView, ServiceError> {
        let app = self.shared.app(id).await?;
        let stored = self.shared.store.get_oidc(id).await?;
        let (settings, secret_set) = match stored {
            Some(s) => (s.settings, s.client_secret_sealed.is_some()),
            None => (OidcSettings::default(), false),
        };
        let key = self
            .router
            .current()
            .get(id)
            .and_then(|rt| rt.client_key.clone());
        Ok(SsoView {
            settings,
            client_secret_set: secret_set,
            callback_urls: app.callback_urls(),
            logout_redirect_urls: app.logout_redirect_urls(),
            backchannel_logout_urls: app.backchannel_logout_urls(),
            client_jwks: key.as_deref().map(client_jwks),
            client_jwks_urls: if key.is_some() {
                app.urls_for("jwks.json")
            } else {
                Vec::new()
            },
        })
    }

    /// Validate and save the SSO OIDC settings of an application. The client
    /// secret is sealed under the master key before it reaches the store.
    #[tracing::instrument(level = "info", skip_all, fields(app = %id), err(level = "debug"))]
    pub async fn put_sso(
        &self,
        id: AppId,
        input: OidcSettingsInput,
        ctx: &Context,
    ) -> Result<SsoView, ServiceError> {
        let app = self.shared.app(id).await?;
        let stored = self.shared.store.get_oidc(id).await?;
        let secret_stored = stored
            .as_ref()
            .is_some_and(|s| s.client_secret_sealed.is_some());
        let (settings, secret) = input.validate(secret_stored)?;
        let (sealed, secret_note) = match secret {
            SecretChange::Keep => (SealedSecretChange::Keep, "unchanged"),
            SecretChange::Remove => (SealedSecretChange::Remove, "removed"),
            SecretChange::Set(s) => (
                SealedSecretChange::Set(
                    self.shared
                        .keys
                        .seal_secret(&s, SealContext::ClientSecret(id))?,
                ),
                "replaced",
            ),
        };
        let now = self.shared.now();
        let audit = ctx
            .event(Some(id), now, "sso.updated")
            .target(app.slug.as_str())
            .detail("enabled", settings.enabled)
            .detail(
                "issuer_url",
                settings.issuer_url.as_ref().map(|i| i.as_str().to_owned()),
            )
            .detail("client_id", settings.client_id.as_str())
            .detail("client_secret", secret_note)
            .detail("scopes", settings.scopes.as_str());
        self.shared
            .store
            .put_oidc(id, &settings, sealed, now, &audit)
            .await?;
        let has_key = stored
            .as_ref()
            .is_some_and(|s| s.client_key_sealed.is_some());
        if settings.token_endpoint_auth_method
            == gatehouse_core::sso::ClientAuthMethod::PrivateKeyJwt
            && !has_key
        {
            let key = gatehouse_crypto::signing::EcKey::generate()
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            let sealed = self
                .shared
                .keys
                .seal(key.pkcs8(), SealContext::ClientKey(id))?;
            let audit = ctx
                .event(Some(id), now, "sso.client_key_created")
                .target(app.slug.as_str())
                .detail("kid", key.kid());
            self.shared
                .store
                .set_client_key(id, &sealed, &audit)
                .await?;
        }
        for issuer in [
            stored.as_ref().and_then(|s| s.settings.issuer_url.as_ref()),
            settings.issuer_url.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            self.rp.forget(issuer.as_str());
        }
        self.router.reload(self.shared).await?;
        tracing::info!(app = %app.slug, enabled = settings.enabled, "SSO OIDC settings saved");
        self.sso(id).await
    }
}

/// A conflict from the store, in words for the field.
fn conflict(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict { field: "slug" } => ServiceError::Conflict {
            field: "slug",
            message: "another application already has this slug".into(),
        },
        StoreError::Conflict { field: "hosts" } => ServiceError::Conflict {
            field: "hosts",
            message: "one of these hosts already belongs to another application".into(),
        },
        other => other.into(),
    }
}
