// Process helpers for the engine drivers: a browser crash is simulated by
// SIGKILLing the browser process and every process it started (content,
// network and GPU processes), found through /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The pids of pid's descendants (children first, then theirs). */
export function descendants(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // The command name may hold spaces and parentheses: the ppid follows the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(entry));
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of children.get(queue.shift()) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** SIGKILLs pid and all its descendants at once, as a crash would take them. */
export function killTree(pid) {
  for (const p of [pid, ...descendants(pid)]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'; // a zombie has exited
  } catch {
    return false;
  }
}

/**
 * Waits until every pid has exited, SIGKILLing what is left after ms: a
 * browser's storage process may still be writing to its profile for a
 * moment after the browser itself is gone.
 */
export async function waitForExit(pids, ms = 5000) {
  const deadline = Date.now() + ms;
  while (pids.some(alive)) {
    if (Date.now() > deadline) {
      for (const p of pids.filter(alive)) {
        try { process.kill(p, 'SIGKILL'); } catch { /* gone meanwhile */ }
      }
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
