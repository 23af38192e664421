// Row normalisation for transformer students, forward and backward, over N rows of C channels.
//   LayerNorm (GPT-2):   y = (x - mean) * rstd * w + b,   rstd = 1 / sqrt(var + eps), var = mean((x - mean)²)
//   RMSNorm (Llama, Qwen2; as Hugging Face's LlamaRMSNorm):   y = w * x * rstd,   rstd = 1 / sqrt(mean(x²) + eps)
//
// Two shapes of row kernel, chosen by the op from C:
//   *_rows[4] one invocation per row (RWG rows per workgroup), a plain loop over C (vec4 loads in
//             *_rows4 when C is a multiple of 4, which halves their time on lavapipe). No barriers and
//             no idle lanes: on lavapipe (LLVM SIMD over a workgroup's lanes, where every barrier
//             splits the shader into separately scheduled chunks) this was 20-60x the old workgroup form
//             for small C; on GPUs it is fine while a row stays in cache (C up to ~1K).
//   (plain)   one workgroup of WG per row, threads strided over C and a sum through workgroup
//             memory: for large C, where one invocation per row would serialise too much.
// The variance is taken around the mean (two passes over the row), not as E[x²] - mean², which
// cancels badly when |mean| >> std. The first pass's mean m0 carries the rounding of a C-term sum
// of values of size |mean|, which would shift every x̂ of the row alike (and dweight = Σ g·x̂ with
// it); the second pass also sums d = x - m0, which is small and so summed accurately, and corrects
// mean = m0 + mean(d), var = mean(d²) - mean(d)² (the corrected two-pass algorithm). mean and rstd
// are saved for the backward.
//
// Backward, in three passes, none with atomics, so parameter gradients are the same bits every run:
//   *_backward[_rows[4]] dinp per row (row sums of w·g and w·g·x̂, then the elementwise formula).
//   *_dparams[4]       invocation (c, b) (c: 4 columns in *_dparams4) sums dweight (and dbias) terms over block b's rows
//                      [b * rows_per_block, ...) in row order into its slice of scratch (nblocks, K, C).
//                      Columns are adjacent lanes, so loads are contiguous (coalesced on GPUs).
//   *_reduce           adds the blocks' slices column by column in block order into dweight (and dbias).
// Grids with more than 65535 workgroups are 2D: workgroup index = wid.x + wid.y * nwg.x.

override WG: u32 = 64;  // invocations of the workgroup-per-row kernels
override RWG: u32 = 64; // rows per workgroup of the *_rows kernels; columns per workgroup of *_dparams and *_reduce

struct Params {
  N: u32,              // rows
  C: u32,              // channels
  eps: f32,
  rows_per_block: u32, // backward only
  nblocks: u32,        // backward only
  accumulate: u32,     // backward: 1 adds into dinp instead of overwriting it
}

@group(0) @binding(0) var<uniform> p: Params;
// forward outputs
@group(0) @binding(1) var<storage, read_write> out: array<f32>;       // (N, C)
@group(0) @binding(2) var<storage, read_write> mean_out: array<f32>;  // (N)
@group(0) @binding(3) var<storage, read_write> rstd_out: array<f32>;  // (N)
// inputs
@group(0) @binding(4) var<storage, read> inp: array<f32>;             // (N, C)
@group(0) @binding(5) var<storage, read> weight: array<f32>;          // (C)
@group(0) @binding(6) var<storage, read> bias: array<f32>;            // (C)
// backward
@group(0) @binding(7) var<storage, read_write> dinp: array<f32>;      // (N, C)
@group(0) @binding(8) var<storage, read_write> scratch: array<f32>;   // (nblocks, K, C)
@group(0) @binding(9) var<storage, read> dout: array<f32>;            // (N, C)
@group(0) @binding(10) var<storage, read> mean_in: array<f32>;        // (N)
@group(0) @binding(11) var<storage, read> rstd_in: array<f32>;        // (N)
@group(0) @binding(12) var<storage, read_write> dweight: array<f32>;  // (C)
@group(0) @binding(13) var<storage, read_write> dbias: array<f32>;    // (C)

// The same buffers as vec4 (C a multiple of 4): the *_rows4 kernels load a row 4 channels at a
// time, a quarter of the per-lane gathers on lavapipe. An entry point uses one view or the other.
@group(0) @binding(1) var<storage, read_write> out4: array<vec4f>;    // (N, C / 4)
@group(0) @binding(4) var<storage, read> inp4: array<vec4f>;          // (N, C / 4)
@group(0) @binding(5) var<storage, read> weight4: array<vec4f>;       // (C / 4)
@group(0) @binding(6) var<storage, read> bias4: array<vec4f>;         // (C / 4)
@group(0) @binding(7) var<storage, read_write> dinp4: array<vec4f>;   // (N, C / 4)
@group(0) @binding(8) var<storage, read_write> scratch4: array<vec4f>; // (nblocks, K, C / 4)
@group(0) @binding(9) var<storage, read> dout4: array<vec4f>;         // (N, C / 4)

