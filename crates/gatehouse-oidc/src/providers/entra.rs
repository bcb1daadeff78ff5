//! Microsoft Entra ID: multi-tenant applications use the issuer template
//! `https://login.microsoftonline.com/{tenantid}/v2.0`; the discovery
//! document says exactly that, and each ID token's `iss` has the user's
//! tenant (`tid`) in place of `{tenantid}`. Opt-in only, because it loosens
//! the exact issuer match (see `validate::id_token`).

/// Whether a configured issuer is the multi-tenant template.
pub fn is_template(issuer: &str) -> bool {
    issuer.contains("{tenantid}")
}
