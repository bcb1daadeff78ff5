//! Field-level validation errors shared by every parser in this crate.
//!
//! The API turns an [`Invalid`] into a 422 problem document and the console
//! shows each [`FieldError`] next to its field, so every error names the field
//! at fault with the path the caller used (`hosts[1]`, `claim_mappings.email`).

use std::fmt;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field's path as the caller wrote it, e.g. `hosts[0]` or `claim_mappings.email`.
    pub field: String,
    /// What is wrong, in words an operator understands.
    pub message: String,
}

impl FieldError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// One or more fields of an input failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    /// The fields at fault, in input order. Never empty.
    pub errors: Vec<FieldError>,
}

impl Invalid {
    /// An error for a single field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError::new(field, message)],
        }
    }

    /// Prefix every field path with `prefix.` (for nested objects).
    #[must_use]
    pub fn nested(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            e.field = format!("{prefix}.{}", e.field);
        }
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

/// Collects field errors while a multi-field input is checked, so one answer
/// names every field at fault instead of only the first.
#[derive(Debug, Default)]
pub struct Collector {
    errors: Vec<FieldError>,
}

impl Collector {
    /// A collector with no errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep the value of `result`, or record its errors and return `None`.
    pub fn check<T>(&mut self, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.extend(e.errors);
                None
            }
        }
    }

    /// Record one error.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// `Ok(())` when nothing was recorded.
    pub fn finish(self) -> Result<(), Invalid> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Invalid {
                errors: self.errors,
            })
        }
    }

    /// `true` when nothing was recorded so far.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}
