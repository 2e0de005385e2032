// The kernel worker of the two-thread WebAssembly backend (see threaded.ts). Runs as a Node.js
// worker_threads Worker or a browser module Web Worker: its first message is a WorkerInit (the
// compiled WebAssembly.Module and the shared WebAssembly.Memory); it instantiates the module on
// that memory as thread 1 and then serves commands from the control block in shared memory until
// OP_QUIT, spinning briefly and then sleeping in Atomics.wait between commands. It never touches
// the event loop again after the first message, so each call costs no postMessage.
import {
  C_ARGS, C_DONE, C_MWAIT, C_OP, C_SEQ, C_STATE, C_TAKEN, C_WSLEEP, CTL_BYTES, MAX_ARGS, OP_ARGC, OP_EXPORT, OP_QUIT,
  S_ABORT, S_DONE, ST_DEAD, ST_READY, SYNC_BYTES, type WorkerInit,
} from './threads-protocol.js';

type Kernel = (...args: number[]) => void;

function serve(init: WorkerInit): void {
  const { module, memory, spin } = init;
  const ctl = new Int32Array(memory.buffer, init.ctl, CTL_BYTES >> 2);
  const sync = new Int32Array(memory.buffer, init.sync, SYNC_BYTES >> 2);
  try {
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const k = instance.exports as unknown as Record<string, Kernel>;
    k.set_thread_scratch!(init.scratch);
    const kernels: Record<number, Kernel> = {};
    for (const [op, name] of Object.entries(OP_EXPORT)) kernels[Number(op)] = k[name]!;
    const args: number[] = new Array<number>(2 + MAX_ARGS).fill(0);
    args[0] = 1; // tid
    args[1] = init.sync;
    let last = Atomics.load(ctl, C_SEQ);
    Atomics.store(ctl, C_STATE, ST_READY);
    Atomics.notify(ctl, C_STATE);
    for (;;) {
      let seq = Atomics.load(ctl, C_SEQ);
      for (let i = 0; seq === last; seq = Atomics.load(ctl, C_SEQ)) {
        if (++i < spin) continue;
        i = 0;
        // Flag, then wait on the value we last saw: a command posted in between makes
        // Atomics.wait return at once; a command posted later sees the flag and notifies.
        Atomics.store(ctl, C_WSLEEP, 1);
        Atomics.wait(ctl, C_SEQ, last);
        Atomics.store(ctl, C_WSLEEP, 0);
      }
      last = seq;
      // Take the command — unless the main thread already retracted it (it finished the work
      // alone); the arguments are stable once taken (the main thread then waits for C_DONE).
      if (Atomics.compareExchange(ctl, C_TAKEN, (seq - 1) | 0, seq) !== ((seq - 1) | 0)) continue;
      const op = ctl[C_OP]!;
      if (op === OP_QUIT) break;
      const fn = kernels[op];
      if (!fn) throw new Error(`rnnkit worker: unknown operation ${op}`);
      const argc = OP_ARGC[op]!;
      for (let i = 0; i < argc; i++) args[2 + i] = ctl[C_ARGS + i]!;
      fn(...args.slice(0, 2 + argc));
      Atomics.store(ctl, C_DONE, seq);
      if (Atomics.load(ctl, C_MWAIT) !== 0) Atomics.notify(ctl, C_DONE);
    }
    Atomics.store(ctl, C_STATE, ST_DEAD);
    Atomics.notify(ctl, C_DONE);
  } catch (e) {
    // Tell every waiter on the main thread (handshake and in-kernel barriers) to give up.
    Atomics.store(ctl, C_STATE, ST_DEAD);
    Atomics.store(sync, S_ABORT, 1);
    Atomics.notify(ctl, C_STATE);
    Atomics.notify(ctl, C_DONE);
    Atomics.notify(sync, S_DONE);
    throw e;
  }
}

interface NodeWorkerThreads {
  isMainThread: boolean;
  parentPort: { once(event: 'message', cb: (m: WorkerInit) => void): void } | null;
}

const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
const wt = proc?.getBuiltinModule?.('node:worker_threads') as NodeWorkerThreads | undefined;
if (wt && !wt.isMainThread && wt.parentPort) {
  wt.parentPort.once('message', serve);
} else if (typeof (globalThis as { postMessage?: unknown }).postMessage === 'function' && typeof (globalThis as { document?: unknown }).document === 'undefined') {
  // A browser Web Worker.
  const self = globalThis as unknown as { onmessage: ((e: { data: WorkerInit }) => void) | null };
  self.onmessage = (e) => {
    self.onmessage = null;
    serve(e.data);
  };
}
