//! Messages for the person at the terminal, apart from logs: errors with
//! their causes, warnings, and progress lines on stderr; results on stdout.

/// Prints an error and the chain of its causes.
pub fn error(error: &anyhow::Error) {
    let mut chain = error.chain();
    if let Some(top) = chain.next() {
        eprintln!("error: {top}");
    }
    for cause in chain {
        // `Coded` repeats its inner error's message; skip the duplicate.
        let text = cause.to_string();
        if !text.is_empty() && !error.to_string().eq(&text) {
            eprintln!("  caused by: {text}");
        }
    }
}

pub fn warning(message: impl std::fmt::Display) {
    eprintln!("warning: {message}");
}

/// A progress line (stderr).
pub fn status(message: impl std::fmt::Display) {
    eprintln!("{message}");
}
