//! Opening the pool: which backend a URL names, and the settings each backend gets.

use sqlx::{AnyPool, Executor, any::AnyPoolOptions};

use crate::{SqlConfig, SqlError, SqlErrorKind};

/// The database behind a [`SqlStore`](crate::SqlStore).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite: one file, one process (WAL mode, `synchronous = FULL`).
    Sqlite,
    /// PostgreSQL: one database shared by any number of replicas.
    Postgres,
}

impl Backend {
    /// The backend a database URL names: `sqlite:…` or `postgres:…` / `postgresql:…`.
    pub fn of_url(url: &str) -> Result<Self, SqlError> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        let backend = match scheme.as_deref() {
            Some("sqlite") => Self::Sqlite,
            Some("postgres" | "postgresql") => Self::Postgres,
            // Never the URL itself: it may carry a password.
            Some(other) => {
                return Err(SqlError::new(
                    SqlErrorKind::Url,
                    format!("unsupported scheme `{other}`: use sqlite://PATH or postgres://…"),
                ));
            }
            None => {
                return Err(SqlError::new(
                    SqlErrorKind::Url,
                    "no scheme: use sqlite://PATH or postgres://…",
                ));
            }
        };
        if !backend.compiled_in() {
            return Err(SqlError::new(
                SqlErrorKind::Url,
                format!(
                    "this build has no {backend:?} support: enable the `{}` feature of \
                     appservice-sql (or of appservice)",
                    backend.feature()
                ),
            ));
        }
        Ok(backend)
    }

    /// The cargo feature that compiles this backend in.
    pub fn feature(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    /// Whether this build supports the backend (its cargo feature is on).
    pub fn compiled_in(self) -> bool {
        match self {
            Self::Sqlite => cfg!(feature = "sqlite"),
            Self::Postgres => cfg!(feature = "postgres"),
        }
    }
}

/// The pool for `url`, with the backend's settings applied to every connection.
pub(crate) async fn pool(url: &str, config: &SqlConfig) -> Result<(AnyPool, Backend), SqlError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url)?;
    let url = match backend {
        Backend::Sqlite => sqlite_url(url)?,
        Backend::Postgres => url.to_owned(),
    };
    let options = AnyPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL: readers never wait for the writer. FULL: a commit is on disk (one
                    // fsync of the WAL) when it returns, so an acknowledged transaction survives
                    // a power cut. busy_timeout: another process's writer is waited for.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                }
                Ok(())
            })
        });
    let pool = options.connect(&url).await.map_err(|e| {
        SqlError::sqlx(SqlErrorKind::Connect, format!("cannot open the {backend:?} database"), e)
    })?;
    Ok((pool, backend))
}

/// `url` with `mode=rwc` (create the file if missing) unless it names a mode; in-memory
/// databases are refused (each pooled connection would get its own, empty one).
fn sqlite_url(url: &str) -> Result<String, SqlError> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(SqlError::new(
            SqlErrorKind::Url,
            "an in-memory SQLite database forgets everything at exit: use a file, or \
             appservice_dispatch::MemoryStore",
        ));
    }
    if url.contains("mode=") {
        return Ok(url.to_owned());
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}mode=rwc"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend_and_errors_never_echo_the_url() {
        assert_eq!(Backend::of_url("sqlite://a.db").ok(), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgresql://u:p@h/db").ok(), Some(Backend::Postgres));
        let e = Backend::of_url("mysql://user:hunter2@host/db").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("database URL: unsupported scheme `mysql`: use sqlite://PATH or postgres://…")
        );
    }

    #[test]
    fn sqlite_urls_create_their_file_and_memory_is_refused() {
        assert_eq!(sqlite_url("sqlite://a.db").ok().as_deref(), Some("sqlite://a.db?mode=rwc"));
        assert_eq!(
            sqlite_url("sqlite://a.db?x=1").ok().as_deref(),
            Some("sqlite://a.db?x=1&mode=rwc")
        );
        assert_eq!(
            sqlite_url("sqlite://a.db?mode=ro").ok().as_deref(),
            Some("sqlite://a.db?mode=ro")
        );
        assert!(sqlite_url("sqlite::memory:").is_err());
    }
}
