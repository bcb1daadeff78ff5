//! SCIM filters (RFC 7644 §3.4.2.2). Parsing is the `scim_v2` crate's (the
//! RFC grammar, `and` over `or`, value paths, URN-qualified names, nesting
//! bounded at 64); this module bounds the input's length, checks the filter
//! against the resource's schema (an operator the attribute's type does not
//! allow, or a value of the wrong type, is `invalidFilter`), and evaluates it
//! against a resource as JSON:
//!
//! - attribute names match case-insensitively, with or without their URN;
//! - strings compare case-insensitively unless the attribute is `caseExact`;
//! - a multi-valued attribute matches when any of its values does, and a
//!   complex one without a sub-attribute is compared by its `value`
//!   (`emails co "@example.com"` reads `emails.value`);
//! - a value path (`emails[type eq "work" and value co "x"]`) is evaluated
//!   against one element at a time, so both conditions hold for the same one;
//! - `dateTime` attributes compare as instants; `pr` is false for null, `""`
//!   and empty lists;
//! - an attribute Gatehouse does not store has no value: `pr` and every
//!   comparison with it are false, except `ne` and `eq null`, which hold.

use std::cmp::Ordering;

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ScimError;
use crate::schema::{Attr, AttrType, ResourceSchema};

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;

/// A filter that parsed and fits its resource's schema.
#[derive(Debug, Clone)]
pub struct ScimFilter {
    filter: Filter,
    schema: ResourceSchema,
}

impl ScimFilter {
    /// Parse `raw` as a filter over resources of `schema`.
    pub fn parse(raw: &str, schema: ResourceSchema) -> Result<Self, ScimError> {
        if raw.len() > MAX_FILTER_LEN {
            return Err(ScimError::invalid_filter(format!(
                "the filter is longer than {MAX_FILTER_LEN} bytes"
            )));
        }
        let rewritten = value_path_sub_attrs(raw);
        let raw = rewritten.as_deref().unwrap_or(raw);
        let filter: Filter = raw.parse().map_err(|e| {
            ScimError::invalid_filter(format!("the filter cannot be read: {}", describe(&e)))
        })?;
        check(&filter, &schema)?;
        Ok(Self { filter, schema })
    }

    /// Whether `resource` (its SCIM JSON) matches.
    pub fn matches(&self, resource: &Value) -> bool {
        eval(&self.filter, &self.schema, resource)
    }

    /// The filter is, or is an `and` with, `<attr> eq "<string>"` on a top-level
    /// attribute of the core schema (`userName eq "ana"`, as identity providers
    /// look users up): the attribute as the schema spells it, and the string.
    /// The store can then find the candidates directly; [`Self::matches`]
    /// still decides.
    pub fn equality(&self) -> Option<(&'static str, &str)> {
        fn find<'f>(f: &'f Filter, schema: &ResourceSchema) -> Option<(&'static str, &'f str)> {
            match f {
                Filter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(v)))
                    if path.sub_attr.is_none() =>
                {
                    let l = schema.locate(path.uri.as_deref(), &path.name)?;
                    (l.extension.is_none() && l.attr.ty != AttrType::Complex)
                        .then_some((l.attr.name, v.as_str()))
                }
                Filter::And(a, b) => find(a, schema).or_else(|| find(b, schema)),
                _ => None,
            }
        }
        find(&self.filter, &self.schema)
    }
}

