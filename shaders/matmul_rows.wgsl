// Matrix multiply, row-per-lane subgroup variant: out = alpha * (a · b) + bias (+ out when
// accumulating). Same contract, Params and bindings as matmul_subgroup.wgsl (read that file first),
// vec4 entry points only: nt and nn (K % 4 == 0), tn (M % 4 == 0, any K), all with N % 4 == 0
// (out is written a vec4 at a time). Needs subgroups of at least 8 invocations.
//
// A workgroup is 8 lanes (one subgroup) and owns a 32 × 32 tile of out, laid out the other way
// round from matmul_subgroup.wgsl: lane l owns rows 4l .. 4l+3 (acc[n] is a vec4 over them), and
// each 4 values of k of the 32 columns of b are loaded by the lanes in parts and broadcast at
// constant lanes (cols*), as attention_subgroup.wgsl's key rows. Per 4 values of k a lane loads 4
// vec4 of a and 4 of b for 512 multiply-adds, against 7 loads for 384 in matmul_subgroup.wgsl's
// nn4/nt4/tn4 (24 rows × 4 columns). Measured on lavapipe, where each storage load is a per-lane
// loop, at the shapes of a training step (d 256, MLP 1024, 1024 tokens), against those: NT
// 1.07-1.21×, NN 0.98-1.10×, TN 1.00-1.14× (its k loop over whole blocks, the tail apart: with a
// clamp and select per load it was 0.9×). Stores are vec4: scalar stores of the 32 rows, 4 KiB
// apart when N = 1024, made N = 1024 and 2048 0.86× instead.
// Untuned on GPUs (a workgroup of 8 lanes would leave most of a wave idle): the op uses it on CPU
// adapters, for K from 256 to 4096 (outside, at the LM head of a 49152 vocabulary, it was slower;
// see MatmulTuning.rowTiles).

enable subgroups;
diagnostic(off, subgroup_uniformity);

// Storage types of a and b (ST) and of out and bias (OT): f16 in the f16 variants.
alias ST = f32;
alias OT = f32;

// Grid order: as matmul_subgroup.wgsl's SWAP (x walks the row tiles instead of the column tiles).
override SWAP: bool = false;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  strideA: u32,  // elements between batches of a (0: shared)
  strideB: u32,  // elements between batches of b (0: broadcast)
  strideO: u32,  // elements between batches of out
  sam: u32,      // unused here (the entry point fixes the layout)
  sak: u32,
  sbk: u32,
  sbn: u32,
  alpha: f32,
  accumulate: u32,
  hasBias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<OT>>;  // (Z, M, N)
@group(0) @binding(4) var<storage, read> bias: array<vec4<OT>>;       // (N)
@group(0) @binding(5) var<storage, read> a4: array<vec4<ST>>;         // (Z, M, K), or (Z, K, M) for tn
@group(0) @binding(6) var<storage, read> b4: array<vec4<ST>>;         // (Z, N, K) for nt, else (Z, K, N)

// (column tile, row tile) of this workgroup.
fn tile(wid: vec3u) -> vec2u {
  return select(wid.xy, wid.yx, SWAP);
}

// x of lanes 0 .. 7 (broadcasts at constant lanes: a register permute on lavapipe).
fn lanes(x: vec4f) -> array<vec4f, 8> {
  return array<vec4f, 8>(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
                         subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u));
}

// The tile's 32 columns of b, each a vec4 over 4 values of k, when lane l holds column l + 8j in
// xj (nt: rows of b are columns of out).
fn colsStrided(x0: vec4f, x1: vec4f, x2: vec4f, x3: vec4f) -> array<vec4f, 32> {
  let a = lanes(x0);
  let b = lanes(x1);
  let c = lanes(x2);
  let e = lanes(x3);
  return array<vec4f, 32>(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                          c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]);
}

// The same when lane l holds columns 4l .. 4l+3 at each of the 4 values of k in kj (nn, tn: b is
// read along n).
fn colsBlocked(k0: vec4f, k1: vec4f, k2: vec4f, k3: vec4f) -> array<vec4f, 32> {
  let t = transpose(mat4x4f(k0, k1, k2, k3));
  let a = lanes(t[0]);
  let b = lanes(t[1]);
  let c = lanes(t[2]);
  let e = lanes(t[3]);
  return array<vec4f, 32>(a[0], b[0], c[0], e[0], a[1], b[1], c[1], e[1], a[2], b[2], c[2], e[2], a[3], b[3], c[3], e[3],
                          a[4], b[4], c[4], e[4], a[5], b[5], c[5], e[5], a[6], b[6], c[6], e[6], a[7], b[7], c[7], e[7]);
}

// acc[n] += Σ_e t[e] * bb[n][e]: the lane's 4 rows (t[e], a vec4 over them at k + e) times column n.
fn accumulate(acc: ptr<function, array<vec4f, 32>>, t: mat4x4f, bb: array<vec4f, 32>) {
  for (var n = 0u; n < 32u; n++) {
    (*acc)[n] = fma(vec4f(bb[n].x), t[0], fma(vec4f(bb[n].y), t[1], fma(vec4f(bb[n].z), t[2], fma(vec4f(bb[n].w), t[3], (*acc)[n]))));
  }
}

