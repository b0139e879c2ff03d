/**
 * Builds the webcam page into dist/web, which `mien web` serves. The page imports the package's browser entry by the
 * package's name, as any user's page would (`import { createRecognizer, drawFaces } from 'mien-fer'`); here the name
 * resolves to the entry's source, src/browser/index.ts, which the package ships built as dist/browser. The browser
 * runs the very detector, crop, classifier and tracker code Node runs.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative URLs: the page works wherever it is served from.
  base: './',
  resolve: { alias: { 'mien-fer': fileURLToPath(new URL('../src/browser/index.ts', import.meta.url)) } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // onnxruntime-web is one large module; its size is expected, not a warning sign.
    chunkSizeWarningLimit: 2000,
  },
});
