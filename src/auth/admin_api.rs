//! Server functions behind the admin pages for users and API tokens. They
//! call the same service code as `/api/users` and `/api/tokens` and check
//! access with the same `AdminUser` extractor. Both sides (the browser gets
//! generated client stubs).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::model::error::{ApiError, Outcome};
use crate::model::user::{AccountChange, CreatedToken, TokenInfo, UserAccount};

/// Accounts whose username or display name contains `search` (at most 100).
#[server(prefix = "/fn", endpoint = "admin/users", input = Json)]
pub async fn list_accounts(search: String) -> Result<Vec<UserAccount>, ApiError> {
    use crate::auth::extract::AdminUser;
    use crate::server::functions;

    let state = functions::state();
    let _admin: AdminUser = functions::extract(&state).await?;
    let search: String = search.trim().chars().take(100).collect();
    Ok(state
        .store
        .list_accounts(&search, 100, 0)
        .await
        .map_err(crate::server::error::AppError::from)?)
}

/// Changes a user's role or disables them (ending their sessions at once).
#[server(prefix = "/fn", endpoint = "admin/users/update", input = Json)]
pub async fn update_account(
    id: i64,
    change: AccountChange,
) -> Result<Outcome<UserAccount>, ApiError> {
    use crate::auth::extract::AdminUser;
    use crate::server::functions;

    let state = functions::state();
    let AdminUser(admin) = functions::extract(&state).await?;
    functions::outcome(crate::auth::service::update_account(&state, &admin, id, &change).await)
}

/// Live API tokens, newest first.
#[server(prefix = "/fn", endpoint = "admin/tokens", input = Json)]
pub async fn list_tokens() -> Result<Vec<TokenInfo>, ApiError> {
    use crate::auth::extract::AdminUser;
    use crate::server::functions;

    let state = functions::state();
    let _admin: AdminUser = functions::extract(&state).await?;
    Ok(state
        .store
        .list_tokens()
        .await
        .map_err(crate::server::error::AppError::from)?)
}

/// Creates a token; the answer is the only time its secret is shown.
#[server(prefix = "/fn", endpoint = "admin/tokens/create", input = Json)]
pub async fn create_token(
    name: String,
    #[server(default)] publish_rate_per_minute: Option<u32>,
) -> Result<Outcome<CreatedToken>, ApiError> {
    use crate::auth::extract::AdminUser;
    use crate::server::functions;

    let state = functions::state();
    let AdminUser(admin) = functions::extract(&state).await?;
    functions::outcome(
        crate::auth::service::create_token(&state, &admin, &name, publish_rate_per_minute).await,
    )
}

/// Revokes a token at once.
#[server(prefix = "/fn", endpoint = "admin/tokens/revoke", input = Json)]
pub async fn revoke_token(id: i64) -> Result<Outcome<()>, ApiError> {
    use crate::auth::extract::AdminUser;
    use crate::server::functions;

    let state = functions::state();
    let AdminUser(admin) = functions::extract(&state).await?;
    functions::outcome(crate::auth::service::revoke_token(&state, &admin, id).await)
}
