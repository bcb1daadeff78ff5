//! Which application a request is for: a snapshot of every application with
//! its settings, indexed by host, swapped atomically when anything changes.
//! Reading it takes no lock and no database round trip.

use gatehouse_crypto::SealContext;
use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_core::access::{AccessPolicy, Decision, Grant};
use gatehouse_core::api_access::ApiAccess;
use gatehouse_core::provisioning::ProvisioningSettings;
use gatehouse_core::sso::OidcSettings;
use gatehouse_core::{AppId, Application, RequestHost};
use gatehouse_crypto::MasterKeys;
use gatehouse_crypto::signing::EcKey;
use gatehouse_store::Store;
use secrecy::SecretString;

use crate::ServiceError;

/// One application as the request path needs it.
#[derive(Debug)]
pub struct AppRuntime {
    /// The application.
    pub app: Application,
    /// Its SSO OIDC settings (default, disabled, when never saved).
    pub oidc: OidcSettings,
    /// The client secret, opened (kept in memory only, zeroized on drop).
    pub client_secret: Option<SecretString>,
    /// The application's key for `private_key_jwt`, opened.
    pub client_key: Option<Arc<EcKey>>,
    /// Its grants.
    pub grants: Vec<Grant>,
    /// Its access policy (default role, per-route rules).
    pub access: AccessPolicy,
    /// Its bearer-token rules, when it accepts bearer tokens.
    pub api: Option<ApiRuntime>,
    /// Its provisioning (SCIM) settings.
    pub provisioning: ProvisioningSettings,
    /// Changes whenever the snapshot is rebuilt (cached validations carry it).
    pub generation: u64,
}

/// The bearer-token rules of an application, ready to check with.
#[derive(Debug)]
pub struct ApiRuntime {
    /// The issuer tokens must carry.
    pub issuer: String,
    /// The audience tokens must carry.
    pub audience: String,
    /// The allowed algorithms.
    pub algorithms: Vec<gatehouse_oidc::Algorithm>,
    /// A configured PEM public key.
    pub pem: Option<Arc<gatehouse_oidc::KeySet>>,
    /// A configured JWKS URL (else the issuer's, from discovery).
    pub jwks_url: Option<String>,
    /// The issuer, for discovering its `jwks_uri` when no key source is configured.
    pub discover: Option<gatehouse_core::sso::IssuerUrl>,
}

