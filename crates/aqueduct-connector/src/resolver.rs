//! A DNS resolver for reqwest that hands the connection only public addresses. The check has
//! to sit here, on the very addresses the connection uses: checking a name first and letting
//! the HTTP client resolve it again afterwards is defeated by DNS rebinding (a name that
//! answers a public address to the check and `127.0.0.1` to the connection).

use crate::address::is_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;

/// Resolves through the system resolver and drops every non-public address; a name with no
/// public address fails with [`PrivateName`].
#[derive(Debug, Default)]
pub(crate) struct PublicOnly;

/// A name that resolved to no public address.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to private or local addresses, which the bridge does not fetch from")]
pub(crate) struct PrivateName(pub(crate) String);

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(PrivateName(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[tokio::test]
    async fn localhost_resolves_to_nothing() {
        let err = match PublicOnly
            .resolve(Name::from_str("localhost").expect("name"))
            .await
        {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert!(err.downcast_ref::<PrivateName>().is_some(), "{err}");
    }
}
