//! Line breaking.
//!
//! * [`wrap_chars`]: Python `textwrap.wrap(text, width)` with its defaults
//!   (whitespace normalised, break on hyphens, over-long words split, leading
//!   whitespace of the first line kept). FigStep depends on this exact
//!   behaviour, so it is replicated rather than approximated.
//! * [`wrap_pixels`]: greedy word wrap by measured pixel width.
//! * [`wrap_pixels_continuation`]: MM-SafetyBench's typography wrap (running
//!   width of `" " + word`, wrapped lines start with a space).

use crate::font::Font;

const WS: &[char] = &['\t', '\n', '\x0b', '\x0c', '\r', ' '];

fn is_ws(c: char) -> bool {
    WS.contains(&c)
}

/// Python `\w` (Unicode): alphanumeric or underscore.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// textwrap's `letter`: `[^\d\W]`.
fn is_letter(c: char) -> bool {
    is_word(c) && !c.is_numeric()
}

/// textwrap's `word_punct`: `[\w!"'&.,?]`.
fn is_word_punct(c: char) -> bool {
    is_word(c) || matches!(c, '!' | '"' | '\'' | '&' | '.' | ',' | '?')
}

/// `_munge_whitespace`: expand tabs to 8-column stops, then every whitespace
/// character becomes one space.
fn munge(text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut col = 0usize;
    for c in text.chars() {
        match c {
            '\t' => {
                let n = 8 - col % 8;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
            }
            '\n' | '\r' => {
                out.push(' ');
                col = 0;
            }
            c if is_ws(c) => {
                out.push(' ');
                col += 1;
            }
            c => {
                out.push(c);
                col += 1;
            }
        }
    }
    out
}

/// `TextWrapper.wordsep_re` split into chunks (whitespace runs, words,
/// hyphenated word parts and em-dashes).
fn chunks(t: &[char]) -> Vec<String> {
    let n = t.len();
    let at = |i: isize| -> Option<char> {
        if i < 0 {
            None
        } else {
            t.get(i as usize).copied()
        }
    };
    let mut out = Vec::new();
    let mut s = 0usize;
    while s < n {
        if is_ws(t[s]) {
            let mut e = s;
            while e < n && is_ws(t[e]) {
                e += 1;
            }
            out.push(t[s..e].iter().collect());
            s = e;
            continue;
        }
        // An em-dash between words: `(?<=wp)-{2,}(?=\w)`.
        if t[s] == '-' && at(s as isize - 1).is_some_and(is_word_punct) {
            let mut e = s;
            while e < n && t[e] == '-' {
                e += 1;
            }
            if e - s >= 2 && at(e as isize).is_some_and(is_word) {
                out.push(t[s..e].iter().collect());
                s = e;
                continue;
            }
        }
        // A word, lazily extended until one of the terminators matches.
        let mut e = s + 1;
        let end = loop {
            if e >= n {
                break n;
            }
            let c = t[e];
            let ei = e as isize;
            if c == '-' {
                let behind_two =
                    at(ei - 2).is_some_and(is_letter) && at(ei - 1).is_some_and(is_letter);
                let behind_alt = at(ei - 3).is_some_and(is_letter)
                    && at(ei - 2) == Some('-')
                    && at(ei - 1).is_some_and(is_letter);
                let ahead = at(ei + 1).is_some_and(is_letter)
                    && (at(ei + 2).is_some_and(is_letter)
                        || (at(ei + 2) == Some('-') && at(ei + 3).is_some_and(is_letter)));
                if (behind_two || behind_alt) && ahead {
                    break e + 1;
                }
            }
            if is_ws(c) {
                break e;
            }
            if at(ei - 1).is_some_and(is_word_punct) && c == '-' && at(ei + 1) == Some('-') {
                let mut k = e;
                while k < n && t[k] == '-' {
                    k += 1;
                }
                if at(k as isize).is_some_and(is_word) {
                    break e;
                }
            }
            e += 1;
        };
        out.push(t[s..end].iter().collect());
        s = end;
    }
    out
}

fn clen(s: &str) -> usize {
    s.chars().count()
}

/// Python `textwrap.wrap(text, width)` with default options.
pub fn wrap_chars(text: &str, width: usize) -> Vec<String> {
    let mut rev: Vec<String> = chunks(&munge(text));
    rev.reverse();
    let mut lines: Vec<String> = Vec::new();
    while !rev.is_empty() {
        let mut cur: Vec<String> = Vec::new();
        let mut cur_len = 0usize;
        if !lines.is_empty() && rev.last().is_some_and(|c| c.trim().is_empty()) {
            rev.pop();
        }
        while let Some(ch) = rev.last() {
            let l = clen(ch);
            if cur_len + l <= width {
                cur_len += l;
                cur.push(rev.pop().unwrap_or_default());
            } else {
                break;
            }
        }
        if rev.last().is_some_and(|c| clen(c) > width) {
            handle_long_word(&mut rev, &mut cur, cur_len, width);
        }
        if cur.last().is_some_and(|c| c.trim().is_empty()) {
            cur.pop();
        }
        if !cur.is_empty() {
            lines.push(cur.concat());
        }
    }
    lines
}

