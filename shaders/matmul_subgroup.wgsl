// Matrix multiply, subgroup variant: out = alpha * (a · b) + bias (+ out when accumulating).
// Same contract, Params and bindings as matmul.wgsl (the variant without subgroups); read that
// file first. Needs subgroups of at least 8 invocations.
//
// Why subgroups: each invocation owns TM = 16 rows (TMV = 24 in nn4, nt4, tn4) × 4 columns of the
// output. The 16 rows are the same for every invocation of the subgroup, so instead of every
// invocation loading all 16 values of a for each k, lane l loads rows l and l + 8 (and l + 16)
// and the others get them with subgroupBroadcast (a register shuffle). Loads per k drop from 16 + 4
// to 2 + 4 for 64 FMAs (3 + 4 for 96 with 24 rows).
// On lavapipe (LLVM, 8-wide SIMD, one invocation per lane) every divergent load is a gather and
// dominates the cost: this took 1024³ from ≈12 to ≈35 GFLOP/s. On real GPUs it is a
// shared-memory-free register-tiled kernel whose a-operand traffic is cut by the same factor.
//
// vec4 entry points (nn4, nt4, tn4) load 16 bytes per lane where the layout allows: for NT this
// was ≈3× faster than the strided scalar loads on lavapipe (4 row streams of b per lane
// otherwise), for TN (weight gradients) ≈1.3× at the training shapes.
//
// The workgroup is one row of WGX invocations (WGY = 1) so that a subgroup never spans two row
// blocks; WGX must be a multiple of the subgroup size (or the subgroup the whole workgroup).
// The broadcast lane ids must be constants, which is why the 16 (24) rows are written out.

enable subgroups;

// Storage types of a and b (ST) and of out and bias (OT): f16 in the f16 variants.
alias ST = f32;
alias OT = f32;

override WGX: u32 = 8;
const TM: u32 = 16;
// Rows per invocation of nn4, nt4 and tn4: 24 (3 loads of a per lane) rather than 16 was 1.1-1.2×
// faster on lavapipe at the training shapes (tn4 1.05-1.1×), since each vec4 load of b then feeds
// 24 rows; 32 gained little more and compiled 4× slower, 8 rows × 8 columns (twice the b loads)
// was 1.5× slower.
const TMV: u32 = 24;
// Small M (a decode step's single row, a bias gradient's ones row) would waste the third block:
// the op turns it off below 17 rows, and the lanes then own 16 rows as in `strided`.
override THIRD: bool = true;
// Grid order. Workgroups run x fastest: by default x walks the column tiles, so a tile row of a is
// reused while b is swept once per tile row. When b is far larger than a and than the caches (the
// LM head's logits = h · Wᵀ, W 49152 × 256), SWAP makes x walk the row tiles instead, so each
// column tile of b is read once while the small a stays cached (see the op for when).
override SWAP: bool = false;

// (column tile, row tile) of this workgroup.
fn tile(wid: vec3u) -> vec2u {
  return select(wid.xy, wid.yx, SWAP);
}

