import { MinnowError } from '@minnow/core';
import { keptCount, topChannels } from './importance.js';
import type { ChannelGroupReport } from './types.js';

/**
 * Channel groups: sets of channels that share one index space and so must lose the same indices
 * everywhere (a Conv's filters, the BatchNorm after it, the next Conv's input channels; both sides
 * of a residual Add). Tracing creates a group per producing layer and joins groups that meet
 * (union-find); anything the tracer cannot follow blocks the group, which then keeps every
 * channel. `decide` picks each free group's channels by the summed importance of its producers.
 */

interface GroupInfo {
  readonly size: number;
  readonly producers: { readonly layer: string; readonly norms: Float64Array }[];
  readonly followers: Set<string>;
  readonly reasons: string[];
}

export class ChannelGroups {
  private readonly parent: number[] = [];
  private readonly info = new Map<number, GroupInfo>();
  private readonly kept = new Map<number, number[]>();
  private decided = false;

  /** A new group of `norms.length` channels produced by `layer` (norms: each channel's importance there). */
  create(layer: string, norms: Float64Array): number {
    const id = this.parent.length;
    this.parent.push(id);
    this.info.set(id, { size: norms.length, producers: [{ layer, norms }], followers: new Set(), reasons: [] });
    return id;
  }

  root(group: number): number {
    let g = group;
    while (this.parent[g] !== g) g = this.parent[g];
    this.parent[group] = g;
    return g;
  }

  size(group: number): number {
    return this.infoOf(group).size;
  }

  /** Another layer whose weights carry these channels and count towards their importance (a depthwise Conv). */
  addProducer(group: number, layer: string, norms: Float64Array): void {
    const info = this.infoOf(group);
    if (norms.length !== info.size) throw new MinnowError('INTERNAL', `ChannelGroups: ${layer} has ${norms.length} channels, its group ${info.size}`);
    info.producers.push({ layer, norms });
  }

  /** A layer that indexes the group's channels without producing them (BatchNorm, a consumer's input). */
  follow(group: number, layer: string): void {
    this.infoOf(group).followers.add(layer);
  }

  /** Marks the group as one that keeps every channel, saying why. */
  block(group: number, reason: string): void {
    const reasons = this.infoOf(group).reasons;
    if (!reasons.includes(reason)) reasons.push(reason);
  }

  /** Joins two groups into one (their channels meet elementwise). Groups of different sizes cannot meet: both are blocked. */
  join(a: number, b: number, where: string): number {
    const ra = this.root(a);
    const rb = this.root(b);
    if (ra === rb) return ra;
    const ia = this.infoOf(ra);
    const ib = this.infoOf(rb);
    if (ia.size !== ib.size) {
      const reason = `${where} combines ${ia.size} channels with ${ib.size}`;
      this.block(ra, reason);
      this.block(rb, reason);
      return ra;
    }
    const [keep, drop] = ra < rb ? [ra, rb] : [rb, ra];
    const kept = this.infoOf(keep);
    const dropped = this.infoOf(drop);
    kept.producers.push(...dropped.producers);
    for (const f of dropped.followers) kept.followers.add(f);
    for (const r of dropped.reasons) if (!kept.reasons.includes(r)) kept.reasons.push(r);
    this.parent[drop] = keep;
    this.info.delete(drop);
    return keep;
  }

  /**
   * Chooses the channels of every group that is free to prune: the `keptCount` with the largest
   * summed norm (ties to the lower index). `refusal(layer)` says why a producer may not be pruned
   * (include/exclude), or undefined.
   */
  decide(sparsity: number, refusal: (layer: string) => string | undefined): void {
    for (const [id, info] of this.info) {
      for (const p of info.producers) {
        const why = refusal(p.layer);
        if (why !== undefined) this.block(id, why);
      }
      if (info.reasons.length > 0) continue;
      const keep = keptCount(info.size, sparsity);
      if (keep === info.size) continue;
      const scores = new Float64Array(info.size);
      for (const p of info.producers) for (let c = 0; c < info.size; c++) scores[c] += p.norms[c];
      this.kept.set(id, topChannels(scores, keep));
    }
    this.decided = true;
  }

  /** The channels `group` keeps, ascending, or undefined when it keeps them all. */
  keptOf(group: number): readonly number[] | undefined {
    if (!this.decided) throw new MinnowError('INTERNAL', 'ChannelGroups: keptOf before decide');
    return this.kept.get(this.root(group));
  }

  /** Whether any group lost channels. */
  get anyPruned(): boolean {
    return this.kept.size > 0;
  }

  report(): ChannelGroupReport[] {
    return [...this.info.entries()].sort(([a], [b]) => a - b).map(([id, info], index) => {
      const kept = this.kept.get(id);
      return {
        id: index,
        producers: info.producers.map((p) => p.layer),
        followers: [...info.followers].filter((f) => !info.producers.some((p) => p.layer === f)),
        channels: info.size,
        kept: kept ?? Array.from({ length: info.size }, (_, c) => c),
        pruned: kept !== undefined,
        reasons: [...info.reasons],
      };
    });
  }

  private infoOf(group: number): GroupInfo {
    const info = this.info.get(this.root(group));
    if (!info) throw new MinnowError('INTERNAL', `ChannelGroups: no group ${group}`);
    return info;
  }
}
