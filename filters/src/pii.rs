//! `pii`: finds personal data with regex detectors and checksums — e-mail addresses, phone
//! numbers (international, North American and mainland China mobile), public IPv4/IPv6
//! addresses, mainland China resident ID numbers (checksum and date checked) and payment card
//! numbers (issuer prefix, length and Luhn) — and masks them (`<EMAIL>`, `<PHONE>`, `<IP>`,
//! `<ID_CN>`, `<CREDIT_CARD>`), drops the document, or only counts. Documents with more than
//! `max_matches` are dropped.
//!
//! Precision first, so technical text survives: private, loopback, link-local, reserved and
//! documentation addresses and netmasks are not personal (`public_ips_only = false` masks
//! them too, as before); numbers inside URLs and identifiers, parts of decimal numbers,
//! ISBNs and phone-shaped numbers with mixed separators (`252.227-7015`) are not matched.

use std::net::{Ipv4Addr, Ipv6Addr};

use pipeline::chars::is_alphanumeric;
use pipeline::stage::parse_stage_table;
use pipeline::{ColumnType, Doc, RowAdapter, RowOut, RowStage, StageEnv, StageKind, Verdict};
use regex::Regex;
use serde::Deserialize;

use crate::digit_runs::DigitRuns;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Email,
    IdCn,
    CreditCard,
    PhoneCn,
    Phone,
    Ipv6,
    Ipv4,
}

impl PiiKind {
    pub const ALL: [PiiKind; 7] = [
        PiiKind::Email,
        PiiKind::IdCn,
        PiiKind::CreditCard,
        PiiKind::PhoneCn,
        PiiKind::Phone,
        PiiKind::Ipv6,
        PiiKind::Ipv4,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::IdCn => "id_cn",
            PiiKind::CreditCard => "credit_card",
            PiiKind::PhoneCn => "phone_cn",
            PiiKind::Phone => "phone",
            PiiKind::Ipv6 => "ipv6",
            PiiKind::Ipv4 => "ipv4",
        }
    }

    pub fn mask(self) -> &'static str {
        match self {
            PiiKind::Email => "<EMAIL>",
            PiiKind::IdCn => "<ID_CN>",
            PiiKind::CreditCard => "<CREDIT_CARD>",
            PiiKind::PhoneCn | PiiKind::Phone => "<PHONE>",
            PiiKind::Ipv6 | PiiKind::Ipv4 => "<IP>",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Mask,
    Drop,
    Count,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    pub kinds: Vec<PiiKind>,
    pub policy: Policy,
    /// Documents with more matches than this are dropped (`pii.too_many`) whatever the policy.
    pub max_matches: usize,
    /// Mask only globally routable IP addresses (datatrove's default); `false` also masks
    /// private, loopback, link-local, reserved and documentation ranges.
    pub public_ips_only: bool,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            kinds: PiiKind::ALL.to_vec(),
            policy: Policy::Mask,
            max_matches: 50,
            public_ips_only: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiMatch {
    pub start: usize,
    pub end: usize,
    pub kind: PiiKind,
}

pub struct PiiDetector {
    c: PiiConfig,
    patterns: Vec<(PiiKind, Regex)>,
}

/// The runs the number-shaped kinds' regexes can match in: every character of a match is a
/// digit or one of these separators, and a match has at least this many digits.
fn digit_runs(kind: PiiKind) -> Option<DigitRuns> {
    let (separators, min_digits): (&'static [u8], usize) = match kind {
        // \d(?:[ -]?\d){12,18}
        PiiKind::CreditCard => (b" -", 13),
        // \+\d{1,3}..\d{2,4}(?:[ .-]?\d{2,4}){1,3} | \(\d{3}\).. | \d{3}[.-]\d{3}[.-]\d{4}
        PiiKind::Phone => (b"+() .-", 5),
        // \d{1,3}(?:\.\d{1,3}){3}
        PiiKind::Ipv4 => (b".", 4),
        _ => return None,
    };
    Some(DigitRuns {
        separators,
        min_digits,
    })
}

/// Every separator of [`digit_runs`].
const ANY_SEPARATOR: &[u8] = b"+() .-";

/// `runs`' runs of `text`, found inside `within` (runs of a superset that hold them all).
fn runs_within<'a>(
    runs: DigitRuns,
    text: &'a str,
    within: &'a [(usize, usize)],
) -> impl Iterator<Item = (usize, usize)> + 'a {
    within.iter().flat_map(move |&(a0, b0)| {
        let found = runs.find(&text[a0..b0]);
        found.into_iter().map(move |(a, b)| (a0 + a, a0 + b))
    })
}

