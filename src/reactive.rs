//! Reactive helpers shared by components, pages and the browser's
//! real-time connection. Both sides.

use leptos::prelude::*;

/// `Effect::new` for an effect that returns nothing, with its closure
/// boxed: Leptos compiles its effect machinery once per closure type (about
/// 800 B of WASM each), so the effects of the first download share one copy
/// instead of carrying one each. Runs in the browser only, like any effect.
pub fn effect(run: impl FnMut(Option<()>) + 'static) {
    let run: Box<dyn FnMut(Option<()>)> = Box::new(run);
    Effect::new(run);
}
