// Rotary position embedding, Llama's rotate-half convention (Hugging Face apply_rotary_pos_emb):
// channel i of a head is paired with channel i + D/2 and the pair is rotated by θ = pos · inv_freq_i:
//   out[i]       = x[i] cos θ - x[i + D/2] sin θ
//   out[i + D/2] = x[i + D/2] cos θ + x[i] sin θ
// The backward is the rotation by -θ (p.sign = -1). One invocation per pair; it reads both values
// before writing either, so `rope_inplace` may overwrite its input.
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
  H: u32,       // unused: HEADS
  half: u32,    // unused: HALF
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
