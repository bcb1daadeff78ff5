//! Gatehouse's users and groups as SCIM resources, and back: a User's
//! `userName`, `name.givenName`/`familyName`, primary e-mail, `active` and
//! `externalId` are user fields; other attributes (the enterprise
//! extension's `department`, `manager`, or `title`, ...) become tags as the
//! application's attribute-to-tag mappings say; `groups` is read-only,
//! derived from the memberships. A Group is its display name, external id
//! and the members provisioning gave it.

use gatehouse_core::group::Group;
use gatehouse_core::user::{Email, GroupSource, TagKey, TagSource, User};
use gatehouse_core::{GroupId, UserId};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ScimError, ScimType};
use crate::schema::{Attr, AttrType, ENTERPRISE_URN, GROUP_URN, USER, USER_URN};

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// An attribute of the User schema that can carry a tag: a simple one
/// (`title`, `department`) or a sub-attribute of a complex one
/// (`manager.value`; `manager` alone means `manager.value`).
#[derive(Debug, Clone, Copy)]
pub struct AttrRef {
    extension: Option<&'static str>,
    attr: &'static Attr,
    sub: Option<&'static Attr>,
}

/// The attributes that are user fields, never tags.
const FIELDS: &[&str] = &[
    "id",
    "externalId",
    "userName",
    "name",
    "displayName",
    "active",
    "emails",
    "groups",
    "meta",
];

impl AttrRef {
    /// Parse `raw`: a name of the core User schema or of the enterprise
    /// extension, with or without its URN, optionally `.sub`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (urn, rest) = match raw.rfind(':') {
            Some(i) => (Some(&raw[..i]), &raw[i + 1..]),
            None => (None, raw),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let located = match urn {
            Some(u) => USER.locate(Some(u), name),
            // A bare name: the core schema first, then the enterprise extension.
            None => USER
                .locate(None, name)
                .or_else(|| USER.locate(Some(ENTERPRISE_URN), name)),
        }
        .ok_or_else(|| {
            format!("{raw:?} is not an attribute of the User schema or its enterprise extension")
        })?;
        if located.extension.is_none()
            && FIELDS
                .iter()
                .any(|f| f.eq_ignore_ascii_case(located.attr.name))
        {
            return Err(format!("{} is a user field, not a tag", located.attr.name));
        }
        let sub = match (located.attr.ty, sub) {
            (AttrType::Complex, Some(s)) => Some(located.attr.sub_attr(s).ok_or_else(|| {
                format!("{raw:?}: {} has no sub-attribute {s:?}", located.attr.name)
            })?),
            (AttrType::Complex, None) => located.attr.sub_attr("value"),
            (_, Some(s)) => {
                return Err(format!(
                    "{raw:?}: {} has no sub-attribute {s:?}",
                    located.attr.name
                ));
            }
            (_, None) => None,
        };
        Ok(Self {
            extension: located.extension,
            attr: located.attr,
            sub,
        })
    }

    /// The full name (URN-qualified for the extension), as stored.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        if let Some(u) = self.extension {
            out.push_str(u);
            out.push(':');
        }
        out.push_str(self.attr.name);
        if let Some(s) = self.sub {
            out.push('.');
            out.push_str(s.name);
        }
        out
    }

    /// The object the attribute sits in: the resource, or its extension.
    fn container<'v>(&self, resource: &'v Value) -> Option<&'v Map<String, Value>> {
        let root = resource.as_object()?;
        match self.extension {
            None => Some(root),
            Some(urn) => root
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(urn))
                .and_then(|(_, v)| v.as_object()),
        }
    }

    /// The values of the attribute in a resource, as tag values.
    fn read(&self, resource: &Value) -> Vec<String> {
        let Some(c) = self.container(resource) else {
            return Vec::new();
        };
        let Some(v) = get_ci(c, self.attr.name) else {
            return Vec::new();
        };
        let v = match self.sub {
            Some(s) => match v {
                Value::Object(o) => get_ci(o, s.name).cloned().unwrap_or(Value::Null),
                // Some IdPs send `manager` as the id itself.
                other => other.clone(),
            },
            None => v.clone(),
        };
        let mut out = Vec::new();
        scalar_values(&v, &mut out);
        out
    }

    /// Write tag values into a resource at this attribute.
    fn write(&self, resource: &mut Map<String, Value>, values: &[&str]) {
        if values.is_empty() {
            return;
        }
        let target = match self.extension {
            None => resource,
            Some(urn) => {
                let ext = resource
                    .entry(urn.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                match ext.as_object_mut() {
                    Some(o) => o,
                    None => return,
                }
            }
        };
        let v = if self.attr.multi && self.sub.is_none() {
            Value::Array(
                values
                    .iter()
                    .map(|s| Value::String((*s).to_owned()))
                    .collect(),
            )
        } else {
            typed(self.sub.unwrap_or(self.attr), values[0])
        };
        match self.sub {
            Some(s) => {
                let mut o = Map::new();
                o.insert(s.name.to_owned(), v);
                target.insert(self.attr.name.to_owned(), Value::Object(o));
            }
            None => {
                target.insert(self.attr.name.to_owned(), v);
            }
        }
    }
}

