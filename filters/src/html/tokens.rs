//! A lenient HTML tokenizer for extraction: start tags (lower-cased names, attributes with
//! entities decoded), end tags, text and comments, in one pass without recursion or a DOM.
//! The contents of `script`, `style`, `textarea`, `title` and `xmp` are one raw text token,
//! as a browser reads them. Anything malformed is read as text or skipped, never an error.

use std::borrow::Cow;

/// One token of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum Token<'a> {
    Start {
        name: String,
        attrs: Vec<(String, String)>,
    },
    End {
        name: String,
    },
    /// Text as written (entities not yet decoded).
    Text(&'a str),
}

/// Elements whose content is raw text up to their end tag.
const RAW: [&str; 5] = ["script", "style", "textarea", "title", "xmp"];

pub struct Tokenizer<'a> {
    s: &'a str,
    pos: usize,
    /// Inside a raw-text element: its name.
    raw: Option<&'static str>,
    /// The raw element's end tag, returned after its text.
    pending_end: Option<&'static str>,
}

impl<'a> Tokenizer<'a> {
    pub fn new(s: &'a str) -> Self {
        Tokenizer {
            s,
            pos: 0,
            raw: None,
            pending_end: None,
        }
    }

    /// Reads a start tag at `self.pos` (just after `<`); `None` if it is not one.
    fn start_tag(&mut self) -> Option<Token<'a>> {
        let b = self.s.as_bytes();
        let mut i = self.pos;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0C' | b'/' | b'>') {
            i += 1;
        }
        let name = self.s[self.pos..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0C' | b'/') {
                i += 1;
            }
            if i >= b.len() {
                self.pos = b.len();
                break;
            }
            if b[i] == b'>' {
                self.pos = i + 1;
                break;
            }
            let k0 = i;
            while i < b.len()
                && !matches!(
                    b[i],
                    b' ' | b'\t' | b'\n' | b'\r' | b'\x0C' | b'/' | b'>' | b'='
                )
            {
                i += 1;
            }
            let key = self.s[k0..i].to_ascii_lowercase();
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = String::new();
            if i < b.len() && b[i] == b'=' {
                i += 1;
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                let (v0, v1, next) = match b.get(i) {
                    Some(&q) if q == b'"' || q == b'\'' => {
                        let end = memchr::memchr(q, &b[i + 1..]).map_or(b.len(), |e| i + 1 + e);
                        (i + 1, end, (end + 1).min(b.len()))
                    }
                    _ => {
                        let mut e = i;
                        while e < b.len() && !b[e].is_ascii_whitespace() && b[e] != b'>' {
                            e += 1;
                        }
                        (i, e, e)
                    }
                };
                value = decode_entities(&self.s[v0..v1]).into_owned();
                i = next;
            }
            if !key.is_empty() && attrs.len() < 64 {
                attrs.push((key, value));
            }
        }
        if let Some(r) = RAW.iter().find(|r| **r == name) {
            self.raw = Some(r);
        }
        Some(Token::Start { name, attrs })
    }

    /// The text of a raw-text element up to its end tag.
    fn raw_text(&mut self, name: &'static str) -> Token<'a> {
        let rest = &self.s[self.pos..];
        let lower_end = format!("</{name}");
        let mut from = 0;
        let end = loop {
            match memchr::memmem::find(&rest.as_bytes()[from..], b"</") {
                None => break rest.len(),
                Some(i) => {
                    let at = from + i;
                    let cand = rest.get(at..at + lower_end.len());
                    if cand.is_some_and(|c| c.eq_ignore_ascii_case(&lower_end)) {
                        break at;
                    }
                    from = at + 2;
                }
            }
        };
        let text = &rest[..end];
        self.pos += end;
        if end < rest.len() {
            // Past `</name ... >`.
            let close =
                memchr::memchr(b'>', &rest.as_bytes()[end..]).map_or(rest.len(), |i| end + i + 1);
            self.pos = self.pos - end + close;
            self.pending_end = Some(name);
        }
        Token::Text(text)
    }
}

