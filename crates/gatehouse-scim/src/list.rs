//! Listing (RFC 7644 §3.4.2): pages (`startIndex`, `count`), the
//! `ListResponse` message, and the `attributes` / `excludedAttributes`
//! projection of the resources returned (§3.9). Names match
//! case-insensitively, with or without their schema URN; `id` and
//! `schemas` are always returned; names Gatehouse does not keep are ignored,
//! as the RFC asks.

use serde_json::{Map, Value, json};

use crate::error::{ScimError, ScimType};
use crate::schema::ResourceSchema;

/// The ListResponse message schema.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The most resources one page holds (announced as `filter.maxResults`).
pub const MAX_PAGE: usize = 200;

/// A page of a list: 1-based `start_index` and `count` resources at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// The first resource's 1-based index.
    pub start_index: usize,
    /// How many at most.
    pub count: usize,
}

impl Page {
    /// A page from the query's `startIndex` and `count`: below 1 is 1 and
    /// a negative count is 0 (RFC 7644 §3.4.2.4); the count is capped at
    /// [`MAX_PAGE`]; text that is not a number is `invalidValue`.
    pub fn parse(start_index: Option<&str>, count: Option<&str>) -> Result<Self, ScimError> {
        let number = |name: &str, raw: Option<&str>| -> Result<Option<i64>, ScimError> {
            raw.map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| {
                    r.parse::<i64>().map_err(|_| {
                        ScimError::bad_request(
                            ScimType::InvalidValue,
                            format!("{name} must be a whole number"),
                        )
                    })
                })
                .transpose()
        };
        let start = number("startIndex", start_index)?.unwrap_or(1).max(1);
        let count = number("count", count)?
            .unwrap_or(MAX_PAGE as i64)
            .clamp(0, MAX_PAGE as i64);
        Ok(Self {
            start_index: usize::try_from(start).unwrap_or(usize::MAX),
            count: usize::try_from(count).unwrap_or(0),
        })
    }

    /// The 0-based offset of the first resource.
    pub fn offset(&self) -> usize {
        self.start_index - 1
    }
}

/// The `ListResponse` of one page: `total` resources match in all.
pub fn list_response(total: usize, page: Page, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": page.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// One named attribute: where it lives (`None`: the top level, or an
/// extension's URN), its name and optionally a sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Name {
    extension: Option<&'static str>,
    attr: &'static str,
    sub: Option<&'static str>,
}

fn parse_names(raw: Option<&str>, schema: &ResourceSchema) -> Vec<Name> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    raw.split(',')
        .filter_map(|item| {
            let item = item.trim();
            // A URN-qualified name: the schema URN, a colon, the attribute.
            let (uri, rest) = match item.rfind(':') {
                Some(i) if item[..i].contains(':') => (Some(&item[..i]), &item[i + 1..]),
                _ => (None, item),
            };
            let (name, sub) = match rest.split_once('.') {
                Some((n, s)) => (n, Some(s)),
                None => (rest, None),
            };
            let located = schema.locate(uri, name)?;
            let sub = match sub {
                Some(s) => Some(located.attr.sub_attr(s)?.name),
                None => None,
            };
            Some(Name {
                extension: located.extension,
                attr: located.attr.name,
                sub,
            })
        })
        .collect()
}

/// Which attributes to return (RFC 7644 §3.9).
#[derive(Debug, Clone, Default)]
pub struct Projection {
    include: Vec<Name>,
    exclude: Vec<Name>,
}

fn key_of<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name))
}

impl Projection {
    /// From the query's `attributes` and `excludedAttributes`.
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        schema: &ResourceSchema,
    ) -> Self {
        Self {
            include: parse_names(attributes, schema),
            exclude: parse_names(excluded, schema),
        }
    }

    /// Apply to one resource's JSON.
    pub fn apply(&self, resource: &mut Value) {
        let Some(root) = resource.as_object_mut() else {
            return;
        };
        if !self.include.is_empty() {
            let mut kept = Map::new();
            for always in ["schemas", "id"] {
                if let Some(v) = root.remove(always) {
                    kept.insert(always.to_owned(), v);
                }
            }
            for n in &self.include {
                let source = match n.extension {
                    None => Some(&mut *root),
                    Some(urn) => key_of(root, urn)
                        .cloned()
                        .and_then(|k| root.get_mut(&k))
                        .and_then(Value::as_object_mut),
                };
                let Some(source) = source else { continue };
                let Some(key) = key_of(source, n.attr).cloned() else {
                    continue;
                };
                let picked = match (n.sub, source.get(&key)) {
                    (None, Some(v)) => v.clone(),
                    (Some(sub), Some(v)) => pick_sub(v, sub),
                    (_, None) => continue,
                };
                let target = match n.extension {
                    None => &mut kept,
                    Some(urn) => match kept
                        .entry(urn.to_owned())
                        .or_insert_with(|| Value::Object(Map::new()))
                    {
                        Value::Object(m) => m,
                        _ => continue,
                    },
                };
                merge(target, &key, picked);
            }
            *root = kept;
        }
        for n in &self.exclude {
            if n.attr == "id" {
                continue;
            }
            let holder = match n.extension {
                None => Some(&mut *root),
                Some(urn) => key_of(root, urn)
                    .cloned()
                    .and_then(|k| root.get_mut(&k))
                    .and_then(Value::as_object_mut),
            };
            let Some(holder) = holder else { continue };
            let Some(key) = key_of(holder, n.attr).cloned() else {
                continue;
            };
            match n.sub {
                None => {
                    holder.remove(&key);
                }
                Some(sub) => drop_sub(holder.get_mut(&key), sub),
            }
        }
    }
}

