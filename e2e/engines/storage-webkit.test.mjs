// The storage scenarios in WebKit (WebKitGTK through WebKitWebDriver):
// sync access handles are refused, as in Safari, so auto must fall back to
// IndexedDB and say why; the automation store is throwaway, like Safari's
// private browsing.
import { storageSuite } from '../scenarios/storage.mjs';
import { webkitDriver } from '../drivers/webkit.mjs';

storageSuite(webkitDriver);
