//! Server functions behind the sign-in, registration and sign-out UI. They
//! call the same service code as the REST routes. Both sides (the browser
//! gets generated client stubs).

use leptos::prelude::*;

use crate::model::error::{ApiError, Outcome};
use crate::model::user::User;

/// Where to go after signing in: only paths on this site, so a crafted link
/// cannot send a user elsewhere. Browsers drop tabs and newlines from URLs
/// and treat `\\` as `/`, so `/\t/evil.example` would become
/// `//evil.example`: any control character, whitespace or backslash sends
/// the user to `/` instead (and never reaches a response header).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
                && !path.starts_with("/login")
                && !path.starts_with("/register") =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(feature = "ssr")]
mod server_side {
    use axum::http::{HeaderValue, header};
    use axum_extra::extract::cookie::Cookie;

    use leptos::prelude::*;

    use crate::auth::extract::MaybeUser;
    use crate::auth::service::{Origin, SignedIn};
    use crate::model::error::{ApiError, Outcome};
    use crate::model::user::User;
    use crate::server::client_ip::ClientIp;
    use crate::server::error::AppError;
    use crate::server::functions;
    use crate::server::state::AppState;

    pub fn state() -> AppState {
        functions::state()
    }

    pub async fn maybe_user(state: &AppState) -> Result<MaybeUser, AppError> {
        functions::extract::<MaybeUser>(state).await
    }

    /// Where the request comes from (address and device cookie).
    pub async fn origin(state: &AppState) -> Result<Origin, AppError> {
        let ip = functions::extract::<ClientIp>(state).await?;
        let parts = use_context::<axum::http::request::Parts>()
            .ok_or_else(|| AppError::Internal("server function without request parts".into()))?;
        Ok(Origin::of(state, ip, &parts.headers))
    }

    /// Signs in on success (cookies + redirect to `next`); hands refusals
    /// back as values and failures as errors.
    pub fn outcome(
        result: Result<SignedIn, AppError>,
        next: Option<String>,
    ) -> Result<Outcome<User>, ApiError> {
        match result {
            Ok(signed_in) => {
                for cookie in signed_in.cookies {
                    set_cookie(cookie);
                }
                redirect_plain_form(&super::safe_next(next.as_deref()));
                Ok(Ok(signed_in.user))
            }
            Err(error @ AppError::Internal(_)) => Err(error.into()),
            Err(refusal) => Ok(Err(refusal.to_api_error())),
        }
    }

    /// A form posted without the WASM (before hydration, or with script
    /// off) is answered with a 302. The hydrated app navigates by itself
    /// once it has recorded the new user, so it gets no redirect.
    pub fn redirect_plain_form(path: &str) {
        let accepts_html = use_context::<axum::http::request::Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
        });
        if accepts_html {
            leptos_axum::redirect(path);
        }
    }

    pub fn set_cookie(cookie: Cookie<'static>) {
        let response = expect_context::<leptos_axum::ResponseOptions>();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.append_header(header::SET_COOKIE, value);
        }
    }
}

/// The signed-in user, or `None`.
#[server(prefix = "/fn", endpoint = "auth/current_user")]
pub async fn current_user() -> Result<Option<User>, ApiError> {
    let state = server_side::state();
    let found = server_side::maybe_user(&state).await?;
    Ok(found.0.map(|current| current.user))
}

/// Signs in and goes to `next` (a local path).
#[server(prefix = "/fn", endpoint = "auth/login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<Outcome<User>, ApiError> {
    use crate::auth::service::{self, LoginRequest};

    let state = server_side::state();
    let previous = server_side::maybe_user(&state).await?;
    let origin = server_side::origin(&state).await?;
    let input = LoginRequest { username, password };
    let result = service::login(&state, &input, &origin, previous.0.as_ref()).await;
    if let Ok(signed_in) = &result {
        crate::notifications::service::report_failed_sign_ins(
            &state,
            &signed_in.user,
            signed_in.failed_attempts,
        )
        .await;
    }
    server_side::outcome(result, next)
}

/// Creates an account, signs it in and goes to `next`.
#[server(prefix = "/fn", endpoint = "auth/register")]
pub async fn register(
    username: String,
    password: String,
    display_name: Option<String>,
    next: Option<String>,
) -> Result<Outcome<User>, ApiError> {
    use crate::auth::service::{self, Registration};

    let state = server_side::state();
    let previous = server_side::maybe_user(&state).await?;
    let origin = server_side::origin(&state).await?;
    let input = Registration {
        username,
        password,
        display_name,
    };
    server_side::outcome(
        service::register(&state, &input, &origin, previous.0.as_ref()).await,
        next,
    )
}

/// Ends the session (closing its event streams) and goes to the sign-in page.
#[server(prefix = "/fn", endpoint = "auth/logout")]
pub async fn logout() -> Result<(), ApiError> {
    use crate::auth::{service, session};

    let state = server_side::state();
    if let Some(current) = server_side::maybe_user(&state).await?.0 {
        service::logout(&state, &current).await?;
    }
    server_side::set_cookie(session::removal_cookie(&state.config));
    server_side::redirect_plain_form("/login");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/messages?x=1")), "/messages?x=1");
        assert_eq!(safe_next(None), "/");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/login",
            "/register?next=/",
            "/\t/evil.example",
            "/\n/evil.example",
            "/x\r\nSet-Cookie: a=b",
            "/\u{7f}",
            "/\0",
            "/ /evil.example",
            "/a\\b",
            "/\u{2028}",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
    }
}
