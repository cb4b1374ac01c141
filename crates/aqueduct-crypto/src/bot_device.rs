//! The bridge bot's one device. It is created with `PUT /devices/{id}` as the appservice
//! (MSC4190, no interactive auth) and reached by device masquerading; a homeserver without
//! that gets an appservice login for the same device id instead.

use crate::error::CryptoError;
use aqueduct_core::matrix::MatrixError;
use aqueduct_matrix::{DeviceAuth, HomeserverClient};
use rand::Rng;
use ruma::api::client::device::update_device;
use ruma::api::client::session::login;
use ruma::api::client::uiaa::{MatrixUserIdentifier, UserIdentifier};
use ruma::{OwnedDeviceId, UserId};

/// A fresh device id for the bot: recognisable in device lists, unique per installation.
pub(crate) fn new_device_id() -> OwnedDeviceId {
    let mut rng = rand::rng();
    let suffix: String = (0..10)
        .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rng.random_range(0..26)]))
        .collect();
    OwnedDeviceId::from(format!("AQUEDUCT{suffix}"))
}

/// Makes sure the device exists on the homeserver and says how to reach it.
pub(crate) async fn ensure_device(
    client: &HomeserverClient,
    bot: &UserId,
    device_id: &OwnedDeviceId,
    display_name: &str,
) -> Result<DeviceAuth, CryptoError> {
    let mut upsert = update_device::v3::Request::new(device_id.clone());
    upsert.display_name = Some(display_name.to_owned());
    match client.send(upsert, bot.as_str()).await {
        Ok(_) => return Ok(DeviceAuth::Masquerade(device_id.to_string())),
        Err(e) if lacks_device_management(&e) => {
            tracing::info!(error = %e, "the homeserver cannot create appservice devices; logging the bot in instead");
        }
        Err(e) => return Err(e.into()),
    }
    let identifier = UserIdentifier::Matrix(MatrixUserIdentifier::new(bot.to_string()));
    let mut request = login::v3::Request::new(login::v3::LoginInfo::ApplicationService(
        login::v3::ApplicationService::new(identifier),
    ));
    request.device_id = Some(device_id.clone());
    request.initial_device_display_name = Some(display_name.to_owned());
    let response = client.send(request, bot.as_str()).await?;
    Ok(DeviceAuth::AccessToken(response.access_token))
}

/// Whether the refusal means "this homeserver has no appservice device creation".
fn lacks_device_management(e: &MatrixError) -> bool {
    matches!(e, MatrixError::Refused { status, errcode, .. }
        if *status == 404 || errcode == "M_UNRECOGNIZED")
}
