//! The file format of applications as code: TOML (or the same shape in
//! JSON), one `[[app]]` table per application with the keys of the admin
//! API, and the conversions between it and the validated settings.
//!
//! A value read from the file is only text here; [`super::plan`] checks it
//! through the same validation as the API.

use gatehouse_core::access::{AccessPolicy, Grant, Subject};
use gatehouse_core::api_access::{ApiAccess, ApiAccessInput};
use gatehouse_core::provisioning::{GroupsClaimValues, ProvisioningSettings};
use gatehouse_core::sso::{
    ClaimMappingsInput, ClientAuthMethod, OidcExtra, OidcSettings, OidcSettingsInput,
    OtherMappingInput,
};
use gatehouse_core::{Application, Invalid};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

/// A whole file: the applications it manages.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppsFile {
    /// One entry per application, keyed by `slug`.
    #[serde(default)]
    pub app: Vec<AppDoc>,
}

/// One application (`[[app]]`): the keys of `POST /api/v1/apps`, plus its
/// sections.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppDoc {
    /// Pins the application: with it, a changed `slug` renames the
    /// application instead of replacing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The application's slug: what the file and the instance are matched by.
    #[serde(default)]
    pub slug: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Host entries.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Where signed-in requests go (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_url: Option<String>,
    /// `http` or `https` (absent: as `POST /api/v1/apps` infers it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Prefix of Gatehouse's routes (absent: `/auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_prefix: Option<String>,
    /// SSO OIDC settings (absent: SSO off, the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<SsoDoc>,
    /// The application's grants: the whole set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant: Vec<GrantDoc>,
    /// Access policy and path switches (absent: the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessDoc>,
    /// Bearer-token API access (absent: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_access: Option<ApiAccessInput>,
    /// Provisioning (SCIM) settings (absent: the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<ProvisioningDoc>,
}

/// `[app.sso]`: the keys of `PUT .../sso/oidc`, with the client secret
/// named by where it is (`client_secret_env`, `client_secret_file`), never
/// written inline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoDoc {
    /// The Enabled toggle.
    #[serde(default)]
    pub enabled: bool,
    /// Issuer URL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer_url: String,
    /// Client ID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    /// Refused: a file kept in git must not hold the secret. Only here to
    /// say so instead of "unknown field".
    #[serde(default, skip_serializing)]
    pub client_secret: Option<toml::Value>,
    /// The environment variable holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// The file holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<String>,
    /// Scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
    /// Claim mappings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_mappings: Option<ClaimMappingsDoc>,
    /// Groups claim (absent: `groups`; empty: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    /// Token endpoint authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// Treat the IdP's e-mail addresses as verified.
    #[serde(default, skip_serializing_if = "is_false")]
    pub trust_email: bool,
    /// Advanced options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<OidcExtra>,
}

/// Claim mappings (`[app.sso.claim_mappings]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMappingsDoc {
    /// E-mail claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// First Name claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last Name claim (empty: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Other claims stored as tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<OtherMappingDoc>,
}

/// One other-claim mapping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherMappingDoc {
    /// The claim.
    pub claim: String,
    /// The tag key.
    pub tag: String,
}

/// `[[app.grant]]`: a role granted to a subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantDoc {
    /// The role.
    pub role: String,
    /// Who: `{ email = .. }`, `{ group = .. }` or `{ tag = { key = .., value = .. } }`.
    pub subject: SubjectDoc,
}

/// A grant's subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SubjectDoc {
    /// A user by e-mail.
    Email(String),
    /// Members of a group.
    Group(String),
    /// Users with a tag.
    Tag {
        /// Tag key.
        key: String,
        /// Tag value.
        value: String,
    },
}

impl SubjectDoc {
    /// The subject, checked.
    pub(crate) fn parse(&self) -> Result<Subject, Invalid> {
        match self {
            Self::Email(e) => Subject::email(e),
            Self::Group(g) => Subject::group(g),
            Self::Tag { key, value } => Subject::tag(key, value),
        }
    }

    fn of(s: &Subject) -> Self {
        match s {
            Subject::Email(e) => Self::Email(e.clone()),
            Subject::Group(g) => Self::Group(g.clone()),
            Subject::Tag { key, value } => Self::Tag {
                key: key.to_string(),
                value: value.clone(),
            },
        }
    }
}

/// `[app.access]`: the access policy and the path switches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessDoc {
    /// The role of users no grant matches (absent: they are refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_role: Option<String>,
    /// Route rules, in order (first match decides).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteDoc>,
    /// Pass encoded slashes to the upstream.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pass_encoded_slashes: bool,
    /// The upstream reads paths as Windows/IIS does.
    #[serde(default, skip_serializing_if = "is_false")]
    pub windows_paths: bool,
    /// Extra request headers removed before proxying.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strip_headers: Vec<String>,
}

