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

    /// The file is larger than Ringfence reads for its kind ([`MAX_EVIDENCE_BYTES`], or
    /// [`MAX_TEST_REPORT_BYTES`] for JUnit XML); nothing of it was parsed.
    #[error("{} is larger than {} MiB, the most Ringfence reads for this evidence; {advice}", path.display(), limit >> 20)]
    TooLarge { path: PathBuf, limit: u64, advice: &'static str },

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

/// The largest file read as evidence or key: 32 MiB. Real signatures, provenance and keys are
/// kilobytes and scanner reports of whole images a few megabytes; the cap bounds the memory a hostile or
/// runaway file can take (a 32 MiB Trivy report peaks under 100 MB). JSON nesting is bounded by
/// serde_json's recursion limit of 128.
pub const MAX_EVIDENCE_BYTES: u64 = 32 << 20;

/// The largest JUnit XML file read: 16 MiB, some 150,000 test cases. An XML tree takes several times
/// its text in memory; a bigger suite can be reported in several files.
pub const MAX_TEST_REPORT_BYTES: u64 = 16 << 20;

const EVIDENCE_ADVICE: &str = "a scanner report this big lists more than vulnerabilities: write it with \
    `trivy image --format json --scanners vuln` (without --list-all-pkgs) or `grype -o json`";

/// Reads a whole file of at most [`MAX_EVIDENCE_BYTES`], naming it on failure.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, SupplyError> {
    read_capped(path, MAX_EVIDENCE_BYTES, EVIDENCE_ADVICE)
}

/// Reads a whole file of at most `limit` bytes, naming it on failure; `advice` says what to do with a
/// bigger one.
pub(crate) fn read_capped(path: &std::path::Path, limit: u64, advice: &'static str) -> Result<Vec<u8>, SupplyError> {
    use std::io::Read as _;
    let read = |source| SupplyError::Read { path: path.to_owned(), source };
    let too_large = || SupplyError::TooLarge { path: path.to_owned(), limit, advice };
    let file = std::fs::File::open(path).map_err(read)?;
    if file.metadata().is_ok_and(|m| m.len() > limit) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    // A file that grows, or a pipe: one byte more than allowed tells it from one at the limit.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(read)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
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
