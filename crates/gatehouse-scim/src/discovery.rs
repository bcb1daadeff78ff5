//! The discovery documents (RFC 7644 §4, RFC 7643 §5–7):
//! `ServiceProviderConfig`, `ResourceTypes` and `Schemas`, made from the
//! same schema tables the filters and PATCH use, so they say exactly what
//! Gatehouse keeps and supports: PATCH and filters yes (with the page
//! limit), bulk, sorting, ETags and password changes no.

use serde_json::{Value, json};

use crate::list::MAX_PAGE;
use crate::schema::{
    Attr, AttrType, ENTERPRISE_URN, GROUP, GROUP_URN, ResourceSchema, USER, USER_URN,
};

const SPC_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// `GET /ServiceProviderConfig`, for the SCIM base URL `base`.
pub fn service_provider_config(base: &str, documentation: &str) -> Value {
    json!({
        "schemas": [SPC_URN],
        "documentationUri": documentation,
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_PAGE},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A SCIM token of this application, made in the Gatehouse console (Provisioning), sent as Authorization: Bearer <token>.",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
    })
}

/// `GET /ResourceTypes`: Users (with the enterprise extension) and Groups.
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_URN],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "A user of the application",
            "schema": USER_URN,
            "schemaExtensions": [{"schema": ENTERPRISE_URN, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": [RESOURCE_TYPE_URN],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "A group of the application's users",
            "schema": GROUP_URN,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
        }),
    ]
}

fn type_name(t: AttrType) -> &'static str {
    match t {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "decimal",
        AttrType::Integer => "integer",
        AttrType::DateTime => "dateTime",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
    }
}

/// How an attribute may change, is returned and must be unique.
fn rules(
    urn: &str,
    parent: Option<&str>,
    a: &Attr,
) -> (&'static str, &'static str, &'static str, bool) {
    let read_only = matches!(parent, Some("meta") | Some("groups"))
        || a.name == "id"
        || a.name == "meta"
        || (urn == USER_URN && a.name == "groups");
    let mutability = if read_only { "readOnly" } else { "readWrite" };
    let returned = if a.name == "id" && parent.is_none() {
        "always"
    } else {
        "default"
    };
    let unique = (a.name == "id" || (urn == USER_URN && a.name == "userName")) && parent.is_none();
    let uniqueness = if unique { "server" } else { "none" };
    let required = parent.is_none()
        && ((urn == USER_URN && a.name == "userName")
            || (urn == GROUP_URN && a.name == "displayName"));
    (mutability, returned, uniqueness, required)
}

fn attribute(urn: &str, parent: Option<&str>, a: &Attr) -> Value {
    let (mutability, returned, uniqueness, required) = rules(urn, parent, a);
    let mut v = json!({
        "name": a.name,
        "type": type_name(a.ty),
        "multiValued": a.multi,
        "required": required,
        "caseExact": a.case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    });
    if let (AttrType::Complex, Some(obj)) = (a.ty, v.as_object_mut()) {
        obj.insert(
            "subAttributes".into(),
            Value::Array(
                a.sub
                    .iter()
                    .map(|s| attribute(urn, Some(a.name), s))
                    .collect(),
            ),
        );
    }
    if let (AttrType::Reference, Some(obj)) = (a.ty, v.as_object_mut()) {
        obj.insert(
            "referenceTypes".into(),
            json!(["User", "Group", "external"]),
        );
    }
    v
}

fn schema_doc(base: &str, id: &str, name: &str, attrs: &[Attr]) -> Value {
    json!({
        "schemas": [SCHEMA_URN],
        "id": id,
        "name": name,
        "attributes": attrs.iter().map(|a| attribute(id, None, a)).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")}
    })
}

fn docs_of(base: &str, rs: &ResourceSchema, name: &str) -> Vec<Value> {
    let mut out = vec![schema_doc(base, rs.urn, name, rs.attrs)];
    for (urn, attrs) in rs.extensions {
        out.push(schema_doc(base, urn, "EnterpriseUser", attrs));
    }
    out
}

/// `GET /Schemas`: the User, enterprise User and Group schemas as kept.
pub fn schemas(base: &str) -> Vec<Value> {
    let mut out = docs_of(base, &USER, "User");
    out.extend(docs_of(base, &GROUP, "Group"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://shop.example/auth/scim/v2";

    #[test]
    fn the_config_says_what_is_supported() {
        let c = service_provider_config(BASE, "https://docs.example/provisioning");
        assert_eq!(c["patch"]["supported"], true);
        assert_eq!(
            c["filter"],
            json!({"supported": true, "maxResults": MAX_PAGE})
        );
        for no in ["bulk", "sort", "etag", "changePassword"] {
            assert_eq!(c[no]["supported"], false, "{no}");
        }
        assert_eq!(
            c["meta"]["location"],
            format!("{BASE}/ServiceProviderConfig")
        );
    }

    #[test]
    fn schemas_describe_the_kept_attributes() {
        let all = schemas(BASE);
        let ids: Vec<&str> = all.iter().filter_map(|s| s["id"].as_str()).collect();
        assert_eq!(ids, vec![USER_URN, ENTERPRISE_URN, GROUP_URN]);
        let user = &all[0];
        let attr = |n: &str| {
            user["attributes"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["name"] == n))
                .cloned()
                .unwrap_or_else(|| panic!("{n}"))
        };
        let user_name = attr("userName");
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(attr("id")["mutability"], "readOnly");
        assert_eq!(attr("id")["returned"], "always");
        assert_eq!(attr("groups")["mutability"], "readOnly");
        assert_eq!(attr("active")["type"], "boolean");
        let emails = attr("emails");
        assert_eq!(emails["multiValued"], true);
        assert!(
            emails["subAttributes"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x["name"] == "primary"))
        );
        assert!(
            attr("meta")["subAttributes"]
                .as_array()
                .is_some_and(|s| s.iter().all(|x| x["mutability"] == "readOnly"))
        );
        let types = resource_types(BASE);
        assert_eq!(types[0]["schemaExtensions"][0]["schema"], ENTERPRISE_URN);
        assert_eq!(types[1]["endpoint"], "/Groups");
    }
}
