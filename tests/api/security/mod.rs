//! What a hostile or careless caller reaches, tried over real sockets: huge
//! numbers, panics, example keys, requests that cost more than the caller
//! may spend, connections that never speak, one token taking every watch
//! slot, scrapes that would touch the database, probing and key floods.

mod bootstrap;
mod connections;
mod costs;
mod keys;
mod pages;
mod watch_quota;
