// Deterministic reductions of a flat f32 array of n elements, in two dispatches:
//
//   partial_sum / partial_sumsq   G·WG invocations (G <= 64, fixed by n alone). Invocation
//                                 t = g*WG + l adds elements i = t + k*G*WG (a grid-stride loop,
//                                 so n may exceed G*WG, e.g. a whole model's gradients) and
//                                 writes its own partials[t]. No workgroup tree here: on lavapipe
//                                 each barrier round costs tens of microseconds per workgroup,
//                                 which made a 17 MB gradient norm ten times slower than memory.
//   finish_sum                    one workgroup adds the G·WG partials (strided loop, then a
//                                 fixed tree): out[out_index] = sum (or += sum when accumulate != 0).
//   finish_norm                   one workgroup: out[0] = sqrt(sum of squares), the L2 norm, and
//                                 out[1] = min(1, max_norm / (norm + 1e-6)), the clip scale
//                                 (1 when max_norm <= 0: no clipping; 0 when the norm is not
//                                 finite, which zeroes the update as torch does for an inf norm).
//
// WGSL has no float atomics, and none are used: every addition happens in the same order on
// every run, so the results are bit-identical. WG must be a power of two.

override WG: u32 = 256;

struct Params {
  n: u32,           // elements of inp (partial_*), or partials to add (finish_*)
  out_index: u32,
  accumulate: u32,
  max_norm: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;              // (n)
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;   // (G·WG)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;        // (k) or (2) for the norm

var<workgroup> sh: array<f32, WG>;

// Sum of one value per invocation, in a fixed tree; the total is returned to every invocation.
fn block_sum(lid: u32, v: f32) -> f32 {
  sh[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { sh[lid] = sh[lid] + sh[lid + stride]; }
    workgroupBarrier();
  }
  return sh[0];
}

fn partial(wid: vec3u, nwg: vec3u, lid: u32, square: bool) {
  let t = wid.x * WG + lid;   // G <= 64: a 1D grid
  let stride = nwg.x * WG;
  var acc = 0.0;
  for (var i = t; i < p.n; i += stride) {
    let x = inp[i];
    acc += select(x, x * x, square);
  }
  partials[t] = acc;
}

@compute @workgroup_size(WG)
fn partial_sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  partial(wid, nwg, lid, false);
}

@compute @workgroup_size(WG)
fn partial_sumsq(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  partial(wid, nwg, lid, true);
}

fn sum_partials(lid: u32) -> f32 {
  var acc = 0.0;
  for (var i = lid; i < p.n; i += WG) { acc += partials[i]; }
  return block_sum(lid, acc);
}

@compute @workgroup_size(WG)
fn finish_sum(@builtin(local_invocation_index) lid: u32) {
  let total = sum_partials(lid);
  if (lid == 0u) {
    let prev = select(0.0, out[p.out_index], p.accumulate != 0u);
    out[p.out_index] = prev + total;
  }
}

@compute @workgroup_size(WG)
fn finish_norm(@builtin(local_invocation_index) lid: u32) {
  let norm = sqrt(sum_partials(lid));
  if (lid == 0u) {
    // Compilers may assume floats are finite, so test the exponent bits rather than compare.
    let finite = (bitcast<u32>(norm) & 0x7f800000u) != 0x7f800000u;
    var scale = 1.0;
    if (p.max_norm > 0.0) {
      scale = select(0.0, min(1.0, p.max_norm / (norm + 1e-6)), finite);
    }
    out[0] = norm;
    out[1] = scale;
  }
}
