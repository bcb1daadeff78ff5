//! A real headless Chromium through the IdP's sign-in form and back.

use gatehouse_testkit::browser::Browser;
use gatehouse_testkit::sso::Sso;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_signs_in_through_the_idp_form_and_reaches_the_proxied_page() {
    let sso = Sso::start().await;
    let browser = Browser::start().await;
    browser
        .goto(&format!("{}/dashboard?tab=orders", sso.base))
        .await;
    // Gatehouse sends the browser to the IdP, which shows its sign-in form.
    browser.wait("#login").await;
    assert!(
        browser.url().await.as_str().starts_with(&sso.idp.issuer),
        "at the IdP"
    );
    browser.screenshot("oidc-1-idp-sign-in-form").await;
    browser.fill("#login", "alice").await;
    browser.fill("#password", "any").await;
    browser.click("#submit").await;
    // Back through the callback to the page first asked for, served by the upstream.
    let mut arrived = false;
    for _ in 0..100 {
        let url = browser.url().await;
        if url.host_str() == Some("shop.localhost") && url.path() == "/dashboard" {
            arrived = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        arrived,
        "the browser came back to /dashboard, at {}",
        browser.url().await
    );
    assert_eq!(browser.url().await.query(), Some("tab=orders"));
    let text = browser.source().await;
    assert!(
        text.contains("alice@example.com"),
        "the upstream saw the identity headers: {text}"
    );
    assert!(text.contains("\"path\":\"/dashboard\""), "{text}");
    browser.screenshot("oidc-2-proxied-page").await;
    // The session cookie is HttpOnly: page scripts cannot read it.
    let visible = browser
        .client
        .execute("return document.cookie", vec![])
        .await
        .expect("script");
    assert!(!visible.as_str().unwrap_or("").contains("gatehouse_session"));
    // Signing out goes to the IdP and back to the signed-out page.
    browser.goto(&format!("{}/auth/logout", sso.base)).await;
    let mut signed_out = false;
    for _ in 0..100 {
        if browser.url().await.path() == "/auth/logged-out" {
            signed_out = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(signed_out, "at {}", browser.url().await);
    assert!(browser.text().await.contains("You are signed out"));
    browser.screenshot("oidc-3-signed-out").await;
}
