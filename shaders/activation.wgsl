// MLP activations, elementwise over n = N·F values, one invocation per value.
//   gelu (GPT-2's gelu_new, the tanh approximation):
//     y = 0.5 x (1 + tanh(u)),  u = sqrt(2/π) (x + 0.044715 x³)
//     dy/dx = 0.5 (1 + t) + 0.5 x (1 - t²) sqrt(2/π) (1 + 3·0.044715 x²),  t = tanh(u)
//   swiglu (Llama's MLP):  y = silu(gate) · up,  silu(g) = g σ(g)
//     dgate = dout · up · σ(g) (1 + g (1 - σ(g))),  dup = dout · silu(g)
// Backward kernels overwrite their gradients, or add into them when p.accumulate is 1.
// The grid may be 2D when n needs more than 65535 workgroups: index = wid.x + wid.y * nwg.x.

override WG: u32 = 256;

struct Params {
  n: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // (N, F)
@group(0) @binding(2) var<storage, read> inp: array<f32>;         // (N, F)
@group(0) @binding(3) var<storage, read_write> dinp: array<f32>;  // (N, F)
@group(0) @binding(4) var<storage, read> dout: array<f32>;        // (N, F)
@group(0) @binding(5) var<storage, read> gate: array<f32>;        // (N, F)
@group(0) @binding(6) var<storage, read> up: array<f32>;          // (N, F)
@group(0) @binding(7) var<storage, read_write> dgate: array<f32>; // (N, F)
@group(0) @binding(8) var<storage, read_write> dup: array<f32>;   // (N, F)

const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_C = 0.044715;
// tanh(±10) rounds to ±1 in f32. Clamping keeps huge |x| (x³ overflows to inf) from reaching
// tanh implementations that compute it as a ratio of exponentials (inf / inf = NaN).
const U_MAX = 10.0;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

// σ(g) without overflow: exp of a non-positive argument only.
fn sigmoid(g: f32) -> f32 {
  let e = exp(-abs(g));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), g >= 0.0);
}

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let x = inp[i];
  let u = clamp(SQRT_2_OVER_PI * (x + GELU_C * x * x * x), -U_MAX, U_MAX);
  out[i] = 0.5 * x * (1.0 + tanh(u));
}

@compute @workgroup_size(WG)
fn gelu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let x = inp[i];
  let u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
  var d: f32;
  if (abs(u) >= U_MAX) {
    // saturated: gelu is x or 0 there, and (1 - t²) · x³ would be 0 · inf for huge x
    d = select(0.0, 1.0, u > 0.0);
  } else {
    let t = tanh(u);
    d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x);
  }
  let g = dout[i] * d;
  dinp[i] = select(g, dinp[i] + g, p.accumulate != 0u);
}

@compute @workgroup_size(WG)
fn swiglu_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let g = gate[i];
  out[i] = g * sigmoid(g) * up[i];
}

@compute @workgroup_size(WG)
fn swiglu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let g = gate[i];
  let s = sigmoid(g);
  let d = dout[i];
  let dg = d * up[i] * s * (1.0 + g * (1.0 - s));
  let du = d * g * s;
  let acc = p.accumulate != 0u;
  dgate[i] = select(dg, dgate[i] + dg, acc);
  dup[i] = select(du, dup[i] + du, acc);
}

// vec4 variants of the SwiGLU kernels for n % 4 == 0 (every real MLP width): one invocation per
// four values. Software rasterizers (lavapipe, SwiftShader) load storage per lane, so a vec4 load
// costs about what a scalar one does.
@group(0) @binding(9) var<storage, read_write> out4: array<vec4f>;    // (N, F/4)
@group(0) @binding(10) var<storage, read> dout4: array<vec4f>;        // (N, F/4)
@group(0) @binding(11) var<storage, read> gate4: array<vec4f>;        // (N, F/4)
@group(0) @binding(12) var<storage, read> up4: array<vec4f>;          // (N, F/4)
@group(0) @binding(13) var<storage, read_write> dgate4: array<vec4f>; // (N, F/4)
@group(0) @binding(14) var<storage, read_write> dup4: array<vec4f>;   // (N, F/4)

fn sigmoid4(g: vec4f) -> vec4f {
  let e = exp(-abs(g));
  return select(e, vec4f(1.0), g >= vec4f(0.0)) / (1.0 + e);
}

@compute @workgroup_size(WG)
fn swiglu_forward4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let g = gate4[i];
  out4[i] = g * sigmoid4(g) * up4[i];
}

@compute @workgroup_size(WG)
fn swiglu_backward4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let g = gate4[i];
  let s = sigmoid4(g);
  let d = dout4[i];
  let dg = d * up4[i] * s * (1.0 + g * (1.0 - s));
  let du = d * g * s;
  if (p.accumulate != 0u) {
    dgate4[i] += dg;
    dup4[i] += du;
  } else {
    dgate4[i] = dg;
    dup4[i] = du;
  }
}