/// A tag value read back as its attribute's type.
fn typed(a: &Attr, s: &str) -> Value {
    match a.ty {
        AttrType::Boolean => s
            .parse::<bool>()
            .map_or_else(|_| Value::String(s.to_owned()), Value::Bool),
        AttrType::Integer => s
            .parse::<i64>()
            .map_or_else(|_| Value::String(s.to_owned()), Value::from),
        _ => Value::String(s.to_owned()),
    }
}

fn scalar_values(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Array(items) => {
            for i in items {
                match i {
                    Value::Object(o) => {
                        if let Some(v) = get_ci(o, "value") {
                            scalar_values(v, out);
                        }
                    }
                    other => scalar_values(other, out),
                }
            }
        }
        _ => {}
    }
}

fn get_ci<'m>(m: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// One attribute-to-tag mapping of an application.
#[derive(Debug, Clone)]
pub struct TagMapping {
    /// The SCIM attribute.
    pub attribute: AttrRef,
    /// The tag key its values become.
    pub tag: TagKey,
}

/// A User resource as a client sent it (POST, PUT, or after a PATCH).
#[derive(Debug, Clone, PartialEq)]
pub struct UserFields {
    /// `userName`.
    pub user_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `name.givenName` (or the first word of `displayName`).
    pub given_name: String,
    /// `name.familyName` (or the rest of `displayName`).
    pub family_name: String,
    /// `displayName`.
    pub display_name: Option<String>,
    /// The primary e-mail (or the first, or `userName` if it is one).
    pub email: Email,
    /// `active` (default true).
    pub active: bool,
    /// Tags from the mapped attributes: key, value.
    pub tags: Vec<(TagKey, String)>,
}

/// Read a boolean as IdPs send them: `true`, or the strings `"True"`/`"False"` (Entra ID).
pub fn lenient_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn text(root: &Map<String, Value>, name: &str, max: usize) -> Result<Option<String>, ScimError> {
    match get_ci(root, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > max || s.chars().any(char::is_control) {
                return Err(invalid_value(format!(
                    "{name} must be at most {max} characters without control characters"
                )));
            }
            Ok(Some(s.to_owned()).filter(|s| !s.is_empty()))
        }
        Some(_) => Err(invalid_value(format!("{name} must be a string"))),
    }
}

