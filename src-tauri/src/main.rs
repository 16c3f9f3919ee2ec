//! The Outpost desktop app: a window over the client core. Everything the UI does goes through
//! the commands declared in [`contract`]; the UI itself makes no network request.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod background;
mod commands;
mod contract;
mod error;
mod state;
mod updates;

use std::sync::Arc;

use tauri::Manager;

use state::Desktop;

fn main() {
    let desktop = match Desktop::from_env() {
        Ok(desktop) => Arc::new(desktop),
        Err(err) => {
            eprintln!("outpost-desktop: {err}");
            std::process::exit(1);
        }
    };
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_updater::Builder::new().build())
        .manage(desktop.clone())
        .setup(move |app| {
            let _ = desktop.app.set(app.handle().clone());
            tauri::async_runtime::spawn(background::watch_idle(desktop.clone()));
            tauri::async_runtime::spawn(background::follow_hub(desktop.clone()));
            tauri::async_runtime::spawn(background::run(desktop));
            Ok(())
        })
        .invoke_handler(contract::handler())
        .run(tauri::generate_context!());
    if let Err(err) = result {
        eprintln!("outpost-desktop: {err}");
        std::process::exit(1);
    }
}