/// A complex attribute's (or each element's) sub-attribute alone.
fn pick_sub(v: &Value, sub: &str) -> Value {
    let one = |o: &Map<String, Value>| -> Value {
        let mut m = Map::new();
        if let Some(k) = key_of(o, sub) {
            m.insert(k.clone(), o[k].clone());
        }
        Value::Object(m)
    };
    match v {
        Value::Object(o) => one(o),
        Value::Array(items) => {
            Value::Array(items.iter().filter_map(Value::as_object).map(one).collect())
        }
        other => other.clone(),
    }
}

fn drop_sub(v: Option<&mut Value>, sub: &str) {
    let drop_one = |o: &mut Map<String, Value>| {
        if let Some(k) = key_of(o, sub).cloned() {
            o.remove(&k);
        }
    };
    match v {
        Some(Value::Object(o)) => drop_one(o),
        Some(Value::Array(items)) => items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(drop_one),
        _ => {}
    }
}

/// Put `v` under `key`, merging sub-attributes picked one by one
/// (`name.givenName,name.familyName`).
fn merge(target: &mut Map<String, Value>, key: &str, v: Value) {
    match (target.get_mut(key), v) {
        (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
        (Some(Value::Array(have)), Value::Array(more)) if have.len() == more.len() => {
            for (h, m) in have.iter_mut().zip(more) {
                if let (Value::Object(h), Value::Object(m)) = (h, m) {
                    h.extend(m);
                }
            }
        }
        (_, v) => {
            target.insert(key.to_owned(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_URN, GROUP, USER, USER_URN};

    fn user() -> Value {
        json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "id": "u1", "userName": "ana@example.com", "active": true,
            "name": {"givenName": "Ana", "familyName": "Silva"},
            "emails": [{"value": "ana@example.com", "type": "work"}],
            "meta": {"resourceType": "User"},
            ENTERPRISE_URN: {"department": "R&D", "employeeNumber": "7"}
        })
    }

    #[test]
    fn pages_are_clamped_and_checked() {
        assert_eq!(
            Page::parse(None, None).ok(),
            Some(Page {
                start_index: 1,
                count: MAX_PAGE
            })
        );
        assert_eq!(
            Page::parse(Some("0"), Some("-5")).ok(),
            Some(Page {
                start_index: 1,
                count: 0
            })
        );
        assert_eq!(
            Page::parse(Some("101"), Some("100000")).ok(),
            Some(Page {
                start_index: 101,
                count: MAX_PAGE
            })
        );
        assert_eq!(
            Page::parse(Some("x"), None).err().and_then(|e| e.scim_type),
            Some(ScimType::InvalidValue)
        );
        let r = list_response(
            3,
            Page {
                start_index: 2,
                count: 1,
            },
            vec![json!({"id": "b"})],
        );
        assert_eq!(r["totalResults"], 3);
        assert_eq!(r["itemsPerPage"], 1);
        assert_eq!(r["startIndex"], 2);
        assert_eq!(r["Resources"][0]["id"], "b");
    }

    #[test]
    fn attributes_pick_and_id_and_schemas_stay() {
        let mut u = user();
        Projection::parse(Some("userName, NAME.givenName, emails.value"), None, &USER)
            .apply(&mut u);
        assert_eq!(
            u,
            json!({
                "schemas": [USER_URN, ENTERPRISE_URN], "id": "u1",
                "userName": "ana@example.com",
                "name": {"givenName": "Ana"},
                "emails": [{"value": "ana@example.com"}]
            })
        );
        let mut u = user();
        Projection::parse(
            Some(&format!("{ENTERPRISE_URN}:department,nickName")),
            None,
            &USER,
        )
        .apply(&mut u);
        assert_eq!(u[ENTERPRISE_URN], json!({"department": "R&D"}));
        assert!(u.get("userName").is_none());
    }

    #[test]
    fn excluded_attributes_go_but_id_never() {
        let mut g = json!({"schemas": ["x"], "id": "g1", "displayName": "Eng", "members": [{"value": "u1"}]});
        Projection::parse(None, Some("members,id"), &GROUP).apply(&mut g);
        assert_eq!(
            g,
            json!({"schemas": ["x"], "id": "g1", "displayName": "Eng"})
        );
        let mut u = user();
        Projection::parse(
            None,
            Some(&format!("emails.type,{ENTERPRISE_URN}:employeeNumber")),
            &USER,
        )
        .apply(&mut u);
        assert_eq!(u["emails"], json!([{"value": "ana@example.com"}]));
        assert_eq!(u[ENTERPRISE_URN], json!({"department": "R&D"}));
    }
}