/// Read a User resource.
pub fn parse_user(body: &Value, mappings: &[TagMapping]) -> Result<UserFields, ScimError> {
    let root = body.as_object().ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidSyntax, "the body must be a JSON object")
    })?;
    let user_name =
        text(root, "userName", 254)?.ok_or_else(|| invalid_value("userName is required"))?;
    let external_id = text(root, "externalId", 256)?;
    let (mut given, mut family) = match get_ci(root, "name") {
        Some(Value::Object(n)) => (text(n, "givenName", 200)?, text(n, "familyName", 200)?),
        None | Some(Value::Null) => (None, None),
        Some(_) => return Err(invalid_value("name must be an object")),
    };
    let display_name = text(root, "displayName", 400)?;
    if given.is_none()
        && family.is_none()
        && let Some(d) = &display_name
    {
        let mut words = d.splitn(2, ' ');
        given = words.next().map(str::to_owned);
        family = words.next().map(|s| s.trim().to_owned());
    }
    let email = primary_email(root)?;
    let email = match email {
        Some(e) => Email::parse(&e)
            .map_err(|_| invalid_value(format!("{e:?} is not an e-mail address")))?,
        None => Email::parse(&user_name).map_err(|_| {
            invalid_value("an e-mail address is needed: in emails, or as a userName that is one")
        })?,
    };
    let active = match get_ci(root, "active") {
        None | Some(Value::Null) => true,
        Some(v) => lenient_bool(v).ok_or_else(|| invalid_value("active must be true or false"))?,
    };
    let mut tags = Vec::new();
    for m in mappings {
        let values = m.attribute.read(body);
        // Every attribute that maps to a tag takes one value: a list sent
        // for one is refused, so one request cannot make a user thousands
        // of tags.
        if values.len() > 1 {
            return Err(invalid_value(format!(
                "{} takes one value, not a list of {}",
                m.attribute.canonical(),
                values.len()
            )));
        }
        for v in values {
            if v.chars().count() > 1024 || v.chars().any(char::is_control) {
                return Err(invalid_value(format!(
                    "{} must be at most 1024 characters without control characters",
                    m.attribute.canonical()
                )));
            }
            tags.push((m.tag.clone(), v));
        }
    }
    tags.sort();
    tags.dedup();
    Ok(UserFields {
        user_name,
        external_id,
        given_name: given.unwrap_or_default(),
        family_name: family.unwrap_or_default(),
        display_name,
        email,
        active,
        tags,
    })
}

fn primary_email(root: &Map<String, Value>) -> Result<Option<String>, ScimError> {
    let list = match get_ci(root, "emails") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(l)) => l,
        Some(_) => return Err(invalid_value("emails must be a list")),
    };
    let value = |e: &Value| match e {
        Value::Object(o) => get_ci(o, "value")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    let is = |e: &Value, key: &str, want: &str| {
        e.as_object()
            .and_then(|o| get_ci(o, key))
            .is_some_and(|v| match v {
                Value::String(s) => s.eq_ignore_ascii_case(want),
                other => lenient_bool(other) == Some(true) && want == "true",
            })
    };
    // The last primary: an `add` of a new primary address comes after the
    // old one, and replaces it as primary (RFC 7644 §3.5.2.1).
    Ok(list
        .iter()
        .rev()
        .find(|e| is(e, "primary", "true"))
        .or_else(|| list.iter().find(|e| is(e, "type", "work")))
        .or_else(|| list.first())
        .and_then(value))
}

