//! Text from the guest or its image, made safe for the user's terminal.

use std::fmt::{self, Write};

/// Guest-controlled text (a panic message, a symbol or file name from the
/// image) with its control characters escaped, so that a hostile guest can
/// neither send terminal escape sequences nor forge lines of the report.
pub struct Printable<'a> {
    text: &'a str,
    multiline: bool,
}

impl<'a> Printable<'a> {
    /// Text that must stay on one line: line breaks are escaped too.
    pub fn line(text: &'a str) -> Self {
        Self {
            text,
            multiline: false,
        }
    }

    /// Text that may span lines (panic messages): line breaks and tabs stay.
    pub fn text(text: &'a str) -> Self {
        Self {
            text,
            multiline: true,
        }
    }
}

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.text.chars() {
            if c.is_control() && !(self.multiline && matches!(c, '\n' | '\t')) {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Printable;

    #[test]
    fn escapes_terminal_control_sequences() {
        let hostile = "red \x1b[31malert\x07\0\r\nnext\tcolumn";
        assert_eq!(
            Printable::text(hostile).to_string(),
            "red \\u{1b}[31malert\\u{7}\\u{0}\\r\nnext\tcolumn"
        );
        assert_eq!(
            Printable::line(hostile).to_string(),
            "red \\u{1b}[31malert\\u{7}\\u{0}\\r\\nnext\\tcolumn"
        );
        assert_eq!(
            Printable::line("main::ünïcode").to_string(),
            "main::ünïcode"
        );
    }
}
