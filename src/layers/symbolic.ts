// Symbolic tensors for functional models (Keras' functional API): rnn.input() makes a
// placeholder, layer.apply(x) records a node and returns its output placeholder(s), and
// rnn.model({ inputs, outputs }) runs the recorded graph. Nothing is computed here.
import { ActivationSlot, getBackend } from '../kernels/index.js';
import { configError, reusesBuffers, shapeStr, type Act, type CallContext, type Layer, type Shape, LayerBase } from './layer.js';

/** A layer that takes several inputs and/or gives several outputs. */
export interface MultiLayer extends Layer {
  forwardMulti(xs: Act[], ctx: CallContext): Act[];
  /**
   * Gradients of the outputs (null: not used) -> gradients of the inputs. wanted[i] false: input
   * i's gradient would be discarded, and the layer may return null for it.
   */
  backwardMulti(dys: (Float32Array | null)[], wanted?: readonly boolean[]): (Float32Array | null)[];
  computeOutputShapes(inputShapes: Shape[]): Shape[];
  readonly numOutputs: number;
  /** Builds from every input's shape (else build() gets the first input's). */
  buildMulti?(inputShapes: Shape[]): void;
}

export function isMultiLayer(l: Layer): l is MultiLayer {
  return typeof (l as Partial<MultiLayer>).forwardMulti === 'function';
}

export interface GraphNode {
  layer: Layer;
  inputs: SymbolicTensor[];
  outputs: SymbolicTensor[];
}

export class SymbolicTensor {
  constructor(
    /** Shape without the batch dimension (null = any size). */
    readonly shape: Shape,
    /** The node that produces it, or null for a model input. */
    readonly node: GraphNode | null,
    readonly outputIndex: number,
    readonly name: string,
  ) {}

  toString(): string {
    return `SymbolicTensor(${this.name}, ${shapeStr([null, ...this.shape])})`;
  }
}

/** A model input placeholder; `shape` excludes the batch dimension, e.g. [null] for token ids. */
export function input(o: { shape: Shape; name?: string }): SymbolicTensor {
  if (!o || !Array.isArray(o.shape)) throw new TypeError(`input: expected { shape: [...] } (without the batch dimension)`);
  return new SymbolicTensor([...o.shape], null, 0, o.name ?? 'input');
}

/**
 * Record `layer` applied to `inputs`. Builds the layer from the input shape if needed. Returns
 * one placeholder, or an array when the layer has several outputs (e.g. returnState).
 */
export function applyLayer(layer: Layer, inputs: SymbolicTensor | SymbolicTensor[]): SymbolicTensor | SymbolicTensor[] {
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  if (ins.length === 0 || !ins.every((t) => t instanceof SymbolicTensor)) {
    configError(layer.name, 'apply() takes symbolic tensors from rnn.input() or another layer\'s apply()');
  }
  if (!isMultiLayer(layer) && ins.length !== 1) configError(layer.name, `takes one input, got ${ins.length}`);
  if (!layer.built) {
    if (isMultiLayer(layer) && layer.buildMulti) layer.buildMulti(ins.map((t) => t.shape));
    else layer.build(ins[0]!.shape);
  }
  const shapes = isMultiLayer(layer) ? layer.computeOutputShapes(ins.map((t) => t.shape)) : [layer.computeOutputShape(ins[0]!.shape)];
  const node: GraphNode = { layer, inputs: ins, outputs: [] };
  node.outputs = shapes.map((s, i) => new SymbolicTensor(s, node, i, shapes.length > 1 ? `${layer.name}:${i}` : layer.name));
  return node.outputs.length === 1 ? node.outputs[0]! : node.outputs;
}

// ---------------------------------------------------------------------------------------------
// Merge layers.

let mergeCount = 0;

abstract class Merge extends LayerBase implements MultiLayer {
  abstract readonly className: string;
  name: string;
  params = null;
  built = true;
  readonly numOutputs = 1;
  protected shapes: number[][] = [];

  constructor(o: { name?: string } = {}, base: string) {
    super();
    this.name = o.name ?? `${base}_${++mergeCount}`;
  }

  build(): void {}
  computeOutputShape(s: Shape): Shape { return s; }
  abstract computeOutputShapes(inputShapes: Shape[]): Shape[];
  abstract forwardMulti(xs: Act[], ctx?: CallContext): Act[];
  abstract backwardMulti(dys: (Float32Array | null)[]): (Float32Array | null)[];

