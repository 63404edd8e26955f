// The board's two-user offline scenarios (scenarios/board.mjs) on the
// IndexedDB backend: the worker is served as Safari sees it, without OPFS
// sync access handles (the kit's hideOPFS).
import { boardOfflineScenarios } from './scenarios/board.mjs';

boardOfflineScenarios({ backend: 'idb' });
