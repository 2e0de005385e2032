// Functional models: any directed acyclic graph of layers recorded with rnn.input() and
// layer.apply() — several inputs, merges, encoder states passed into a decoder — trained with the
// same compile / fit / evaluate / predict as Sequential.
//
//   const src = rnn.input({ shape: [null] }), tgt = rnn.input({ shape: [null] });
//   const [, h, c] = rnn.layers.lstm({ units: 64, returnState: true }).apply(embedSrc.apply(src));
//   const y = rnn.layers.lstm({ units: 64, returnSequences: true }).apply(embedTgt.apply(tgt), { initialState: [h, c] });
//   const model = rnn.model({ inputs: [src, tgt], outputs: rnn.layers.dense({ units: V, activation: 'softmax' }).apply(y) });
import { ActivationSlot, getBackend } from '../kernels/index.js';
import { Embedding, type Dense as DenseLayer, type TableRows } from '../layers/core.js';
import { hasTrainableParams, shapeStr, type Act, type Layer, type Shape } from '../layers/layer.js';
import { savedLayerConfig } from '../layers/regularizers.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import { isMultiLayer, type GraphNode, type SymbolicTensor } from '../layers/symbolic.js';
import type { Dense } from './data-input.js';
import { layerTypeName, Model, padValueOf } from './sequential.js';

export interface GraphModelOptions {
  inputs: SymbolicTensor | SymbolicTensor[];
  outputs: SymbolicTensor;
  name?: string;
}

export class GraphModel extends Model {
  readonly inputs: SymbolicTensor[];
  readonly output: SymbolicTensor;
  /** Nodes in an order where every node comes after the nodes it reads from. */
  readonly nodes: GraphNode[];
  private values = new Map<SymbolicTensor, Act>();
  /** Buffers for the sums of gradients of tensors read by more than one node (backwardAll). */
  private readonly sumSlots = new Map<SymbolicTensor, ActivationSlot>();
  /**
   * Embedding nodes whose output feeds only a recurrent layer's input, with that node: they run
   * as one step when it pays, as in Sequential (see Embedding.tableRows).
   */
  private readonly tablePairs = new Map<GraphNode, GraphNode>();
  /** Recurrent nodes that ran on table rows in the last forward, with the embedding that made them. */
  private tables = new Map<GraphNode, { emb: Embedding; rows: TableRows }>();

  constructor(o: GraphModelOptions) {
    super(o.name ?? 'model');
    this.inputs = Array.isArray(o.inputs) ? o.inputs : [o.inputs];
    this.output = o.outputs;
    if (Array.isArray(o.outputs)) throw new RangeError(`${this.name}: models train one output; pass outputs: tensor`);
    for (const t of this.inputs) if (t.node !== null) throw new RangeError(`${this.name}: inputs must come from rnn.input(), got ${t}`);
    this.nodes = this.topoSort();
    const seen = new Set<Layer>();
    for (const n of this.nodes) {
      // A layer keeps the activations of its last forward for backward: one use per model.
      if (seen.has(n.layer)) throw new RangeError(`${this.name}: layer '${n.layer.name}' is applied twice; create a second layer (weight sharing is not supported)`);
      seen.add(n.layer);
    }
    for (const n of this.nodes) {
      if (!(n.layer instanceof Embedding) || n.outputs[0] === this.output) continue;
      const out = n.outputs[0]!;
      const readers = this.nodes.filter((m) => m.inputs.includes(out));
      const r = readers[0];
      if (readers.length === 1 && r!.layer instanceof RecurrentLayer && r!.inputs.indexOf(out) === 0 && r!.inputs.lastIndexOf(out) === 0) {
        this.tablePairs.set(n, r!);
      }
    }
    this.packParameters();
  }

