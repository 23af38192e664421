// Rotary position embedding, Llama's rotate-half convention (Hugging Face apply_rotary_pos_emb):
// channel i of a head is paired with channel i + D/2 and the pair is rotated by θ = pos · inv_freq_i,
// inv_freq_i = base^(-2i/D):
//   out[i]       = x[i] cos θ - x[i + D/2] sin θ
//   out[i + D/2] = x[i + D/2] cos θ + x[i] sin θ
// The backward is the rotation by -θ (p.sign = -1). One invocation per pair; it reads both values
// before writing either, so `rope_inplace` may overwrite its input.
//
// The angle, carefully: in plain f32, pos · inv_freq at pos = 8192 is off by up to half an ulp of
// 8192 (5e-4 rad), and sin/cos outside [-π, π] have no accuracy guarantee at all. Instead the
// host passes the frequency in turns per position, f = inv_freq / 2π, split as f = hi + lo with hi
// holding 12 significant bits. With pos = a · 4096 + b (a, b < 4096 for |pos| < 2^24) the products
// a·hi and b·hi are exact in f32, so their fractional parts are exact; only pos · lo (|lo| ≤
// 2^-12 f) rounds. The sum, reduced to [-1/2, 1/2] turns, is scaled to [-π, π]: the angle's
// error is ~1e-6 rad at any position below 2^16 instead of growing with pos.
// The grid may be 2D when it needs more than 65535 workgroups: index = wid.x + wid.y * nwg.x.

override WG: u32 = 256;

struct Params {
  pairs: u32,   // B · T · H · D/2
  H: u32,
  half: u32,    // D/2
  sign: f32,    // +1 forward, -1 backward
  // (hi_i, lo_i, hi_i+1, lo_i+1): turns per position for pairs i and i+1
  freq: array<vec4f, 128>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;     // (B, T, H, D)
@group(0) @binding(2) var<storage, read> inp: array<f32>;           // (B, T, H, D)
@group(0) @binding(3) var<storage, read> positions: array<i32>;     // (B, T)
@group(0) @binding(4) var<storage, read_write> x: array<f32>;       // (B, T, H, D), in place

const TWO_PI = 6.283185307179586;

// (cos θ, sin θ) for pair i at position pos, with θ reduced exactly as explained above.
fn rotation(pos: i32, i: u32) -> vec2f {
  let q = p.freq[i >> 1u];
  let f = select(q.xy, q.zw, (i & 1u) == 1u);
  let a = f32(pos >> 12u) * 4096.0;     // pos = a + b exactly, |a/4096| and b below 2^12
  let b = f32(pos & 4095);
  let t1 = a * f.x;                     // exact
  let t2 = b * f.x;                     // exact
  let t3 = f32(pos) * f.y;              // small: |pos · lo| ≤ 2^-12 |pos · f|
  var r = (t1 - round(t1)) + (t2 - round(t2)) + (t3 - round(t3));
  r -= round(r);
  let th = TWO_PI * r;
  return vec2f(cos(th), p.sign * sin(th));
}

// Element offset of the first value of pair `k`, and the pair's (position, frequency index).
fn locate(k: u32) -> vec3u {
  let i = k % p.half;
  let bth = k / p.half;              // (b · T + t) · H + h
  let base = bth * (2u * p.half) + i;
  return vec3u(base, bth / p.H, i);
}

@compute @workgroup_size(WG)
fn rope(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = (wid.x + wid.y * nwg.x) * WG + lid;
  if (k >= p.pairs) { return; }
  let l = locate(k);
  let cs = rotation(positions[l.y], l.z);
  let x1 = inp[l.x];
  let x2 = inp[l.x + p.half];
  out[l.x] = x1 * cs.x - x2 * cs.y;
  out[l.x + p.half] = x2 * cs.x + x1 * cs.y;
}

@compute @workgroup_size(WG)
fn rope_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = (wid.x + wid.y * nwg.x) * WG + lid;
  if (k >= p.pairs) { return; }
  let l = locate(k);
  let cs = rotation(positions[l.y], l.z);
  let x1 = x[l.x];
  let x2 = x[l.x + p.half];
  x[l.x] = x1 * cs.x - x2 * cs.y;
  x[l.x + p.half] = x2 * cs.x + x1 * cs.y;
}
