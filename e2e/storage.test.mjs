// Durable storage in real Chromium on a persistent profile: OPFS and
// IndexedDB survive reloads, worker kills and browser crashes; auto picks
// the right backend; encryption, quota and corrupt files behave. The
// scenarios are shared with the other engines (e2e/scenarios/storage.mjs,
// e2e/engines/).
import { storageSuite } from './scenarios/storage.mjs';
import { chromiumDriver } from './drivers/chromium.mjs';

storageSuite(chromiumDriver);