impl<'a> Iterator for Tokenizer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if let Some(name) = self.pending_end.take() {
            return Some(Token::End { name: name.into() });
        }
        if let Some(name) = self.raw.take() {
            return Some(self.raw_text(name));
        }
        let b = self.s.as_bytes();
        loop {
            if self.pos >= b.len() {
                return None;
            }
            if b[self.pos] != b'<' {
                let end = memchr::memchr(b'<', &b[self.pos..]).map_or(b.len(), |i| self.pos + i);
                let t = &self.s[self.pos..end];
                self.pos = end;
                return Some(Token::Text(t));
            }
            let after = self.pos + 1;
            match b.get(after) {
                Some(b'!') if self.s[after..].starts_with("!--") => {
                    let end = memchr::memmem::find(&b[after + 3..], b"-->")
                        .map_or(b.len(), |i| after + 3 + i + 3);
                    self.pos = end;
                }
                Some(b'!') | Some(b'?') => {
                    self.pos = memchr::memchr(b'>', &b[after..]).map_or(b.len(), |i| after + i + 1);
                }
                Some(b'/') if b.get(after + 1).is_some_and(u8::is_ascii_alphabetic) => {
                    let close = memchr::memchr(b'>', &b[after..]).map_or(b.len(), |i| after + i);
                    let inner = &self.s[after + 1..close];
                    let name = inner
                        .split(|c: char| c.is_ascii_whitespace() || c == '/')
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    self.pos = (close + 1).min(b.len());
                    return Some(Token::End { name });
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    self.pos = after;
                    return self.start_tag();
                }
                _ => {
                    // A `<` that starts no tag is text.
                    let end = memchr::memchr(b'<', &b[after..]).map_or(b.len(), |i| after + i);
                    let t = &self.s[self.pos..end];
                    self.pos = end;
                    return Some(Token::Text(t));
                }
            }
        }
    }
}

/// Named character references sluice decodes (the ones real pages use; an unknown name is
/// left as written, never dropped).
const ENTITIES: &[(&str, &str)] = &[
    ("amp", "&"),
    ("lt", "<"),
    ("gt", ">"),
    ("quot", "\""),
    ("apos", "'"),
    ("nbsp", "\u{a0}"),
    ("copy", "©"),
    ("reg", "®"),
    ("trade", "™"),
    ("mdash", "—"),
    ("ndash", "–"),
    ("hellip", "…"),
    ("lsquo", "‘"),
    ("rsquo", "’"),
    ("ldquo", "“"),
    ("rdquo", "”"),
    ("sbquo", "‚"),
    ("bdquo", "„"),
    ("laquo", "«"),
    ("raquo", "»"),
    ("lsaquo", "‹"),
    ("rsaquo", "›"),
    ("middot", "·"),
    ("bull", "•"),
    ("times", "×"),
    ("divide", "÷"),
    ("deg", "°"),
    ("plusmn", "±"),
    ("euro", "€"),
    ("pound", "£"),
    ("yen", "¥"),
    ("cent", "¢"),
    ("sect", "§"),
    ("para", "¶"),
    ("shy", "\u{ad}"),
    ("zwj", "\u{200d}"),
    ("zwnj", "\u{200c}"),
    ("ensp", "\u{2002}"),
    ("emsp", "\u{2003}"),
    ("thinsp", "\u{2009}"),
    ("iexcl", "¡"),
    ("iquest", "¿"),
    ("micro", "µ"),
    ("frac12", "½"),
    ("frac14", "¼"),
    ("frac34", "¾"),
    ("sup2", "²"),
    ("sup3", "³"),
    ("prime", "′"),
    ("Prime", "″"),
    ("larr", "←"),
    ("rarr", "→"),
    ("uarr", "↑"),
    ("darr", "↓"),
    ("harr", "↔"),
    ("rArr", "⇒"),
    ("lArr", "⇐"),
    ("hArr", "⇔"),
    ("le", "≤"),
    ("ge", "≥"),
    ("ne", "≠"),
    ("asymp", "≈"),
    ("equiv", "≡"),
    ("infin", "∞"),
    ("sum", "∑"),
    ("prod", "∏"),
    ("minus", "−"),
    ("radic", "√"),
    ("int", "∫"),
    ("part", "∂"),
    ("nabla", "∇"),
    ("isin", "∈"),
    ("notin", "∉"),
    ("sub", "⊂"),
    ("sup", "⊃"),
    ("cap", "∩"),
    ("cup", "∪"),
    ("and", "∧"),
    ("or", "∨"),
    ("forall", "∀"),
    ("exist", "∃"),
    ("empty", "∅"),
    ("alpha", "α"),
    ("beta", "β"),
    ("gamma", "γ"),
    ("delta", "δ"),
    ("epsilon", "ε"),
    ("zeta", "ζ"),
    ("eta", "η"),
    ("theta", "θ"),
    ("lambda", "λ"),
    ("mu", "μ"),
    ("pi", "π"),
    ("rho", "ρ"),
    ("sigma", "σ"),
    ("tau", "τ"),
    ("phi", "φ"),
    ("chi", "χ"),
    ("psi", "ψ"),
    ("omega", "ω"),
    ("Gamma", "Γ"),
    ("Delta", "Δ"),
    ("Theta", "Θ"),
    ("Lambda", "Λ"),
    ("Pi", "Π"),
    ("Sigma", "Σ"),
    ("Phi", "Φ"),
    ("Psi", "Ψ"),
    ("Omega", "Ω"),
    ("auml", "ä"),
    ("ouml", "ö"),
    ("uuml", "ü"),
    ("Auml", "Ä"),
    ("Ouml", "Ö"),
    ("Uuml", "Ü"),
    ("szlig", "ß"),
    ("eacute", "é"),
    ("egrave", "è"),
    ("ecirc", "ê"),
    ("aacute", "á"),
    ("agrave", "à"),
    ("acirc", "â"),
    ("iacute", "í"),
    ("oacute", "ó"),
    ("uacute", "ú"),
    ("ntilde", "ñ"),
    ("ccedil", "ç"),
    ("Eacute", "É"),
    ("aring", "å"),
    ("oslash", "ø"),
    ("aelig", "æ"),
];

