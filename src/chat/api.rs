//! Server functions behind the chat pages. Each calls the same service
//! code as its REST route and checks access with the same extractor.
//! Refusals a user can cause (a bad field, the send rate, an unknown name)
//! come back as `Outcome` values, shown next to the form. Both sides (the
//! browser gets generated client stubs).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::model::chat::{
    Conversation, ConversationList, Message, MessagePage, NewConversation, SendMessage,
};
use crate::model::error::{ApiError, Outcome};

#[cfg(feature = "ssr")]
use crate::server::functions::outcome;

/// The signed-in user's conversations, most recent first.
#[server(prefix = "/fn", endpoint = "chat/list", input = Json)]
pub async fn list_conversations() -> Result<ConversationList, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    Ok(crate::chat::service::list(&state, &current.user).await?)
}

/// One conversation; 404 unless the user is a member.
#[server(prefix = "/fn", endpoint = "chat/get", input = Json)]
pub async fn get_conversation(id: i64) -> Result<Outcome<Conversation>, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    outcome(crate::chat::service::get(&state, &current.user, id).await)
}

/// A page of messages before `before`, oldest first.
#[server(prefix = "/fn", endpoint = "chat/messages", input = Json)]
pub async fn list_messages(id: i64, before: Option<i64>) -> Result<Outcome<MessagePage>, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    outcome(crate::chat::service::messages(&state, &current.user, id, before, None).await)
}

/// Starts a direct or group conversation.
#[server(prefix = "/fn", endpoint = "chat/create", input = Json)]
pub async fn create_conversation(
    request: NewConversation,
) -> Result<Outcome<Conversation>, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    outcome(
        crate::chat::service::create(&state, &current.user, request)
            .await
            .map(|(conversation, _)| conversation),
    )
}

/// Sends a message (a repeated `client_id` returns the first one).
#[server(prefix = "/fn", endpoint = "chat/send", input = Json)]
pub async fn post_message(id: i64, message: SendMessage) -> Result<Outcome<Message>, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    outcome(crate::chat::service::send(&state, &current.user, id, message).await)
}

/// Moves the user's read marker forward.
#[server(prefix = "/fn", endpoint = "chat/read", input = Json)]
pub async fn mark_conversation_read(
    id: i64,
    up_to_message_id: i64,
) -> Result<Outcome<()>, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    outcome(crate::chat::service::read(&state, &current.user, id, up_to_message_id).await)
}

/// Tells the other members the user is (or stopped) typing.
#[server(prefix = "/fn", endpoint = "chat/typing", input = Json)]
pub async fn send_typing(id: i64, is_typing: bool) -> Result<Outcome<()>, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    outcome(crate::chat::service::typing(&state, &current.user, id, is_typing).await)
}

/// Records that the user is (or stopped) looking at the conversation.
#[server(prefix = "/fn", endpoint = "chat/viewing", input = Json)]
pub async fn set_viewing(id: i64, viewing: bool) -> Result<Outcome<()>, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    outcome(crate::chat::service::viewing(&state, &current.user, id, viewing).await)
}

/// Adds someone to a group (its creator only).
#[server(prefix = "/fn", endpoint = "chat/members/add", input = Json)]
pub async fn add_member(id: i64, username: String) -> Result<Outcome<()>, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    outcome(crate::chat::service::add_member(&state, &current.user, id, &username).await)
}

/// Removes someone from a group (its creator), or leaves it (anyone else).
#[server(prefix = "/fn", endpoint = "chat/members/remove", input = Json)]
pub async fn remove_member(id: i64, username: String) -> Result<Outcome<()>, ApiError> {
    use crate::auth::extract::CurrentUser;
    use crate::server::functions;

    let state = functions::state();
    let current: CurrentUser = functions::extract(&state).await?;
    outcome(crate::chat::service::remove_member(&state, &current.user, id, &username).await)
}
