import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// `npm run dev` serves the page on :5173 and passes the API and the socket to the backend
// (`make run`, :5000); `npm run build` writes web/dist, which the backend serves at `/`.
const backend = process.env.PIZARRA_BACKEND ?? "http://127.0.0.1:5000";

export default defineConfig({
  plugins: [svelte()],
  server: {
    proxy: {
      "/api": backend,
      "/socket.io": { target: backend, ws: true },
    },
  },
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 700 },
  test: { include: ["tests/**/*.test.js"], environment: "node" },
});
