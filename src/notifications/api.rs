//! Server functions behind the notification UI: the center's list and
//! actions, preferences, and the admin's send form. Each calls the same
//! service code as its REST route and checks access with the same
//! extractor. Both sides (the browser gets generated client stubs).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::model::dashboard::DashboardSummary;
use crate::model::error::{ApiError, Outcome};
use crate::model::notification::{
    Category, NotificationDraft, NotificationPage, NotificationQuery, Preferences,
};

/// A page of the signed-in user's notifications.
#[server(prefix = "/fn", endpoint = "notifications/list", input = Json)]
pub async fn list_notifications(query: NotificationQuery) -> Result<NotificationPage, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    Ok(crate::notifications::service::list_page(&state, current.user.id, &query).await?)
}

/// The dashboard's news: unread notifications by category, the most
/// pressing ones, and conversations with unread messages.
#[server(prefix = "/fn", endpoint = "dashboard", input = Json)]
pub async fn load_dashboard() -> Result<DashboardSummary, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    Ok(crate::notifications::service::dashboard(&state, &current.user).await?)
}

/// Marks one notification read (emits `notifications_read`).
#[server(prefix = "/fn", endpoint = "notifications/read", input = Json)]
pub async fn mark_notification_read(id: i64) -> Result<(), ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    Ok(crate::notifications::service::mark_read(&state, current.user.id, id).await?)
}

/// Marks every notification (of one category, if given) read.
#[server(prefix = "/fn", endpoint = "notifications/read_all", input = Json)]
pub async fn mark_all_notifications_read(category: Option<Category>) -> Result<(), ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    Ok(crate::notifications::service::mark_all_read(&state, current.user.id, category).await?)
}

/// Deletes one notification (emits `notifications_deleted`).
#[server(prefix = "/fn", endpoint = "notifications/delete", input = Json)]
pub async fn delete_notification(id: i64) -> Result<(), ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    Ok(crate::notifications::service::delete(&state, current.user.id, id).await?)
}

/// The signed-in user's preferences.
#[server(prefix = "/fn", endpoint = "preferences/load", input = Json)]
pub async fn load_preferences() -> Result<Preferences, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::error::AppError;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    Ok(state
        .store
        .preferences(current.user.id)
        .await
        .map_err(AppError::from)?)
}

/// Stores the signed-in user's preferences and returns them as stored.
#[server(prefix = "/fn", endpoint = "preferences/save", input = Json)]
pub async fn save_preferences(preferences: Preferences) -> Result<Preferences, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    Ok(
        crate::notifications::service::save_preferences(&state, current.user.id, preferences)
            .await?,
    )
}

/// Sends a notification from the admin form. Refusals (a bad field, an
/// unknown user, the rate limit) come back as values for the form.
#[server(prefix = "/fn", endpoint = "notifications/send", input = Json)]
pub async fn send_notification(draft: NotificationDraft) -> Result<Outcome<usize>, ApiError> {
    use crate::auth::extract::AdminUser;
    use crate::auth::extract::Publisher;
    use crate::notifications::service::{self, PublishRequest};
    use crate::server::functions;

    let state = functions::state();
    let AdminUser(admin) = functions::extract(&state).await?;
    let publisher = Publisher::Admin(admin.user);
    let result = async {
        service::check_publish_rate(&state, &publisher, 1).await?;
        let publish =
            PublishRequest::from(draft).parse(&publisher, &state.config.action_origins)?;
        service::publish(&state, &publish).await
    }
    .await;
    functions::outcome(result.map(|published| published.recipients))
}

/// Sends the signed-in user a test notification.
#[server(prefix = "/fn", endpoint = "notifications/test", input = Json)]
pub async fn send_test_notification() -> Result<(), ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    crate::notifications::service::send_test(&state, &current.user).await?;
    Ok(())
}
