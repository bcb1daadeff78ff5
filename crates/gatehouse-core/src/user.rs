//! Users of an application: profile fields, tags, groups, status and the IdP
//! identities `(issuer, sub)` they are keyed by.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AppId, UserId};
use crate::validation::Invalid;

/// An e-mail address as given (case kept for display), compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// A plausible address: one `@`, something on each side, a dot-free or
    /// dotted domain, no whitespace or control characters, at most 254 bytes.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        let err = || Invalid::field("email", "must be an e-mail address such as ana@example.com");
        if raw.len() > 254 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err());
        }
        let (local, domain) = raw.split_once('@').ok_or_else(err)?;
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(err());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lowercase form used for lookups and uniqueness.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a user may sign in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// May sign in.
    #[default]
    Active,
    /// May not sign in; existing sessions are ended.
    Disabled,
}

impl UserStatus {
    /// `"active"` or `"disabled"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// Parse the stored form.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            _ => Err(Invalid::field(
                "status",
                "must be \"active\" or \"disabled\"",
            )),
        }
    }
}

/// Where a tag came from. Sign-in replaces the IdP's tags with what the
/// claims say now, provisioning (SCIM) replaces its own; tags set by an
/// administrator stay. A tag with one key may be held from several sources
/// at once, and access rules see them all.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TagSource {
    /// Mapped from an IdP claim at sign-in.
    Idp,
    /// Set through the API or console.
    #[default]
    Admin,
    /// Mapped from a SCIM attribute by provisioning.
    Scim,
}

impl TagSource {
    /// `"idp"`, `"admin"` or `"scim"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idp => "idp",
            Self::Admin => "admin",
            Self::Scim => "scim",
        }
    }

    /// Parse the stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "idp" => Some(Self::Idp),
            "admin" => Some(Self::Admin),
            "scim" => Some(Self::Scim),
            _ => None,
        }
    }
}

/// Where a group membership came from: each source replaces only its own
/// (a sign-in the `claim` memberships, SCIM the `scim` ones, an
/// administrator the `admin` ones); grants see them all.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum GroupSource {
    /// The IdP's groups claim at sign-in.
    Claim,
    /// Provisioning (a SCIM Group's members).
    Scim,
    /// Set through the API or console.
    #[default]
    Admin,
}

impl GroupSource {
    /// `"claim"`, `"scim"` or `"admin"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Scim => "scim",
            Self::Admin => "admin",
        }
    }

    /// Parse the stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "claim" => Some(Self::Claim),
            "scim" => Some(Self::Scim),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A user's membership of a group, by the group's current display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Membership {
    /// The group's display name (what grants by group match).
    pub name: String,
    /// Where the membership came from.
    pub source: GroupSource,
}

impl Membership {
    /// A membership of `name` from `source`.
    pub fn new(name: impl Into<String>, source: GroupSource) -> Self {
        Self {
            name: name.into(),
            source,
        }
    }
}

/// Why a user may not sign in, if they may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deactivation {
    /// An administrator disabled the user.
    DisabledByAdmin,
    /// Provisioning set `active: false`.
    DeactivatedByProvisioning,
    /// Provisioning deleted the user (a tombstone).
    DeletedByProvisioning,
}

impl Deactivation {
    /// A stable reason for logs and audit events.
    pub fn reason(self) -> &'static str {
        match self {
            Self::DisabledByAdmin => "disabled_by_admin",
            Self::DeactivatedByProvisioning => "deactivated_by_provisioning",
            Self::DeletedByProvisioning => "deleted_by_provisioning",
        }
    }
}

/// A key/value on a user. Custom IdP claims become tags; tags can be used in
/// access rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tag {
    /// The key.
    pub key: TagKey,
    /// The value: up to 1024 characters.
    pub value: String,
    /// Where it came from.
    #[serde(default)]
    pub source: TagSource,
}

impl Tag {
    /// Parse a tag, naming `field` on error.
    pub fn parse(key: &str, value: &str, source: TagSource, field: &str) -> Result<Self, Invalid> {
        let key = TagKey::parse(key, &format!("{field}.key"))?;
        if value.chars().count() > 1024 || value.chars().any(char::is_control) {
            return Err(Invalid::field(
                format!("{field}.value"),
                "must be at most 1024 characters without control characters",
            ));
        }
        Ok(Self {
            key,
            value: value.to_owned(),
            source,
        })
    }
}

