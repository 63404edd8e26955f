// Starts the app: the schema from the server (loadSchema keeps its last copy
// for offline starts), the database with sync, then React. Everything the
// page shows comes from the local database; sync runs in the background.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { open, loadSchema, preload } from '@hearthdb/hearth';
import { HearthProvider } from '@hearthdb/hearth/react';
import { App } from './App';
import { readSession } from './session';
import './app.css';

preload(); // the worker's wasm compiles while the schema loads

// The service worker keeps the app for offline starts. Not under `vite
// dev`, whose modules are not the build's.
if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  navigator.serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`).catch((err) => console.warn('service worker:', err));
}

const root = createRoot(document.getElementById('root')!);

async function start() {
  const session = readSession(location, localStorage, history);
  const schema = await loadSchema('/v1/schema');
  const db = await open({
    name: `notes-${session.user}`,
    migrations: schema.migrations,
    sync: { url: '/sync', tables: schema.tables, token: session.token },
  });
  // For e2e/kit.mjs (waitForSynced) and the curious.
  Object.assign(window, { notesDB: db, hearthSyncStatus: () => db.syncStatus() });
  root.render(
    <StrictMode>
      <HearthProvider db={db}>
        <App session={session} />
      </HearthProvider>
    </StrictMode>,
  );
}

start().catch((err: { code?: string; message?: string }) => {
  root.render(
    <main>
      <h1>Notes</h1>
      <p className="problem" role="alert">Could not open the notes ({err.code ?? 'ERROR'}): {err.message}</p>
    </main>,
  );
});
