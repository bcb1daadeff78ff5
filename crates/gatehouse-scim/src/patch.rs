//! PATCH (RFC 7644 §3.5.2) applied to a resource's SCIM JSON. Paths are
//! parsed by `scim_v2` (`name.familyName`, `emails[type eq "work"].value`,
//! `members[value eq "2819c223"]`, URN-qualified names); the operations are
//! read here, leniently where identity providers are known to differ from
//! the RFC:
//!
//! - `op` in any case (Entra ID sends `"Replace"` and `"Add"`);
//! - booleans as the strings `"True"`/`"False"` (Entra ID);
//! - an `add`/`replace` without a path whose value's keys are themselves
//!   paths (`{"name.givenName": "Ana"}`, URN-qualified names);
//! - `remove` of `members` (or any multi-valued attribute) with a value
//!   array naming the elements to remove (Entra ID).
//!
//! Read-only attributes (`id`, `meta`, a User's `groups`) are refused with
//! `mutability`; unknown attributes and unreadable paths with `invalidPath`;
//! a value filter that selects nothing with `noTarget`.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::eval_val;
use crate::schema::{Attr, AttrType, ResourceSchema};

/// The PatchOp message schema.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The most operations one request may carry.
pub const MAX_OPERATIONS: usize = 1_000;

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Add values (append to lists, set otherwise).
    Add,
    /// Replace values.
    Replace,
    /// Remove values.
    Remove,
}

/// One operation of a PATCH request.
#[derive(Debug, Clone)]
pub struct Operation {
    op: Op,
    path: Option<PatchPath>,
    /// The path as sent (a schema URN alone does not parse as a path).
    raw_path: Option<String>,
    value: Option<Value>,
}

/// A parsed PATCH request.
#[derive(Debug, Clone)]
pub struct PatchRequest {
    operations: Vec<Operation>,
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidPath, detail)
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidSyntax, detail)
}

/// Whether `raw` is a schema URN alone (`urn:…:core:2.0:User`, an
/// extension's URN): the path of an operation whose value is an object of
/// that schema's attributes.
fn is_schema_urn(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    lower.starts_with("urn:ietf:params:scim:schemas:")
        && (lower.ends_with(":2.0:user") || lower.ends_with(":2.0:group"))
}

fn parse_path(raw: &str) -> Result<PatchPath, ScimError> {
    raw.parse()
        .map_err(|_| invalid_path(format!("the path {raw:?} cannot be read")))
}

