// Causal flash attention, subgroup variant. Same contract, layout and math as attention.wgsl (read
// that file first): q, out, dout (B, T, Hq, D); k, v (B, T, Hkv, D); scores in the log2 domain;
// lse (B, Hq, T). Needs D % 4 == 0 (vec4 loads) and subgroups of at least SGW invocations: a
// workgroup is SGW invocations that are one subgroup.
//
// Why: on lavapipe (LLVM, 8-wide SIMD, one invocation per lane) a load whose address differs per
// lane is a gather, and a private array indexed by a runtime value lives in scratch memory. So, as
// in matmul_subgroup.wgsl: no workgroup memory, register tiles with constant indices only (every
// loop below except the one over D runs to a constant and is unrolled), vec4 loads along D, and
// values every lane needs are loaded once and shared with subgroupBroadcast at constant lanes.
//
// Layout: lane l owns queries l, l + 8, l + 16, l + 24 of a block of QB = 4 * SGW queries
// (laneQueries), and a tile's 32 key rows are broadcast from the lanes that loaded them (keyRows),
// so that the score-shaped products (S^T = K Q^T, dP^T = V dO^T) and the D-shaped products with
// rows on the query side (O += P V, dQ += dS K) need nothing else from other lanes, and the softmax
// statistics of a query are in its lane. dK += dS^T Q and dV += P^T dO (accumulateDkDv) own vec4
// columns l, l + SGW, ... of D and take P and dS from lane L by a shuffle. Causal tiles above the
// diagonal are never visited, and a tile whose pairs all have different segment ids is skipped.
//
//   forward         one workgroup per (QB queries, head): online softmax over key tiles.
//   backward_dkdv   one workgroup per (TK = 32 keys, kv head). It iterates over the Hq / Hkv query
//                   heads of its kv head and the query steps at or below the diagonal; dK, dV stay
//                   in registers.
//   backward_dq     one workgroup per (QB queries, head): dQ over the key tiles.
//   backward_fused  one workgroup per (b, kv head): backward_dkdv over every key tile in turn, plus
//                   dQ += dS K added into dq in place (see the kernel): 5 products instead of the
//                   7 of dkdv + dq. For CPU adapters (few cores); too few workgroups for a GPU.
// The steps of dkdv and fused are shared functions: keyStep (S and dP -> P and dS), accumulateDkDv
// (dV, dK) and storeDkDv. Rows reused across a loop (the forward's query rows, a key tile's k and v
// rows) are read once into private arrays (see KeyTile for why and the measured gain).
// Private arrays carry explicit `array<...>()` initialisers: a bare `var x: array<...>;` inside a
// loop was not re-zeroed per iteration on lavapipe (wrong dK/dV with GQA or T > 32).
// The backward reads (lse * log2(e), delta) pairs per query row, written by attention.wgsl's
// backward_stats (one binding instead of two keeps dkdv within 8 storage buffers).
//
// SGW, DMAX and NU are plain constants, not overrides, because they size private arrays; the op
// rewrites their lines (SGW: lanes per workgroup, a workgroup being one subgroup of >= SGW lanes).

enable subgroups;
diagnostic(off, subgroup_uniformity);

alias ST = f32;

const SGW: u32 = 8u;    // invocations per workgroup, all in one subgroup (see `lanes`)
const DMAX: u32 = 64u;  // largest D this build handles
const NU: u32 = 2u;     // vec4 columns of D per lane: ceil(DMAX / 4 / SGW)
const TK: u32 = 32u;    // keys per tile (keyRows() gives 32 rows)
const QB: u32 = 4u * SGW;  // queries per workgroup (forward, dq) or per step (dk/dv): 4 per lane
const MASKED: f32 = -2e30;
const M0: f32 = -1e30;
const LN2: f32 = 0.6931471805599453;
const LOG2E: f32 = 1.4426950408889634;

override SEGMENTS: bool = false;  // when false `seg` is bound to a placeholder and never read

