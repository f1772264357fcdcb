//! JUnit XML as pytest, go-junit-report, node's test runner and most others
//! write it: `<testsuite>`s of `<testcase name classname time>` with optional
//! `<failure>`, `<error>` or `<skipped>` children.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use racebench_model::{Outcome, TestRecord};

use super::{clip, ReportError};

const MESSAGE_MAX: usize = 2000;

/// Parses a JUnit XML document into test records, in document order.
pub fn parse_junit(xml: &str) -> Result<Vec<TestRecord>, ReportError> {
    let mut reader = Reader::from_str(xml);
    let mut records = Vec::new();
    let mut current: Option<TestRecord> = None;
    // Collecting the text of <failure>/<error>/<skipped> inside a testcase.
    let mut in_detail = false;
    let mut detail = String::new();
    loop {
        let event = reader.read_event().map_err(|e| ReportError::Xml {
            position: reader.buffer_position(),
            message: e.to_string(),
        })?;
        match event {
            Event::Start(e) if e.name().as_ref() == b"testcase" => {
                current = Some(testcase(&e));
            }
            Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                records.push(testcase(&e));
            }
            Event::Start(e) | Event::Empty(e)
                if current.is_some() && is_outcome(e.name().as_ref()) =>
            {
                if let Some(record) = current.as_mut() {
                    apply_outcome(record, &e);
                }
                in_detail = true;
                detail.clear();
            }
            Event::Text(t) if in_detail => {
                if let Ok(text) = t.decode() {
                    detail.push_str(&quick_xml::escape::unescape(&text).unwrap_or(text.clone()));
                }
            }
            Event::GeneralRef(r) if in_detail => {
                // quick-xml reports `&gt;`, `&#10;` and friends as separate events.
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    detail.push(c);
                } else if let Ok(name) = r.decode() {
                    if let Some(text) = quick_xml::escape::resolve_predefined_entity(&name) {
                        detail.push_str(text);
                    }
                }
            }
            Event::CData(t) if in_detail => {
                detail.push_str(&String::from_utf8_lossy(&t));
            }
            Event::End(e) if is_outcome(e.name().as_ref()) => {
                in_detail = false;
                if let Some(record) = current.as_mut() {
                    let text = clip(&detail, MESSAGE_MAX);
                    if !text.is_empty() {
                        // The attribute is the summary; the body adds the traceback.
                        record.message = Some(match record.message.take() {
                            Some(m) if !m.is_empty() && m != text => {
                                clip(&format!("{m}\n{text}"), MESSAGE_MAX)
                            }
                            _ => text,
                        });
                    }
                }
            }
            Event::End(e) if e.name().as_ref() == b"testcase" => {
                if let Some(record) = current.take() {
                    records.push(record);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if records.is_empty() && !xml.contains("<testsuite") {
        return Err(ReportError::Empty);
    }
    Ok(records)
}

fn is_outcome(name: &[u8]) -> bool {
    matches!(name, b"failure" | b"error" | b"skipped")
}

fn event_kind(e: &BytesStart<'_>) -> Option<Outcome> {
    match e.name().as_ref() {
        b"failure" => Some(Outcome::Failed),
        b"error" => Some(Outcome::Error),
        b"skipped" => Some(Outcome::Skipped),
        _ => None,
    }
}

/// A failure outranks an error, which outranks a skip (pytest can emit an
/// error for a teardown after a failure).
fn apply_outcome(record: &mut TestRecord, e: &BytesStart<'_>) {
    let Some(kind) = event_kind(e) else { return };
    let rank = |o: Outcome| match o {
        Outcome::Failed => 3,
        Outcome::Error => 2,
        Outcome::Skipped => 1,
        _ => 0,
    };
    if rank(kind) > rank(record.outcome) {
        record.outcome = kind;
    }
    if let Some(message) = attr(e, b"message") {
        let message = clip(&message, MESSAGE_MAX);
        if !message.is_empty() {
            record.message = Some(message);
        }
    }
}

fn testcase(e: &BytesStart<'_>) -> TestRecord {
    let duration_ms = attr(e, b"time")
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t >= 0.0)
        .map(|t| (t * 1000.0).round() as u64);
    TestRecord {
        name: attr(e, b"name").unwrap_or_default(),
        classname: attr(e, b"classname").filter(|c| !c.is_empty()),
        category: None,
        outcome: Outcome::Passed,
        duration_ms,
        message: None,
    }
}

fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4" time="3.2">
<testcase classname="test_inventory" name="test_no_lost_updates" time="1.250" />
<testcase classname="test_inventory" name="test_no_duplicates" time="0.5"><failure message="AssertionError: expected 126, got 98">def test_no_duplicates():
&gt;       assert total == 126
E       AssertionError: expected 126, got 98</failure></testcase>
<testcase classname="test_inventory" name="test_crash_resume[3]" time="0.1"><error message="setup failed">boom</error></testcase>
<testcase classname="test_inventory" name="test_slow" time="0"><skipped type="pytest.skip" message="needs more cores" /></testcase>
</testsuite></testsuites>"#;

    #[test]
    fn reads_pytest_outcomes_durations_and_messages() {
        let records = parse_junit(PYTEST).unwrap();
        let summary: Vec<_> = records
            .iter()
            .map(|r| (r.name.as_str(), r.outcome))
            .collect();
        assert_eq!(
            summary,
            [
                ("test_no_lost_updates", Outcome::Passed),
                ("test_no_duplicates", Outcome::Failed),
                ("test_crash_resume[3]", Outcome::Error),
                ("test_slow", Outcome::Skipped),
            ]
        );
        assert_eq!(records[0].duration_ms, Some(1250));
        assert_eq!(records[0].classname.as_deref(), Some("test_inventory"));
        let message = records[1].message.as_deref().unwrap();
        assert!(
            message.starts_with("AssertionError: expected 126, got 98"),
            "{message}"
        );
        assert!(
            message.contains("> "),
            "body text is kept and unescaped: {message}"
        );
        assert_eq!(records[3].message.as_deref(), Some("needs more cores"));
    }

    #[test]
    fn failure_outranks_a_later_teardown_error() {
        let xml = r#"<testsuite><testcase name="t"><failure message="f"/><error message="teardown"/></testcase></testsuite>"#;
        assert_eq!(parse_junit(xml).unwrap()[0].outcome, Outcome::Failed);
    }

    #[test]
    fn broken_xml_is_an_error_with_a_position() {
        let err = parse_junit("<testsuite><testcase name=\"a\"></testsuite>").unwrap_err();
        assert!(matches!(err, ReportError::Xml { .. }), "{err}");
    }

    #[test]
    fn a_document_without_suites_is_empty() {
        assert!(matches!(parse_junit("<html/>"), Err(ReportError::Empty)));
        assert!(parse_junit("<testsuite tests=\"0\"/>").unwrap().is_empty());
    }
}
