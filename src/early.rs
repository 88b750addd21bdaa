//! Answers that go out before the request's body is read: a caller who is
//! refused (not authenticated, may not write, too many requests in flight)
//! gets its answer from the headers alone.
//!
//! HTTP/2 then resets the request's stream if the body has not all
//! arrived, and hyper closes a connection after 1,024 such resets of its
//! own (its guard against clients that provoke resets), which would cut
//! off every other call on the connection. So the rest of a small body is
//! read off on a task of its own, within [`DRAIN_BYTES`] and
//! [`DRAIN_WAIT`]: the body of an ordinary unary call is already there and
//! ends its stream cleanly; a large or stalled one is given up on and its
//! stream reset, which costs only that client's connection.

use std::time::Duration;

use http_body::Body;
use http_body_util::BodyExt;

/// Most bytes read off a refused request's body.
const DRAIN_BYTES: usize = 16 * 1024;
/// Longest wait for the rest of a refused request's body.
const DRAIN_WAIT: Duration = Duration::from_millis(250);

/// Reads the rest of `body` on a task of its own, then drops it.
pub fn drain_later<B>(body: B)
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
{
    tokio::spawn(async move {
        let mut body = body;
        let mut read = 0usize;
        let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
        while read <= DRAIN_BYTES {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        read += bytes::Buf::remaining(data);
                    }
                }
                // The end, an error, or too long a wait.
                _ => return,
            }
        }
    });
}
