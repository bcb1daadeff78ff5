//! Access: which roles a user has in an application (the union of the
//! grants that match them, or the application's default role), and whether
//! those roles may reach a path (per-route rules). Pure functions: the same
//! decision at sign-in, on every proxied request, in forward-auth and for
//! bearer tokens.

mod grant;
mod resolve;

pub use grant::{
    AccessPolicy, AccessPolicyInput, Grant, GrantInput, MAX_STRIP_HEADERS, NewGrant, Role,
    RouteRule, RouteRuleInput, Subject, header_key,
};
pub use resolve::{Authorization, Decision, Denied, authorize, resolve, route_allows};
