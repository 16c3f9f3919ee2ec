//! Sign-in, tokens, sessions, lockout and forged tokens, against a real hub over HTTP.

mod common;

use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::{PASSWORD, TestHub};
use outpost_domain::{Role, TenantKind};
use outpost_hub::HubConfig;

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("json")
}

#[tokio::test]
async fn login_issues_an_eddsa_token_with_the_design_claims() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Doctor).await;
    let login = hub.login(&email, None).await;
    let token = login["access_token"].as_str().expect("token");
    let header = header_of(token);
    assert_eq!(header["alg"], "EdDSA");
    let claims = claims_of(token);
    for claim in [
        "iss", "aud", "sub", "tid", "role", "sid", "exp", "iat", "jti",
    ] {
        assert!(!claims[claim].is_null(), "missing claim {claim}");
    }
    assert_eq!(claims["tid"], json!(clinic.id));
    assert_eq!(claims["role"], "doctor");
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["expires_in"], 900);
    assert_eq!(login["tenant"]["slug"], "clinic-a");
    assert!(
        login["permissions"]
            .as_array()
            .expect("perms")
            .contains(&json!("patient.read_clinical"))
    );
    assert!(login["offline_grant"].is_string());

    let (status, jwks) = hub.call(Method::GET, "/v1/auth/jwks", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");

    let (status, me) = hub.get("/v1/me", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], email.as_str());
    hub.stop().await;
}

