import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * Writes the service worker (sw.js, beside this file) into the build with
 * the list of files to keep for offline use and a version made from their
 * contents. It runs once the build is on disk, so the list holds every
 * hashed file Vite wrote: the app's chunks and CSS, the Hearth worker it
 * bundled and the wasm it copied (the `new URL(…, import.meta.url)` forms
 * in @hearthdb/hearth). A new build with any changed file gets a new
 * version, so browsers install the new worker and drop the old cache.
 * @returns {import('vite').Plugin}
 */
function offlineServiceWorker() {
  let outDir = '';
  return {
    name: 'react-notes:service-worker',
    apply: 'build',
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    writeBundle() {
      const files = fs.readdirSync(outDir, { recursive: true, encoding: 'utf8' })
        .map((f) => f.split(path.sep).join('/'))
        .filter((f) => f !== 'sw.js' && fs.statSync(path.join(outDir, f)).isFile())
        .sort();
      const hash = createHash('sha256');
      for (const f of files) hash.update(`${f}\0`).update(fs.readFileSync(path.join(outDir, f)));
      const source = fs.readFileSync(new URL('./sw.js', import.meta.url), 'utf8');
      const header = `// Written by vite.config.js at build time.\nconst VERSION = ${JSON.stringify(hash.digest('hex').slice(0, 16))};\n`
        + `const FILES = ${JSON.stringify(files)};\n\n`;
      fs.writeFileSync(path.join(outDir, 'sw.js'), header + source);
    },
  };
}

export default defineConfig({
  plugins: [react(), offlineServiceWorker()],
  // `vite dev` talks to a `hearth serve` started on its own port (make
  // react-notes prints how): /v1/schema and /sync go through Vite's proxy,
  // so the page stays same-origin as in production.
  server: {
    proxy: {
      '/v1': process.env.HEARTH_URL ?? 'http://127.0.0.1:8080',
      '/sync': { target: process.env.HEARTH_URL ?? 'http://127.0.0.1:8080', ws: true },
    },
  },
});