fn handle_long_word(rev: &mut [String], cur: &mut Vec<String>, cur_len: usize, width: usize) {
    let space_left = if width < 1 { 1 } else { width - cur_len };
    let Some(last) = rev.last_mut() else {
        return;
    };
    let chars: Vec<char> = last.chars().collect();
    let mut end = space_left.min(chars.len());
    if chars.len() > space_left {
        if let Some(h) = chars[..space_left].iter().rposition(|&c| c == '-') {
            if h > 0 && chars[..h].iter().any(|&c| c != '-') {
                end = h + 1;
            }
        }
    }
    cur.push(chars[..end].iter().collect());
    *last = chars[end..].iter().collect();
}

/// Python `textwrap.fill`: the wrapped lines joined with `\n`.
pub fn fill_chars(text: &str, width: usize) -> String {
    wrap_chars(text, width).join("\n")
}

/// Greedy wrap by pixel width: words (split on whitespace) join a line while
/// the line still fits in `max_width`; a word wider than a whole line is split
/// by characters. Explicit newlines in `text` start new lines.
pub fn wrap_pixels(font: &Font, size: f32, text: &str, max_width: u32) -> Vec<String> {
    let max = max_width as i32;
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if font.text_width(&candidate, size) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if font.text_width(word, size) <= max {
                line = word.to_string();
                continue;
            }
            for c in word.chars() {
                let mut next = line.clone();
                next.push(c);
                if !line.is_empty() && font.text_width(&next, size) > max {
                    lines.push(std::mem::take(&mut line));
                    line.push(c);
                } else {
                    line = next;
                }
            }
        }
        lines.push(line);
    }
    lines
}

/// MM-SafetyBench's typography wrap: words split on single spaces; the running
/// width adds `width(" " + word)`; when it reaches `max_width` the word starts a
/// new line written as `" " + word` and the running width restarts there.
pub fn wrap_pixels_continuation(font: &Font, size: f32, text: &str, max_width: u32) -> Vec<String> {
    let max = max_width as i32;
    let text = text.trim();
    let mut words = text.split(' ');
    let first = words.next().unwrap_or_default();
    let mut lines = vec![first.to_string()];
    let mut running = font.text_width(first, size);
    for w in words {
        let piece = format!(" {w}");
        let pw = font.text_width(&piece, size);
        running += pw;
        if running < max {
            if let Some(l) = lines.last_mut() {
                l.push_str(&piece);
            }
        } else {
            lines.push(piece);
            running = pw;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values produced by CPython 3 `textwrap.wrap(s, 15)`.
    #[test]
    fn textwrap_basic() {
        assert_eq!(
            wrap_chars("Steps to manufacture illegal drugs.", 15),
            ["Steps to", "manufacture", "illegal drugs."]
        );
        assert_eq!(wrap_chars("", 15), Vec::<String>::new());
        assert_eq!(wrap_chars("   ", 15), Vec::<String>::new());
        assert_eq!(
            wrap_chars("supercalifragilisticexpialidocious", 15),
            ["supercalifragil", "isticexpialidoc", "ious"]
        );
        assert_eq!(wrap_chars("  lead", 15), ["  lead"]);
        assert_eq!(wrap_chars("a\nb\tc", 15), ["a b       c"]);
    }

    #[test]
    fn textwrap_hyphens() {
        assert_eq!(
            wrap_chars("Methods to self-medicate anxiety.", 15),
            ["Methods to", "self-medicate", "anxiety."]
        );
        assert_eq!(
            wrap_chars("A well-known long-distance x", 15),
            ["A well-known", "long-distance x"]
        );
        assert_eq!(
            wrap_chars("aaaa-bbbb-cccc-dddd", 10),
            ["aaaa-bbbb-", "cccc-dddd"]
        );
        assert_eq!(wrap_chars("x-y z", 3), ["x-y", "z"]);
        assert_eq!(
            wrap_chars("hello--world foo", 8),
            ["hello--", "world", "foo"]
        );
    }

    #[test]
    fn chunking_matches_python() {
        let c = chunks(&munge("Hello there -- you good-bye"));
        assert_eq!(
            c,
            ["Hello", " ", "there", " ", "--", " ", "you", " ", "good-", "bye"]
        );
        let c = chunks(&munge("ab--cd"));
        assert_eq!(c, ["ab", "--", "cd"]);
        let c = chunks(&munge("e-mail 3-d"));
        assert_eq!(c, ["e-mail", " ", "3-d"]);
    }
}
