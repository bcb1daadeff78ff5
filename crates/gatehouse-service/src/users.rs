//! Users of an application, managed by administrators (the IdP's own
//! updates at sign-in come with the OIDC flow).

use gatehouse_core::user::{
    Email, GroupSource, Membership, Tag, TagSource, User, UserStatus, check_password_policy,
    parse_group, parse_name,
};
use gatehouse_core::validation::Collector;
use gatehouse_core::{AppId, UserId};
use gatehouse_crypto::password;
use gatehouse_store::{PasswordChange, StoreError, UserQuery};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

use crate::{Context, ServiceError};

/// A tag as sent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagInput {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A new local user.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// E-mail (required, unique in the application).
    #[serde(default)]
    pub email: String,
    /// First name (required).
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Password for local sign-in (write-only; none: the user can only sign in through SSO).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, write_only))]
    pub password: Option<SecretString>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagInput>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// `active` (default) or `disabled`.
    #[serde(default)]
    pub status: Option<UserStatus>,
}

/// A change to a user: absent fields stay; `"password": null` removes the password.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// New e-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// New first name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// New last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// New password (`null` removes local sign-in).
    #[serde(default, deserialize_with = "double_option_secret")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, write_only, nullable))]
    pub password: Option<Option<SecretString>>,
    /// The administrator's tags (replaces them; tags from the IdP and from
    /// provisioning stay).
    #[serde(default)]
    pub tags: Option<Vec<TagInput>>,
    /// The administrator's groups (replaces them; memberships from the
    /// IdP's groups claim and from provisioning stay).
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// New status; `disabled` also ends the user's sessions.
    #[serde(default)]
    pub status: Option<UserStatus>,
}

fn double_option_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<SecretString>>, D::Error> {
    Option::<SecretString>::deserialize(d).map(Some)
}

fn parse_tags(input: &[TagInput], c: &mut Collector) -> Vec<Tag> {
    let mut tags = Vec::new();
    for (i, t) in input.iter().enumerate() {
        if let Some(tag) = c.check(Tag::parse(
            t.key.trim(),
            &t.value,
            TagSource::Admin,
            &format!("tags[{i}]"),
        )) && !tags.contains(&tag)
        {
            tags.push(tag);
        }
    }
    tags
}

fn parse_groups(input: &[String], c: &mut Collector) -> Vec<String> {
    let mut groups: Vec<String> = Vec::new();
    for (i, g) in input.iter().enumerate() {
        if let Some(g) = c.check(parse_group(g.trim(), &format!("groups[{i}]")))
            && !groups.contains(&g)
        {
            groups.push(g);
        }
    }
    groups.sort();
    groups
}

async fn hash_password(pw: SecretString) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

fn email_conflict(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict { field: "email" } => ServiceError::Conflict {
            field: "email",
            message: "another user of this application has this e-mail".into(),
        },
        other => other.into(),
    }
}

/// The audit event of a new user (`user.created`, naming them).
pub(crate) fn created_event(ctx: &Context, user: &User) -> gatehouse_core::AuditEvent {
    ctx.event(Some(user.app_id), user.created_at, "user.created")
        .target(user.email.as_str())
        .detail("user_id", user.id.to_string())
}

/// The directory: users of the applications, created, changed and deleted
/// by administrators. Holds the store and the caches (a disabled or deleted
/// user's sessions end here at once).
pub struct Directory<'a> {
    pub(crate) shared: &'a crate::Shared,
    pub(crate) caches: &'a crate::cache::Caches,
}

