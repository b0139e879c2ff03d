/**
 * Builds the webcam page into dist/web, which `mien web` serves. The page imports mien's own src/ modules (detector,
 * crop, classifier, tracker), so the browser runs the very code Node runs.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative URLs: the page works wherever it is served from.
  base: './',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // onnxruntime-web is one large module; its size is expected, not a warning sign.
    chunkSizeWarningLimit: 2000,
  },
});
