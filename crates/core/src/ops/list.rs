//! Listing sources: authentik's filters, search, ordering and pages, checked
//! all at once, then one page through the read cache.

use std::sync::Arc;

use uuid::Uuid;

use super::{Operations, ServiceError, Visible};
use crate::cache::CachedPage;
use domain::{
    GroupMatchingMode, PolicyEngineMode, UserMatchingMode, Violations,
    access::{Caller, Permission},
    listing::{self, CursorValue, PageToken, SortKey},
};
use store::{self, SourceFilter};

/// The arguments of a list call as authentik's query parameters carry
/// them: text as sent, nothing checked yet. Choice filters hold authentik's
/// value (`any`, `email_link`, ...) or, for a value a transport could not
/// name, its raw text, which validation then reports.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// authentik's `pbm_uuid` filter: the source with this pk.
    pub pbm_uuid: Option<String>,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub enabled: Option<bool>,
    pub authentication_flow: Option<String>,
    pub enrollment_flow: Option<String>,
    pub policy_engine_mode: Option<String>,
    pub user_matching_mode: Option<String>,
    pub client_id: Option<String>,
    pub allow_friends: Option<bool>,
    pub group_matching_mode: Option<String>,
    pub search: String,
    pub ordering: String,
    /// 0 means the default.
    pub page_size: i32,
    /// Empty for the first page.
    pub page_token: String,
    /// A page number (1-based) instead of a page token: the page that
    /// starts `(page - 1) * page_size` rows in, as authentik's REST
    /// pagination counts pages.
    pub page: Option<u64>,
}

/// One page of a list, as this caller may see it.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub sources: Vec<Visible>,
    /// Empty on the last page.
    pub next_page_token: String,
    /// Sources matching the arguments on all pages.
    pub total: u64,
}

/// The checked arguments of a list call.
#[derive(Debug, Clone)]
struct ListArgs {
    filter: SourceFilter,
    /// The `pbm_uuid` filter, applied with visibility.
    pk: Option<Uuid>,
    ordering: Vec<SortKey>,
    page_size: u64,
    /// Binds page tokens to these arguments.
    fingerprint: String,
}

impl Operations {
    pub async fn list(
        &self,
        caller: &Caller,
        params: &ListParams,
    ) -> Result<ListPage, ServiceError> {
        // Whom the caller may see. Arguments are checked before this is
        // enforced (as authentik's filters are), but whether a flow exists
        // is asked only for a caller who may view something: the answer
        // would tell anyone which flows exist.
        let visible = if caller.may_globally(Permission::View) {
            Ok(None)
        } else {
            let objects = caller.objects_with(Permission::View);
            if objects.is_empty() {
                Err(ServiceError::PermissionDenied)
            } else {
                Ok(Some(objects))
            }
        };
        // Flow filters must name flows that exist, as authentik's
        // `ModelChoiceFilter` requires.
        let missing = match visible {
            Ok(_) => {
                let flow_ids: Vec<Uuid> = [&params.authentication_flow, &params.enrollment_flow]
                    .into_iter()
                    .filter_map(|raw| raw.as_deref().and_then(flow_id))
                    .collect();
                store::flows::missing(&self.db, &flow_ids).await?
            }
            Err(_) => Vec::new(),
        };
        let mut args = list_args(params, &missing).map_err(ServiceError::InvalidArgument)?;
        let visible = visible?;
        let after = match (params.page, params.page_token.as_str()) {
            (Some(_), _) | (None, "") => None,
            (None, token) => Some(
                PageToken::decode(
                    token,
                    self.page_tokens()?,
                    &args.fingerprint,
                    &args.ordering,
                )
                .map_err(ServiceError::InvalidArgument)?
                .after,
            ),
        };
        args.filter.visible = visible;
        if let Some(pk) = args.pk {
            args.filter.visible = Some(match args.filter.visible.take() {
                None => vec![pk],
                Some(visible) => visible.into_iter().filter(|id| *id == pk).collect(),
            });
        }
        let start = match params.page {
            Some(page) => Start::Offset(page.saturating_sub(1).saturating_mul(args.page_size)),
            None => Start::After(&params.page_token, after.as_deref()),
        };
        let page = self.page(&args, start).await?;
        let next_page_token = match (page.more, page.sources.last()) {
            (true, Some(last)) => PageToken {
                fingerprint: args.fingerprint.clone(),
                after: store::cursor_of(last, &args.ordering),
            }
            .encode(self.page_tokens()?),
            _ => String::new(),
        };
        Ok(ListPage {
            sources: self.reveal_all(caller, page.sources.clone()).await,
            next_page_token,
            total: page.total,
        })
    }

