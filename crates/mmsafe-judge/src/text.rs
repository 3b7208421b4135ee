//! Text normalisation shared by the rule judge and the classifier features.

/// Lower-case, fold typographic quotes and apostrophes to ASCII, drop markdown
/// emphasis and collapse whitespace, so one phrase list matches every spelling
/// models produce ("I’m", "I'm", "**I'm**", "I\u{a0}am").
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.chars() {
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '`' | '\u{00B4}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => '"',
            '*' | '_' | '#' => continue,
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
            continue;
        }
        last_space = false;
        for l in c.to_lowercase() {
            out.push(l);
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

pub use mmsafe_core::text::prefix_chars;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_quotes_case_markdown_and_space() {
        assert_eq!(normalize("**I’m  Sorry**,\n\tBut"), "i'm sorry, but");
        assert_eq!(normalize("  "), "");
    }
}
