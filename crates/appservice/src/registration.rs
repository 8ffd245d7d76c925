//! Loading a registration file, with its diagnostics logged.

use std::path::{Path, PathBuf};

use appservice_types::ValidatedRegistration;

use crate::{Error, ErrorKind};

/// Reads and validates the registration file at `path`.
///
/// Every lint warning is logged (`tracing`, level warn, one line each with its field path);
/// errors make it fail, with every error in the message. The file's text is never in a
/// message (it holds the tokens).
pub fn load_registration(path: impl AsRef<Path>) -> Result<ValidatedRegistration, Error> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::with_source(
            ErrorKind::Registration,
            format!("cannot read the registration {}", path.display()),
            e,
        )
    })?;
    let registration = ValidatedRegistration::parse(&text)
        .map_err(|e| Error::new(ErrorKind::Registration, format!("{}: {e}", path.display())))?;
    for warning in registration.warnings() {
        tracing::warn!(%warning, file = %path.display(), "registration");
    }
    Ok(registration)
}

/// Where a registration's default SQLite database lives: beside the registration file, named
/// after the registration's `id` (bytes outside `A-Za-z0-9-_` as `=xx`, so any ID is one
/// plain file name).
///
/// ```
/// use std::path::Path;
/// use appservice::default_database_path;
///
/// assert_eq!(default_database_path(Path::new("/etc/echo/reg.yaml"), "echo"), Path::new("/etc/echo/echo.db"));
/// assert_eq!(default_database_path(Path::new("reg.yaml"), "a/../b"), Path::new("a=2f=2e=2e=2fb.db"));
/// ```
pub fn default_database_path(registration_file: &Path, id: &str) -> PathBuf {
    let mut name = String::with_capacity(id.len() + 3);
    for byte in id.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => name.push(char::from(byte)),
            _ => crate::names::push_hex(&mut name, '=', byte),
        }
    }
    name.push_str(".db");
    registration_file.parent().unwrap_or_else(|| Path::new("")).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_names_its_path() {
        let e = load_registration("/nonexistent/reg.yaml").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Registration);
        assert!(e.to_string().contains("/nonexistent/reg.yaml"), "{e}");
    }

    #[test]
    fn an_invalid_registration_lists_its_errors_without_the_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reg.yaml");
        std::fs::write(&path, "id: x\nas_token: SECRET_AS\nhs_token: SECRET_HS\n").unwrap();
        let e = load_registration(&path).unwrap_err().to_string();
        assert!(e.contains("sender_localpart"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn the_database_stays_in_the_registration_directory() {
        let path = default_database_path(Path::new("/x/reg.yaml"), "../..");
        assert_eq!(path, Path::new("/x/=2e=2e=2f=2e=2e.db"));
        assert_eq!(path.parent(), Some(Path::new("/x")));
    }

    #[test]
    fn database_names_are_distinct_for_distinct_ids() {
        let ids = ["a", "A", "a.b", "a=2eb", "a/b", "é"];
        let paths: std::collections::BTreeSet<_> =
            ids.iter().map(|id| default_database_path(Path::new("r.yaml"), id)).collect();
        assert_eq!(paths.len(), ids.len());
    }
}