struct Params {
  T: u32,
  Hq: u32,
  Hkv: u32,
  D: u32,
  scale2: f32,      // scale * log2(e)
  scale: f32,
  accumulate: u32,  // backward: add into dq, dk, dv instead of overwriting
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<ST>>;          // (B, T, Hq, D)
@group(0) @binding(2) var<storage, read> k: array<vec4<ST>>;          // (B, T, Hkv, D)
@group(0) @binding(3) var<storage, read> v: array<vec4<ST>>;          // (B, T, Hkv, D)
@group(0) @binding(4) var<storage, read> seg: array<i32>;             // (B, T)
@group(0) @binding(5) var<storage, read_write> out: array<vec4<ST>>;  // (B, T, Hq, D)
@group(0) @binding(6) var<storage, read_write> lse_out: array<f32>;   // (B, Hq, T)
@group(0) @binding(7) var<storage, read> dout: array<vec4<ST>>;       // (B, T, Hq, D)
@group(0) @binding(11) var<storage, read> stats: array<vec2f>;        // (B, Hq, T) (lse * log2(e), delta)
@group(0) @binding(10) var<storage, read> lse: array<f32>;            // (B, Hq, T), older delta layout only
@group(0) @binding(15) var<storage, read> delta: array<f32>;          // (B, Hq, T), older delta layout only
@group(0) @binding(12) var<storage, read_write> dq: array<vec4f>;     // (B, T, Hq, D)
@group(0) @binding(13) var<storage, read_write> dk: array<vec4f>;     // (B, T, Hkv, D)
@group(0) @binding(14) var<storage, read_write> dv: array<vec4f>;     // (B, T, Hkv, D)

// Offsets in vec4s. Rows past T are clamped to T - 1 (real, finite data that the masks then
// ignore); columns past D / 4 likewise, and are never stored.
fn qrow(b: u32, i: u32, h: u32) -> u32 { return ((b * p.T + min(i, p.T - 1u)) * p.Hq + h) * (p.D / 4u); }
fn kvrow(b: u32, j: u32, h: u32) -> u32 { return ((b * p.T + min(j, p.T - 1u)) * p.Hkv + h) * (p.D / 4u); }
fn kvrows4(b: u32, j: u32, h: u32) -> vec4u { return vec4u(kvrow(b, j, h), kvrow(b, j + 8u, h), kvrow(b, j + 16u, h), kvrow(b, j + 24u, h)); }
// The 4 queries of lane l in the block starting at i0: i0 + l + 8c, c = 0 .. 3 (component c of the
// lane's vec4s). Interleaved so that a diagonal step's masked pairs fall in whole components.
fn laneQueries(i0: u32, sl: u32) -> vec4u { return vec4u(i0 + sl) + vec4u(0u, SGW, 2u * SGW, 3u * SGW); }
fn statrow(b: u32, h: u32, i: u32) -> u32 { return (b * p.Hq + h) * p.T + min(i, p.T - 1u); }
fn col(sl: u32, u: u32) -> u32 { return min(sl + SGW * u, p.D / 4u - 1u); }
fn colOk(sl: u32, u: u32) -> bool { return sl + SGW * u < p.D / 4u; }
fn segment(b: u32, i: u32) -> i32 {
  if (SEGMENTS) { return seg[b * p.T + min(i, p.T - 1u)]; }
  return 0;
}

// (lse * log2(e), delta) of a query row. For callers with a separate (B, Hq, T) delta the op
// rewrites the body to `return vec2f(lse[row] * LOG2E, delta[row]);`.
fn row_stats(row: u32) -> vec2f {
  return stats[row];
}

// x of lanes 0 .. 7. Broadcasts at constant lanes (a register permute on lavapipe; a shuffle with
// a runtime lane index compiles to a per-lane loop there), which is why SGW is 8.
fn lanes(x: vec4f) -> array<vec4f, 8> {
  return array<vec4f, 8>(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
                         subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u));
}
// The 32 key rows of a tile, lane r % 8 holding rows r % 8 + 8m in xm.
fn keyRows(x0: vec4f, x1: vec4f, x2: vec4f, x3: vec4f) -> array<vec4f, TK> {
  let a = lanes(x0);
  let b = lanes(x1);
  let c = lanes(x2);
  let e = lanes(x3);
  return array<vec4f, TK>(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                          c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]);
}

// Segment ids of the key tile's TK keys (read only with SEGMENTS).
fn keySegments(b: u32, j0: u32) -> array<i32, TK> {
  var segk: array<i32, TK>;
  if (SEGMENTS) { for (var r = 0u; r < TK; r++) { segk[r] = segment(b, j0 + r); } }
  return segk;
}

