//! Auth0: without "RP-Initiated Logout End Session Endpoint Discovery"
//! enabled, Auth0 has no `end_session_endpoint`; logout is
//! `https://<tenant>/v2/logout?client_id=...&returnTo=...`.

/// The logout URL at the tenant of `issuer`.
pub fn logout_url(issuer: &str, client_id: &str, return_to: &str) -> Option<url::Url> {
    let mut u = url::Url::parse(issuer).ok()?;
    u.set_path("/v2/logout");
    u.set_query(None);
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("returnTo", return_to);
    Some(u)
}
