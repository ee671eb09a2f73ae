//! Form pieces with labels, inline errors and accessible descriptions.
//! Both sides.

use leptos::prelude::*;

/// The look of a text input, invalid state included.
pub const INPUT_CLASS: &str = "block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40 aria-invalid:border-red-500 dark:border-slate-700 dark:bg-slate-900";

/// A labelled input whose error (if any) is announced and linked to it.
#[component]
pub fn Field(
    /// Visible label, also the accessible name.
    label: &'static str,
    /// Form field name (what the server function receives).
    name: &'static str,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional)] autocomplete: &'static str,
    #[prop(optional)] hint: &'static str,
    #[prop(default = false)] required: bool,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described_by = {
        let (error_id, hint_id) = (error_id.clone(), hint_id.clone());
        move || {
            let mut ids = Vec::new();
            if !hint.is_empty() {
                ids.push(hint_id.clone());
            }
            if error.get().is_some() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="space-y-1">
            <label for=id.clone() class="block text-sm font-medium">{label}</label>
            <input
                id=id
                name=name
                type=input_type
                autocomplete=(!autocomplete.is_empty()).then_some(autocomplete)
                required=required
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=described_by
                class=INPUT_CLASS
            />
            {(!hint.is_empty()).then(|| view! {
                <p id=hint_id class="text-xs text-slate-500 dark:text-slate-400">{hint}</p>
            })}
            <p id=error_id class="text-sm text-red-700 dark:text-red-300" class:hidden=move || error.get().is_none()>
                {move || error.get()}
            </p>
        </div>
    }
}

/// A form-level error (not tied to one field), announced when it appears.
#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    view! {
        <div role="alert" aria-live="assertive">
            {move || error.get().map(|message| view! {
                <p class="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200">
                    {message}
                </p>
            })}
        </div>
    }
}

/// The primary button of a form; shows `busy_label` while pending.
#[component]
pub fn SubmitButton(
    label: &'static str,
    busy_label: &'static str,
    #[prop(into)] pending: Signal<bool>,
) -> impl IntoView {
    view! {
        <button
            type="submit"
            aria-disabled=move || pending.get().then_some("true")
            class="w-full rounded-md bg-indigo-600 px-4 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 aria-disabled:opacity-60"
        >
            {move || if pending.get() { busy_label } else { label }}
        </button>
    }
}