var<workgroup> red: array<vec2f, WG>;

// Sum of `v` over the workgroup. Every invocation adds the WG partials itself, in index order: two
// barriers instead of a tree's log2(WG) + 1 (on lavapipe each barrier is a costly split of the
// shader), the same bits in every invocation, and cheap broadcast reads on GPUs.
// Must be called in uniform control flow.
fn workgroup_sum(lid: u32, v: vec2f) -> vec2f {
  workgroupBarrier(); // everyone has finished reading the previous sum out of red
  red[lid] = v;
  workgroupBarrier();
  var s = vec2f(0.0);
  for (var i = 0u; i < WG; i++) { s += red[i]; }
  return s;
}

fn store_dinp(i: u32, dx: f32) {
  if (p.accumulate != 0u) { dinp[i] += dx; } else { dinp[i] = dx; }
}

// ---- forward, one workgroup per row ------------------------------------------------------------

@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  let n = f32(p.C);
  var s = 0.0;
  for (var c = lid; c < p.C; c += WG) { s += inp[base + c]; }
  let m0 = workgroup_sum(lid, vec2f(s, 0.0)).x / n;
  var dv = vec2f(0.0);
  for (var c = lid; c < p.C; c += WG) {
    let d = inp[base + c] - m0;
    dv += vec2f(d, d * d);
  }
  let sd = workgroup_sum(lid, dv) / n;
  let mean = m0 + sd.x;
  let rstd = inverseSqrt(max(sd.y - sd.x * sd.x, 0.0) + p.eps);
  for (var c = lid; c < p.C; c += WG) {
    out[base + c] = (inp[base + c] - mean) * rstd * weight[c] + bias[c];
  }
  if (lid == 0u) {
    mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

@compute @workgroup_size(WG)
fn rmsnorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  var s = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let x = inp[base + c];
    s += x * x;
  }
  let rstd = inverseSqrt(workgroup_sum(lid, vec2f(s, 0.0)).x / f32(p.C) + p.eps);
  for (var c = lid; c < p.C; c += WG) {
    // HF rounds x * rstd to the input dtype before the weight; in f32 that is the same order.
    out[base + c] = weight[c] * (inp[base + c] * rstd);
  }
  if (lid == 0u) { rstd_out[row] = rstd; }
}

// ---- forward, one invocation per row -----------------------------------------------------------

@compute @workgroup_size(RWG)
fn layernorm_forward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * RWG + lid;
  if (row >= p.N) { return; }
  let base = row * p.C;
  let n = f32(p.C);
  var s = 0.0;
  for (var c = 0u; c < p.C; c++) { s += inp[base + c]; }
  let m0 = s / n;
  var dv = vec2f(0.0);
  for (var c = 0u; c < p.C; c++) {
    let d = inp[base + c] - m0;
    dv += vec2f(d, d * d);
  }
  let sd = dv / n;
  let mean = m0 + sd.x;
  let rstd = inverseSqrt(max(sd.y - sd.x * sd.x, 0.0) + p.eps);
  for (var c = 0u; c < p.C; c++) {
    out[base + c] = (inp[base + c] - mean) * rstd * weight[c] + bias[c];
  }
  mean_out[row] = mean;
  rstd_out[row] = rstd;
}

@compute @workgroup_size(RWG)
fn rmsnorm_forward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * RWG + lid;
  if (row >= p.N) { return; }
  let base = row * p.C;
  var s = 0.0;
  for (var c = 0u; c < p.C; c++) {
    let x = inp[base + c];
    s += x * x;
  }
  let rstd = inverseSqrt(s / f32(p.C) + p.eps);
  for (var c = 0u; c < p.C; c++) { out[base + c] = weight[c] * (inp[base + c] * rstd); }
  rstd_out[row] = rstd;
}

@compute @workgroup_size(RWG)
fn rmsnorm_forward_rows4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * RWG + lid;
  if (row >= p.N) { return; }
  let C4 = p.C / 4u;
  let base = row * C4;
  var s = vec4f(0.0);
  for (var c = 0u; c < C4; c++) {
    let x = inp4[base + c];
    s += x * x;
  }
  let rstd = inverseSqrt((s.x + s.y + s.z + s.w) / f32(p.C) + p.eps);
  for (var c = 0u; c < C4; c++) { out4[base + c] = weight4[c] * (inp4[base + c] * rstd); }
  rstd_out[row] = rstd;
}

