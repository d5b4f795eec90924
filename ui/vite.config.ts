import { defineConfig } from "vite";

// Preact via the automatic JSX runtime; the app loads nothing remote (Tauri's CSP enforces it).
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  clearScreen: false,
  build: { target: "es2022", outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 600 },
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
});