// The lane's rows m0 + 4l + c, 4 columns per store.
fn store(z: u32, m0: u32, n0: u32, sl: u32, acc: array<vec4f, 32>) {
  let N4 = p.N / 4u;
  for (var c = 0u; c < 4u; c++) {
    let m = m0 + 4u * sl + c;
    if (m < p.M) {
      let o = z * (p.strideO / 4u) + m * N4 + n0 / 4u;
      for (var j = 0u; j < 8u; j++) {
        if (n0 / 4u + j < N4) {
          var x = p.alpha * vec4f(acc[4u * j][c], acc[4u * j + 1u][c], acc[4u * j + 2u][c], acc[4u * j + 3u][c]);
          if (p.hasBias != 0u) { x += vec4f(bias[n0 / 4u + j]); }
          if (p.accumulate != 0u) { x += vec4f(out[o + j]); }
          out[o + j] = vec4<OT>(x);
        }
      }
    }
  }
}

// Rows of a of this lane (vec4 offsets along k), clamped to M - 1: those rows are never stored.
fn rowsA(z: u32, m0: u32, sl: u32, K4: u32) -> vec4u {
  return vec4u(z * (p.strideA / 4u)) + min(vec4u(m0 + 4u * sl) + vec4u(0u, 1u, 2u, 3u), vec4u(p.M - 1u)) * K4;
}

// The lane's 4 rows of a (at offsets ia, from rowsA) at k = 4·k4 .. 4·k4+3, transposed: column e
// is a vec4 over the 4 rows at k = 4·k4 + e, as accumulate wants it (nn, nt).
fn blockA(ia: vec4u, k4: u32) -> mat4x4f {
  return transpose(mat4x4f(vec4f(a4[ia.x + k4]), vec4f(a4[ia.y + k4]), vec4f(a4[ia.z + k4]), vec4f(a4[ia.w + k4])));
}

// NT (out = a · bᵀ, b stored (N, K)), K % 4 == 0: the forward of a linear layer.
@compute @workgroup_size(8)
fn nt(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let K4 = p.K / 4u;
  let n0 = tile(wid).x * 32u;
  let m0 = tile(wid).y * 32u;
  let ia = rowsA(wid.z, m0, sl, K4);
  let ib = vec4u(wid.z * (p.strideB / 4u)) + min(vec4u(n0 + sl) + vec4u(0u, 8u, 16u, 24u), vec4u(p.N - 1u)) * K4;
  var acc = array<vec4f, 32>();
  for (var k4 = 0u; k4 < K4; k4++) {
    accumulate(&acc, blockA(ia, k4), colsStrided(vec4f(b4[ib.x + k4]), vec4f(b4[ib.y + k4]), vec4f(b4[ib.z + k4]), vec4f(b4[ib.w + k4])));
  }
  store(wid.z, m0, n0, sl, acc);
}

// NN, K % 4 == 0: the input gradient of a linear layer.
@compute @workgroup_size(8)
fn nn(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let K4 = p.K / 4u;
  let N4 = p.N / 4u;
  let n0 = tile(wid).x * 32u;
  let m0 = tile(wid).y * 32u;
  let ia = rowsA(wid.z, m0, sl, K4);
  var ib = wid.z * (p.strideB / 4u) + min(n0 / 4u + sl, N4 - 1u);
  var acc = array<vec4f, 32>();
  for (var k4 = 0u; k4 < K4; k4++) {
    accumulate(&acc, blockA(ia, k4), colsBlocked(vec4f(b4[ib]), vec4f(b4[ib + N4]), vec4f(b4[ib + 2u * N4]), vec4f(b4[ib + 3u * N4])));
    ib += 4u * N4;
  }
  store(wid.z, m0, n0, sl, acc);
}

// TN (a stored (K, M): the weight gradient dW = dyᵀ·x), M % 4 == 0, any K: a vec4 of a is the
// lane's 4 rows at one k. Whole blocks of 4 values of k, then the tail (rows past K read as zero).
@compute @workgroup_size(8)
fn tn(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let M4 = p.M / 4u;
  let N4 = p.N / 4u;
  let n0 = tile(wid).x * 32u;
  let m0 = tile(wid).y * 32u;
  var ia = wid.z * (p.strideA / 4u) + min(m0 / 4u + sl, M4 - 1u);
  var ib = wid.z * (p.strideB / 4u) + min(n0 / 4u + sl, N4 - 1u);
  var acc = array<vec4f, 32>();
  let K4 = p.K / 4u;
  for (var k4 = 0u; k4 < K4; k4++) {
    let t = mat4x4f(vec4f(a4[ia]), vec4f(a4[ia + M4]), vec4f(a4[ia + 2u * M4]), vec4f(a4[ia + 3u * M4]));
    accumulate(&acc, t, colsBlocked(vec4f(b4[ib]), vec4f(b4[ib + N4]), vec4f(b4[ib + 2u * N4]), vec4f(b4[ib + 3u * N4])));
    ia += 4u * M4;
    ib += 4u * N4;
  }
  let kl = p.K - 4u * K4;  // 0 .. 3 rows left
  if (kl > 0u) {
    let t = mat4x4f(vec4f(a4[ia]), select(vec4f(), vec4f(a4[ia + M4]), kl > 1u), select(vec4f(), vec4f(a4[ia + 2u * M4]), kl > 2u), vec4f());
    accumulate(&acc, t, colsBlocked(vec4f(b4[ib]), select(vec4f(), vec4f(b4[ib + N4]), kl > 1u), select(vec4f(), vec4f(b4[ib + 2u * N4]), kl > 2u), vec4f()));
  }
  store(wid.z, m0, n0, sl, acc);
}
