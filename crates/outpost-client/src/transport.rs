//! How the client reaches a hub: HTTPS through rustls, trusting the system's roots plus an
//! optional authority of the hospital's own (a PEM file), and plain HTTP only to this
//! computer. A certificate the client does not trust is its own error, never "offline".

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig};

use crate::error::{ClientError, ClientResult};

/// Time to open a connection: a hub that does not answer by then is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest silence while reading an answer. Streams are never silent that long: the event
/// stream sends a keep-alive every 15 s, snapshots and pulls send rows as they read them.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A hub as the user named it: its address, and the authority that signs its certificate when
/// that is not one the system trusts (a hospital's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubAddress {
    pub url: String,
    pub ca_file: Option<PathBuf>,
}

impl HubAddress {
    /// A hub trusted through the system's roots only.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.trim().trim_end_matches('/').to_owned(),
            ca_file: None,
        }
    }

    pub fn with_ca_file(mut self, ca_file: Option<PathBuf>) -> Self {
        self.ca_file = ca_file;
        self
    }
}

impl From<&str> for HubAddress {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl From<&String> for HubAddress {
    fn from(url: &String) -> Self {
        Self::new(url)
    }
}

/// Checks a hub address: `https://`, or `http://` to a loopback address only (a hub on this
/// computer, as the demo runs); anything else would send passwords and records in clear.
pub fn hub_url(url: &str) -> ClientResult<Url> {
    let parsed = Url::parse(url.trim()).map_err(|_| {
        ClientError::InvalidInput(
            "the hub address is not a URL; write it as https://hub.example.org".into(),
        )
    })?;
    match parsed.scheme() {
        "https" if parsed.host_str().is_some() => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(ClientError::InsecureHubUrl),
        _ => Err(ClientError::InvalidInput(
            "the hub address must start with https://".into(),
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// The HTTP client for one hub.
pub fn http_client(address: &HubAddress) -> ClientResult<reqwest::Client> {
    hub_url(&address.url)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(address.ca_file.as_deref())?)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("outpost-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError::InvalidInput(format!("cannot set up HTTPS: {e}")))
}

/// rustls with the ring provider, verifying with the platform's verifier over the system's
/// roots and the certificates of `ca_file`: what every connection to a hub uses (the desktop
/// app's update checks too).
pub fn tls_config(ca_file: Option<&Path>) -> ClientResult<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = match ca_file {
        Some(path) => authorities(path)?,
        None => Vec::new(),
    };
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone()).map_err(
            |e| ClientError::InvalidInput(format!("cannot load the trusted authorities: {e}")),
        )?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::InvalidInput(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// The PEM certificates of a CA file.
fn authorities(path: &Path) -> ClientResult<Vec<CertificateDer<'static>>> {
    let unusable =
        |what: &str| ClientError::InvalidInput(format!("the CA file {}: {what}", path.display()));
    let pem = std::fs::read(path).map_err(|e| unusable(&e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| unusable("is not a PEM certificate file"))?;
    if certs.is_empty() {
        return Err(unusable("holds no certificate"));
    }
    Ok(certs)
}

/// A transport failure as the client reports it: a TLS refusal says why the certificate was
/// not trusted; anything else means the hub could not be reached. Never the URL (it may carry
/// query parameters).
pub fn failure(err: &reqwest::Error) -> ClientError {
    if let Some(reason) = tls_refusal(err) {
        return ClientError::TlsUntrusted(reason);
    }
    ClientError::Offline(
        if err.is_connect() {
            "cannot connect"
        } else if err.is_timeout() {
            "timed out"
        } else if err.is_decode() {
            "unexpected answer"
        } else {
            "network error"
        }
        .into(),
    )
}

/// Why TLS refused the hub, when that is what went wrong: rustls' error sits somewhere down
/// the chain, often inside I/O errors wrapping I/O errors, whose payload `source()` skips.
fn tls_refusal(err: &reqwest::Error) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(describe(tls));
        }
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => current.source(),
        };
    }
    None
}

fn describe(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "it is signed by an authority this computer does not trust".into()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "it has expired".into(),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "it was issued for another name".into(),
        rustls::Error::InvalidCertificate(other) => format!("it is not valid ({other:?})"),
        other => format!("the secure connection failed ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_for_this_computer_only() {
        for ok in [
            "https://hub.example.org",
            "https://10.0.0.5:8443/",
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(hub_url(ok).is_ok(), "{ok}");
        }
        for insecure in [
            "http://10.0.0.5:8080",
            "http://hub.example.org",
            "http://[fe80::1]",
        ] {
            assert!(
                matches!(hub_url(insecure), Err(ClientError::InsecureHubUrl)),
                "{insecure}"
            );
        }
        for bad in ["hub.example.org", "ftp://hub", "https://"] {
            assert!(
                matches!(hub_url(bad), Err(ClientError::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().expect("dir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        assert!(matches!(
            authorities(&empty),
            Err(ClientError::InvalidInput(_))
        ));
        assert!(matches!(
            authorities(&dir.path().join("missing.pem")),
            Err(ClientError::InvalidInput(_))
        ));
    }
}
