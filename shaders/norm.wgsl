// Row normalisation for transformer students, forward and backward, over N rows of C channels.
//   LayerNorm (GPT-2):   y = (x - mean) * rstd * w + b,   rstd = 1 / sqrt(var + eps), var = mean((x - mean)²)
//   RMSNorm (Llama, Qwen2; as Hugging Face's LlamaRMSNorm):   y = w * x * rstd,   rstd = 1 / sqrt(mean(x²) + eps)
//
// Forward: one workgroup per row; threads stride over the columns, so any C works and workgroup
// memory does not grow with C. The variance is taken around the mean (two passes over the row),
// not as E[x²] - mean², which cancels badly when |mean| >> std. mean and rstd are saved.
//
// Backward: workgroup b owns rows [b * rows_per_block, (b + 1) * rows_per_block). It writes dinp for
// them and its partial sums of dweight (and dbias) into its own slice of `scratch` (nblocks, K, C),
// one thread per column, rows in order. `*_reduce` then adds the slices column by column in block
// order into dweight (and dbias). No atomics: the parameter gradients are the same bits every run.
// Grids with more than 65535 rows are 2D: row = wid.x + wid.y * nwg.x.

override WG: u32 = 256; // a power of two (tree reduction)

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

var<workgroup> red: array<vec2f, WG>;

// Sum of `v` over the workgroup, in a fixed tree order. Must be called in uniform control flow.
fn workgroup_sum(lid: u32, v: vec2f) -> vec2f {
  workgroupBarrier(); // everyone has read the previous result out of red[0]
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  return red[0];
}

@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  let n = f32(p.C);
  var s = 0.0;
  for (var c = lid; c < p.C; c += WG) { s += inp[base + c]; }
  let mean = workgroup_sum(lid, vec2f(s, 0.0)).x / n;
  var v = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let d = inp[base + c] - mean;
    v += d * d;
  }
  let rstd = inverseSqrt(workgroup_sum(lid, vec2f(v, 0.0)).x / n + p.eps);
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

// dinp = rstd * (w·g - mean(w·g) - x̂ · mean(w·g·x̂)),  x̂ = (x - mean) * rstd
// dweight += Σ_rows g·x̂,  dbias += Σ_rows g
@compute @workgroup_size(WG)
fn layernorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r0 = wid.x * p.rows_per_block;
  let r1 = min(p.N, r0 + p.rows_per_block);
  let n = f32(p.C);
  let sw = (wid.x * 2u) * p.C; // this block's dweight slice; the dbias slice follows it
  for (var row = r0; row < r1; row++) {
    let base = row * p.C;
    let mean = mean_in[row];
    let rstd = rstd_in[row];
    var s = vec2f(0.0);
    for (var c = lid; c < p.C; c += WG) {
      let xh = (inp[base + c] - mean) * rstd;
      let dn = weight[c] * dout[base + c];
      s += vec2f(dn, dn * xh);
    }
    let m = workgroup_sum(lid, s) / n;
    for (var c = lid; c < p.C; c += WG) {
      let g = dout[base + c];
      let xh = (inp[base + c] - mean) * rstd;
      let dx = rstd * (weight[c] * g - m.x - xh * m.y);
      dinp[base + c] = select(dx, dinp[base + c] + dx, p.accumulate != 0u);
      if (row == r0) {
        scratch[sw + c] = g * xh;
        scratch[sw + p.C + c] = g;
      } else {
        scratch[sw + c] += g * xh;
        scratch[sw + p.C + c] += g;
      }
    }
  }
}

// y = w·x·r with r = (mean(x²) + eps)^-1/2, dr/dx_i = -r³ x_i / C:
// dinp = r * (w·g - x · r² · mean(w·g·x)),   dweight += Σ_rows g·x·r
@compute @workgroup_size(WG)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r0 = wid.x * p.rows_per_block;
  let r1 = min(p.N, r0 + p.rows_per_block);
  let sw = wid.x * p.C;
  for (var row = r0; row < r1; row++) {
    let base = row * p.C;
    let rstd = rstd_in[row];
    var s = 0.0;
    for (var c = lid; c < p.C; c += WG) { s += weight[c] * dout[base + c] * inp[base + c]; }
    let m = workgroup_sum(lid, vec2f(s, 0.0)).x / f32(p.C);
    for (var c = lid; c < p.C; c += WG) {
      let g = dout[base + c];
      let x = inp[base + c];
      let dx = rstd * (weight[c] * g - x * (rstd * rstd * m));
      dinp[base + c] = select(dx, dinp[base + c] + dx, p.accumulate != 0u);
      let dw = g * x * rstd;
      if (row == r0) { scratch[sw + c] = dw; } else { scratch[sw + c] += dw; }
    }
  }
}

// One thread per column: adds the blocks' partial sums in block order.
@compute @workgroup_size(WG)
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

@compute @workgroup_size(WG)
fn rmsnorm_reduce(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.C) { return; }
  var w = 0.0;
  for (var k = 0u; k < p.nblocks; k++) { w += scratch[k * p.C + c]; }
  dweight[c] += w;
}
