//! Grants of roles, and an application's access policy.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AppId, GrantId};
use crate::user::{Email, TagKey, parse_group};
use crate::validation::{Collector, Invalid};

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// A user by e-mail (case-insensitive).
    Email(String),
    /// Members of an IdP group.
    Group(String),
    /// Users with a tag `key` = `value`.
    Tag {
        /// Tag key.
        key: TagKey,
        /// Tag value.
        value: String,
    },
}

impl Subject {
    /// The subject as one token, for plans and the command line:
    /// `email:ana@x`, `group:eng`, `tag:dept=R&D`.
    pub fn label(&self) -> String {
        match self {
            Self::Email(e) => format!("email:{e}"),
            Self::Group(g) => format!("group:{g}"),
            Self::Tag { key, value } => format!("tag:{key}={value}"),
        }
    }

    /// A short text for lists: `email ana@x`, `group eng`, `tag dept=R&D`.
    pub fn describe(&self) -> String {
        match self {
            Self::Email(e) => format!("email {e}"),
            Self::Group(g) => format!("group {g}"),
            Self::Tag { key, value } => format!("tag {key}={value}"),
        }
    }
}

/// A role granted to a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Id.
    pub id: GrantId,
    /// The application.
    pub app_id: AppId,
    /// The role.
    pub role: Role,
    /// Who.
    pub subject: Subject,
    /// When created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A role name: the built-ins `admin`, `member`, `viewer`, or a custom name
/// of 1-64 lowercase letters, digits, `-`, `_`, `.`, `:`. Only
/// [`Role::parse`] makes one (stored roles are parsed again when read).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Role(String);

impl Role {
    /// Parse a role name (trimmed); `field` names it in the error.
    pub fn parse(raw: &str, field: &str) -> Result<Self, Invalid> {
        let r = raw.trim();
        let ok = !r.is_empty()
            && r.len() <= 64
            && r.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'-' | b'_' | b'.' | b':')
            });
        if ok {
            Ok(Self(r.to_owned()))
        } else {
            Err(Invalid::field(
                field,
                "a role is 1-64 lowercase letters, digits, '-', '_', '.' or ':' (built-ins: admin, member, viewer)",
            ))
        }
    }

    /// The built-in role `member`.
    pub fn member() -> Self {
        Self("member".to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `roles` joined by `sep`, for headers and messages.
    pub fn join(roles: &[Self], sep: &str) -> String {
        let names: Vec<&str> = roles.iter().map(Self::as_str).collect();
        names.join(sep)
    }
}

impl TryFrom<String> for Role {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw, "role")
    }
}

impl From<Role> for String {
    fn from(r: Role) -> Self {
        r.0
    }
}

