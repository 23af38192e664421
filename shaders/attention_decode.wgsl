// Attention of Tq new queries over a KV cache, and the write of new keys/values into that cache.
// The cache holds Tmax positions per sequence; `past` (a one-word storage buffer the host rewrites
// before each step) says how many are already filled, so the dispatches are built once and replayed
// at every decode step. Query i of the new tokens sits at absolute position past + i and sees cache
// positions 0 .. past + i (causal). Query head h reads kv head h / (Hq / Hkv) (grouped-query).
//
//   cache_write  cache[b, past + t] = kv[b, t] for the Tq new rows: one invocation per element.
//   decode       one workgroup per (query, head, batch). The keys are split across the workgroup
//                (flash-decoding): chunks of WG * KPT keys, each invocation scoring KPT of them into
//                workgroup memory; a tree reduction gives the chunk max and each invocation turns its
//                own scores into probabilities. For p · v the workgroup is G = WG / QN key groups of
//                QN lanes: lane c of group g accumulates dims 4c .. 4c+3 over keys g, g + G, ... (a
//                vec4 per lane, one probability read per four products). Online softmax across
//                chunks, so the length is bounded only by the cache; the G partial sums are added in
//                a fixed order at the end. With Tq = 1 (decode) the grid is just (1, Hq, B) and all
//                the parallelism is over keys and dimensions.
//
// Scores are in the log2 domain (q is pre-multiplied by scale * log2(e)), so each probability is one
// exp2. Everything is summed in a fixed order: deterministic. Storage is ST (f32 or f16);
// arithmetic is f32.

alias ST = f32;

// Head dims up to DMAX (a multiple of 4).
const DMAX: u32 = 128u;
// Masked scores: finite so that m - mx never becomes inf - inf; exp2 of them is exactly 0.
const MASKED: f32 = -2e30;
const M0: f32 = -1e30;

override WG: u32 = 64u;   // invocations per workgroup, a power of two >= 32
override KPT: u32 = 4u;   // keys scored per invocation per chunk
override QN: u32 = 16u;   // lanes per key group in p · v: a power of two >= ceil(D / 4), <= WG

