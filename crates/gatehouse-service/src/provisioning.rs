//! Provisioning (SCIM 2.0): each application is a SCIM service provider
//! for its own directory. Identity providers (Okta, Entra ID, OneLogin,
//! JumpCloud) push users and groups with a SCIM token of the application;
//! the use cases here read and change the directory as they ask, through
//! the SCIM protocol layer (`gatehouse-scim`: filters, PATCH, pages,
//! resources) and the store's provisioning calls, which touch only what
//! provisioning owns (SCIM's columns, its tags, its memberships).
//!
//! Deprovisioning (`active: false`, DELETE) ends the user's sessions in the
//! same transaction; the change feed carries it to every node, whose caches
//! (sessions, users, bearer tokens, assertions) drop the user at once. A
//! DELETE leaves a tombstone, so the next sign-in is refused rather than
//! re-creating the user. An administrator's disable (`status`) is kept
//! apart from SCIM's `active` and wins.
//!
//! Also here: the application's SCIM tokens (shown once, stored hashed,
//! with a prefix of their own) and its provisioning settings.

use std::num::NonZeroU32;
use std::time::Duration;

use gatehouse_core::group::{Group, GroupMember};
use gatehouse_core::provisioning::{
    AttributeTag, GroupsClaimValues, ProvisioningSettings, SETTING_KEY,
};
use gatehouse_core::user::{GroupSource, Tag, TagKey, TagSource, User};
use gatehouse_core::{Actor, AppId, GroupId, ScimTokenId, UserId};
use gatehouse_crypto::token;
use gatehouse_scim::resource::{self, AttrRef, GroupFields, TagMapping, UserFields};
use gatehouse_scim::schema::{GROUP, USER};
use gatehouse_scim::{Page, PatchRequest, Projection, ScimError, ScimFilter, ScimType};
use gatehouse_store::{MemberChange, ScimTokenRecord, StoreError};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::{Context, ServiceError};

/// The prefix of SCIM tokens: never mistaken for an admin token (`gha_`),
/// and recognisable in secret scanners.
pub const SCIM_TOKEN_PREFIX: &str = "ghscim_";

/// The most SCIM requests a token may make per second, and in a burst
/// (Entra ID sends its changes in bursts).
pub const SCIM_REQUESTS_PER_SECOND: u32 = 50;
/// See [`SCIM_REQUESTS_PER_SECOND`].
pub const SCIM_BURST: u32 = 500;

/// Why a SCIM request failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    /// The request is wrong in a way SCIM names (`invalidFilter`, 404, 409 ...).
    #[error("{0}")]
    Scim(#[from] ScimError),
    /// No SCIM token, or one that is unknown, revoked or of another application.
    #[error("the SCIM token is missing, unknown, revoked or not this application's")]
    Unauthorized,
    /// The resource kept changing under this request (other writes of it
    /// came first, more times than a request retries).
    #[error("the resource changed while this request was applied; retry")]
    Stale,
    /// The token made too many requests.
    #[error("too many SCIM requests; retry in {retry_after:?}")]
    RateLimited {
        /// When to retry.
        retry_after: Duration,
    },
    /// Storage or another internal failure.
    #[error("{0}")]
    Service(#[from] ServiceError),
}

impl From<StoreError> for ProvisioningError {
    fn from(e: StoreError) -> Self {
        Self::Service(e.into())
    }
}

impl ProvisioningError {
    /// The stable reason, for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Scim(e) => match e.scim_type {
                Some(t) => t.as_str(),
                None if e.status == 404 => "not_found",
                None => "scim_error",
            },
            Self::Unauthorized => "unauthorized",
            Self::RateLimited { .. } => "rate_limited",
            Self::Stale => "stale",
            Self::Service(s) => s.reason(),
        }
    }
}

fn not_found(what: &str, id: &str) -> ProvisioningError {
    ScimError {
        status: 404,
        scim_type: None,
        detail: format!("no {what} with id {id:?}"),
    }
    .into()
}

fn uniqueness(detail: impl Into<String>) -> ProvisioningError {
    ScimError {
        status: 409,
        scim_type: Some(ScimType::Uniqueness),
        detail: detail.into(),
    }
    .into()
}

fn invalid_value(detail: impl Into<String>) -> ProvisioningError {
    ScimError::bad_request(ScimType::InvalidValue, detail).into()
}

/// A store conflict as SCIM's `uniqueness`, naming the attribute.
fn conflict(e: StoreError) -> ProvisioningError {
    match e {
        StoreError::Conflict { field: "user_name" } => {
            uniqueness("another user of this application has this userName")
        }
        StoreError::Conflict { field: "email" } => {
            uniqueness("another user of this application has this e-mail address")
        }
        StoreError::Conflict {
            field: "display_name",
        } => uniqueness("another group of this application has this displayName"),
        StoreError::Conflict { field: "version" } => ProvisioningError::Stale,
        StoreError::NotFound => not_found("resource", "(gone meanwhile)"),
        other => other.into(),
    }
}

/// Who is provisioning: the SCIM token's application, id and name.
#[derive(Debug, Clone)]
pub struct ScimCaller {
    /// The application the token serves.
    pub app: AppId,
    /// The token's id.
    pub token_id: ScimTokenId,
    /// The token's name.
    pub token_name: String,
    /// The request's correlation id.
    pub correlation_id: Option<String>,
}

impl ScimCaller {
    fn ctx(&self) -> Context {
        Context {
            actor: Actor::ScimToken {
                id: self.token_id.to_string(),
                name: self.token_name.clone(),
            },
            correlation_id: self.correlation_id.clone(),
        }
    }
}

