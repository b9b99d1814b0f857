// Caffe's learning-rate policies (SGDSolver::GetLearningRate), in float32 arithmetic like Caffe's Dtype=float.
import type { SolverParameter } from '../proto/types.generated.js';
import { logger } from '../util/log.js';

const f = Math.fround;
const log = logger('sgd_solver.cpp:62');

export class LearningRate {
  currentStep = 0;

  constructor(private readonly p: SolverParameter) {
    const policy = p.lr_policy ?? 'fixed';
    if (!['fixed', 'step', 'exp', 'inv', 'multistep', 'poly', 'sigmoid'].includes(policy)) {
      throw new Error(`solver: unknown lr_policy '${policy}' (use fixed, step, exp, inv, multistep, poly or sigmoid)`);
    }
    if ((policy === 'step' || policy === 'sigmoid') && !(p.stepsize! > 0)) throw new Error(`solver: lr_policy '${policy}' needs stepsize > 0`);
    const sv = p.stepvalue ?? [];
    for (let i = 1; i < sv.length; i++) if (!(sv[i]! > sv[i - 1]!)) throw new Error('solver: stepvalue must be increasing');
  }

  rate(iter: number): number {
    const p = this.p;
    const base = f(p.base_lr ?? 0);
    const gamma = f(p.gamma ?? 0);
    const power = f(p.power ?? 0);
    switch (p.lr_policy ?? 'fixed') {
      case 'fixed':
        return base;
      case 'step':
        this.currentStep = Math.floor(iter / p.stepsize!);
        return f(base * f(Math.pow(gamma, this.currentStep)));
      case 'exp':
        return f(base * f(Math.pow(gamma, iter)));
      case 'inv':
        return f(base * f(Math.pow(f(1 + f(gamma * iter)), -power)));
      case 'multistep': {
        const sv = p.stepvalue ?? [];
        if (this.currentStep < sv.length && iter >= sv[this.currentStep]!) {
          this.currentStep++;
          log.info(`MultiStep Status: Iteration ${iter}, step = ${this.currentStep}`);
        }
        return f(base * f(Math.pow(gamma, this.currentStep)));
      }
      case 'poly':
        return f(base * f(Math.pow(1 - iter / (p.max_iter ?? 1), power)));
      case 'sigmoid':
        return f(base * f(1 / (1 + Math.exp(-gamma * (iter - p.stepsize!)))));
      default:
        throw new Error(`unknown lr_policy ${p.lr_policy}`);
    }
  }
}
