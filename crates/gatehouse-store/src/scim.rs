//! Provisioning (SCIM 2.0): SCIM tokens, the users SCIM sees and writes,
//! and groups with their members. Writes by provisioning touch only what
//! provisioning owns (SCIM's columns, its tags, its memberships), so a
//! sign-in or an administrator at the same moment keeps theirs.

use async_trait::async_trait;
use gatehouse_core::group::Group;
use gatehouse_core::user::User;
use gatehouse_core::{AppId, AuditEvent, GroupId, ScimTokenId, TokenHash, UserId};
use time::OffsetDateTime;

use crate::StoreError;

/// A SCIM token record (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimTokenRecord {
    /// Id.
    pub id: ScimTokenId,
    /// The one application it serves.
    pub app_id: AppId,
    /// A name for people ("okta", "entra").
    pub name: String,
    /// SHA-256 (hex) of the token.
    pub token_hash: TokenHash,
    /// When created.
    pub created_at: OffsetDateTime,
    /// When last used.
    pub last_used_at: Option<OffsetDateTime>,
    /// When revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// How a group's SCIM members change.
#[derive(Debug, Clone, Copy)]
pub enum MemberChange<'a> {
    /// None.
    Keep,
    /// These users become members (those already members stay).
    Add(&'a [UserId]),
    /// These users stop being members.
    Remove(&'a [UserId]),
    /// Exactly these users are the members.
    Replace(&'a [UserId]),
}

/// Provisioning storage.
#[async_trait]
pub trait ScimStore {
    /// Store a new SCIM token record.
    async fn create_scim_token(
        &self,
        token: &ScimTokenRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The tokens of an application (revoked ones too), newest first.
    async fn list_scim_tokens(&self, app: AppId) -> Result<Vec<ScimTokenRecord>, StoreError>;
    /// Revoke a token of `app`; `NotFound` if it has none by that id (or
    /// it is revoked already).
    async fn revoke_scim_token(
        &self,
        app: AppId,
        id: ScimTokenId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The record for a token hash, if not revoked.
    async fn find_scim_token(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<ScimTokenRecord>, StoreError>;
    /// Note a use (callers throttle).
    async fn touch_scim_token(&self, id: ScimTokenId, at: OffsetDateTime)
    -> Result<(), StoreError>;

    /// Every user of an application that SCIM sees (no tombstones), by
    /// creation.
    async fn scim_users(&self, app: AppId) -> Result<Vec<User>, StoreError>;
    /// One page of the users SCIM sees (by creation) and how many there are
    /// in all: an unfiltered list reads no more than it answers.
    async fn scim_users_page(
        &self,
        app: AppId,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<User>, u64), StoreError>;
    /// The ids and userNames of the users SCIM sees (no tombstones): one
    /// light query for group members' `display` and checks.
    async fn scim_user_names(&self, app: AppId) -> Result<Vec<(UserId, String)>, StoreError>;
    /// The ids of the provisioned groups with these display names: `(id,
    /// name)` (what a SCIM User's `groups` can point to).
    async fn group_ids_by_name(
        &self,
        app: AppId,
        names: &[String],
    ) -> Result<Vec<(GroupId, String)>, StoreError>;
    /// The user with this userName (lowercase), tombstones included.
    async fn find_user_by_user_name(
        &self,
        app: AppId,
        user_name_lower: &str,
    ) -> Result<Option<User>, StoreError>;
    /// The users with this externalId, tombstones included.
    async fn find_users_by_external_id(
        &self,
        app: AppId,
        external_id: &str,
    ) -> Result<Vec<User>, StoreError>;
    /// Store a user made by provisioning, with its SCIM tags. Tombstones
    /// holding its userName or e-mail are removed first (provisioning may
    /// make again a user it deleted). `Conflict` for a taken e-mail or
    /// userName.
    async fn provision_user(&self, user: &User, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Write a user as provisioning changed it: its fields, SCIM's columns
    /// and SCIM's tags (other sources' tags and memberships stay), if the
    /// stored `scim_version` is still `user.scim_version` (else `Conflict
    /// { field: "version" }`: read again and retry). When the user may no
    /// longer sign in their sessions end (the hashes are returned); a
    /// tombstone also loses its SCIM memberships.
    async fn update_provisioned_user(
        &self,
        user: &User,
        audit: &AuditEvent,
    ) -> Result<Vec<TokenHash>, StoreError>;

    /// The groups of an application with their members, by creation.
    async fn list_groups(&self, app: AppId) -> Result<Vec<Group>, StoreError>;
    /// One group.
    async fn get_group(&self, app: AppId, id: GroupId) -> Result<Option<Group>, StoreError>;
    /// The group with this display name.
    async fn find_group_by_name(&self, app: AppId, name: &str)
    -> Result<Option<Group>, StoreError>;
    /// Display names of the groups with these external ids:
    /// `(external id, display name)`.
    async fn group_names_by_external_id(
        &self,
        app: AppId,
        external_ids: &[String],
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// Store a new group with its SCIM members (users of the application
    /// only). `Conflict { field: "display_name" }` if the name is taken.
    async fn create_group(&self, group: &Group, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Change a group's SCIM members and, with `write_fields`, its name,
    /// external id and provisioned flag (refused with `Conflict { field:
    /// "version" }` when the stored version is no longer `group.version`;
    /// member changes alone are additions and removals that need no
    /// version, so concurrent ones all land), in one transaction. A
    /// rename moves the grants of the old name to the new one. Returns how
    /// many grants moved.
    async fn update_group(
        &self,
        group: &Group,
        members: MemberChange<'_>,
        write_fields: bool,
        audit: &AuditEvent,
    ) -> Result<u64, StoreError>;
    /// Delete provisioning's part of a group: its SCIM memberships and its
    /// link; the group itself goes unless it still has members from the
    /// groups claim or an administrator.
    async fn delete_group(
        &self,
        app: AppId,
        id: GroupId,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
}