/// Mainland China resident ID: 17 digits + check character (ISO 7064 MOD 11-2).
pub fn valid_id_cn(s: &str) -> bool {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = s.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    CHECK[(sum % 11) as usize] == b[17].to_ascii_uppercase()
}

/// Luhn checksum over the digits of `s` (13 to 19 of them).
pub fn valid_luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn valid_ipv4(s: &str) -> bool {
    s.split('.')
        .all(|o| o.parse::<u16>().is_ok_and(|v| v <= 255) && (o.len() == 1 || !o.starts_with('0')))
}

/// A globally routable IPv4 address: not private, shared (CGNAT), loopback, link-local,
/// documentation, benchmarking, multicast, reserved (netmasks like 255.255.255.0) or 0/8.
pub fn is_public_ipv4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_documentation()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

/// A globally routable IPv6 address: global unicast (2000::/3, the only range handed out),
/// less documentation (2001:db8::/32); an IPv4-mapped address by its IPv4 rule.
pub fn is_public_ipv6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_ipv4(v4);
    }
    (s[0] & 0xe000) == 0x2000 && !(s[0] == 0x2001 && s[1] == 0x0db8)
}

/// An IPv6 match that is written like an address, not like `c::`, `foo::bar` or an RST
/// `::` literal marker: at least two groups, and all eight when nothing is compressed.
fn ipv6_shaped(text: &str) -> bool {
    let groups = text.split(':').filter(|g| !g.is_empty()).count();
    groups >= 2 && (text.contains("::") || groups == 8)
}

/// Addresses under the domains reserved for documentation (RFC 2606, RFC 6761): nobody's
/// mailbox (`maintainer@example.org`, `user@host.test`).
fn reserved_domain(email: &str) -> bool {
    let domain = email.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
    ["example.com", "example.org", "example.net"]
        .iter()
        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
        || [".example", ".test", ".invalid", ".localhost"]
            .iter()
            .any(|t| domain.ends_with(t))
}

/// Words before a dotted number that make it a version or a section, not an address.
const VERSION_WORDS: [&str; 18] = [
    "version",
    "ver",
    "release",
    "section",
    "sections",
    "sec",
    "chapter",
    "clause",
    "paragraph",
    "spec",
    "per",
    "see",
    "linux",
    "kernel",
    "rev",
    "revision",
    "firmware",
    "table",
];

/// A dotted quad of small numbers written like a section heading or reference, not an
/// address: `36.1.1.1. Errors`, `2.1.1.5 Blocking Read`, `"13.2.5.8 Tag name state"`.
fn section_number(full: &str, s: usize, e: usize) -> bool {
    let small = full[s..e]
        .split('.')
        .all(|o| o.parse::<u16>().is_ok_and(|v| v < 64));
    if !small {
        return false;
    }
    let rest = &full[e..];
    let ends_sentence = rest.starts_with('.')
        && rest[1..]
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || c == '*');
    let mut words = rest.trim_start_matches([' ', '\t']).chars();
    let title = rest.starts_with([' ', '\t'])
        && words.next().is_some_and(char::is_uppercase)
        && words.next().is_some_and(char::is_lowercase);
    let quoted = full[..s].ends_with(['"', '\'', '“']);
    ends_sentence || title || quoted
}

