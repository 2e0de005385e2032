// Messages between the playground page (ui.ts) and its training worker (worker.ts).
import type { OnnxTensorInfo } from '../export/onnx.js';
import type { EvalInfo, PlaygroundOptions, StepInfo } from './session.js';

export type ToWorker =
  | { type: 'start'; text: string; options: Partial<PlaygroundOptions>; threads: 1 | 2; evalEvery: number; sampleLength: number; temperature: number; maxSteps: number }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'temperature'; value: number }
  /** The model as it is now, as an ONNX file (answered by 'onnx'). */
  | { type: 'export' }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; backend: string; threads: number; vocab: number; trainChars: number; valChars: number; parameters: number }
  /** Steps since the last message (at most ~10 a second), the last one's numbers. */
  | ({ type: 'steps'; tokensPerSecond: number; losses: number[] } & StepInfo)
  | ({ type: 'eval' } & EvalInfo)
  | { type: 'done'; step: number }
  | { type: 'onnx'; step: number; bytes: Uint8Array; inputs: OnnxTensorInfo[]; outputs: OnnxTensorInfo[] }
  | { type: 'error'; message: string };
