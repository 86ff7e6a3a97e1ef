/**
 * Deterministic pseudo-random test inputs without a Generator: xorshift32, each value a sum of three
 * uniforms (roughly normal, in (−3, 3)). The √K tolerances of test/helpers/tolerance.ts assume sums
 * that grow like √K; periodic data (sin) can cancel to far below that and leave them no meaning.
 */
export function randomArray(size: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = (next() + next() + next() - 1.5) * 2;
  return out;
}
