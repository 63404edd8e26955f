// Sync between two Chromium browsers through a real `hearth serve`: offline
// edits on both sides converge by the merge rule, live queries show the
// outcome without a reload, and a worker restart while offline keeps the
// journal. The scenario is shared with the other engines
// (e2e/scenarios/sync.mjs, e2e/engines/); Chromium goes offline through
// Playwright's network emulation.
import { syncSuite } from './scenarios/sync.mjs';
import { chromiumDriver } from './drivers/chromium.mjs';

syncSuite(chromiumDriver);
