// Copies a block of columns between two row-major matrices with the same number of rows:
//   out[r, outCol + c] = inp[r, inpCol + c]        (or += with accumulate)
// for r < rows, c < cols. It splits GPT-2's fused c_attn output (rows, 3C) into q, k and v, and
// puts dq, dk, dv back side by side for the fused weight's gradient, without any (rows, 3C) copy
// of the whole buffer. One invocation per copied element.
// The grid may be 2D when it needs more than 65535 workgroups: index = wid.x + wid.y * nwg.x.

override WG: u32 = 256;

struct Params {
  rows: u32,
  cols: u32,
  ldOut: u32,
  outCol: u32,
  ldInp: u32,
  inpCol: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  let o = r * p.ldOut + p.outCol + c;
  var x = inp[r * p.ldInp + p.inpCol + c];
  if (p.accumulate != 0u) { x += out[o]; }
  out[o] = x;
}
