//! `pii`: finds personal data with regex detectors and checksums — e-mail addresses, phone
//! numbers (international, North American and mainland China mobile), IPv4/IPv6 addresses,
//! mainland China resident ID numbers (checksum and date checked) and payment card numbers
//! (Luhn) — and masks them (`<EMAIL>`, `<PHONE>`, `<IP>`, `<ID_CN>`, `<CREDIT_CARD>`), drops
//! the document, or only counts. Documents with more than `max_matches` are dropped.

use std::net::Ipv6Addr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder, UInt32Builder};
use pipeline::document::{str_column, with_column, TEXT};
use pipeline::stage::parse_stage_table;
use pipeline::{Decisions, Stage, StageContext, StageEnv, StageError, StageKind, StageOutput};
use regex::Regex;
use serde::Deserialize;

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
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            kinds: PiiKind::ALL.to_vec(),
            policy: Policy::Mask,
            max_matches: 50,
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
        let bytes = text.as_bytes();
        let digitish = |i: usize| bytes.get(i).is_some_and(|b| b.is_ascii_digit());
        let mut found = Vec::new();
        for (kind, re) in &self.patterns {
            for m in re.find_iter(text) {
                let (s, e) = (m.start(), m.end());
                let isolated = (s == 0 || !digitish(s - 1)) && !digitish(e);
                let ok = match kind {
                    PiiKind::Email => true,
                    PiiKind::IdCn => isolated && valid_id_cn(m.as_str()),
                    PiiKind::CreditCard => isolated && valid_luhn(m.as_str()),
                    PiiKind::PhoneCn | PiiKind::Phone => {
                        isolated && m.as_str().chars().filter(char::is_ascii_digit).count() >= 8
                    }
                    PiiKind::Ipv6 => {
                        m.as_str().matches(':').count() >= 2
                            && m.as_str().parse::<Ipv6Addr>().is_ok()
                            && m.as_str().chars().any(|c| c.is_ascii_hexdigit())
                            && (s == 0 || !bytes[s - 1].is_ascii_alphanumeric())
                    }
                    PiiKind::Ipv4 => {
                        isolated
                            && valid_ipv4(m.as_str())
                            && !(s > 0 && bytes[s - 1] == b'.')
                            && !(bytes.get(e) == Some(&b'.') && digitish(e + 1))
                    }
                };
                if ok {
                    found.push(PiiMatch {
                        start: s,
                        end: e,
                        kind: *kind,
                    });
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
    Ok(StageKind::Stream(Box::new(PiiDetector::new(c)?)))
}

impl Stage for PiiDetector {
    fn name(&self) -> &str {
        "pii"
    }

    fn process(
        &self,
        batch: RecordBatch,
        ctx: &mut StageContext,
    ) -> Result<StageOutput, StageError> {
        let text = str_column(&batch, TEXT)?;
        let mut d = Decisions::with_capacity(text.len());
        let mut out = StringBuilder::with_capacity(text.len(), text.value_data().len());
        let mut counts = UInt32Builder::with_capacity(text.len());
        let mut per_kind = [0u64; 7];
        for i in 0..text.len() {
            let t = text.value(i);
            let found = self.find(t);
            for m in &found {
                per_kind[PiiKind::ALL
                    .iter()
                    .position(|k| *k == m.kind)
                    .expect("known kind")] += 1;
            }
            counts.append_value(found.len() as u32);
            if found.len() > self.c.max_matches {
                d.reject("pii.too_many", Some(&format!("{} matches", found.len())));
                out.append_value(t);
            } else if !found.is_empty() && self.c.policy == Policy::Drop {
                d.reject("pii.found", Some(found[0].kind.name()));
                out.append_value(t);
            } else {
                d.keep();
                if self.c.policy == Policy::Mask && !found.is_empty() {
                    out.append_value(Self::mask(t, &found));
                } else {
                    out.append_value(t);
                }
            }
        }
        for (k, n) in PiiKind::ALL.iter().zip(per_kind) {
            ctx.count(k.name(), n);
        }
        let idx = batch.schema().index_of(TEXT)?;
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        cols[idx] = Arc::new(out.finish());
        let batch = RecordBatch::try_new(batch.schema(), cols)?;
        let batch = with_column(&batch, "pii_matches", Arc::new(counts.finish()))?;
        Ok(d.finish(batch))
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
                 Server 192.168.1.20 and 2001:db8::8a2e:370:7334.";
        assert_eq!(
            kinds(t),
            vec![
                ("phone_cn", "13812345678".into()),
                ("email", "zhang.san@example.com.cn".into()),
                ("id_cn", "11010519491231002X".into()),
                ("phone", "+44 20 7946 0958".into()),
                ("phone", "(212) 555-0199".into()),
                ("credit_card", "4111-1111-1111-1111".into()),
                ("ipv4", "192.168.1.20".into()),
                ("ipv6", "2001:db8::8a2e:370:7334".into()),
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
}
