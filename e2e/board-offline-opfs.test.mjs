// The board's two-user offline scenarios (board-scenarios.mjs) on OPFS,
// the backend Chromium picks.
import { boardOfflineScenarios } from './scenarios/board.mjs';

boardOfflineScenarios({ backend: 'opfs' });