struct Params {
  Tq: u32,      // new tokens
  Tmax: u32,    // cache capacity
  Hq: u32,
  Hkv: u32,
  D: u32,
  scale2: f32,  // scale * log2(e)
  n: u32,       // cache_write: B * Tq * Hkv * D elements
  pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<ST>;             // (B, Tq, Hq, D)
@group(0) @binding(2) var<storage, read> kc: array<ST>;            // (B, Tmax, Hkv, D)
@group(0) @binding(3) var<storage, read> vc: array<ST>;            // (B, Tmax, Hkv, D)
@group(0) @binding(4) var<storage, read> past: array<u32>;         // (1) filled cache positions
@group(0) @binding(5) var<storage, read_write> out: array<ST>;     // (B, Tq, Hq, D)
@group(0) @binding(6) var<storage, read> kv: array<ST>;            // (B, Tq, Hkv, D) new rows
@group(0) @binding(7) var<storage, read_write> cache: array<ST>;   // (B, Tmax, Hkv, D)

var<workgroup> qs: array<vec4f, DMAX / 4u>;
var<workgroup> sc: array<f32, WG * KPT>;
var<workgroup> red: array<f32, WG>;
var<workgroup> part: array<vec4f, WG>;
var<workgroup> len: u32;

// Grid: grid(ceil(n / WG)).
@compute @workgroup_size(WG)
fn cache_write(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * WG + lid;
  if (e >= p.n) { return; }
  let d = e % p.D;
  let rest = e / p.D;
  let hk = rest % p.Hkv;
  let bt = rest / p.Hkv;
  let t = bt % p.Tq;
  let b = bt / p.Tq;
  let pos = past[0] + t;
  // The host never lets the cache overflow; this keeps a mistake from writing into the next sequence.
  if (pos >= p.Tmax) { return; }
  cache[((b * p.Tmax + pos) * p.Hkv + hk) * p.D + d] = kv[e];
}

// Grid: (Tq, Hq, B).
@compute @workgroup_size(WG)
fn decode(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x;
  let h = wid.y;
  let b = wid.z;
  let hk = h / (p.Hq / p.Hkv);
  let qb = ((b * p.Tq + i) * p.Hq + h) * p.D;
  for (var c = lid; c < DMAX / 4u; c += WG) {
    var r = vec4f(0.0);
    for (var e = 0u; e < 4u; e++) { let d = 4u * c + e; if (d < p.D) { r[e] = f32(q[qb + d]) * p.scale2; } }
    qs[c] = r;
  }
  if (lid == 0u) { len = min(past[0] + i + 1u, p.Tmax); }
  // Also the barrier that publishes qs.
  let n = workgroupUniformLoad(&len);
  let chunk = WG * KPT;
  let stride = p.Hkv * p.D; // between consecutive positions of one kv head
  let base = (b * p.Tmax * p.Hkv + hk) * p.D;
  // p · v layout: lane = g * QN + c owns dims 4c .. 4c+3 for the keys t = g, g + G, ... of each chunk.
  let G = WG / QN;
  let c = lid % QN;
  let g = lid / QN;
  let d0 = 4u * c;
  var acc = vec4f(0.0);
  var m = M0;
  var l = 0.0; // this lane's key group's share of the softmax denominator
  for (var c0 = 0u; c0 < n; c0 += chunk) {
    var lm = M0;
    for (var r = 0u; r < KPT; r++) {
      let t = r * WG + lid;
      let j = c0 + t;
      var s = MASKED;
      if (j < n) {
        let kb = base + j * stride;
        // Four dims per iteration: one workgroup-memory read of q serves four products.
        var dot4 = vec4f(0.0);
        var d = 0u;
        for (; d + 4u <= p.D; d += 4u) {
          dot4 += qs[d / 4u] * vec4f(f32(kc[kb + d]), f32(kc[kb + d + 1u]), f32(kc[kb + d + 2u]), f32(kc[kb + d + 3u]));
        }
        for (; d < p.D; d++) { dot4.x += qs[d / 4u][d % 4u] * f32(kc[kb + d]); }
        s = (dot4.x + dot4.y) + (dot4.z + dot4.w);
      }
      sc[t] = s;
      lm = max(lm, s);
    }
    red[lid] = lm;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w /= 2u) {
      if (lid < w) { red[lid] = max(red[lid], red[lid + w]); }
      workgroupBarrier();
    }
    let mx = max(m, red[0]);
    let alpha = exp2(m - mx);
    // Each invocation converts only the scores it wrote, so no barrier is needed before this.
    for (var r = 0u; r < KPT; r++) {
      let t = r * WG + lid;
      sc[t] = exp2(sc[t] - mx);
    }
    workgroupBarrier();
    acc *= alpha;
    l *= alpha;
    let nk = min(chunk, n - c0);
    if (d0 < p.D) {
      for (var t = g; t < nk; t += G) {
        let pr = sc[t];
        l += pr;
        let vb = base + (c0 + t) * stride + d0;
        var v4 = vec4f(0.0);
        for (var e = 0u; e < 4u; e++) { if (d0 + e < p.D) { v4[e] = f32(vc[vb + e]); } }
        acc += pr * v4;
      }
    }
    m = mx;
    // The next chunk rewrites sc and red.
    workgroupBarrier();
  }
  // Sum the key groups in a fixed order.
  part[lid] = acc;
  red[lid] = l;
  workgroupBarrier();
  if (g == 0u && d0 < p.D) {
    var o = vec4f(0.0);
    var lt = 0.0;
    for (var gg = 0u; gg < G; gg++) {
      o += part[gg * QN + c];
      lt += red[gg * QN + c];
    }
    o /= lt;
    for (var e = 0u; e < 4u; e++) { if (d0 + e < p.D) { out[qb + d0 + e] = ST(o[e]); } }
  }
}