impl Directory<'_> {
    /// Create a local user.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app), err(level = "debug"))]
    pub async fn create(
        &self,
        app: AppId,
        input: NewUser,
        ctx: &Context,
    ) -> Result<User, ServiceError> {
        self.shared.app(app).await?;
        let mut c = Collector::new();
        let email = c.check(Email::parse(&input.email));
        let first_name = c.check(parse_name(&input.first_name, "first_name"));
        if first_name.as_deref() == Some("") {
            c.push("first_name", "is required");
        }
        let last_name = c.check(parse_name(
            input.last_name.as_deref().unwrap_or(""),
            "last_name",
        ));
        if let Some(pw) = &input.password {
            c.check(check_password_policy(pw.expose_secret()));
        }
        let mut tags = parse_tags(&input.tags, &mut c);
        tags.sort();
        let groups = parse_groups(&input.groups, &mut c);
        c.finish()?;
        let (Some(email), Some(first_name), Some(last_name)) = (email, first_name, last_name)
        else {
            return Err(ServiceError::Internal(
                "validated input without fields".into(),
            ));
        };
        let hash = match input.password {
            Some(pw) => Some(hash_password(pw).await?),
            None => None,
        };
        let now = self.shared.now();
        let user = User {
            first_name,
            last_name,
            tags,
            groups: groups
                .into_iter()
                .map(|g| Membership::new(g, GroupSource::Admin))
                .collect(),
            status: input.status.unwrap_or_default(),
            // Created by an administrator (or the CLI): the address is theirs to vouch for.
            email_verified: Some(true),
            has_password: hash.is_some(),
            ..User::new(app, email, now)
        };
        let audit = created_event(ctx, &user).detail("password", user.has_password);
        self.shared
            .store
            .create_user(&user, hash.as_deref(), &audit)
            .await
            .map_err(email_conflict)?;
        Ok(user)
    }

    /// One user.
    pub async fn get(&self, app: AppId, id: UserId) -> Result<User, ServiceError> {
        self.shared
            .store
            .get_user(app, id)
            .await?
            .ok_or(ServiceError::NotFound("user"))
    }

    /// Users of an application.
    pub async fn list(&self, app: AppId, query: UserQuery) -> Result<Vec<User>, ServiceError> {
        self.shared.app(app).await?;
        Ok(self.shared.store.list_users(app, &query).await?)
    }

    /// Change a user.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app, user = %id), err(level = "debug"))]
    pub async fn update(
        &self,
        app: AppId,
        id: UserId,
        patch: UserPatch,
        ctx: &Context,
    ) -> Result<User, ServiceError> {
        let mut user = self.get(app, id).await?;
        let mut c = Collector::new();
        let mut changed: Vec<&str> = Vec::new();
        if let Some(e) = &patch.email
            && let Some(e) = c.check(Email::parse(e))
        {
            user.email = e;
            changed.push("email");
        }
        if let Some(n) = &patch.first_name {
            match c.check(parse_name(n, "first_name")) {
                Some(n) if n.is_empty() => c.push("first_name", "is required"),
                Some(n) => {
                    user.first_name = n;
                    changed.push("first_name");
                }
                None => {}
            }
        }
        if let Some(n) = &patch.last_name
            && let Some(n) = c.check(parse_name(n, "last_name"))
        {
            user.last_name = n;
            changed.push("last_name");
        }
        let password = match &patch.password {
            None => None,
            Some(None) => Some(None),
            Some(Some(pw)) => {
                c.check(check_password_policy(pw.expose_secret()));
                Some(Some(pw.clone()))
            }
        };
        if let Some(tags) = &patch.tags {
            let mut new = parse_tags(tags, &mut c);
            new.extend(
                user.tags
                    .iter()
                    .filter(|t| t.source != TagSource::Admin)
                    .cloned(),
            );
            new.sort();
            new.dedup();
            user.tags = new;
            changed.push("tags");
        }
        if let Some(groups) = &patch.groups {
            let groups = parse_groups(groups, &mut c);
            user.set_groups_from(GroupSource::Admin, &groups);
            changed.push("groups");
        }
        let disabling =
            patch.status == Some(UserStatus::Disabled) && user.status != UserStatus::Disabled;
        if let Some(s) = patch.status {
            user.status = s;
            changed.push("status");
        }
        c.finish()?;
        let pw_change = match password {
            None => PasswordChange::Keep,
            Some(None) => {
                changed.push("password");
                PasswordChange::Remove
            }
            Some(Some(pw)) => {
                changed.push("password");
                PasswordChange::Set(hash_password(pw).await?)
            }
        };
        user.has_password = match &pw_change {
            PasswordChange::Keep => user.has_password,
            PasswordChange::Remove => false,
            PasswordChange::Set(_) => true,
        };
        let now = self.shared.now();
        user.updated_at = now;
        let audit = ctx
            .event(Some(app), now, "user.updated")
            .target(user.email.as_str())
            .detail("user_id", id.to_string())
            .detail("changed", changed);
        self.shared
            .store
            .update_user(&user, pw_change, &audit)
            .await
            .map_err(email_conflict)?;
        self.caches.forget_user(id);
        if disabling {
            self.end_sessions(app, id, ctx).await?;
        }
        Ok(user)
    }

    /// Delete a user and end their sessions.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app, user = %id), err(level = "debug"))]
    pub async fn delete(&self, app: AppId, id: UserId, ctx: &Context) -> Result<(), ServiceError> {
        let user = self.get(app, id).await?;
        let now = self.shared.now();
        let audit = ctx
            .event(Some(app), now, "user.deleted")
            .target(user.email.as_str())
            .detail("user_id", id.to_string());
        let hashes = self.shared.store.delete_user(app, id, &audit).await?;
        self.caches.forget_sessions(&hashes, now);
        self.caches.forget_user(id);
        Ok(())
    }

    /// End every session of a user.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app, user = %user), err(level = "debug"))]
    pub async fn end_sessions(
        &self,
        app: AppId,
        user: UserId,
        ctx: &Context,
    ) -> Result<usize, ServiceError> {
        let now = self.shared.now();
        let u = self
            .shared
            .store
            .get_user(app, user)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        let audit = ctx
            .event(Some(app), now, "user.sessions_revoked")
            .target(u.email.as_str());
        let hashes = self
            .shared
            .store
            .revoke_sessions_of_user(user, now, &audit)
            .await?;
        self.caches.forget_sessions(&hashes, now);
        Ok(hashes.len())
    }
}