/// One route rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDoc {
    /// A path prefix.
    pub prefix: String,
    /// Roles that may reach it.
    pub roles: Vec<String>,
}

/// `[app.provisioning]`: the SCIM settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningDoc {
    /// SCIM attributes mapped to tags (absent: the default mappings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_tags: Option<Vec<AttributeTagDoc>>,
    /// `names` or `ids`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim_values: Option<GroupsClaimValues>,
    /// The sign-in claim equal to a provisioned user's `externalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_claim: Option<String>,
    /// Only provisioned users may sign in.
    #[serde(default, skip_serializing_if = "is_false")]
    pub provisioned_only: bool,
}

/// One SCIM attribute mapped to a tag.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeTagDoc {
    /// The SCIM attribute.
    pub attribute: String,
    /// The tag key.
    pub tag: String,
}

// ---- file → inputs ------------------------------------------------------

impl SsoDoc {
    /// The API's input for these settings, with the client secret to store
    /// (`Some("")` removes it, `None` keeps it).
    pub(crate) fn input(&self, client_secret: Option<SecretString>) -> OidcSettingsInput {
        let m = self.claim_mappings.clone().unwrap_or_default();
        OidcSettingsInput {
            enabled: self.enabled,
            issuer_url: self.issuer_url.clone(),
            client_id: self.client_id.clone(),
            client_secret,
            scopes: self.scopes.clone(),
            claim_mappings: ClaimMappingsInput {
                email: m.email,
                first_name: m.first_name,
                last_name: m.last_name,
                other: m
                    .other
                    .into_iter()
                    .map(|o| OtherMappingInput {
                        claim: o.claim,
                        tag: o.tag,
                    })
                    .collect(),
            },
            groups_claim: self.groups_claim.clone(),
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            trust_email: self.trust_email,
            extra: self.extra.clone().unwrap_or_default(),
        }
    }
}

impl AccessDoc {
    /// The API's input for this policy.
    pub(crate) fn input(&self) -> gatehouse_core::access::AccessPolicyInput {
        gatehouse_core::access::AccessPolicyInput {
            default_role: self.default_role.clone(),
            routes: self
                .routes
                .iter()
                .map(|r| gatehouse_core::access::RouteRuleInput {
                    prefix: r.prefix.clone(),
                    roles: r.roles.clone(),
                })
                .collect(),
            pass_encoded_slashes: self.pass_encoded_slashes,
            windows_paths: self.windows_paths,
            strip_headers: self.strip_headers.clone(),
        }
    }
}

impl ProvisioningDoc {
    /// The API's input for these settings: every field set (the file is
    /// the whole state).
    pub(crate) fn input(&self) -> crate::provisioning::ProvisioningInput {
        let defaults = ProvisioningSettings::default();
        crate::provisioning::ProvisioningInput {
            attribute_tags: Some(match &self.attribute_tags {
                Some(maps) => maps
                    .iter()
                    .map(|m| crate::provisioning::AttributeTagInput {
                        attribute: m.attribute.clone(),
                        tag: m.tag.clone(),
                    })
                    .collect(),
                None => defaults
                    .attribute_tags
                    .iter()
                    .map(|m| crate::provisioning::AttributeTagInput {
                        attribute: m.attribute.clone(),
                        tag: m.tag.to_string(),
                    })
                    .collect(),
            }),
            groups_claim_values: Some(self.groups_claim_values.unwrap_or_default()),
            link_claim: Some(
                self.link_claim
                    .clone()
                    .unwrap_or_else(|| defaults.link_claim.as_str().to_owned()),
            ),
            provisioned_only: Some(self.provisioned_only),
        }
    }
}

// ---- state → file (export) ------------------------------------------------

/// The environment variable an export names for an application's client
/// secret: `<SLUG>_CLIENT_SECRET`, the slug upper-cased with `-` as `_`.
pub fn secret_env_name(slug: &str) -> String {
    let mut name: String = slug
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    name.push_str("_CLIENT_SECRET");
    name
}

/// What an export writes for one application.
pub(crate) struct CurrentView<'a> {
    pub app: &'a Application,
    pub sso: &'a OidcSettings,
    pub secret_set: bool,
    pub grants: &'a [Grant],
    pub access: &'a AccessPolicy,
    pub api: &'a ApiAccess,
    pub provisioning: &'a ProvisioningSettings,
}

