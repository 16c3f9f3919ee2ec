import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

// The app loads its UI from the binary (ui/dist) or, in development, from this server.
// Component styles would be emitted as files (never injected), but the UI keeps its one
// stylesheet, src/style.css, linked from index.html: the CSP allows styles from 'self' only.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
  test: { environment: "node" },
});
