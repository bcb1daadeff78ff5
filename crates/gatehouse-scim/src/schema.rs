//! The attributes of the resources Gatehouse serves (RFC 7643 §4), with what
//! filtering needs: each attribute's type, whether it is multi-valued, and
//! whether its strings compare case-exactly. Only attributes Gatehouse
//! stores are listed; the others are unknown to it.

/// The core User schema.
pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema.
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension.
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// A string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A number with a fraction.
    Decimal,
    /// A whole number.
    Integer,
    /// An RFC 3339 instant.
    DateTime,
    /// A URI or resource id.
    Reference,
    /// An object of sub-attributes.
    Complex,
}

/// One attribute.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    /// The name as the schema spells it (matched case-insensitively).
    pub name: &'static str,
    /// The type.
    pub ty: AttrType,
    /// Whether it holds a list.
    pub multi: bool,
    /// Whether strings compare case-exactly.
    pub case_exact: bool,
    /// The sub-attributes of a complex attribute.
    pub sub: &'static [Attr],
}

const fn attr(name: &'static str, ty: AttrType, case_exact: bool) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        case_exact,
        sub: &[],
    }
}

const fn complex(name: &'static str, multi: bool, sub: &'static [Attr]) -> Attr {
    Attr {
        name,
        ty: AttrType::Complex,
        multi,
        case_exact: false,
        sub,
    }
}

const META: Attr = complex(
    "meta",
    false,
    &[
        attr("resourceType", AttrType::String, true),
        attr("created", AttrType::DateTime, false),
        attr("lastModified", AttrType::DateTime, false),
        attr("location", AttrType::Reference, true),
        attr("version", AttrType::String, true),
    ],
);

const USER_ATTRS: &[Attr] = &[
    attr("id", AttrType::String, true),
    attr("externalId", AttrType::String, true),
    attr("userName", AttrType::String, false),
    complex(
        "name",
        false,
        &[
            attr("formatted", AttrType::String, false),
            attr("givenName", AttrType::String, false),
            attr("familyName", AttrType::String, false),
        ],
    ),
    attr("displayName", AttrType::String, false),
    attr("title", AttrType::String, false),
    attr("userType", AttrType::String, false),
    attr("preferredLanguage", AttrType::String, false),
    attr("locale", AttrType::String, false),
    attr("timezone", AttrType::String, false),
    attr("active", AttrType::Boolean, false),
    complex(
        "emails",
        true,
        &[
            attr("value", AttrType::String, false),
            attr("type", AttrType::String, false),
            attr("primary", AttrType::Boolean, false),
            attr("display", AttrType::String, false),
        ],
    ),
    complex(
        "groups",
        true,
        &[
            attr("value", AttrType::String, true),
            attr("display", AttrType::String, false),
            attr("$ref", AttrType::Reference, true),
            attr("type", AttrType::String, false),
        ],
    ),
    META,
];

const ENTERPRISE_ATTRS: &[Attr] = &[
    attr("employeeNumber", AttrType::String, false),
    attr("costCenter", AttrType::String, false),
    attr("organization", AttrType::String, false),
    attr("division", AttrType::String, false),
    attr("department", AttrType::String, false),
    complex(
        "manager",
        false,
        &[
            attr("value", AttrType::String, true),
            attr("displayName", AttrType::String, false),
            attr("$ref", AttrType::Reference, true),
        ],
    ),
];

const GROUP_ATTRS: &[Attr] = &[
    attr("id", AttrType::String, true),
    attr("externalId", AttrType::String, true),
    attr("displayName", AttrType::String, false),
    complex(
        "members",
        true,
        &[
            attr("value", AttrType::String, true),
            attr("display", AttrType::String, false),
            attr("$ref", AttrType::Reference, true),
            attr("type", AttrType::String, false),
        ],
    ),
    META,
];

/// A resource type's schema: its core attributes and its extensions (each
/// under its URN, as the resource's JSON nests them).
#[derive(Debug, Clone, Copy)]
pub struct ResourceSchema {
    /// The core schema URN.
    pub urn: &'static str,
    /// The core attributes.
    pub attrs: &'static [Attr],
    /// Extensions: URN and attributes.
    pub extensions: &'static [(&'static str, &'static [Attr])],
}

/// Users.
pub const USER: ResourceSchema = ResourceSchema {
    urn: USER_URN,
    attrs: USER_ATTRS,
    extensions: &[(ENTERPRISE_URN, ENTERPRISE_ATTRS)],
};

/// Groups.
pub const GROUP: ResourceSchema = ResourceSchema {
    urn: GROUP_URN,
    attrs: GROUP_ATTRS,
    extensions: &[],
};

/// Where an attribute lives: under an extension's URN, or at the top.
#[derive(Debug, Clone, Copy)]
pub struct Located {
    /// The extension URN the resource nests it under; `None`: the top level.
    pub extension: Option<&'static str>,
    /// The attribute.
    pub attr: &'static Attr,
}

fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

impl ResourceSchema {
    /// The attribute `name` under schema `uri` (`None`: the core schema, as
    /// RFC 7644 reads an attribute name without a URN).
    pub fn locate(&self, uri: Option<&str>, name: &str) -> Option<Located> {
        match uri {
            Some(u) if u.eq_ignore_ascii_case(self.urn) => {
                find(self.attrs, name).map(|attr| Located {
                    extension: None,
                    attr,
                })
            }
            Some(u) => self
                .extensions
                .iter()
                .find(|(urn, _)| urn.eq_ignore_ascii_case(u))
                .and_then(|(urn, attrs)| {
                    find(attrs, name).map(|attr| Located {
                        extension: Some(*urn),
                        attr,
                    })
                }),
            None => find(self.attrs, name).map(|attr| Located {
                extension: None,
                attr,
            }),
        }
    }
}

impl Attr {
    /// A sub-attribute by name.
    pub fn sub_attr(&self, name: &str) -> Option<&'static Attr> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_found_in_any_case_and_under_their_urn() {
        let a = USER
            .locate(None, "USERNAME")
            .unwrap_or_else(|| panic!("userName"));
        assert_eq!(a.attr.name, "userName");
        assert!(!a.attr.case_exact);
        let d = USER
            .locate(Some(ENTERPRISE_URN), "department")
            .unwrap_or_else(|| panic!("department"));
        assert_eq!(d.extension, Some(ENTERPRISE_URN));
        assert!(USER.locate(Some(USER_URN), "emails").is_some());
        assert!(
            USER.locate(None, "nickName").is_none(),
            "not stored, not known"
        );
        assert!(GROUP.locate(None, "members").is_some_and(|m| m.attr.multi));
    }
}
