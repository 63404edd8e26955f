// The storage scenarios in Firefox (Debian's firefox-esr over WebDriver
// BiDi): OPFS sync access handles work there, so auto picks OPFS.
import { storageSuite } from '../scenarios/storage.mjs';
import { firefoxDriver } from '../drivers/firefox.mjs';

storageSuite(firefoxDriver);
