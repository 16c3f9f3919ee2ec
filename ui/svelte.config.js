// Svelte's compiler settings, shared by the Vite plugin and svelte-check: TypeScript in
// components, and runes everywhere.
import { vitePreprocess } from "@sveltejs/vite-plugin-svelte";

export default {
  preprocess: vitePreprocess(),
  compilerOptions: { runes: true },
};
