// Apps that install the npm package, as a developer's would: `make
// package`'s tarball installed with npm into a scratch directory, the
// pinned tools (react, vite, typescript…) linked from this repository's
// node_modules (its devDependencies) so nothing is downloaded and the
// tests run offline. Used by e2e/package.test.mjs and
// e2e/react-notes.test.mjs.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './harness.mjs';

/** The repo's devDependencies an app links to by default. */
export const linkedPackages = ['react', 'react-dom', 'scheduler', 'vite', '@vitejs/plugin-react', 'esbuild', '@types/react', 'kysely', 'webpack', 'webpack-cli'];

/** Runs a command (bounded: 2 min); its stdout, or an error with both outputs. */
export function run(cmd, args, cwd) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
  } catch (err) {
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} in ${cwd} failed:\n${err.stdout}\n${err.stderr}`);
  }
}

/** run, without blocking: resolves to the stdout (so that builds can run side by side). */
export function runAsync(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, encoding: 'utf8', timeout: 120000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} in ${cwd} failed:\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** What scripts/package.mjs packs from (a superset: a change here repacks). */
function packageInputs() {
  const web = path.join(repoRoot, 'web');
  return [
    ...fs.readdirSync(web).filter((f) => /\.(js|d\.ts)$/.test(f)).map((f) => path.join(web, f)),
    path.join(web, 'dist', 'hearth.wasm'), path.join(web, 'dist', 'wasm_exec.js'),
    path.join(repoRoot, 'package.json'), path.join(repoRoot, 'README.md'), path.join(repoRoot, 'scripts', 'package.mjs'),
  ];
}

/**
 * The package's tarball: packed by scripts/package.mjs (`make package`),
 * or, with reuse, the one already in build/package/ when it is newer than
 * everything it is made from. Resolves to its path.
 */
export function packTarball({ reuse = false } = {}) {
  if (reuse) {
    const version = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;
    const tarball = path.join(repoRoot, 'build', 'package', `hearthdb-hearth-${version}.tgz`);
    if (fs.existsSync(tarball)) {
      const packedAt = fs.statSync(tarball).mtimeMs;
      if (packageInputs().every((f) => fs.existsSync(f) && fs.statSync(f).mtimeMs < packedAt)) return tarball;
    }
  }
  const printed = run(process.execPath, [path.join(repoRoot, 'scripts', 'package.mjs')], repoRoot).trim().split('\n');
  const tarball = printed[printed.length - 1];
  if (!fs.existsSync(tarball)) throw new Error(`scripts/package.mjs printed ${tarball}, which does not exist`);
  return tarball;
}

/**
 * Installs the tarball into the app in dir (its package.json must list no
 * registry dependencies: npm runs offline) and links the named packages
 * from this repository's node_modules.
 */
export function installPackage(dir, tarball, links = linkedPackages) {
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', tarball], dir);
  for (const name of links) {
    const link = path.join(dir, 'node_modules', name);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.join(repoRoot, 'node_modules', name), link, 'dir');
  }
}
