//! Sites the user approved in the native confirmation dialog, kept in a small JSON state file.
//!
//! File format (`trusted-sites.json` in the per-user state directory):
//!
//! ```json
//! {"version":1,"sites":[{"origin":"https://example.gov.tw","approvedAt":"2025-01-31T08:00:00Z"}]}
//! ```
//!
//! The file is the user's record of trust, so it is handled conservatively: written atomically
//! (temporary file, fsync, rename) with mode 0600 in a 0700 directory; bounded (1 MiB, 1000
//! sites); and a file that cannot be read is an error naming it, never replaced by an empty
//! list — silently forgetting or rewriting approvals would hide tampering and lose data.
//! Only the daemon writes it, so there is no cross-process locking.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::origin::Origin;
use crate::error::{Error, Result};

/// Largest state file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most approved sites kept.
pub const MAX_SITES: usize = 1000;
/// The file format written and understood.
const FORMAT_VERSION: u64 = 1;

/// One site the user approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedSite {
    /// The approved origin.
    pub origin: Origin,
    /// When it was approved, as the RFC 3339 text the caller supplied.
    pub approved_at: String,
}

/// The approved sites and the file they live in.
#[derive(Debug)]
pub struct Approvals {
    path: PathBuf,
    sites: Vec<ApprovedSite>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    version: u64,
    sites: Vec<SiteV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SiteV1 {
    origin: String,
    approved_at: String,
}

impl Approvals {
    /// No approvals and no file: for a service that no site ever calls (the command line's
    /// own, in-process). Nothing can be approved through it: there is no dialog to ask.
    pub fn none() -> Approvals {
        Approvals {
            path: PathBuf::new(),
            sites: Vec::new(),
        }
    }

    /// Reads the approvals from `path`. A missing file means no approvals yet; any other
    /// problem (unreadable, too large, not the expected JSON, writable by others) is an error
    /// naming the file, and the file is left untouched.
    pub fn load(path: impl Into<PathBuf>) -> Result<Approvals> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| d.exists()) {
            crate::state_file::check_own(dir)?;
        }
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path.display(), e)),
            Ok(_) => crate::state_file::check_own(&path)?,
        }
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Approvals {
                    path,
                    sites: Vec::new(),
                })
            }
            Err(e) => return Err(Error::io(path.display(), e)),
        };
        let meta = file.metadata().map_err(|e| Error::io(path.display(), e))?;
        if !meta.is_file() {
            return Err(invalid(&path, "it is not a regular file".to_owned()));
        }
        // The file opened may not be the one checked (replaced meanwhile): check it again.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if meta.uid() != crate::legacy_api::port_owner::own_uid() {
                return Err(invalid(&path, "it belongs to another user".to_owned()));
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Anyone who can write this file can make sites trusted for this user.
            if meta.permissions().mode() & 0o022 != 0 {
                return Err(invalid(
                    &path,
                    "it is writable by other users; run `chmod 600` on it if its contents are yours"
                        .to_owned(),
                ));
            }
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(too_large(&path));
        }
        // The length can change between stat and read; `take` keeps the bound regardless.
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(path.display(), e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(&path));
        }
        let sites = parse_file(&bytes).map_err(|reason| invalid(&path, reason))?;
        Ok(Approvals { path, sites })
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the user approved exactly this origin.
    pub fn contains(&self, origin: &Origin) -> bool {
        self.sites.iter().any(|s| &s.origin == origin)
    }

    /// Records the user's approval of `origin` and saves the file before returning. Called
    /// only after the native confirmation dialog said yes; approving an already approved site
    /// keeps its first date and writes nothing. Refuses insecure origins (they can never be
    /// trusted) and a full list.
    pub fn approve(&mut self, origin: &Origin, now_rfc3339: &str) -> Result<()> {
        if !approvable(origin) {
            return Err(Error::InsecureOrigin {
                origin: origin.to_string(),
            });
        }
        if !is_rfc3339(now_rfc3339) {
            return Err(Error::Internal(format!(
                "approval time {:?} is not an RFC 3339 timestamp",
                super::origin::shown(now_rfc3339)
            )));
        }
        if self.contains(origin) {
            return Ok(());
        }
        if self.sites.len() >= MAX_SITES {
            return Err(Error::io(
                self.path.display(),
                io::Error::other(format!(
                    "already {MAX_SITES} approved sites, the most card-agent keeps; \
                     remove sites you no longer use"
                )),
            ));
        }
        self.sites.push(ApprovedSite {
            origin: origin.clone(),
            approved_at: now_rfc3339.to_owned(),
        });
        // Memory must never claim an approval the file does not hold.
        if let Err(e) = self.save() {
            self.sites.pop();
            return Err(e);
        }
        Ok(())
    }

    /// Withdraws the approval of `origin` and saves the file. Returns whether it was approved.
    pub fn remove(&mut self, origin: &Origin) -> Result<bool> {
        let Some(index) = self.sites.iter().position(|s| &s.origin == origin) else {
            return Ok(false);
        };
        let removed = self.sites.remove(index);
        if let Err(e) = self.save() {
            self.sites.insert(index, removed);
            return Err(e);
        }
        Ok(true)
    }

    /// The approved sites, oldest approval first.
    pub fn list(&self) -> Vec<ApprovedSite> {
        self.sites.clone()
    }

    /// Number of approved sites.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// True when no site is approved.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    fn save(&self) -> Result<()> {
        let file = FileV1 {
            version: FORMAT_VERSION,
            sites: self
                .sites
                .iter()
                .map(|s| SiteV1 {
                    origin: s.origin.to_string(),
                    approved_at: s.approved_at.clone(),
                })
                .collect(),
        };
        let mut json = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::Internal(format!("serialising approvals: {e}")))?;
        json.push(b'\n');
        crate::state_file::write_atomic(&self.path, &json)
    }
}

