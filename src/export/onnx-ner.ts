// A NER tagger (apps/ner-model.ts) as an ONNX file: the features, the word BiGRU stack and the
// emissions as exportOnnx writes layers, then the decoding, so the file outputs tags:
//   inputs   words int32 [batch, time]          word ids, 0 after a sentence's end
//            cases int32 [batch, time]          case classes (with a case feature)
//            chars int32 [batch, time, chars]   character ids of each word, 0-padded (with char features)
//   outputs  tags int32 [batch, time]           label ids, -1 after a sentence's end
//            emissions float32 [batch, time, K] the scores the tags are decoded from
// nerInputs(tagger, sentences) makes the inputs from tokens; the file's metadata_props
// 'rnnkit.ner' holds what making them needs elsewhere (vocabularies, case classes, labels).
//
// The character features run over every (sentence, word) position: the char BiRNN's last
// states (a RecurrentLayer, masked), or the char CNN as a Conv over the word's characters
// (zero outside the word), max over its characters, tanh. Positions after a sentence's end are
// zeroed before the word BiGRUs, as the tagger does.
//
// Decoding. Softmax: the arg max per word. CRF: Viterbi in float64, as crfViterbiBatch: δ_0 =
// start + e_0; δ_t[j] = max_i (δ_{t-1}[i] + A[i, j]) + e_t[j], arg max the first maximum; the
// constraints of the scheme as −∞ in A, start and end. Two Loop operators: forward over the steps
// (a row past its end keeps its δ, with back pointers that point to themselves), then back from
// arg max_j (δ[j] + end[j]).
import type { NerTagger } from '../apps/ner-model.js';
import { CASE_CLASSES } from '../apps/ner-model.js';
import { affine, GraphBuilder, I32, I64, recurrent, reverseSteps, serialize, type OnnxExport, type OnnxTensorInfo, type Val } from './onnx.js';
import { attr, DataType } from './onnx-proto.js';

const F64 = DataType.DOUBLE, BOOL = DataType.BOOL;

/** Input arrays for a batch of tokenized sentences, padded to the longest (sentence and word). */
export function nerInputs(tagger: NerTagger, sentences: readonly (readonly string[])[]): {
  words: Int32Array; cases: Int32Array; chars: Int32Array; B: number; T: number; C: number;
} {
  const B = sentences.length, T = Math.max(1, ...sentences.map((s) => s.length));
  const ids = sentences.map((s) => s.map((w) => tagger.charIds(w)));
  const C = Math.max(1, ...ids.flat().map((c) => c.length));
  const words = new Int32Array(B * T), cases = new Int32Array(B * T), chars = new Int32Array(B * T * C);
  sentences.forEach((s, b) => {
    const e = tagger.encode(s);
    words.set(e.words, b * T);
    cases.set(e.cases, b * T);
    ids[b]!.forEach((c, t) => chars.set(c, (b * T + t) * C));
  });
  return { words, cases, chars, B, T, C };
}