// The lane's 4 key rows j0 + (lane % 8) + 8m of k and v, m = 0 .. 3, kept in private memory for
// the whole key tile: keyRows(x[4d], .., x[4d + 3]) is the tile at column d. Why: every query step
// (and the dQ pass) reread them from storage, and on lavapipe a storage load is ~10 instructions
// per lane and component (bounds check, insert); private memory, even indexed by the runtime D
// loop, is far cheaper. Measured, fused backward at B=4 H=8 T=256 D=64: -14% from 32-key tiles
// (the q, dout, dq traffic of a query step is shared by twice the keys), then -14% from this cache.
struct KeyTile { k: array<vec4f, DMAX>, v: array<vec4f, DMAX> }
fn loadKeyTile(b: u32, j0: u32, hk: u32, sl: u32) -> KeyTile {
  var t = KeyTile();
  let kt = kvrows4(b, j0 + (sl & 7u), hk);
  for (var d = 0u; d < p.D / 4u; d++) {
    t.k[4u * d] = vec4f(k[kt.x + d]);
    t.k[4u * d + 1u] = vec4f(k[kt.y + d]);
    t.k[4u * d + 2u] = vec4f(k[kt.z + d]);
    t.k[4u * d + 3u] = vec4f(k[kt.w + d]);
    t.v[4u * d] = vec4f(v[kt.x + d]);
    t.v[4u * d + 1u] = vec4f(v[kt.y + d]);
    t.v[4u * d + 2u] = vec4f(v[kt.z + d]);
    t.v[4u * d + 3u] = vec4f(v[kt.w + d]);
  }
  return t;
}

// acc + x.x * b0 + x.y * b1 + x.z * b2 + x.w * b3.
fn step4(acc: vec4f, x: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f) -> vec4f {
  return fma(vec4f(x.x), b0, fma(vec4f(x.y), b1, fma(vec4f(x.z), b2, fma(vec4f(x.w), b3, acc))));
}
// step4 for components `first` .. 3 of acc only; the others are returned unchanged. On a diagonal
// step key j0 + r is masked for every query of component c < r / 8 (laneQueries), so those
// components are not computed at all. `first` folds to a constant wherever the key loop unrolls.
fn step4from(acc: vec4f, x: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f, first: u32) -> vec4f {
  switch first {
    case 0u: { return step4(acc, x, b0, b1, b2, b3); }
    case 1u: { return vec4f(acc.x, fma(vec3f(x.x), b0.yzw, fma(vec3f(x.y), b1.yzw, fma(vec3f(x.z), b2.yzw, fma(vec3f(x.w), b3.yzw, acc.yzw))))); }
    case 2u: { return vec4f(acc.xy, fma(vec2f(x.x), b0.zw, fma(vec2f(x.y), b1.zw, fma(vec2f(x.z), b2.zw, fma(vec2f(x.w), b3.zw, acc.zw))))); }
    default: { return vec4f(acc.xyz, fma(x.x, b0.w, fma(x.y, b1.w, fma(x.z, b2.w, fma(x.w, b3.w, acc.w))))); }
  }
}
// The first component of the lane's queries that key j0 + r can see on a step, with `diag` when the
// step is on the diagonal (i0 == j0). The callers still apply the tile's mask (partialTile holds on
// the diagonal), which sets the components left uncomputed to MASKED or zero.
fn firstSeen(r: u32, diag: bool) -> u32 { return select(0u, r / SGW, diag); }

// A key tile's rows against the lane's 4 queries: s[r] = k_{j0+r} . (the lane's queries), or v's rows
// with `values` (dP^T against dO), with qt those query rows transposed per vec4 column (qt[4d + e]:
// component e of column d) and kt the lane's key rows (kvrows4). The rows of each column are read
// by the lanes and broadcast (keyRows). `values` is a literal at every call, so the branch folds.
fn keyScores(kt: vec4u, qt: ptr<function, array<vec4f, DMAX>>, values: bool, diag: bool) -> array<vec4f, TK> {
  var s = array<vec4f, TK>();
  for (var d = 0u; d < p.D / 4u; d++) {
    var kk: array<vec4f, TK>;
    if (values) {
      kk = keyRows(vec4f(v[kt.x + d]), vec4f(v[kt.y + d]), vec4f(v[kt.z + d]), vec4f(v[kt.w + d]));
    } else {
      kk = keyRows(vec4f(k[kt.x + d]), vec4f(k[kt.y + d]), vec4f(k[kt.z + d]), vec4f(k[kt.w + d]));
    }
    let t0 = (*qt)[4u * d];
    let t1 = (*qt)[4u * d + 1u];
    let t2 = (*qt)[4u * d + 2u];
    let t3 = (*qt)[4u * d + 3u];
    for (var r = 0u; r < TK; r++) { s[r] = step4from(s[r], kk[r], t0, t1, t2, t3, firstSeen(r, diag)); }
  }
  return s;
}

// a[c] += Σ_r w[r][c] * rows[r]: one vec4 column of the lane's 4 queries (a[c]: query c) plus a
// weighted sum of the tile's 32 rows at that column (O += P V, dQ += dS K).
fn addRows(a0: mat4x4f, w: array<vec4f, TK>, rows: array<vec4f, TK>, diag: bool) -> mat4x4f {
  var a = a0;
  for (var r = 0u; r < TK; r++) {
    let first = firstSeen(r, diag);
    if (first == 0u) { a[0] = fma(vec4f(w[r].x), rows[r], a[0]); }
    if (first <= 1u) { a[1] = fma(vec4f(w[r].y), rows[r], a[1]); }
    if (first <= 2u) { a[2] = fma(vec4f(w[r].z), rows[r], a[2]); }
    a[3] = fma(vec4f(w[r].w), rows[r], a[3]);
  }
  return a;
}