fn after_version_word(text: &str, at: usize) -> bool {
    let before = text[..at].trim_end_matches([' ', ':', '\t']);
    // One past the last character that is not part of a word (which may be several bytes).
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !is_alphanumeric(*c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = before[word_start..].to_lowercase();
    VERSION_WORDS.contains(&word.as_str())
}

/// Digit groups as cards are written: `4-4-4-4(-3)`, Amex `4-6-5`, Diners `4-6-4`, or
/// none at all.
fn card_grouping(text: &str) -> bool {
    let groups: Vec<usize> = text
        .split([' ', '-'])
        .filter(|g| !g.is_empty())
        .map(str::len)
        .collect();
    match groups.as_slice() {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [head @ .., last] => head.iter().all(|&g| g == 4) && (1..=4).contains(last),
        [] => false,
    }
}

/// A mainland mobile number stands in Chinese text, or is written with `+86` or separators:
/// a bare 11-digit number in English text is more often a counter or a timestamp.
fn phone_cn_context(text: &str, s: usize, e: usize) -> bool {
    let m = &text[s..e];
    if m.starts_with('+') || m.contains([' ', '-']) {
        return true;
    }
    let near = |t: &str| t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let before: String = text[..s].chars().rev().take(20).collect();
    let after: String = text[e..].chars().take(20).collect();
    near(&before) || near(&after)
}

/// Issuer prefixes and lengths of the payment card networks (Visa, Mastercard, Amex,
/// Discover, JCB, Diners, UnionPay, Maestro): ISBNs, order numbers and other Luhn-valid digit
/// runs do not start like a card.
pub fn card_issuer_ok(digits: &str) -> bool {
    let n = digits.len();
    let p = |k: usize| digits[..k.min(n)].parse::<u32>().unwrap_or(0);
    match digits.as_bytes()[0] {
        b'4' => matches!(n, 13 | 16 | 19),
        b'5' => (51..=55).contains(&p(2)) && n == 16 || (p(2) == 50 || p(2) >= 56) && n >= 12,
        b'2' => (2221..=2720).contains(&p(4)) && n == 16,
        b'3' => {
            (p(2) == 34 || p(2) == 37) && n == 15
                || (3528..=3589).contains(&p(4)) && (16..=19).contains(&n)
                || ((300..=305).contains(&p(3)) || p(2) == 36 || p(2) == 38 || p(2) == 39)
                    && (14..=19).contains(&n)
        }
        b'6' => (16..=19).contains(&n),
        _ => false,
    }
}

/// The separators between the digit groups of a match are all the same (or absent).
fn one_separator(s: &str) -> bool {
    let mut seps = s.chars().filter(|c| matches!(c, ' ' | '.' | '-'));
    match seps.next() {
        None => true,
        Some(first) => seps.all(|c| c == first),
    }
}

/// A phone number's local part (after a `+CC` country code and a `(area)` code) uses one
/// kind of separator: `(212) 555-0199` and `+86 138-1234-5678` pass, `252.227-7015` does not.
fn phone_separators_ok(text: &str) -> bool {
    let mut local = text;
    if let Some(rest) = local.strip_prefix('+') {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        local = rest[digits..].trim_start_matches([' ', '.', '-']);
    }
    if let Some(close) = local.find(')') {
        local = local[close + 1..].trim_start_matches([' ', '.', '-']);
    }
    one_separator(local)
}

/// Whether the match at `s..e` is glued to more of a number or an identifier, or sits in a
/// URL: `v12345678901`, `/item/4111111111111111`, `?id=13812345678`, `17464026916.32`.
fn embedded(bytes: &[u8], s: usize, e: usize) -> bool {
    let before = s.checked_sub(1).map(|i| bytes[i]);
    let glued_before = before.is_some_and(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'=' | b'?' | b'&' | b'#' | b'%')
    });
    // `mpath-35333333000002328`, `v1.2.3.4`: a dash or dot glued to a word before.
    let tail_of_word =
        s >= 2 && matches!(bytes[s - 1], b'-' | b'.') && bytes[s - 2].is_ascii_alphabetic();
    let decimal_before =
        s >= 2 && matches!(bytes[s - 1], b'.' | b',') && bytes[s - 2].is_ascii_digit();
    let after = bytes.get(e).copied();
    let glued_after = after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let decimal_after =
        matches!(after, Some(b'.' | b',')) && bytes.get(e + 1).is_some_and(u8::is_ascii_digit);
    glued_before
        || tail_of_word
        || decimal_before
        || glued_after
        || decimal_after
        || in_url(bytes, s)
}

/// Whether the white-space-delimited token around `at` is a URL.
fn in_url(bytes: &[u8], at: usize) -> bool {
    let start = bytes[..at]
        .iter()
        .rposition(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'(' | b'<'))
        .map_or(0, |i| i + 1);
    let token = &bytes[start..at];
    token.windows(3).any(|w| w == b"://") || token.starts_with(b"www.")
}

