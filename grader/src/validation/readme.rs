//! Keeping the measured rates in a datapoint's README current: replace what
//! lies between the two markers, leave everything else untouched.

/// Starts the generated rates section of a README.
pub const RATES_START: &str = "<!-- racebench:rates:start -->";
/// Ends the generated rates section of a README.
pub const RATES_END: &str = "<!-- racebench:rates:end -->";

/// Why the rates section could not be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkersError {
    #[error("failed to find `{missing}` to close the rates section (the README has only `{present}`); add it or remove the other")]
    Unpaired {
        present: &'static str,
        missing: &'static str,
    },
    #[error(
        "failed to use the rates markers: `{RATES_END}` comes before `{RATES_START}`; swap them"
    )]
    Reversed,
    #[error("failed to use the rates markers: they appear more than once; keep one pair")]
    Repeated,
}

/// Replaces the text between the markers with `table`. A README without
/// either marker gets a "Measured rates" section with both appended.
pub fn replace_rates(readme: &str, table: &str) -> Result<String, MarkersError> {
    let table = table.trim_end_matches('\n');
    let start = readme.find(RATES_START);
    let end = readme.find(RATES_END);
    if readme.matches(RATES_START).count() > 1 || readme.matches(RATES_END).count() > 1 {
        return Err(MarkersError::Repeated);
    }
    match (start, end) {
        (None, None) => {
            let mut out = readme.trim_end_matches('\n').to_string();
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&format!(
                "## Measured rates\n\n{RATES_START}\n{table}\n{RATES_END}\n"
            ));
            Ok(out)
        }
        (Some(_), None) => Err(MarkersError::Unpaired {
            present: RATES_START,
            missing: RATES_END,
        }),
        (None, Some(_)) => Err(MarkersError::Unpaired {
            present: RATES_END,
            missing: RATES_START,
        }),
        (Some(s), Some(e)) if e < s => Err(MarkersError::Reversed),
        (Some(s), Some(e)) => {
            let before = &readme[..s + RATES_START.len()];
            let after = &readme[e..];
            Ok(format!("{before}\n{table}\n{after}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_between_the_markers() {
        let readme =
            format!("# Demo\n\nintro\n{RATES_START}\nold | table\n{RATES_END}\n\n## After\nkept\n");
        let out = replace_rates(&readme, "| new |\n").unwrap();
        assert_eq!(
            out,
            format!("# Demo\n\nintro\n{RATES_START}\n| new |\n{RATES_END}\n\n## After\nkept\n")
        );
        assert_eq!(replace_rates(&out, "| new |").unwrap(), out, "idempotent");
    }

    #[test]
    fn appends_a_section_when_there_are_no_markers() {
        let out = replace_rates("# Demo\n", "| t |").unwrap();
        assert_eq!(
            out,
            format!("# Demo\n\n## Measured rates\n\n{RATES_START}\n| t |\n{RATES_END}\n")
        );
    }

    #[test]
    fn refuses_broken_markers() {
        assert!(matches!(
            replace_rates(&format!("{RATES_START}\n"), "x"),
            Err(MarkersError::Unpaired { .. })
        ));
        assert_eq!(
            replace_rates(&format!("{RATES_END}\n{RATES_START}\n"), "x"),
            Err(MarkersError::Reversed)
        );
        assert_eq!(
            replace_rates(
                &format!("{RATES_START}{RATES_END}{RATES_START}{RATES_END}"),
                "x"
            ),
            Err(MarkersError::Repeated)
        );
    }
}