struct Params {
  M: u32,
  N: u32,
  K: u32,
  strideA: u32,  // elements between batches of a (0: shared)
  strideB: u32,  // elements between batches of b (0: broadcast)
  strideO: u32,  // elements between batches of out
  sam: u32,      // a(m, k) = a[m * sam + k * sak]
  sak: u32,
  sbk: u32,      // b(k, n) = b[k * sbk + n * sbn]
  sbn: u32,
  alpha: f32,
  accumulate: u32,
  hasBias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<OT>;
@group(0) @binding(2) var<storage, read> a: array<ST>;
@group(0) @binding(3) var<storage, read> b: array<ST>;
@group(0) @binding(4) var<storage, read> bias: array<OT>;
@group(0) @binding(5) var<storage, read> a4: array<vec4<ST>>;
@group(0) @binding(6) var<storage, read> b4: array<vec4<ST>>;

fn store(z: u32, m: u32, n0: u32, v: vec4f) {
  if (m >= p.M) { return; }
  for (var c = 0u; c < 4u; c++) {
    let n = n0 + c;
    if (n < p.N) {
      let o = z * p.strideO + m * p.N + n;
      var x = p.alpha * v[c];
      if (p.hasBias != 0u) { x += f32(bias[n]); }
      if (p.accumulate != 0u) { x += f32(out[o]); }
      out[o] = OT(x);
    }
  }
}

// Any layout and any shape, scalar loads: rows and columns past the edge are clamped for the
// loads and skipped at the store, so every invocation takes part in the broadcasts.
@compute @workgroup_size(WGX)
fn strided(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
           @builtin(subgroup_invocation_id) sl: u32) {
  let col = (tile(wid).x * WGX + lid.x) * 4u;
  let row = tile(wid).y * TM;
  var ia0 = wid.z * p.strideA + min(row + (sl & 7u), p.M - 1u) * p.sam;
  var ia1 = wid.z * p.strideA + min(row + 8u + (sl & 7u), p.M - 1u) * p.sam;
  var ib = vec4u(wid.z * p.strideB) + min(vec4u(col) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u)) * p.sbn;
  var acc: array<vec4f, TM>;
  for (var k = 0u; k < p.K; k++) {
    let bv = vec4f(f32(b[ib.x]), f32(b[ib.y]), f32(b[ib.z]), f32(b[ib.w]));
    let x0 = f32(a[ia0]);
    let x1 = f32(a[ia1]);
    acc[0] = fma(vec4f(subgroupBroadcast(x0, 0u)), bv, acc[0]);
    acc[1] = fma(vec4f(subgroupBroadcast(x0, 1u)), bv, acc[1]);
    acc[2] = fma(vec4f(subgroupBroadcast(x0, 2u)), bv, acc[2]);
    acc[3] = fma(vec4f(subgroupBroadcast(x0, 3u)), bv, acc[3]);
    acc[4] = fma(vec4f(subgroupBroadcast(x0, 4u)), bv, acc[4]);
    acc[5] = fma(vec4f(subgroupBroadcast(x0, 5u)), bv, acc[5]);
    acc[6] = fma(vec4f(subgroupBroadcast(x0, 6u)), bv, acc[6]);
    acc[7] = fma(vec4f(subgroupBroadcast(x0, 7u)), bv, acc[7]);
    acc[8] = fma(vec4f(subgroupBroadcast(x1, 0u)), bv, acc[8]);
    acc[9] = fma(vec4f(subgroupBroadcast(x1, 1u)), bv, acc[9]);
    acc[10] = fma(vec4f(subgroupBroadcast(x1, 2u)), bv, acc[10]);
    acc[11] = fma(vec4f(subgroupBroadcast(x1, 3u)), bv, acc[11]);
    acc[12] = fma(vec4f(subgroupBroadcast(x1, 4u)), bv, acc[12]);
    acc[13] = fma(vec4f(subgroupBroadcast(x1, 5u)), bv, acc[13]);
    acc[14] = fma(vec4f(subgroupBroadcast(x1, 6u)), bv, acc[14]);
    acc[15] = fma(vec4f(subgroupBroadcast(x1, 7u)), bv, acc[15]);
    ia0 += p.sak;
    ia1 += p.sak;
    ib += vec4u(p.sbk);
  }
  for (var r = 0u; r < TM; r++) { store(wid.z, row + r, col, acc[r]); }
}

// acc += x.x * b0 + x.y * b1 + x.z * b2 + x.w * b3: one row of a (4 values of k) times 4 rows of b.
fn step4(acc: vec4f, x: vec4<ST>, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f) -> vec4f {
  return step4f(acc, vec4f(x), b0, b1, b2, b3);
}

fn step4f(acc: vec4f, v: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f) -> vec4f {
  return fma(vec4f(v.x), b0, fma(vec4f(v.y), b1, fma(vec4f(v.z), b2, fma(vec4f(v.w), b3, acc))));
}

