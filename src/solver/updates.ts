// The update rules of Caffe's solvers (ComputeUpdateValue): each turns a parameter's gradient (diff) into the step
// that Blob::Update subtracts, keeping its history blobs (momentum, squared gradients...) as Caffe lays them out in
// the .solverstate.
import type { SolverParameter } from '../proto/types.generated.js';
import { backend } from '../backend/backend.js';

export interface UpdateRule {
  /** Caffe's solver type name. */
  readonly type: string;
  /** History blobs per parameter (1 or 2); solverstate holds set 0 for all params, then set 1. */
  readonly historySets: number;
  update(param: number, diff: Float32Array, history: Float32Array[], localRate: number, iter: number): void;
}

/** Adam's bias correction at iteration iter (0-based): sqrt(1 - beta2^t) / (1 - beta1^t), t = iter + 1. */
export function adamCorrection(beta1: number, beta2: number, iter: number): number {
  const t = iter + 1;
  return Math.sqrt(1 - Math.pow(beta2, t)) / (1 - Math.pow(beta1, t));
}

export function createUpdateRule(p: SolverParameter): UpdateRule {
  const momentum = p.momentum ?? 0;
  const delta = p.delta ?? 1e-8;
  const type = p.type ?? 'SGD';
  switch (type) {
    case 'SGD':
      return {
        type, historySets: 1,
        // h = momentum * h + lr * g; g = h (through the backend: the hot path of the standard LeNet run).
        update(_i, g, [h], lr) { backend().sgdUpdate(g, h!, momentum, lr); },
      };
    case 'Nesterov':
      return {
        type, historySets: 1,
        update(_i, g, [h], lr) {
          for (let k = 0; k < g.length; k++) {
            const prev = h![k]!;
            const v = momentum * prev + lr * g[k]!;
            h![k] = v;
            g[k] = (1 + momentum) * v - momentum * prev;
          }
        },
      };
    case 'AdaGrad':
      if (momentum !== 0) throw new Error('solver: momentum must be 0 for AdaGrad');
      return {
        type, historySets: 1,
        update(_i, g, [h], lr) {
          for (let k = 0; k < g.length; k++) {
            const gk = g[k]!;
            const hk = (h![k] = h![k]! + gk * gk);
            g[k] = (lr * gk) / (Math.sqrt(hk) + delta);
          }
        },
      };
    case 'RMSProp': {
      if (momentum !== 0) throw new Error('solver: momentum must be 0 for RMSProp');
      const decay = p.rms_decay ?? 0.99;
      return {
        type, historySets: 1,
        update(_i, g, [h], lr) {
          for (let k = 0; k < g.length; k++) {
            const gk = g[k]!;
            const hk = (h![k] = decay * h![k]! + (1 - decay) * gk * gk);
            g[k] = (lr * gk) / (Math.sqrt(hk) + delta);
          }
        },
      };
    }
    case 'AdaDelta':
      return {
        type, historySets: 2,
        update(_i, g, [h, hu], lr) {
          for (let k = 0; k < g.length; k++) {
            const gk = g[k]!;
            const hg = (h![k] = momentum * h![k]! + (1 - momentum) * gk * gk);
            const step = gk * Math.sqrt((hu![k]! + delta) / (hg + delta));
            hu![k] = momentum * hu![k]! + (1 - momentum) * step * step;
            g[k] = lr * step;
          }
        },
      };
    case 'Adam': {
      const beta1 = momentum;
      const beta2 = p.momentum2 ?? 0.999;
      return {
        type, historySets: 2,
        update(_i, g, [m, v], lr, iter) {
          const correction = adamCorrection(beta1, beta2, iter);
          for (let k = 0; k < g.length; k++) {
            const gk = g[k]!;
            const mk = (m![k] = beta1 * m![k]! + (1 - beta1) * gk);
            const vk = (v![k] = beta2 * v![k]! + (1 - beta2) * gk * gk);
            g[k] = (lr * correction * mk) / (Math.sqrt(vk) + delta);
          }
        },
      };
    }
    default:
      throw new Error(`solver: unknown solver type '${type}' (SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam)`);
  }
}
