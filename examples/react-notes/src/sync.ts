// What the sync indicator says for a SyncStatus (from useSyncStatus).
import type { SyncStatus } from '@hearthdb/hearth';

export type SyncView = {
  /** For styling and tests: one word. */
  state: 'opening' | 'offline' | 'pending' | 'synced' | 'connecting' | 'paused';
  label: string;
  pending: number;
};

const changes = (n: number) => `${n} change${n === 1 ? '' : 's'}`;

export function syncView(s: SyncStatus | null): SyncView {
  if (s === null) return { state: 'opening', label: 'Opening…', pending: 0 };
  const { pending } = s;
  if (s.state === 'paused-auth') return { state: 'paused', label: 'Sign in again to sync', pending };
  if (s.state === 'paused-schema') return { state: 'paused', label: 'Update the app to sync', pending };
  if (!s.online || s.state === 'offline') {
    return { state: 'offline', label: pending ? `Offline · ${changes(pending)} to send` : 'Offline', pending };
  }
  if (s.state === 'backoff') {
    return { state: 'connecting', label: pending ? `Reconnecting · ${changes(pending)} to send` : 'Reconnecting…', pending };
  }
  if (pending > 0) return { state: 'pending', label: `Sending ${changes(pending)}…`, pending };
  if (s.initialSync.active) {
    const { rows, total } = s.initialSync;
    return { state: 'connecting', label: total ? `Loading notes ${rows}/${total}` : 'Loading notes…', pending };
  }
  if (s.connected && s.cursor >= s.head) return { state: 'synced', label: 'Synced', pending };
  return { state: 'connecting', label: 'Connecting…', pending };
}
