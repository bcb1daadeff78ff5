//! Google Workspace: restrict sign-in to one domain with the `hd`
//! authorization parameter (a hint to the account chooser) and the `hd`
//! claim (the check; see `validate::id_token`).

/// The authorization parameter that pre-selects the domain.
pub fn hd_param(domain: &str) -> (&'static str, &str) {
    ("hd", domain)
}

/// The user belongs to the Workspace domain: the `hd` claim (in the ID token
/// or userinfo) equals it. Accounts outside any Workspace have no `hd`.
pub fn check_hd(claims: &serde_json::Map<String, serde_json::Value>, domain: &str) -> crate::Check {
    use crate::Check;
    match claims.get("hd").and_then(serde_json::Value::as_str) {
        Some(got) if got.eq_ignore_ascii_case(domain) => Check::ok("hd"),
        Some(got) => Check::failed(
            "hd",
            format!("the account belongs to {got:?}, not to the required domain {domain:?}"),
        ),
        None => Check::failed(
            "hd",
            format!("the account is not part of the Google Workspace domain {domain:?}"),
        ),
    }
}