impl PatchRequest {
    /// Read a PATCH body.
    pub fn parse(body: &Value) -> Result<Self, ScimError> {
        let schemas_ok = body
            .get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(PATCH_SCHEMA))
                })
            });
        if !schemas_ok {
            return Err(syntax(format!(
                "the body must name the schema {PATCH_SCHEMA}"
            )));
        }
        let ops = body
            .get("Operations")
            .or_else(|| body.get("operations"))
            .and_then(Value::as_array)
            .ok_or_else(|| syntax("the body has no Operations list"))?;
        if ops.len() > MAX_OPERATIONS {
            return Err(syntax(format!(
                "at most {MAX_OPERATIONS} operations per request"
            )));
        }
        let mut operations = Vec::with_capacity(ops.len());
        for (i, o) in ops.iter().enumerate() {
            let op = match o
                .get("op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => Op::Add,
                Some("replace") => Op::Replace,
                Some("remove") => Op::Remove,
                _ => {
                    return Err(syntax(format!(
                        "Operations[{i}].op must be add, replace or remove"
                    )));
                }
            };
            let raw_path = match o.get("path") {
                Some(Value::String(p)) if !p.trim().is_empty() => Some(p.trim().to_owned()),
                _ => None,
            };
            let path = match o.get("path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                // A schema URN alone: read at apply time.
                Some(Value::String(p)) if is_schema_urn(p.trim()) => None,
                Some(Value::String(p)) => Some(parse_path(p)?),
                Some(_) => {
                    return Err(invalid_path(format!(
                        "Operations[{i}].path must be a string"
                    )));
                }
            };
            let value = o.get("value").cloned();
            if op == Op::Remove && path.is_none() {
                return Err(ScimError::bad_request(
                    ScimType::NoTarget,
                    format!("Operations[{i}]: remove needs a path"),
                ));
            }
            if op != Op::Remove && value.is_none() {
                return Err(invalid_value(format!(
                    "Operations[{i}]: {op:?} needs a value"
                )));
            }
            operations.push(Operation {
                op,
                path,
                raw_path,
                value,
            });
        }
        Ok(Self { operations })
    }

    /// The operations, in order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Apply every operation to `resource`, in order; on an error, what was
    /// applied before it stays applied (the caller discards the copy).
    pub fn apply(&self, schema: &ResourceSchema, resource: &mut Value) -> Result<(), ScimError> {
        self.apply_with(schema, resource, false)
    }

    /// As [`Self::apply`], but an operation on an attribute the schema does
    /// not have (Entra ID's default mappings send `addresses`,
    /// `phoneNumbers` ...) is skipped instead of refused with `invalidPath`;
    /// a path that cannot be read, a read-only attribute and a sub-attribute
    /// a known attribute lacks are still refused.
    pub fn apply_ignoring_unknown(
        &self,
        schema: &ResourceSchema,
        resource: &mut Value,
    ) -> Result<(), ScimError> {
        self.apply_with(schema, resource, true)
    }

    fn apply_with(
        &self,
        schema: &ResourceSchema,
        resource: &mut Value,
        ignore_unknown: bool,
    ) -> Result<(), ScimError> {
        let known = |p: &PatchPath| {
            let attr = match p {
                PatchPath::Attr(a) => a,
                PatchPath::Value(v) => &v.attr,
            };
            schema.locate(attr.uri.as_deref(), &attr.name).is_some()
        };
        let core_urn = |raw: &str| raw.eq_ignore_ascii_case(schema.urn);
        for o in &self.operations {
            // A schema's URN as the path: the value is an object of that
            // schema's attributes (the core's at the top, an extension's
            // under its URN), as without a path.
            if o.path.is_none()
                && let Some(raw) = o.raw_path.as_deref()
            {
                let value = if core_urn(raw) {
                    o.value.clone()
                } else {
                    let mut m = Map::new();
                    m.insert(raw.to_owned(), o.value.clone().unwrap_or(Value::Null));
                    Some(Value::Object(m))
                };
                let unpathed = Operation {
                    op: o.op,
                    path: None,
                    raw_path: None,
                    value,
                };
                PatchRequest {
                    operations: vec![unpathed],
                }
                .apply_with(schema, resource, ignore_unknown)?;
                continue;
            }
            match &o.path {
                Some(p) if ignore_unknown && !known(p) => {}
                Some(p) => apply_at(schema, resource, o.op, p, o.value.as_ref())?,
                None => {
                    let Some(Value::Object(fields)) = &o.value else {
                        return Err(invalid_value(
                            "without a path, the value must be an object of attributes",
                        ));
                    };
                    for (key, v) in fields {
                        if core_urn(key) {
                            let Value::Object(_) = v else {
                                return Err(invalid_value(format!("{key} must be an object")));
                            };
                            let inner = Operation {
                                op: o.op,
                                path: None,
                                raw_path: None,
                                value: Some(v.clone()),
                            };
                            PatchRequest {
                                operations: vec![inner],
                            }
                            .apply_with(
                                schema,
                                resource,
                                ignore_unknown,
                            )?;
                            continue;
                        }
                        if let Some((urn, attrs)) = schema
                            .extensions
                            .iter()
                            .find(|(u, _)| u.eq_ignore_ascii_case(key))
                        {
                            let Value::Object(ext) = v else {
                                return Err(invalid_value(format!("{key} must be an object")));
                            };
                            for (name, ev) in ext {
                                if !attrs.iter().any(|a| {
                                    a.name.eq_ignore_ascii_case(
                                        name.split('.').next().unwrap_or(name),
                                    )
                                }) {
                                    if ignore_unknown {
                                        continue;
                                    }
                                    return Err(invalid_path(format!(
                                        "{urn}:{name} is not an attribute Gatehouse keeps"
                                    )));
                                }
                                let path = parse_path(&format!("{urn}:{name}"))?;
                                apply_at(schema, resource, o.op, &path, Some(ev))?;
                            }
                        } else {
                            let path = parse_path(key)?;
                            if ignore_unknown && !known(&path) {
                                continue;
                            }
                            apply_at(schema, resource, o.op, &path, Some(v))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Operation {
    /// What the operation does.
    pub fn op(&self) -> Op {
        self.op
    }
}

impl PatchRequest {
    /// Whether an operation replaces the whole of attribute `name` (a
    /// `replace` with the path `name`, or without a path and `name` among
    /// its value's keys): then the result is the new set, not a change.
    pub fn replaces(&self, name: &str) -> bool {
        self.operations.iter().any(|o| {
            o.op == Op::Replace
                && match &o.path {
                    Some(PatchPath::Attr(p)) => {
                        p.name.eq_ignore_ascii_case(name) && p.sub_attr.is_none()
                    }
                    Some(PatchPath::Value(_)) => false,
                    None => o
                        .value
                        .as_ref()
                        .and_then(Value::as_object)
                        .is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case(name))),
                }
        })
    }
}

fn read_only(schema: &ResourceSchema, attr: &Attr) -> bool {
    attr.name == "id"
        || attr.name == "meta"
        || (schema.urn == crate::schema::USER_URN && attr.name == "groups")
}

/// Entra ID sends booleans as strings; coerce what the schema says is boolean.
fn coerce(attr: &Attr, v: &Value) -> Result<Value, ScimError> {
    match (attr.ty, v) {
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Ok(Value::Bool(true))
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Ok(Value::Bool(false))
        }
        (AttrType::Boolean, Value::Bool(_)) | (_, Value::Null) => Ok(v.clone()),
        (AttrType::Boolean, _) => Err(invalid_value(format!(
            "{} must be true or false",
            attr.name
        ))),
        (AttrType::Complex, Value::Object(fields)) => {
            let mut out = Map::new();
            for (k, fv) in fields {
                match attr.sub_attr(k) {
                    Some(sub) => {
                        out.insert(sub.name.to_owned(), coerce(sub, fv)?);
                    }
                    None => {
                        return Err(invalid_path(format!(
                            "{}.{k} is not an attribute Gatehouse keeps",
                            attr.name
                        )));
                    }
                }
            }
            Ok(Value::Object(out))
        }
        // Entra ID sends a single complex value (the enterprise `manager`)
        // as its `value` alone: `"manager": "<id>"`.
        (AttrType::Complex, Value::String(_))
            if !attr.multi && attr.sub_attr("value").is_some() =>
        {
            let mut out = Map::new();
            out.insert("value".to_owned(), v.clone());
            Ok(Value::Object(out))
        }
        (AttrType::Complex, _) => Err(invalid_value(format!("{} must be an object", attr.name))),
        (AttrType::String | AttrType::Reference | AttrType::DateTime, Value::String(_)) => {
            Ok(v.clone())
        }
        (AttrType::Integer | AttrType::Decimal, Value::Number(_)) => Ok(v.clone()),
        _ => Err(invalid_value(format!("{} has the wrong type", attr.name))),
    }
}

/// The values an operation brings for `attr` (each element for a list).
fn incoming(attr: &Attr, v: &Value) -> Result<Vec<Value>, ScimError> {
    match v {
        Value::Array(items) if attr.multi => items.iter().map(|i| coerce(attr, i)).collect(),
        Value::Array(_) => Err(invalid_value(format!(
            "{} takes one value, not a list",
            attr.name
        ))),
        other => Ok(vec![coerce(attr, other)?]),
    }
}

/// Two elements of a multi-valued attribute are the same one when their
/// `value`s are (or, without one, when they are equal).
fn same(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The object an attribute of `path` lives in (creating an extension's).
fn holder<'v>(
    schema: &ResourceSchema,
    resource: &'v mut Value,
    path: &AttrPath,
) -> Result<(&'static Attr, &'v mut Map<String, Value>), ScimError> {
    let located = schema
        .locate(path.uri.as_deref(), &path.name)
        .ok_or_else(|| {
            invalid_path(format!("{} is not an attribute Gatehouse keeps", path.name))
        })?;
    if read_only(schema, located.attr) {
        return Err(ScimError::bad_request(
            ScimType::Mutability,
            format!("{} is read-only", located.attr.name),
        ));
    }
    let root = resource
        .as_object_mut()
        .ok_or_else(|| invalid_value("the resource is not an object"))?;
    let map = match located.extension {
        None => root,
        Some(urn) => root
            .entry(urn.to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| invalid_value(format!("{urn} is not an object")))?,
    };
    Ok((located.attr, map))
}

fn apply_at(
    schema: &ResourceSchema,
    resource: &mut Value,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match path {
        PatchPath::Attr(p) => {
            let (attr, map) = holder(schema, resource, p)?;
            match &p.sub_attr {
                None => apply_attr(attr, map, op, value),
                Some(sub_name) => {
                    let sub = attr.sub_attr(sub_name).ok_or_else(|| {
                        invalid_path(format!(
                            "{}.{sub_name} is not an attribute Gatehouse keeps",
                            attr.name
                        ))
                    })?;
                    let slot = map.entry(attr.name.to_owned()).or_insert_with(|| {
                        if attr.multi {
                            Value::Array(Vec::new())
                        } else {
                            Value::Object(Map::new())
                        }
                    });
                    let targets: Vec<&mut Map<String, Value>> = match slot {
                        Value::Array(items) => {
                            items.iter_mut().filter_map(Value::as_object_mut).collect()
                        }
                        Value::Object(o) => vec![o],
                        _ => {
                            return Err(invalid_path(format!(
                                "{} holds no sub-attributes",
                                attr.name
                            )));
                        }
                    };
                    for t in targets {
                        set_sub(t, sub, op, value)?;
                    }
                    Ok(())
                }
            }
        }
        PatchPath::Value(vp) => {
            let (attr, map) = holder(schema, resource, &vp.attr)?;
            if !attr.multi || attr.ty != AttrType::Complex {
                return Err(invalid_path(format!(
                    "{} is not a list of objects to filter",
                    attr.name
                )));
            }
            let sub = match &vp.sub_attr {
                Some(s) => Some(attr.sub_attr(s).ok_or_else(|| {
                    invalid_path(format!(
                        "{}.{s} is not an attribute Gatehouse keeps",
                        attr.name
                    ))
                })?),
                None => None,
            };
            let items = map
                .entry(attr.name.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = items else {
                return Err(invalid_value(format!("{} is not a list", attr.name)));
            };
            let hits: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, el)| eval_val(&vp.filter, schema, attr, el))
                .map(|(i, _)| i)
                .collect();
            if hits.is_empty() {
                // Entra ID adds `emails[type eq "work"].value` to a user without
                // a work e-mail: make the element the filter describes.
                if let (Op::Add | Op::Replace, Some(sub), Some(seed)) =
                    (op, sub, seed_of(&vp.filter))
                {
                    let mut el = Map::new();
                    el.insert(seed.0, Value::String(seed.1));
                    set_sub(&mut el, sub, Op::Replace, value)?;
                    items.push(Value::Object(el));
                    return Ok(());
                }
                return Err(ScimError::bad_request(
                    ScimType::NoTarget,
                    format!("no element of {} matches the filter", attr.name),
                ));
            }
            match (op, sub) {
                (Op::Remove, None) => {
                    for i in hits.into_iter().rev() {
                        items.remove(i);
                    }
                }
                (_, Some(sub)) => {
                    for i in hits {
                        if let Some(el) = items.get_mut(i).and_then(Value::as_object_mut) {
                            set_sub(el, sub, op, value)?;
                        }
                    }
                }
                (Op::Add | Op::Replace, None) => {
                    let new = coerce(attr, value.unwrap_or(&Value::Null))?;
                    for i in hits {
                        if let (Some(Value::Object(o)), Value::Object(fields)) =
                            (items.get_mut(i), &new)
                        {
                            for (k, v) in fields {
                                o.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

/// `type eq "work"` (alone): the element such a filter describes.
fn seed_of(f: &ValFilter) -> Option<(String, String)> {
    match f {
        ValFilter::Attr(AttrExp::Comparison(p, CompareOp::Eq, CompValue::Str(v)))
            if p.sub_attr.is_none() =>
        {
            Some((p.name.clone(), v.clone()))
        }
        _ => None,
    }
}

fn set_sub(
    el: &mut Map<String, Value>,
    sub: &Attr,
    op: Op,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match op {
        Op::Remove => {
            el.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
        }
        Op::Add | Op::Replace => {
            let v = coerce(sub, value.unwrap_or(&Value::Null))?;
            el.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
            el.insert(sub.name.to_owned(), v);
        }
    }
    Ok(())
}

fn apply_attr(
    attr: &Attr,
    map: &mut Map<String, Value>,
    op: Op,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    // The stored key is the schema's spelling; drop any other spelling.
    let existing = map
        .keys()
        .find(|k| k.eq_ignore_ascii_case(attr.name) && k.as_str() != attr.name)
        .cloned();
    if let Some(v) = existing.and_then(|k| map.remove(&k)) {
        map.insert(attr.name.to_owned(), v);
    }
    match (op, attr.multi) {
        (Op::Remove, true) if value.is_some() => {
            let gone = incoming(attr, value.unwrap_or(&Value::Null))?;
            if let Some(Value::Array(items)) = map.get_mut(attr.name) {
                items.retain(|el| !gone.iter().any(|g| same(el, g)));
            }
        }
        (Op::Remove, _) => {
            map.remove(attr.name);
        }
        (Op::Add, true) => {
            let new = incoming(attr, value.unwrap_or(&Value::Null))?;
            let slot = map
                .entry(attr.name.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = slot else {
                return Err(invalid_value(format!("{} is not a list", attr.name)));
            };
            for n in new {
                match items.iter_mut().find(|el| same(el, &n)) {
                    Some(el) => *el = n,
                    None => items.push(n),
                }
            }
        }
        (Op::Replace, true) => {
            let new = incoming(attr, value.unwrap_or(&Value::Null))?;
            map.insert(attr.name.to_owned(), Value::Array(new));
        }
        (Op::Add | Op::Replace, false) => {
            let new = coerce(attr, value.unwrap_or(&Value::Null))?;
            match (map.get_mut(attr.name), new) {
                // A complex attribute is merged: the sub-attributes sent replace theirs.
                (Some(Value::Object(old)), Value::Object(fields)) => {
                    for (k, v) in fields {
                        old.insert(k, v);
                    }
                }
                (_, new) => {
                    map.insert(attr.name.to_owned(), new);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_URN, GROUP, USER};
    use serde_json::json;

    fn patch(resource: &mut Value, schema: ResourceSchema, ops: Value) -> Result<(), ScimError> {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        PatchRequest::parse(&body)?.apply(&schema, resource)
    }

    fn user() -> Value {
        json!({
            "id": "u1", "userName": "ana@example.com", "active": true,
            "name": {"givenName": "Ana", "familyName": "Silva"},
            "emails": [{"value": "ana@example.com", "type": "work", "primary": true}],
            "meta": {"resourceType": "User"}
        })
    }

    #[test]
    fn paths_and_values_as_identity_providers_send_them() {
        let mut u = user();
        // Okta: replace active with a path; Entra ID: capitalised op, "False".
        patch(
            &mut u,
            USER,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u["active"], json!(false));
        // Entra ID: no path, keys that are paths, URN-qualified extension keys.
        patch(
            &mut u,
            USER,
            json!([{"op": "Add", "value": {
                "name.familyName": "Costa",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
                "displayName": "Ana Costa"
            }}]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            u["name"],
            json!({"givenName": "Ana", "familyName": "Costa"})
        );
        assert_eq!(u[ENTERPRISE_URN]["department"], json!("R&D"));
        assert_eq!(u["displayName"], json!("Ana Costa"));
        // The extension object form.
        patch(
            &mut u,
            USER,
            json!([{"op": "replace", "value": {ENTERPRISE_URN: {"employeeNumber": "42"}}}]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u[ENTERPRISE_URN]["employeeNumber"], json!("42"));
    }

    #[test]
    fn value_filters_select_elements() {
        let mut u = user();
        patch(&mut u, USER, json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ana@new.example"}])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u["emails"][0]["value"], json!("ana@new.example"));
        // A home address Entra ID adds through a filter that matches nothing yet.
        patch(&mut u, USER, json!([{"op": "add", "path": "emails[type eq \"home\"].value", "value": "ana@home.example"}])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            u["emails"][1],
            json!({"type": "home", "value": "ana@home.example"})
        );
        patch(
            &mut u,
            USER,
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u["emails"].as_array().map(Vec::len), Some(1));
        let e = patch(
            &mut u,
            USER,
            json!([{"op": "remove", "path": "emails[type eq \"other\"]"}]),
        )
        .err();
        assert_eq!(e.and_then(|e| e.scim_type), Some(ScimType::NoTarget));
    }

    #[test]
    fn group_members_are_added_and_removed() {
        let mut g = json!({"id": "g1", "displayName": "Eng", "members": [{"value": "u1"}]});
        patch(
            &mut g,
            GROUP,
            json!([{"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u1"}]}]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            g["members"],
            json!([{"value": "u1"}, {"value": "u2"}]),
            "no duplicates"
        );
        // RFC form.
        patch(
            &mut g,
            GROUP,
            json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g["members"], json!([{"value": "u2"}]));
        // Entra ID form: a value array naming the members to remove.
        patch(
            &mut g,
            GROUP,
            json!([{"op": "Remove", "path": "members", "value": [{"value": "u2"}]}]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g["members"], json!([]));
        patch(
            &mut g,
            GROUP,
            json!([{"op": "replace", "path": "displayName", "value": "Engineering"}]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g["displayName"], json!("Engineering"));
    }

    #[test]
    fn bad_requests_name_what_is_wrong() {
        let kind = |ops: Value| {
            patch(&mut user(), USER, ops)
                .err()
                .and_then(|e| e.scim_type)
        };
        assert_eq!(
            kind(json!([{"op": "replace", "path": "id", "value": "x"}])),
            Some(ScimType::Mutability)
        );
        assert_eq!(
            kind(json!([{"op": "replace", "path": "meta.created", "value": "x"}])),
            Some(ScimType::Mutability)
        );
        assert_eq!(
            kind(json!([{"op": "replace", "path": "nickName", "value": "x"}])),
            Some(ScimType::InvalidPath)
        );
        assert_eq!(
            kind(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}])),
            Some(ScimType::InvalidPath)
        );
        assert_eq!(
            kind(json!([{"op": "replace", "path": "active", "value": "maybe"}])),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(kind(json!([{"op": "remove"}])), Some(ScimType::NoTarget));
        assert_eq!(
            kind(json!([{"op": "move", "path": "active"}])),
            Some(ScimType::InvalidSyntax)
        );
        let no_schema = PatchRequest::parse(&json!({"Operations": []}))
            .err()
            .and_then(|e| e.scim_type);
        assert_eq!(no_schema, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn a_schema_urn_as_path_or_key_names_its_attributes() {
        let mut user = serde_json::json!({"userName": "a", "active": true});
        let urn = crate::schema::USER_URN;
        let ent = crate::schema::ENTERPRISE_URN;
        for body in [
            serde_json::json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": {urn: {"active": false}}}]}),
            serde_json::json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": urn, "value": {"active": false}}]}),
        ] {
            user["active"] = true.into();
            PatchRequest::parse(&body)
                .unwrap_or_else(|e| panic!("{e}"))
                .apply_ignoring_unknown(&crate::schema::USER, &mut user)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(user["active"], false, "{body}");
        }
        // Entra ID's manager as a string, under its extension's URN.
        let body = serde_json::json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Add", "path": format!("{ent}:manager"), "value": "boss-7"},
            {"op": "replace", "path": ent, "value": {"department": "Ops"}}]});
        PatchRequest::parse(&body)
            .unwrap_or_else(|e| panic!("{e}"))
            .apply_ignoring_unknown(&crate::schema::USER, &mut user)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(user[ent]["manager"]["value"], "boss-7");
        assert_eq!(user[ent]["department"], "Ops");
    }

    #[test]
    fn unknown_attributes_can_be_skipped_for_entra_default_mappings() {
        let mut user = serde_json::json!({"userName": "a", "active": true});
        let body = serde_json::json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [
                {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "123"},
                {"op": "Replace", "value": {"nickName": "x", "active": "False"}},
            ]
        });
        let p = PatchRequest::parse(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p.apply(&crate::schema::USER, &mut user.clone())
                .err()
                .and_then(|e| e.scim_type),
            Some(ScimType::InvalidPath)
        );
        p.apply_ignoring_unknown(&crate::schema::USER, &mut user)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(user["active"], false);
        assert!(user.get("addresses").is_none());
        // Read-only stays refused.
        let ro = PatchRequest::parse(&serde_json::json!({"schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "id", "value": "x"}]}))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ro.apply_ignoring_unknown(&crate::schema::USER, &mut user)
                .err()
                .and_then(|e| e.scim_type),
            Some(ScimType::Mutability)
        );
    }
}