// Valid pairs of keys j0 .. j0+31 with the lane's queries qi (causal, same segment, query < T), and
// whether any lane has one. Queries past T are clamped copies of row T - 1: the backward must not
// count them. Only tiles that reach past their first query, or any with segments or past T, need it.
struct TileMask { ok: array<vec4<bool>, TK>, some: bool }
fn partialTile(j0: u32, i0: u32) -> bool { return SEGMENTS || i0 < j0 + TK || i0 + 4u * SGW > p.T; }
fn tileMask(j0: u32, qi: vec4u, segq: vec4i, segk: array<i32, TK>) -> TileMask {
  var t: TileMask;
  let inT = qi < vec4u(p.T);
  var some = false;
  for (var r = 0u; r < TK; r++) {
    var ok = (vec4u(j0 + r) <= qi) & inT;
    if (SEGMENTS) { ok = ok & (segq == vec4i(segk[r])); }
    t.ok[r] = ok;
    some = some || any(ok);
  }
  t.some = subgroupAny(some);
  return t;
}
// With segment ids: whether the step of the lane's queries (laneQueries) against keys j0 .. j0+31 has
// no valid pair (documents that do not meet), so the step is skipped.
fn emptyStep(b: u32, j0: u32, i0: u32, sl: u32, segk: array<i32, TK>) -> bool {
  if (!SEGMENTS) { return false; }
  let qi = laneQueries(i0, sl);
  return !tileMask(j0, qi, querySegments(b, qi), segk).some;
}
fn querySegments(b: u32, qi: vec4u) -> vec4i {
  if (SEGMENTS) { return vec4i(segment(b, qi.x), segment(b, qi.y), segment(b, qi.z), segment(b, qi.w)); }
  return vec4i(0);
}

// Grid: (ceil(T / QB), Hq, B). Laid out as backward_dkdv's keyStep: lane l owns queries
// laneQueries(i0, l) (so the softmax statistics of its queries are in its own registers), and a
// key tile's 32 rows of k, then of v, are broadcast from the lanes that loaded them at constant
// lanes (keyRows). S^T = K Q^T, then O += P V one vec4 column of D at a time, as backward_fused's
// dQ. Why: the older layout (keys across lanes, D columns across lanes) moved P between lanes with
// a runtime lane index, which lavapipe compiles to a per-lane loop through the stack. Measured on
// lavapipe: 7.4 -> 5.5 ms at B=4 H=8 T=256 D=64, 2.5 -> 1.7 ms at the training shape (B=8 H=4
// T=128); 8 queries per lane (twice the reuse of each k, v load) was slower (spills). The last,
// diagonal, tile computes only the components of the lane's queries that can see each key
// (step4from, addRows with diag): 4.9 -> 4.6 ms at B=4 H=8 T=256. The same for the backward's
// diagonal steps doubled the fused kernel's compile time (5 -> 11 s) for no measurable gain.
@compute @workgroup_size(SGW)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let b = wid.z;
  let h = wid.y;
  let hk = h / (p.Hq / p.Hkv);
  let i0 = wid.x * QB;
  let qi = laneQueries(i0, sl);
  let qr = vec4u(qrow(b, qi.x, h), qrow(b, qi.y, h), qrow(b, qi.z, h), qrow(b, qi.w, h));
  // The lane's 4 query rows, transposed per vec4 column d and pre-scaled: qt[4d + e] holds
  // component e of column d for the 4 queries, times scale * log2(e).
  var qt = array<vec4f, DMAX>();
  for (var d = 0u; d < p.D / 4u; d++) {
    let t = transpose(mat4x4f(vec4f(q[qr.x + d]), vec4f(q[qr.y + d]), vec4f(q[qr.z + d]), vec4f(q[qr.w + d])));
    qt[4u * d] = t[0] * p.scale2;
    qt[4u * d + 1u] = t[1] * p.scale2;
    qt[4u * d + 2u] = t[2] * p.scale2;
    qt[4u * d + 3u] = t[3] * p.scale2;
  }
  let segq = querySegments(b, qi);
  var m = vec4f(M0);
  var l = vec4f(0.0);
  var o = array<vec4f, DMAX>();  // o[4d + c]: query c at column d
  // Causal: the block's last query is its last key.
  let kend = min(p.T, i0 + QB);
  for (var j0 = 0u; j0 < kend; j0 += TK) {
    let partial = partialTile(j0, i0);
    var mk: TileMask;
    if (partial) {
      mk = tileMask(j0, qi, segq, keySegments(b, j0));
      if (!mk.some) { continue; }
    }
    let kt = kvrows4(b, j0 + (sl & 7u), hk);
    // s[r]: key j0 + r against the lane's 4 queries; the diagonal step skips what it masks.
    let diag = j0 == i0;
    var s: array<vec4f, TK>;
    if (diag) { s = keyScores(kt, &qt, false, true); } else { s = keyScores(kt, &qt, false, false); }
    if (partial) {
      for (var r = 0u; r < TK; r++) { s[r] = select(vec4f(MASKED), s[r], mk.ok[r]); }
    }
    var mx = m;
    for (var r = 0u; r < TK; r++) { mx = max(mx, s[r]); }
    let alpha = exp2(m - mx);
    var ls = vec4f(0.0);
    for (var r = 0u; r < TK; r++) {
      s[r] = exp2(s[r] - mx);
      ls += s[r];
    }
    l = l * alpha + ls;
    m = mx;
    for (var d = 0u; d < p.D / 4u; d++) {
      let vv = keyRows(vec4f(v[kt.x + d]), vec4f(v[kt.y + d]), vec4f(v[kt.z + d]), vec4f(v[kt.w + d]));
      let a0 = mat4x4f(o[4u * d] * alpha.x, o[4u * d + 1u] * alpha.y, o[4u * d + 2u] * alpha.z, o[4u * d + 3u] * alpha.w);
      var a: mat4x4f;
      if (diag) { a = addRows(a0, s, vv, true); } else { a = addRows(a0, s, vv, false); }
      o[4u * d] = a[0];
      o[4u * d + 1u] = a[1];
      o[4u * d + 2u] = a[2];
      o[4u * d + 3u] = a[3];
    }
  }
  // Queries past T (clamped copies of row T - 1, or fully masked) are not stored.
  let inv = 1.0 / l;
  let lseq = (m + log2(l)) * LN2;
  for (var c = 0u; c < 4u; c++) {
    if (qi[c] < p.T) {
      for (var d = 0u; d < p.D / 4u; d++) { out[qr[c] + d] = vec4<ST>(o[4u * d + c] * inv[c]); }
      lse_out[statrow(b, h, qi[c])] = lseq[c];
    }
  }
}