  private topoSort(): GraphNode[] {
    const order: GraphNode[] = [], state = new Map<GraphNode, 1 | 2>();
    const inputs = new Set(this.inputs);
    const visit = (t: SymbolicTensor): void => {
      if (t.node === null) {
        if (!inputs.has(t)) throw new RangeError(`${this.name}: the output depends on ${t}, which is not among the model's inputs`);
        return;
      }
      const s = state.get(t.node);
      if (s === 2) return;
      if (s === 1) throw new RangeError(`${this.name}: the graph has a cycle at layer '${t.node.layer.name}'`);
      state.set(t.node, 1);
      for (const i of t.node.inputs) visit(i);
      state.set(t.node, 2);
      order.push(t.node);
    };
    visit(this.output);
    return order;
  }

  get numInputs(): number { return this.inputs.length; }
  allLayers(): Layer[] { return this.nodes.map((n) => n.layer); }
  protected outputLayer(): Layer { return this.output.node!.layer; }
  protected outputShape(): Shape { return this.output.shape; }

  /**
   * Follows the output back through the layers that keep their first input's steps (per-step
   * layers, position encodings, a recurrent layer's sequence, an attention's queries) to an input;
   * null where a layer makes steps of its own or none (pooling, RepeatVector, a final state).
   */
  protected outputTimeSource(): number | null {
    const keeps = new Set(['Embedding', 'Dense', 'Dropout', 'Activation', 'LayerNormalization', 'PositionEncoding', 'Masking', 'Add', 'Concatenate', 'Attention', 'MultiHeadAttention']);
    let t = this.output;
    while (t.node) {
      const l = t.node.layer;
      const seq = l instanceof RecurrentLayer ? l.options.returnSequences === true && t.outputIndex === 0 : keeps.has(l.className);
      if (!seq) return null;
      t = t.node.inputs[0]!;
    }
    const i = this.inputs.indexOf(t);
    return i >= 0 ? i : null;
  }

  protected inputPadding(i: number): { sequence: boolean; padValue: number | null } {
    const t = this.inputs[i]!;
    return { sequence: t.shape[0] === null, padValue: padValueOf(this.nodes.filter((n) => n.inputs.includes(t)).map((n) => n.layer)) };
  }
  protected buildFor(): void { /* layers are built when applied */ }

  protected forwardAll(xs: Dense[], training: boolean): Act {
    const v = this.values;
    v.clear();
    this.inputs.forEach((t, i) => v.set(t, { data: xs[i]!.data, shape: xs[i]!.shape, mask: xs[i]!.mask }));
    // reuse: every caller consumes the output before the next forward (predict copies it out).
    const ctx = { training, rng: this.rng, reuse: true };
    const tables = this.tables;
    tables.clear();
    for (const n of this.nodes) {
      const ins = n.inputs.map((t) => v.get(t)!);
      const reader = this.tablePairs.get(n);
      if (reader && (reader.layer as RecurrentLayer).takesTable(ctx)) {
        const t = (n.layer as Embedding).tableRows(ins[0]!);
        if (t) { tables.set(reader, { emb: n.layer as Embedding, rows: t }); continue; } // its output is read as table rows only
      }
      const t = tables.get(n);
      const outs = t ? (n.layer as RecurrentLayer).forwardTable(t.rows, ctx, ins.slice(1))
        : isMultiLayer(n.layer) ? n.layer.forwardMulti(ins, ctx) : [n.layer.forward(ins[0]!, ctx)];
      n.outputs.forEach((t, i) => v.set(t, outs[i]!));
    }
    return v.get(this.output)!;
  }

