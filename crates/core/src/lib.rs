//! The service below its transports: the operations callers ask for
//! ([`ops`]: authentication, permissions, validation, transactions), the
//! read cache ([`cache`]), the change feed that tells a replica what any
//! replica changed ([`feed`]), and the audit trail of Plex token hand-outs
//! ([`audit`]). A transport decodes a request, calls one operation and maps
//! its answer; every check happens here, once.

pub mod audit;
pub mod cache;
pub mod feed;
pub mod ops;
