// Net construction steps that rewrite the NetParameter before layers are built: phase/level/stage filtering
// (Caffe's FilterNet/StateMeetsRule) and automatic Split insertion (Caffe's InsertSplits).
import type { LayerParameter, NetParameter, NetState, NetStateRule } from '../proto/types.generated.js';
import { createMessage, has } from '../proto/caffe.js';
import { logger } from '../util/log.js';

const log = logger('net.cpp:296');

function stateMeetsRule(state: NetState, rule: NetStateRule, layerName: string): boolean {
  if (has(rule, 'phase') && rule.phase !== (state.phase ?? 1)) {
    log.info(`The NetState phase (${state.phase ?? 1}) differed from the phase (${rule.phase}) specified by a rule in layer ${layerName}`);
    return false;
  }
  const level = state.level ?? 0;
  if (has(rule, 'min_level') && level < rule.min_level!) {
    log.info(`The NetState level (${level}) is above the min_level (${rule.min_level}) specified by a rule in layer ${layerName}`);
    return false;
  }
  if (has(rule, 'max_level') && level > rule.max_level!) {
    log.info(`The NetState level (${level}) is above the max_level (${rule.max_level}) specified by a rule in layer ${layerName}`);
    return false;
  }
  const stages = state.stage ?? [];
  for (const s of rule.stage ?? []) {
    if (!stages.includes(s)) {
      log.info(`The NetState did not contain stage '${s}' specified by a rule in layer ${layerName}`);
      return false;
    }
  }
  for (const s of rule.not_stage ?? []) {
    if (stages.includes(s)) {
      log.info(`The NetState contained a not_stage '${s}' specified by a rule in layer ${layerName}`);
      return false;
    }
  }
  return true;
}

/** The layers that the net's state selects. */
export function filterNet(param: NetParameter): LayerParameter[] {
  const state = param.state ?? createMessage<NetState>('NetState');
  const out: LayerParameter[] = [];
  for (const layer of param.layer ?? []) {
    const name = layer.name ?? '';
    const inc = layer.include ?? [];
    const exc = layer.exclude ?? [];
    if (inc.length && exc.length) throw new Error(`layer '${name}': specify either include rules or exclude rules, not both`);
    let included = inc.length === 0;
    for (const r of exc) if (stateMeetsRule(state, r, name)) included = false;
    for (const r of inc) if (stateMeetsRule(state, r, name)) included = true;
    if (included) out.push(layer);
  }
  return out;
}

export const splitLayerName = (layer: string, blob: string, idx: number) => `${blob}_${layer}_${idx}_split`;
export const splitBlobName = (layer: string, blob: string, idx: number, split: number) => `${blob}_${layer}_${idx}_split_${split}`;

/** Insert Split layers where a top feeds several bottoms (or a bottom and a loss), renaming those bottoms. */
export function insertSplits(layers: LayerParameter[]): LayerParameter[] {
  const key = (i: number, j: number) => `${i}/${j}`;
  const lastTop = new Map<string, [number, number]>();
  const source = new Map<string, [number, number]>();
  const useCount = new Map<string, number>();
  const lossWeight = new Map<string, number>();
  layers.forEach((l, i) => {
    (l.bottom ?? []).forEach((b, j) => {
      const src = lastTop.get(b);
      if (!src) throw new Error(`Unknown bottom blob '${b}' (layer '${l.name ?? ''}', bottom index ${j})`);
      source.set(key(i, j), src);
      const k = key(...src);
      useCount.set(k, (useCount.get(k) ?? 0) + 1);
    });
    (l.top ?? []).forEach((t, j) => lastTop.set(t, [i, j]));
    const lw = l.loss_weight ?? [];
    for (let j = 0; j < Math.min(lw.length, (l.top ?? []).length); j++) {
      const src = lastTop.get(l.top![j]!)!;
      const k = key(...src);
      lossWeight.set(k, lw[j]!);
      if (lw[j]) useCount.set(k, (useCount.get(k) ?? 0) + 1);
    }
  });
  const splitIdx = new Map<string, number>();
  const out: LayerParameter[] = [];
  layers.forEach((orig, i) => {
    // A shallow copy keeps the message's prototype (defaults) while bottoms are renamed on a new array.
    const layer = Object.assign(Object.create(Object.getPrototypeOf(orig)), orig) as LayerParameter;
    if (layer.bottom?.length) {
      layer.bottom = layer.bottom.map((b, j) => {
        const src = source.get(key(i, j))!;
        const k = key(...src);
        if ((useCount.get(k) ?? 0) > 1) {
          const n = splitIdx.get(k) ?? 0;
          splitIdx.set(k, n + 1);
          return splitBlobName(layers[src[0]]!.name ?? '', b, src[1], n);
        }
        return b;
      });
    }
    out.push(layer);
    (layer.top ?? []).forEach((t, j) => {
      const k = key(i, j);
      const count = useCount.get(k) ?? 0;
      if (count <= 1) return;
      const lname = layer.name ?? '';
      const lw = lossWeight.get(k) ?? 0;
      const split = createMessage<LayerParameter>('LayerParameter', {
        name: splitLayerName(lname, t, j),
        type: 'Split',
        bottom: [t],
        top: Array.from({ length: count }, (_, s) => splitBlobName(lname, t, j, s)),
      });
      if (lw) {
        split.loss_weight = Array.from({ length: count }, (_, s) => (s === 0 ? lw : 0));
        layer.loss_weight = [];
        splitIdx.set(k, 1);
      }
      out.push(split);
    });
  });
  return out;
}
