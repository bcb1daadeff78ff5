//! The user an IdP sign-in is for: found by `(issuer, sub)`; otherwise a
//! provisioned user whose `externalId` equals the configured claim (`sub`,
//! `oid` for Entra ID); otherwise an existing user with the same e-mail,
//! linked only when the IdP says the e-mail is verified; otherwise a new
//! user, unless only provisioned users may sign in. Fields, IdP tags and the
//! claim's group memberships are updated from the claims at every sign-in
//! (a claim that is gone removes its tag); tags and memberships from
//! provisioning or an administrator stay. A user provisioning deleted (a
//! tombstone) is found but never changed nor re-created: the caller refuses.

use gatehouse_core::AppId;
use gatehouse_core::claims::MappedIdentity;
use gatehouse_core::provisioning::{GroupsClaimValues, ProvisioningSettings};
use gatehouse_core::sso::OidcSettings;
use gatehouse_core::user::{GroupSource, Identity, TagSource, User};
use gatehouse_store::{PasswordChange, StoreError};

use super::SignInError;
use crate::Context;

/// Whether the e-mail of an IdP sign-in counts as verified: the IdP said
/// `email_verified: true`, or the application trusts its IdP's addresses
/// (`trust_email`).
pub(crate) fn sign_in_verified(oidc: &OidcSettings, m: &MappedIdentity) -> bool {
    oidc.trust_email || m.email_verified == Some(true)
}

/// What a bearer token says of the e-mail: like a sign-in when it has the
/// claim (or the IdP is trusted), else nothing (the flag set at sign-in stays).
pub(crate) fn bearer_verified(oidc: &OidcSettings, m: &MappedIdentity) -> Option<bool> {
    if oidc.trust_email {
        Some(true)
    } else {
        m.email_verified
    }
}

/// Apply the mapped claims to `user`; `verified` is what this sign-in says
/// of the e-mail (`None`: nothing). Returns the names of the fields that changed.
fn apply(user: &mut User, m: &MappedIdentity, verified: Option<bool>) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if user.email.as_str() != m.email.as_str() {
        user.email = m.email.clone();
        changed.push("email");
        // A verification was of the old address.
        if verified.is_none() && user.email_verified.is_some() {
            user.email_verified = None;
            changed.push("email_verified");
        }
    }
    if let Some(v) = verified
        && user.email_verified != Some(v)
    {
        user.email_verified = Some(v);
        changed.push("email_verified");
    }
    if user.first_name != m.first_name {
        user.first_name.clone_from(&m.first_name);
        changed.push("first_name");
    }
    if user.last_name != m.last_name {
        user.last_name.clone_from(&m.last_name);
        changed.push("last_name");
    }
    let mut tags: Vec<_> = user
        .tags
        .iter()
        .filter(|t| t.source != TagSource::Idp)
        .cloned()
        .collect();
    tags.extend(m.tags.iter().cloned());
    tags.sort();
    tags.dedup();
    if tags != user.tags {
        user.tags = tags;
        changed.push("tags");
    }
    if let Some(groups) = &m.groups {
        let mut groups = groups.clone();
        groups.sort();
        groups.dedup();
        if groups != user.groups_from(GroupSource::Claim) {
            user.set_groups_from(GroupSource::Claim, &groups);
            changed.push("groups");
        }
    }
    changed
}

/// What links a sign-in to a provisioned user, and the application's
/// provisioning rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link<'a> {
    /// The value of the configured claim (`sub`, `oid`), if the claims have it.
    pub external_id: Option<&'a str>,
    /// The application's provisioning settings.
    pub settings: &'a ProvisioningSettings,
}

/// The provisioning settings of an application that never saved any.
static DEFAULT_SETTINGS: std::sync::LazyLock<ProvisioningSettings> =
    std::sync::LazyLock::new(ProvisioningSettings::default);

impl Default for Link<'_> {
    /// No linking claim, the default settings.
    fn default() -> Self {
        Self {
            external_id: None,
            settings: &DEFAULT_SETTINGS,
        }
    }
}

impl<'a> Link<'a> {
    /// The link of a sign-in with `claims`.
    pub(crate) fn from_claims(
        settings: &'a ProvisioningSettings,
        claims: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Self {
            external_id: settings
                .link_claim
                .resolve(claims)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty()),
            settings,
        }
    }
}

/// The groups claim's values as group names: with `groups_claim_values =
/// "ids"`, each id that is a group's `externalId` becomes that group's name.
async fn claim_group_names(
    store: &dyn gatehouse_store::Store,
    app: AppId,
    settings: &ProvisioningSettings,
    m: &MappedIdentity,
) -> Result<MappedIdentity, StoreError> {
    let mut m = m.clone();
    if settings.groups_claim_values == GroupsClaimValues::Ids
        && let Some(groups) = &mut m.groups
    {
        let names = store.group_names_by_external_id(app, groups).await?;
        for g in groups.iter_mut() {
            if let Some((_, name)) = names.iter().find(|(ext, _)| ext == g) {
                g.clone_from(name);
            }
        }
    }
    Ok(m)
}

/// Whether the mapped claims would leave `user` as it is.
pub(crate) fn unchanged(user: &User, m: &MappedIdentity, verified: Option<bool>) -> bool {
    apply(&mut user.clone(), m, verified).is_empty()
}