/// A user as a SCIM resource. `groups`: the ids and names of the groups the
/// user is a member of.
pub fn render_user(
    user: &User,
    base: &str,
    mappings: &[TagMapping],
    groups: &[(GroupId, String)],
) -> Value {
    let mut root = Map::new();
    let mut schemas = vec![Value::String(USER_URN.to_owned())];
    root.insert("id".into(), Value::String(user.id.to_string()));
    if let Some(e) = &user.external_id {
        root.insert("externalId".into(), Value::String(e.clone()));
    }
    root.insert("userName".into(), Value::String(user.user_name.clone()));
    // Unassigned attributes are left out (RFC 7643 §2.5), not empty strings.
    let formatted = format!("{} {}", user.first_name, user.last_name)
        .trim()
        .to_owned();
    let mut name = Map::new();
    for (k, v) in [
        ("givenName", &user.first_name),
        ("familyName", &user.last_name),
        ("formatted", &formatted),
    ] {
        if !v.is_empty() {
            name.insert(k.to_owned(), Value::String(v.clone()));
        }
    }
    if !name.is_empty() {
        root.insert("name".into(), Value::Object(name));
    }
    let display = user.display_name.clone().unwrap_or(formatted);
    if !display.is_empty() {
        root.insert("displayName".into(), Value::String(display));
    }
    // SCIM's own flag: an administrator's disable is the console's, and
    // shown there (a PATCH must not read it back as SCIM's `active: false`).
    root.insert(
        "active".into(),
        Value::Bool(user.scim_active && user.deprovisioned_at.is_none()),
    );
    root.insert(
        "emails".into(),
        json!([{"value": user.email.as_str(), "type": "work", "primary": true}]),
    );
    for m in mappings {
        let values: Vec<&str> = user
            .tags
            .iter()
            .filter(|t| t.source == TagSource::Scim && t.key == m.tag)
            .map(|t| t.value.as_str())
            .collect();
        m.attribute.write(&mut root, &values);
    }
    if root.keys().any(|k| k.eq_ignore_ascii_case(ENTERPRISE_URN)) {
        schemas.push(Value::String(ENTERPRISE_URN.to_owned()));
    }
    let groups: Vec<Value> = groups
        .iter()
        .map(|(id, name)| {
            json!({"value": id.to_string(), "display": name, "$ref": format!("{base}/Groups/{id}"), "type": "direct"})
        })
        .collect();
    root.insert("groups".into(), Value::Array(groups));
    root.insert("schemas".into(), Value::Array(schemas));
    root.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": time(user.created_at),
            "lastModified": time(user.updated_at),
            "location": format!("{base}/Users/{}", user.id),
        }),
    );
    Value::Object(root)
}

/// A Group resource as a client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupFields {
    /// `displayName`.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// The members' ids (`members[].value`), each once, in order.
    pub members: Vec<UserId>,
}

/// Read a Group resource. A member that is not an id of a user is
/// `invalidValue` (the caller checks they are users of the application).
pub fn parse_group(body: &Value) -> Result<GroupFields, ScimError> {
    let root = body.as_object().ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidSyntax, "the body must be a JSON object")
    })?;
    let display_name =
        text(root, "displayName", 256)?.ok_or_else(|| invalid_value("displayName is required"))?;
    let external_id = text(root, "externalId", 256)?;
    let mut members = Vec::new();
    match get_ci(root, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, m) in list.iter().enumerate() {
                let raw = match m {
                    Value::Object(o) => get_ci(o, "value").and_then(Value::as_str),
                    Value::String(s) => Some(s.as_str()),
                    _ => None,
                }
                .ok_or_else(|| invalid_value(format!("members[{i}] has no value")))?;
                let id: UserId = raw.parse().map_err(|_| {
                    invalid_value(format!("members[{i}]: {raw:?} is not the id of a user"))
                })?;
                if !members.contains(&id) {
                    members.push(id);
                }
            }
        }
        Some(_) => return Err(invalid_value("members must be a list")),
    }
    Ok(GroupFields {
        display_name,
        external_id,
        members,
    })
}

