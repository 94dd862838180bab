//! The WebAssembly entry point: mounts the app once the module loads.
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(knock_app::App);
}
