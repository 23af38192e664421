// Rotary position embedding, Llama's rotate-half convention (Hugging Face apply_rotary_pos_emb):
// channel i of a head is paired with channel i + D/2 and the pair is rotated by θ = pos · inv_freq_i:
//   out[i]       = x[i] cos θ - x[i + D/2] sin θ
//   out[i + D/2] = x[i + D/2] cos θ + x[i] sin θ
// The backward is the rotation by -θ (p.sign = -1). One invocation per pair (per 4 pairs in the
// vec4 variants below); it reads both values before writing either, so the `_inplace` entry points
// may overwrite their input.
//
// cos θ and sin θ come from a table computed on the host in float64, not from the shader's
// cos/sin: Vulkan lets those be off by 2^-11 (SwiftShader is), and f32 pos · inv_freq loses
// 5e-4 rad at pos 8192. A table also carries any RoPE scaling (Llama 3's) for free.
// A position outside the table yields NaN, so a wrong plan shows in the loss instead of hiding.
// The grid may be 2D when it needs more than 65535 workgroups: index = wid.x + wid.y * nwg.x.

override WG: u32 = 256;
// D/2 and H as pipeline constants rather than uniforms: the divisions in `locate` then compile to
// multiply-shifts. lavapipe runs a runtime integer division one lane at a time, and three per
// pair made this kernel ten times slower than its memory traffic.
override HALF: u32 = 32u;
override HEADS: u32 = 1u;

struct Params {
  pairs: u32,   // B · T · H · D/2
  sign: f32,    // +1 forward, -1 backward
  P: u32,       // rows of the table (positions 0 .. P-1)
  nan: u32,     // 0x7fc00000: a NaN's bits (WGSL forbids a NaN constant)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;     // (B, T, H, D)
@group(0) @binding(2) var<storage, read> inp: array<f32>;           // (B, T, H, D)
@group(0) @binding(3) var<storage, read> positions: array<i32>;     // (B, T)
@group(0) @binding(4) var<storage, read_write> x: array<f32>;       // (B, T, H, D), in place
@group(0) @binding(5) var<storage, read> table: array<vec2f>;       // (P, D/2): (cos θ, sin θ)

// (cos θ, ±sin θ) for pair i at position pos.
fn rotation(pos: i32, i: u32) -> vec2f {
  if (pos < 0 || u32(pos) >= p.P) {
    let nan = bitcast<f32>(p.nan);
    return vec2f(nan, nan);
  }
  let cs = table[u32(pos) * HALF + i];
  return vec2f(cs.x, p.sign * cs.y);
}

// Element offset of the first value of pair `k`, and the pair's (token, frequency index).
fn locate(k: u32) -> vec3u {
  let i = k % HALF;
  let bth = k / HALF;                // (b · T + t) · H + h
  let base = bth * (2u * HALF) + i;
  return vec3u(base, bth / HEADS, i);
}

@compute @workgroup_size(WG)
fn rope(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = (wid.x + wid.y * nwg.x) * WG + lid;
  if (k >= p.pairs) { return; }
  let l = locate(k);
  let cs = rotation(positions[l.y], l.z);
  let x1 = inp[l.x];
  let x2 = inp[l.x + HALF];
  out[l.x] = x1 * cs.x - x2 * cs.y;
  out[l.x + HALF] = x2 * cs.x + x1 * cs.y;
}

@compute @workgroup_size(WG)
fn rope_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = (wid.x + wid.y * nwg.x) * WG + lid;
  if (k >= p.pairs) { return; }
  let l = locate(k);
  let cs = rotation(positions[l.y], l.z);
  let x1 = x[l.x];
  let x2 = x[l.x + HALF];
  x[l.x] = x1 * cs.x - x2 * cs.y;
  x[l.x + HALF] = x2 * cs.x + x1 * cs.y;
}

// vec4 variants, taken when D/2 % 4 == 0 (every real head size): one invocation per 4 pairs,
// reading the position once for them and moving x and the table 16 bytes per load. On lavapipe
// every per-lane load is a gather: this ran the (1024, 4, 64) q/k RoPE of the training profile in
// ≈0.35 ms per call against ≈0.75 for the per-pair kernel. One invocation per (token, head) row
// looping over its pairs (the position read once per row) measured 0–30% slower than this.
@group(0) @binding(6) var<storage, read_write> x4: array<vec4f>;    // (B, T, H, D/4), in place
@group(0) @binding(7) var<storage, read> inp4: array<vec4f>;        // (B, T, H, D/4)
@group(0) @binding(8) var<storage, read_write> out4: array<vec4f>;  // (B, T, H, D/4)
@group(0) @binding(9) var<storage, read> table4: array<vec4f>;      // (P, D/4): (cos, sin, cos, sin)

// For the q-th group of 4 pairs: the vec4 offset of its first values, and (cos θ, ±sin θ) of its
// 4 pairs as two vec4s (columns 0 and 1), NaN for a position outside the table.
struct Quad { at: u32, cs: mat2x4f }

fn quad(q: u32) -> Quad {
  let row = q / (HALF / 4u);         // (b · T + t) · H + h
  let j = q % (HALF / 4u);
  let at = row * (HALF / 2u) + j;
  let pos = positions[row / HEADS];
  if (pos < 0 || u32(pos) >= p.P) {
    let nan = vec4f(bitcast<f32>(p.nan));
    return Quad(at, mat2x4f(nan, nan));
  }
  let t = u32(pos) * (HALF / 2u) + 2u * j;
  let lo = table4[t];
  let hi = table4[t + 1u];
  return Quad(at, mat2x4f(vec4f(lo.x, lo.z, hi.x, hi.z), p.sign * vec4f(lo.y, lo.w, hi.y, hi.w)));
}

// The 4 pairs (x1, x2) rotated: (x1 cos − x2 sin, x2 cos + x1 sin).
fn turn(r: Quad, x1: vec4f, x2: vec4f) -> mat2x4f {
  return mat2x4f(x1 * r.cs[0] - x2 * r.cs[1], x2 * r.cs[0] + x1 * r.cs[1]);
}

@compute @workgroup_size(WG)
fn rope4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = (wid.x + wid.y * nwg.x) * WG + lid;
  if (q >= p.pairs / 4u) { return; }
  let r = quad(q);
  let y = turn(r, inp4[r.at], inp4[r.at + HALF / 4u]);
  out4[r.at] = y[0];
  out4[r.at + HALF / 4u] = y[1];
}

@compute @workgroup_size(WG)
fn rope4_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = (wid.x + wid.y * nwg.x) * WG + lid;
  if (q >= p.pairs / 4u) { return; }
  let r = quad(q);
  let y = turn(r, x4[r.at], x4[r.at + HALF / 4u]);
  x4[r.at] = y[0];
  x4[r.at + HALF / 4u] = y[1];
}
