import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * The web UI builds into dist/ (served by the gateway at /). Routes are lazy chunks; a chunk over
 * 500 kB fails the build (chunkSizeWarningLimit only warns, so scripts/check-chunks.mjs enforces it).
 */
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 500,
    assetsDir: 'assets',
  },
  server: {
    // `npm run dev -w packages/web` proxies the API to a gateway started with `npm start`.
    proxy: {
      '/api': { target: 'https://127.0.0.1:8443', secure: false, ws: true },
    },
  },
});
