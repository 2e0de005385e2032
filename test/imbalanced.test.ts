// examples/imbalanced.ts on SST-2 (../shared/datasets): class weights on training data thinned to
// about one positive sentence in nine, scored on the balanced dev set.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const dir = fileURLToPath(new URL('../../../shared/datasets/sst2/', import.meta.url));

test('examples/imbalanced: classWeight \'balanced\' raises the minority class\'s recall and the balanced accuracy', { skip: existsSync(dir) ? false : `no dataset at ${dir}` }, async () => {
  const { main } = await import('../examples/imbalanced.js');
  const lines: string[] = [];
  const { plain, balanced } = await main(3, dir, (s: string) => lines.push(s));
  // Here: positive recall 0.502 -> 0.694, balanced accuracy 0.721 -> 0.773.
  assert.match(lines[0]!, /14968 training sentences, 1671 positive \(11\.2%\); 872 dev sentences, 444 positive/);
  assert.ok(balanced.positiveRecall >= plain.positiveRecall + 0.1, `positive recall ${plain.positiveRecall} -> ${balanced.positiveRecall}`);
  assert.ok(balanced.balancedAccuracy >= plain.balancedAccuracy + 0.02, `balanced accuracy ${plain.balancedAccuracy} -> ${balanced.balancedAccuracy}`);
  assert.ok(plain.negativeRecall > plain.positiveRecall + 0.3, 'unweighted, the model leans to the majority class');
});