// NN with K % 4 == 0 and N % 4 == 0: vec4 loads along k for a and along n for b.
@compute @workgroup_size(WGX)
fn nn4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
       @builtin(subgroup_invocation_id) sl: u32) {
  let K4 = p.K / 4u;
  let N4 = p.N / 4u;
  let col4 = tile(wid).x * WGX + lid.x;
  let rows = select(TM, TMV, THIRD);
  let row = tile(wid).y * rows;
  let ia0 = wid.z * (p.strideA / 4u) + min(row + (sl & 7u), p.M - 1u) * K4;
  let ia1 = wid.z * (p.strideA / 4u) + min(row + 8u + (sl & 7u), p.M - 1u) * K4;
  let ia2 = wid.z * (p.strideA / 4u) + min(row + 16u + (sl & 7u), p.M - 1u) * K4;
  var ib = wid.z * (p.strideB / 4u) + min(col4, N4 - 1u);
  var acc: array<vec4f, TMV>;
  for (var k4 = 0u; k4 < K4; k4++) {
    let b0 = vec4f(b4[ib]);
    let b1 = vec4f(b4[ib + N4]);
    let b2 = vec4f(b4[ib + 2u * N4]);
    let b3 = vec4f(b4[ib + 3u * N4]);
    let x0 = a4[ia0 + k4];
    let x1 = a4[ia1 + k4];
    acc[0] = step4(acc[0], subgroupBroadcast(x0, 0u), b0, b1, b2, b3);
    acc[1] = step4(acc[1], subgroupBroadcast(x0, 1u), b0, b1, b2, b3);
    acc[2] = step4(acc[2], subgroupBroadcast(x0, 2u), b0, b1, b2, b3);
    acc[3] = step4(acc[3], subgroupBroadcast(x0, 3u), b0, b1, b2, b3);
    acc[4] = step4(acc[4], subgroupBroadcast(x0, 4u), b0, b1, b2, b3);
    acc[5] = step4(acc[5], subgroupBroadcast(x0, 5u), b0, b1, b2, b3);
    acc[6] = step4(acc[6], subgroupBroadcast(x0, 6u), b0, b1, b2, b3);
    acc[7] = step4(acc[7], subgroupBroadcast(x0, 7u), b0, b1, b2, b3);
    acc[8] = step4(acc[8], subgroupBroadcast(x1, 0u), b0, b1, b2, b3);
    acc[9] = step4(acc[9], subgroupBroadcast(x1, 1u), b0, b1, b2, b3);
    acc[10] = step4(acc[10], subgroupBroadcast(x1, 2u), b0, b1, b2, b3);
    acc[11] = step4(acc[11], subgroupBroadcast(x1, 3u), b0, b1, b2, b3);
    acc[12] = step4(acc[12], subgroupBroadcast(x1, 4u), b0, b1, b2, b3);
    acc[13] = step4(acc[13], subgroupBroadcast(x1, 5u), b0, b1, b2, b3);
    acc[14] = step4(acc[14], subgroupBroadcast(x1, 6u), b0, b1, b2, b3);
    acc[15] = step4(acc[15], subgroupBroadcast(x1, 7u), b0, b1, b2, b3);
    if (THIRD) {
      let x2 = a4[ia2 + k4];
      acc[16] = step4(acc[16], subgroupBroadcast(x2, 0u), b0, b1, b2, b3);
      acc[17] = step4(acc[17], subgroupBroadcast(x2, 1u), b0, b1, b2, b3);
      acc[18] = step4(acc[18], subgroupBroadcast(x2, 2u), b0, b1, b2, b3);
      acc[19] = step4(acc[19], subgroupBroadcast(x2, 3u), b0, b1, b2, b3);
      acc[20] = step4(acc[20], subgroupBroadcast(x2, 4u), b0, b1, b2, b3);
      acc[21] = step4(acc[21], subgroupBroadcast(x2, 5u), b0, b1, b2, b3);
      acc[22] = step4(acc[22], subgroupBroadcast(x2, 6u), b0, b1, b2, b3);
      acc[23] = step4(acc[23], subgroupBroadcast(x2, 7u), b0, b1, b2, b3);
    }
    ib += 4u * N4;
  }
  for (var r = 0u; r < rows; r++) { store(wid.z, row + r, col4 * 4u, acc[r]); }
}

