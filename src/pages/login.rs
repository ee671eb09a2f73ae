//! Sign-in and account creation pages. Both sides.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::auth::api::{Login, Register, safe_next};
use crate::model::user::User;

use crate::auth::context::use_session;
use crate::components::form::{Field, FormError, SubmitButton};
use crate::components::session::encode_component;
use crate::model::error::{ApiError, Outcome};

/// The refusal of the last submission, if any.
fn refusal<T: Clone + Send + Sync + 'static>(
    value: impl Get<Value = Option<Result<Outcome<T>, ApiError>>> + Send + Sync + 'static,
) -> Signal<Option<ApiError>> {
    Signal::derive(move || match value.get() {
        Some(Ok(Err(refused))) => Some(refused),
        Some(Err(failed)) => Some(failed),
        _ => None,
    })
}

fn field_error(error: Signal<Option<ApiError>>, field: &'static str) -> Signal<Option<String>> {
    Signal::derive(move || error.get().and_then(|e| e.for_field(field)))
}

fn form_error(error: Signal<Option<ApiError>>) -> Signal<Option<String>> {
    Signal::derive(move || error.get().filter(|e| e.field.is_none()).map(|e| e.message))
}

/// After a successful sign-in or registration: record the user, then go on.
fn continue_when_signed_in(
    value: impl Get<Value = Option<Result<Outcome<User>, ApiError>>> + Send + Sync + 'static,
    next: Memo<String>,
) {
    let session = use_session();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(Ok(user))) = value.get() {
            session.set_user(Some(user));
            let target = safe_next(Some(next.get_untracked().as_str()).filter(|n| !n.is_empty()));
            navigate(&target, NavigateOptions::default());
        }
    });
}

/// The `next` query parameter, carried through the forms.
fn next_param() -> Memo<String> {
    let query = use_query_map();
    Memo::new(move |_| query.read().get("next").unwrap_or_default())
}

#[component]
fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <Title text=title />
        <section class="mx-auto mt-8 max-w-sm rounded-xl border border-slate-200 bg-white p-6 shadow-sm dark:border-slate-800 dark:bg-slate-900">
            <h1 class="text-xl font-bold tracking-tight">{title}</h1>
            {children()}
        </section>
    }
}

/// `/login`.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let next = next_param();
    let error = refusal(login.value());
    let pending = login.pending();
    continue_when_signed_in(login.value(), next);
    let register_href = move || match next.get() {
        n if n.is_empty() => "/register".to_owned(),
        n => format!("/register?next={}", encode_component(&n)),
    };
    view! {
        <AuthCard title="Sign in">
            <ActionForm action=login attr:class="mt-4 space-y-4" attr:novalidate=true>
                <input type="hidden" name="next" prop:value=move || next.get() />
                <FormError error=form_error(error) />
                <Field label="Username" name="username" autocomplete="username" required=true error=field_error(error, "username") />
                <Field label="Password" name="password" input_type="password" autocomplete="current-password" required=true error=field_error(error, "password") />
                <SubmitButton label="Sign in" busy_label="Signing in…" pending=pending />
            </ActionForm>
            <p class="mt-4 text-center text-sm text-slate-600 dark:text-slate-400">
                "New here? "
                <A href=register_href attr:class="font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Create an account"</A>
            </p>
        </AuthCard>
    }
}

/// `/register`.
#[component]
pub fn RegisterPage() -> impl IntoView {
    let register = ServerAction::<Register>::new();
    let next = next_param();
    let error = refusal(register.value());
    let pending = register.pending();
    continue_when_signed_in(register.value(), next);
    let login_href = move || match next.get() {
        n if n.is_empty() => "/login".to_owned(),
        n => format!("/login?next={}", encode_component(&n)),
    };
    view! {
        <AuthCard title="Create an account">
            <ActionForm action=register attr:class="mt-4 space-y-4" attr:novalidate=true>
                <input type="hidden" name="next" prop:value=move || next.get() />
                <FormError error=form_error(error) />
                <Field label="Username" name="username" autocomplete="username" required=true
                    hint="3 to 32 characters: letters a–z, digits, _ . -" error=field_error(error, "username") />
                <Field label="Display name" name="display_name" autocomplete="name"
                    hint="Optional; shown to others instead of your username." error=field_error(error, "display_name") />
                <Field label="Password" name="password" input_type="password" autocomplete="new-password" required=true
                    hint="At least 8 characters." error=field_error(error, "password") />
                <SubmitButton label="Create account" busy_label="Creating account…" pending=pending />
            </ActionForm>
            <p class="mt-4 text-center text-sm text-slate-600 dark:text-slate-400">
                "Already have an account? "
                <A href=login_href attr:class="font-medium text-indigo-600 hover:underline dark:text-indigo-400">"Sign in"</A>
            </p>
        </AuthCard>
    }
}
