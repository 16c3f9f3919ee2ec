import { defineConfig } from "vite";

// The app loads its UI from the binary (ui/dist) or, in development, from this server.
export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
  test: { environment: "node" },
});