// NT with K % 4 == 0 (any N): vec4 loads along k for both a and b. Each lane reads 4 rows of b
// (its 4 columns of out) and transposes the 4×4 block in registers to reuse step4.
@compute @workgroup_size(WGX)
fn nt4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
       @builtin(subgroup_invocation_id) sl: u32) {
  let K4 = p.K / 4u;
  let col = (tile(wid).x * WGX + lid.x) * 4u;
  let rows = select(TM, TMV, THIRD);
  let row = tile(wid).y * rows;
  let ia0 = wid.z * (p.strideA / 4u) + min(row + (sl & 7u), p.M - 1u) * K4;
  let ia1 = wid.z * (p.strideA / 4u) + min(row + 8u + (sl & 7u), p.M - 1u) * K4;
  let ia2 = wid.z * (p.strideA / 4u) + min(row + 16u + (sl & 7u), p.M - 1u) * K4;
  let ib = vec4u(wid.z * (p.strideB / 4u)) + min(vec4u(col) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u)) * K4;
  var acc: array<vec4f, TMV>;
  for (var k4 = 0u; k4 < K4; k4++) {
    let t = transpose(mat4x4f(vec4f(b4[ib.x + k4]), vec4f(b4[ib.y + k4]), vec4f(b4[ib.z + k4]), vec4f(b4[ib.w + k4])));
    let b0 = t[0];
    let b1 = t[1];
    let b2 = t[2];
    let b3 = t[3];
    let x0 = a4[ia0 + k4];
    let x1 = a4[ia1 + k4];
    acc[0] = step4(acc[0], subgroupBroadcast(x0, 0u), b0, b1, b2, b3);
    acc[1] = step4(acc[1], subgroupBroadcast(x0, 1u), b0, b1, b2, b3);
    acc[2] = step4(acc[2], subgroupBroadcast(x0, 2u), b0, b1, b2, b3);
    acc[3] = step4(acc[3], subgroupBroadcast(x0, 3u), b0, b1, b2, b3);
    acc[4] = step4(acc[4], subgroupBroadcast(x0, 4u), b0, b1, b2, b3);
    acc[5] = step4(acc[5], subgroupBroadcast(x0, 5u), b0, b1, b2, b3);
    acc[6] = step4(acc[6], subgroupBroadcast(x0, 6u), b0, b1, b2, b3);
    acc[7] = step4(acc[7], subgroupBroadcast(x0, 7u), b0, b1, b2, b3);
    acc[8] = step4(acc[8], subgroupBroadcast(x1, 0u), b0, b1, b2, b3);
    acc[9] = step4(acc[9], subgroupBroadcast(x1, 1u), b0, b1, b2, b3);
    acc[10] = step4(acc[10], subgroupBroadcast(x1, 2u), b0, b1, b2, b3);
    acc[11] = step4(acc[11], subgroupBroadcast(x1, 3u), b0, b1, b2, b3);
    acc[12] = step4(acc[12], subgroupBroadcast(x1, 4u), b0, b1, b2, b3);
    acc[13] = step4(acc[13], subgroupBroadcast(x1, 5u), b0, b1, b2, b3);
    acc[14] = step4(acc[14], subgroupBroadcast(x1, 6u), b0, b1, b2, b3);
    acc[15] = step4(acc[15], subgroupBroadcast(x1, 7u), b0, b1, b2, b3);
    if (THIRD) {
      let x2 = a4[ia2 + k4];
      acc[16] = step4(acc[16], subgroupBroadcast(x2, 0u), b0, b1, b2, b3);
      acc[17] = step4(acc[17], subgroupBroadcast(x2, 1u), b0, b1, b2, b3);
      acc[18] = step4(acc[18], subgroupBroadcast(x2, 2u), b0, b1, b2, b3);
      acc[19] = step4(acc[19], subgroupBroadcast(x2, 3u), b0, b1, b2, b3);
      acc[20] = step4(acc[20], subgroupBroadcast(x2, 4u), b0, b1, b2, b3);
      acc[21] = step4(acc[21], subgroupBroadcast(x2, 5u), b0, b1, b2, b3);
      acc[22] = step4(acc[22], subgroupBroadcast(x2, 6u), b0, b1, b2, b3);
      acc[23] = step4(acc[23], subgroupBroadcast(x2, 7u), b0, b1, b2, b3);
    }
  }
  for (var r = 0u; r < rows; r++) { store(wid.z, row + r, col, acc[r]); }
}

// A 4×4 block of a (4 rows of out at each of 4 values of k, from 4 lanes), transposed so that
// column r is row r over the 4 values of k, as step4f wants it.
fn block4(k0: vec4<ST>, k1: vec4<ST>, k2: vec4<ST>, k3: vec4<ST>) -> mat4x4f {
  return transpose(mat4x4f(vec4f(k0), vec4f(k1), vec4f(k2), vec4f(k3)));
}