/// `emails[type eq "work"].value eq "x"` (a value path with a
/// sub-attribute, as identity providers and the PATCH path grammar write
/// it; RFC 7644's filter grammar has no such form) rewritten as
/// `emails[(type eq "work") and value eq "x"]`, which means the same: one
/// element satisfies both. `None` when there is nothing to rewrite.
fn value_path_sub_attrs(raw: &str) -> Option<String> {
    let mut s = raw.to_owned();
    let mut changed = false;
    // Each pass rewrites the first occurrence; bounded by the input's length.
    for _ in 0..64 {
        let b = s.as_bytes();
        let (mut in_str, mut esc) = (false, false);
        let mut opens: Vec<usize> = Vec::new();
        let mut hit = None;
        for (i, &c) in b.iter().enumerate() {
            if in_str {
                match (esc, c) {
                    (true, _) => esc = false,
                    (false, b'\\') => esc = true,
                    (false, b'"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match c {
                b'"' => in_str = true,
                b'[' => opens.push(i),
                b']' => {
                    let open = opens.pop()?;
                    if b.get(i + 1) == Some(&b'.') {
                        hit = Some((open, i));
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some((open, close)) = hit else { break };
        // `.sub`, an operator, and (but for `pr`) a value.
        let rest = &s[close + 2..];
        let sub_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-'))
            .unwrap_or(rest.len());
        if sub_len == 0 {
            return None;
        }
        let sub = &rest[..sub_len];
        let after = rest[sub_len..].trim_start();
        let op_len = after
            .find(|c: char| c.is_whitespace() || c == ')')
            .unwrap_or(after.len());
        let op = &after[..op_len];
        let after_op = after[op_len..].trim_start();
        let (value, tail) = if op.eq_ignore_ascii_case("pr") {
            ("", &after[op_len..])
        } else if let Some(quoted) = after_op.strip_prefix('"') {
            let mut end = None;
            let mut esc = false;
            for (i, c) in quoted.char_indices() {
                match (esc, c) {
                    (true, _) => esc = false,
                    (false, '\\') => esc = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end?;
            (&after_op[..end + 2], &after_op[end + 2..])
        } else {
            let len = after_op
                .find(|c: char| c.is_whitespace() || c == ')')
                .unwrap_or(after_op.len());
            (&after_op[..len], &after_op[len..])
        };
        if op.is_empty() || (value.is_empty() && !op.eq_ignore_ascii_case("pr")) {
            return None;
        }
        let inner = &s[open + 1..close];
        let cond = if value.is_empty() {
            format!("{sub} {op}")
        } else {
            format!("{sub} {op} {value}")
        };
        s = format!("{}[({inner}) and {cond}]{tail}", &s[..open]);
        changed = true;
    }
    changed.then_some(s)
}

fn describe(e: &scim_v2::filter::ParseError) -> String {
    use scim_v2::filter::ParseError as E;
    match e {
        E::UnrecognizedEof { .. } => "it ends too early".to_owned(),
        E::UnrecognizedToken { token, .. } | E::ExtraToken { token } => {
            format!("unexpected {:?} at byte {}", token.1, token.0)
        }
        E::InvalidToken { location } => format!("an invalid character at byte {location}"),
        E::User { error } => error.to_string(),
    }
}

// ---- checking against the schema -------------------------------------------

fn check(f: &Filter, schema: &ResourceSchema) -> Result<(), ScimError> {
    match f {
        Filter::Attr(e) => check_exp(e, schema, None),
        Filter::ValuePath(vp) => {
            let Some(parent) = locate(schema, &vp.attr) else {
                return Ok(());
            };
            if parent.ty != AttrType::Complex {
                return Err(ScimError::invalid_filter(format!(
                    "{} has no sub-attributes to filter on",
                    vp.attr.name
                )));
            }
            check_val(&vp.filter, schema, parent)
        }
        Filter::Not(inner) => check(inner, schema),
        Filter::And(a, b) | Filter::Or(a, b) => {
            check(a, schema)?;
            check(b, schema)
        }
    }
}

fn check_val(f: &ValFilter, schema: &ResourceSchema, parent: &Attr) -> Result<(), ScimError> {
    match f {
        ValFilter::Attr(e) => check_exp(e, schema, Some(parent)),
        ValFilter::Not(inner) => check_val(inner, schema, parent),
        ValFilter::And(a, b) | ValFilter::Or(a, b) => {
            check_val(a, schema, parent)?;
            check_val(b, schema, parent)
        }
    }
}

fn check_exp(e: &AttrExp, schema: &ResourceSchema, parent: Option<&Attr>) -> Result<(), ScimError> {
    let AttrExp::Comparison(path, op, value) = e else {
        return Ok(());
    };
    let Some(attr) = target(schema, parent, path) else {
        return Ok(());
    };
    let ordering = matches!(
        op,
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
    );
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let bad = |why: &str| {
        Err(ScimError::invalid_filter(format!(
            "{}: {why}",
            path_text(path)
        )))
    };
    match (attr.ty, value) {
        (_, CompValue::Null) if ordering || substring => {
            bad("null can only be compared with eq or ne")
        }
        (_, CompValue::Null) => Ok(()),
        (AttrType::Boolean, CompValue::True | CompValue::False) if !ordering && !substring => {
            Ok(())
        }
        (AttrType::Boolean, _) => bad("a boolean is compared with eq or ne, to true or false"),
        (AttrType::Integer | AttrType::Decimal, CompValue::Number(_)) if !substring => Ok(()),
        (AttrType::Integer | AttrType::Decimal, _) => {
            bad("a number is compared with eq, ne, gt, ge, lt or le, to a number")
        }
        (AttrType::DateTime, CompValue::Str(s)) if !substring => match instant(s) {
            Some(_) => Ok(()),
            None => {
                bad("a dateTime is compared to an RFC 3339 time such as \"2026-01-31T12:00:00Z\"")
            }
        },
        (AttrType::DateTime, _) => {
            bad("a dateTime is compared with eq, ne, gt, ge, lt or le, to an RFC 3339 time")
        }
        (AttrType::String | AttrType::Reference | AttrType::Complex, CompValue::Str(_)) => Ok(()),
        (AttrType::String | AttrType::Reference | AttrType::Complex, _) => {
            bad("a string is compared to a string")
        }
    }
}

fn path_text(p: &AttrPath) -> String {
    match &p.sub_attr {
        Some(s) => format!("{}.{s}", p.name),
        None => p.name.clone(),
    }
}

/// The attribute a path names: its sub-attribute when it has one, and for a
/// complex attribute without one, its `value` (how SCIM compares them).
fn target<'s>(
    schema: &'s ResourceSchema,
    parent: Option<&'s Attr>,
    path: &AttrPath,
) -> Option<&'s Attr> {
    let attr: &Attr = match parent {
        Some(p) => p.sub_attr(&path.name)?,
        None => locate(schema, path)?,
    };
    match &path.sub_attr {
        Some(sub) => attr.sub_attr(sub),
        None if attr.ty == AttrType::Complex => attr.sub_attr("value").or(Some(attr)),
        None => Some(attr),
    }
}

fn locate<'s>(schema: &'s ResourceSchema, path: &AttrPath) -> Option<&'s Attr> {
    schema
        .locate(path.uri.as_deref(), &path.name)
        .map(|l| l.attr)
}

// ---- evaluation ---------------------------------------------------------------

fn eval(f: &Filter, schema: &ResourceSchema, resource: &Value) -> bool {
    match f {
        Filter::Attr(e) => eval_exp(e, schema, None, resource),
        Filter::ValuePath(vp) => {
            let Some(parent) = locate(schema, &vp.attr) else {
                return false;
            };
            let Some(v) = field(container(schema, &vp.attr, resource), parent.name) else {
                return false;
            };
            elements(v).any(|el| eval_val(&vp.filter, schema, parent, el))
        }
        Filter::Not(inner) => !eval(inner, schema, resource),
        Filter::And(a, b) => eval(a, schema, resource) && eval(b, schema, resource),
        Filter::Or(a, b) => eval(a, schema, resource) || eval(b, schema, resource),
    }
}

pub(crate) fn eval_val(
    f: &ValFilter,
    schema: &ResourceSchema,
    parent: &Attr,
    element: &Value,
) -> bool {
    match f {
        ValFilter::Attr(e) => eval_exp(e, schema, Some(parent), element),
        ValFilter::Not(inner) => !eval_val(inner, schema, parent, element),
        ValFilter::And(a, b) => {
            eval_val(a, schema, parent, element) && eval_val(b, schema, parent, element)
        }
        ValFilter::Or(a, b) => {
            eval_val(a, schema, parent, element) || eval_val(b, schema, parent, element)
        }
    }
}

/// Where a top-level attribute lives in the resource: the object itself, or
/// its extension's object.
fn container<'v>(
    schema: &ResourceSchema,
    path: &AttrPath,
    resource: &'v Value,
) -> Option<&'v Value> {
    match schema
        .locate(path.uri.as_deref(), &path.name)
        .and_then(|l| l.extension)
    {
        Some(urn) => field(Some(resource), urn),
        None => Some(resource),
    }
}

/// A member of an object, its name matched case-insensitively.
fn field<'v>(obj: Option<&'v Value>, name: &str) -> Option<&'v Value> {
    let map = obj?.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The values of an attribute: each element of a list, or the value itself.
fn elements(v: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match v {
        Value::Array(items) => Box::new(items.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

/// The values a path reads from `scope` (the resource, or one element of a
/// value path's attribute), with the attribute they are compared as.
fn values<'v>(
    schema: &ResourceSchema,
    parent: Option<&Attr>,
    path: &AttrPath,
    scope: &'v Value,
) -> Option<(&'static Attr, Vec<&'v Value>)> {
    let attr: &'static Attr = match parent {
        Some(p) => p.sub_attr(&path.name)?,
        None => schema.locate(path.uri.as_deref(), &path.name)?.attr,
    };
    let base = match parent {
        Some(_) => Some(scope),
        None => container(schema, path, scope),
    };
    let top = field(base, attr.name)?;
    let sub_name = match &path.sub_attr {
        Some(s) => Some(attr.sub_attr(s)?),
        None if attr.ty == AttrType::Complex => attr.sub_attr("value"),
        None => None,
    };
    match sub_name {
        Some(sub) => Some((
            sub,
            elements(top)
                .filter_map(|el| field(Some(el), sub.name))
                .collect(),
        )),
        None => Some((attr, elements(top).collect())),
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(present),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn eval_exp(e: &AttrExp, schema: &ResourceSchema, parent: Option<&Attr>, scope: &Value) -> bool {
    match e {
        AttrExp::Present(path) => {
            values(schema, parent, path, scope).is_some_and(|(_, vs)| vs.iter().any(|v| present(v)))
        }
        AttrExp::Comparison(path, op, want) => {
            let found = values(schema, parent, path, scope);
            if let CompValue::Null = want {
                let any = found.is_some_and(|(_, vs)| vs.iter().any(|v| present(v)));
                return match op {
                    CompareOp::Eq => !any,
                    CompareOp::Ne => any,
                    _ => false,
                };
            }
            let Some((attr, vs)) = found else {
                return matches!(op, CompareOp::Ne);
            };
            match op {
                // `ne`: no value equals it (an absent attribute is not equal).
                CompareOp::Ne => !vs.iter().any(|v| compare(attr, &CompareOp::Eq, v, want)),
                _ => vs.iter().any(|v| compare(attr, op, v, want)),
            }
        }
    }
}

fn instant(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn compare(attr: &Attr, op: &CompareOp, have: &Value, want: &CompValue) -> bool {
    let ordered = |o: Option<Ordering>| match (o, op) {
        (Some(o), CompareOp::Eq) => o == Ordering::Equal,
        (Some(o), CompareOp::Gt) => o == Ordering::Greater,
        (Some(o), CompareOp::Ge) => o != Ordering::Less,
        (Some(o), CompareOp::Lt) => o == Ordering::Less,
        (Some(o), CompareOp::Le) => o != Ordering::Greater,
        _ => false,
    };
    match (attr.ty, have, want) {
        (AttrType::Boolean, Value::Bool(b), CompValue::True) => *b && matches!(op, CompareOp::Eq),
        (AttrType::Boolean, Value::Bool(b), CompValue::False) => !*b && matches!(op, CompareOp::Eq),
        (AttrType::Integer | AttrType::Decimal, Value::Number(n), CompValue::Number(w)) => ordered(
            n.as_f64()
                .zip(w.as_f64())
                .and_then(|(a, b)| a.partial_cmp(&b)),
        ),
        (AttrType::DateTime, Value::String(s), CompValue::Str(w)) => {
            ordered(instant(s).zip(instant(w)).map(|(a, b)| a.cmp(&b)))
        }
        (_, Value::String(s), CompValue::Str(w)) => {
            let (s, w) = if attr.case_exact {
                (s.clone(), w.clone())
            } else {
                (s.to_lowercase(), w.to_lowercase())
            };
            match op {
                CompareOp::Co => s.contains(&w),
                CompareOp::Sw => s.starts_with(&w),
                CompareOp::Ew => s.ends_with(&w),
                _ => ordered(Some(s.cmp(&w))),
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{GROUP, USER};
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [crate::schema::USER_URN, crate::schema::ENTERPRISE_URN],
            "id": "2819c223",
            "externalId": "701984",
            "userName": "Bjensen@Example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "displayName": "Babs Jensen",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "groups": [{"value": "e9e30dba", "display": "Engineering"}],
            "meta": {"resourceType": "User", "created": "2026-01-23T04:56:22Z", "lastModified": "2026-05-13T04:42:34Z"},
            crate::schema::ENTERPRISE_URN: {"department": "R&D", "employeeNumber": "42", "manager": {"value": "26118915"}}
        })
    }

    fn m(filter: &str) -> bool {
        ScimFilter::parse(filter, USER)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(&user())
    }

    fn refused(filter: &str) -> String {
        match ScimFilter::parse(filter, USER) {
            Err(e) => {
                assert_eq!(e.status, 400);
                assert_eq!(e.scim_type, Some(crate::ScimType::InvalidFilter));
                e.detail
            }
            Ok(_) => panic!("{filter} should be refused"),
        }
    }

    #[test]
    fn every_operator() {
        assert!(
            m(r#"userName eq "bjensen@example.com""#),
            "userName is not caseExact"
        );
        assert!(!m(r#"id eq "2819C223""#), "id is caseExact");
        assert!(m(r#"userName ne "someone@example.com""#));
        assert!(m(r#"displayName co "jens""#));
        assert!(m(r#"name.familyName sw "Jen""#));
        assert!(m(r#"userName ew "@example.COM""#));
        assert!(!m("title pr"), "unknown attributes match nothing");
        assert!(m("displayName pr"));
        assert!(m(r#"meta.lastModified gt "2026-05-01T00:00:00Z""#));
        assert!(m(r#"meta.lastModified ge "2026-05-13T04:42:34Z""#));
        assert!(
            !m(r#"meta.lastModified lt "2026-05-13T05:42:34+01:00""#),
            "instants, not strings"
        );
        assert!(m(r#"meta.created le "2026-01-23T04:56:22Z""#));
        assert!(m("active eq true") && !m("active eq false"));
    }

    #[test]
    fn logic_and_grouping() {
        assert!(m(
            r#"userName sw "b" and (displayName co "zz" or active eq true)"#
        ));
        assert!(
            !m(r#"userName sw "b" and displayName co "zz" or active eq false"#),
            "and binds tighter"
        );
        assert!(m(r#"not (displayName co "zz")"#));
        assert!(
            m(r#"USERNAME EQ "BJENSEN@EXAMPLE.COM""#),
            "names and operators in any case"
        );
    }

    #[test]
    fn multi_valued_and_value_paths() {
        assert!(m(r#"emails co "jensen.org""#), "emails compares its values");
        assert!(m(r#"emails.value ew ".org""#));
        assert!(m(r#"emails[type eq "work" and value co "example.com"]"#));
        assert!(
            !m(r#"emails[type eq "home" and value co "example.com"]"#),
            "both conditions on one element"
        );
        assert!(m(r#"emails[not (type eq "work")]"#));
        assert!(m(r#"groups.value eq "e9e30dba""#));
    }

    #[test]
    fn urns_and_the_enterprise_extension() {
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen""#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#
        ));
        assert!(
            !m(r#"department eq "R&D""#),
            "an unqualified name is the core schema's"
        );
    }

    #[test]
    fn null_and_presence() {
        assert!(m("externalId pr") && m("externalId ne null") && !m("externalId eq null"));
        let empty = json!({"userName": "x", "displayName": "", "emails": []});
        let f = |s: &str| {
            ScimFilter::parse(s, USER)
                .unwrap_or_else(|e| panic!("{e}"))
                .matches(&empty)
        };
        assert!(!f("displayName pr") && !f("emails pr") && f("not (emails pr)"));
        assert!(f(r#"displayName ne "y""#));
    }

    #[test]
    fn groups_filter_on_members() {
        let g = json!({"id": "g1", "displayName": "Engineering", "members": [{"value": "u1"}, {"value": "u2"}]});
        let f = |s: &str| {
            ScimFilter::parse(s, GROUP)
                .unwrap_or_else(|e| panic!("{e}"))
                .matches(&g)
        };
        assert!(f(r#"displayName eq "engineering""#));
        assert!(f(r#"members[value eq "u2"]"#) && !f(r#"members[value eq "U2"]"#));
    }

    #[test]
    fn bad_filters_are_invalid_filter() {
        let early = refused(r#"userName eq"#);
        assert!(early.contains("cannot be read"), "{early}");
        assert!(!refused(r#"userName zz "x""#).is_empty());
        assert!(refused(r#"active gt true"#).contains("active"));
        assert!(refused(r#"meta.lastModified gt "yesterday""#).contains("RFC 3339"));
        assert!(refused(r#"userName eq 5"#).contains("string"));
        assert!(refused(r#"name.familyName co null"#).contains("null"));
        assert!(
            refused(&format!(r#"userName eq "{}""#, "x".repeat(MAX_FILTER_LEN))).contains("longer")
        );
        // Parentheses alone add no depth (and the parser keeps no call stack);
        // nested operators do, and are bounded.
        let parens = format!("{}userName pr{}", "(".repeat(200), ")".repeat(200));
        assert!(ScimFilter::parse(&parens, USER).is_ok());
        let deep = format!("{}userName pr{}", "not (".repeat(100), ")".repeat(100));
        assert!(refused(&deep).contains("depth"), "nesting is bounded");
        let chain = vec![r#"id eq "x""#; 100].join(" or ");
        assert!(!refused(&chain).is_empty(), "so are long chains");
        assert!(!refused(r#"userName eq "unterminated"#).is_empty());
    }

    #[test]
    fn a_value_path_with_a_sub_attribute_reads_as_one_element_matching_both() {
        assert_eq!(
            value_path_sub_attrs(r#"emails[type eq "work"].value eq "a]b.c" and active eq true"#)
                .as_deref(),
            Some(r#"emails[(type eq "work") and value eq "a]b.c"] and active eq true"#)
        );
        assert_eq!(
            value_path_sub_attrs(r#"(emails[type eq "work"].value pr)"#).as_deref(),
            Some(r#"(emails[(type eq "work") and value pr])"#)
        );
        assert!(value_path_sub_attrs(r#"emails[type eq "work"]"#).is_none());
        let f = ScimFilter::parse(
            r#"emails[type eq "work"].value co "@corp""#,
            crate::schema::USER,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let both = serde_json::json!({"emails": [{"type": "work", "value": "a@corp.example"}]});
        let split = serde_json::json!({"emails": [{"type": "work", "value": "a@home"}, {"type": "home", "value": "a@corp"}]});
        assert!(f.matches(&both));
        assert!(!f.matches(&split));
    }
}
