//! A TCP proxy the test can cut and restore, standing in for a database
//! server that goes away and comes back on the same address.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use crate::helpers::{Backend, TestApp, TestDb, admin_url, spawn_app_on, test_settings};

pub struct Proxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let proxy = Proxy {
            addr,
            target,
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let target = self.target;
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
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
    let app = spawn_app_on(test_db, via_proxy.as_str(), test_settings()).await;
    Some((app, proxy))
}