    /// A list page, through the read cache (keyed by everything that
    /// decides its rows, visibility included).
    async fn page(
        &self,
        args: &ListArgs,
        start: Start<'_>,
    ) -> Result<Arc<CachedPage>, ServiceError> {
        // Page tokens are URL-safe base64, so `#` marks an offset.
        let position = match start {
            Start::After(token, _) => token.to_owned(),
            Start::Offset(offset) => format!("#{offset}"),
        };
        let key = format!(
            "{}|{}|{}|{:?}",
            args.fingerprint, args.page_size, position, args.filter.visible
        );
        let cache = &self.cache;
        if let Some(hit) = cache.page(&key) {
            return Ok(hit);
        }
        let ticket = cache.ticket();
        let page = match start {
            Start::After(_, after) => {
                store::list_sources(
                    &self.db,
                    &args.filter,
                    &args.ordering,
                    after,
                    args.page_size,
                )
                .await?
            }
            Start::Offset(offset) => {
                store::list_sources_at(
                    &self.db,
                    &args.filter,
                    &args.ordering,
                    offset,
                    args.page_size,
                )
                .await?
            }
        };
        let page = Arc::new(CachedPage {
            sources: page.sources.into_iter().map(Arc::new).collect(),
            total: page.total,
            more: page.more,
        });
        cache.put_page(ticket, key, page.clone());
        Ok(page)
    }
}

/// Where a page starts: after a page token's cursor (none: the first
/// page), or a number of rows in.
#[derive(Clone, Copy)]
enum Start<'a> {
    After(&'a str, Option<&'a [CursorValue]>),
    Offset(u64),
}

/// Checks every list argument, reporting all problems at once; `missing`
/// are the well-formed flow ids that name no flow.
fn list_args(params: &ListParams, missing: &[Uuid]) -> Result<ListArgs, Violations> {
    let mut v = Violations::new();
    let pk = params
        .pbm_uuid
        .as_deref()
        .and_then(|raw| match Uuid::parse_str(raw.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                v.add("pbm_uuid", "invalid", INVALID_UUID);
                None
            }
        });
    for (field, value) in [
        ("name", &params.name),
        ("slug", &params.slug),
        ("client_id", &params.client_id),
    ] {
        if value.as_deref().is_some_and(|text| text.contains('\0')) {
            v.add(field, "null_characters_not_allowed", NULL_CHARACTERS);
        }
    }
    let page_size = listing::page_size(params.page_size)
        .map_err(|e| v.extend(e))
        .ok();
    let ordering = listing::parse_ordering(&params.ordering)
        .map_err(|e| v.extend(e))
        .ok();
    let search = listing::search_terms(&params.search)
        .map_err(|e| v.extend(e))
        .ok();
    let authentication_flow = flow_filter(
        &mut v,
        "authentication_flow",
        params.authentication_flow.as_deref(),
        missing,
    );
    let enrollment_flow = flow_filter(
        &mut v,
        "enrollment_flow",
        params.enrollment_flow.as_deref(),
        missing,
    );
    let policy: Option<PolicyEngineMode> = choice_filter(
        &mut v,
        "policy_engine_mode",
        params.policy_engine_mode.as_deref(),
    );
    let user: Option<UserMatchingMode> = choice_filter(
        &mut v,
        "user_matching_mode",
        params.user_matching_mode.as_deref(),
    );
    let group: Option<GroupMatchingMode> = choice_filter(
        &mut v,
        "group_matching_mode",
        params.group_matching_mode.as_deref(),
    );
    // The pk filter joins the fingerprint only when set, so tokens issued
    // before it existed stay valid.
    let pk_part: Option<String> = pk.map(|id| format!("pbm_uuid={id}"));
    let parts = [
        format!("{:?}", params.name),
        format!("{:?}", params.slug),
        format!("{:?}", params.enabled),
        format!("{authentication_flow:?}"),
        format!("{enrollment_flow:?}"),
        format!("{policy:?}"),
        format!("{user:?}"),
        format!("{:?}", params.client_id),
        format!("{:?}", params.allow_friends),
        format!("{group:?}"),
        listing::search_key(search.as_deref().unwrap_or_default()),
        format!("{ordering:?}"),
    ];
    let fingerprint = listing::fingerprint(
        &pk_part
            .iter()
            .chain(&parts)
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let (Some(page_size), Some(ordering), Some(search)) = (page_size, ordering, search) else {
        return Err(v);
    };
    let filter = SourceFilter {
        name: params.name.clone(),
        slug: params.slug.clone(),
        enabled: params.enabled,
        authentication_flow,
        enrollment_flow,
        policy_engine_mode: policy,
        user_matching_mode: user,
        client_id: params.client_id.clone(),
        allow_friends: params.allow_friends,
        group_matching_mode: group,
        search,
        visible: None,
    };
    v.into_result(ListArgs {
        filter,
        pk,
        ordering,
        page_size,
        fingerprint,
    })
}

