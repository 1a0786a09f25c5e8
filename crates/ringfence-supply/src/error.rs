//! The crate's one error type: input that could not be read at all. A signature that does not verify
//! is not an error but evidence (`verified: false` with its problem); see the crate docs.

use std::path::PathBuf;

/// Why supply-chain input could not be read; every variant names the file (or the reference) at fault.
#[derive(Debug, thiserror::Error)]
pub enum SupplyError {
    /// The file could not be read from disk.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },

    /// The file could not be written (signing output).
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },

    /// The file is not valid JSON.
    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    Json { path: PathBuf, line: usize, column: usize, message: String },

    /// The file is not well-formed XML.
    #[error("{}:{line}:{column}: malformed XML: {message}", path.display())]
    Xml { path: PathBuf, line: u32, column: u32, message: String },

    /// A field that should hold base64 does not.
    #[error("{}: {field} is not valid base64: {message}", path.display())]
    Base64 { path: PathBuf, field: &'static str, message: String },

    /// A key file is not a PEM public (or private) key this crate supports.
    #[error("{}: {message}", path.display())]
    Key { path: PathBuf, message: String },

    /// The file parses but is not the document expected (unknown scanner format, missing field, bad value).
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },

    /// An image reference that is neither `repository:tag` nor `repository@sha256:<64 hex>`.
    #[error("invalid image reference {reference:?}: {reason}")]
    ImageRef { reference: String, reason: String },

    /// The operating system's random number generator failed while generating a key.
    #[error("cannot generate a signing key: the system random number generator failed: {0}")]
    Random(String),
}

impl SupplyError {
    pub(crate) fn json(path: &std::path::Path, err: &serde_json::Error) -> Self {
        SupplyError::Json { path: path.to_owned(), line: err.line(), column: err.column(), message: err.to_string() }
    }

    pub(crate) fn format(path: &std::path::Path, message: impl Into<String>) -> Self {
        SupplyError::Format { path: path.to_owned(), message: message.into() }
    }
}

/// Reads a whole file, naming it on failure.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, SupplyError> {
    std::fs::read(path).map_err(|source| SupplyError::Read { path: path.to_owned(), source })
}

/// Decodes base64 as the DSSE spec asks: standard alphabet or URL-safe, with padding. Surrounding
/// whitespace is ignored because `cosign --output-signature` files may end with a newline.
pub(crate) fn decode_base64(text: &str, path: &std::path::Path, field: &'static str) -> Result<Vec<u8>, SupplyError> {
    use base64::Engine as _;
    let text = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .map_err(|e| SupplyError::Base64 { path: path.to_owned(), field, message: e.to_string() })
}

/// Encodes with the standard alphabet and padding, as cosign and DSSE producers do.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