impl ApiRuntime {
    fn build(api: &ApiAccess, oidc: &OidcSettings, slug: &str) -> Option<Self> {
        if !api.enabled {
            return None;
        }
        let sso_issuer = oidc.issuer_url.as_ref().map_or("", |i| i.as_str());
        let issuer = api.effective_issuer(sso_issuer).to_owned();
        let audience = api.effective_audience(&oidc.client_id).to_owned();
        if issuer.is_empty() || audience.is_empty() {
            tracing::error!(
                app = slug,
                "bearer tokens are enabled but no issuer or audience is known; refusing them"
            );
            return None;
        }
        let pem = match &api.public_key_pem {
            Some(pem) => match gatehouse_oidc::bearer::pem_key_set(pem) {
                Ok(set) => Some(Arc::new(set)),
                Err(why) => {
                    tracing::error!(
                        app = slug,
                        why,
                        "the stored bearer-token public key cannot be read; refusing bearer tokens"
                    );
                    return None;
                }
            },
            None => None,
        };
        let discover = match (&pem, &api.jwks_url) {
            (None, None) => match gatehouse_core::sso::IssuerUrl::parse(&issuer, "issuer") {
                Ok(i) => Some(i),
                Err(e) => {
                    tracing::error!(app = slug, error = %e, "no key source for bearer tokens; refusing them");
                    return None;
                }
            },
            _ => None,
        };
        Some(Self {
            issuer,
            audience,
            algorithms: gatehouse_oidc::bearer::algorithms(&api.algorithms),
            pem,
            jwks_url: api.jwks_url.clone(),
            discover,
        })
    }
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl AppRuntime {
    /// Whether sign-in goes to the IdP.
    pub fn sso_enabled(&self) -> bool {
        self.oidc.enabled
    }

    /// The roles of `user` in this application.
    pub fn decide(&self, user: &gatehouse_core::user::User) -> Decision {
        gatehouse_core::access::resolve(user, &self.grants, &self.access)
    }
}

/// The application setting holding the access policy.
pub const ACCESS_KEY: &str = "access";

/// The applications one host name leads to.
#[derive(Debug, Default)]
struct HostEntry {
    any_port: Option<Arc<AppRuntime>>,
    ports: Vec<(u16, Arc<AppRuntime>)>,
}

/// Every application, by id and by host.
#[derive(Debug, Default)]
pub struct Routes {
    by_id: HashMap<AppId, Arc<AppRuntime>>,
    by_host: HashMap<String, HostEntry>,
    console: Option<Arc<AppRuntime>>,
    signer: Option<Arc<crate::assertion::KeyRing>>,
}

/// The instance setting holding the console's own SSO OIDC settings.
pub const ADMIN_SSO_KEY: &str = "admin_sso";

/// The console as a pseudo-application (for its SSO sign-in): the admin
/// host, routes under `/admin/auth`.
pub fn console_app(
    host: &gatehouse_core::HostPattern,
    scheme: gatehouse_core::Scheme,
) -> Application {
    let epoch = time::OffsetDateTime::UNIX_EPOCH;
    Application {
        id: AppId::from_uuid(uuid::Uuid::nil()),
        name: "Gatehouse console".to_owned(),
        slug: gatehouse_core::Slug::console(),
        hosts: vec![host.clone()],
        upstream_url: None,
        scheme,
        auth_prefix: gatehouse_core::AuthPrefix::console(),
        created_at: epoch,
        updated_at: epoch,
    }
}

impl Routes {
    /// Load every application and its settings from the store, and the
    /// console's own SSO settings.
    pub async fn load(
        store: &dyn Store,
        keys: &MasterKeys,
        console: &Application,
        now: time::OffsetDateTime,
    ) -> Result<Self, ServiceError> {
        let mut routes = Self {
            signer: crate::assertion::load(store, keys, now).await?,
            ..Self::default()
        };
        if let Some((value, sealed)) = store.get_setting(ADMIN_SSO_KEY).await? {
            let oidc: OidcSettings = serde_json::from_value(value)
                .map_err(|e| ServiceError::Internal(format!("admin SSO settings: {e}")))?;
            let client_secret =
                sealed.and_then(|s| keys.open_secret(&s, SealContext::AdminClientSecret).ok());
            routes.console = Some(Arc::new(AppRuntime {
                app: console.clone(),
                oidc,
                client_secret,
                client_key: None,
                grants: Vec::new(),
                access: AccessPolicy::default(),
                api: None,
                provisioning: ProvisioningSettings::default(),
                generation: 0,
            }));
        }
        let mut grants: HashMap<AppId, Vec<Grant>> = HashMap::new();
        for g in store.list_all_grants().await? {
            grants.entry(g.app_id).or_default().push(g);
        }
        let mut policies: HashMap<AppId, AccessPolicy> = HashMap::new();
        for (app, v) in store.list_app_settings(ACCESS_KEY).await? {
            // Policies saved before prefixes were canonicalised are read
            // through the same validation (`//admin` becomes `/admin`); one
            // that no longer validates denies by default.
            match serde_json::from_value::<gatehouse_core::access::AccessPolicyInput>(v)
                .map_err(|e| e.to_string())
                .and_then(|p| p.validate().map_err(|e| e.to_string()))
            {
                Ok(p) => {
                    policies.insert(app, p);
                }
                Err(e) => {
                    tracing::error!(%app, error = %e, "stored access policy is invalid; denying by default")
                }
            }
        }
        let mut apis: HashMap<AppId, ApiAccess> = HashMap::new();
        for (app, v) in store.list_app_settings(crate::api_access::API_KEY).await? {
            match serde_json::from_value(v) {
                Ok(a) => {
                    apis.insert(app, a);
                }
                Err(e) => {
                    tracing::error!(%app, error = %e, "stored bearer-token settings are invalid; refusing bearer tokens")
                }
            }
        }
        let mut provisioning: HashMap<AppId, ProvisioningSettings> = HashMap::new();
        for (app, v) in store
            .list_app_settings(gatehouse_core::provisioning::SETTING_KEY)
            .await?
        {
            match serde_json::from_value(v) {
                Ok(p) => {
                    provisioning.insert(app, p);
                }
                Err(e) => {
                    // As for an unreadable access policy: refuse rather
                    // than let in someone the settings would refuse.
                    tracing::error!(%app, error = %e, "stored provisioning settings are invalid; only provisioned users may sign in");
                    provisioning.insert(
                        app,
                        ProvisioningSettings {
                            provisioned_only: true,
                            ..ProvisioningSettings::default()
                        },
                    );
                }
            }
        }
        let generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for app in store.list_apps().await? {
            let app_id = app.id;
            // Settings that cannot be read back (a damaged sealed secret,
            // say) disable SSO for this application only, as before.
            let stored = match store.get_oidc(app.id).await {
                Ok(s) => s,
                Err(gatehouse_store::StoreError::Corrupt(why)) => {
                    tracing::error!(app = %app.slug, why, "stored SSO settings cannot be read; SSO is off for this application");
                    None
                }
                Err(e) => return Err(e.into()),
            };
            let client_key = stored
                .as_ref()
                .and_then(|s| s.client_key_sealed.as_ref())
                .and_then(|sealed| match keys.open(sealed, SealContext::ClientKey(app.id)) {
                    Ok(der) => EcKey::from_pkcs8(&der).ok().map(Arc::new),
                    Err(e) => {
                        tracing::error!(app = %app.slug, error = %e, "cannot open the stored client key");
                        None
                    }
                });
            let (oidc, client_secret) = match stored {
                Some(s) => {
                    let secret = match &s.client_secret_sealed {
                        Some(sealed) => {
                            match keys.open_secret(sealed, SealContext::ClientSecret(app.id)) {
                                Ok(secret) => Some(secret),
                                Err(e) => {
                                    // The app keeps working for local sign-in; SSO will report the missing secret.
                                    tracing::error!(app = %app.slug, error = %e, "cannot open the stored client secret");
                                    None
                                }
                            }
                        }
                        None => None,
                    };
                    (s.settings, secret)
                }
                None => (OidcSettings::default(), None),
            };
            let api = apis
                .remove(&app_id)
                .and_then(|a| ApiRuntime::build(&a, &oidc, app.slug.as_str()));
            routes.insert(Arc::new(AppRuntime {
                app,
                oidc,
                client_secret,
                client_key,
                grants: grants.remove(&app_id).unwrap_or_default(),
                access: policies.remove(&app_id).unwrap_or_default(),
                api,
                provisioning: provisioning.remove(&app_id).unwrap_or_default(),
                generation,
            }));
        }
        Ok(routes)
    }

