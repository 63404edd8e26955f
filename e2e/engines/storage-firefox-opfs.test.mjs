// The storage scenarios of the OPFS backend in Firefox (the rest is in
// storage-firefox.test.mjs).
import { storageSuite } from '../scenarios/storage.mjs';
import { firefoxDriver } from '../drivers/firefox.mjs';

storageSuite(firefoxDriver, { backends: ['opfs'], selection: false });