impl PartialEq<&str> for Role {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A grant as sent: `{"role", "subject": {"email": ..} | {"group": ..} | {"tag": {"key", "value"}}}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantInput {
    /// The role.
    #[serde(default)]
    pub role: String,
    /// Who: exactly one of `email`, `group`, `tag`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub subject: serde_json::Value,
}

/// A grant to make: a valid role and a valid subject. Made from the API's
/// [`GrantInput`] or, by the console and the CLI, from their own fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    /// The role.
    pub role: Role,
    /// Who.
    pub subject: Subject,
}

impl NewGrant {
    /// A grant of `role` (parsed here) to `subject` (parsed by one of
    /// [`Subject`]'s constructors); every field at fault is named.
    pub fn new(role: &str, subject: Result<Subject, Invalid>) -> Result<Self, Invalid> {
        let mut c = Collector::new();
        let role = c.check(Role::parse(role, "role"));
        let subject = c.check(subject);
        c.finish()?;
        match (role, subject) {
            (Some(role), Some(subject)) => Ok(Self { role, subject }),
            _ => Err(Invalid::field("subject", "invalid")),
        }
    }
}

impl GrantInput {
    /// Parse into the grant to make.
    pub fn validate(&self) -> Result<NewGrant, Invalid> {
        NewGrant::new(&self.role, parse_subject(&self.subject))
    }
}

impl Subject {
    /// Users with this (verified) e-mail address.
    pub fn email(raw: &str) -> Result<Self, Invalid> {
        let email = Email::parse(raw.trim())
            .map_err(|_| Invalid::field("subject.email", "must be an e-mail address"))?;
        Ok(Self::Email(email.normalized()))
    }

    /// Members of this group.
    pub fn group(raw: &str) -> Result<Self, Invalid> {
        Ok(Self::Group(parse_group(raw.trim(), "subject.group")?))
    }

    /// Users with this tag.
    pub fn tag(key: &str, value: &str) -> Result<Self, Invalid> {
        let key = TagKey::parse(key.trim(), "subject.tag.key")?;
        if value.chars().count() > 1024 || value.chars().any(char::is_control) {
            return Err(Invalid::field(
                "subject.tag.value",
                "must be at most 1024 characters without control characters",
            ));
        }
        Ok(Self::Tag {
            key,
            value: value.to_owned(),
        })
    }
}

fn parse_subject(v: &serde_json::Value) -> Result<Subject, Invalid> {
    let bad = || {
        Invalid::field(
            "subject",
            "must be {\"email\": ...}, {\"group\": ...} or {\"tag\": {\"key\": ..., \"value\": ...}}",
        )
    };
    let obj = v.as_object().filter(|o| o.len() == 1).ok_or_else(bad)?;
    let (kind, value) = obj.iter().next().ok_or_else(bad)?;
    match (kind.as_str(), value) {
        ("email", serde_json::Value::String(e)) => Subject::email(e),
        ("group", serde_json::Value::String(g)) => Subject::group(g),
        ("tag", serde_json::Value::Object(t)) => {
            let text = |k: &str| t.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
            Subject::tag(text("key"), text("value"))
        }
        _ => Err(bad()),
    }
}

/// A per-route rule: requests whose path starts with `prefix` need one of `roles`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteRule {
    /// A canonical path prefix such as `/admin` (matches `/admin` and
    /// `/admin/...`; `/` matches everything).
    pub prefix: String,
    /// Roles that may reach it (any one suffices; never empty).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub roles: Vec<Role>,
}

/// An application's access policy, validated ([`AccessPolicyInput::validate`]
/// makes one; the stored copy is read back through the same types).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct AccessPolicy {
    /// The role of users no grant matches; `None`: they are refused (the default).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub default_role: Option<Role>,
    /// Rules evaluated in order; the first whose prefix matches decides.
    /// Prefixes are stored canonical (see [`crate::target`]) and match by
    /// whole segment.
    pub routes: Vec<RouteRule>,
    /// Pass encoded slashes (`%2F`) in paths to the upstream unchanged
    /// instead of refusing them with 400.
    pub pass_encoded_slashes: bool,
    /// The upstream reads paths as Windows/IIS does: rules match
    /// case-insensitively and ignore trailing dots and spaces.
    pub windows_paths: bool,
    /// Extra request headers removed before proxying (as keys: lowercase,
    /// `_` as `-`), besides the ones Gatehouse always removes.
    pub strip_headers: Vec<String>,
}

/// A route rule as sent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRuleInput {
    /// A path prefix such as `/admin`.
    pub prefix: String,
    /// Roles that may reach it (any one suffices).
    pub roles: Vec<String>,
}

/// An access policy as sent (`PUT /api/v1/apps/{id}/access`, the console
/// form); [`AccessPolicyInput::validate`] turns it into an [`AccessPolicy`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AccessPolicyInput {
    /// The role of users no grant matches; empty or absent: they are refused.
    #[serde(default)]
    pub default_role: Option<String>,
    /// Rules, in order: the first whose prefix matches decides.
    #[serde(default)]
    pub routes: Vec<RouteRuleInput>,
    /// Pass encoded slashes (`%2F`) to the upstream instead of refusing them.
    #[serde(default)]
    pub pass_encoded_slashes: bool,
    /// The upstream reads paths as Windows/IIS does.
    #[serde(default)]
    pub windows_paths: bool,
    /// Extra request headers removed before proxying (names, any case;
    /// `_` and `-` are the same).
    #[serde(default)]
    pub strip_headers: Vec<String>,
}

/// The most extra header names an application may list.
pub const MAX_STRIP_HEADERS: usize = 64;

/// A header name as a key that treats case and `_`/`-` alike.
pub fn header_key(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'_' => '-',
            _ => char::from(b.to_ascii_lowercase()),
        })
        .collect()
}

impl AccessPolicyInput {
    /// Validate a policy as sent; every field at fault is named.
    pub fn validate(self) -> Result<AccessPolicy, Invalid> {
        let mut c = Collector::new();
        let default_role = match self.default_role.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) => c.check(Role::parse(r, "default_role")),
        };
        let opts = crate::target::PathOptions {
            pass_encoded_slashes: self.pass_encoded_slashes,
            windows: self.windows_paths,
        };
        let mut routes = Vec::new();
        for (i, r) in self.routes.into_iter().enumerate() {
            let raw = r.prefix.trim();
            let prefix = if raw.contains(['?', '#']) || raw.chars().any(char::is_whitespace) {
                None
            } else {
                crate::target::canonicalize(raw, opts).ok()
            };
            let prefix = match prefix {
                Some(p) => {
                    let key = p.match_key().trim_end_matches('/');
                    if key.is_empty() {
                        "/".to_owned()
                    } else {
                        key.to_owned()
                    }
                }
                None => {
                    c.push(
                        format!("routes[{i}].prefix"),
                        "must be a path such as /admin (no query, ';', backslash, encoded slash or encoded dot segment)",
                    );
                    String::new()
                }
            };
            if r.roles.is_empty() {
                c.push(format!("routes[{i}].roles"), "name at least one role");
            }
            let roles: Vec<Role> = r
                .roles
                .iter()
                .enumerate()
                .filter_map(|(j, role)| {
                    c.check(Role::parse(role, &format!("routes[{i}].roles[{j}]")))
                })
                .collect();
            routes.push(RouteRule { prefix, roles });
        }
        let mut strip_headers: Vec<String> = Vec::new();
        if self.strip_headers.len() > MAX_STRIP_HEADERS {
            c.push(
                "strip_headers",
                format!("list at most {MAX_STRIP_HEADERS} header names"),
            );
        }
        for (i, h) in self.strip_headers.iter().enumerate() {
            let h = h.trim();
            let ok = !h.is_empty()
                && h.len() <= 128
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if ok {
                let key = header_key(h);
                if !strip_headers.contains(&key) {
                    strip_headers.push(key);
                }
            } else {
                c.push(
                    format!("strip_headers[{i}]"),
                    "must be a header name such as X-Tenant",
                );
            }
        }
        c.finish()?;
        Ok(AccessPolicy {
            default_role,
            routes,
            pass_encoded_slashes: self.pass_encoded_slashes,
            windows_paths: self.windows_paths,
            strip_headers,
        })
    }
}

impl From<AccessPolicy> for AccessPolicyInput {
    /// The input that validates to `p` again (to change some of its fields).
    fn from(p: AccessPolicy) -> Self {
        Self {
            default_role: p.default_role.map(String::from),
            routes: p
                .routes
                .into_iter()
                .map(|r| RouteRuleInput {
                    prefix: r.prefix,
                    roles: r.roles.into_iter().map(String::from).collect(),
                })
                .collect(),
            pass_encoded_slashes: p.pass_encoded_slashes,
            windows_paths: p.windows_paths,
            strip_headers: p.strip_headers,
        }
    }
}

impl AccessPolicy {
    /// How request paths are read for this application.
    pub fn path_options(&self) -> crate::target::PathOptions {
        crate::target::PathOptions {
            pass_encoded_slashes: self.pass_encoded_slashes,
            windows: self.windows_paths,
        }
    }
}
