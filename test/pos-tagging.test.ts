// examples/pos-tagging.ts on the UD English-ATIS treebank (../shared/datasets): a bidirectional
// GRU tagger trained with fit on ragged sentences (cut and bucketed by length) against the
// most-frequent-tag baseline.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const dir = fileURLToPath(new URL('../../../shared/datasets/ud-english-atis/', import.meta.url));

test('examples/pos-tagging: the BiGRU tags ATIS dev words better than each word\'s most frequent tag', { skip: existsSync(dir) ? false : `no dataset at ${dir}` }, async () => {
  const { main } = await import('../examples/pos-tagging.js');
  const lines: string[] = [];
  const r = await main(2, dir, (s: string) => lines.push(s));
  // 0.9595 and 0.9819-0.9828 here (two epochs).
  assert.ok(r.baseline > 0.9 && r.baseline < 0.97, `baseline ${r.baseline}`);
  assert.ok(r.accuracy >= 0.975, `BiGRU dev accuracy ${r.accuracy}`);
  assert.ok(r.accuracy >= r.baseline + 0.015, `${r.accuracy} against the baseline's ${r.baseline}`);
  assert.match(lines.join('\n'), /4274 training sentences \(48655 words\), 572 dev \(6644\)/);
});
