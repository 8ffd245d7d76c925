//! Files only their owner can read and write (mode 0600), for registrations and other secrets.

use std::{
    fs::{OpenOptions, Permissions},
    io::{ErrorKind, Write as _},
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
};

use super::WriteError;
use crate::Registration;

/// Writes `contents` to `path`, readable and writable by the owner only (mode 0600).
///
/// Refuses to replace an existing file unless `overwrite` ([`WriteError::AlreadyExists`], checked
/// by the operating system when the file is created, so without a race). The mode is set before
/// anything is written, also when an existing file (which keeps its old mode on open) is
/// overwritten; the contents are synced to disk before this returns.
pub fn write_private_file(path: &Path, contents: &[u8], overwrite: bool) -> Result<(), WriteError> {
    let io = |source| WriteError::Io { path: path.to_owned(), source };
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|err| {
        if err.kind() == ErrorKind::AlreadyExists {
            WriteError::AlreadyExists { path: path.to_owned() }
        } else {
            io(err)
        }
    })?;
    file.set_permissions(Permissions::from_mode(0o600)).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Writes `registration` as YAML to `path` with [`write_private_file`] (mode 0600; an existing
/// file is replaced only if `overwrite`).
pub fn write_registration(
    path: &Path,
    registration: &Registration,
    overwrite: bool,
) -> Result<(), WriteError> {
    let yaml = registration.to_yaml()?;
    write_private_file(path, yaml.as_bytes(), overwrite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::NewRegistration;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_mode_0600_and_refuses_to_overwrite_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "keep me").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        let err = write_private_file(&path, b"new", false).unwrap_err();
        assert!(matches!(err, WriteError::AlreadyExists { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
        assert_eq!(mode(&path), 0o644);
        // Overwriting resets the old mode too.
        write_private_file(&path, b"new", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), 0o600);
        let fresh = dir.path().join("fresh");
        write_private_file(&fresh, b"x", false).unwrap();
        assert_eq!(mode(&fresh), 0o600);
    }

    #[test]
    fn a_written_registration_parses_back_with_its_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registration.yaml");
        let registration = NewRegistration::new("a", None, "bot").build().unwrap();
        write_registration(&path, &registration, false).unwrap();
        let read = Registration::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read.as_token, registration.as_token);
        assert_eq!(read.hs_token, registration.hs_token);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("file");
        let err = write_private_file(&path, b"x", false).unwrap_err();
        assert!(matches!(err, WriteError::Io { .. }), "{err}");
        assert!(err.to_string().contains("missing/file"), "{err}");
    }
}