// One step of the dk/dv layout: keys j0 .. j0+31 (rows, broadcast from the lane's KeyTile: lane
// l % 8 holds key rows l % 8 + 8m) against the lane's queries (laneQueries) of head h. Returns P
// and dS = scale * P * (dP - delta), zero where masked, or some = false (nothing computed) when no
// pair is valid.
// Queries past T are clamped copies of row T - 1 and must not count; keys past T have j > i for
// every real query.
struct KeyStep { pr: array<vec4f, TK>, ds: array<vec4f, TK>, some: bool }
fn keyStep(b: u32, h: u32, j0: u32, i0: u32, sl: u32, kt: ptr<function, KeyTile>, segk: array<i32, TK>) -> KeyStep {
  var o = KeyStep();
  let qi = laneQueries(i0, sl);
  let partial = partialTile(j0, i0);
  var mk: TileMask;
  if (partial) {
    mk = tileMask(j0, qi, querySegments(b, qi), segk);
    // Never taken: without segment ids every step has a valid pair (steps start at the tile's
    // first key), and with them the callers skip empty steps first (emptyStep). It stays because
    // lavapipe compiled the fused backward 2x slower without it (10.4 against 5.2 ms at B=8 H=4
    // T=128 D=64; without the barriers too, 20.7 against 12.0 ms at B=4 H=8 T=256), and 1.7x
    // slower with segment ids when this return was the only skip.
    if (!SEGMENTS && !mk.some) { return o; }
  }
  o.some = true;
  let qr = vec4u(qrow(b, qi.x, h), qrow(b, qi.y, h), qrow(b, qi.z, h), qrow(b, qi.w, h));
  // S, then dP: two passes over D load nothing twice, and hold 32 accumulators instead of 64
  // (measured ~13% faster on lavapipe than one pass).
  for (var d = 0u; d < p.D / 4u; d++) {
    let tq = transpose(mat4x4f(vec4f(q[qr.x + d]), vec4f(q[qr.y + d]), vec4f(q[qr.z + d]), vec4f(q[qr.w + d])));
    let kk = keyRows((*kt).k[4u * d], (*kt).k[4u * d + 1u], (*kt).k[4u * d + 2u], (*kt).k[4u * d + 3u]);
    for (var r = 0u; r < TK; r++) { o.pr[r] = step4(o.pr[r], kk[r], tq[0], tq[1], tq[2], tq[3]); }
  }
  for (var d = 0u; d < p.D / 4u; d++) {
    let to = transpose(mat4x4f(vec4f(dout[qr.x + d]), vec4f(dout[qr.y + d]), vec4f(dout[qr.z + d]), vec4f(dout[qr.w + d])));
    let vv = keyRows((*kt).v[4u * d], (*kt).v[4u * d + 1u], (*kt).v[4u * d + 2u], (*kt).v[4u * d + 3u]);
    for (var r = 0u; r < TK; r++) { o.ds[r] = step4(o.ds[r], vv[r], to[0], to[1], to[2], to[3]); }
  }
  let st0 = row_stats(statrow(b, h, qi.x));
  let st1 = row_stats(statrow(b, h, qi.y));
  let st2 = row_stats(statrow(b, h, qi.z));
  let st3 = row_stats(statrow(b, h, qi.w));
  let lse2 = vec4f(st0.x, st1.x, st2.x, st3.x);
  let dl = vec4f(st0.y, st1.y, st2.y, st3.y);
  for (var r = 0u; r < TK; r++) { o.pr[r] = exp2(o.pr[r] * p.scale2 - lse2); }
  if (partial) {
    for (var r = 0u; r < TK; r++) { o.pr[r] = select(vec4f(0.0), o.pr[r], mk.ok[r]); }
  }
  for (var r = 0u; r < TK; r++) { o.ds[r] = o.pr[r] * (o.ds[r] - dl) * p.scale; }
  return o;
}