// TN (a stored (K, M), b stored (K, N): the weight gradient dW = dyᵀ·x) with M % 4 == 0 and
// N % 4 == 0, any K. a is contiguous along m, so a vec4 of a is 4 rows of out at one k: per 4
// values of k, lane l loads rows 4·(l>>2)..+3 (x0) and 8 + the same (x1) at k0 + (l & 3), i.e.
// the 16 rows × 4 k block in 16 vec4s over the 8 lanes (with THIRD, x2 adds rows 16..23). Loads and broadcasts per k are those of
// nn4, and transposing each 4×4 block lets every accumulator take its 4 values of k in one chain
// of fma (on lavapipe the 16 accumulators do not fit in registers: one fma per accumulator load
// and store was 1.5× slower). Past the end of K, rows of b are zeroed by a uniform select, so K
// needs no padding (those loads may run past the binding: WebGPU clamps them, the value is dropped).
@compute @workgroup_size(WGX)
fn tn4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
       @builtin(subgroup_invocation_id) sl: u32) {
  let M4 = p.M / 4u;
  let N4 = p.N / 4u;
  let col4 = tile(wid).x * WGX + lid.x;
  let rows = select(TM, TMV, THIRD);
  let row4 = tile(wid).y * (rows / 4u);
  let ka = (sl & 3u);
  let ra = row4 + ((sl >> 2u) & 1u);
  let ia0 = wid.z * (p.strideA / 4u) + min(ra, M4 - 1u);
  let ia1 = wid.z * (p.strideA / 4u) + min(ra + 2u, M4 - 1u);
  let ia2 = wid.z * (p.strideA / 4u) + min(ra + 4u, M4 - 1u);
  var ib = wid.z * (p.strideB / 4u) + min(col4, N4 - 1u);
  var acc: array<vec4f, TMV>;
  for (var k0 = 0u; k0 < p.K; k0 += 4u) {
    let kl = p.K - k0; // ≥ 1: rows k0 + j of b with j ≥ kl are past the end
    let b0 = vec4f(b4[ib]);
    let b1 = select(vec4f(), vec4f(b4[ib + N4]), kl > 1u);
    let b2 = select(vec4f(), vec4f(b4[ib + 2u * N4]), kl > 2u);
    let b3 = select(vec4f(), vec4f(b4[ib + 3u * N4]), kl > 3u);
    let k = min(k0 + ka, p.K - 1u) * M4;
    let x0 = a4[ia0 + k];
    let x1 = a4[ia1 + k];
    let t0 = block4(subgroupBroadcast(x0, 0u), subgroupBroadcast(x0, 1u), subgroupBroadcast(x0, 2u), subgroupBroadcast(x0, 3u));
    acc[0] = step4f(acc[0], t0[0], b0, b1, b2, b3);
    acc[1] = step4f(acc[1], t0[1], b0, b1, b2, b3);
    acc[2] = step4f(acc[2], t0[2], b0, b1, b2, b3);
    acc[3] = step4f(acc[3], t0[3], b0, b1, b2, b3);
    let t1 = block4(subgroupBroadcast(x0, 4u), subgroupBroadcast(x0, 5u), subgroupBroadcast(x0, 6u), subgroupBroadcast(x0, 7u));
    acc[4] = step4f(acc[4], t1[0], b0, b1, b2, b3);
    acc[5] = step4f(acc[5], t1[1], b0, b1, b2, b3);
    acc[6] = step4f(acc[6], t1[2], b0, b1, b2, b3);
    acc[7] = step4f(acc[7], t1[3], b0, b1, b2, b3);
    let t2 = block4(subgroupBroadcast(x1, 0u), subgroupBroadcast(x1, 1u), subgroupBroadcast(x1, 2u), subgroupBroadcast(x1, 3u));
    acc[8] = step4f(acc[8], t2[0], b0, b1, b2, b3);
    acc[9] = step4f(acc[9], t2[1], b0, b1, b2, b3);
    acc[10] = step4f(acc[10], t2[2], b0, b1, b2, b3);
    acc[11] = step4f(acc[11], t2[3], b0, b1, b2, b3);
    let t3 = block4(subgroupBroadcast(x1, 4u), subgroupBroadcast(x1, 5u), subgroupBroadcast(x1, 6u), subgroupBroadcast(x1, 7u));
    acc[12] = step4f(acc[12], t3[0], b0, b1, b2, b3);
    acc[13] = step4f(acc[13], t3[1], b0, b1, b2, b3);
    acc[14] = step4f(acc[14], t3[2], b0, b1, b2, b3);
    acc[15] = step4f(acc[15], t3[3], b0, b1, b2, b3);
    if (THIRD) {
      let x2 = a4[ia2 + k];
      let t4 = block4(subgroupBroadcast(x2, 0u), subgroupBroadcast(x2, 1u), subgroupBroadcast(x2, 2u), subgroupBroadcast(x2, 3u));
      acc[16] = step4f(acc[16], t4[0], b0, b1, b2, b3);
      acc[17] = step4f(acc[17], t4[1], b0, b1, b2, b3);
      acc[18] = step4f(acc[18], t4[2], b0, b1, b2, b3);
      acc[19] = step4f(acc[19], t4[3], b0, b1, b2, b3);
      let t5 = block4(subgroupBroadcast(x2, 4u), subgroupBroadcast(x2, 5u), subgroupBroadcast(x2, 6u), subgroupBroadcast(x2, 7u));
      acc[20] = step4f(acc[20], t5[0], b0, b1, b2, b3);
      acc[21] = step4f(acc[21], t5[1], b0, b1, b2, b3);
      acc[22] = step4f(acc[22], t5[2], b0, b1, b2, b3);
      acc[23] = step4f(acc[23], t5[3], b0, b1, b2, b3);
    }
    ib += 4u * N4;
  }
  for (var r = 0u; r < rows; r++) { store(wid.z, row4 * 4u + r, col4 * 4u, acc[r]); }
}
