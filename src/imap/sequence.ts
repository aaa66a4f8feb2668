// Sequence sets (RFC 3501 §9 sequence-set): "1:4,7,9:*". "*" is the largest number
// in use (the last sequence number, or the highest UID); a range may be written
// backwards (4:1).

/** One range of a sequence set; `STAR` stands for "*". */
export type SeqRange = [number, number];
export const STAR = -1;

export interface SequenceSet {
  ranges: SeqRange[];
  /** The set was "$" (RFC 5182 SEARCHRES); not supported yet but parsed for a clear error. */
  saved?: boolean;
}

const NUM = /^[1-9][0-9]*$/;

function seqNumber(text: string): number | undefined {
  if (text === '*') return STAR;
  if (!NUM.test(text) || text.length > 10) return undefined;
  const n = Number(text);
  return n <= 0xffffffff ? n : undefined;
}

/** Parse "1:4,7,*"; undefined when the text is not a sequence set. */
export function parseSequenceSet(text: string): SequenceSet | undefined {
  if (text === '$') return { ranges: [], saved: true };
  if (text.length === 0) return undefined;
  const ranges: SeqRange[] = [];
  for (const part of text.split(',')) {
    const colon = part.indexOf(':');
    if (colon < 0) {
      const n = seqNumber(part);
      if (n === undefined) return undefined;
      ranges.push([n, n]);
    } else {
      const a = seqNumber(part.slice(0, colon));
      const b = seqNumber(part.slice(colon + 1));
      if (a === undefined || b === undefined) return undefined;
      ranges.push([a, b]);
    }
  }
  return { ranges };
}

/**
 * The set as sorted, merged, inclusive ranges with "*" replaced by `max`. With
 * `max` = 0 (empty mailbox), "*" stands for nothing in a sequence-number context; for
 * UIDs RFC 3501 §6.4.8 says "*" is the highest UID in use, so a caller passes that.
 */
export function resolveSet(set: SequenceSet, max: number): SeqRange[] {
  const out: SeqRange[] = [];
  for (const [a0, b0] of set.ranges) {
    let a = a0 === STAR ? max : a0;
    let b = b0 === STAR ? max : b0;
    if (a > b) [a, b] = [b, a];
    if (b === 0) continue;
    if (a === 0) a = 1;
    out.push([a, b]);
  }
  out.sort((x, y) => x[0] - y[0]);
  const merged: SeqRange[] = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

/** Whether `n` is in resolved ranges (binary search). */
export function inRanges(ranges: readonly SeqRange[], n: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid];
    if (n < r[0]) hi = mid - 1;
    else if (n > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Numbers → "1:3,7,9:10" (COPYUID, ESEARCH ALL); only ascending runs are merged, so the order is kept. */
export function formatNumbers(nums: readonly number[]): string {
  if (nums.length === 0) return '';
  const parts: string[] = [];
  let start = nums[0];
  let prev = nums[0];
  for (let i = 1; i <= nums.length; i++) {
    const n = nums[i];
    if (i < nums.length && n === prev + 1) {
      prev = n;
      continue;
    }
    parts.push(start === prev ? String(start) : `${start}:${prev}`);
    start = n;
    prev = n;
  }
  return parts.join(',');
}