// dV += P dO, then dK += dS Q, for the keys of a keyStep and its 4 * SGW queries: P and dS of lane
// L's queries shuffled from L, dO and Q read at the lane's columns. Two passes over L hold half
// the registers at a time (measured ~20% faster on lavapipe than one pass; nothing loads twice).
fn accumulateDkDv(b: u32, h: u32, i0: u32, sl: u32, ks: KeyStep, dka: ptr<function, array<vec4f, TK * NU>>, dva: ptr<function, array<vec4f, TK * NU>>) {
  for (var L = 0u; L < SGW; L++) {
    var oc: array<vec4f, 4u * NU>;
    for (var c = 0u; c < 4u; c++) {
      let base = qrow(b, i0 + L + SGW * c, h);
      for (var u = 0u; u < NU; u++) { oc[c * NU + u] = vec4f(dout[base + col(sl, u)]); }
    }
    for (var r = 0u; r < TK; r++) {
      let x = subgroupShuffle(ks.pr[r], L);
      for (var u = 0u; u < NU; u++) { (*dva)[r * NU + u] = step4((*dva)[r * NU + u], x, oc[u], oc[NU + u], oc[2u * NU + u], oc[3u * NU + u]); }
    }
  }
  for (var L = 0u; L < SGW; L++) {
    var qc: array<vec4f, 4u * NU>;
    for (var c = 0u; c < 4u; c++) {
      let base = qrow(b, i0 + L + SGW * c, h);
      for (var u = 0u; u < NU; u++) { qc[c * NU + u] = vec4f(q[base + col(sl, u)]); }
    }
    for (var r = 0u; r < TK; r++) {
      let y = subgroupShuffle(ks.ds[r], L);
      for (var u = 0u; u < NU; u++) { (*dka)[r * NU + u] = step4((*dka)[r * NU + u], y, qc[u], qc[NU + u], qc[2u * NU + u], qc[3u * NU + u]); }
    }
  }
}

// Writes (or, with accumulate, adds) the dK, dV accumulators of keys j0 .. j0+31.
fn storeDkDv(b: u32, hk: u32, j0: u32, sl: u32, dka: array<vec4f, TK * NU>, dva: array<vec4f, TK * NU>) {
  for (var r = 0u; r < TK; r++) {
    if (j0 + r < p.T) {
      let base = kvrow(b, j0 + r, hk);
      for (var u = 0u; u < NU; u++) {
        if (colOk(sl, u)) {
          let e = base + sl + SGW * u;
          var gk = dka[r * NU + u];
          var gv = dva[r * NU + u];
          if (p.accumulate != 0u) { gk += dk[e]; gv += dv[e]; }
          dk[e] = gk;
          dv[e] = gv;
        }
      }
    }
  }
}

