//! Desktop builds the operator published on this hub, for the app's updater: a clinic without
//! internet updates its workstations from its own hub.
//!
//! A release directory holds `index.json` (every published build) and one folder per build
//! with its file. The hub reads the index on each update check, so `outpost-hub release add`
//! takes effect without a restart. Builds are signed by whoever made them (the Tauri updater's
//! minisign key); the hub only serves the file and the signature, and the app verifies them
//! against the public key it was built with.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::state::HubError;

/// Operating systems as the Tauri updater names them in `{{target}}`.
pub const TARGETS: &[&str] = &["linux", "windows", "darwin"];
/// Architectures as the Tauri updater names them in `{{arch}}`.
pub const ARCHES: &[&str] = &["x86_64", "aarch64", "i686", "armv7"];

const INDEX: &str = "index.json";

/// One published build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub target: String,
    pub arch: String,
    pub version: Version,
    /// The file's name as published (what the download is called).
    pub file_name: String,
    /// The updater's signature of the file (the content of the `.sig` file the build made).
    pub signature: String,
    /// Release notes shown with the update notice.
    pub notes: String,
    pub published_at: DateTime<Utc>,
}

impl Release {
    /// The folder (under the release directory) that holds this build's file.
    fn folder(&self) -> String {
        format!("{}-{}-{}", self.target, self.arch, self.version)
    }

    /// Where the hub serves the file, below its base URL.
    pub fn download_path(&self) -> String {
        format!(
            "/v1/desktop/files/{}/{}/{}/{}",
            self.target, self.arch, self.version, self.file_name
        )
    }
}

/// What `outpost-hub release add` publishes.
pub struct NewRelease<'a> {
    pub target: &'a str,
    pub arch: &'a str,
    pub version: &'a str,
    pub file: &'a Path,
    pub signature: &'a str,
    pub notes: &'a str,
}

/// The newest build for `target`/`arch` that is newer than `current`, if any.
pub fn newer_than<'a>(
    releases: &'a [Release],
    target: &str,
    arch: &str,
    current: &Version,
) -> Option<&'a Release> {
    releases
        .iter()
        .filter(|r| r.target == target && r.arch == arch && r.version > *current)
        .max_by(|a, b| a.version.cmp(&b.version))
}

/// What the Tauri updater reads from an update endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UpdaterAnswer {
    pub version: String,
    pub notes: String,
    /// RFC 3339.
    pub pub_date: String,
    /// Where the hub serves the file.
    pub url: String,
    /// The file's updater signature (base64 of a minisign signature).
    pub signature: String,
}

/// The Tauri updater's answer for `release`, whose file is served under `base_url`.
pub fn updater_answer(release: &Release, base_url: &str) -> UpdaterAnswer {
    UpdaterAnswer {
        version: release.version.to_string(),
        notes: release.notes.clone(),
        pub_date: release
            .published_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        url: format!(
            "{}{}",
            base_url.trim_end_matches('/'),
            release.download_path()
        ),
        signature: release.signature.clone(),
    }
}

/// Checks a target and architecture against the updater's names.
pub fn check_platform(target: &str, arch: &str) -> Result<(), HubError> {
    if !TARGETS.contains(&target) {
        return Err(HubError::Release(format!(
            "unknown target {target:?}: expected one of {}",
            TARGETS.join(", ")
        )));
    }
    if !ARCHES.contains(&arch) {
        return Err(HubError::Release(format!(
            "unknown architecture {arch:?}: expected one of {}",
            ARCHES.join(", ")
        )));
    }
    Ok(())
}

/// A file name safe to serve and to put in a URL: letters, digits, `.`, `_`, `-`, `+`.
fn check_file_name(name: &str) -> Result<(), HubError> {
    let fine = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if fine {
        Ok(())
    } else {
        Err(HubError::Release(format!(
            "the file name {name:?} may hold only letters, digits, '.', '_', '-' and '+'"
        )))
    }
}

/// A minisign signature as the Tauri signer writes it: base64 text of two comment lines and
/// their signatures. Returns the version its trusted comment binds it to (`version:X`, which
/// `tauri build` and `tauri signer sign --app-version` write), if any.
fn check_signature(signature: &str) -> Result<Option<String>, HubError> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match decoded {
        Some(text) if text.starts_with("untrusted comment:") => Ok(text
            .lines()
            .find_map(|line| line.strip_prefix("trusted comment:"))
            .and_then(|comment| {
                comment
                    .split('\t')
                    .find_map(|part| part.trim().strip_prefix("version:"))
                    .map(str::to_owned)
            })),
        _ => Err(HubError::Release(
            "the signature is not a Tauri updater signature (the content of the build's .sig file)"
                .into(),
        )),
    }
}

