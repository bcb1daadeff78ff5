//! An application's provisioning (SCIM) settings: which SCIM attributes
//! become which tags, whether the IdP's groups claim carries group names or
//! ids (Entra ID sends object ids, SCIM's `externalId` of the group), which
//! claim of a sign-in equals a provisioned user's `externalId` (`sub`;
//! `oid` for Entra ID, whose `sub` differs per application), and whether
//! only provisioned users may sign in.

use serde::{Deserialize, Serialize};

use crate::claims::ClaimPath;
use crate::user::TagKey;

/// The application setting's key.
pub const SETTING_KEY: &str = "provisioning";

/// One SCIM attribute whose values become a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributeTag {
    /// The SCIM attribute (`title`, or URN-qualified:
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`).
    pub attribute: String,
    /// The tag key.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tag: TagKey,
}

/// What the values of the IdP's groups claim are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum GroupsClaimValues {
    /// Group names (most IdPs).
    #[default]
    Names,
    /// Group ids, the same as the SCIM groups' `externalId` (Entra ID):
    /// each becomes the provisioned group's name.
    Ids,
}

fn sub() -> ClaimPath {
    ClaimPath::standard("sub")
}

/// Provisioning settings of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProvisioningSettings {
    /// SCIM attributes mapped to tags.
    #[serde(default = "default_attribute_tags")]
    pub attribute_tags: Vec<AttributeTag>,
    /// What the groups claim's values are.
    #[serde(default)]
    pub groups_claim_values: GroupsClaimValues,
    /// The sign-in claim that equals a provisioned user's `externalId`.
    #[serde(default = "sub")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub link_claim: ClaimPath,
    /// Refuse sign-in to users provisioning has not made or adopted.
    #[serde(default)]
    pub provisioned_only: bool,
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The core User attributes among the default mappings (the others are
/// the enterprise extension's).
const CORE: [&str; 5] = [
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
];

/// The mappings an application starts with: the enterprise extension's
/// attributes and the core User's `title`, `userType`,
/// `preferredLanguage`, `locale` and `timezone`, each to a tag of its own
/// name.
pub fn default_attribute_tags() -> Vec<AttributeTag> {
    let tag = |k: &str| TagKey::parse(k, "tag").ok();
    [
        ("title", "title"),
        ("userType", "userType"),
        ("preferredLanguage", "preferredLanguage"),
        ("locale", "locale"),
        ("timezone", "timezone"),
        ("department", "department"),
        ("employeeNumber", "employeeNumber"),
        ("costCenter", "costCenter"),
        ("organization", "organization"),
        ("division", "division"),
        ("manager.value", "manager"),
    ]
    .into_iter()
    .filter_map(|(a, k)| {
        let attribute = if CORE.contains(&a) {
            a.to_owned()
        } else {
            format!("{ENTERPRISE}:{a}")
        };
        tag(k).map(|tag| AttributeTag { attribute, tag })
    })
    .collect()
}

impl Default for ProvisioningSettings {
    fn default() -> Self {
        Self {
            attribute_tags: default_attribute_tags(),
            groups_claim_values: GroupsClaimValues::Names,
            link_claim: sub(),
            provisioned_only: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_with_defaults() {
        let s: ProvisioningSettings = serde_json::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, ProvisioningSettings::default());
        assert_eq!(s.link_claim.as_str(), "sub");
        assert!(s.attribute_tags.iter().any(|m| m.tag == "department"));
        let s: ProvisioningSettings = serde_json::from_str(
            r#"{"attribute_tags": [], "groups_claim_values": "ids", "link_claim": "oid", "provisioned_only": true}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.groups_claim_values, GroupsClaimValues::Ids);
        assert!(s.attribute_tags.is_empty());
    }
}