/// A tag key: 1-64 of ASCII letters, digits, `_ . : -`. Only
/// [`TagKey::parse`] makes one (stored keys are parsed again when read).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TagKey(String);

impl TagKey {
    /// Parse a tag key; `field` names it in the error.
    pub fn parse(key: &str, field: &str) -> Result<Self, Invalid> {
        let ok = !key.is_empty()
            && key.len() <= 64
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if ok {
            Ok(Self(key.to_owned()))
        } else {
            Err(Invalid::field(
                field,
                "a tag key is 1-64 letters, digits, '_', '.', ':' or '-'",
            ))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TagKey {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw, "key")
    }
}

impl From<TagKey> for String {
    fn from(k: TagKey) -> Self {
        k.0
    }
}

impl PartialEq<&str> for TagKey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for TagKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Check a group name: 1-256 characters without control characters.
pub fn parse_group(name: &str, field: &str) -> Result<String, Invalid> {
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(Invalid::field(
            field,
            "a group name is 1-256 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// A first or last name: at most 200 characters, no control characters.
pub fn parse_name(raw: &str, field: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Invalid::field(
            field,
            "must be at most 200 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// A local password: 8 to 1024 characters.
pub fn check_password_policy(password: &str) -> Result<(), Invalid> {
    let n = password.chars().count();
    if !(8..=1024).contains(&n) {
        return Err(Invalid::field(
            "password",
            "must be at least 8 and at most 1024 characters",
        ));
    }
    Ok(())
}

/// An identity at an IdP: the user a sign-in is for is found by this pair,
/// never by e-mail alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// The IdP's issuer URL (the token's own `iss`: for Entra ID
    /// multi-tenant, the tenant's).
    pub issuer: crate::sso::IssuerUrl,
    /// The IdP's subject identifier.
    pub subject: String,
}

impl Identity {
    /// The identity `sub` at `issuer`.
    pub fn of(issuer: &crate::sso::IssuerUrl, sub: &str) -> Self {
        Self {
            issuer: issuer.clone(),
            subject: sub.to_owned(),
        }
    }
}

/// A user of an application.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    /// Stable id, sent upstream as `X-Auth-Request-User`.
    pub id: UserId,
    /// The application the user belongs to.
    pub app_id: AppId,
    /// E-mail address.
    pub email: Email,
    /// First name.
    pub first_name: String,
    /// Last name (optional: empty when unknown).
    pub last_name: String,
    /// Tags, sorted by key then value.
    pub tags: Vec<Tag>,
    /// Group memberships, sorted by name then source (a group may be held
    /// from several sources).
    pub groups: Vec<Membership>,
    /// Whether an administrator lets the user sign in (provisioning's
    /// `active` is [`User::scim_active`]; an administrator's disable wins).
    pub status: UserStatus,
    /// SCIM's `userName`, unique in the application (case-insensitively);
    /// users made at sign-in or by an administrator get their e-mail.
    pub user_name: String,
    /// SCIM's `externalId` (the IdP's id of the user), if provisioned.
    pub external_id: Option<String>,
    /// SCIM's `displayName`, when provisioning sent one (else the names).
    pub display_name: Option<String>,
    /// SCIM's `active`: `false` once provisioning deactivated the user.
    pub scim_active: bool,
    /// The user's version as read (every write of the user bumps it): a
    /// provisioning write of an older version is refused (and retried), so
    /// that a concurrent SCIM request, sign-in or administrator's change is
    /// never undone by it (a deactivation above all).
    pub scim_version: i64,
    /// Whether provisioning made or adopted the user.
    pub provisioned: bool,
    /// When provisioning deleted the user: a tombstone that SCIM no longer
    /// sees and that refuses the next sign-in.
    #[serde(with = "time::serde::rfc3339::option")]
    pub deprovisioned_at: Option<OffsetDateTime>,
    /// Linked IdP identities.
    pub identities: Vec<Identity>,
    /// Whether the e-mail address is verified: `Some(true)` for local and
    /// administrator-created users and for IdP sign-ins with
    /// `email_verified: true` (or `trust_email`), `None` when unknown
    /// (users from before this was stored, until their next sign-in). Only
    /// a verified address earns e-mail grants or links identities.
    pub email_verified: Option<bool>,
    /// Whether the user has a local password (the hash itself never leaves the store).
    pub has_password: bool,
    /// When created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the user last signed in.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
}

impl User {
    /// Why the user may not sign in, or `None` if they may (an
    /// administrator's disable first: it wins over provisioning).
    pub fn deactivation(&self) -> Option<Deactivation> {
        if self.status != UserStatus::Active {
            Some(Deactivation::DisabledByAdmin)
        } else if self.deprovisioned_at.is_some() {
            Some(Deactivation::DeletedByProvisioning)
        } else if !self.scim_active {
            Some(Deactivation::DeactivatedByProvisioning)
        } else {
            None
        }
    }

    /// Whether the user may sign in and keep their sessions.
    pub fn may_sign_in(&self) -> bool {
        self.deactivation().is_none()
    }

    /// The names of the user's groups, sorted, each once.
    pub fn group_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.groups.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The names of the user's groups, each once, without allocating: the
    /// memberships are sorted by name (as [`User::groups`] keeps them), so
    /// a group held from several sources comes in a row.
    pub fn group_names_iter(&self) -> impl Iterator<Item = &str> {
        let mut last: Option<&str> = None;
        self.groups.iter().filter_map(move |m| {
            let name = m.name.as_str();
            if last == Some(name) {
                None
            } else {
                last = Some(name);
                Some(name)
            }
        })
    }

    /// Whether the user is a member of `name` from any source.
    pub fn in_group(&self, name: &str) -> bool {
        self.groups.iter().any(|m| m.name == name)
    }

    /// Replace the memberships from `source` with `names` (sorted, each
    /// once), keeping the other sources'.
    pub fn set_groups_from(&mut self, source: GroupSource, names: &[String]) {
        self.groups.retain(|m| m.source != source);
        self.groups
            .extend(names.iter().map(|n| Membership::new(n.clone(), source)));
        self.groups.sort();
        self.groups.dedup();
    }

    /// The names of the memberships from `source`, sorted.
    pub fn groups_from(&self, source: GroupSource) -> Vec<String> {
        self.groups
            .iter()
            .filter(|m| m.source == source)
            .map(|m| m.name.clone())
            .collect()
    }

    /// A new active user of `app` made at `now`: a fresh id, no names, tags,
    /// groups, identities or password, the address not known to be verified.
    /// Callers fill in what they know with struct update syntax.
    pub fn new(app: AppId, email: Email, now: OffsetDateTime) -> Self {
        Self {
            id: UserId::new(),
            app_id: app,
            user_name: email.as_str().to_owned(),
            email,
            first_name: String::new(),
            last_name: String::new(),
            tags: Vec::new(),
            groups: Vec::new(),
            status: UserStatus::Active,
            external_id: None,
            display_name: None,
            scim_active: true,
            scim_version: 0,
            provisioned: false,
            deprovisioned_at: None,
            identities: Vec::new(),
            email_verified: None,
            has_password: false,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_normalized() {
        let e = Email::parse(" Ana@Example.COM ").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.as_str(), "Ana@Example.COM");
        assert_eq!(e.normalized(), "ana@example.com");
        for bad in [
            "", "ana", "@x.com", "ana@", "a@b@c", "a b@c.d", "a@.com", "a@b..c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_group_held_from_several_sources_is_named_once() {
        let mut u = User::new(
            crate::AppId::new(),
            Email::parse("a@b.c").unwrap_or_else(|e| panic!("{e}")),
            OffsetDateTime::UNIX_EPOCH,
        );
        u.set_groups_from(GroupSource::Claim, &["eng".into(), "ops".into()]);
        u.set_groups_from(GroupSource::Scim, &["eng".into(), "zeta".into()]);
        u.set_groups_from(GroupSource::Admin, &["eng".into()]);
        assert_eq!(u.group_names(), vec!["eng", "ops", "zeta"]);
        assert_eq!(
            u.group_names_iter().collect::<Vec<_>>(),
            vec!["eng", "ops", "zeta"]
        );
        u.set_groups_from(GroupSource::Claim, &[]);
        assert_eq!(u.groups_from(GroupSource::Scim), vec!["eng", "zeta"]);
        assert!(u.in_group("eng") && !u.in_group("ops"));
    }

    #[test]
    fn tags_are_checked() {
        assert!(Tag::parse("dept", "R&D", TagSource::Admin, "tags[0]").is_ok());
        let e = Tag::parse("bad key", "v", TagSource::Admin, "tags[0]")
            .err()
            .map(|e| e.errors[0].field.clone());
        assert_eq!(e.as_deref(), Some("tags[0].key"));
    }
}
