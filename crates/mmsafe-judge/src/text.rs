//! Text normalisation shared by the rule judge and the classifier features.

use unicode_normalization_alignments::UnicodeNormalization;

/// NFKC, case-fold, fold typographic quotes and apostrophes to ASCII, drop
/// markdown emphasis and collapse whitespace, so one phrase list matches every
/// spelling models produce ("I’m", "I'm", "**I'm**", "I\u{a0}am", full-width
/// "ＩＭ", "？"). Arabic loses its optional vowel marks and its alef and yeh
/// variants, because models write "لا أستطيع" and "لا استطيع" alike; the
/// ideographic, Arabic and Devanagari stops and commas become ASCII so
/// sentence-level patterns work in every script.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for (c, _) in text.nfkc() {
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '`' | '\u{00B4}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' | '\u{00AB}' | '\u{00BB}' => '"',
            '\u{3002}' | '\u{0964}' => '.',
            '\u{3001}' | '\u{060C}' => ',',
            '\u{061F}' => '?',
            '\u{0623}' | '\u{0625}' | '\u{0622}' => '\u{0627}',
            '\u{0649}' => '\u{064A}',
            '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' => continue,
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
        match c {
            // Full case folding where lower-casing differs from it; the
            // Turkish dotted capital I would otherwise gain a combining dot.
            'ß' | 'ẞ' => out.push_str("ss"),
            'ς' => out.push('σ'),
            'İ' => out.push('i'),
            c => out.extend(c.to_lowercase()),
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

/// NFKC only, for phrase patterns written in this crate, so a pattern
/// matches text that went through [`normalize`] whatever the composition
/// of the pattern's source (Devanagari nukta letters decompose under NFKC).
pub fn nfkc(text: &str) -> String {
    text.nfkc().map(|(c, _)| c).collect()
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

    #[test]
    fn folds_width_case_and_script_variants() {
        assert_eq!(normalize("ＩＣＨ KANN NICHT？"), "ich kann nicht?");
        assert_eq!(normalize("Straße"), "strasse");
        assert_eq!(normalize("İSTEĞİ"), "isteği");
        assert_eq!(normalize("لا أستطيعُ"), "لا استطيع");
        assert_eq!(normalize("我不能。抱歉、"), "我不能.抱歉,");
        assert_eq!(normalize("माफ़"), nfkc("माफ़"));
        assert_eq!(normalize("«Non»"), "\"non\"");
    }
}
