//! Desktop updates from the hub: an operator publishes signed builds with `outpost-hub release
//! add`, and `GET /v1/desktop/updates/{target}/{arch}/{current_version}` answers an older app
//! with the newest one (the Tauri updater's JSON, its file served by the hub) and the newest
//! app with 204.

mod common;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use common::TestHub;

/// A signature in the Tauri signer's format (base64 of a minisign signature file). The hub
/// checks only its shape: the app verifies it against its public key.
fn signature(version: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!(
        "untrusted comment: signature from tauri secret key\nRUQ{version}\ntrusted comment: timestamp:0\tfile:Outpost_{version}_amd64.deb\nxyz\n"
    ))
}

/// Publishes a build of `version` through the CLI; the file's content is `version`.
fn publish(hub: &TestHub, version: &str) -> std::process::Output {
    let dir = hub.dir.path().join(format!("build-{version}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join(format!("Outpost_{version}_amd64.deb"));
    std::fs::write(&file, format!("the {version} package")).expect("file");
    let sig = dir.join(format!("Outpost_{version}_amd64.deb.sig"));
    std::fs::write(&sig, signature(version)).expect("sig");
    hub.command(&[
        "release",
        "add",
        "--target",
        "linux",
        "--arch",
        "x86_64",
        "--version",
        version,
        "--file",
        &file.display().to_string(),
        "--signature",
        &sig.display().to_string(),
        "--notes",
        "Faster search",
    ])
}

async fn check(hub: &TestHub, path: &str) -> (StatusCode, String) {
    let response = hub
        .http
        .get(format!("{}{path}", hub.url))
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn a_published_build_is_offered_to_older_apps_and_served_by_the_hub() {
    let hub = TestHub::start().await;
    let (status, _) = check(&hub, "/v1/desktop/updates/linux/x86_64/0.1.0").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "nothing published yet");

    for version in ["0.2.0", "0.3.0"] {
        let out = publish(&hub, version);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let again = publish(&hub, "0.3.0");
    assert!(!again.status.success(), "a version is published once");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already published"));

    let (status, body) = check(&hub, "/v1/desktop/updates/linux/x86_64/0.1.0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let update: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(update["version"], "0.3.0", "the newest");
    assert_eq!(update["notes"], "Faster search");
    assert_eq!(update["signature"], signature("0.3.0"));
    assert!(
        update["pub_date"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z'))
    );
    let url = update["url"].as_str().expect("url");
    assert_eq!(
        url,
        format!(
            "{}/v1/desktop/files/linux/x86_64/0.3.0/Outpost_0.3.0_amd64.deb",
            hub.url
        )
    );
    let download = hub.http.get(url).send().await.expect("download");
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(
        download.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(download.text().await.expect("file"), "the 0.3.0 package");

    let (status, body) = check(&hub, "/v1/desktop/updates/linux/x86_64/0.2.5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["version"],
        "0.3.0"
    );
    let (status, _) = check(&hub, "/v1/desktop/updates/linux/x86_64/0.3.0").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "the newest app");
    let (status, _) = check(&hub, "/v1/desktop/updates/windows/x86_64/0.1.0").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "nothing for that platform");

    for bad in [
        "/v1/desktop/updates/plan9/x86_64/0.1.0",
        "/v1/desktop/updates/linux/sparc/0.1.0",
        "/v1/desktop/updates/linux/x86_64/latest",
    ] {
        let (status, body) = check(&hub, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        let error: Value = serde_json::from_str(&body).expect("error shape");
        assert_eq!(error["error"]["code"], "invalid_input", "{bad}");
    }
    for absent in [
        "/v1/desktop/files/linux/x86_64/0.3.0/other.deb",
        "/v1/desktop/files/linux/x86_64/0.4.0/Outpost_0.3.0_amd64.deb",
        "/v1/desktop/files/linux/x86_64/0.3.0/..%2F..%2Fmaster.key",
    ] {
        assert_eq!(
            check(&hub, absent).await.0,
            StatusCode::NOT_FOUND,
            "{absent}"
        );
    }

    let listed = hub.command(&["release", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let published = hub
        .raw_central_actions()
        .await
        .into_iter()
        .filter(|a| a == "release.publish")
        .count();
    assert_eq!(published, 2, "each publication is audited");
    hub.stop().await;
}
