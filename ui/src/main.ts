// Starts the UI: the app component, mounted into the page's #app element (index.html, which
// also links the stylesheet).
import { mount } from "svelte";
import App from "./App.svelte";

mount(App, { target: document.getElementById("app") as HTMLElement });
