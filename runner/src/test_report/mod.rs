//! Test reports, parsed into per-test records: JUnit XML and `go test -json`.

mod go_test_json;
mod junit;

pub use go_test_json::parse_go_test_json;
pub use junit::parse_junit;

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the JUnit report is not well-formed XML at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("the report holds no test results")]
    Empty,
}

/// Keeps the first `max` characters of a message, on a char boundary.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