#[tokio::test]
async fn a_platform_admin_signs_in_without_a_tenant_and_members_of_several_must_choose() {
    let hub = TestHub::start().await;
    let admin = hub.user(None, Role::PlatformAdmin).await;
    let login = hub.login(&admin, None).await;
    assert!(login["tenant"].is_null());
    assert!(claims_of(login["access_token"].as_str().expect("token"))["tid"].is_null());

    let a = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let b = hub.tenant("hospital-b", TenantKind::Hospital).await;
    let email = hub.user(Some(&a), Role::Nurse).await;
    let user = hub
        .store
        .central()
        .user_by_email(&email)
        .await
        .expect("q")
        .expect("user");
    let event = hub.actor().event(
        "user.membership_add",
        outpost_domain::audit::Outcome::Success,
    );
    hub.store
        .central()
        .add_membership(user.id, Some(b.id), Role::Doctor, event)
        .await
        .expect("membership");
    let (status, body) = hub
        .login_raw(json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let login = hub.login(&email, Some("hospital-b")).await;
    assert_eq!(login["role"], "doctor");
    let (status, _) = hub
        .login_raw(json!({"email": email, "password": PASSWORD, "tenant": "nowhere"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    hub.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_session() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::FrontDesk).await;
    let login = hub.login(&email, None).await;
    let first = login["refresh_token"].as_str().expect("refresh").to_owned();

    let (status, second) = hub.refresh(&first).await;
    assert_eq!(status, StatusCode::OK);
    let second_refresh = second["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let second_access = second["access_token"].as_str().expect("access").to_owned();
    assert_ne!(second_refresh, first);
    assert_eq!(hub.get("/v1/me", &second_access).await.0, StatusCode::OK);

    // The client uses its new token…
    let (status, third) = hub.refresh(&second_refresh).await;
    assert_eq!(status, StatusCode::OK);
    let third_access = third["access_token"].as_str().expect("access").to_owned();
    let second_refresh = third["refresh_token"].as_str().expect("refresh").to_owned();
    let second_access = third_access;
    // …so replaying the first token is theft: the whole session dies, new tokens included.
    let (status, body) = hub.refresh(&first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "session_ended");
    assert_eq!(
        hub.get("/v1/me", &second_access).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = hub.refresh(&second_refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, _) = hub.refresh("made-up").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    hub.stop().await;
}

#[tokio::test]
async fn a_refresh_whose_answer_was_lost_can_be_retried_briefly() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Nurse).await;
    let first = hub.login(&email, None).await["refresh_token"]
        .as_str()
        .expect("r")
        .to_owned();
    let (status, _lost) = hub.refresh(&first).await;
    assert_eq!(status, StatusCode::OK);
    // The client crashed before storing the answer and presents the old token again.
    let (status, retried) = hub.refresh(&first).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    let current = retried["refresh_token"].as_str().expect("r").to_owned();
    assert_eq!(hub.refresh(&current).await.0, StatusCode::OK);
    // Past the window, a spent token is theft even if its successor was never used.
    let email = hub.user(Some(&clinic), Role::Nurse).await;
    let first = hub.login(&email, None).await["refresh_token"]
        .as_str()
        .expect("r")
        .to_owned();
    assert_eq!(hub.refresh(&first).await.0, StatusCode::OK);
    hub.clock.advance(Duration::minutes(3));
    let (status, body) = hub.refresh(&first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "session_ended");
    hub.stop().await;
}

#[tokio::test]
async fn logout_makes_the_access_token_fail_at_once() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Nurse).await;
    let login = hub.login(&email, None).await;
    let token = login["access_token"].as_str().expect("token");
    assert_eq!(hub.get("/v1/me", token).await.0, StatusCode::OK);
    let (status, _) = hub
        .call(Method::POST, "/v1/auth/logout", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(hub.get("/v1/me", token).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = hub
        .refresh(login["refresh_token"].as_str().expect("refresh"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    hub.stop().await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let admin = hub.signed_in(Some(&clinic), Role::TenantAdmin).await;
    let email = hub.user(Some(&clinic), Role::Doctor).await;
    let token = hub.token(&email).await;
    let (_, me) = hub.get("/v1/me", &token).await;
    let id = me["user"]["id"].as_str().expect("id").to_owned();
    let (status, member) = hub
        .patch(
            &format!("/v1/users/{id}"),
            &admin,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{member}");
    assert_eq!(member["disabled"], true);
    assert_eq!(hub.get("/v1/me", &token).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = hub
        .login_raw(json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_credentials");
    hub.stop().await;
}

#[tokio::test]
async fn repeated_failures_lock_an_address_whether_or_not_it_exists() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Doctor).await;
    for address in [email.as_str(), "nobody@test.example"] {
        for attempt in 1..=5 {
            let (status, body) = hub
                .login_raw(json!({"email": address, "password": "wrong password!!"}))
                .await;
            if attempt < 5 {
                assert_eq!(status, StatusCode::UNAUTHORIZED);
                assert_eq!(body["error"]["code"], "invalid_credentials");
                assert_eq!(
                    body["error"]["message"],
                    "e-mail or password is not correct"
                );
            } else {
                assert_eq!(status, StatusCode::LOCKED, "{address} attempt {attempt}");
            }
        }
        // Locked: even the right password is refused, with the same answer for both addresses.
        let (status, body) = hub
            .login_raw(json!({"email": address, "password": PASSWORD}))
            .await;
        assert_eq!(status, StatusCode::LOCKED);
        assert_eq!(body["error"]["code"], "account_locked");
    }
    hub.clock.advance(Duration::minutes(16));
    hub.login(&email, None).await;
    hub.stop().await;
}

#[tokio::test]
async fn unknown_addresses_and_wrong_passwords_cost_comparable_time() {
    let hub = TestHub::start_with(HubConfig {
        lockout_threshold: 1000,
        ..HubConfig::default()
    })
    .await;
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Doctor).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..7 {
        let started = Instant::now();
        hub.login_raw(json!({"email": email, "password": "not the password"}))
            .await;
        known.push(started.elapsed());
        let started = Instant::now();
        hub.login_raw(
            json!({"email": format!("ghost{i}@test.example"), "password": "not the password"}),
        )
        .await;
        unknown.push(started.elapsed());
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[3].as_secs_f64(), unknown[3].as_secs_f64());
    // Both pay one Argon2id verification; without it an unknown address answers ~100× faster.
    assert!(
        u > k / 3.0 && u < k * 3.0,
        "median known {k:.4}s vs unknown {u:.4}s"
    );
    hub.stop().await;
}

#[tokio::test]
async fn access_tokens_expire_after_15_minutes_and_sessions_on_idle_and_absolute_limits() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Doctor).await;
    let login = hub.login(&email, None).await;
    let token = login["access_token"].as_str().expect("token").to_owned();
    let refresh = login["refresh_token"].as_str().expect("refresh").to_owned();

    hub.clock.advance(Duration::minutes(14));
    assert_eq!(hub.get("/v1/me", &token).await.0, StatusCode::OK);
    hub.clock.advance(Duration::minutes(2));
    let (status, body) = hub.get("/v1/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // The session is still live (activity 2 minutes ago): refresh works.
    let (status, renewed) = hub.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK);
    let refresh = renewed["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();

    // 31 idle minutes end the session.
    hub.clock.advance(Duration::minutes(31));
    let (status, body) = hub.refresh(&refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "session_ended");

    // A busy session still ends 12 hours after sign-in.
    let login = hub.login(&email, None).await;
    let mut refresh = login["refresh_token"].as_str().expect("refresh").to_owned();
    for _ in 0..60 {
        hub.clock.advance(Duration::minutes(12));
        let (status, renewed) = hub.refresh(&refresh).await;
        if status != StatusCode::OK {
            assert_eq!(renewed["error"]["code"], "session_ended");
            let sessions = hub
                .store
                .central()
                .sessions_of(
                    hub.store
                        .central()
                        .user_by_email(&email)
                        .await
                        .expect("q")
                        .expect("u")
                        .id,
                )
                .await
                .expect("sessions");
            let last = sessions.last().expect("session");
            assert_eq!(last.end_reason.as_deref(), Some("absolute_timeout"));
            assert!(last.ended_at.expect("ended") - last.created_at >= Duration::hours(12));
            hub.stop().await;
            return;
        }
        refresh = renewed["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned();
    }
    panic!("the session outlived its absolute limit");
}

#[tokio::test]
async fn forged_and_misused_tokens_are_refused() {
    let hub = TestHub::start().await;
    let a = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let b = hub.tenant("clinic-b", TenantKind::Clinic).await;
    let email = hub.user(Some(&a), Role::Doctor).await;
    let login = hub.login(&email, None).await;
    let token = login["access_token"].as_str().expect("token").to_owned();
    let claims = claims_of(&token);
    let header = header_of(&token);
    let mut forged: Vec<(&str, String)> = Vec::new();

    // alg: none, the claims unchanged.
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = token.split('.').nth(1).expect("payload");
    forged.push(("alg none", format!("{none_header}.{body}.")));

    // HS256 keyed with the public key from the JWKS.
    let (_, jwks) = hub.call(Method::GET, "/v1/auth/jwks", None, None).await;
    let public = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().expect("x"))
        .expect("x");
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    forged.push((
        "HS256 with public key",
        encode(&hs_header, &claims, &EncodingKey::from_secret(&public)).expect("hs256"),
    ));

    // Correctly signed but wrong: expired, wrong aud, wrong iss, tenant swapped. Signed with
    // the hub's own key, as an insider with a stolen key would: they must still fail the
    // claim checks.
    let keys = hub.store.central().signing_keys().await.expect("keys");
    let own = EncodingKey::from_ed_der(&keys[0].private_pkcs8);
    let mut ed_header = Header::new(Algorithm::EdDSA);
    ed_header.kid = Some(keys[0].kid.clone());
    let resign = |change: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        change(&mut c);
        encode(&ed_header, &c, &own).expect("sign")
    };
    let now = chrono::Utc::now().timestamp();
    forged.push((
        "expired",
        resign(&|c| {
            c["exp"] = json!(now - 10);
        }),
    ));
    forged.push(("wrong aud", resign(&|c| c["aud"] = json!("someone-else"))));
    forged.push(("wrong iss", resign(&|c| c["iss"] = json!("evil-hub"))));
    forged.push(("tid of another tenant", resign(&|c| c["tid"] = json!(b.id))));

    // The original token with the tenant claim edited and the signature kept.
    let mut tampered = claims.clone();
    tampered["tid"] = json!(b.id);
    let tampered_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).expect("json"));
    let parts: Vec<&str> = token.split('.').collect();
    forged.push((
        "tampered tid",
        format!("{}.{tampered_body}.{}", parts[0], parts[2]),
    ));

    forged.push((
        "refresh token",
        login["refresh_token"].as_str().expect("r").to_owned(),
    ));
    forged.push((
        "offline grant",
        login["offline_grant"].as_str().expect("g").to_owned(),
    ));
    forged.push(("garbage", "not.a.token".into()));

    for (what, bad) in forged {
        let (status, body) = hub.get("/v1/patients", &bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert!(body["error"]["code"].is_string(), "{what}: error shape");
    }
    let (status, _) = hub.call(Method::GET, "/v1/patients", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(hub.get("/v1/patients", &token).await.0, StatusCode::OK);
    hub.stop().await;
}

#[tokio::test]
async fn a_refresh_answer_lost_again_and_again_keeps_the_session_and_a_late_replay_ends_it() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Nurse).await;
    let first = hub.login(&email, None).await["refresh_token"]
        .as_str()
        .expect("r")
        .to_owned();
    // A cellular link loses the answer three times in a row; each retry, seconds apart and
    // inside the window, gets the same successor.
    let mut answers = Vec::new();
    for _ in 0..4 {
        let (status, answer) = hub.refresh(&first).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answers.push(answer["refresh_token"].as_str().expect("r").to_owned());
        hub.clock.advance(Duration::seconds(4));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "one successor");
    assert_ne!(answers[0], first);
    let (status, next) = hub.refresh(&answers[0]).await;
    assert_eq!(status, StatusCode::OK, "the session lives on: {next}");
    let access = next["access_token"].as_str().expect("access");
    assert_eq!(hub.get("/v1/me", access).await.0, StatusCode::OK);
    // Once the successor has been used, the spent token is a copy.
    let (status, body) = hub.refresh(&first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "session_ended");

    // Past the window (15 s by default) a retry is a copy too, though its successor is unused.
    let email = hub.user(Some(&clinic), Role::Nurse).await;
    let first = hub.login(&email, None).await["refresh_token"]
        .as_str()
        .expect("r")
        .to_owned();
    assert_eq!(hub.refresh(&first).await.0, StatusCode::OK);
    hub.clock.advance(Duration::seconds(16));
    let (status, body) = hub.refresh(&first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "session_ended");
    hub.stop().await;
}

/// The resident memory of this process (the hub runs in it), in MiB.
fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_sign_ins_keeps_memory_bounded_and_the_hub_answering() {
    let hub = TestHub::start_with(HubConfig {
        password_workers: Some(2),
        // The per-address limit (tested on its own) would answer most of these 429 before
        // they reach the password pool; a flood from many addresses reaches it, as here.
        sign_in_per_minute: 0,
        ..HubConfig::default()
    })
    .await;
    let before = resident_mib();
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Nurse).await;
    let token = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let peak = std::sync::Arc::new(std::sync::Mutex::new(before));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                let now = resident_mib();
                {
                    let mut peak = peak.lock().expect("peak");
                    *peak = peak.max(now);
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    // 100 at once: half to unknown addresses, half to a real account.
    let attempts: Vec<_> = (0..100)
        .map(|i| {
            let address = if i % 2 == 0 {
                format!("nobody{i}@test.example")
            } else {
                email.clone()
            };
            let request = hub
                .http
                .post(format!("{}/v1/auth/login", hub.url))
                .json(&json!({"email": address, "password": "not the password at all"}))
                .send();
            tokio::spawn(request)
        })
        .collect();
    // Meanwhile, other requests are answered promptly.
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..5 {
        for path in ["/healthz", "/v1/me"] {
            let started = Instant::now();
            let (status, _) = hub.get(path, &token).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            slowest = slowest.max(started.elapsed());
        }
    }
    let mut statuses = std::collections::BTreeMap::new();
    for attempt in attempts {
        let resp = attempt.await.expect("join").expect("answer");
        let status = resp.status().as_u16();
        if status == 503 {
            assert_eq!(
                resp.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("1"),
                "a busy answer says when to come back"
            );
            let body: Value = resp.json().await.expect("error shape");
            assert_eq!(body["error"]["code"], "unavailable");
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    sampling.abort();
    let growth = *peak.lock().expect("peak") - before;
    eprintln!(
        "statuses {statuses:?}, RSS growth {growth:.1} MiB, slowest other request {slowest:?}"
    );
    assert!(
        statuses.keys().all(|s| [401, 423, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains_key(&503),
        "the queue is short: {statuses:?}"
    );
    assert!(growth < 64.0, "RSS grew by {growth:.1} MiB");
    assert!(
        slowest < std::time::Duration::from_secs(1),
        "other requests waited {slowest:?}"
    );
    // And the real password still works once the flood is over (the account's lockout aside).
    let other = hub.user(Some(&clinic), Role::Nurse).await;
    hub.login(&other, None).await;
    hub.stop().await;
}

/// Signs in (or refreshes) as if from `address`, through a proxy the hub trusts.
async fn from_address(hub: &TestHub, path: &str, address: &str, body: Value) -> reqwest::Response {
    hub.http
        .post(format!("{}{path}", hub.url))
        .header("x-forwarded-for", address)
        .json(&body)
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn one_address_is_rate_limited_on_sign_in_and_refresh_and_others_are_not() {
    let hub = TestHub::start_with(HubConfig {
        trusted_proxies: vec!["127.0.0.1".parse().expect("net")],
        refresh_per_minute: 5,
        ..HubConfig::default()
    })
    .await;
    let clinic = hub.tenant("clinic-a", TenantKind::Clinic).await;
    let email = hub.user(Some(&clinic), Role::Nurse).await;
    // 50 rapid failed sign-ins from one address, each to another unknown account (so that no
    // account lockout answers them): the first 30 are checked, the rest refused at once.
    let mut statuses = Vec::new();
    for n in 0..50 {
        let resp = from_address(
            &hub,
            "/v1/auth/login",
            "198.51.100.1",
            json!({"email": format!("guess{n}@test.example"), "password": "guessing"}),
        )
        .await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            let wait: u64 = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("Retry-After");
            assert!((1..=60).contains(&wait), "{wait}");
            let body: Value = resp.json().await.expect("error shape");
            assert_eq!(body["error"]["code"], "rate_limited");
            statuses.push(429);
        } else {
            statuses.push(resp.status().as_u16());
        }
    }
    assert!(statuses[..30].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[30..].iter().all(|s| *s == 429), "{statuses:?}");
    // Another address signs in as usual.
    let resp = from_address(
        &hub,
        "/v1/auth/login",
        "198.51.100.2",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let login: Value = resp.json().await.expect("login");

    // Refreshes: five from one address, then refused; another address still refreshes.
    let mut token = login["refresh_token"].as_str().expect("r").to_owned();
    for _ in 0..5 {
        let resp = from_address(
            &hub,
            "/v1/auth/refresh",
            "198.51.100.3",
            json!({ "refresh_token": token }),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let answer: Value = resp.json().await.expect("json");
        token = answer["refresh_token"].as_str().expect("r").to_owned();
    }
    let resp = from_address(
        &hub,
        "/v1/auth/refresh",
        "198.51.100.3",
        json!({ "refresh_token": token }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let resp = from_address(
        &hub,
        "/v1/auth/refresh",
        "198.51.100.4",
        json!({ "refresh_token": token }),
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "the refused refresh spent nothing"
    );
    hub.stop().await;
}
