//! Keyboard focus helpers shared by the bell and the notification center.
//! Both sides (a no-op on the server, where there is no document).

use wasm_bindgen::JsCast;

/// Moves keyboard focus to the element with `id`, if it is there; says
/// whether it was.
pub fn focus_by_id(id: &str) -> bool {
    let element = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    element.is_some_and(|element| element.focus().is_ok())
}

/// Whether keyboard focus is on the element with `id`, or on nothing (the
/// page's body, as after the focused element was removed).
pub fn focus_on_or_nowhere(id: &str) -> bool {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return false;
    };
    document
        .active_element()
        .is_none_or(|e| e.id() == id || e.tag_name().eq_ignore_ascii_case("body"))
}
