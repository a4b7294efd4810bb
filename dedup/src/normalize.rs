//! Text normalisation before hashing: NFKC, lower case, whitespace runs collapsed, so that
//! copies differing only in case, width forms or spacing hash alike.

use unicode_normalization::UnicodeNormalization;

pub fn normalize_for_hash(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkc().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_width_and_spacing_do_not_matter() {
        assert_eq!(normalize_for_hash("  Hello\t\nWORLD  "), "hello world");
        assert_eq!(normalize_for_hash("ＡＢＣ　股票"), "abc 股票");
        assert_ne!(
            normalize_for_hash("hello world"),
            normalize_for_hash("hello, world")
        );
    }
}
