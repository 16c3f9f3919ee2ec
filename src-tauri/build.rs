fn main() {
    // tauri.conf.json sits next to this crate, where the Tauri CLI (bundler) looks for it.
    tauri_build::try_build(tauri_build::Attributes::new().config_path("tauri.conf.json"))
        .expect("tauri build step");
}
