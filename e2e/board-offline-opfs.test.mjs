// The board's two-user offline scenarios (scenarios/board.mjs) on OPFS,
// the backend Chromium picks.
import { boardOfflineScenarios } from './scenarios/board.mjs';

boardOfflineScenarios({ backend: 'opfs' });