/// `s` with character references (`&amp;`, `&#39;`, `&#x4e2d;`) decoded.
pub fn decode_entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..]
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '#')
            .map_or(rest.len(), |e| e + 1);
        let name = &rest[1..end];
        let semi = rest[end..].starts_with(';');
        let decoded = if let Some(num) = name.strip_prefix('#') {
            let n = match num.strip_prefix(['x', 'X']) {
                Some(h) => u32::from_str_radix(h, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            n.map(|n| {
                char::from_u32(n)
                    .filter(|c| *c != '\0')
                    .unwrap_or('\u{fffd}')
                    .to_string()
            })
        } else {
            ENTITIES
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        match decoded {
            Some(d) if !name.is_empty() => {
                out.push_str(&d);
                rest = &rest[end + usize::from(semi)..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_attributes_raw_text_and_entities() {
        let page = "<!DOCTYPE html><P Class='a b' data-x=1 hidden>x &amp; y &#x4e2d;&#25991; &nope; a < b</p>\
                    <!-- c --><script>if (a</b) {}</script><br/>";
        let toks: Vec<Token> = Tokenizer::new(page).collect();
        assert_eq!(
            toks,
            vec![
                Token::Start {
                    name: "p".into(),
                    attrs: vec![
                        ("class".into(), "a b".into()),
                        ("data-x".into(), "1".into()),
                        ("hidden".into(), String::new())
                    ]
                },
                Token::Text("x &amp; y &#x4e2d;&#25991; &nope; a "),
                Token::Text("< b"),
                Token::End { name: "p".into() },
                Token::Start {
                    name: "script".into(),
                    attrs: vec![]
                },
                Token::Text("if (a</b) {}"),
                Token::End {
                    name: "script".into()
                },
                Token::Start {
                    name: "br".into(),
                    attrs: vec![]
                },
            ]
        );
        assert_eq!(
            decode_entities("x &amp; y &#x4e2d;&#25991; &nope; &lt;"),
            "x & y 中文 &nope; <"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_tokenizes_without_panic(s in "[<>a-z/!\"'= &;#0-9中\n-]{0,200}") {
            let _ = Tokenizer::new(&s).count();
            let _ = decode_entities(&s);
        }
    }
}
