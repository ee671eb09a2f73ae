//! Herald inside host applications: users provisioned by the host app's
//! own id, integrations (a signing secret for connection tokens and the
//! browser origins allowed to call Herald), connection tokens, the CORS
//! answers for those origins, and the embeddable JavaScript client.
//! Server only (declared under `ssr` by the crate root).

pub mod cors;
pub mod embed;
pub mod keys;
pub mod routes;
pub mod service;
pub mod tokens;