/** Viterbi over em [B, T, K] (float32) with the mask [B, T]: label ids [B, T] (int64; past the end, the last label). */
function viterbi(g: GraphBuilder, em: string, mask: string, crf: { transitions: Float32Array; start: Float32Array; end: Float32Array }, allowed: NerTagger['constraints'], K: number): string {
  const eff = (v: Float32Array, ok: Uint8Array): Float64Array => Float64Array.from(v, (x, i) => (ok[i] ? x : -Infinity));
  const A = g.tensor('transitions', [K, K], eff(crf.transitions, allowed.transitions), F64);
  const start = g.tensor('start', [K], eff(crf.start, allowed.start), F64);
  const end = g.tensor('end', [K], eff(crf.end, allowed.end), F64);
  const iota = g.tensor('labels', [K], Array.from({ length: K }, (_, k) => k), I64);
  // One padded step more (a row past its end stays put there), so that the loops below run at
  // least once: a Loop of zero iterations has scan outputs of unknown shape (onnxruntime 1.30
  // then gives them rank 1 and aborts the process in the Concat after).
  const em0 = g.op('Cast', [g.op('Transpose', [em], [attr.ints('perm', [1, 0, 2])])], [attr.int('to', F64)]); // [T, B, K]
  const first = (v: string): string => g.op('Slice', [v, g.i64(0), g.i64(1), g.i64(0)]);
  const emT = g.op('Concat', [em0, g.op('Mul', [first(em0), g.constant(F64, [], [0])])], [attr.int('axis', 0)]); // [T+1, B, K]
  const mask0 = g.op('Transpose', [mask], [attr.ints('perm', [1, 0])]); // [T, B]
  const maskT = g.op('Concat', [mask0, g.op('And', [first(mask0), g.constant(BOOL, [], [0])])], [attr.int('axis', 0)]);
  const T = g.op('Squeeze', [g.op('Shape', [em], [attr.int('start', 1), attr.int('end', 2)])]);
  const steps = T; // (T + 1) - 1 transitions
  const delta0 = g.op('Add', [start, g.op('Gather', [emT, g.scalarI64(0)], [attr.int('axis', 0)])]); // [B, K]

  // Forward: carried δ [B, K]; scanned back pointers of steps 1..T, [T, B, K].
  const fw = g.child();
  const [it, condIn, dIn] = [fw.fresh('t'), fw.fresh('cond'), fw.fresh('delta')];
  const t = fw.op('Add', [it, fw.scalarI64(1)]);
  const s = fw.op('Add', [fw.op('Unsqueeze', [dIn, fw.i64(2)]), A]); // [B, K(i), K(j)]
  const best = fw.op('ReduceMax', [s], [attr.ints('axes', [1]), attr.int('keepdims', 0)]);
  const arg = fw.op('ArgMax', [s], [attr.int('axis', 1), attr.int('keepdims', 0), attr.int('select_last_index', 0)]);
  const live = fw.op('Unsqueeze', [fw.op('Gather', [maskT, t], [attr.int('axis', 0)]), fw.i64(1)]); // [B, 1]
  const dOut = fw.op('Where', [live, fw.op('Add', [best, fw.op('Gather', [emT, t], [attr.int('axis', 0)])]), dIn]);
  const bp = fw.op('Where', [live, arg, iota]);
  const condOut = fw.op('Identity', [condIn]);
  const [deltaN, bps] = g.ops('Loop', [steps, '', delta0], 2, [attr.graph('body', {
    name: 'viterbi_forward', nodes: fw.nodes,
    inputs: [{ name: it, elemType: I64, shape: [] }, { name: condIn, elemType: BOOL, shape: [] }, { name: dIn, elemType: F64 }],
    outputs: [{ name: condOut, elemType: BOOL, shape: [] }, { name: dOut, elemType: F64 }, { name: bp, elemType: I64 }],
  })]);
  const last = g.op('ArgMax', [g.op('Add', [deltaN!, end])], [attr.int('axis', 1), attr.int('keepdims', 0), attr.int('select_last_index', 0)]); // [B]

  // Back: carried label [B] (from the padded step T); scanned labels at t = T-1 ... 0.
  const bw = g.child();
  const [jt, cIn, yIn] = [bw.fresh('k'), bw.fresh('cond'), bw.fresh('label')];
  const at = bw.op('Sub', [bw.op('Sub', [steps, jt]), bw.scalarI64(1)]); // the pointers of step T-k, in bps[T-1-k]
  const ptr = bw.op('Gather', [bps!, at], [attr.int('axis', 0)]); // [B, K]
  const yOut = bw.op('Squeeze', [bw.op('GatherElements', [ptr, bw.op('Unsqueeze', [yIn, bw.i64(1)])], [attr.int('axis', 1)]), bw.i64(1)]);
  const yScan = bw.op('Identity', [yOut]);
  const cOut = bw.op('Identity', [cIn]);
  const [, earlier] = g.ops('Loop', [steps, '', last], 2, [attr.graph('body', {
    name: 'viterbi_back', nodes: bw.nodes,
    inputs: [{ name: jt, elemType: I64, shape: [] }, { name: cIn, elemType: BOOL, shape: [] }, { name: yIn, elemType: I64 }],
    outputs: [{ name: cOut, elemType: BOOL, shape: [] }, { name: yOut, elemType: I64 }, { name: yScan, elemType: I64 }],
  })]);
  // [T, B], from step T-1 back to 0 -> in time order, [B, T] (the padded step's label is not kept).
  const forwards = reverseSteps(g, earlier!, 0);
  return g.op('Transpose', [forwards], [attr.ints('perm', [1, 0])]);
}

