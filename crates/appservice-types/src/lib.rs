//! placeholder
#![allow(missing_docs)]
pub mod check;
pub mod diagnostic;
pub mod error;
pub mod namespace;
mod regex_dialect;
pub mod registration;
pub mod secret;
pub use check::CheckOptions;
pub use diagnostic::{Code, Diagnostic, Severity};
pub use error::{ErrorBody, ErrorCode, MatrixError};
pub use namespace::NamespaceMatcher;
pub use registration::{Namespace, NamespaceKind, Namespaces, Registration, RegistrationInit};
pub use secret::Secret;