/// The query of a list (GET) or a search (`POST /.search`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// `filter`.
    pub filter: Option<String>,
    /// `startIndex` (1-based).
    #[serde(default, deserialize_with = "text_or_number")]
    pub start_index: Option<String>,
    /// `count`.
    #[serde(default, deserialize_with = "text_or_number")]
    pub count: Option<String>,
    /// `attributes` (comma-separated, or a list in a search body).
    #[serde(default, deserialize_with = "names")]
    pub attributes: Option<String>,
    /// `excludedAttributes`.
    #[serde(default, deserialize_with = "names")]
    pub excluded_attributes: Option<String>,
}

impl ListQuery {
    /// The filter (checked against `schema`), the page and the projection.
    fn read(
        &self,
        schema: gatehouse_scim::schema::ResourceSchema,
    ) -> Result<(Option<ScimFilter>, Page, Projection), ScimError> {
        let filter = self
            .filter
            .as_deref()
            .map(|f| ScimFilter::parse(f, schema))
            .transpose()?;
        let page = Page::parse(self.start_index.as_deref(), self.count.as_deref())?;
        let projection = Projection::parse(
            self.attributes.as_deref(),
            self.excluded_attributes.as_deref(),
            &schema,
        );
        Ok((filter, page, projection))
    }
}

fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    })
}

fn names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    })
}

/// The per-token rate limits of SCIM requests (bounded: only tokens that
/// exist get a bucket).
pub(crate) struct ScimLimiter {
    per_token: DefaultKeyedRateLimiter<ScimTokenId>,
}

impl Default for ScimLimiter {
    fn default() -> Self {
        let quota =
            Quota::per_second(NonZeroU32::new(SCIM_REQUESTS_PER_SECOND).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(SCIM_BURST).unwrap_or(NonZeroU32::MIN));
        Self {
            per_token: RateLimiter::keyed(quota),
        }
    }
}

/// An application's provisioning settings as an administrator sends them.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProvisioningInput {
    /// SCIM attributes mapped to tags (replaces them).
    #[serde(default)]
    pub attribute_tags: Option<Vec<AttributeTagInput>>,
    /// `names` (default) or `ids` (Entra ID: the groups claim carries the
    /// groups' object ids, the SCIM groups' `externalId`).
    #[serde(default)]
    pub groups_claim_values: Option<GroupsClaimValues>,
    /// The sign-in claim that equals a provisioned user's `externalId`
    /// (`sub`; `oid` for Entra ID).
    #[serde(default)]
    pub link_claim: Option<String>,
    /// Refuse sign-in to users provisioning has not made or adopted.
    #[serde(default)]
    pub provisioned_only: Option<bool>,
}

/// One attribute-to-tag mapping as sent.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AttributeTagInput {
    /// The SCIM attribute (`department`, `title`, URN-qualified names).
    pub attribute: String,
    /// The tag key.
    pub tag: String,
}

/// `settings` with the fields `input` sends changed (absent fields stay),
/// every field at fault named.
pub(crate) fn merge_settings(
    mut settings: ProvisioningSettings,
    input: &ProvisioningInput,
) -> Result<ProvisioningSettings, gatehouse_core::Invalid> {
    let mut c = gatehouse_core::validation::Collector::new();
    if let Some(maps) = &input.attribute_tags {
        let mut out: Vec<AttributeTag> = Vec::new();
        for (i, m) in maps.iter().enumerate() {
            let attribute = match AttrRef::parse(&m.attribute) {
                Ok(a) => Some(a.canonical()),
                Err(why) => {
                    c.push(format!("attribute_tags[{i}].attribute"), why);
                    None
                }
            };
            let tag = c.check(TagKey::parse(
                m.tag.trim(),
                &format!("attribute_tags[{i}].tag"),
            ));
            if let (Some(attribute), Some(tag)) = (attribute, tag) {
                if out.iter().any(|o| o.attribute == attribute) {
                    c.push(format!("attribute_tags[{i}].attribute"), "is mapped twice");
                } else {
                    out.push(AttributeTag { attribute, tag });
                }
            }
        }
        if out.len() > 50 {
            c.push("attribute_tags", "at most 50 mappings");
        }
        settings.attribute_tags = out;
    }
    if let Some(v) = input.groups_claim_values {
        settings.groups_claim_values = v;
    }
    if let Some(claim) = &input.link_claim
        && let Some(path) = c.check(gatehouse_core::claims::ClaimPath::parse(
            claim,
            "link_claim",
        ))
    {
        settings.link_claim = path;
    }
    if let Some(p) = input.provisioned_only {
        settings.provisioned_only = p;
    }
    c.finish()?;
    Ok(settings)
}

/// The mappings of `settings` the protocol layer reads with (a stored
/// mapping that no longer parses is left out, and logged).
fn mappings(settings: &ProvisioningSettings) -> Vec<TagMapping> {
    settings
        .attribute_tags
        .iter()
        .filter_map(|m| match AttrRef::parse(&m.attribute) {
            Ok(attribute) => Some(TagMapping {
                attribute,
                tag: m.tag.clone(),
            }),
            Err(why) => {
                tracing::warn!(attribute = %m.attribute, why, "a stored SCIM attribute mapping cannot be read; skipped");
                None
            }
        })
        .collect()
}

/// SCIM's tags of a user: `fields.tags` as tags from SCIM, plus the user's
/// tags from other sources.
fn with_scim_tags(user: &mut User, fields: &UserFields) {
    user.tags.retain(|t| t.source != TagSource::Scim);
    user.tags.extend(fields.tags.iter().map(|(k, v)| Tag {
        key: k.clone(),
        value: v.clone(),
        source: TagSource::Scim,
    }));
    user.tags.sort();
    user.tags.dedup();
}

