// Queue ids in Postfix's short form: upper-case hex, unique across restarts
// (time in microseconds, then a per-process counter), e.g. 18C2F4A9B3E1F.
let last = 0n;
let counter = 0;

export function newQueueId(): string {
  const micros = BigInt(Date.now()) * 1000n + BigInt(Math.floor(Number(process.hrtime.bigint() % 1000n)));
  const t = micros > last ? micros : last + 1n;
  last = t;
  counter = (counter + 1) & 0xfff;
  return (t.toString(16) + counter.toString(16).padStart(3, '0')).toUpperCase().slice(-15);
}

export function isQueueId(s: string): boolean {
  return /^[0-9A-F]{6,20}$/.test(s);
}