impl PiiDetector {
    pub fn new(c: PiiConfig) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for &kind in &PiiKind::ALL {
            if !c.kinds.contains(&kind) {
                continue;
            }
            let re = match kind {
                PiiKind::Email => r"(?i)[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}",
                PiiKind::IdCn => {
                    r"[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                }
                PiiKind::CreditCard => r"\d(?:[ -]?\d){12,18}",
                PiiKind::PhoneCn => r"(?:\+86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}",
                PiiKind::Phone => {
                    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,3}|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4}"
                }
                PiiKind::Ipv6 => r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}",
                PiiKind::Ipv4 => r"\d{1,3}(?:\.\d{1,3}){3}",
            };
            patterns.push((kind, Regex::new(re).expect("valid pattern")));
        }
        if patterns.is_empty() {
            return Err("kinds is empty; list at least one of email, id_cn, credit_card, phone_cn, phone, ipv6, ipv4".into());
        }
        Ok(PiiDetector { c, patterns })
    }

    /// Non-overlapping matches in text order (earlier kinds win ties).
    pub fn find(&self, text: &str) -> Vec<PiiMatch> {
        self.find_in(text, true)
    }

    /// `windowed`: the number-shaped kinds search only [`DigitRuns`]; the same matches as
    /// searching the whole text (which `false` does, for the tests).
    fn find_in(&self, text: &str, windowed: bool) -> Vec<PiiMatch> {
        let mut found = Vec::new();
        // Every kind's runs lie inside these: found once, not once per kind.
        let any_runs = match windowed {
            true => self.any_kind_runs().map(|r| r.find(text)),
            false => None,
        };
        for (kind, re) in &self.patterns {
            let mut take = |s: usize, e: usize| {
                if self.accept(*kind, text, s, e) {
                    found.push(PiiMatch {
                        start: s,
                        end: e,
                        kind: *kind,
                    });
                }
            };
            match digit_runs(*kind).zip(any_runs.as_deref()) {
                Some((runs, within)) => {
                    for (a, b) in runs_within(runs, text, within) {
                        for m in re.find_iter(&text[a..b]) {
                            take(a + m.start(), a + m.end());
                        }
                    }
                }
                None => {
                    for m in re.find_iter(text) {
                        take(m.start(), m.end());
                    }
                }
            }
        }
        found.sort_by_key(|m| (m.start, m.kind, std::cmp::Reverse(m.end)));
        let mut out: Vec<PiiMatch> = Vec::with_capacity(found.len());
        for m in found {
            if out.last().is_none_or(|l| m.start >= l.end) {
                out.push(m);
            }
        }
        out
    }

    /// The runs of digits and of every number-shaped kind's separators, with the fewest
    /// digits any of them needs: a kind's run (digits and its own separators, a subset)
    /// lies inside one of them, since what ends one of these ends the kind's too.
    fn any_kind_runs(&self) -> Option<DigitRuns> {
        let min_digits = (self.patterns.iter())
            .filter_map(|(kind, _)| digit_runs(*kind))
            .map(|r| r.min_digits)
            .min()?;
        Some(DigitRuns {
            separators: ANY_SEPARATOR,
            min_digits,
        })
    }

    /// Whether the regex match of `kind` at `s..e` is one (checksums, context).
    fn accept(&self, kind: PiiKind, text: &str, s: usize, e: usize) -> bool {
        let (bytes, span) = (text.as_bytes(), &text[s..e]);
        match kind {
            PiiKind::Email => !reserved_domain(span) && !in_url(bytes, s),
            PiiKind::IdCn => !embedded(bytes, s, e) && valid_id_cn(span),
            PiiKind::CreditCard => {
                let digits: String = span.chars().filter(char::is_ascii_digit).collect();
                !embedded(bytes, s, e)
                    && one_separator(span)
                    && card_grouping(span)
                    && card_issuer_ok(&digits)
                    && valid_luhn(&digits)
            }
            PiiKind::PhoneCn | PiiKind::Phone => {
                !embedded(bytes, s, e)
                    && (kind == PiiKind::Phone || phone_cn_context(text, s, e))
                    && phone_separators_ok(span)
                    && span.chars().filter(char::is_ascii_digit).count() >= 8
            }
            PiiKind::Ipv6 => {
                ipv6_shaped(span)
                    && !bytes
                        .get(e)
                        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    && span.chars().any(|c| c.is_ascii_hexdigit())
                    && (s == 0 || !bytes[s - 1].is_ascii_alphanumeric())
                    && span
                        .parse::<Ipv6Addr>()
                        .is_ok_and(|ip| !self.c.public_ips_only || is_public_ipv6(ip))
            }
            PiiKind::Ipv4 => {
                // `embedded` also covers digits right before or after, and `.`/`,`
                // followed by a digit after.
                let not_an_address = (s > 0 && bytes[s - 1] == b'.')
                    || embedded(bytes, s, e)
                    || after_version_word(text, s)
                    || section_number(text, s, e);
                !not_an_address
                    && valid_ipv4(span)
                    && span
                        .parse::<Ipv4Addr>()
                        .is_ok_and(|ip| !self.c.public_ips_only || is_public_ipv4(ip))
            }
        }
    }

    /// `text` with every match replaced by its mask token.
    pub fn mask(text: &str, matches: &[PiiMatch]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for m in matches {
            out.push_str(&text[at..m.start]);
            out.push_str(m.kind.mask());
            at = m.end;
        }
        out.push_str(&text[at..]);
        out
    }
}

