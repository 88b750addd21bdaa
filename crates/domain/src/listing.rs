//! Listing rules: ordering as authentik's `?ordering=`, page sizes, and the
//! opaque page token that carries the keyset cursor.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Violations;

pub const DEFAULT_PAGE_SIZE: u64 = 100;
pub const MAX_PAGE_SIZE: u64 = 1000;
/// Most search terms one list call takes: each becomes a condition of the
/// query, so the count is bounded like any other client input.
pub const MAX_SEARCH_TERMS: usize = 20;

/// A column a list can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    Pk,
    Name,
    Slug,
    Enabled,
    PolicyEngineMode,
    UserMatchingMode,
    UserPathTemplate,
    GroupMatchingMode,
    ClientId,
    AllowFriends,
}

impl SortField {
    const ALL: [SortField; 10] = [
        SortField::Pk,
        SortField::Name,
        SortField::Slug,
        SortField::Enabled,
        SortField::PolicyEngineMode,
        SortField::UserMatchingMode,
        SortField::UserPathTemplate,
        SortField::GroupMatchingMode,
        SortField::ClientId,
        SortField::AllowFriends,
    ];

    /// The serializer (and column) name.
    pub fn name(self) -> &'static str {
        match self {
            SortField::Pk => "pk",
            SortField::Name => "name",
            SortField::Slug => "slug",
            SortField::Enabled => "enabled",
            SortField::PolicyEngineMode => "policy_engine_mode",
            SortField::UserMatchingMode => "user_matching_mode",
            SortField::UserPathTemplate => "user_path_template",
            SortField::GroupMatchingMode => "group_matching_mode",
            SortField::ClientId => "client_id",
            SortField::AllowFriends => "allow_friends",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: SortField,
    pub descending: bool,
}

/// Parses `name,-slug`. Empty means authentik's default, `name`. The
/// primary key is always appended as the last tie-breaker, so the order
/// is total and keyset pages never overlap.
pub fn parse_ordering(value: &str) -> Result<Vec<SortKey>, Violations> {
    let mut keys = Vec::new();
    let mut unknown = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (descending, name) = match part.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, part),
        };
        match SortField::ALL.iter().find(|f| f.name() == name) {
            Some(field) if !keys.iter().any(|k: &SortKey| k.field == *field) => {
                keys.push(SortKey {
                    field: *field,
                    descending,
                })
            }
            Some(_) => {}
            None => unknown.push(name.to_owned()),
        }
    }
    if !unknown.is_empty() {
        let allowed: Vec<&str> = SortField::ALL.iter().map(|f| f.name()).collect();
        return Err(Violations::single(
            "ordering",
            "invalid",
            format!(
                "Unknown ordering field(s): {}. Allowed: {}.",
                unknown.join(", "),
                allowed.join(", ")
            ),
        ));
    }
    if keys.is_empty() {
        keys.push(SortKey {
            field: SortField::Name,
            descending: false,
        });
    }
    if !keys.iter().any(|k| k.field == SortField::Pk) {
        keys.push(SortKey {
            field: SortField::Pk,
            descending: false,
        });
    }
    Ok(keys)
}

/// `page_size` as sent: 0 means the default; above the cap is capped.
pub fn page_size(requested: i32) -> Result<u64, Violations> {
    match requested {
        n if n < 0 => Err(Violations::single(
            "page_size",
            "min_value",
            "Ensure this value is greater than or equal to 0.",
        )),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as u64).min(MAX_PAGE_SIZE)),
    }
}

/// A value of one sort key in the cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CursorValue {
    Bool(bool),
    Text(String),
}

/// Where the next page starts: the sort key values of the last row sent,
/// bound to the request's filters by a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageToken {
    #[serde(rename = "f")]
    pub fingerprint: String,
    #[serde(rename = "a")]
    pub after: Vec<CursorValue>,
}

const BAD_TOKEN: &str = "Invalid page token.";

