//! Server functions behind Settings' "Push notifications on this device":
//! the key to subscribe with, subscribing, and the device list. Each calls
//! the same service code as its REST route. Both sides (the browser gets
//! generated client stubs).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::model::error::{ApiError, Outcome};
use crate::model::push::{NewPushSubscription, PushDevice, PushDevices};

/// The VAPID public key browsers subscribe with.
#[server(prefix = "/fn", endpoint = "push/key", input = Json)]
pub async fn push_key() -> Result<String, ApiError> {
    let state = crate::server::functions::state();
    Ok(state.vapid.public_key().to_owned())
}

/// Stores this browser's subscription for the signed-in user. A refusal
/// (a push service this server does not send to) comes back as a value.
#[server(prefix = "/fn", endpoint = "push/subscribe", input = Json)]
pub async fn subscribe_push(
    subscription: NewPushSubscription,
) -> Result<Outcome<PushDevice>, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::push::service::{self, Subscription};
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    let user_agent = use_context::<axum::http::request::Parts>().and_then(|parts| {
        parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let result = async {
        let subscription = Subscription::parse(
            subscription,
            &state.config.push_services,
            user_agent.as_deref(),
        )?;
        service::subscribe(&state, current.user.id, subscription).await
    }
    .await;
    functions::outcome(result.map(|(device, _)| device))
}

/// The signed-in user's devices.
#[server(prefix = "/fn", endpoint = "push/devices", input = Json)]
pub async fn list_push_devices() -> Result<PushDevices, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    Ok(crate::push::service::devices(&state, current.user.id).await?)
}

/// Forgets one of the signed-in user's devices.
#[server(prefix = "/fn", endpoint = "push/remove", input = Json)]
pub async fn remove_push_device(id: i64) -> Result<(), ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    Ok(crate::push::service::remove(&state, current.user.id, id).await?)
}

/// Forgets this browser's subscription (it unsubscribed), by endpoint.
#[server(prefix = "/fn", endpoint = "push/unsubscribe", input = Json)]
pub async fn unsubscribe_push(endpoint: String) -> Result<(), ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::error::AppError;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    state
        .store
        .delete_push_endpoint(current.user.id, &endpoint)
        .await
        .map_err(AppError::from)?;
    Ok(())
}
