//! One accepted connection: its bytes (plaintext, or TLS once handshaken),
//! the slot it holds under `--max-connections`, and the deadline by which
//! it must have sent a complete first request head (HTTP/1.1) or the
//! HTTP/2 connection preface (`--header-read-timeout`). A client that
//! connects and then sends nothing, or trickles its first bytes, is closed
//! at the deadline instead of being held forever; later HTTP/1.1 request
//! heads are bounded by hyper's own header read timeout, set to the same.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::OwnedSemaphorePermit,
    time::{Instant, Sleep},
};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// What every HTTP/2 connection starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection as the request handlers see it, in each request's
/// extensions: its addresses, and the signal that it is closing because
/// it reached `--max-connection-age` (open watch streams end then, telling
/// the client where to resume).
#[derive(Debug, Clone)]
pub struct Connection {
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub closing: CancellationToken,
}

/// The bytes of a connection.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }
}

/// An accepted connection, ready to be served.
pub(crate) struct Conn {
    stream: Stream,
    /// Until the first request head is complete.
    head: Option<HeadDeadline>,
    /// Released when the connection is dropped.
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    pub(crate) fn new(stream: Stream, deadline: Instant, slot: OwnedSemaphorePermit) -> Self {
        Self {
            stream,
            head: Some(HeadDeadline {
                deadline,
                sleep: Box::pin(tokio::time::sleep_until(deadline)),
                scan: HeadScan::default(),
            }),
            _slot: slot,
        }
    }

    /// The connection's addresses.
    pub(crate) fn addresses(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let tcp = self.stream.tcp();
        (tcp.local_addr().ok(), tcp.peer_addr().ok())
    }
}

struct HeadDeadline {
    deadline: Instant,
    sleep: Pin<Box<Sleep>>,
    scan: HeadScan,
}

fn head_timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "no complete request head within the header read timeout",
    )
}

/// Where the first bytes of a connection stand: still the HTTP/2 preface,
/// or an HTTP/1.1 request head, complete at its empty line.
#[derive(Debug, Default)]
struct HeadScan {
    seen: usize,
    /// Every byte so far matches the HTTP/2 preface.
    not_preface: bool,
    /// The last bytes, newest lowest.
    tail: u32,
}

impl HeadScan {
    /// Takes the next bytes; true once a head (or the preface) is complete.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &byte in bytes {
            if !self.not_preface {
                if H2_PREFACE.get(self.seen) == Some(&byte) {
                    self.seen += 1;
                    if self.seen == H2_PREFACE.len() {
                        return true;
                    }
                    continue;
                }
                // The preface ends with "\r\n\r\n" too: only past it does
                // an empty line end an HTTP/1.1 head.
                self.not_preface = true;
                self.tail = H2_PREFACE[..self.seen]
                    .iter()
                    .fold(0, |tail, b| (tail << 8) | u32::from(*b));
            }
            self.seen += 1;
            self.tail = (self.tail << 8) | u32::from(byte);
            // "\n\n" or "\n\r\n": the end of a head, whatever line endings.
            if self.tail & 0xffff == 0x0a0a || self.tail & 0x00ff_ffff == 0x000a_0d0a {
                return true;
            }
        }
        false
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(head) = &this.head
            && Instant::now() >= head.deadline
        {
            return Poll::Ready(Err(head_timed_out()));
        }
        let before = buf.filled().len();
        let read = match &mut this.stream {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        };
        let Some(head) = &mut this.head else {
            return read;
        };
        match read {
            Poll::Ready(Ok(())) => {
                if head.scan.feed(&buf.filled()[before..]) {
                    this.head = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if head.sleep.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(head_timed_out()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(tcp) => tcp.is_write_vectored(),
            Stream::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete_after(chunks: &[&[u8]]) -> Option<usize> {
        let mut scan = HeadScan::default();
        chunks.iter().position(|chunk| scan.feed(chunk))
    }

    #[test]
    fn the_preface_completes_only_whole() {
        assert_eq!(complete_after(&[H2_PREFACE]), Some(0));
        // Its own empty line is not the end of an HTTP/1.1 head.
        assert_eq!(complete_after(&[&H2_PREFACE[..18]]), None);
        let (a, b) = H2_PREFACE.split_at(7);
        assert_eq!(complete_after(&[a, b]), Some(1));
        assert_eq!(complete_after(&[&H2_PREFACE[..23]]), None);
    }

    #[test]
    fn an_http1_head_completes_at_its_empty_line() {
        let head = b"GET /api/v3/sources/plex/ HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(complete_after(&[head]), Some(0));
        assert_eq!(complete_after(&[&head[..head.len() - 1]]), None);
        let bytes: Vec<&[u8]> = head.chunks(1).collect();
        assert_eq!(complete_after(&bytes), Some(head.len() - 1));
        assert_eq!(complete_after(&[b"GET / HTTP/1.1\nHost: x\n\n"]), Some(0));
        // A request that starts like the preface and then is not one.
        assert_eq!(complete_after(&[b"PRI * HTTP/1.1\r\n\r\n"]), Some(0));
        assert_eq!(complete_after(&[b"PRI * HTTP/2.0\r\n\r\nXX\r\n"]), None);
        assert_eq!(
            complete_after(&[b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"]),
            Some(0)
        );
    }
}