impl crate::users::Directory<'_> {
    /// Store a user changed by a sign-in, with `audit` (naming the user),
    /// and drop this node's cached copy.
    async fn save_from_idp(
        &self,
        user: &mut User,
        audit: gatehouse_core::AuditEvent,
    ) -> Result<(), StoreError> {
        user.updated_at = audit.at;
        let audit = audit
            .target(user.email.as_str())
            .detail("user_id", user.id.to_string());
        self.shared
            .store
            .update_user(user, PasswordChange::Keep, &audit)
            .await?;
        self.caches.forget_user(user.id);
        Ok(())
    }

    /// Find, link or create the user of an IdP sign-in and bring it up to date.
    #[tracing::instrument(level = "info", skip_all, fields(app = %app, issuer = %identity.issuer), err(level = "debug"))]
    pub(crate) async fn sign_in_user(
        &self,
        app: AppId,
        identity: &Identity,
        m: &MappedIdentity,
        verified: Option<bool>,
        link: Link<'_>,
        ctx: &Context,
    ) -> Result<User, SignInError> {
        let (issuer, sub) = (&identity.issuer, identity.subject.as_str());
        let store = &*self.shared.store;
        let now = self.shared.now();
        let m = &claim_group_names(store, app, link.settings, m)
            .await
            .map_err(crate::ServiceError::from)?;
        // A user made at sign-in takes the e-mail as SCIM userName too: one
        // that provisioning gave another user is the same conflict.
        let taken = |e: StoreError| match e {
            StoreError::Conflict {
                field: "email" | "user_name",
            } => SignInError::EmailTaken {
                email: m.email.to_string(),
            },
            other => SignInError::Service(other.into()),
        };
        if let Some(mut user) = store
            .find_user_by_identity(app, issuer.as_str(), sub)
            .await
            .map_err(crate::ServiceError::from)?
        {
            if user.deprovisioned_at.is_some() {
                return Ok(user);
            }
            let changed = apply(&mut user, m, verified);
            if !changed.is_empty() {
                let audit = ctx
                    .event(Some(app), now, "user.updated_from_idp")
                    .detail("changed", changed);
                self.save_from_idp(&mut user, audit).await.map_err(taken)?;
            }
            return Ok(user);
        }
        let identity = identity.clone();
        if let Some(ext) = link.external_id {
            let mut found = store
                .find_users_by_external_id(app, ext)
                .await
                .map_err(crate::ServiceError::from)?;
            // A live user first; a tombstone only if there is no other.
            found.sort_by_key(|u| u.deprovisioned_at.is_some());
            if let Some(mut user) = found.into_iter().next() {
                if user.deprovisioned_at.is_some() {
                    return Ok(user);
                }
                apply(&mut user, m, verified);
                user.identities.push(identity);
                let audit = ctx
                    .event(Some(app), now, "user.identity_linked")
                    .detail("issuer", issuer.as_str())
                    .detail("by", "external_id")
                    .detail("claim", link.settings.link_claim.as_str());
                self.save_from_idp(&mut user, audit).await.map_err(taken)?;
                return Ok(user);
            }
        }
        let existing = store
            .find_user_by_email(app, &m.email.normalized())
            .await
            .map_err(crate::ServiceError::from)?;
        if let Some((mut user, _)) = existing {
            // A parallel first sign-in of this identity created this user
            // between the two lookups: it is ours, not one to link.
            if user.identities.contains(&identity) || user.deprovisioned_at.is_some() {
                return Ok(user);
            }
            // Linking by e-mail takes over an existing account: only for an
            // address verified by this sign-in and by the account itself.
            if verified != Some(true) || user.email_verified != Some(true) {
                return Err(SignInError::EmailNotVerified {
                    email: m.email.to_string(),
                });
            }
            apply(&mut user, m, verified);
            user.identities.push(identity);
            let audit = ctx
                .event(Some(app), now, "user.identity_linked")
                .detail("issuer", issuer.as_str());
            self.save_from_idp(&mut user, audit).await.map_err(taken)?;
            return Ok(user);
        }
        if link.settings.provisioned_only {
            return Err(SignInError::NotProvisioned {
                email: m.email.to_string(),
            });
        }
        let mut user = User {
            first_name: m.first_name.clone(),
            last_name: m.last_name.clone(),
            tags: m.tags.clone(),
            identities: vec![identity],
            email_verified: verified,
            ..User::new(app, m.email.clone(), now)
        };
        user.set_groups_from(GroupSource::Claim, m.groups.as_deref().unwrap_or_default());
        let audit = crate::users::created_event(ctx, &user)
            .detail("source", "idp")
            .detail("issuer", issuer.as_str());
        match store.create_user(&user, None, &audit).await {
            Ok(()) => Ok(user),
            // A parallel first sign-in of the same identity may have won the
            // race (its row takes the e-mail first, or the identity): use its
            // user. Otherwise the address belongs to someone else.
            Err(
                e @ StoreError::Conflict {
                    field: "identity" | "email",
                },
            ) => store
                .find_user_by_identity(app, issuer.as_str(), sub)
                .await
                .map_err(crate::ServiceError::from)?
                .ok_or_else(|| taken(e)),
            Err(e) => Err(taken(e)),
        }
    }
}
