//! Groups of an application: entities with a stable id, a display name
//! (what grants by group match, so a rename carries its grants along) and
//! the IdP's id of the group (`externalId`), whose members come from
//! provisioning, from the groups claim at sign-in, or from an administrator.

use serde::Serialize;
use time::OffsetDateTime;

use crate::ids::{AppId, GroupId, UserId};
use crate::user::GroupSource;

/// A group of one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Stable id (SCIM's `id`).
    pub id: GroupId,
    /// The application.
    pub app_id: AppId,
    /// The display name, unique in the application.
    pub display_name: String,
    /// The IdP's id of the group (SCIM's `externalId`; Entra ID's object id).
    pub external_id: Option<String>,
    /// Whether provisioning made or adopted the group (SCIM sees only these).
    pub provisioned: bool,
    /// The version as read: a change of the name or external id written
    /// over a newer version is refused (and retried).
    pub version: i64,
    /// Members, by user and source, sorted.
    pub members: Vec<GroupMember>,
    /// When created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One membership of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GroupMember {
    /// The user.
    pub user: UserId,
    /// Where the membership came from.
    pub source: GroupSource,
}

impl Group {
    /// The users who are members from any source, sorted, each once.
    pub fn member_ids(&self) -> Vec<UserId> {
        let mut ids: Vec<UserId> = self.members.iter().map(|m| m.user).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}