/// A group as a SCIM resource: its SCIM members, each with the display
/// name `display` gives (the user's userName).
pub fn render_group(
    group: &Group,
    base: &str,
    display: impl Fn(UserId) -> Option<String>,
) -> Value {
    let members: Vec<Value> = group
        .members
        .iter()
        .filter(|m| m.source == GroupSource::Scim)
        .map(|m| {
            let mut v = json!({"value": m.user.to_string(), "$ref": format!("{base}/Users/{}", m.user), "type": "User"});
            if let (Some(d), Some(o)) = (display(m.user), v.as_object_mut()) {
                o.insert("display".into(), Value::String(d));
            }
            v
        })
        .collect();
    let mut root = Map::new();
    root.insert("schemas".into(), json!([GROUP_URN]));
    root.insert("id".into(), Value::String(group.id.to_string()));
    if let Some(e) = &group.external_id {
        root.insert("externalId".into(), Value::String(e.clone()));
    }
    root.insert(
        "displayName".into(),
        Value::String(group.display_name.clone()),
    );
    root.insert("members".into(), Value::Array(members));
    root.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": time(group.created_at),
            "lastModified": time(group.updated_at),
            "location": format!("{base}/Groups/{}", group.id),
        }),
    );
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(attr: &str, tag: &str) -> TagMapping {
        TagMapping {
            attribute: AttrRef::parse(attr).unwrap_or_else(|e| panic!("{e}")),
            tag: TagKey::parse(tag, "tag").unwrap_or_else(|e| panic!("{e}")),
        }
    }

    #[test]
    fn attribute_names_are_read_in_every_spelling() {
        assert_eq!(
            AttrRef::parse("department").map(|a| a.canonical()).ok(),
            Some(format!("{ENTERPRISE_URN}:department"))
        );
        assert_eq!(
            AttrRef::parse(&format!("{ENTERPRISE_URN}:manager"))
                .map(|a| a.canonical())
                .ok(),
            Some(format!("{ENTERPRISE_URN}:manager.value"))
        );
        assert_eq!(
            AttrRef::parse("TITLE").map(|a| a.canonical()).ok(),
            Some("title".to_owned())
        );
        assert!(AttrRef::parse("userName").is_err(), "a field, not a tag");
        assert!(AttrRef::parse("shoeSize").is_err());
        assert!(AttrRef::parse("title.x").is_err());
    }

    #[test]
    fn a_user_reads_as_an_idp_sends_it_and_renders_back() {
        let maps = [
            mapping("department", "dept"),
            mapping("manager", "manager"),
            mapping("title", "title"),
        ];
        let body = json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": "Ana@Example.com",
            "externalId": "00u1",
            "name": {"givenName": "Ana", "familyName": "Lima"},
            "emails": [{"value": "home@example.com", "type": "home"}, {"value": "ana@example.com", "type": "work", "primary": "True"}],
            "active": "False",
            "title": "Engineer",
            ENTERPRISE_URN: {"department": "R&D", "manager": {"value": "boss-1"}}
        });
        let f = parse_user(&body, &maps).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.email.as_str(), "ana@example.com");
        assert!(!f.active);
        assert_eq!(f.given_name, "Ana");
        let tags: Vec<(&str, &str)> = f
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            tags,
            [
                ("dept", "R&D"),
                ("manager", "boss-1"),
                ("title", "Engineer")
            ]
        );

        let mut user = User::new(
            gatehouse_core::AppId::new(),
            f.email.clone(),
            OffsetDateTime::UNIX_EPOCH,
        );
        user.user_name = f.user_name.clone();
        user.tags = f
            .tags
            .iter()
            .map(|(k, v)| gatehouse_core::user::Tag {
                key: k.clone(),
                value: v.clone(),
                source: TagSource::Scim,
            })
            .collect();
        let r = render_user(&user, "http://h/auth/scim/v2", &maps, &[]);
        assert_eq!(r[ENTERPRISE_URN]["department"], "R&D");
        assert_eq!(r[ENTERPRISE_URN]["manager"]["value"], "boss-1");
        assert_eq!(r["title"], "Engineer");
        assert_eq!(r["userName"], "Ana@Example.com");
        let again = parse_user(&r, &maps).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.tags, f.tags);
    }

    #[test]
    fn a_user_needs_a_user_name_and_an_address() {
        let e = parse_user(&json!({"emails": [{"value": "a@b.c"}]}), &[]).err();
        assert_eq!(e.map(|e| e.scim_type), Some(Some(ScimType::InvalidValue)));
        assert!(parse_user(&json!({"userName": "ana"}), &[]).is_err());
        assert!(parse_user(&json!({"userName": "ana@x.org"}), &[]).is_ok());
    }

    #[test]
    fn group_members_must_be_user_ids() {
        let id = UserId::new();
        let g = parse_group(&json!({"displayName": "eng", "members": [{"value": id.to_string()}, {"value": id.to_string()}]}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.members, vec![id]);
        assert!(parse_group(&json!({"displayName": "eng", "members": [{"value": "x"}]})).is_err());
        assert!(parse_group(&json!({"members": []})).is_err());
    }
}
