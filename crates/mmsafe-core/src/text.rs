//! Small text helpers shared by judges and local models.

/// The first `max_chars` characters of `s`, cut at a char boundary.
pub fn prefix_chars(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_char_boundaries() {
        assert_eq!(prefix_chars("héllo", 2), "hé");
        assert_eq!(prefix_chars("hi", 10), "hi");
        assert_eq!(prefix_chars("", 3), "");
    }
}
