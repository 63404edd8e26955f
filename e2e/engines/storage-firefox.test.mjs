// The storage scenarios in Firefox (Debian's firefox-esr over WebDriver
// BiDi): OPFS sync access handles work there, so auto picks OPFS. The OPFS
// backend's scenarios are in storage-firefox-opfs.test.mjs, which runs
// beside this file (each Firefox start costs seconds).
import { storageSuite } from '../scenarios/storage.mjs';
import { firefoxDriver } from '../drivers/firefox.mjs';

storageSuite(firefoxDriver, { backends: ['idb'] });
