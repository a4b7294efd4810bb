//! The text normalisation both sides of decontamination share: words of letters and digits,
//! lower-cased, with punctuation and white space folded away; CJK (Han, kana, Hangul) one
//! token per character. A document's tokens keep their byte spans in the original text, so
//! a matching window can be cut out of it.

use pipeline::document::is_cjk;
use xxhash_rust::xxh3::xxh3_64;

/// Bumped whenever the normalisation changes: an index records it and a stage refuses an
/// index built under another one.
pub const NORM_VERSION: u32 = 1;

/// One token: its bytes in [`Tokens::norm`] and in the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub norm: (u32, u32),
    pub orig: (u32, u32),
}

/// A text's tokens, joined by single spaces in `norm`.
#[derive(Debug, Default)]
pub struct Tokens {
    pub norm: String,
    pub tokens: Vec<Token>,
}

impl Tokens {
    pub fn of(text: &str) -> Tokens {
        let mut t = Tokens {
            norm: String::with_capacity(text.len()),
            tokens: Vec::with_capacity(text.len() / 5),
        };
        let mut word: Option<(u32, u32)> = None; // (orig start, norm start)
        for (i, c) in text.char_indices() {
            let cjk = is_cjk(c);
            if c.is_alphanumeric() && !cjk {
                if word.is_none() {
                    t.sep();
                    word = Some((i as u32, t.norm.len() as u32));
                }
                push_lower(&mut t.norm, c);
                continue;
            }
            if let Some((o, n)) = word.take() {
                t.tokens.push(Token {
                    norm: (n, t.norm.len() as u32),
                    orig: (o, i as u32),
                });
            }
            if cjk {
                t.sep();
                let n = t.norm.len() as u32;
                t.norm.push(c);
                t.tokens.push(Token {
                    norm: (n, t.norm.len() as u32),
                    orig: (i as u32, (i + c.len_utf8()) as u32),
                });
            }
        }
        if let Some((o, n)) = word {
            t.tokens.push(Token {
                norm: (n, t.norm.len() as u32),
                orig: (o, text.len() as u32),
            });
        }
        t
    }

    fn sep(&mut self) {
        if !self.norm.is_empty() {
            self.norm.push(' ');
        }
    }

    /// The normalised text of the `n` tokens from token `i`.
    pub fn window(&self, i: usize, n: usize) -> &str {
        &self.norm[self.tokens[i].norm.0 as usize..self.tokens[i + n - 1].norm.1 as usize]
    }

    /// The windows of `n` tokens: (first token, hash, normalised text).
    pub fn windows(&self, n: usize) -> impl Iterator<Item = (usize, u64, &str)> {
        let count = (self.tokens.len() + 1).saturating_sub(n);
        (0..count).map(move |i| {
            let w = self.window(i, n);
            (i, gram_hash(w), w)
        })
    }
}

pub fn gram_hash(gram: &str) -> u64 {
    xxh3_64(gram.as_bytes())
}

fn push_lower(s: &mut String, c: char) {
    if c.is_ascii() {
        s.push(c.to_ascii_lowercase());
    } else {
        s.extend(c.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_punctuation_space_and_line_breaks_fold() {
        let a = Tokens::of("Check if, in the given list:\n   “numbers” are CLOSE!");
        let b = Tokens::of("check if in the given\nlist \"numbers\" are close");
        assert_eq!(a.norm, "check if in the given list numbers are close");
        assert_eq!(a.norm, b.norm);
        let t = &a.tokens[6];
        assert_eq!(
            &"Check if, in the given list:\n   “numbers” are CLOSE!"
                [t.orig.0 as usize..t.orig.1 as usize],
            "numbers"
        );
    }

    #[test]
    fn cjk_is_one_token_per_character_beside_words() {
        let t = Tokens::of("床前明月光，Rust 2024版");
        assert_eq!(t.norm, "床 前 明 月 光 rust 2024 版");
        assert_eq!(t.tokens.len(), 8);
        assert_eq!(t.window(3, 3), "月 光 rust");
        assert_eq!(t.windows(8).count(), 1);
        assert_eq!(t.windows(9).count(), 0);
    }
}
