//! A TCP proxy the test can cut and restore, standing in for a database
//! server that goes away and comes back on the same address, or slow it
//! down, standing in for a database whose statements take seconds.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use plex_source_service::app::ServerSettings;

use crate::helpers::{Backend, TestApp, TestDb, admin_url, spawn_app_on, test_settings};

pub struct Proxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Milliseconds each chunk from the database waits before it is passed on.
    delay_ms: Arc<AtomicU64>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let proxy = Proxy {
            addr,
            target,
            tasks: Arc::default(),
            delay_ms: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let target = self.target;
        let delay_ms = self.delay_ms.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let delay_ms = delay_ms.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        pipe(inbound, outbound, delay_ms).await;
                    }
                });
                if let Ok(mut list) = tasks.lock() {
                    list.push(conn);
                }
            }
        });
        self.tasks.lock().expect("tasks").push(accept);
    }

    /// Stops listening and drops every open connection.
    pub fn cut(&self) {
        for task in self.tasks.lock().expect("tasks").drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same address.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind proxy");
        self.serve(listener);
    }

    /// Holds every chunk the database sends for `delay` before passing it
    /// on (zero: no delay), on open connections and new ones alike.
    pub fn delay_replies(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Relaxed);
    }
}

/// Copies both ways until either side closes; replies wait `delay_ms`.
async fn pipe(inbound: TcpStream, outbound: TcpStream, delay_ms: Arc<AtomicU64>) {
    let (mut client_read, mut client_write) = inbound.into_split();
    let (mut server_read, mut server_write) = outbound.into_split();
    let requests = tokio::io::copy(&mut client_read, &mut server_write);
    let replies = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = server_read.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            let delay = delay_ms.load(Ordering::Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            client_write.write_all(&buf[..n]).await?;
        }
    };
    tokio::select! {
        _ = requests => {}
        _ = replies => {}
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// A server on a fresh, migrated PostgreSQL database that it reaches
/// through a proxy the test can cut; the test's own connection goes
/// direct. `None` when PostgreSQL is unavailable locally (never under CI).
pub async fn app_behind_proxy() -> Option<(TestApp, Proxy)> {
    app_behind_proxy_with(test_settings()).await
}

/// [`app_behind_proxy`] with other server settings.
pub async fn app_behind_proxy_with(settings: ServerSettings) -> Option<(TestApp, Proxy)> {
    let test_db = TestDb::migrated(Backend::Postgres).await?;
    let admin = url::Url::parse(&admin_url()).expect("admin url");
    let target = format!(
        "{}:{}",
        admin.host_str().unwrap_or("127.0.0.1"),
        admin.port().unwrap_or(5432)
    )
    .parse()
    .expect("target address");
    let proxy = Proxy::start(target).await;
    let mut via_proxy = url::Url::parse(&test_db.url).expect("db url");
    via_proxy.set_host(Some("127.0.0.1")).expect("host");
    via_proxy.set_port(Some(proxy.addr.port())).expect("port");
    let app = spawn_app_on(test_db, via_proxy.as_str(), settings).await;
    Some((app, proxy))
}
