// Entity-level scoring vs Python seqeval 1.2.2.
// Expected values come from seqeval's docstrings / unit tests (cited per test), from hand
// derivations written next to them, or from an independent reimplementation (property test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  classificationReport,
  entityScores,
  extractEntities,
  formatFixed,
  pairwiseSum,
  strictModeEntities,
} from '../src/models/entity-metrics.js';
import type { TagScheme } from '../src/data/tags.js';
import { rng } from '../src/tensor/rng.js';

type S = string[][];

// --- seqeval documentation examples -------------------------------------------------

// seqeval README / docstrings of f1_score, precision_score, recall_score, classification_report.
const DOC_TRUE: S = [['O', 'O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'O'], ['B-PER', 'I-PER', 'O']];
const DOC_PRED: S = [['O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'I-MISC', 'O'], ['B-PER', 'I-PER', 'O']];

test('seqeval docs: README example (f1 = precision = recall = 0.50)', () => {
  const r = entityScores(DOC_TRUE, DOC_PRED);
  assert.equal(r.precision, 0.5);
  assert.equal(r.recall, 0.5);
  assert.equal(r.f1, 0.5);
  assert.equal(r.support, 2);
  assert.deepEqual(r.types, ['MISC', 'PER']);
  // precision_recall_fscore_support(average=None) docstring: (array([0., 1.]), array([0., 1.]), array([0., 1.]), array([1, 1]))
  assert.deepEqual(r.perType, {
    MISC: { precision: 0, recall: 0, f1: 0, support: 1 },
    PER: { precision: 1, recall: 1, f1: 1, support: 1 },
  });
  // average='macro' / 'weighted' docstrings: (0.5, 0.5, 0.5, 2)
  assert.deepEqual(r.macroAvg, { precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
  assert.deepEqual(r.weightedAvg, { precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
  // Strict IOB2 gives the same here (v1.precision_recall_fscore_support docstring).
  const s = entityScores(DOC_TRUE, DOC_PRED, { mode: 'strict', scheme: 'IOB2' });
  assert.deepEqual([s.precision, s.recall, s.f1, s.support], [0.5, 0.5, 0.5, 2]);
  assert.deepEqual([s.macroAvg.f1, s.weightedAvg.f1], [0.5, 0.5]);
});

test('seqeval docs: classification_report text is byte-identical', () => {
  const expected = [
    '              precision    recall  f1-score   support',
    '',
    '        MISC       0.00      0.00      0.00         1',
    '         PER       1.00      1.00      1.00         1',
    '',
    '   micro avg       0.50      0.50      0.50         2',
    '   macro avg       0.50      0.50      0.50         2',
    'weighted avg       0.50      0.50      0.50         2',
    '',
  ].join('\n');
  assert.equal(classificationReport(DOC_TRUE, DOC_PRED), expected);
});

test('seqeval docs: f1/precision/recall_score averages (B-MISC I-MISC B-MISC example)', () => {
  // f1_score docstring: micro 0.6666666666666666, macro 0.75, weighted 0.6666666666666666, None → [0.5, 1.]
  // (precision_score and recall_score docstrings give the same numbers).
  const yTrue: S = [['O', 'O', 'B-MISC', 'I-MISC', 'B-MISC', 'O', 'O'], ['B-PER', 'I-PER', 'O']];
  const yPred: S = [['O', 'O', 'B-MISC', 'I-MISC', 'B-MISC', 'I-MISC', 'O'], ['B-PER', 'I-PER', 'O']];
  const r = entityScores(yTrue, yPred);
  for (const k of ['precision', 'recall', 'f1'] as const) {
    assert.equal(r[k], 0.6666666666666666, k);
    assert.equal(r.macroAvg[k], 0.75, k);
    assert.equal(r.weightedAvg[k], 0.6666666666666666, k);
    assert.deepEqual(r.types.map((t) => r.perType[t]![k]), [0.5, 1], k);
  }
});

// seqeval tests/test_v1.py (strict IOB2): a type only in y_pred (C) has support 0.
const V1_TRUE: S = [['B-A', 'B-B', 'O', 'B-A']];
const V1_PRED: S = [['O', 'B-B', 'B-C', 'B-A']];

test('seqeval tests: test_v1 output_dict values (strict IOB2)', () => {
  const r = entityScores(V1_TRUE, V1_PRED, { mode: 'strict', scheme: 'IOB2' });
  assert.deepEqual(r.types, ['A', 'B', 'C']);
  assert.deepEqual(r.perType, {
    A: { f1: 0.6666666666666666, precision: 1.0, recall: 0.5, support: 2 },
    B: { f1: 1.0, precision: 1.0, recall: 1.0, support: 1 },
    C: { f1: 0.0, precision: 0.0, recall: 0.0, support: 0 },
  });
  assert.deepEqual(r.macroAvg, { f1: 0.5555555555555555, precision: 0.6666666666666666, recall: 0.5, support: 3 });
  assert.deepEqual([r.precision, r.recall, r.f1, r.support], [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 3]);
  assert.deepEqual(r.weightedAvg, { f1: 0.7777777777777777, precision: 1.0, recall: 0.6666666666666666, support: 3 });
  // Default mode finds the same entities here.
  const d = entityScores(V1_TRUE, V1_PRED);
  assert.deepEqual([d.macroAvg, d.weightedAvg, d.perType], [r.macroAvg, r.weightedAvg, r.perType]);
  assert.ok(r.warnings.some((w) => w.startsWith('Recall is ill-defined') && w.includes('C')), r.warnings.join('\n'));
});

test('seqeval tests: test_v1 output_string', () => {
  const expected = `\
              precision    recall  f1-score   support

           A       1.00      0.50      0.67         2
           B       1.00      1.00      1.00         1
           C       0.00      0.00      0.00         0

   micro avg       0.67      0.67      0.67         3
   macro avg       0.67      0.50      0.56         3
weighted avg       1.00      0.67      0.78         3
`;
  assert.equal(classificationReport(V1_TRUE, V1_PRED, { mode: 'strict', scheme: 'IOB2' }), expected);
});

test('seqeval tests: weighted average with no true entity is 0, length mismatch throws, warnings', () => {
  // test_weighted_true_sum_zero: ([['O']], [['O']], average='weighted') == (0.0, 0.0, 0.0, 0)
  const r = entityScores([['O']], [['O']], { mode: 'strict', scheme: 'IOB2' });
  assert.deepEqual(r.weightedAvg, { precision: 0, recall: 0, f1: 0, support: 0 });
  assert.deepEqual([r.precision, r.recall, r.f1, r.support], [0, 0, 0, 0]);
  // test_length
  assert.throws(() => entityScores([['B-PER']], [['B-PER', 'O']], { mode: 'strict', scheme: 'IOB2' }), /inconsistent/);
  assert.throws(() => entityScores([['B-PER']], [['B-PER'], ['O']]), /inconsistent/);
  // test_warning: y_true [['B-PER']], y_pred [['B-Test']] warns (precision of PER, recall of Test)
  const seen: string[] = [];
  const w = entityScores([['B-PER']], [['B-Test']], { mode: 'strict', scheme: 'IOB2', onWarning: (m) => seen.push(m) });
  assert.ok(seen.length >= 2 && seen.length === w.warnings.length);
  assert.deepEqual([w.precision, w.recall, w.f1], [0, 0, 0]);
});

test('seqeval docs/tests: get_entities examples (default mode)', () => {
  // get_entities docstring: ['B-PER', 'I-PER', 'O', 'B-LOC'] → [('PER', 0, 1), ('LOC', 3, 3)] (inclusive ends)
  const e1 = extractEntities([['B-PER', 'I-PER', 'O', 'B-LOC']]).map((e) => [e.type, e.start, e.end - 1]);
  assert.deepEqual(e1, [['PER', 0, 1], ['LOC', 3, 3]]);
  // tests/test_metrics.py test_get_entities
  const e2 = extractEntities([['O', 'O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'O', 'B-PER', 'I-PER']]).map((e) => [e.type, e.start, e.end - 1]);
  assert.deepEqual(e2, [['MISC', 3, 5], ['PER', 7, 8]]);
});

// --- seqeval tests/test_scheme.py: strict entity extraction tables ---------------------

/** `tokens → expected (type, start, end)` from test_scheme.py; tags without '-' are the "without_tag" tables. */
const SCHEME_TABLES: Record<TagScheme, [string, Array<[string, number, number]>][]> = {
  IOB1: [
    ['', []], ['B-PER', []], ['I-PER', [['PER', 0, 1]]], ['O', []], ['O I-PER', [['PER', 1, 2]]], ['O B-PER', []],
    ['I-PER O', [['PER', 0, 1]]], ['I-PER I-PER', [['PER', 0, 2]]], ['I-PER I-ORG', [['PER', 0, 1], ['ORG', 1, 2]]],
    ['I-PER B-PER', [['PER', 0, 1], ['PER', 1, 2]]], ['I-PER B-ORG', [['PER', 0, 1]]], ['B-PER O', []],
    ['B-PER I-PER', [['PER', 1, 2]]], ['B-PER I-ORG', [['ORG', 1, 2]]], ['B-PER B-PER', [['PER', 1, 2]]], ['B-PER B-ORG', []],
    ['B', []], ['I', [['_', 0, 1]]], ['O O', []], ['O I', [['_', 1, 2]]], ['O B', []], ['I O', [['_', 0, 1]]],
    ['I I', [['_', 0, 2]]], ['I B', [['_', 0, 1], ['_', 1, 2]]], ['B O', []], ['B I', [['_', 1, 2]]], ['B B', [['_', 1, 2]]],
  ],
  IOB2: [
    ['', []], ['B-PER', [['PER', 0, 1]]], ['I-PER', []], ['O', []], ['O I-PER', []], ['O B-PER', [['PER', 1, 2]]],
    ['I-PER O', []], ['I-PER I-PER', []], ['I-PER I-ORG', []], ['I-PER B-PER', [['PER', 1, 2]]], ['I-PER B-ORG', [['ORG', 1, 2]]],
    ['B-PER O', [['PER', 0, 1]]], ['B-PER I-PER', [['PER', 0, 2]]], ['B-PER I-ORG', [['PER', 0, 1]]],
    ['B-PER B-PER', [['PER', 0, 1], ['PER', 1, 2]]], ['B-PER B-ORG', [['PER', 0, 1], ['ORG', 1, 2]]],
    ['B', [['_', 0, 1]]], ['I', []], ['O O', []], ['O I', []], ['O B', [['_', 1, 2]]], ['I O', []], ['I I', []],
    ['I B', [['_', 1, 2]]], ['B O', [['_', 0, 1]]], ['B I', [['_', 0, 2]]], ['B B', [['_', 0, 1], ['_', 1, 2]]],
  ],
  IOE1: [
    // (seqeval comments out ['I-PER', 'E-PER'] and ['I', 'E']: a known IOE1 limitation.)
    ['', []], ['E-PER', []], ['I-PER', [['PER', 0, 1]]], ['O', []], ['O I-PER', [['PER', 1, 2]]], ['O E-PER', []],
    ['I-PER O', [['PER', 0, 1]]], ['I-PER I-PER', [['PER', 0, 2]]], ['I-PER I-ORG', [['PER', 0, 1], ['ORG', 1, 2]]],
    ['I-PER E-ORG', [['PER', 0, 1]]], ['E-PER O', []], ['E-PER I-PER', [['PER', 1, 2]]], ['E-PER I-ORG', [['ORG', 1, 2]]],
    ['E-PER E-PER', []], ['E-PER E-ORG', []],
    ['E', []], ['I', [['_', 0, 1]]], ['O O', []], ['O I', [['_', 1, 2]]], ['O E', []], ['I O', [['_', 0, 1]]],
    ['I I', [['_', 0, 2]]], ['E O', []], ['E I', [['_', 1, 2]]], ['E E', []],
  ],
  IOE2: [
    ['', []], ['E-PER', [['PER', 0, 1]]], ['I-PER', []], ['O', []], ['O I-PER', []], ['O E-PER', [['PER', 1, 2]]],
    ['I-PER O', []], ['I-PER I-PER', []], ['I-PER I-ORG', []], ['I-PER E-PER', [['PER', 0, 2]]], ['I-PER E-ORG', [['ORG', 1, 2]]],
    ['E-PER O', [['PER', 0, 1]]], ['E-PER I-PER', [['PER', 0, 1]]], ['E-PER I-ORG', [['PER', 0, 1]]],
    ['E-PER E-PER', [['PER', 0, 1], ['PER', 1, 2]]], ['E-PER E-ORG', [['PER', 0, 1], ['ORG', 1, 2]]],
    ['E', [['_', 0, 1]]], ['I', []], ['O O', []], ['O I', []], ['O E', [['_', 1, 2]]], ['I O', []], ['I I', []],
    ['I E', [['_', 0, 2]]], ['E O', [['_', 0, 1]]], ['E I', [['_', 0, 1]]], ['E E', [['_', 0, 1], ['_', 1, 2]]],
  ],
  IOBES: [
    ['O', []], ['I-PER', []], ['B-PER', []], ['E-PER', []], ['S-PER', [['PER', 0, 1]]], ['O O', []], ['O I-PER', []],
    ['O B-PER', []], ['O E-PER', []], ['O S-PER', [['PER', 1, 2]]], ['I-PER O', []], ['I-PER I-PER', []], ['I-PER I-ORG', []],
    ['I-PER B-PER', []], ['I-PER E-PER', []], ['I-PER E-ORG', []], ['I-PER S-PER', [['PER', 1, 2]]], ['B-PER O', []],
    ['B-PER I-PER', []], ['B-PER I-ORG', []], ['B-PER B-PER', []], ['B-PER E-PER', [['PER', 0, 2]]], ['B-PER E-ORG', []],
    ['B-PER S-PER', [['PER', 1, 2]]], ['E-PER O', []], ['E-PER I-PER', []], ['E-PER B-PER', []], ['E-PER E-PER', []],
    ['E-PER S-PER', [['PER', 1, 2]]], ['S-PER O', [['PER', 0, 1]]], ['S-PER I-PER', [['PER', 0, 1]]],
    ['S-PER B-PER', [['PER', 0, 1]]], ['S-PER E-PER', [['PER', 0, 1]]], ['S-PER S-PER', [['PER', 0, 1], ['PER', 1, 2]]],
    ['S', [['_', 0, 1]]], ['B E', [['_', 0, 2]]], ['B S', [['_', 1, 2]]], ['S E', [['_', 0, 1]]], ['B B', []], ['E E', []],
  ],
  BILOU: [
    ['O', []], ['I-PER', []], ['B-PER', []], ['L-PER', []], ['U-PER', [['PER', 0, 1]]], ['O O', []], ['O I-PER', []],
    ['O B-PER', []], ['O L-PER', []], ['O U-PER', [['PER', 1, 2]]], ['I-PER O', []], ['I-PER I-PER', []], ['I-PER I-ORG', []],
    ['I-PER B-PER', []], ['I-PER L-PER', []], ['I-PER L-ORG', []], ['I-PER U-PER', [['PER', 1, 2]]], ['B-PER O', []],
    ['B-PER I-PER', []], ['B-PER I-ORG', []], ['B-PER B-PER', []], ['B-PER L-PER', [['PER', 0, 2]]], ['B-PER L-ORG', []],
    ['B-PER U-PER', [['PER', 1, 2]]], ['L-PER O', []], ['L-PER I-PER', []], ['L-PER B-PER', []], ['L-PER L-PER', []],
    ['L-PER U-PER', [['PER', 1, 2]]], ['U-PER O', [['PER', 0, 1]]], ['U-PER I-PER', [['PER', 0, 1]]],
    ['U-PER B-PER', [['PER', 0, 1]]], ['U-PER L-PER', [['PER', 0, 1]]], ['U-PER U-PER', [['PER', 0, 1], ['PER', 1, 2]]],
    ['U', [['_', 0, 1]]], ['B L', [['_', 0, 2]]], ['B U', [['_', 1, 2]]], ['U L', [['_', 0, 1]]], ['L L', []],
  ],
};

test('seqeval tests: strict entity tables of test_scheme.py, all six schemes', () => {
  for (const [scheme, rows] of Object.entries(SCHEME_TABLES) as [TagScheme, (typeof SCHEME_TABLES)['IOB1']][]) {
    for (const [tokens, expected] of rows) {
      const seq = tokens === '' ? [] : tokens.split(' ');
      const got = strictModeEntities([seq], scheme).map((e) => [e.type, e.start, e.end]);
      assert.deepEqual(got, expected, `${scheme} ${JSON.stringify(seq)}`);
    }
  }
});

test('seqeval tests: strict mode rejects prefixes outside the scheme', () => {
  // test_raise_exception_when_iobes_tokens_with_iob2_scheme; test_invalid_prefix
  assert.throws(() => strictModeEntities([['B-PER', 'E-PER', 'S-PER']], 'IOB2'), /invalid prefix "E"/);
  for (const [tag, scheme] of [['E', 'IOB1'], ['S', 'IOB1'], ['E', 'IOB2'], ['S', 'IOB2'], ['B', 'IOE1'], ['S', 'IOE1'], ['B', 'IOE2'], ['S', 'IOE2']] as const) {
    assert.throws(() => strictModeEntities([[tag]], scheme), /invalid prefix/, `${tag} ${scheme}`);
  }
  // TestIOB2Token.test_invalid_prefix: unknown letter 'T'; TestToken: empty string
  assert.throws(() => strictModeEntities([['T']], 'IOB2'), /unknown prefix/);
  assert.throws(() => entityScores([['']], [['O']], { mode: 'strict', scheme: 'IOB2' }), /empty tag/);
  assert.throws(() => entityScores([['']], [['O']]), /empty tag/);
  // Strict needs a scheme (seqeval would silently fall back to default mode in f1_score).
  assert.throws(() => entityScores(DOC_TRUE, DOC_PRED, { mode: 'strict' }), /requires an explicit scheme/);
  // test_token_tag: 'I-ORG-COMPANY' → 'ORG-COMPANY'; 'I-組織' → '組織'
  assert.deepEqual(strictModeEntities([['I-ORG-COMPANY', 'O', 'B-組織']], 'IOB2').map((e) => e.type), ['組織']);
  assert.deepEqual(strictModeEntities([['I-ORG-COMPANY']], 'IOB1').map((e) => e.type), ['ORG-COMPANY']);
});

// --- Hand-derived edge cases ---------------------------------------------------------

const f1 = (p: number, r: number): number => (p + r === 0 ? 0 : (2 * p * r) / (p + r));

test('edge: entities at sentence start and end; entities never cross sentences', () => {
  // Each sentence starts and ends with an entity; identical prediction → 1.
  const t: S = [['B-PER', 'I-PER'], ['B-LOC'], ['I-ORG', 'O', 'B-ORG']];
  const r = entityScores(t, t);
  assert.deepEqual([r.precision, r.recall, r.f1, r.support], [1, 1, 1, 4]);
  // Default mode appends 'O' after each sentence: I-PER | I-PER are two entities (positions 0 and 2).
  const e = extractEntities([['I-PER'], ['I-PER']]);
  assert.deepEqual(e.map((x) => [x.type, x.start, x.end]), [['PER', 0, 1], ['PER', 2, 3]]);
  // Predicting the first sentence's entity one token short at the end: true PER[0,2) LOC[3,4) ORG[5,6) ORG[7,8);
  // pred PER[0,1) → tp 3 of 4 pred and 4 true → P = R = 3/4.
  const p: S = [['B-PER', 'O'], ['B-LOC'], ['I-ORG', 'O', 'B-ORG']];
  const q = entityScores(t, p);
  assert.deepEqual([q.precision, q.recall, q.f1], [0.75, 0.75, 0.75]);
  assert.deepEqual(q.perType.PER, { precision: 0, recall: 0, f1: 0, support: 1 });
});

test('edge: I- without B- is an entity in default mode but not in strict IOB2', () => {
  const t: S = [['I-PER', 'I-PER', 'O']];
  const p: S = [['B-PER', 'I-PER', 'O']];
  // default: I after O starts a chunk → true PER[0,2) = pred PER[0,2)
  const d = entityScores(t, p);
  assert.deepEqual([d.precision, d.recall, d.f1, d.support], [1, 1, 1, 1]);
  // strict IOB2: I-PER cannot start an entity → y_true has none; pred PER[0,2) is a false positive.
  const s = entityScores(t, p, { mode: 'strict', scheme: 'IOB2' });
  assert.deepEqual([s.precision, s.recall, s.f1, s.support], [0, 0, 0, 0]);
  assert.deepEqual(s.perType, { PER: { precision: 0, recall: 0, f1: 0, support: 0 } });
  assert.ok(s.warnings.some((w) => w.startsWith('Recall is ill-defined')));
  // strict IOB1: I-PER I-PER is a proper entity.
  const s1 = entityScores(t, t, { mode: 'strict', scheme: 'IOB1' });
  assert.equal(s1.support, 1);
});

test('edge: a type change inside a span', () => {
  // default: B-PER then I-LOC ends PER (type change) and starts LOC → PER[0,1), LOC[1,2)
  assert.deepEqual(extractEntities([['B-PER', 'I-LOC', 'O']]).map((e) => [e.type, e.start, e.end]), [['PER', 0, 1], ['LOC', 1, 2]]);
  // default: I-PER I-LOC likewise two entities
  assert.deepEqual(extractEntities([['I-PER', 'I-LOC']]).map((e) => [e.type, e.start, e.end]), [['PER', 0, 1], ['LOC', 1, 2]]);
  // strict IOB2: B-PER is a well-formed entity ended by I-LOC (end rule B→I with another type);
  // I-LOC cannot start one → only PER[0,1).
  assert.deepEqual(
    extractEntities([['B-PER', 'I-LOC', 'O']], { mode: 'strict', scheme: 'IOB2' }).map((e) => [e.type, e.start, e.end]),
    [['PER', 0, 1]],
  );
  // Scoring: true B-PER I-PER vs pred B-PER I-LOC: default pred PER[0,1), LOC[1,2) vs true PER[0,2) → tp 0.
  const r = entityScores([['B-PER', 'I-PER']], [['B-PER', 'I-LOC']]);
  assert.deepEqual([r.precision, r.recall, r.support, r.counts.total.predicted], [0, 0, 1, 2]);
});

test('edge: empty sentences, all-O, no entities at all (no NaN)', () => {
  const r = entityScores([[], ['B-PER'], []], [[], ['B-PER'], []]);
  assert.deepEqual([r.precision, r.recall, r.f1, r.support], [1, 1, 1, 1]);
  for (const [t, p] of [[[[]], [[]]], [[['O', 'O']], [['O', 'O']]], [[], []]] as [S, S][]) {
    for (const opts of [{}, { mode: 'strict', scheme: 'IOB2' }] as const) {
      const z = entityScores(t, p, opts);
      assert.deepEqual([z.precision, z.recall, z.f1, z.support], [0, 0, 0, 0]);
      assert.deepEqual([z.macroAvg, z.weightedAvg], [{ precision: 0, recall: 0, f1: 0, support: 0 }, { precision: 0, recall: 0, f1: 0, support: 0 }]);
      assert.deepEqual(z.types, []);
      assert.ok(z.warnings.length > 0);
      assert.ok(!classificationReport(t, p, opts).includes('NaN'));
    }
  }
  // All-O prediction against real entities: precision 0/0 → 0 with a warning, recall 0.
  const a = entityScores([['B-PER', 'O']], [['O', 'O']]);
  assert.deepEqual([a.precision, a.recall, a.f1, a.support], [0, 0, 0, 1]);
  assert.ok(a.warnings.some((w) => w.startsWith('Precision is ill-defined')));
});

test('edge: E-/S- prefixes in default mode (conlleval understands IOBES)', () => {
  // true: B-PER E-PER → PER[0,2); S-LOC → LOC[2,3).  pred: S-PER, S-PER, S-LOC → PER[0,1), PER[1,2), LOC[2,3).
  // tp = 1 (LOC); P = 1/3, R = 1/2, F1 = 2·(1/3)(1/2)/(1/3+1/2) = 0.4.
  const t: S = [['B-PER', 'E-PER', 'S-LOC', 'O']];
  const p: S = [['S-PER', 'S-PER', 'S-LOC', 'O']];
  const r = entityScores(t, p);
  assert.equal(r.precision, 1 / 3);
  assert.equal(r.recall, 1 / 2);
  assert.equal(r.f1, f1(1 / 3, 1 / 2));
  assert.ok(Math.abs(r.f1 - 0.4) < 1e-15);
  // IOE2 in default mode: I-PER E-PER E-LOC → PER[0,2), LOC[2,3)
  assert.deepEqual(extractEntities([['I-PER', 'E-PER', 'E-LOC']]).map((e) => [e.type, e.start, e.end]), [['PER', 0, 2], ['LOC', 2, 3]]);
});

test('edge: strict mode with IOBES and BILOU drops ill-formed entities', () => {
  // IOBES: pred B-PER I-PER I-PER has no E-PER → dropped; S-LOC kept. true PER[0,3), LOC[3,4).
  // strict: tp 1, pred 1, true 2 → P = 1, R = 0.5, F1 = 2/3.  default: pred PER[0,3) (ended by S) → all correct.
  const t: S = [['B-PER', 'I-PER', 'E-PER', 'S-LOC']];
  const p: S = [['B-PER', 'I-PER', 'I-PER', 'S-LOC']];
  const s = entityScores(t, p, { mode: 'strict', scheme: 'IOBES' });
  assert.deepEqual([s.precision, s.recall, s.f1], [1, 0.5, f1(1, 0.5)]);
  const d = entityScores(t, p);
  assert.deepEqual([d.precision, d.recall, d.f1], [1, 1, 1]);
  // BILOU: pred B-PER I-PER has no L-PER → dropped; U-LOC kept.
  const bt: S = [['B-PER', 'L-PER', 'U-LOC']];
  const bp: S = [['B-PER', 'I-PER', 'U-LOC']];
  const b = entityScores(bt, bp, { mode: 'strict', scheme: 'BILOU' });
  assert.deepEqual([b.precision, b.recall, b.support], [1, 0.5, 2]);
  assert.equal(entityScores(bt, bt, { mode: 'strict', scheme: 'BILOU' }).f1, 1);
  // IOBES tags are rejected by strict BILOU (S is not a BILOU prefix).
  assert.throws(() => entityScores(t, t, { mode: 'strict', scheme: 'BILOU' }), /invalid prefix "E"/);
});

test('edge: BILOU in default mode (seqeval quirk vs scheme: BILOU extension)', () => {
  // seqeval's default chunker has no U/L rules: U-PER U-PER has no type change, so it is ONE
  // entity PER[0,2), and each U-/L- tag warns "seems not to be NE tag".
  const plain = entityScores([['U-PER', 'U-PER']], [['U-PER', 'U-PER']]);
  assert.equal(plain.support, 1);
  assert.ok(plain.warnings.includes('U-PER seems not to be NE tag.'));
  // With scheme 'BILOU', L/U are read as E/S: two entities, no warning.
  const ext = entityScores([['U-PER', 'U-PER', 'B-LOC', 'L-LOC']], [['U-PER', 'U-PER', 'B-LOC', 'L-LOC']], { scheme: 'BILOU' });
  assert.equal(ext.support, 3);
  assert.deepEqual(ext.warnings, []);
});

test('report: Python rounding (half-to-even on exact binary ties) and formatFixed', () => {
  // Python: format(0.125, '.2f') == '0.12', format(0.375, '.2f') == '0.38', format(2.5, '.0f') == '2'.
  assert.equal(formatFixed(0.125, 2), '0.12');
  assert.equal(formatFixed(0.375, 2), '0.38');
  assert.equal(formatFixed(2.5, 0), '2');
  assert.equal(formatFixed(1.5, 0), '2');
  assert.equal(formatFixed(2 / 3, 2), '0.67');
  assert.equal(formatFixed(1, 4), '1.0000');
  assert.equal(formatFixed(0, 2), '0.00');
  assert.equal(formatFixed(0.1, 20), '0.10000000000000000555'); // exact binary value of 0.1
  assert.equal(formatFixed(1e21, 1), '1000000000000000000000.0');
  assert.equal(formatFixed(-0.5, 0), '-0');
  // 8 predicted PER entities, 1 correct → precision exactly 0.125 → printed 0.12 (JS toFixed gives 0.13).
  const t: S = [['B-PER', 'O', 'O', 'O', 'O', 'O', 'O', 'O']];
  const p: S = [['B-PER', 'B-PER', 'B-PER', 'B-PER', 'B-PER', 'B-PER', 'B-PER', 'B-PER']];
  const rep = classificationReport(t, p);
  assert.match(rep, /\n {9}PER {7}0\.12 {6}1\.00 {6}0\.22 {9}1\n/);
});

test('numpy pairwise summation', () => {
  // Associativity matters beyond 8 terms: compare against the definition for a few sizes.
  const r = rng(7);
  for (const n of [0, 1, 7, 8, 9, 15, 16, 17, 100, 128, 129, 300]) {
    const a = Array.from({ length: n }, () => r.uniform(0, 1) * 10 ** r.int(6));
    const s = pairwiseSum(a);
    let naive = 0;
    for (const x of a) naive += x;
    assert.ok(Math.abs(s - naive) <= 1e-9 * Math.max(1, Math.abs(naive)), `n=${n}`);
  }
  // n < 8 is plain left-to-right from 0.
  assert.equal(pairwiseSum([0.1, 0.2, 0.3]), 0.1 + 0.2 + 0.3);
  // 8 ≤ n ≤ 128: ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) then the tail.
  const a = [1e16, 1, -1e16, 1, 1, 1, 1, 1, 1];
  assert.equal(pairwiseSum(a), (((1e16 + 1) + (-1e16 + 1)) + ((1 + 1) + (1 + 1))) + 1);
});

// --- Property test vs an independent default-mode implementation -----------------------

/**
 * Independent formulation of conlleval chunking for tags in {O, B-X, I-X, E-X, S-X}:
 * a non-O token starts a new chunk if its prefix is B or S, or the previous token
 * (sentence start counts as O) is O, E-* or S-*, or has another type. A chunk is the
 * run from a start up to (excluding) the next start, the next O, or after an E/S token.
 */
function simpleEntities(sentences: S): Set<string> {
  const out = new Set<string>();
  let offset = 0;
  for (const sent of sentences) {
    const pre = sent.map((t) => t[0]!);
    const typ = sent.map((t) => (t === 'O' ? '' : t.slice(2)));
    let start = -1;
    for (let i = 0; i <= sent.length; i++) {
      const isO = i === sent.length || pre[i] === 'O';
      const prevClosed = i === 0 || pre[i - 1] === 'O' || pre[i - 1] === 'E' || pre[i - 1] === 'S';
      const starts = !isO && (pre[i] === 'B' || pre[i] === 'S' || prevClosed || typ[i - 1] !== typ[i]);
      if (start >= 0 && (isO || starts)) {
        out.add(`${typ[start]}@${offset + start}-${offset + i}`);
        start = -1;
      }
      if (starts) start = i;
      if (start >= 0 && (pre[i] === 'E' || pre[i] === 'S')) {
        out.add(`${typ[start]}@${offset + start}-${offset + i + 1}`);
        start = -1;
      }
    }
    offset += sent.length + 1;
  }
  return out;
}

test('property: default mode equals an independent conlleval chunker (random tags)', () => {
  const r = rng(2024);
  const letters = ['O', 'O', 'B', 'I', 'E', 'S'];
  const types = ['A', 'B', 'LONG-TYPE'];
  const tag = (): string => {
    const l = letters[r.int(letters.length)]!;
    return l === 'O' ? 'O' : `${l}-${types[r.int(types.length)]}`;
  };
  for (let trial = 0; trial < 400; trial++) {
    const ns = 1 + r.int(5);
    const t: S = [];
    const p: S = [];
    for (let s = 0; s < ns; s++) {
      const n = r.int(9);
      const ts = Array.from({ length: n }, tag);
      t.push(ts);
      p.push(ts.map((x) => (r.next() < 0.3 ? tag() : x)));
    }
    const et = simpleEntities(t);
    const ep = simpleEntities(p);
    const mine = new Set(extractEntities(t).map((e) => `${e.type}@${e.start}-${e.end}`));
    assert.deepEqual(mine, et, JSON.stringify(t));
    let tp = 0;
    for (const k of ep) if (et.has(k)) tp++;
    const res = entityScores(t, p);
    const P = ep.size === 0 ? 0 : tp / ep.size;
    const R = et.size === 0 ? 0 : tp / et.size;
    assert.deepEqual([res.precision, res.recall, res.f1, res.support], [P, R, f1(P, R), et.size], JSON.stringify({ t, p }));
    // Per-type supports add up.
    assert.equal(res.types.reduce((a, k) => a + res.perType[k]!.support, 0), et.size);
  }
});