fn parse_file(bytes: &[u8]) -> std::result::Result<Vec<ApprovedSite>, String> {
    // Read the version before the strict shape, so a newer file says "newer", not "unknown
    // field".
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON ({e})"))?;
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(FORMAT_VERSION) => {}
        Some(v) => return Err(format!("format version {v} is not supported (expected 1)")),
        None => return Err("no format version".to_owned()),
    }
    let file: FileV1 = serde_json::from_value(value).map_err(|e| format!("{e}"))?;
    if file.sites.len() > MAX_SITES {
        return Err(format!("more than {MAX_SITES} sites"));
    }
    let mut sites: Vec<ApprovedSite> = Vec::with_capacity(file.sites.len());
    for site in file.sites {
        let origin = Origin::parse(&site.origin).map_err(|e| format!("{e}"))?;
        if !approvable(&origin) {
            return Err(format!("{origin} is not a web site and cannot be approved"));
        }
        if !is_rfc3339(&site.approved_at) {
            return Err(format!(
                "approvedAt of {origin} is not an RFC 3339 timestamp"
            ));
        }
        // A duplicate is harmless; keep the first (earliest recorded) approval.
        if !sites.iter().any(|s| s.origin == origin) {
            sites.push(ApprovedSite {
                origin,
                approved_at: site.approved_at,
            });
        }
    }
    Ok(sites)
}

fn invalid(path: &Path, reason: String) -> Error {
    Error::io(
        path.display(),
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not a usable trusted-sites file: {reason}; card-agent will not overwrite it, \
                 fix or move it away"
            ),
        ),
    )
}

fn too_large(path: &Path) -> Error {
    invalid(path, format!("larger than {MAX_FILE_BYTES} bytes"))
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, checked for shape and field ranges. A full
/// calendar check is not needed: the value is only displayed, never computed with.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let num =
        |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok()).unwrap_or(99);
    if s.len() > 40
        || !(digits(0..4) && digits(5..7) && digits(8..10) && digits(11..13))
        || !(digits(14..16) && digits(17..19))
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit())
                && rest[1..3].parse::<u32>().is_ok_and(|h| h <= 23)
                && rest[4..6].parse::<u32>().is_ok_and(|m| m <= 59)
        }
        _ => false,
    }
}

/// Whether the user may approve `origin`: a web site, `https` or — for intranet pages of the
/// legacy API, in a dialog that says it is not secure — plain `http`.
fn approvable(origin: &Origin) -> bool {
    matches!(origin.scheme(), "https" | "http")
}

