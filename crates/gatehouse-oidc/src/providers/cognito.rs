//! Amazon Cognito: the issuer is `https://cognito-idp.<region>.amazonaws.com/<pool>`
//! but sign-in and logout live on the pool's domain
//! (`https://<domain>.auth.<region>.amazoncognito.com`), which the discovery
//! document's authorization endpoint names. Logout is
//! `<domain>/logout?client_id=...&logout_uri=...`.

/// The logout URL on the pool domain of `authorization_endpoint`.
pub fn logout_url(
    authorization_endpoint: &str,
    client_id: &str,
    logout_uri: &str,
) -> Option<url::Url> {
    let mut u = url::Url::parse(authorization_endpoint).ok()?;
    u.set_path("/logout");
    u.set_query(None);
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("logout_uri", logout_uri);
    Some(u)
}
