// Reads the shape of a wasm binary: section sizes, function body sizes and,
// when the binary keeps its "name" section (a build without -s), function
// names. Used to explain compile costs in the cold-start breakdown.
import fs from 'node:fs';

function leb(bytes, pos) {
  let result = 0, shift = 0, b;
  do {
    b = bytes[pos++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return [result, pos];
}

const SECTION_NAMES = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'datacount'];

/** {sections: [{id, name, size}], importedFunctions, bodies: [{index, size}], names: Map, memoryMinPages} */
export function wasmInfo(file) {
  const bytes = fs.readFileSync(file);
  const sections = [];
  const bodies = [];
  const names = new Map();
  let importedFunctions = 0;
  let memoryMinPages = null;
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos++];
    let size;
    [size, pos] = leb(bytes, pos);
    const start = pos;
    const end = pos + size;
    let name = SECTION_NAMES[id] ?? `section${id}`;
    if (id === 0) {
      let n, p;
      [n, p] = leb(bytes, pos);
      name = bytes.subarray(p, p + n).toString('utf8');
      if (name === 'name') {
        let q = p + n;
        while (q < end) {
          const sub = bytes[q++];
          let subSize;
          [subSize, q] = leb(bytes, q);
          if (sub === 1) {
            let count, r = q;
            [count, r] = leb(bytes, r);
            for (let i = 0; i < count; i++) {
              let idx, len;
              [idx, r] = leb(bytes, r);
              [len, r] = leb(bytes, r);
              names.set(idx, bytes.subarray(r, r + len).toString('utf8'));
              r += len;
            }
          }
          q += subSize;
        }
      }
    } else if (id === 2) {
      let count, p = start;
      [count, p] = leb(bytes, p);
      for (let i = 0; i < count; i++) {
        let len;
        [len, p] = leb(bytes, p); p += len; // module
        [len, p] = leb(bytes, p); p += len; // field
        const kind = bytes[p++];
        if (kind === 0) { [, p] = leb(bytes, p); importedFunctions++; }
        else if (kind === 1) { p++; const fl = bytes[p++]; [, p] = leb(bytes, p); if (fl & 1) [, p] = leb(bytes, p); }
        else if (kind === 2) { const fl = bytes[p++]; [, p] = leb(bytes, p); if (fl & 1) [, p] = leb(bytes, p); }
        else if (kind === 3) { p += 2; }
        else break;
      }
    } else if (id === 5) {
      let p = start;
      [, p] = leb(bytes, p);
      p++; // flags
      [memoryMinPages] = leb(bytes, p);
    } else if (id === 10) {
      let count, p = start;
      [count, p] = leb(bytes, p);
      for (let i = 0; i < count; i++) {
        let len;
        [len, p] = leb(bytes, p);
        bodies.push({ index: importedFunctions + i, size: len });
        p += len;
      }
    }
    sections.push({ id, name, size });
    pos = end;
  }
  return { size: bytes.length, sections, importedFunctions, bodies, names, memoryMinPages };
}

/** The n largest function bodies, with names when known. */
export function largestFunctions(info, n = 10) {
  return [...info.bodies].sort((a, b) => b.size - a.size).slice(0, n)
    .map((b) => ({ ...b, name: info.names.get(b.index) ?? `wasm-function[${b.index}]` }));
}