// Grid: (ceil(T / TK), Hkv, B). One workgroup owns TK = 32 keys and all D columns of their dK and
// dV. Each step takes 4 * SGW queries, 4 per lane (laneQueries), and is laid out as a matmul
// micro-kernel (matmul_subgroup.wgsl's nt4 then nn4): S^T and dP^T (32 keys x the lane's 4
// queries) with the key rows broadcast and the 4 query rows gathered, which puts the row
// statistics of the lane's queries in its own registers; then dV += P dO and dK += dS Q with P,
// dS shuffled from the lane owning those queries, dO and Q read at the lane's columns.
// Accumulators are 32 keys x NU vec4s per gradient. The Hq / Hkv query heads of the kv head are
// walked in order, so the GQA sum is deterministic.
@compute @workgroup_size(SGW)
fn backward_dkdv(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let b = wid.z;
  let hk = wid.y;
  let G = p.Hq / p.Hkv;
  let j0 = wid.x * TK;
  var kt = loadKeyTile(b, j0, hk, sl);
  let segk = keySegments(b, j0);
  var dka = array<vec4f, TK * NU>();
  var dva = array<vec4f, TK * NU>();
  for (var g = 0u; g < G; g++) {
    let h = hk * G + g;
    // Causal: queries before the tile's first key see none of it.
    for (var i0 = j0; i0 < p.T; i0 += QB) {
      if (emptyStep(b, j0, i0, sl, segk)) { continue; }
      let ks = keyStep(b, h, j0, i0, sl, &kt, segk);
      if (!ks.some) { continue; }
      accumulateDkDv(b, h, i0, sl, ks, &dka, &dva);
    }
  }
  storeDkDv(b, hk, j0, sl, dka, dva);
}

// Grid: (ceil(T / QB), Hq, B). The forward's layout: lane l owns queries laneQueries(i0, l),
// a key tile's rows are broadcast (keyRows); S^T and dP^T as keyStep, then dQ += dS K one vec4
// column at a time into registers (as the forward's O += P V), k read a second time. The diagonal
// tile skips what it masks, as the forward's: the two-kernel backward 16.9-18.4 -> 16.0 ms at
// B=4 H=8 T=256 D=64 on lavapipe.
@compute @workgroup_size(SGW)
fn backward_dq(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let b = wid.z;
  let h = wid.y;
  let hk = h / (p.Hq / p.Hkv);
  let i0 = wid.x * QB;
  let qi = laneQueries(i0, sl);
  let qr = vec4u(qrow(b, qi.x, h), qrow(b, qi.y, h), qrow(b, qi.z, h), qrow(b, qi.w, h));
  // q and dout of the lane's queries, transposed per column as in the forward.
  var qt = array<vec4f, DMAX>();
  var ot = array<vec4f, DMAX>();
  for (var d = 0u; d < p.D / 4u; d++) {
    let t = transpose(mat4x4f(vec4f(q[qr.x + d]), vec4f(q[qr.y + d]), vec4f(q[qr.z + d]), vec4f(q[qr.w + d])));
    let u = transpose(mat4x4f(vec4f(dout[qr.x + d]), vec4f(dout[qr.y + d]), vec4f(dout[qr.z + d]), vec4f(dout[qr.w + d])));
    for (var e = 0u; e < 4u; e++) {
      qt[4u * d + e] = t[e];
      ot[4u * d + e] = u[e];
    }
  }
  let st0 = row_stats(statrow(b, h, qi.x));
  let st1 = row_stats(statrow(b, h, qi.y));
  let st2 = row_stats(statrow(b, h, qi.z));
  let st3 = row_stats(statrow(b, h, qi.w));
  let lse2 = vec4f(st0.x, st1.x, st2.x, st3.x);
  let dl = vec4f(st0.y, st1.y, st2.y, st3.y);
  let segq = querySegments(b, qi);
  var dqa = array<vec4f, DMAX>();  // dqa[4d + c]: query c at column d
  let kend = min(p.T, i0 + QB);
  for (var j0 = 0u; j0 < kend; j0 += TK) {
    let partial = partialTile(j0, i0);
    var mk: TileMask;
    if (partial) {
      mk = tileMask(j0, qi, segq, keySegments(b, j0));
      if (!mk.some) { continue; }
    }
    let kt = kvrows4(b, j0 + (sl & 7u), hk);
    let diag = j0 == i0;
    var s: array<vec4f, TK>;
    var dp: array<vec4f, TK>;
    if (diag) {
      s = keyScores(kt, &qt, false, true);
      dp = keyScores(kt, &ot, true, true);
    } else {
      s = keyScores(kt, &qt, false, false);
      dp = keyScores(kt, &ot, true, false);
    }
    // dp becomes dS.
    for (var r = 0u; r < TK; r++) {
      var pr = exp2(s[r] * p.scale2 - lse2);
      if (partial) { pr = select(vec4f(0.0), pr, mk.ok[r]); }
      dp[r] = pr * (dp[r] - dl) * p.scale;
    }
    for (var d = 0u; d < p.D / 4u; d++) {
      let kk = keyRows(vec4f(k[kt.x + d]), vec4f(k[kt.y + d]), vec4f(k[kt.z + d]), vec4f(k[kt.w + d]));
      let a0 = mat4x4f(dqa[4u * d], dqa[4u * d + 1u], dqa[4u * d + 2u], dqa[4u * d + 3u]);
      var a: mat4x4f;
      if (diag) { a = addRows(a0, dp, kk, true); } else { a = addRows(a0, dp, kk, false); }
      dqa[4u * d] = a[0];
      dqa[4u * d + 1u] = a[1];
      dqa[4u * d + 2u] = a[2];
      dqa[4u * d + 3u] = a[3];
    }
  }
  for (var c = 0u; c < 4u; c++) {
    if (qi[c] < p.T) {
      for (var d = 0u; d < p.D / 4u; d++) {
        var x = dqa[4u * d + c];
        if (p.accumulate != 0u) { x += dq[qr[c] + d]; }
        dq[qr[c] + d] = x;
      }
    }
  }
}

