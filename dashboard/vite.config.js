// Vite 5 (Node 18 or newer). JSX through esbuild's automatic runtime with
// Preact: no framework plugin needed.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2020',
    modulePreload: { polyfill: false }, // the polyfill is an inline script
    sourcemap: false,
    chunkSizeWarningLimit: 200,
  },
  test: { include: ['tests/**/*.test.js'], environment: 'node' },
});
