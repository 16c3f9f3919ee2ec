//! The desktop app's updates, from the builds the operator published on this hub
//! ([`crate::releases`]). Open to anyone who can reach the hub, as the builds themselves are:
//! no patient data is involved, and the app trusts a build only when its signature verifies
//! against the public key it was built with.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use semver::Version;

use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::releases::{self, Releases};
use crate::state::{AppState, HubError};

fn release_error(err: HubError) -> ApiError {
    tracing::error!(error = %err, "the release directory cannot be read");
    ApiError::internal()
}

fn version(text: &str) -> ApiResult<Version> {
    Version::parse(text).map_err(|_| ApiError::invalid("the version is not a semantic version"))
}

/// The address clients reach this hub at: `public_url` when configured, else the request's
/// `Host` with the scheme the hub serves.
fn base_url(state: &AppState, headers: &HeaderMap) -> ApiResult<String> {
    if let Some(url) = &state.config.public_url {
        return Ok(url.clone());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| ApiError::invalid("the request names no host"))?;
    let scheme = if state.config.tls_cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{host}"))
}

/// `GET /v1/desktop/updates/{target}/{arch}/{current_version}`: 204 when the app is current,
/// else the Tauri updater's JSON for the newest published build.
#[utoipa::path(
    get,
    path = "/v1/desktop/updates/{target}/{arch}/{current_version}",
    operation_id = "desktop_update",
    tag = "desktop",
    params(("target" = String, Path, description = "linux, windows or darwin"), ("arch" = String, Path, description = "x86_64, aarch64, i686 or armv7"), ("current_version" = String, Path, description = "The app's version (semver)")),
    responses((status = 200, description = "A newer build (the Tauri updater's format)", body = crate::releases::UpdaterAnswer), (status = 204, description = "Nothing newer")),
    security(())
)]
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath((target, arch, current)): ApiPath<(String, String, String)>,
) -> ApiResult<Response> {
    releases::check_platform(&target, &arch).map_err(|e| ApiError::invalid(e.to_string()))?;
    let current = version(&current)?;
    let published = Releases::new(state.config.releases_path())
        .list()
        .map_err(release_error)?;
    match releases::newer_than(&published, &target, &arch, &current) {
        None => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(release) => {
            let base = base_url(&state, &headers)?;
            Ok(Json(releases::updater_answer(release, &base)).into_response())
        }
    }
}

/// `GET /v1/desktop/files/{target}/{arch}/{version}/{file}`: a published build's file.
#[utoipa::path(
    get,
    path = "/v1/desktop/files/{target}/{arch}/{version}/{file}",
    operation_id = "desktop_file",
    tag = "desktop",
    params(("target" = String, Path), ("arch" = String, Path), ("version" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "The published file", content_type = "application/octet-stream", body = Vec<u8>)),
    security(())
)]
pub async fn file(
    State(state): State<AppState>,
    ApiPath((target, arch, version_text, name)): ApiPath<(String, String, String, String)>,
) -> ApiResult<Response> {
    let version = version(&version_text)?;
    let path = Releases::new(state.config.releases_path())
        .file(&target, &arch, &version, &name)
        .map_err(release_error)?
        .ok_or_else(ApiError::not_found)?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::error!(error = %e, "a published build's file cannot be opened");
        ApiError::internal()
    })?;
    let length = file.metadata().await.map(|m| m.len()).ok();
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, length.into());
    }
    Ok(response)
}
