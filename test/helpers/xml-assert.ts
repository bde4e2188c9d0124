// Structural XML comparison for transcript tests: attribute order and
// quoting never matter; '*' as an attribute value or as the whole text of
// an element matches anything (ids, tokens, stamps).
import assert from 'node:assert/strict';
import { Element } from '../../src/xml/element.js';
import { parseXml } from '../../src/xml/parse.js';

function diff(actual: Element, expected: Element, where: string): string | undefined {
  if (actual.name !== expected.name) return `${where}: element <${actual.name}>, expected <${expected.name}>`;
  const here = `${where}/${actual.name}`;
  const aKeys = Object.keys(actual.attrs).sort();
  const eKeys = Object.keys(expected.attrs).sort();
  if (aKeys.join(' ') !== eKeys.join(' ')) return `${here}: attributes [${aKeys}] expected [${eKeys}]`;
  for (const k of eKeys) {
    const e = expected.attrs[k]!;
    if (e !== '*' && actual.attrs[k] !== e) return `${here}@${k}: '${actual.attrs[k]}' expected '${e}'`;
  }
  const eText = expected.text();
  if (eText !== '*' && actual.text() !== eText) return `${here}: text '${actual.text()}' expected '${eText}'`;
  const a = actual.elements;
  const e = expected.elements;
  if (a.length !== e.length) {
    return `${here}: children [${a.map((x) => x.name)}] expected [${e.map((x) => x.name)}]`;
  }
  for (let i = 0; i < e.length; i++) {
    const d = diff(a[i]!, e[i]!, here);
    if (d) return d;
  }
  return undefined;
}

export function assertXml(actual: Element | string, expected: string): void {
  const a = typeof actual === 'string' ? parseXml(actual) : actual;
  const problem = diff(a, parseXml(expected), '');
  if (problem) assert.fail(`${problem}\n  actual:   ${a.toString()}\n  expected: ${expected}`);
}

export function matchesXml(actual: Element, expected: string): boolean {
  return diff(actual, parseXml(expected), '') === undefined;
}