#[cfg(test)]
// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs;

    const NOW: &str = "2025-01-31T08:00:00Z";

    fn origin(s: &str) -> Origin {
        Origin::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn state_path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path()
            .join("state")
            .join("card-agent")
            .join("trusted-sites.json")
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_file_or_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        fs::write(&real, r#"{"version":1,"sites":[]}"#).unwrap();
        let link = dir.path().join("trusted-sites.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = Approvals::load(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // A state folder that is a link: neither read nor written.
        let real_dir = dir.path().join("elsewhere");
        fs::create_dir(&real_dir).unwrap();
        let linked_dir = dir.path().join("state");
        std::os::unix::fs::symlink(&real_dir, &linked_dir).unwrap();
        let path = linked_dir.join("trusted-sites.json");
        assert!(Approvals::load(&path).is_err());
        let mut a = Approvals::load(dir.path().join("x").join("t.json")).unwrap();
        a.path = path;
        assert!(a.approve(&origin("https://example.gov.tw"), NOW).is_err());
        assert!(!real_dir.join("trusted-sites.json").exists());
    }

    #[cfg(unix)]
    #[test]
    fn another_users_file_or_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        let path = state.join("trusted-sites.json");
        fs::write(&path, r#"{"version":1,"sites":[]}"#).unwrap();
        // Giving a file away takes root; as another user this case cannot be set up.
        if std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_err() {
            eprintln!("not root: another user's file cannot be made here");
            return;
        }
        let e = Approvals::load(&path).unwrap_err();
        assert!(e.to_string().contains("another user"), "{e}");
        std::os::unix::fs::chown(&path, Some(crate::legacy_api::port_owner::own_uid()), None)
            .unwrap();
        std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
        let e = Approvals::load(&path).unwrap_err();
        assert!(e.to_string().contains("another user"), "{e}");
    }

    #[test]
    fn missing_file_is_empty_and_round_trip_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        let mut a = Approvals::load(&path).unwrap();
        assert!(a.is_empty());
        assert!(!path.exists(), "loading must not create the file");

        let site = origin("https://example.gov.tw");
        a.approve(&site, NOW).unwrap();
        a.approve(
            &origin("http://localhost:8080"),
            "2025-02-01T09:30:00.123+08:00",
        )
        .unwrap();
        a.approve(&site, "2030-01-01T00:00:00Z").unwrap();
        assert_eq!(a.len(), 2);

        let b = Approvals::load(&path).unwrap();
        assert!(b.contains(&site));
        assert!(!b.contains(&origin("https://other.gov.tw")));
        assert_eq!(b.list(), a.list());
        assert_eq!(
            b.list()[0].approved_at,
            NOW,
            "re-approving keeps the first date"
        );

        let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["sites"][0]["origin"], "https://example.gov.tw");
        assert_eq!(json["sites"][0]["approvedAt"], NOW);

        let mut c = Approvals::load(&path).unwrap();
        assert!(c.remove(&site).unwrap());
        assert!(!c.remove(&site).unwrap());
        assert!(!Approvals::load(&path).unwrap().contains(&site));
    }

    #[test]
    fn refuses_what_is_no_web_site_and_bad_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Approvals::load(state_path(&dir)).unwrap();
        assert!(a.approve(&origin("ftp://a.gov.tw"), NOW).is_err());
        assert!(a.approve(&origin("https://a.gov.tw"), "yesterday").is_err());
        assert!(a.is_empty());
        // A plain http intranet site may be approved (in a dialog that says it is not secure).
        a.approve(&origin("http://intranet.example"), NOW).unwrap();
        assert!(a.contains(&origin("http://intranet.example")));
    }

    #[cfg(unix)]
    #[test]
    fn file_is_0600_in_a_0700_directory_and_replaced_by_rename() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        let mut a = Approvals::load(&path).unwrap();
        a.approve(&origin("https://a.gov.tw"), NOW).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(path.parent().unwrap().parent().unwrap()), 0o700);

        // A new inode proves the file was replaced whole (rename), not rewritten in place
        // where a crash could leave it half written.
        let before = fs::metadata(&path).unwrap().ino();
        a.approve(&origin("https://b.gov.tw"), NOW).unwrap();
        assert_ne!(fs::metadata(&path).unwrap().ino(), before);
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("trusted-sites.json")]);
    }

    #[cfg(unix)]
    #[test]
    fn group_writable_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted-sites.json");
        fs::write(&path, r#"{"version":1,"sites":[]}"#).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
        let e = Approvals::load(&path).unwrap_err();
        assert!(e.to_string().contains("writable by other users"), "{e}");
    }

    #[test]
    fn failed_write_keeps_memory_and_disk_in_step_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted-sites.json");
        let mut a = Approvals::load(&path).unwrap();
        // A directory where the file should be makes the final rename fail.
        fs::create_dir(&path).unwrap();
        let e = a.approve(&origin("https://a.gov.tw"), NOW).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert!(!a.contains(&origin("https://a.gov.tw")));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("trusted-sites.json")]);
    }

    #[test]
    fn corrupt_files_are_errors_naming_the_file_and_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted-sites.json");
        let bad: &[&str] = &[
            "{not json",
            r#"{"sites":[]}"#,
            r#"{"version":2,"sites":[]}"#,
            r#"{"version":1,"sites":[],"extra":true}"#,
            r#"{"version":1,"sites":[{"origin":"https://a.gov.tw/x","approvedAt":"2025-01-31T08:00:00Z"}]}"#,
            r#"{"version":1,"sites":[{"origin":"ftp://a.gov.tw","approvedAt":"2025-01-31T08:00:00Z"}]}"#,
            r#"{"version":1,"sites":[{"origin":"https://a.gov.tw","approvedAt":"soon"}]}"#,
            r#"{"version":1,"sites":[{"origin":"https://a.gov.tw"}]}"#,
        ];
        for text in bad {
            fs::write(&path, text).unwrap();
            let e = Approvals::load(&path).unwrap_err();
            // The variant, not the wire code: the code's Rust name is not ours to rely on here.
            assert!(matches!(e, Error::Io { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("will not overwrite"), "{msg}");
            assert_eq!(fs::read_to_string(&path).unwrap(), *text);
        }
        let e = Approvals::load(&path).unwrap_err();
        assert!(e
            .user_message(card_agent_protocol::Language::ZhTw)
            .contains("無法讀取"));
    }

    #[test]
    fn size_and_count_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted-sites.json");
        let mut big = br#"{"version":1,"sites":[]}"#.to_vec();
        big.resize(MAX_FILE_BYTES as usize + 1, b' ');
        fs::write(&path, &big).unwrap();
        let e = Approvals::load(&path).unwrap_err();
        assert!(e.to_string().contains("larger than 1048576 bytes"), "{e}");

        let sites = |n: usize| {
            let list: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"origin":"https://s{i}.gov.tw","approvedAt":"{NOW}"}}"#))
                .collect();
            format!(r#"{{"version":1,"sites":[{}]}}"#, list.join(","))
        };
        fs::write(&path, sites(MAX_SITES + 1)).unwrap();
        assert!(Approvals::load(&path)
            .unwrap_err()
            .to_string()
            .contains("more than 1000 sites"));

        fs::write(&path, sites(MAX_SITES)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut a = Approvals::load(&path).unwrap();
        assert_eq!(a.len(), MAX_SITES);
        let e = a
            .approve(&origin("https://one-more.gov.tw"), NOW)
            .unwrap_err();
        assert!(e.to_string().contains("already 1000 approved sites"), "{e}");
        assert_eq!(a.len(), MAX_SITES);
    }

    #[test]
    fn rfc3339_shapes() {
        for ok in [
            NOW,
            "2025-01-31t08:00:00z",
            "2025-12-31T23:59:60.5-05:30",
            "2025-01-31T08:00:00+08:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2025-01-31",
            "2025-01-31 08:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-01-31T24:00:00Z",
            "2025-01-31T08:00:00",
            "2025-01-31T08:00:00.Z",
            "2025-01-31T08:00:00+0800",
            "2025-01-31T08:00:00Z trailing",
            "２０２５-01-31T08:00:00Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