impl AppDoc {
    /// The entry that applies to this state again.
    pub(crate) fn of(c: &CurrentView<'_>) -> Self {
        let app = c.app;
        let default_access = AccessPolicy::default();
        let default_prov = ProvisioningSettings::default();
        let sso_default = *c.sso == OidcSettings::default() && !c.secret_set;
        Self {
            id: Some(app.id.to_string()),
            slug: app.slug.to_string(),
            name: app.name.clone(),
            hosts: app.hosts.iter().map(ToString::to_string).collect(),
            upstream_url: app.upstream_url.as_ref().map(|u| u.as_str().to_owned()),
            scheme: Some(app.scheme.to_string()),
            auth_prefix: (app.auth_prefix != gatehouse_core::AuthPrefix::default())
                .then(|| app.auth_prefix.to_string()),
            sso: (!sso_default).then(|| sso_doc(c.sso, c.secret_set, app.slug.as_str())),
            grant: c
                .grants
                .iter()
                .map(|g| GrantDoc {
                    role: g.role.as_str().to_owned(),
                    subject: SubjectDoc::of(&g.subject),
                })
                .collect(),
            access: (*c.access != default_access).then(|| AccessDoc {
                default_role: c
                    .access
                    .default_role
                    .as_ref()
                    .map(|r| r.as_str().to_owned()),
                routes: c
                    .access
                    .routes
                    .iter()
                    .map(|r| RouteDoc {
                        prefix: r.prefix.clone(),
                        roles: r.roles.iter().map(|r| r.as_str().to_owned()).collect(),
                    })
                    .collect(),
                pass_encoded_slashes: c.access.pass_encoded_slashes,
                windows_paths: c.access.windows_paths,
                strip_headers: c.access.strip_headers.clone(),
            }),
            api_access: (*c.api != ApiAccess::default()).then(|| c.api.clone().into()),
            provisioning: (*c.provisioning != default_prov).then(|| ProvisioningDoc {
                attribute_tags: (c.provisioning.attribute_tags != default_prov.attribute_tags)
                    .then(|| {
                        c.provisioning
                            .attribute_tags
                            .iter()
                            .map(|m| AttributeTagDoc {
                                attribute: m.attribute.clone(),
                                tag: m.tag.to_string(),
                            })
                            .collect()
                    }),
                groups_claim_values: (c.provisioning.groups_claim_values
                    != GroupsClaimValues::default())
                .then_some(c.provisioning.groups_claim_values),
                link_claim: (c.provisioning.link_claim != default_prov.link_claim)
                    .then(|| c.provisioning.link_claim.as_str().to_owned()),
                provisioned_only: c.provisioning.provisioned_only,
            }),
        }
    }
}

fn sso_doc(s: &OidcSettings, secret_set: bool, slug: &str) -> SsoDoc {
    let defaults = OidcSettings::default();
    let m = &s.claim_mappings;
    let dm = &defaults.claim_mappings;
    let mappings = ClaimMappingsDoc {
        email: (m.email != dm.email).then(|| m.email.as_str().to_owned()),
        first_name: (m.first_name != dm.first_name).then(|| m.first_name.as_str().to_owned()),
        last_name: (m.last_name != dm.last_name).then(|| {
            m.last_name
                .as_ref()
                .map_or_else(String::new, |p| p.as_str().to_owned())
        }),
        other: m
            .other
            .iter()
            .map(|o| OtherMappingDoc {
                claim: o.claim.as_str().to_owned(),
                tag: o.tag.to_string(),
            })
            .collect(),
    };
    let mappings_default = mappings.email.is_none()
        && mappings.first_name.is_none()
        && mappings.last_name.is_none()
        && mappings.other.is_empty();
    SsoDoc {
        enabled: s.enabled,
        issuer_url: s
            .issuer_url
            .as_ref()
            .map(|i| i.as_str().to_owned())
            .unwrap_or_default(),
        client_id: s.client_id.clone(),
        client_secret: None,
        client_secret_env: secret_set.then(|| secret_env_name(slug)),
        client_secret_file: None,
        scopes: (s.scopes != defaults.scopes).then(|| s.scopes.clone()),
        claim_mappings: (!mappings_default).then_some(mappings),
        groups_claim: (s.groups_claim != defaults.groups_claim).then(|| {
            s.groups_claim
                .as_ref()
                .map_or_else(String::new, |p| p.as_str().to_owned())
        }),
        token_endpoint_auth_method: (s.token_endpoint_auth_method
            != defaults.token_endpoint_auth_method)
            .then_some(s.token_endpoint_auth_method),
        trust_email: s.trust_email,
        extra: (s.extra != defaults.extra).then(|| s.extra.clone()),
    }
}
