//! A subscription's lifetime: renewing it before it ends, answering Graph's
//! `reauthorizationRequired`, and replacing one Graph no longer keeps.

use super::*;

/// Renews `s`; false when Graph refused (it no longer has it, or will not keep it).
pub(super) async fn renew(
    login: &TeamsLogin,
    settings: &Settings,
    s: &Subscription,
) -> Result<bool, ConnectorError> {
    let now = now_ms();
    // A new key reaches existing subscriptions with their renewal, as Graph suggests.
    let newest = login
        .notifications
        .inner()
        .keys
        .last()
        .map(|k| k.id.clone());
    let body = SubscriptionRenewal {
        expiration_date_time: format_ms(now + settings.lifetime_ms),
        encryption: (settings.resource_data && newest != s.certificate_id)
            .then(|| encryption(login, settings))
            .flatten(),
    };
    let certificate_id = match &body.encryption {
        Some(e) => Some(e.encryption_certificate_id.clone()),
        None => s.certificate_id.clone(),
    };
    let path = format!("/subscriptions/{}", crate::poll::encode(&s.id));
    match login.graph.send(Method::PATCH, &path, Some(&body)).await {
        Ok(()) => {}
        Err(ConnectorError::Refused(why)) => {
            tracing::info!(login = %login.id(), subscription = %s.id, why = %why, "Graph refused to renew a Teams subscription; making a new one");
            return Ok(false);
        }
        Err(e) => return Err(e),
    }
    // Graph answers the time asked for (or refuses it).
    let expires_ms = now + settings.lifetime_ms;
    let mut inner = login.notifications.inner();
    if let Some(kept) = inner.subscriptions.iter_mut().find(|k| k.id == s.id) {
        kept.expires_ms = expires_ms;
        kept.renewed_ms = now;
        kept.certificate_id = certificate_id;
        if kept.todo == Some(Todo::Reauthorize) {
            kept.todo = None; // a renewal reauthorizes too
        }
    }
    tracing::debug!(login = %login.id(), subscription = %s.id, "renewed a Teams subscription");
    Ok(true)
}

/// Answers a `reauthorizationRequired`: reauthorize, else renew, else replace.
pub(super) async fn reauthorize(
    login: &TeamsLogin,
    settings: &Settings,
    s: &Subscription,
) -> Result<(), ConnectorError> {
    let path = format!("/subscriptions/{}/reauthorize", crate::poll::encode(&s.id));
    match login.graph.send::<()>(Method::POST, &path, None).await {
        Ok(()) => {
            tracing::info!(login = %login.id(), subscription = %s.id, "reauthorized a Teams subscription");
            let mut inner = login.notifications.inner();
            if let Some(kept) = inner.subscriptions.iter_mut().find(|k| k.id == s.id)
                && kept.todo == Some(Todo::Reauthorize)
            {
                kept.todo = None;
            }
            Ok(())
        }
        Err(ConnectorError::Refused(why)) => {
            tracing::info!(login = %login.id(), subscription = %s.id, why = %why, "Graph refused to reauthorize a Teams subscription; renewing it");
            if !renew(login, settings, s).await? {
                replace(login, settings, s).await?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Replaces `s` by a new subscription on the same resource (the old one deleted, if Graph
/// still has it).
pub(super) async fn replace(
    login: &TeamsLogin,
    settings: &Settings,
    s: &Subscription,
) -> Result<(), ConnectorError> {
    let path = format!("/subscriptions/{}", crate::poll::encode(&s.id));
    if let Err(e) = login.graph.send::<()>(Method::DELETE, &path, None).await {
        tracing::debug!(subscription = %s.id, error = %e, "the old Teams subscription could not be deleted (likely gone)");
    }
    login
        .notifications
        .inner()
        .subscriptions
        .retain(|k| k.id != s.id);
    match create(login, settings, s.scope.clone(), &s.resource).await {
        Ok(new) => {
            login.notifications.inner().subscriptions.push(new);
            Ok(())
        }
        Err(ConnectorError::Refused(why)) if s.scope == Scope::AllChats => {
            // The next pass tries every way again.
            tracing::warn!(login = %login.id(), why = %why, "Graph refused a new user-wide Teams subscription");
            Ok(())
        }
        Err(ConnectorError::Refused(why)) => {
            tracing::info!(login = %login.id(), resource = %s.resource, why = %why, "Graph refused a Teams chat or channel subscription; it is polled");
            if let Scope::Channel(key) = &s.scope {
                login
                    .notifications
                    .inner()
                    .channels_refused
                    .insert(key.clone(), now_ms() + REFUSED_RETRY_MS);
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}
