fn main() {
    // The configuration lives at the repository root (DESIGN.md), next to ui/.
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .expect("tauri build step");
}