/// The key page tokens are sealed with. One per deployment (kept in the
/// database), so any replica accepts any other's tokens, and a token a
/// client edited or made up is refused before its cursor is read.
#[derive(Clone)]
pub struct PageTokenKey(Hmac<Sha256>);

impl PageTokenKey {
    pub fn new(secret: &[u8]) -> Self {
        // HMAC takes keys of any length.
        Self(Hmac::new_from_slice(secret).expect("HMAC accepts any key length"))
    }

    /// `<payload>.<seal>` for any payload text; public so property tests
    /// and fuzzing can reach the checks behind the seal.
    pub fn sealed(&self, payload: &str) -> String {
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(self.seal(payload)))
    }

    fn seal(&self, payload: &str) -> Vec<u8> {
        let mut mac = self.0.clone();
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Constant-time comparison with the expected seal.
    fn verify(&self, payload: &str, seal: &[u8]) -> bool {
        let mut mac = self.0.clone();
        mac.update(payload.as_bytes());
        mac.verify_slice(seal).is_ok()
    }
}

impl fmt::Debug for PageTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PageTokenKey([REDACTED])")
    }
}

impl PageToken {
    /// `<payload>.<seal>`: base64url JSON, then its HMAC-SHA256 under `key`.
    pub fn encode(&self, key: &PageTokenKey) -> String {
        // Serializing plain strings and bools cannot fail.
        key.sealed(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default()))
    }

    /// Decodes a token: first its seal (a token this deployment did not
    /// issue is refused whatever it holds), then that it was issued for the
    /// same filters and that every cursor value fits its sort key.
    pub fn decode(
        token: &str,
        key: &PageTokenKey,
        fingerprint: &str,
        ordering: &[SortKey],
    ) -> Result<PageToken, Violations> {
        let bad = |message: &str| Violations::single("page_token", "invalid", message);
        let (payload, seal) = token.split_once('.').ok_or_else(|| bad(BAD_TOKEN))?;
        let seal = URL_SAFE_NO_PAD.decode(seal).map_err(|_| bad(BAD_TOKEN))?;
        if !key.verify(payload, &seal) {
            return Err(bad(BAD_TOKEN));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| bad(BAD_TOKEN))?;
        let parsed: PageToken = serde_json::from_slice(&bytes).map_err(|_| bad(BAD_TOKEN))?;
        if parsed.fingerprint != fingerprint {
            return Err(bad(
                "The page token was issued for other filter, search or ordering arguments.",
            ));
        }
        let fits = parsed.after.len() == ordering.len()
            && ordering
                .iter()
                .zip(&parsed.after)
                .all(|(key, value)| match (key.field, value) {
                    (SortField::Enabled | SortField::AllowFriends, CursorValue::Bool(_)) => true,
                    (SortField::Enabled | SortField::AllowFriends, _)
                    | (_, CursorValue::Bool(_)) => false,
                    (SortField::Pk, CursorValue::Text(text)) => uuid::Uuid::parse_str(text).is_ok(),
                    (_, CursorValue::Text(_)) => true,
                });
        if !fits {
            return Err(bad(BAD_TOKEN));
        }
        Ok(parsed)
    }
}

/// A short digest of whatever defines a result set.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..12])
}

/// Search terms of authentik's `?search=`, in lower case; every one must
/// match. Split as Django REST framework's `SearchFilter` does (3.15 and
/// later, `search_smart_split` in rest_framework/filters.py): at whitespace
/// outside quotes (Django's `smart_split`), a quoted phrase kept whole and
/// unquoted, other tokens split again at commas. At most
/// [`MAX_SEARCH_TERMS`]; null characters are refused, as the `CharField`
/// DRF reads the parameter with refuses them.
pub fn search_terms(search: &str) -> Result<Vec<String>, Violations> {
    if search.contains('\0') {
        return Err(Violations::single(
            "search",
            "null_characters_not_allowed",
            "Null characters are not allowed.",
        ));
    }
    let mut terms = Vec::new();
    for token in SmartSplit::new(search) {
        let token = token.trim_matches(',');
        let quoted = match (token.chars().next(), token.chars().last()) {
            (Some(first @ ('"' | '\'')), Some(last)) => (first == last).then_some(first),
            _ => None,
        };
        match quoted {
            Some(quote) => terms.push(unquote(token, quote)),
            None => terms.extend(
                token
                    .split(',')
                    .filter(|part| !part.is_empty())
                    .map(|part| part.trim_matches(is_python_space).to_owned()),
            ),
        }
        if terms.len() > MAX_SEARCH_TERMS {
            return Err(Violations::single(
                "search",
                "max_length",
                format!("Ensure this field has no more than {MAX_SEARCH_TERMS} search terms."),
            ));
        }
    }
    Ok(terms.iter().map(|t| t.to_lowercase()).collect())
}