@compute @workgroup_size(RWG)
fn layernorm_forward_rows4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * RWG + lid;
  if (row >= p.N) { return; }
  let C4 = p.C / 4u;
  let base = row * C4;
  let n = f32(p.C);
  var s = vec4f(0.0);
  for (var c = 0u; c < C4; c++) { s += inp4[base + c]; }
  let m0 = (s.x + s.y + s.z + s.w) / n;
  var d1 = vec4f(0.0);
  var d2 = vec4f(0.0);
  for (var c = 0u; c < C4; c++) {
    let d = inp4[base + c] - m0;
    d1 += d;
    d2 += d * d;
  }
  let sd = vec2f(d1.x + d1.y + d1.z + d1.w, d2.x + d2.y + d2.z + d2.w) / n;
  let mean = m0 + sd.x;
  let rstd = inverseSqrt(max(sd.y - sd.x * sd.x, 0.0) + p.eps);
  for (var c = 0u; c < C4; c++) {
    out4[base + c] = (inp4[base + c] - mean) * rstd * weight4[c] + bias4[c];
  }
  mean_out[row] = mean;
  rstd_out[row] = rstd;
}

// ---- backward: dinp ----------------------------------------------------------------------------

// LayerNorm: dinp = rstd * (w·g - mean(w·g) - x̂ · mean(w·g·x̂)),  x̂ = (x - mean) * rstd
@compute @workgroup_size(WG)
fn layernorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  let mean = mean_in[row];
  let rstd = rstd_in[row];
  var s = vec2f(0.0);
  for (var c = lid; c < p.C; c += WG) {
    let xh = (inp[base + c] - mean) * rstd;
    let dn = weight[c] * dout[base + c];
    s += vec2f(dn, dn * xh);
  }
  let m = workgroup_sum(lid, s) / f32(p.C);
  for (var c = lid; c < p.C; c += WG) {
    let xh = (inp[base + c] - mean) * rstd;
    store_dinp(base + c, rstd * (weight[c] * dout[base + c] - m.x - xh * m.y));
  }
}

@compute @workgroup_size(RWG)
fn layernorm_backward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * RWG + lid;
  if (row >= p.N) { return; }
  let base = row * p.C;
  let mean = mean_in[row];
  let rstd = rstd_in[row];
  var s = vec2f(0.0);
  for (var c = 0u; c < p.C; c++) {
    let xh = (inp[base + c] - mean) * rstd;
    let dn = weight[c] * dout[base + c];
    s += vec2f(dn, dn * xh);
  }
  let m = s / f32(p.C);
  for (var c = 0u; c < p.C; c++) {
    let xh = (inp[base + c] - mean) * rstd;
    store_dinp(base + c, rstd * (weight[c] * dout[base + c] - m.x - xh * m.y));
  }
}

@compute @workgroup_size(RWG)
fn layernorm_backward_rows4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * RWG + lid;
  if (row >= p.N) { return; }
  let C4 = p.C / 4u;
  let base = row * C4;
  let mean = mean_in[row];
  let rstd = rstd_in[row];
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  for (var c = 0u; c < C4; c++) {
    let xh = (inp4[base + c] - mean) * rstd;
    let dn = weight4[c] * dout4[base + c];
    s1 += dn;
    s2 += dn * xh;
  }
  let m = vec2f(s1.x + s1.y + s1.z + s1.w, s2.x + s2.y + s2.z + s2.w) / f32(p.C);
  for (var c = 0u; c < C4; c++) {
    let xh = (inp4[base + c] - mean) * rstd;
    let dx = rstd * (weight4[c] * dout4[base + c] - m.x - xh * m.y);
    if (p.accumulate != 0u) { dinp4[base + c] += dx; } else { dinp4[base + c] = dx; }
  }
}

// RMSNorm: y = w·x·r with r = (mean(x²) + eps)^-1/2, dr/dx_i = -r³ x_i / C:
// dinp = r * (w·g - x · r² · mean(w·g·x))
@compute @workgroup_size(WG)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  let rstd = rstd_in[row];
  var s = 0.0;
  for (var c = lid; c < p.C; c += WG) { s += weight[c] * dout[base + c] * inp[base + c]; }
  let k = rstd * rstd * (workgroup_sum(lid, vec2f(s, 0.0)).x / f32(p.C));
  for (var c = lid; c < p.C; c += WG) {
    store_dinp(base + c, rstd * (weight[c] * dout[base + c] - inp[base + c] * k));
  }
}