pub(crate) fn build(table: toml::Table, _env: &StageEnv) -> Result<StageKind, String> {
    let c: PiiConfig = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(RowAdapter::new(
        PiiDetector::new(c)?,
    ))))
}

impl RowStage for PiiDetector {
    fn name(&self) -> &str {
        "pii"
    }

    fn columns(&self) -> Vec<(String, ColumnType)> {
        vec![("pii_matches".into(), ColumnType::UInt32)]
    }

    /// One counter per kind, in [`PiiKind::ALL`] order.
    fn counters(&self) -> Vec<String> {
        PiiKind::ALL.iter().map(|k| k.name().to_string()).collect()
    }

    fn judge(&self, doc: Doc<'_>, out: &mut RowOut) -> Verdict {
        let found = self.find(doc.text);
        for m in &found {
            out.count(
                PiiKind::ALL
                    .iter()
                    .position(|k| *k == m.kind)
                    .expect("known kind"),
                1,
            );
        }
        out.u32(0, found.len() as u32);
        if found.len() > self.c.max_matches {
            Verdict::drop_with("pii.too_many", format!("{} matches", found.len()))
        } else if found.is_empty() || self.c.policy == Policy::Count {
            Verdict::Keep
        } else if self.c.policy == Policy::Drop {
            Verdict::drop_with("pii.found", found[0].kind.name())
        } else {
            Verdict::Rewrite(Self::mask(doc.text, &found))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det() -> PiiDetector {
        PiiDetector::new(PiiConfig::default()).unwrap()
    }

    fn kinds(text: &str) -> Vec<(&'static str, String)> {
        det()
            .find(text)
            .into_iter()
            .map(|m| (m.kind.name(), text[m.start..m.end].to_string()))
            .collect()
    }

    #[test]
    fn checksums() {
        assert!(valid_id_cn("11010519491231002X"));
        assert!(!valid_id_cn("110105194912310021"));
        assert!(valid_luhn("4111 1111 1111 1111"));
        assert!(!valid_luhn("4111 1111 1111 1112"));
        assert!(!valid_luhn("0000000000000"));
    }

    #[test]
    fn finds_each_kind_in_context() {
        let t =
            "联系张先生：13812345678，邮箱 zhang.san@example.com.cn，身份证号11010519491231002X。\
                 Call +44 20 7946 0958 or (212) 555-0199. Card 4111-1111-1111-1111. \
                 Server 93.184.216.34 and 2a00:1450:4009:81e::200e.";
        assert_eq!(
            kinds(t),
            vec![
                ("phone_cn", "13812345678".into()),
                ("email", "zhang.san@example.com.cn".into()),
                ("id_cn", "11010519491231002X".into()),
                ("phone", "+44 20 7946 0958".into()),
                ("phone", "(212) 555-0199".into()),
                ("credit_card", "4111-1111-1111-1111".into()),
                ("ipv4", "93.184.216.34".into()),
                ("ipv6", "2a00:1450:4009:81e::200e".into()),
            ]
        );
        let masked = PiiDetector::mask(t, &det().find(t));
        assert!(
            masked.starts_with("联系张先生：<PHONE>，邮箱 <EMAIL>，身份证号<ID_CN>。"),
            "{masked}"
        );
        assert!(
            masked.contains("Card <CREDIT_CARD>.") && masked.contains("Server <IP> and <IP>."),
            "{masked}"
        );
    }

    /// Real mixed text (a reST table in Chinese docs) put a box-drawing character right
    /// before a dotted quad; the version-word check sliced inside it and panicked.
    #[test]
    fn a_multibyte_character_before_a_number_is_not_sliced() {
        for t in [
            "│ 7.8.1.2 │",
            "使用│10.0.0.1",
            "版本：1.2.3.4",
            "—93.184.216.34",
        ] {
            let _ = kinds(t);
        }
        assert_eq!(
            kinds("服务器│93.184.216.34"),
            vec![("ipv4", "93.184.216.34".into())]
        );
    }

    #[test]
    fn ordinary_numbers_are_not_pii() {
        for t in [
            "The meeting is at 12:30:45 on 2024-05-01.",
            "Version 1.2.3.4567 was released; pi is 3.14159265358979.",
            "GDP grew 5.2% to 126,058 billion yuan in 2023.",
            "Order number 20240501123456789012 shipped.",
            "Ratio 999.999.999.999 is not an address.",
        ] {
            assert_eq!(kinds(t), vec![], "{t}");
        }
    }

    /// The false positives found on real kernel and Python docs, contracts and books.
    #[test]
    fn technical_text_is_left_alone() {
        for t in [
            "auto eth0\niface eth0 inet static\n  address 192.168.11.1\n  netmask 255.255.255.0",
            "127.0.1.1       myhost.example.org myhost",
            "bind to 10.0.0.1, 172.16.5.4, 169.254.1.1, 100.64.0.1 or 0.0.0.0",
            "listen on ::1 and fe80::1ff:fe23:4567:890a, or fd00::1 and 2001:db8::1",
            "ISBN 9787111075738 (机械工业出版社)",
            "see https://example.org/item/4111111111111111?ref=13812345678 for details",
            "DFARS 252.227-7015 applies to technical data.",
            "Signed-off-by: Random J Developer <random@developer.example.org>",
            "see https://lore.kernel.org/all/BANLkTina+j6HbJ7pzhg@mail.gmail.com/ for it",
            "| total | 17464026916.32 |",
            "call_id=13812345678&x=1",
            "see mm/util.c::__vm_enough_memory() and the block:: below",
            "Section 5.2.21.12, Version 1.9.9.1, Linux 2.6.8.1 and v3.0.2.2",
            "DM_UUID=mpath-35333333000002328",
            "verity 1 8:1 8:2 4096 4096 204800 1 sha256",
            "    Timestamp: 17106715833",
            "%pISsc  [1:2:3:4:5:6:7:8]",
            "36.1.1.2. \"ORCL,sun4v-dax-fc\" Device\n2.1.1.5 Blocking Read",
            "# \"13.2.5.8 Tag name state\" and the HID spec 6.2.2.8",
        ] {
            assert_eq!(kinds(t), vec![], "{t}");
        }
        // With public_ips_only = false, every valid address is masked, as before.
        let all = PiiDetector::new(PiiConfig {
            public_ips_only: false,
            ..Default::default()
        })
        .unwrap();
        let t = "address 192.168.11.1 and fe80::1ff:fe23:4567:890a";
        assert_eq!(all.find(t).len(), 2);
    }

    #[test]
    fn card_prefixes() {
        for (n, ok) in [
            ("4111111111111111", true),
            ("5500005555555559", true),
            ("378282246310005", true),
            ("6011111111111117", true),
            ("3530111333300000", true),
            ("9787111075738", false),
            ("1234567812345670", false),
        ] {
            assert_eq!(card_issuer_ok(n) && valid_luhn(n), ok, "{n}");
        }
    }

    #[test]
    fn every_kinds_separators_are_among_any_separator() {
        for kind in PiiKind::ALL {
            if let Some(r) = digit_runs(kind) {
                assert!(
                    r.separators.iter().all(|b| ANY_SEPARATOR.contains(b)),
                    "{kind:?}"
                );
            }
        }
    }

    /// Searching only the digit runs finds what searching the whole text finds: text made of
    /// digits (ASCII, full-width, Arabic-Indic), every separator the number-shaped patterns
    /// use, letters, CJK and the context the checks read (`v`, `/`, `=`, `:`).
    #[test]
    fn digit_runs_find_what_the_whole_text_search_finds() {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            "4111",
            " 1111",
            "-1111",
            "1",
            "23",
            "456",
            "7890",
            "192.168.",
            "8.8.8.8",
            "203.0.113.9",
            " ",
            "  ",
            ".",
            "-",
            "+",
            "+1 ",
            "+44 (0)",
            "(555) ",
            "555-123-4567",
            "(",
            ")",
            "x",
            "v",
            "/",
            "=",
            ":",
            "a",
            "Call ",
            "\n",
            "４",
            "٣",
            "½",
            "股",
            "é",
            "138 1234 5678",
            "+86 ",
            "11010519491231002X",
            "5500 0000 0000 0004",
            "4111111111111111",
            "1.2.3.4.5",
        ]);
        let det = det();
        proptest!(ProptestConfig::with_cases(3000), |(v in prop::collection::vec(piece, 0..30))| {
            let text: String = v.concat();
            prop_assert_eq!(det.find_in(&text, true), det.find_in(&text, false), "{:?}", text);
        });
    }
}