/// Django's message for text with a NUL character, which no column holds.
const NULL_CHARACTERS: &str = "Null characters are not allowed.";

/// Django's `UUIDField` (form) message for text that is no UUID.
const INVALID_UUID: &str = "Enter a valid UUID.";

/// Django's `ModelChoiceField` message for a value that names no row,
/// malformed or not.
const INVALID_FLOW_CHOICE: &str =
    "Select a valid choice. That choice is not one of the available choices.";

/// A flow filter's id, when it is one (any form Python's `uuid.UUID`
/// reads: hyphenated, plain, braced, `urn:uuid:`; any case).
fn flow_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

/// A flow filter: an existing flow's id, or one violation, the same for a
/// malformed id and one no flow has (as authentik's filter answers both).
fn flow_filter(
    v: &mut Violations,
    field: &str,
    value: Option<&str>,
    missing: &[Uuid],
) -> Option<Uuid> {
    match flow_id(value?) {
        Some(id) if !missing.contains(&id) => Some(id),
        _ => {
            v.add(field, "invalid_choice", INVALID_FLOW_CHOICE);
            None
        }
    }
}

fn choice_filter<T: std::str::FromStr>(
    v: &mut Violations,
    field: &str,
    value: Option<&str>,
) -> Option<T> {
    let raw = value?;
    match raw.parse() {
        Ok(choice) => Some(choice),
        Err(_) => {
            v.add(
                field,
                "invalid_choice",
                format!("Select a valid choice. {raw} is not one of the available choices."),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_arguments_report_every_problem() {
        let params = ListParams {
            page_size: -1,
            ordering: "nope".into(),
            authentication_flow: Some("x".into()),
            policy_engine_mode: Some("9".into()),
            ..Default::default()
        };
        let v = list_args(&params, &[]).unwrap_err();
        let fields: Vec<_> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "page_size",
                "ordering",
                "authentication_flow",
                "policy_engine_mode"
            ]
        );
    }

    #[test]
    fn unknown_and_malformed_flows_are_one_invalid_choice() {
        let known = Uuid::new_v4();
        let unknown = Uuid::new_v4();
        let params = |auth: &str, enroll: &str| ListParams {
            authentication_flow: Some(auth.to_owned()),
            enrollment_flow: Some(enroll.to_owned()),
            ..Default::default()
        };
        let args = list_args(
            &params(&known.to_string(), &known.simple().to_string()),
            &[],
        )
        .expect("known flows");
        assert_eq!(args.filter.authentication_flow, Some(known));
        assert_eq!(args.filter.enrollment_flow, Some(known));
        for (auth, enroll) in [
            (unknown.to_string(), "not-a-uuid".to_owned()),
            (String::new(), unknown.to_string().to_uppercase()),
        ] {
            let v = list_args(&params(&auth, &enroll), &[unknown]).unwrap_err();
            let got: Vec<_> = v
                .iter()
                .map(|x| (x.field.as_str(), x.code, x.message.as_str()))
                .collect();
            assert_eq!(
                got,
                [
                    ("authentication_flow", "invalid_choice", INVALID_FLOW_CHOICE),
                    ("enrollment_flow", "invalid_choice", INVALID_FLOW_CHOICE),
                ]
            );
        }
    }

    #[test]
    fn text_filters_refuse_null_characters() {
        let params = ListParams {
            name: Some("a\0".into()),
            client_id: Some("\0".into()),
            search: "x\0".into(),
            ..Default::default()
        };
        let v = list_args(&params, &[]).unwrap_err();
        let got: Vec<_> = v.iter().map(|x| (x.field.as_str(), x.code)).collect();
        assert_eq!(
            got,
            [
                ("name", "null_characters_not_allowed"),
                ("client_id", "null_characters_not_allowed"),
                ("search", "null_characters_not_allowed"),
            ]
        );
    }
}
