//! Diagnostics: one problem in one config file, with where it is and how to fix it.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// A problem found while loading or validating configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line, where the parser knows it.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub line: Option<usize>,
    /// Dotted field path inside the file (`models[1].alias`), empty for the whole file.
    pub field: String,
    pub message: String,
    /// One line telling the user what to do.
    pub fix: String,
}

impl Problem {
    pub fn new(
        file: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem {
            file: file.into(),
            line: None,
            field: field.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }

    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.fix.is_empty() {
            write!(f, " (fix: {})", self.fix)?;
        }
        Ok(())
    }
}
