//! End-to-end tests over a real gRPC connection (and authentik's REST API on
//! the same port), each run on SQLite and on PostgreSQL (see
//! `helpers::backend_tests!`).

mod helpers;

mod access_changes;
mod audit;
mod auth;
mod blueprint;
mod cache;
mod cli;
mod contention;
mod faults;
mod health;
mod hostile;
mod import;
mod limits;
mod list;
mod metrics;
mod proxy;
mod reflection;
mod replicas;
mod rest;
mod retrieve;
mod security;
mod starts;
mod tls;
mod traces;
mod watch;
mod write;