@compute @workgroup_size(RWG)
fn rmsnorm_backward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * RWG + lid;
  if (row >= p.N) { return; }
  let base = row * p.C;
  let rstd = rstd_in[row];
  var s = 0.0;
  for (var c = 0u; c < p.C; c++) { s += weight[c] * dout[base + c] * inp[base + c]; }
  let k = rstd * rstd * (s / f32(p.C));
  for (var c = 0u; c < p.C; c++) {
    store_dinp(base + c, rstd * (weight[c] * dout[base + c] - inp[base + c] * k));
  }
}

@compute @workgroup_size(RWG)
fn rmsnorm_backward_rows4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * RWG + lid;
  if (row >= p.N) { return; }
  let C4 = p.C / 4u;
  let base = row * C4;
  let rstd = rstd_in[row];
  var s = vec4f(0.0);
  for (var c = 0u; c < C4; c++) { s += weight4[c] * dout4[base + c] * inp4[base + c]; }
  let k = rstd * rstd * ((s.x + s.y + s.z + s.w) / f32(p.C));
  for (var c = 0u; c < C4; c++) {
    let dx = rstd * (weight4[c] * dout4[base + c] - inp4[base + c] * k);
    if (p.accumulate != 0u) { dinp4[base + c] += dx; } else { dinp4[base + c] = dx; }
  }
}

// ---- backward: parameter gradients -------------------------------------------------------------

// dweight += Σ_rows g·x̂,  dbias += Σ_rows g. Invocation (c, b): grid (ceil(C / RWG), nblocks).
@compute @workgroup_size(RWG)
fn layernorm_dparams(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  let b = gid.y;
  if (c >= p.C) { return; }
  let r0 = b * p.rows_per_block;
  let r1 = min(p.N, r0 + p.rows_per_block);
  var w = 0.0;
  var g_sum = 0.0;
  for (var row = r0; row < r1; row++) {
    let g = dout[row * p.C + c];
    w += g * ((inp[row * p.C + c] - mean_in[row]) * rstd_in[row]);
    g_sum += g;
  }
  scratch[(2u * b) * p.C + c] = w;
  scratch[(2u * b + 1u) * p.C + c] = g_sum;
}

// dweight += Σ_rows g·x·r
@compute @workgroup_size(RWG)
fn rmsnorm_dparams(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  let b = gid.y;
  if (c >= p.C) { return; }
  let r0 = b * p.rows_per_block;
  let r1 = min(p.N, r0 + p.rows_per_block);
  var w = 0.0;
  for (var row = r0; row < r1; row++) { w += dout[row * p.C + c] * inp[row * p.C + c] * rstd_in[row]; }
  scratch[b * p.C + c] = w;
}

// As *_dparams, four adjacent columns per invocation: grid (ceil(C / 4 / RWG), nblocks).
@compute @workgroup_size(RWG)
fn layernorm_dparams4(@builtin(global_invocation_id) gid: vec3u) {
  let C4 = p.C / 4u;
  let c = gid.x;
  let b = gid.y;
  if (c >= C4) { return; }
  let r0 = b * p.rows_per_block;
  let r1 = min(p.N, r0 + p.rows_per_block);
  var w = vec4f(0.0);
  var g_sum = vec4f(0.0);
  for (var row = r0; row < r1; row++) {
    let g = dout4[row * C4 + c];
    w += g * ((inp4[row * C4 + c] - mean_in[row]) * rstd_in[row]);
    g_sum += g;
  }
  scratch4[(2u * b) * C4 + c] = w;
  scratch4[(2u * b + 1u) * C4 + c] = g_sum;
}

@compute @workgroup_size(RWG)
fn rmsnorm_dparams4(@builtin(global_invocation_id) gid: vec3u) {
  let C4 = p.C / 4u;
  let c = gid.x;
  let b = gid.y;
  if (c >= C4) { return; }
  let r0 = b * p.rows_per_block;
  let r1 = min(p.N, r0 + p.rows_per_block);
  var w = vec4f(0.0);
  for (var row = r0; row < r1; row++) { w += dout4[row * C4 + c] * inp4[row * C4 + c] * rstd_in[row]; }
  scratch4[b * C4 + c] = w;
}

// One invocation per column: adds the blocks' partial sums in block order.
@compute @workgroup_size(RWG)
fn layernorm_reduce(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.C) { return; }
  var w = 0.0;
  var b = 0.0;
  for (var k = 0u; k < p.nblocks; k++) {
    w += scratch[(2u * k) * p.C + c];
    b += scratch[(2u * k + 1u) * p.C + c];
  }
  dweight[c] += w;
  dbias[c] += b;
}

@compute @workgroup_size(RWG)
fn rmsnorm_reduce(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.C) { return; }
  var w = 0.0;
  for (var k = 0u; k < p.nblocks; k++) { w += scratch[k * p.C + c]; }
  dweight[c] += w;
}
