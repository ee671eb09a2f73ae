//! The page's last resort: when the app cannot go on (a route's WASM chunk
//! did not download, or the WASM panicked), a message with a Reload button
//! instead of a page that silently ignores every click. Both sides: the
//! script is part of the server-rendered shell, the panic hook runs in the
//! browser.
//!
//! The message is drawn by plain JavaScript in the shell, not by the app:
//! after a panic the WASM instance is gone (`panic = "abort"`) and nothing
//! it rendered reacts any more.

/// Defines `window.heraldFatal(kind)`, which shows the message once, and
/// calls it for WebAssembly traps and for a page whose WASM never started.
/// `kind` is `"chunk"` (a part of the app did not download) or anything
/// else (the app stopped). Reload goes to the page the person was opening:
/// the router changes the address only once the route's chunk has arrived,
/// so after a failed chunk the address is still the previous page's. Tailwind
/// finds the classes here.
pub const LOAD_ERROR_SCRIPT: &str = "var heraldLastLink=null;\
addEventListener('click',function(e){var a=e.target.closest&&e.target.closest('a[href]');\
if(a&&a.origin===location.origin)heraldLastLink={href:a.href,at:Date.now()}},true);\
window.heraldFatal=function(kind){\
if(document.getElementById('load-error'))return;\
var box=document.createElement('div');box.id='load-error';box.setAttribute('role','alert');\
box.setAttribute('data-testid','load-error');\
box.className='fixed inset-x-0 bottom-20 z-50 mx-4 rounded-lg bg-red-700 p-4 text-white shadow-lg sm:left-auto sm:bottom-4 sm:max-w-md';\
var text=document.createElement('p');text.textContent=kind==='chunk'\
?'Part of Herald could not be downloaded: the connection dropped, or Herald was just updated. Reload the page to continue.'\
:'Herald stopped working on this page. Reload the page to continue.';\
var button=document.createElement('button');button.type='button';button.textContent='Reload';\
button.className='mt-3 min-h-11 rounded-md bg-white px-4 py-2 font-semibold text-red-800 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-white';\
button.addEventListener('click',function(){var l=heraldLastLink;\
if(l&&Date.now()-l.at<60000)location.assign(l.href);else location.reload()});\
box.append(text,button);document.body.append(box);button.focus()};\
function heraldWasmFailed(error){return error instanceof WebAssembly.RuntimeError\
||error instanceof WebAssembly.CompileError||error instanceof WebAssembly.LinkError}\
addEventListener('error',function(e){if(heraldWasmFailed(e.error))heraldFatal('stopped')});\
addEventListener('unhandledrejection',function(e){\
if(heraldWasmFailed(e.reason)||!document.querySelector('[data-hydrated=true]'))heraldFatal('stopped')});";

/// Makes a panic show the message (after logging it to the console): a
/// route's chunk that failed to download panics inside `wasm_split`'s
/// loader ("load callback should succeed"), anything else is a bug.
#[cfg(feature = "hydrate")]
pub fn install_panic_hook() {
    use wasm_bindgen::JsCast;

    std::panic::set_hook(Box::new(|info| {
        // The message and where it happened. (No stack: a release build's
        // names no functions.)
        let message = info.to_string();
        web_sys::console::error_1(&message.as_str().into());
        let kind = if message.contains("load callback should succeed") {
            "chunk"
        } else {
            "stopped"
        };
        let show = js_sys::Reflect::get(&js_sys::global(), &"heraldFatal".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if let Some(show) = show {
            let _ = show.call1(&wasm_bindgen::JsValue::NULL, &kind.into());
        }
    }));
}
