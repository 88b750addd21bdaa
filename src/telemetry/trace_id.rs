//! The trace id of a call on its JSON log lines: the per-call span carries
//! a [`TraceId`] (the exported trace's, or the caller's `traceparent` one
//! when nothing is exported), and [`JsonWithTraceId`] writes it as the
//! top-level `trace_id` of every line logged within that span.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::{
    Registry,
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{Format, Json, Writer},
    },
    registry::LookupSpan,
};

/// A W3C trace id: 16 bytes, never all zero, shown as 32 lowercase hex
/// digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceId(u128);

impl TraceId {
    /// The trace id of a `traceparent` header value
    /// (`VERSION-TRACEID-PARENTID-FLAGS`, lowercase hex), or `None` when the
    /// value is malformed or its ids are all zero, as W3C Trace Context
    /// requires of a receiver.
    pub fn from_traceparent(value: &[u8]) -> Option<TraceId> {
        // 2 + 1 + 32 + 1 + 16 + 1 + 2 bytes; later versions may append
        // `-` and more.
        let head = value.get(..55)?;
        let version = &head[0..2];
        if !is_lower_hex(version) || version == b"ff" {
            return None;
        }
        match value.get(55) {
            None => {}
            Some(b'-') if version != b"00" => {}
            Some(_) => return None,
        }
        if head[2] != b'-' || head[35] != b'-' || head[52] != b'-' {
            return None;
        }
        let (trace, parent, flags) = (&head[3..35], &head[36..52], &head[53..55]);
        if !is_lower_hex(trace) || !is_lower_hex(parent) || !is_lower_hex(flags) {
            return None;
        }
        if parent.iter().all(|&b| b == b'0') {
            return None;
        }
        // ASCII hex, checked above.
        let trace = u128::from_str_radix(std::str::from_utf8(trace).ok()?, 16).ok()?;
        TraceId::new(trace)
    }

    /// `None` for the invalid (all-zero) id.
    pub fn new(id: u128) -> Option<TraceId> {
        (id != 0).then_some(TraceId(id))
    }
}

impl From<TraceId> for u128 {
    fn from(id: TraceId) -> u128 {
        id.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// Marks `span` (and so every span and line within it) with `id`. Does
/// nothing for a disabled span.
pub fn attach(span: &tracing::Span, id: TraceId) {
    span.with_subscriber(|(span_id, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<Registry>()
            && let Some(span) = registry.span(span_id)
        {
            span.extensions_mut().replace(id);
        }
    });
}

/// The JSON line format with `"trace_id"` first on every line logged
/// within a span marked by [`attach`]; other lines are unchanged.
pub struct JsonWithTraceId {
    inner: Format<Json>,
}

impl JsonWithTraceId {
    pub fn new(inner: Format<Json>) -> Self {
        Self { inner }
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithTraceId
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let trace_id = ctx.event_scope().and_then(|mut scope| {
            scope.find_map(|span| span.extensions().get::<TraceId>().copied())
        });
        let Some(trace_id) = trace_id else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) if !rest.starts_with('}') => {
                write!(writer, "{{\"trace_id\":\"{trace_id}\",{rest}")
            }
            _ => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn parse(value: &str) -> Option<String> {
        TraceId::from_traceparent(value.as_bytes()).map(|id| id.to_string())
    }

    #[test]
    fn a_valid_traceparent_gives_its_trace_id() {
        assert_eq!(
            parse(&format!("00-{TRACE}-00f067aa0ba902b7-01")).as_deref(),
            Some(TRACE)
        );
        assert_eq!(
            parse(&format!("00-{TRACE}-00f067aa0ba902b7-00")).as_deref(),
            Some(TRACE),
            "not sampled: still the caller's trace"
        );
        // A later version may append fields.
        assert_eq!(
            parse(&format!("01-{TRACE}-00f067aa0ba902b7-01-extra")).as_deref(),
            Some(TRACE)
        );
        assert_eq!(
            parse("00-00000000000000000000000000000001-0000000000000001-01").as_deref(),
            Some("00000000000000000000000000000001"),
            "leading zeros are kept"
        );
    }

    #[test]
    fn malformed_traceparents_give_none() {
        for value in [
            String::new(),
            "00".to_owned(),
            format!("00-{TRACE}-00f067aa0ba902b7"),
            format!("00-{TRACE}-00f067aa0ba902b7-01-extra"),
            format!("ff-{TRACE}-00f067aa0ba902b7-01"),
            format!("00-{}-00f067aa0ba902b7-01", TRACE.to_uppercase()),
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_owned(),
            format!("00-{TRACE}-0000000000000000-01"),
            format!("00_{TRACE}-00f067aa0ba902b7-01"),
            format!("00-{TRACE}-00f067aa0ba902b7-0g"),
            format!("00-+{}-00f067aa0ba902b7-01", &TRACE[1..]),
        ] {
            assert_eq!(parse(&value), None, "{value:?}");
        }
    }
}
