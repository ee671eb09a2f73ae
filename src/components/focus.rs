//! Keyboard focus helpers shared by the bell and the notification center.
//! Both sides (a no-op on the server, where there is no document).

use wasm_bindgen::JsCast;

/// Moves keyboard focus to the element with `id`, if it is there.
pub fn focus_by_id(id: &str) {
    if let Some(element) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}
