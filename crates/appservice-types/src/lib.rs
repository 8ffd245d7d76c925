//! placeholder
#![allow(missing_docs)]
pub mod diagnostic;
pub mod error;
pub mod registration;
pub mod secret;
pub use diagnostic::{Code, Diagnostic, Severity};
pub use error::{ErrorBody, ErrorCode, MatrixError};
pub use registration::{Namespace, NamespaceKind, Namespaces, Registration, RegistrationInit};
pub use secret::Secret;