/// The ids and names of the groups `user` is a member of.
fn groups_of(user: &User, groups: &[(GroupId, String)]) -> Vec<(GroupId, String)> {
    user.group_names()
        .into_iter()
        .filter_map(|name| groups.iter().find(|(_, n)| n == name).cloned())
        .collect()
}

/// Provisioning: SCIM requests, SCIM tokens and provisioning settings.
/// Holds the store, the routing snapshot (settings live in it), the caches
/// (a deprovisioned user is dropped at once) and the per-token limiter.
pub struct Provisioning<'a> {
    pub(crate) shared: &'a crate::Shared,
    pub(crate) router: &'a crate::routing::Router,
    pub(crate) caches: &'a crate::cache::Caches,
    pub(crate) limiter: &'a ScimLimiter,
}

impl Provisioning<'_> {
    /// The current time to the millisecond, as the store keeps it (so the
    /// `meta` of an answer equals that of a later GET).
    fn now(&self) -> time::OffsetDateTime {
        let t = self.shared.now();
        t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(t)
    }

    // ---- settings ----------------------------------------------------------

    /// The provisioning settings of an application.
    pub async fn settings(&self, app: AppId) -> Result<ProvisioningSettings, ServiceError> {
        self.shared.app(app).await?;
        match self.shared.store.get_app_setting(app, SETTING_KEY).await? {
            Some(v) => serde_json::from_value(v).map_err(|e| ServiceError::Internal(e.to_string())),
            None => Ok(ProvisioningSettings::default()),
        }
    }

    /// Change the provisioning settings of an application (absent fields stay).
    #[tracing::instrument(level = "info", skip_all, fields(app = %app), err(level = "debug"))]
    pub async fn put_settings(
        &self,
        app: AppId,
        input: ProvisioningInput,
        ctx: &Context,
    ) -> Result<ProvisioningSettings, ServiceError> {
        let application = self.shared.app(app).await?;
        let settings = merge_settings(self.settings(app).await?, &input)?;
        let now = self.now();
        let value =
            serde_json::to_value(&settings).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let audit = ctx
            .event(Some(app), now, "provisioning.updated")
            .target(application.slug.as_str())
            .detail(
                "attribute_tags",
                settings
                    .attribute_tags
                    .iter()
                    .map(|m| format!("{} -> {}", m.attribute, m.tag))
                    .collect::<Vec<_>>(),
            )
            .detail(
                "groups_claim_values",
                match settings.groups_claim_values {
                    GroupsClaimValues::Names => "names",
                    GroupsClaimValues::Ids => "ids",
                },
            )
            .detail("link_claim", settings.link_claim.as_str())
            .detail("provisioned_only", settings.provisioned_only);
        self.shared
            .store
            .put_app_setting(app, SETTING_KEY, &value, now, &audit)
            .await?;
        self.router.reload(self.shared).await?;
        Ok(settings)
    }

    // ---- tokens ------------------------------------------------------------

    /// Create a SCIM token for an application. The token is returned once
    /// and never stored.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app), err(level = "debug"))]
    pub async fn create_token(
        &self,
        app: AppId,
        name: &str,
        ctx: &Context,
    ) -> Result<(ScimTokenRecord, SecretString), ServiceError> {
        let application = self.shared.app(app).await?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(gatehouse_core::Invalid::field(
                "name",
                "must be 1 to 100 characters without control characters",
            )
            .into());
        }
        let secret = SecretString::from(format!(
            "{SCIM_TOKEN_PREFIX}{}",
            token::random_token(32).expose_secret()
        ));
        let now = self.now();
        let record = ScimTokenRecord {
            id: ScimTokenId::new(),
            app_id: app,
            name: name.to_owned(),
            token_hash: token::lookup_hash(secret.expose_secret()),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        let audit = ctx
            .event(Some(app), now, "scim_token.created")
            .target(application.slug.as_str())
            .detail("token_id", record.id.to_string())
            .detail("name", record.name.as_str());
        self.shared.store.create_scim_token(&record, &audit).await?;
        Ok((record, secret))
    }

    /// The SCIM tokens of an application (never the tokens themselves).
    pub async fn tokens(&self, app: AppId) -> Result<Vec<ScimTokenRecord>, ServiceError> {
        self.shared.app(app).await?;
        Ok(self.shared.store.list_scim_tokens(app).await?)
    }

    /// Revoke a SCIM token: it is refused from the next request on, on every node.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app, token = %id), err(level = "debug"))]
    pub async fn revoke_token(
        &self,
        app: AppId,
        id: ScimTokenId,
        ctx: &Context,
    ) -> Result<(), ServiceError> {
        let application = self.shared.app(app).await?;
        let now = self.now();
        let audit = ctx
            .event(Some(app), now, "scim_token.revoked")
            .target(application.slug.as_str())
            .detail("token_id", id.to_string());
        self.shared
            .store
            .revoke_scim_token(app, id, now, &audit)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ServiceError::NotFound("SCIM token"),
                other => other.into(),
            })
    }

    /// The caller a bearer token of a SCIM request to application `app` is:
    /// the token must have the SCIM prefix, exist, not be revoked and serve
    /// `app` (a token of another application is refused like an unknown
    /// one). Each token is rate-limited.
    pub async fn authenticate(
        &self,
        app: AppId,
        bearer: Option<&str>,
        correlation_id: Option<String>,
    ) -> Result<ScimCaller, ProvisioningError> {
        let Some(raw) = bearer.filter(|t| t.starts_with(SCIM_TOKEN_PREFIX) && t.len() <= 256)
        else {
            return Err(ProvisioningError::Unauthorized);
        };
        // The lookup is by SHA-256 of the token: no comparison of secrets.
        let hash = token::lookup_hash(raw);
        let Some(record) = self.shared.store.find_scim_token(&hash).await? else {
            return Err(ProvisioningError::Unauthorized);
        };
        if record.app_id != app {
            return Err(ProvisioningError::Unauthorized);
        }
        let now = DefaultClock::default().now();
        if let Err(not_until) = self.limiter.per_token.check_key(&record.id) {
            return Err(ProvisioningError::RateLimited {
                retry_after: not_until.wait_time_from(now).max(Duration::from_secs(1)),
            });
        }
        let at = self.shared.now();
        if record
            .last_used_at
            .is_none_or(|t| at - t > time::Duration::minutes(1))
            && let Err(e) = self.shared.store.touch_scim_token(record.id, at).await
        {
            tracing::debug!(error = %e, "could not note the SCIM token's use");
        }
        Ok(ScimCaller {
            app,
            token_id: record.id,
            token_name: record.name,
            correlation_id,
        })
    }

    fn runtime_settings(&self, app: AppId) -> ProvisioningSettings {
        self.router
            .current()
            .get(app)
            .map(|rt| rt.provisioning.clone())
            .unwrap_or_default()
    }

    // ---- users -------------------------------------------------------------

    /// A live (not tombstoned) user of the caller's application.
    async fn live_user(&self, app: AppId, id: &str) -> Result<User, ProvisioningError> {
        let Ok(uid) = id.parse::<UserId>() else {
            return Err(not_found("user", id));
        };
        match self.shared.store.get_user(app, uid).await? {
            Some(u) if u.deprovisioned_at.is_none() => Ok(u),
            _ => Err(not_found("user", id)),
        }
    }

    /// Users as SCIM resources, with the application's attribute mappings
    /// and the ids of their (provisioned) groups, read once for all of them.
    async fn render_users(
        &self,
        app: AppId,
        base: &str,
        users: &[User],
    ) -> Result<Vec<Value>, ProvisioningError> {
        let maps = mappings(&self.runtime_settings(app));
        let mut names: Vec<String> = users
            .iter()
            .flat_map(|u| u.groups.iter().map(|m| m.name.clone()))
            .collect();
        names.sort_unstable();
        names.dedup();
        let groups = self.shared.store.group_ids_by_name(app, &names).await?;
        Ok(users
            .iter()
            .map(|u| resource::render_user(u, base, &maps, &groups_of(u, &groups)))
            .collect())
    }

    /// List or search users (`GET /Users`, `POST /Users/.search`).
    pub async fn list_users(
        &self,
        caller: &ScimCaller,
        base: &str,
        q: &ListQuery,
    ) -> Result<Value, ProvisioningError> {
        let (filter, page, projection) = q.read(USER)?;
        if filter.is_none() {
            // Unfiltered: one page from the store, and the count.
            let (users, total) = self
                .shared
                .store
                .scim_users_page(caller.app, page.offset() as u64, page.count as u64)
                .await?;
            let mut resources = self.render_users(caller.app, base, &users).await?;
            for r in &mut resources {
                projection.apply(r);
            }
            return Ok(gatehouse_scim::list_response(
                usize::try_from(total).unwrap_or(usize::MAX),
                page,
                resources,
            ));
        }
        let matching = self.matching_users(caller, base, filter.as_ref()).await?;
        Ok(page_of(matching, page, &projection))
    }

    /// Search users and groups together (`POST /.search` at the root):
    /// users first, then groups, paged as one list.
    pub async fn search_all(
        &self,
        caller: &ScimCaller,
        base: &str,
        q: &ListQuery,
    ) -> Result<Value, ProvisioningError> {
        let page = Page::parse(q.start_index.as_deref(), q.count.as_deref())?;
        let raw = q.filter.as_deref();
        let users = raw.map(|f| ScimFilter::parse(f, USER)).transpose()?;
        let groups = raw.map(|f| ScimFilter::parse(f, GROUP)).transpose()?;
        let mut matching = self.matching_users(caller, base, users.as_ref()).await?;
        matching.extend(self.matching_groups(caller, base, groups.as_ref()).await?);
        // The projection's names are read against each resource's schema.
        let projection = |schema| {
            Projection::parse(
                q.attributes.as_deref(),
                q.excluded_attributes.as_deref(),
                schema,
            )
        };
        let (of_users, of_groups) = (projection(&USER), projection(&GROUP));
        let total = matching.len();
        let resources: Vec<Value> = matching
            .into_iter()
            .skip(page.offset())
            .take(page.count)
            .map(|mut r| {
                if r.pointer("/meta/resourceType") == Some(&Value::from("Group")) {
                    of_groups.apply(&mut r);
                } else {
                    of_users.apply(&mut r);
                }
                r
            })
            .collect();
        Ok(gatehouse_scim::list_response(total, page, resources))
    }

    /// Every user matching `filter`, rendered (not paged, not projected).
    async fn matching_users(
        &self,
        caller: &ScimCaller,
        base: &str,
        filter: Option<&ScimFilter>,
    ) -> Result<Vec<Value>, ProvisioningError> {
        let app = caller.app;
        let store = &*self.shared.store;
        let live = |u: &User| u.deprovisioned_at.is_none();
        let users: Vec<User> = match filter.and_then(ScimFilter::equality) {
            Some(("userName", v)) => store
                .find_user_by_user_name(app, &v.to_lowercase())
                .await?
                .into_iter()
                .filter(live)
                .collect(),
            Some(("externalId", v)) => store
                .find_users_by_external_id(app, v)
                .await?
                .into_iter()
                .filter(live)
                .collect(),
            Some(("id", v)) => match v.parse::<UserId>() {
                Ok(id) => store
                    .get_user(app, id)
                    .await?
                    .into_iter()
                    .filter(live)
                    .collect(),
                Err(_) => Vec::new(),
            },
            _ => store.scim_users(app).await?,
        };
        let mut rendered = self.render_users(app, base, &users).await?;
        rendered.retain(|r| filter.is_none_or(|f| f.matches(r)));
        Ok(rendered)
    }

    /// One user (`GET /Users/{id}`).
    pub async fn get_user(
        &self,
        caller: &ScimCaller,
        base: &str,
        id: &str,
        projection: &Projection,
    ) -> Result<Value, ProvisioningError> {
        let user = self.live_user(caller.app, id).await?;
        let mut r = self.user_resource(&user, base).await?;
        projection.apply(&mut r);
        Ok(r)
    }

    async fn user_resource(&self, user: &User, base: &str) -> Result<Value, ProvisioningError> {
        let mut one = self
            .render_users(user.app_id, base, std::slice::from_ref(user))
            .await?;
        one.pop()
            .ok_or_else(|| ServiceError::Internal("a user rendered to nothing".into()).into())
    }

    /// Create a user (`POST /Users`). A user of the application with the
    /// same e-mail that provisioning has not made yet (one who signed in,
    /// or an administrator made) is adopted instead of refused.
    #[tracing::instrument(level = "info", skip_all, fields(app = %caller.app), err(level = "debug"))]
    pub async fn create_user(
        &self,
        caller: &ScimCaller,
        base: &str,
        body: &Value,
    ) -> Result<Value, ProvisioningError> {
        let app = caller.app;
        let maps = mappings(&self.runtime_settings(app));
        let fields = resource::parse_user(body, &maps)?;
        let store = &*self.shared.store;
        let ctx = caller.ctx();
        if let Some(u) = store
            .find_user_by_user_name(app, &fields.user_name.to_lowercase())
            .await?
            && u.deprovisioned_at.is_none()
        {
            // Adopted only when it is the same person: a userName left from
            // an address the user no longer has names someone else.
            if u.provisioned || u.email.normalized() != fields.email.normalized() {
                return Err(uniqueness(format!(
                    "the userName {:?} is taken by user {}",
                    fields.user_name, u.id
                )));
            }
            // A user who signed in before provisioning (userName = e-mail),
            // created by an IdP that did not look them up first: adopted.
            let user = self
                .write_user(u, &fields, &ctx, "scim.user.adopted")
                .await?;
            return self.user_resource(&user, base).await;
        }
        let now = self.now();
        if let Some((existing, _)) = store
            .find_user_by_email(app, &fields.email.normalized())
            .await?
            && existing.deprovisioned_at.is_none()
        {
            if existing.provisioned {
                return Err(uniqueness(format!(
                    "the e-mail {} belongs to user {}",
                    fields.email, existing.id
                )));
            }
            let user = self
                .write_user(existing, &fields, &ctx, "scim.user.adopted")
                .await?;
            return self.user_resource(&user, base).await;
        }
        let mut user = User {
            user_name: fields.user_name.clone(),
            external_id: fields.external_id.clone(),
            first_name: fields.given_name.clone(),
            last_name: fields.family_name.clone(),
            display_name: fields.display_name.clone(),
            scim_active: fields.active,
            provisioned: true,
            // The directory vouches for its addresses.
            email_verified: Some(true),
            ..User::new(app, fields.email.clone(), now)
        };
        with_scim_tags(&mut user, &fields);
        let audit = ctx
            .event(Some(app), now, "scim.user.created")
            .target(user.email.as_str())
            .detail("user_id", user.id.to_string())
            .detail("user_name", user.user_name.as_str())
            .detail("active", user.scim_active);
        store
            .provision_user(&user, &audit)
            .await
            .map_err(conflict)?;
        self.user_resource(&user, base).await
    }

    /// Replace a user (`PUT /Users/{id}`).
    #[tracing::instrument(level = "info", skip_all, fields(app = %caller.app), err(level = "debug"))]
    pub async fn replace_user(
        &self,
        caller: &ScimCaller,
        base: &str,
        id: &str,
        body: &Value,
    ) -> Result<Value, ProvisioningError> {
        let maps = mappings(&self.runtime_settings(caller.app));
        let fields = resource::parse_user(body, &maps)?;
        let user = retrying(|| async {
            let user = self.live_user(caller.app, id).await?;
            self.write_user(user, &fields, &caller.ctx(), "scim.user.replaced")
                .await
        })
        .await?;
        self.user_resource(&user, base).await
    }

    /// Change a user (`PATCH /Users/{id}`).
    #[tracing::instrument(level = "info", skip_all, fields(app = %caller.app), err(level = "debug"))]
    pub async fn patch_user(
        &self,
        caller: &ScimCaller,
        base: &str,
        id: &str,
        body: &Value,
    ) -> Result<Value, ProvisioningError> {
        let patch = PatchRequest::parse(body)?;
        let maps = mappings(&self.runtime_settings(caller.app));
        // Applied to the user as it is now: a write that another came
        // before reads the user again and applies the PATCH to that.
        let user = retrying(|| async {
            let user = self.live_user(caller.app, id).await?;
            let mut doc = resource::render_user(&user, base, &maps, &[]);
            // Attributes Gatehouse does not keep are skipped (Entra ID's
            // default mappings send addresses and phone numbers), as a POST
            // ignores them.
            patch.apply_ignoring_unknown(&USER, &mut doc)?;
            // `active` is SCIM's to set, not to remove (absent would read
            // as active: a `remove active` must not re-activate).
            if doc.get("active").is_none_or(Value::is_null) {
                return Err(invalid_value(
                    "active cannot be removed or emptied; set it to true or false",
                ));
            }
            let fields = resource::parse_user(&doc, &maps)?;
            self.write_user(user, &fields, &caller.ctx(), "scim.user.patched")
                .await
        })
        .await?;
        self.user_resource(&user, base).await
    }

    /// Delete a user (`DELETE /Users/{id}`): a tombstone that SCIM no longer
    /// sees, whose sessions end, and whose next sign-in is refused.
    #[tracing::instrument(level = "info", skip_all, fields(app = %caller.app), err(level = "debug"))]
    pub async fn delete_user(
        &self,
        caller: &ScimCaller,
        id: &str,
    ) -> Result<(), ProvisioningError> {
        retrying(|| self.delete_user_once(caller, id)).await
    }

    async fn delete_user_once(
        &self,
        caller: &ScimCaller,
        id: &str,
    ) -> Result<(), ProvisioningError> {
        let mut user = self.live_user(caller.app, id).await?;
        let now = self.now();
        user.deprovisioned_at = Some(now);
        user.scim_active = false;
        user.updated_at = now;
        let audit = caller
            .ctx()
            .event(Some(caller.app), now, "scim.user.deleted")
            .target(user.email.as_str())
            .detail("user_id", user.id.to_string())
            .detail("user_name", user.user_name.as_str());
        let ended = self
            .shared
            .store
            .update_provisioned_user(&user, &audit)
            .await
            .map_err(conflict)?;
        self.caches.forget_sessions(&ended, now);
        self.caches.forget_user(user.id);
        tracing::info!(app = %caller.app, user = %user.id, sessions_ended = ended.len(), "user deprovisioned (deleted)");
        Ok(())
    }

    /// Write `fields` over `user` (SCIM's part of it), audit with `action`
    /// naming what changed, end the sessions of a deactivated user and drop
    /// the user from this node's caches (other nodes follow the feed).
    async fn write_user(
        &self,
        mut user: User,
        fields: &UserFields,
        ctx: &Context,
        action: &str,
    ) -> Result<User, ProvisioningError> {
        let mut changed: Vec<&str> = Vec::new();
        if user.user_name != fields.user_name {
            user.user_name.clone_from(&fields.user_name);
            changed.push("userName");
        }
        if user.external_id != fields.external_id {
            user.external_id.clone_from(&fields.external_id);
            changed.push("externalId");
        }
        if user.first_name != fields.given_name {
            user.first_name.clone_from(&fields.given_name);
            changed.push("name.givenName");
        }
        if user.last_name != fields.family_name {
            user.last_name.clone_from(&fields.family_name);
            changed.push("name.familyName");
        }
        // A displayName that is just the names (as SCIM answered it) is not
        // a displayName of its own: stored, it would go stale.
        let derived = format!("{} {}", fields.given_name, fields.family_name);
        let display_name = fields
            .display_name
            .clone()
            .filter(|d| d.as_str() != derived.trim());
        if user.display_name != display_name {
            user.display_name = display_name;
            changed.push("displayName");
        }
        if user.email != fields.email {
            user.email = fields.email.clone();
            user.email_verified = Some(true);
            changed.push("emails");
        }
        let deactivating = user.scim_active && !fields.active;
        if user.scim_active != fields.active {
            user.scim_active = fields.active;
            changed.push("active");
        }
        let before = user.tags.clone();
        with_scim_tags(&mut user, fields);
        if user.tags != before {
            changed.push("tags");
        }
        let adopted = !user.provisioned;
        user.provisioned = true;
        if adopted && user.email_verified != Some(true) {
            // The directory provisioning this user vouches for the address.
            user.email_verified = Some(true);
            changed.push("email_verified");
        }
        let now = self.now();
        user.updated_at = now;
        let admin_disable_kept =
            fields.active && user.status != gatehouse_core::user::UserStatus::Active;
        let mut audit = ctx
            .event(Some(user.app_id), now, action)
            .target(user.email.as_str())
            .detail("user_id", user.id.to_string())
            .detail("changed", changed.clone())
            .detail("active", user.scim_active);
        if admin_disable_kept {
            // SCIM says active; an administrator disabled the user, and wins.
            audit = audit.detail("admin_disable_kept", true);
        }
        if changed.is_empty() && !adopted {
            return Ok(user);
        }
        let ended = self
            .shared
            .store
            .update_provisioned_user(&user, &audit)
            .await
            .map_err(conflict)?;
        self.caches.forget_sessions(&ended, now);
        self.caches.forget_user(user.id);
        if deactivating {
            tracing::info!(app = %user.app_id, user = %user.id, sessions_ended = ended.len(), "user deprovisioned (deactivated)");
        }
        Ok(user)
    }

    // ---- groups ------------------------------------------------------------

    async fn group(&self, app: AppId, id: &str) -> Result<Group, ProvisioningError> {
        let Ok(gid) = id.parse::<GroupId>() else {
            return Err(not_found("group", id));
        };
        self.shared
            .store
            .get_group(app, gid)
            .await?
            .filter(|g| g.provisioned)
            .ok_or_else(|| not_found("group", id))
    }

    /// The userNames of the application's users, for members' `display`.
    async fn user_names(
        &self,
        app: AppId,
    ) -> Result<std::collections::HashMap<UserId, String>, ProvisioningError> {
        Ok(self
            .shared
            .store
            .scim_user_names(app)
            .await?
            .into_iter()
            .collect())
    }

    /// Every member must be a (live) user of the application.
    async fn check_members(&self, app: AppId, members: &[UserId]) -> Result<(), ProvisioningError> {
        if members.is_empty() {
            return Ok(());
        }
        let known = self.user_names(app).await?;
        if let Some(m) = members.iter().find(|m| !known.contains_key(m)) {
            return Err(invalid_value(format!(
                "members: {m} is not a user of this application"
            )));
        }
        Ok(())
    }

    /// List or search groups.
    pub async fn list_groups(
        &self,
        caller: &ScimCaller,
        base: &str,
        q: &ListQuery,
    ) -> Result<Value, ProvisioningError> {
        let (filter, page, projection) = q.read(GROUP)?;
        let matching = self.matching_groups(caller, base, filter.as_ref()).await?;
        Ok(page_of(matching, page, &projection))
    }

    /// Every group matching `filter`, rendered (not paged, not projected).
    async fn matching_groups(
        &self,
        caller: &ScimCaller,
        base: &str,
        filter: Option<&ScimFilter>,
    ) -> Result<Vec<Value>, ProvisioningError> {
        let store = &*self.shared.store;
        let groups = match filter.and_then(ScimFilter::equality) {
            Some(("displayName", v)) => {
                // displayName is not caseExact: the store's lookup is exact,
                // so fall back to the whole list when it finds nothing.
                match store.find_group_by_name(caller.app, v).await? {
                    Some(g) => vec![g],
                    None => store.list_groups(caller.app).await?,
                }
            }
            _ => store.list_groups(caller.app).await?,
        };
        // SCIM sees the groups provisioning made or adopted.
        let groups: Vec<Group> = groups.into_iter().filter(|g| g.provisioned).collect();
        let names = self.user_names(caller.app).await?;
        Ok(groups
            .iter()
            .map(|g| resource::render_group(g, base, |u| names.get(&u).cloned()))
            .filter(|r| filter.is_none_or(|f| f.matches(r)))
            .collect())
    }

    /// One group.
    pub async fn get_group(
        &self,
        caller: &ScimCaller,
        base: &str,
        id: &str,
        projection: &Projection,
    ) -> Result<Value, ProvisioningError> {
        let g = self.group(caller.app, id).await?;
        let mut r = self.group_resource(&g, base).await?;
        projection.apply(&mut r);
        Ok(r)
    }

    async fn group_resource(&self, g: &Group, base: &str) -> Result<Value, ProvisioningError> {
        let names = self.user_names(g.app_id).await?;
        Ok(resource::render_group(g, base, |u| names.get(&u).cloned()))
    }

    /// Create a group (`POST /Groups`). A group of that name that exists
    /// only through the groups claim or an administrator is adopted.
    #[tracing::instrument(level = "info", skip_all, fields(app = %caller.app), err(level = "debug"))]
    pub async fn create_group(
        &self,
        caller: &ScimCaller,
        base: &str,
        body: &Value,
    ) -> Result<Value, ProvisioningError> {
        let app = caller.app;
        let fields = resource::parse_group(body)?;
        self.check_members(app, &fields.members).await?;
        let store = &*self.shared.store;
        let now = self.now();
        let ctx = caller.ctx();
        if let Some(existing) = store.find_group_by_name(app, &fields.display_name).await? {
            if existing.provisioned {
                return Err(uniqueness(format!(
                    "the displayName {:?} is taken by group {}",
                    fields.display_name, existing.id
                )));
            }
            let g = self
                .write_group(
                    existing,
                    &fields,
                    MemberChange::Replace(&fields.members),
                    &ctx,
                    "scim.group.adopted",
                )
                .await?;
            return self.group_resource(&g, base).await;
        }
        let group = Group {
            id: GroupId::new(),
            app_id: app,
            display_name: fields.display_name.clone(),
            external_id: fields.external_id.clone(),
            provisioned: true,
            version: 0,
            members: fields
                .members
                .iter()
                .map(|u| GroupMember {
                    user: *u,
                    source: GroupSource::Scim,
                })
                .collect(),
            created_at: now,
            updated_at: now,
        };
        let audit = ctx
            .event(Some(app), now, "scim.group.created")
            .target(group.display_name.as_str())
            .detail("group_id", group.id.to_string())
            .detail("members", group.members.len());
        store.create_group(&group, &audit).await.map_err(conflict)?;
        self.caches.forget_users(&fields.members);
        let g = self.group(app, &group.id.to_string()).await?;
        self.group_resource(&g, base).await
    }

    /// Replace a group (`PUT /Groups/{id}`): its name, external id and members.
    #[tracing::instrument(level = "info", skip_all, fields(app = %caller.app), err(level = "debug"))]
    pub async fn replace_group(
        &self,
        caller: &ScimCaller,
        base: &str,
        id: &str,
        body: &Value,
    ) -> Result<Value, ProvisioningError> {
        let fields = resource::parse_group(body)?;
        self.check_members(caller.app, &fields.members).await?;
        let g = retrying(|| async {
            let g = self.group(caller.app, id).await?;
            self.write_group(
                g,
                &fields,
                MemberChange::Replace(&fields.members),
                &caller.ctx(),
                "scim.group.replaced",
            )
            .await
        })
        .await?;
        self.group_resource(&g, base).await
    }

    /// Change a group (`PATCH /Groups/{id}`). Member changes are applied as
    /// additions and removals, so that concurrent PATCHes of one group all
    /// take effect; `replace` of `members` sets them.
    #[tracing::instrument(level = "info", skip_all, fields(app = %caller.app), err(level = "debug"))]
    pub async fn patch_group(
        &self,
        caller: &ScimCaller,
        base: &str,
        id: &str,
        body: &Value,
    ) -> Result<Option<Value>, ProvisioningError> {
        let patch = PatchRequest::parse(body)?;
        let (g, members) = retrying(|| self.patch_group_once(caller, base, id, &patch)).await?;
        // RFC 7644 §3.5.2: 200 with the resource, or 204; a large group's
        // members are not sent back unless asked for.
        if members > 1000 {
            return Ok(None);
        }
        self.group_resource(&g, base).await.map(Some)
    }

    /// One try of a group PATCH: the group as it is now, the PATCH applied
    /// to it, the difference written. The group and its SCIM member count.
    async fn patch_group_once(
        &self,
        caller: &ScimCaller,
        base: &str,
        id: &str,
        patch: &PatchRequest,
    ) -> Result<(Group, usize), ProvisioningError> {
        let g = self.group(caller.app, id).await?;
        let mut doc = resource::render_group(&g, base, |_| None);
        patch.apply(&GROUP, &mut doc)?;
        let fields = resource::parse_group(&doc)?;
        let before: Vec<UserId> = g
            .members
            .iter()
            .filter(|m| m.source == GroupSource::Scim)
            .map(|m| m.user)
            .collect();
        let added: Vec<UserId> = fields
            .members
            .iter()
            .filter(|u| !before.contains(u))
            .copied()
            .collect();
        let removed: Vec<UserId> = before
            .iter()
            .filter(|u| !fields.members.contains(u))
            .copied()
            .collect();
        self.check_members(caller.app, &added).await?;
        let change = if patch.replaces("members") {
            MemberChange::Replace(&fields.members)
        } else if !added.is_empty() && removed.is_empty() {
            MemberChange::Add(&added)
        } else if added.is_empty() && !removed.is_empty() {
            MemberChange::Remove(&removed)
        } else if added.is_empty() && removed.is_empty() {
            MemberChange::Keep
        } else {
            MemberChange::Replace(&fields.members)
        };
        let members = fields.members.len();
        let g = self
            .write_group(g, &fields, change, &caller.ctx(), "scim.group.patched")
            .await?;
        Ok((g, members))
    }

    /// Delete a group: every membership of it ends.
    #[tracing::instrument(level = "info", skip_all, fields(app = %caller.app), err(level = "debug"))]
    pub async fn delete_group(
        &self,
        caller: &ScimCaller,
        id: &str,
    ) -> Result<(), ProvisioningError> {
        let g = self.group(caller.app, id).await?;
        let now = self.now();
        let audit = caller
            .ctx()
            .event(Some(caller.app), now, "scim.group.deleted")
            .target(g.display_name.as_str())
            .detail("group_id", g.id.to_string());
        self.shared
            .store
            .delete_group(caller.app, g.id, &audit)
            .await
            .map_err(conflict)?;
        self.caches.forget_users(&g.member_ids());
        Ok(())
    }

    async fn write_group(
        &self,
        mut g: Group,
        fields: &GroupFields,
        members: MemberChange<'_>,
        ctx: &Context,
        action: &str,
    ) -> Result<Group, ProvisioningError> {
        let old_name = g.display_name.clone();
        let renamed = old_name != fields.display_name;
        let write_fields = renamed || g.external_id != fields.external_id || !g.provisioned;
        let scim_members = || {
            let mut m: Vec<UserId> = g
                .members
                .iter()
                .filter(|m| m.source == GroupSource::Scim)
                .map(|m| m.user)
                .collect();
            m.sort_unstable();
            m
        };
        let no_members = match members {
            MemberChange::Keep => true,
            MemberChange::Add(u) | MemberChange::Remove(u) => u.is_empty(),
            MemberChange::Replace(u) => {
                let mut u = u.to_vec();
                u.sort_unstable();
                u.dedup();
                u == scim_members()
            }
        };
        if !write_fields && no_members {
            // Nothing changes: no write, no audit event.
            return Ok(g);
        }
        g.display_name.clone_from(&fields.display_name);
        g.external_id.clone_from(&fields.external_id);
        g.provisioned = true;
        let now = self.now();
        g.updated_at = now;
        let grants_moving = if renamed {
            self.shared
                .store
                .list_grants(g.app_id)
                .await?
                .iter()
                .filter(|gr| matches!(&gr.subject, gatehouse_core::access::Subject::Group(n) if *n == old_name))
                .count()
        } else {
            0
        };
        let (added, removed) = match members {
            MemberChange::Keep => (0, 0),
            MemberChange::Add(u) => (u.len(), 0),
            MemberChange::Remove(u) => (0, u.len()),
            MemberChange::Replace(u) => (u.len(), 0),
        };
        let mut audit = ctx
            .event(Some(g.app_id), now, action)
            .target(g.display_name.as_str())
            .detail("group_id", g.id.to_string())
            .detail("members_added", added)
            .detail("members_removed", removed)
            .detail(
                "members_replaced",
                matches!(members, MemberChange::Replace(_)),
            );
        if renamed {
            audit = audit
                .detail("renamed_from", old_name.as_str())
                .detail("grants_moved", grants_moving);
        }
        let before = g.member_ids();
        self.shared
            .store
            .update_group(&g, members, write_fields, &audit)
            .await
            .map_err(conflict)?;
        if renamed {
            self.router.reload(self.shared).await?;
        }
        let g = self.group(g.app_id, &g.id.to_string()).await?;
        let mut touched = before;
        touched.extend(g.member_ids());
        self.caches.forget_users(&touched);
        Ok(g)
    }
}

/// How many times a write is tried again when another write of the same
/// resource came first (each try reads it again).
const TRIES: usize = 10;

/// Run `once` until it does not meet a newer version of its resource.
async fn retrying<T, F, Fut>(mut once: F) -> Result<T, ProvisioningError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProvisioningError>>,
{
    let mut tries = 0;
    loop {
        match once().await {
            Err(ProvisioningError::Stale) if tries + 1 < TRIES => {
                tries += 1;
                // Back off a little more each time: many writers of one
                // resource take turns instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(2 << tries.min(6))).await;
            }
            other => return other,
        }
    }
}

/// One page of matching resources, projected, as a ListResponse.
fn page_of(matching: Vec<Value>, page: Page, projection: &Projection) -> Value {
    let total = matching.len();
    let resources: Vec<Value> = matching
        .into_iter()
        .skip(page.offset())
        .take(page.count)
        .map(|mut r| {
            projection.apply(&mut r);
            r
        })
        .collect();
    gatehouse_scim::list_response(total, page, resources)
}