  protected backwardAll(dy: Float32Array, fused: DenseLayer | null): void {
    const grads = new Map<SymbolicTensor, Float32Array>([[this.output, dy]]);
    const sums = new Set<Float32Array>(); // the arrays made here, which later gradients are added into
    const be = getBackend();
    const add = (t: SymbolicTensor, g: Float32Array | null) => {
      if (!g) return;
      const cur = grads.get(t);
      if (!cur) { grads.set(t, g); return; }
      let sum = cur;
      if (!sums.has(cur)) {
        // Never write into an array a layer handed out: a tensor's sum has its own buffer, reused
        // from step to step (in the backend's memory where it offers that; the gradients are
        // consumed within this pass).
        let slot = this.sumSlots.get(t);
        if (!slot) this.sumSlots.set(t, (slot = new ActivationSlot()));
        sum = slot.get(cur.length);
        sums.add(sum);
      }
      // sum = cur + g (cur is sum itself after the first addition)
      if (be.addInto) be.addInto(cur, g, sum);
      else for (let i = 0; i < sum.length; i++) sum[i] = cur[i]! + g[i]!;
      grads.set(t, sum);
    };
    const wanted = this.tensorsWithGradients();
    for (let k = this.nodes.length - 1; k >= 0; k--) {
      const n = this.nodes[k]!;
      const dys = n.outputs.map((t) => grads.get(t) ?? null);
      if (dys.every((g) => g === null)) continue; // nothing downstream depends on this node
      if (!hasTrainableParams(n.layer) && !n.inputs.some((t) => wanted.has(t))) continue; // nothing to train here or before
      let dxs: (Float32Array | null)[];
      if (n.layer === fused) dxs = [fused.backwardFromLogits(dys[0]!, wanted.has(n.inputs[0]!))];
      else if (isMultiLayer(n.layer)) dxs = n.layer.backwardMulti(dys, n.inputs.map((t) => wanted.has(t)));
      else dxs = [n.layer.backward(dys[0]!, wanted.has(n.inputs[0]!))];
      const fromTable = this.tables.get(n);
      if (fromTable) {
        // Ran on an embedding's table rows: its first gradient is the table's.
        if (hasTrainableParams(fromTable.emb)) fromTable.emb.backwardTable(dxs[0]!);
        dxs = [null, ...dxs.slice(1)];
      }
      n.inputs.forEach((t, i) => add(t, dxs[i] ?? null));
    }
  }

  /**
   * The tensors whose gradient reaches a trainable parameter: the outputs of layers with trainable parameters and of
   * layers reading such a tensor. Every other gradient (of the model's inputs, or of what only
   * parameter-free layers made from them) would be discarded, so layers are told not to make it.
   */
  private tensorsWithGradients(): Set<SymbolicTensor> {
    const wanted = new Set<SymbolicTensor>();
    for (const n of this.nodes) {
      if (hasTrainableParams(n.layer) || n.inputs.some((t) => wanted.has(t))) for (const t of n.outputs) wanted.add(t);
    }
    return wanted;
  }

  summaryRows(): [string, string, string][] {
    const rows: [string, string, string][] = this.inputs.map((t) => [`${t.name} (Input)`, shapeStr([null, ...t.shape]), '0']);
    for (const n of this.nodes) {
      const from = n.inputs.map((t) => t.name).join(', ');
      rows.push([`${n.layer.name} (${layerTypeName(n.layer)}) <- ${from}`, n.outputs.map((t) => shapeStr([null, ...t.shape])).join(' '), String(n.layer.params?.size ?? 0)]);
    }
    return rows;
  }

  getConfig(): Record<string, unknown> {
    const id = new Map<SymbolicTensor, [number, number]>(); // tensor -> [node index (-1 - input index for inputs), output index]
    this.inputs.forEach((t, i) => id.set(t, [-1 - i, 0]));
    this.nodes.forEach((n, k) => n.outputs.forEach((t, i) => id.set(t, [k, i])));
    return {
      className: 'Functional', name: this.name,
      inputs: this.inputs.map((t) => ({ name: t.name, shape: t.shape })),
      nodes: this.nodes.map((n) => ({ layer: savedLayerConfig(n.layer), inputs: n.inputs.map((t) => id.get(t)) })),
      output: id.get(this.output),
    };
  }
}