/// The builds published in a release directory.
pub struct Releases {
    dir: PathBuf,
}

impl Releases {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn io(&self, path: &Path, source: std::io::Error) -> HubError {
        HubError::Release(format!("{}: {source}", path.display()))
    }

    /// Every published build; none when nothing was ever published.
    pub fn list(&self) -> Result<Vec<Release>, HubError> {
        let path = self.dir.join(INDEX);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| HubError::Release(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.io(&path, e)),
        }
    }

    /// The file of a published build, when `file_name` is the one published for it.
    pub fn file(
        &self,
        target: &str,
        arch: &str,
        version: &Version,
        file_name: &str,
    ) -> Result<Option<PathBuf>, HubError> {
        Ok(self
            .list()?
            .into_iter()
            .find(|r| {
                r.target == target
                    && r.arch == arch
                    && r.version == *version
                    && r.file_name == file_name
            })
            .map(|r| self.dir.join(r.folder()).join(&r.file_name)))
    }

    /// Publishes a build in two steps: [`Releases::stage`] copies its file in (nothing is
    /// offered yet), the caller records the publication (the audit event), then
    /// [`Staged::offer`] adds it to the index. A version already published for the platform is
    /// refused: a build never changes under a version number.
    pub fn stage(&self, new: NewRelease<'_>, now: DateTime<Utc>) -> Result<Staged<'_>, HubError> {
        check_platform(new.target, new.arch)?;
        let version = Version::parse(new.version).map_err(|e| {
            HubError::Release(format!("the version {:?} is not semver: {e}", new.version))
        })?;
        let file_name = new
            .file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| HubError::Release("the file has no name".into()))?
            .to_owned();
        check_file_name(&file_name)?;
        if let Some(signed) = check_signature(new.signature)?
            && signed != version.to_string()
        {
            return Err(HubError::Release(format!(
                "the signature is of version {signed}, not {version}: publish a build under its own version"
            )));
        }
        if !new.file.is_file() {
            return Err(HubError::Release(format!(
                "{} is not a file",
                new.file.display()
            )));
        }
        let release = Release {
            target: new.target.to_owned(),
            arch: new.arch.to_owned(),
            version,
            file_name,
            signature: new.signature.trim().to_owned(),
            notes: new.notes.to_owned(),
            published_at: now,
        };
        self.refuse_republishing(&self.list()?, &release)?;
        let folder = self.dir.join(release.folder());
        std::fs::create_dir_all(&folder).map_err(|e| self.io(&folder, e))?;
        let partial = folder.join(format!(".{}.partial", release.file_name));
        std::fs::copy(new.file, &partial).map_err(|e| self.io(new.file, e))?;
        // Readable by the service whoever publishes (the source may be private to its owner).
        set_mode(&partial, 0o644).map_err(|e| self.io(&partial, e))?;
        set_mode(&folder, 0o755).map_err(|e| self.io(&folder, e))?;
        let target = folder.join(&release.file_name);
        std::fs::rename(&partial, &target).map_err(|e| self.io(&target, e))?;
        Ok(Staged {
            releases: self,
            release,
        })
    }

    fn refuse_republishing(&self, published: &[Release], new: &Release) -> Result<(), HubError> {
        if published
            .iter()
            .any(|r| r.target == new.target && r.arch == new.arch && r.version == new.version)
        {
            return Err(HubError::Release(format!(
                "{} {} {} is already published",
                new.target, new.arch, new.version
            )));
        }
        Ok(())
    }
}

/// A build whose file is in place but which is not offered yet.
pub struct Staged<'a> {
    releases: &'a Releases,
    pub release: Release,
}