  forward(): Act { return configError(this.name, 'merge layers take several inputs: use apply([a, b]) in a functional model'); }
  backward(): Float32Array { return configError(this.name, 'merge layers run inside functional models'); }
  getConfig(): Record<string, unknown> { return { className: this.className, name: this.name }; }
  apply(inputs: SymbolicTensor[]): SymbolicTensor { return applyLayer(this, inputs) as SymbolicTensor; }
}

/** Concatenate along the last axis (shapes must agree elsewhere). */
export class Concatenate extends Merge {
  readonly className = 'Concatenate';
  constructor(o: { name?: string } = {}) { super(o, 'concatenate'); }

  computeOutputShapes(ss: Shape[]): Shape[] {
    const lead = ss[0]!.slice(0, -1);
    let last = 0;
    for (const s of ss) {
      if (s.length !== ss[0]!.length) configError(this.name, `inputs must have the same rank, got ${ss.map(shapeStr).join(' and ')}`);
      const d = s[s.length - 1];
      if (typeof d !== 'number') configError(this.name, 'the last dimension of every input must be known');
      last += d;
    }
    return [[...lead, last]];
  }

  forwardMulti(xs: Act[]): Act[] {
    const widths = xs.map((x) => x.shape[x.shape.length - 1]!);
    const rows = xs[0]!.data.length / widths[0]!;
    xs.forEach((x, i) => { if (x.data.length / widths[i]! !== rows) configError(this.name, `input ${i} has shape [${x.shape.join(', ')}], input 0 has [${xs[0]!.shape.join(', ')}]`); });
    const W = widths.reduce((a, b) => a + b, 0);
    const out = new Float32Array(rows * W);
    for (let r = 0; r < rows; r++) {
      let off = r * W;
      xs.forEach((x, i) => { out.set(x.data.subarray(r * widths[i]!, (r + 1) * widths[i]!), off); off += widths[i]!; });
    }
    this.shapes = xs.map((x) => x.shape);
    return [{ data: out, shape: [...xs[0]!.shape.slice(0, -1), W], mask: xs.find((x) => x.mask)?.mask ?? null }];
  }

  backwardMulti(dys: (Float32Array | null)[]): Float32Array[] {
    const widths = this.shapes.map((s) => s[s.length - 1]!);
    const W = widths.reduce((a, b) => a + b, 0), dy = dys[0]!;
    const rows = dy.length / W;
    const grads = widths.map((w) => new Float32Array(rows * w));
    for (let r = 0; r < rows; r++) {
      let off = r * W;
      widths.forEach((w, i) => { grads[i]!.set(dy.subarray(off, off + w), r * w); off += w; });
    }
    return grads;
  }
}

/** Elementwise sum of inputs of the same shape. */
export class Add extends Merge {
  readonly className = 'Add';
  constructor(o: { name?: string } = {}) { super(o, 'add'); }

  computeOutputShapes(ss: Shape[]): Shape[] {
    for (const s of ss) if (shapeStr(s) !== shapeStr(ss[0]!)) configError(this.name, `inputs must have the same shape, got ${ss.map(shapeStr).join(' and ')}`);
    return [ss[0]!];
  }

  /** The sum, reused from call to call inside a model (in the backend's memory), as Dense's output. */
  private readonly ySlot = new ActivationSlot();

  forwardMulti(xs: Act[], ctx?: CallContext): Act[] {
    const n = xs[0]!.data.length;
    for (const x of xs) {
      if (x.data.length !== n) configError(this.name, `inputs must have the same shape, got [${xs.map((a) => a.shape.join(', ')).join('] and [')}]`);
    }
    const out = reusesBuffers(ctx) ? this.ySlot.get(n) : new Float32Array(n);
    // x0 + x1, then + x2, ...: each sum rounded once, in input order (the backend's kernel gives
    // a loop's bits).
    const be = getBackend();
    if (xs.length === 1) out.set(xs[0]!.data);
    for (let k = 1; k < xs.length; k++) {
      const a = k === 1 ? xs[0]!.data : out, b = xs[k]!.data;
      if (be.addInto) be.addInto(a, b, out);
      else for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
    }
    this.shapes = xs.map((x) => x.shape);
    return [{ data: out, shape: xs[0]!.shape, mask: xs.find((x) => x.mask)?.mask ?? null }];
  }

  backwardMulti(dys: (Float32Array | null)[]): Float32Array[] {
    return this.shapes.map(() => dys[0]!.slice());
  }
}
