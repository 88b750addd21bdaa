//! The list route's query parameters, read as authentik's viewset reads
//! them (django-filter's `filterset_fields`, DRF's `SearchFilter`,
//! `OrderingFilter` and `PageNumberPagination`): the last value of a
//! repeated parameter counts, an empty filter filters nothing, a boolean
//! that is none of `true`/`false`/`1`/`0` is ignored, ordering terms the
//! service cannot sort by are dropped, and a page size that is not a
//! positive integer is the default.

use utoipa::IntoParams;

use crate::{
    domain::listing::{self, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
    ops::ListParams,
};

/// The query parameters of `GET /api/v3/sources/plex/`, as sent.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(value_type = Option<bool>)]
    allow_friends: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    authentication_flow: Option<String>,
    client_id: Option<String>,
    #[param(value_type = Option<bool>)]
    enabled: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    enrollment_flow: Option<String>,
    /// How the source determines if an existing group should be used or a new group created.
    #[param(value_type = Option<super::openapi::GroupMatchingModeEnum>)]
    group_matching_mode: Option<String>,
    name: Option<String>,
    /// Which field to use when ordering the results.
    ordering: Option<String>,
    /// A page number within the paginated result set.
    #[param(value_type = Option<i64>)]
    page: Option<String>,
    /// Number of results to return per page.
    #[param(value_type = Option<i64>)]
    page_size: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pbm_uuid: Option<String>,
    #[param(value_type = Option<super::openapi::PolicyEngineMode>)]
    policy_engine_mode: Option<String>,
    /// A search term.
    search: Option<String>,
    slug: Option<String>,
    /// How the source determines if an existing user should be authenticated or a new user enrolled.
    #[param(value_type = Option<super::openapi::UserMatchingModeEnum>)]
    user_matching_mode: Option<String>,
}

/// Which page a list call asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageNumber {
    Number(u64),
    /// `page=last`, as Django REST framework allows.
    Last,
    /// Not a positive integer: `Invalid page.` (after the filters are
    /// checked, as DRF paginates after filtering).
    Invalid,
}

impl ListQuery {
    /// Reads `a=1&b=2` (form encoding: `+` is a space); unknown parameters
    /// are ignored.
    pub fn parse(raw: &str) -> Self {
        let mut q = Self::default();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let slot = match key.as_ref() {
                "allow_friends" => &mut q.allow_friends,
                "authentication_flow" => &mut q.authentication_flow,
                "client_id" => &mut q.client_id,
                "enabled" => &mut q.enabled,
                "enrollment_flow" => &mut q.enrollment_flow,
                "group_matching_mode" => &mut q.group_matching_mode,
                "name" => &mut q.name,
                "ordering" => &mut q.ordering,
                "page" => &mut q.page,
                "page_size" => &mut q.page_size,
                "pbm_uuid" => &mut q.pbm_uuid,
                "policy_engine_mode" => &mut q.policy_engine_mode,
                "search" => &mut q.search,
                "slug" => &mut q.slug,
                "user_matching_mode" => &mut q.user_matching_mode,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        q
    }

    /// The page size: a positive integer, at most [`MAX_PAGE_SIZE`]; else
    /// the default.
    pub fn page_size(&self) -> u64 {
        self.page_size
            .as_deref()
            .and_then(python_int)
            .filter(|n| *n > 0)
            .map_or(DEFAULT_PAGE_SIZE, |n| {
                u64::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE)
            })
    }

    pub fn page(&self) -> PageNumber {
        match self.page.as_deref() {
            None | Some("") => PageNumber::Number(1),
            Some("last") => PageNumber::Last,
            Some(raw) => match python_int(raw) {
                Some(n) if n >= 1 => {
                    u64::try_from(n).map_or(PageNumber::Invalid, PageNumber::Number)
                }
                _ => PageNumber::Invalid,
            },
        }
    }

    /// The operation's arguments for page `page`.
    pub fn params(&self, page: u64) -> ListParams {
        let page_size = self.page_size();
        ListParams {
            pbm_uuid: filter(&self.pbm_uuid),
            name: filter(&self.name),
            slug: filter(&self.slug),
            enabled: self.enabled.as_deref().and_then(boolean),
            authentication_flow: filter(&self.authentication_flow),
            enrollment_flow: filter(&self.enrollment_flow),
            policy_engine_mode: filter(&self.policy_engine_mode),
            user_matching_mode: filter(&self.user_matching_mode),
            client_id: filter(&self.client_id),
            allow_friends: self.allow_friends.as_deref().and_then(boolean),
            group_matching_mode: filter(&self.group_matching_mode),
            search: self.search.clone().unwrap_or_default(),
            ordering: ordering(self.ordering.as_deref().unwrap_or_default()),
            page_size: i32::try_from(page_size).unwrap_or(i32::MAX),
            page_token: String::new(),
            page: Some(page),
        }
    }
}

/// A filter as django-filter applies it: an empty value filters nothing.
fn filter(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.is_empty())
}

/// django-filter's `BooleanWidget`: anything else is no filter.
fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// DRF's `OrderingFilter` drops the terms it cannot order by; here those
/// the service cannot sort by (the others keep their order).
fn ordering(value: &str) -> String {
    value
        .split(',')
        .map(str::trim)
        .filter(|term| !term.is_empty() && listing::parse_ordering(term).is_ok())
        .collect::<Vec<_>>()
        .join(",")
}

/// Python's `int(text)` for ASCII input: surrounding whitespace, a sign,
/// digits with single underscores between them.
fn python_int(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    // Beyond i128 is beyond any page: saturate.
    let value = digits
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0i128, |acc, b| {
            acc.saturating_mul(10).saturating_add(i128::from(b - b'0'))
        });
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_read_as_authentik_reads_them() {
        let q = ListQuery::parse(
            "name=a&name=Plex+Home&slug=&enabled=TRUE&allow_friends=maybe&ordering=-slug,nope,%20name,-managed&search=a%2Cb&x=1",
        );
        let p = q.params(1);
        assert_eq!(p.name.as_deref(), Some("Plex Home"));
        assert_eq!(p.slug, None);
        assert_eq!(p.enabled, Some(true));
        assert_eq!(p.allow_friends, None);
        assert_eq!(p.ordering, "-slug,name");
        assert_eq!(p.search, "a,b");
        assert_eq!(p.page, Some(1));
        assert_eq!(p.page_size, 100);
    }

    #[test]
    fn page_numbers_and_sizes_follow_django() {
        let page = |raw: &str| ListQuery::parse(&format!("page={raw}")).page();
        assert_eq!(page("2"), PageNumber::Number(2));
        assert_eq!(page(" +3 "), PageNumber::Number(3));
        assert_eq!(page("1_0"), PageNumber::Number(10));
        assert_eq!(page("last"), PageNumber::Last);
        assert_eq!(ListQuery::parse("").page(), PageNumber::Number(1));
        for bad in ["0", "-1", "1.0", "x", "1__0", "_1"] {
            assert_eq!(page(bad), PageNumber::Invalid, "{bad}");
        }
        let size = |raw: &str| ListQuery::parse(&format!("page_size={raw}")).page_size();
        assert_eq!(size("5"), 5);
        assert_eq!(size("0"), DEFAULT_PAGE_SIZE);
        assert_eq!(size("-5"), DEFAULT_PAGE_SIZE);
        assert_eq!(size("abc"), DEFAULT_PAGE_SIZE);
        assert_eq!(size("5000"), MAX_PAGE_SIZE);
        assert_eq!(
            size("99999999999999999999999999999999999999999"),
            MAX_PAGE_SIZE
        );
    }
}