// Grid: (1, Hkv, B). backward_dkdv and backward_dq in one pass, for adapters with few cores (a
// CPU): S and dP are computed once per (key tile, query step) instead of twice, i.e. 5 products
// instead of 7. One workgroup owns every key of its (b, kv head), so it is also the only writer
// of the dq rows of that kv head's query heads: dq is accumulated in place, key tile after key
// tile, deterministically and without atomics. The price is B * Hkv workgroups only, too few for
// a GPU. No barrier: query steps start at multiples of QB, so every dq, dk and dv element is
// zeroed, read and written by one lane only. A barrier made lavapipe compile the kernel as a
// coroutine with its private arrays in the coroutine frame: 1.34x slower at B=4 H=8 T=256 D=64,
// 1.43x at B=8 H=4 T=128.
@compute @workgroup_size(SGW)
fn backward_fused(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let b = wid.z;
  let hk = wid.y;
  let G = p.Hq / p.Hkv;
  if (p.accumulate == 0u) {
    // Zeroed by the lane that accumulates them below (laneQueries of every block of QB).
    for (var h = hk * G; h < hk * G + G; h++) {
      for (var i0 = 0u; i0 < p.T; i0 += QB) {
        for (var c = 0u; c < 4u; c++) {
          let i = i0 + sl + SGW * c;
          if (i < p.T) {
            let base = qrow(b, i, h);
            for (var d = 0u; d < p.D / 4u; d++) { dq[base + d] = vec4f(0.0); }
          }
        }
      }
    }
  }
  for (var j0 = 0u; j0 < p.T; j0 += TK) {
    var kt = loadKeyTile(b, j0, hk, sl);
    let segk = keySegments(b, j0);
    var dka = array<vec4f, TK * NU>();
    var dva = array<vec4f, TK * NU>();
    for (var g = 0u; g < G; g++) {
      let h = hk * G + g;
      for (var i0 = j0; i0 < p.T; i0 += QB) {
        if (emptyStep(b, j0, i0, sl, segk)) { continue; }
        let ks = keyStep(b, h, j0, i0, sl, &kt, segk);
        if (!ks.some) { continue; }
        // dQ += dS K in the layout dS is in (the lane's 4 queries), one vec4 column at a time: the
        // 32 key rows at column d broadcast from the KeyTile, as in keyStep. Measured on
        // lavapipe: 1.5x faster than accumulateDkDv's layout (dS from lane L, K at the lane's
        // columns in registers), whose unrolled code was also twice as slow to compile.
        let qi = laneQueries(i0, sl);
        let qr = vec4u(qrow(b, qi.x, h), qrow(b, qi.y, h), qrow(b, qi.z, h), qrow(b, qi.w, h));
        for (var d = 0u; d < p.D / 4u; d++) {
          let kk = keyRows(kt.k[4u * d], kt.k[4u * d + 1u], kt.k[4u * d + 2u], kt.k[4u * d + 3u]);
          let a = addRows(mat4x4f(), ks.ds, kk, false);
          // Queries past T are clamped copies of row T - 1.
          if (qi.x < p.T) { dq[qr.x + d] += a[0]; }
          if (qi.y < p.T) { dq[qr.y + d] += a[1]; }
          if (qi.z < p.T) { dq[qr.z + d] += a[2]; }
          if (qi.w < p.T) { dq[qr.w + d] += a[3]; }
        }
        accumulateDkDv(b, h, i0, sl, ks, &dka, &dva);
      }
    }
    storeDkDv(b, hk, j0, sl, dka, dva);
  }
}