    fn insert(&mut self, rt: Arc<AppRuntime>) {
        for h in &rt.app.hosts {
            let entry = self.by_host.entry(h.host().to_owned()).or_default();
            match h.port() {
                Some(p) => entry.ports.push((p, rt.clone())),
                None => entry.any_port = Some(rt.clone()),
            }
        }
        self.by_id.insert(rt.app.id, rt);
    }

    /// The application a request for `host` is for: an entry with the
    /// request's port first, then an entry for the host on any port.
    pub fn find(&self, host: &RequestHost) -> Option<&Arc<AppRuntime>> {
        let entry = self.by_host.get(host.host())?;
        host.port()
            .and_then(|port| {
                entry
                    .ports
                    .iter()
                    .find(|(p, _)| *p == port)
                    .map(|(_, rt)| rt)
            })
            .or(entry.any_port.as_ref())
    }

    /// The console's SSO runtime, when admin SSO settings were saved.
    pub fn console(&self) -> Option<&Arc<AppRuntime>> {
        self.console.as_ref()
    }

    /// The assertion key ring.
    pub fn signer(&self) -> Option<&Arc<crate::assertion::KeyRing>> {
        self.signer.as_ref()
    }

    /// An application by id.
    pub fn get(&self, id: AppId) -> Option<&Arc<AppRuntime>> {
        self.by_id.get(&id)
    }

    /// How many applications there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Holds the current routing snapshot and replaces it when something
/// changes. Reloads may overlap (a change made here and the change feed's):
/// each takes a ticket before it reads, and a snapshot is installed only if
/// no reload that started later has installed one already, so a slow reload
/// that read the database before a change can never undo the change's own
/// reload.
pub struct Router {
    routes: arc_swap::ArcSwap<Routes>,
    /// Tickets of reloads: the last handed out, the last installed.
    ticket: std::sync::atomic::AtomicU64,
    installed: std::sync::Mutex<u64>,
}

impl Router {
    /// Load the first snapshot.
    pub(crate) async fn load(shared: &crate::Shared) -> Result<Self, ServiceError> {
        let routes = Self::read(shared).await?;
        Ok(Self {
            routes: arc_swap::ArcSwap::from_pointee(routes),
            ticket: std::sync::atomic::AtomicU64::new(0),
            installed: std::sync::Mutex::new(0),
        })
    }

    async fn read(shared: &crate::Shared) -> Result<Routes, ServiceError> {
        let console = console_app(&shared.settings.admin_host, shared.settings.admin_scheme);
        Routes::load(&*shared.store, &shared.keys, &console, shared.now()).await
    }

    /// The current snapshot (no lock, no database).
    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<Routes>> {
        self.routes.load()
    }

    /// Read the snapshot from the store again and install it (see above).
    /// Inside a unit of work nothing is read: the unit reloads once it has
    /// committed, so an uncommitted change never reaches the snapshot.
    pub(crate) async fn reload(&self, shared: &crate::Shared) -> Result<(), ServiceError> {
        if shared.in_unit {
            return Ok(());
        }
        let ticket = self
            .ticket
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let routes = Self::read(shared).await?;
        let mut installed = self
            .installed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ticket > *installed {
            *installed = ticket;
            self.routes.store(Arc::new(routes));
        }
        Ok(())
    }
}