/** The tagger as ONNX bytes (see the header for its inputs and outputs). */
export function exportNerOnnx(tagger: NerTagger): OnnxExport {
  const g = new GraphBuilder();
  const cfg = tagger.config, p = tagger.parts, K = tagger.K;
  const inputs: OnnxTensorInfo[] = [{ name: 'words', type: 'int32', shape: ['batch', 'time'] }];
  if (p.caseEmb) inputs.push({ name: 'cases', type: 'int32', shape: ['batch', 'time'] });
  if (p.charEmb) inputs.push({ name: 'chars', type: 'int32', shape: ['batch', 'time', 'chars'] });
  for (const i of inputs) g.reserve(i.name);
  for (const n of ['tags', 'emissions']) g.reserve(n);
  const table = (layer: NerTagger['parts']['wordEmb'], ids: string): string => {
    g.scope = layer.name;
    const { inputDim, outputDim } = layer.options;
    const y = g.op('Gather', [g.tensor('embeddings', [inputDim, outputDim], layer.params.value('embeddings')), ids], [attr.int('axis', 0)]);
    g.scope = '';
    return y;
  };
  const mask = g.op('Not', [g.op('Equal', [inputs[0]!.name, g.constant(I32, [], [0])])]); // [B, T]
  const features = [table(p.wordEmb, 'words')];
  if (p.caseEmb) features.push(table(p.caseEmb, 'cases'));
  if (p.charEmb) {
    // Every word's characters as one batch of sequences: [B·T, C].
    const BT = g.op('Shape', ['chars'], [attr.int('start', 0), attr.int('end', 2)]);
    const flat = g.op('Reshape', ['chars', g.op('Concat', [g.i64(-1), g.op('Shape', ['chars'], [attr.int('start', 2)])], [attr.int('axis', 0)])]);
    const cmask = g.op('Not', [g.op('Equal', [flat, g.constant(I32, [], [0])])]);
    const ce = table(p.charEmb, flat); // [B·T, C, D]
    let cf: string;
    if (p.charRnn) {
      g.scope = p.charRnn.name;
      cf = recurrent(g, p.charRnn, [{ name: ce, shape: [null, cfg.charDim], mask: cmask }], null)[0]!.name;
    } else {
      const c = p.charCnn!, { window: w, dim: D, filters: Fn } = c, half = (w - 1) / 2;
      g.scope = 'char_cnn';
      // kernel [(k·D + d), f] -> Conv weight [f, d, k].
      const W = new Float32Array(Fn * D * w);
      for (let f = 0; f < Fn; f++) for (let d = 0; d < D; d++) for (let k = 0; k < w; k++) W[(f * D + d) * w + k] = c.kernel[(k * D + d) * Fn + f]!;
      const zeroed = g.op('Where', [g.op('Unsqueeze', [cmask, g.i64(2)]), ce, g.scalarF(0)]);
      const z = g.op('Conv', [g.op('Transpose', [zeroed], [attr.ints('perm', [0, 2, 1])]), g.tensor('kernel', [Fn, D, w], W), g.tensor('bias', [Fn], c.bias)], [attr.ints('pads', [half, half])]); // [B·T, F, C]
      const inWord = g.op('Where', [g.op('Unsqueeze', [cmask, g.i64(1)]), z, g.scalarF(-Infinity)]);
      cf = g.op('Tanh', [g.op('ReduceMax', [inWord], [attr.ints('axes', [2]), attr.int('keepdims', 0)])]);
    }
    g.scope = '';
    features.push(g.op('Reshape', [cf, g.op('Concat', [BT, g.i64(-1)], [attr.int('axis', 0)])]));
  }
  let x = features.length > 1 ? g.op('Concat', features, [attr.int('axis', -1)]) : features[0]!;
  x = g.op('Where', [g.op('Unsqueeze', [mask, g.i64(2)]), x, g.scalarF(0)]);
  let v: Val = { name: x, shape: [null, tagger.inputWidth], mask };
  for (const r of p.rnns) {
    g.scope = r.name;
    v = recurrent(g, r, [v], null)[0]!;
  }
  g.scope = p.dense.name;
  const em = affine(g, p.dense, v.name, 'kernel', 'bias', 2 * cfg.units, K);
  g.scope = '';
  const labels = p.crf
    ? viterbi(g, em, mask, p.crf, tagger.constraints, K)
    : g.op('ArgMax', [em], [attr.int('axis', 2), attr.int('keepdims', 0), attr.int('select_last_index', 0)]);
  const tags = g.op('Where', [mask, g.op('Cast', [labels], [attr.int('to', I32)]), g.constant(I32, [], [-1])]);
  g.nodes.push({ opType: 'Identity', inputs: [tags], outputs: ['tags'], name: g.fresh('tags_node') });
  g.nodes.push({ opType: 'Identity', inputs: [em], outputs: ['emissions'], name: g.fresh('emissions_node') });
  const outputs: OnnxTensorInfo[] = [
    { name: 'tags', type: 'int32', shape: ['batch', 'time'] },
    { name: 'emissions', type: 'float32', shape: ['batch', 'time', K] },
  ];
  const ner = {
    labels: tagger.labels, scheme: tagger.scheme, caseClasses: CASE_CLASSES,
    words: { lowercase: cfg.lowercase, zeroDigits: cfg.zeroDigits, vocabulary: tagger.words.toJSON() },
    ...(p.charEmb ? { chars: { maxWordLen: cfg.maxWordLen, vocabulary: tagger.chars.toJSON() } } : {}),
  };
  return serialize(g, 'ner_tagger', inputs, outputs, { 'rnnkit.ner': JSON.stringify(ner) });
}
