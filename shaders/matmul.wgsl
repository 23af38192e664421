// Matrix multiply: out = alpha * (a · b) + bias (+ out when accumulating), optionally batched.
//   a(m, k) = a[z * strideA + m * sam + k * sak]   (strides give NN, NT, TN and TT)
//   b(k, n) = b[z * strideB + k * sbk + n * sbn]   (strideA or strideB = 0 shares that operand across the batch)
//   out(m, n) = out[z * strideO + m * N + n], bias(n) = bias[n]
// Dispatch: (ceil(N / (4 * WGX)), ceil(M / (TM * WGY)), batch).
//
// Register tiling without workgroup memory: each invocation owns TM rows × 4 columns of out
// and keeps them in registers for the whole k loop, so every value of b it loads feeds TM FMAs
// and every value of a feeds 4. No barriers: lavapipe (CPU, invocations on SIMD lanes) pays a
// lot for them and for shared memory, and real GPUs serve the reuse between neighbouring
// invocations from cache. Accumulation is always f32.
//
// matmul_subgroup.wgsl is the faster variant when subgroups are available; this one is the
// fallback that works everywhere. Rows and columns past the edge are clamped for the loads (so
// the inner loop has no branches) and skipped at the store.

// Storage types of a and b (ST) and of out and bias (OT): f16 in the f16 variants.
alias ST = f32;
alias OT = f32;

override WGX: u32 = 16;
override WGY: u32 = 1;
const TM: u32 = 8;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  strideA: u32,
  strideB: u32,
  strideO: u32,
  sam: u32,
  sak: u32,
  sbk: u32,
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
// vec4 views of a and b for the aligned variant (a separate binding: one type per binding).
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

// Any layout, any shape, scalar loads.
@compute @workgroup_size(WGX, WGY)
fn strided(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let col = (wid.x * WGX + lid.x) * 4u;
  let row = (wid.y * WGY + lid.y) * TM;
  var ia: array<u32, TM>;
  for (var r = 0u; r < TM; r++) { ia[r] = wid.z * p.strideA + min(row + r, p.M - 1u) * p.sam; }
  var ib = vec4u(wid.z * p.strideB) + min(vec4u(col) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u)) * p.sbn;
  var acc: array<vec4f, TM>;
  for (var k = 0u; k < p.K; k++) {
    let bv = vec4f(f32(b[ib.x]), f32(b[ib.y]), f32(b[ib.z]), f32(b[ib.w]));
    let ko = k * p.sak;
    for (var r = 0u; r < TM; r++) { acc[r] = fma(vec4f(f32(a[ia[r] + ko])), bv, acc[r]); }
    ib += vec4u(p.sbk);
  }
  for (var r = 0u; r < TM; r++) { store(wid.z, row + r, col, acc[r]); }
}

// NN with K % 4 == 0 and N % 4 == 0: vec4 loads along k for a and along n for b.
@compute @workgroup_size(WGX, WGY)
fn nn4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let K4 = p.K / 4u;
  let N4 = p.N / 4u;
  let col4 = wid.x * WGX + lid.x;
  let row = (wid.y * WGY + lid.y) * TM;
  var ia: array<u32, TM>;
  for (var r = 0u; r < TM; r++) { ia[r] = wid.z * (p.strideA / 4u) + min(row + r, p.M - 1u) * K4; }
  var ib = wid.z * (p.strideB / 4u) + min(col4, N4 - 1u);
  var acc: array<vec4f, TM>;
  for (var k4 = 0u; k4 < K4; k4++) {
    let b0 = vec4f(b4[ib]);
    let b1 = vec4f(b4[ib + N4]);
    let b2 = vec4f(b4[ib + 2u * N4]);
    let b3 = vec4f(b4[ib + 3u * N4]);
    for (var r = 0u; r < TM; r++) {
      let x = vec4f(a4[ia[r] + k4]);
      acc[r] = fma(vec4f(x.x), b0, fma(vec4f(x.y), b1, fma(vec4f(x.z), b2, fma(vec4f(x.w), b3, acc[r]))));
    }
    ib += 4u * N4;
  }
  for (var r = 0u; r < TM; r++) { store(wid.z, row + r, col4 * 4u, acc[r]); }
}