/// The search terms as one text for a fingerprint, telling apart every
/// two lists of terms (`"plex home"` is not `plex home`). Terms without
/// whitespace are joined by spaces, as page tokens issued before quoted
/// phrases were read have it; any other list is written out in full
/// behind a NUL, which no term holds.
pub fn search_key(terms: &[String]) -> String {
    if terms
        .iter()
        .all(|t| !t.is_empty() && !t.contains(is_python_space))
    {
        terms.join(" ")
    } else {
        format!("\0{terms:?}")
    }
}

/// Whitespace as Python's `str.isspace` (and so `\s` and `str.strip()`)
/// knows it: Unicode's, plus the information separators U+001C to U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn is_quote(c: char) -> bool {
    c == '"' || c == '\''
}

/// Django's `unescape_string_literal`: the quotes removed, then `\"` (or
/// `\'`) and `\\` unescaped. A lone quote character gives "".
fn unquote(token: &str, quote: char) -> String {
    let inner = token
        .strip_prefix(quote)
        .and_then(|rest| rest.strip_suffix(quote))
        .unwrap_or_default();
    inner
        .replace(&format!("\\{quote}"), &quote.to_string())
        .replace("\\\\", "\\")
}

/// Django's `smart_split` (django/utils/text.py): the tokens its pattern
/// finds, each either a run of non-space text holding complete quoted
/// strings (which may hold whitespace and backslash escapes), or else any
/// run of non-space characters.
struct SmartSplit<'a> {
    text: &'a str,
    /// Byte offset of the next character to read.
    at: usize,
}

impl<'a> SmartSplit<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    /// Byte offset after the non-space, non-quote run from `from`.
    fn plain_run(&self, from: usize) -> usize {
        self.text[from..]
            .char_indices()
            .find(|&(_, c)| is_python_space(c) || is_quote(c))
            .map_or(self.text.len(), |(i, _)| from + i)
    }

    /// Byte offset after the quoted string opening at `open`, if it closes:
    /// a backslash escapes any character but a line feed.
    fn closing(&self, open: usize) -> Option<usize> {
        let mut chars = self.text[open..].char_indices();
        let (_, quote) = chars.next()?;
        while let Some((i, c)) = chars.next() {
            if c == quote {
                return Some(open + i + c.len_utf8());
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, '\n')) | None => return None,
                    Some(_) => {}
                }
            }
        }
        None
    }

    /// The end of the first alternative of the pattern at `start`: plain
    /// text, then as many (quoted string, plain text) pairs as there are,
    /// at least one.
    fn quoted_token_end(&self, start: usize) -> Option<usize> {
        let mut at = self.plain_run(start);
        let mut end = None;
        while self.text[at..].starts_with(is_quote) {
            let Some(after) = self.closing(at) else { break };
            at = self.plain_run(after);
            end = Some(at);
        }
        end
    }
}

impl<'a> Iterator for SmartSplit<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = &self.text[self.at..];
        let start = self.at + rest.find(|c: char| !is_python_space(c))?;
        let end = self.quoted_token_end(start).unwrap_or_else(|| {
            self.text[start..]
                .find(is_python_space)
                .map_or(self.text.len(), |i| start + i)
        });
        self.at = end;
        Some(&self.text[start..end])
    }
}

#[cfg(test)]
mod tests;
