// The two-browser offline sync scenario in WebKit (IndexedDB, as in
// Safari): two WebKit browsers on their own profiles, A going offline
// through a link the test cuts (WebDriver has no network emulation).
import { syncSuite } from '../scenarios/sync.mjs';
import { webkitDriver } from '../drivers/webkit.mjs';

syncSuite(webkitDriver);
