// The two-browser offline sync scenario in Firefox: two Firefox processes
// on their own profiles, A going offline through a link the test cuts.
import { syncSuite } from '../scenarios/sync.mjs';
import { firefoxDriver } from '../drivers/firefox.mjs';

syncSuite(firefoxDriver);
