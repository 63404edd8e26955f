// The board's two-user offline scenarios (board-scenarios.mjs) on OPFS,
// the backend Chromium picks.
import { boardOfflineScenarios } from './board-scenarios.mjs';

boardOfflineScenarios({ backend: 'opfs' });