impl Staged<'_> {
    /// Adds the build to the index, under a lock (two publications at once both land), written
    /// whole and renamed into place (a reader never sees half of it).
    pub fn offer(self) -> Result<Release, HubError> {
        let r = self.releases;
        let lock_path = r.dir.join(".index.lock");
        let lock = std::fs::File::create(&lock_path).map_err(|e| r.io(&lock_path, e))?;
        lock.lock().map_err(|e| r.io(&lock_path, e))?;
        let mut published = r.list()?;
        r.refuse_republishing(&published, &self.release)?;
        published.push(self.release.clone());
        let index = r.dir.join(INDEX);
        let partial = r.dir.join(".index.json.partial");
        let body = serde_json::to_vec_pretty(&published)
            .map_err(|e| HubError::Release(format!("index: {e}")))?;
        std::fs::write(&partial, body).map_err(|e| r.io(&partial, e))?;
        set_mode(&partial, 0o644).map_err(|e| r.io(&partial, e))?;
        std::fs::rename(&partial, &index).map_err(|e| r.io(&index, e))?;
        Ok(self.release)
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    fn signature() -> String {
        base64::engine::general_purpose::STANDARD.encode(
            "untrusted comment: signature from tauri secret key\nRUQ…\ntrusted comment: x\n",
        )
    }

    fn publish(releases: &Releases, dir: &Path, target: &str, version: &str) -> Release {
        let file = dir.join(format!("Outpost_{version}_amd64.deb"));
        std::fs::write(&file, version).expect("file");
        releases
            .stage(
                NewRelease {
                    target,
                    arch: "x86_64",
                    version,
                    file: &file,
                    signature: &signature(),
                    notes: "fixes",
                },
                Utc::now(),
            )
            .and_then(Staged::offer)
            .expect("publish")
    }

    #[test]
    fn the_newest_newer_build_of_the_platform_is_offered_and_none_to_the_newest() {
        let dir = tempfile::tempdir().expect("dir");
        let releases = Releases::new(dir.path().join("releases"));
        assert!(releases.list().expect("list").is_empty());
        for version in ["0.2.0", "0.10.0", "0.3.0"] {
            publish(&releases, dir.path(), "linux", version);
        }
        publish(&releases, dir.path(), "windows", "0.11.0");
        let all = releases.list().expect("list");
        let offer = |current: &str| {
            newer_than(
                &all,
                "linux",
                "x86_64",
                &Version::parse(current).expect("v"),
            )
            .map(|r| r.version.to_string())
        };
        assert_eq!(
            offer("0.1.0").as_deref(),
            Some("0.10.0"),
            "semver, not text"
        );
        assert_eq!(offer("0.9.9").as_deref(), Some("0.10.0"));
        assert_eq!(offer("0.10.0"), None);
        assert_eq!(offer("0.10.0-rc.1").as_deref(), Some("0.10.0"));
        assert_eq!(
            newer_than(&all, "linux", "aarch64", &Version::new(0, 0, 1)),
            None
        );
        let newest = newer_than(&all, "linux", "x86_64", &Version::new(0, 1, 0)).expect("some");
        let served = releases
            .file("linux", "x86_64", &newest.version, &newest.file_name)
            .expect("read")
            .expect("published");
        assert_eq!(std::fs::read_to_string(&served).expect("file"), "0.10.0");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&served)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "readable by the service");
        let answer = updater_answer(newest, "https://hub.example/");
        assert_eq!(
            answer.url,
            "https://hub.example/v1/desktop/files/linux/x86_64/0.10.0/Outpost_0.10.0_amd64.deb"
        );
        assert_eq!(answer.signature, signature());
        assert_eq!(answer.version, "0.10.0");
    }

    #[test]
    fn bad_publications_are_refused_and_nothing_is_recorded() {
        let dir = tempfile::tempdir().expect("dir");
        let releases = Releases::new(dir.path().join("releases"));
        publish(&releases, dir.path(), "linux", "1.0.0");
        let file = dir.path().join("Outpost_1.0.0_amd64.deb");
        let attempt = |target: &str, arch: &str, version: &str, file: &Path, sig: &str| {
            releases
                .stage(
                    NewRelease {
                        target,
                        arch,
                        version,
                        file,
                        signature: sig,
                        notes: "",
                    },
                    Utc::now(),
                )
                .and_then(Staged::offer)
                .map(|_| ())
        };
        let sig = signature();
        let bound = |version: &str| {
            base64::engine::general_purpose::STANDARD.encode(format!(
                "untrusted comment: x\nRUQ\ntrusted comment: timestamp:1\tfile:a.deb\tversion:{version}\nsig\n"
            ))
        };
        assert!(attempt("linux", "x86_64", "1.1.0", &file, &bound("1.0.9")).is_err());
        assert!(attempt("plan9", "x86_64", "1.1.0", &file, &sig).is_err());
        assert!(attempt("linux", "sparc", "1.1.0", &file, &sig).is_err());
        assert!(attempt("linux", "x86_64", "one", &file, &sig).is_err());
        assert!(attempt("linux", "x86_64", "1.0.0", &file, &sig).is_err());
        assert!(attempt("linux", "x86_64", "1.1.0", &file, "not a signature").is_err());
        assert!(attempt("linux", "x86_64", "1.1.0", &dir.path().join("absent"), &sig).is_err());
        let odd = dir.path().join("a b.deb");
        std::fs::write(&odd, "x").expect("file");
        assert!(attempt("linux", "x86_64", "1.1.0", &odd, &sig).is_err());
        assert_eq!(releases.list().expect("list").len(), 1);
        attempt("linux", "x86_64", "1.1.0", &file, &bound("1.1.0")).expect("its own version");
        assert_eq!(releases.list().expect("list").len(), 2);
    }
}
