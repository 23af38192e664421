// Causal flash attention, subgroup variant. Same contract, layout and math as attention.wgsl (read
// that file first): q, out, dout (B, T, Hq, D); k, v (B, T, Hkv, D); scores in the log2 domain;
// lse (B, Hq, T). Needs D % 4 == 0 (vec4 loads) and subgroups of at least SGW invocations: a
// workgroup is SGW invocations that are one subgroup.
//
// Why: on lavapipe (LLVM, 8-wide SIMD, one invocation per lane) a load whose address differs per
// lane is a gather, and a private array indexed by a runtime value lives in scratch memory. So, as
// in matmul_subgroup.wgsl: no workgroup memory, register tiles with constant indices only (every
// loop below except the one over D runs to a constant and is unrolled), vec4 loads along D, and
// values every lane needs are loaded once and shared with subgroupShuffle at constant lanes.
//
// A tile is TQ = 16 query rows x KB = 4 * SGW keys. Lane l owns keys 4l .. 4l+3 of the tile for the
// score-shaped products (S = Q K^T, dP = dO V^T: it loads those 4 key rows, and query rows r and
// r + 8 are loaded by lane r % 8 and shuffled), and owns the vec4 columns l, l + SGW, ... of D for
// the D-shaped products (O += P V, dQ += dS K, dK += dS^T Q, dV += P^T dO: the probability of key
// 4L + c comes from lane L by a shuffle). Causal tiles above the diagonal are never visited, and a
// tile whose pairs all have different segment ids is skipped.
//
//   forward         one workgroup per (16 query rows, head): online softmax over key tiles.
//   backward_dkdv   one workgroup per (TK = 32 keys, kv head), laid out transposed (keys are the
//                   broadcast rows, lane l owns queries 4l .. 4l+3): see the kernel. It iterates
//                   over the Hq / Hkv query heads of its kv head and the query steps at or below
//                   the diagonal; dK, dV stay in registers.
//   backward_dq     one workgroup per (16 query rows, head): dQ over the key tiles, as the forward.
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
const TQ: u32 = 16u;    // query rows per tile
const KB: u32 = 4u * SGW;  // keys per tile
const TK: u32 = 2u * TQ;  // keys per dk/dv workgroup and fused key tile (keyRows() gives 32 rows)
const QB: u32 = 4u * SGW;  // queries per dk/dv step
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
fn kvrows(b: u32, j: u32, h: u32) -> vec4u { return vec4u(kvrow(b, j, h), kvrow(b, j + 1u, h), kvrow(b, j + 2u, h), kvrow(b, j + 3u, h)); }
fn kvrows4(b: u32, j: u32, h: u32) -> vec4u { return vec4u(kvrow(b, j, h), kvrow(b, j + 8u, h), kvrow(b, j + 16u, h), kvrow(b, j + 24u, h)); }
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
// The 16 rows of a tile, lane r % 8 holding row r % 8 in x0 and row r % 8 + 8 in x1.
fn rows(x0: vec4f, x1: vec4f) -> array<vec4f, TQ> {
  let a = lanes(x0);
  let b = lanes(x1);
  return array<vec4f, TQ>(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
}
// The 32 key rows of a dk/dv tile, lane r % 8 holding rows r % 8 + 8m in xm.
fn keyRows(x0: vec4f, x1: vec4f, x2: vec4f, x3: vec4f) -> array<vec4f, TK> {
  let a = rows(x0, x1);
  let b = rows(x2, x3);
  return array<vec4f, TK>(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15],
                          b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}
// The lane's 4 key rows j0 + (lane % 8) + 8m of k and v, m = 0 .. 3, kept in private memory for
// the whole key tile: keyRows(x[4d], .., x[4d + 3]) is the tile at column d. Why: every query step
// (and the dQ pass) reread them from storage, and on lavapipe a storage load is ~10 instructions
// per lane and component (bounds check, insert); private memory, even indexed by the runtime D
// loop, is far cheaper. Measured, fused backward at B=4 H=8 T=256 D=64: -14% from 32-key tiles
// (the q, dout, dq traffic of a query step is shared by twice the keys), then -14% from this cache.
// Segment ids of the key tile's TK keys (read only with SEGMENTS).
fn keySegments(b: u32, j0: u32) -> array<i32, TK> {
  var segk: array<i32, TK>;
  if (SEGMENTS) { for (var r = 0u; r < TK; r++) { segk[r] = segment(b, j0 + r); } }
  return segk;
}

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

// Valid (causal, same segment) pairs of the lane's keys j .. j+3 with query rows i0 .. i0+15, and
// whether the tile has any.
struct Mask { ok: array<vec4<bool>, TQ>, some: bool }
fn mask(b: u32, i0: u32, j: u32, sl: u32) -> Mask {
  var m: Mask;
  let segk = vec4i(segment(b, j), segment(b, j + 1u), segment(b, j + 2u), segment(b, j + 3u));
  let sr = rows(vec4f(bitcast<f32>(segment(b, i0 + (sl & 7u)))), vec4f(bitcast<f32>(segment(b, i0 + 8u + (sl & 7u)))));
  var some = false;
  for (var r = 0u; r < TQ; r++) {
    // Padding rows (i >= T) are clamped copies of row T - 1: the backward must not count them.
    var ok = (vec4u(j) + vec4u(0u, 1u, 2u, 3u) <= vec4u(i0 + r)) & vec4<bool>(i0 + r < p.T);
    if (SEGMENTS) { ok = ok & (segk == vec4i(bitcast<i32>(sr[r].x))); }
    m.ok[r] = ok;
    some = some || any(ok);
  }
  m.some = subgroupAny(some);
  return m;
}

// S[r] = q_{i0+r} . k_{j..j+3} (unscaled), qc the rows of lane % 8 and lane % 8 + 8 (qc[2d],
// qc[2d + 1] at column d), kr the lane's 4 key rows. The loop over D is the only runtime-length loop.
fn scores(qc: ptr<function, array<vec4f, DMAX / 2u>>, kr: vec4u) -> array<vec4f, TQ> {
  var s = array<vec4f, TQ>();
  for (var d = 0u; d < p.D / 4u; d++) {
    let t = transpose(mat4x4f(vec4f(k[kr.x + d]), vec4f(k[kr.y + d]), vec4f(k[kr.z + d]), vec4f(k[kr.w + d])));
    let x = rows((*qc)[2u * d], (*qc)[2u * d + 1u]);
    for (var r = 0u; r < TQ; r++) { s[r] = step4(s[r], x[r], t[0], t[1], t[2], t[3]); }
  }
  return s;
}

// Grid: (ceil(T / TQ), Hq, B).
@compute @workgroup_size(SGW)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let b = wid.z;
  let h = wid.y;
  let hk = h / (p.Hq / p.Hkv);
  let i0 = wid.x * TQ;
  let qa = qrow(b, i0 + (sl & 7u), h);
  let qb = qrow(b, i0 + 8u + (sl & 7u), h);
  // The tile's query rows, read once instead of once per key tile: private memory costs a fraction
  // of a storage load on lavapipe (every storage load is per lane and bounds-checked).
  var qc = array<vec4f, DMAX / 2u>();
  for (var d = 0u; d < p.D / 4u; d++) {
    qc[2u * d] = vec4f(q[qa + d]);
    qc[2u * d + 1u] = vec4f(q[qb + d]);
  }
  var m: array<f32, TQ>;
  var l: array<f32, TQ>;  // this lane's share of the row sums
  var o: array<vec4f, TQ * NU>;
  for (var r = 0u; r < TQ; r++) { m[r] = M0; }
  // Causal: the tile's last query is its last key.
  let kend = min(p.T, i0 + TQ);
  for (var j0 = 0u; j0 < kend; j0 += KB) {
    let j = j0 + 4u * sl;
    let mk = mask(b, i0, j, sl);
    if (!mk.some) { continue; }
    let s = scores(&qc, kvrows(b, j, hk));
    var pr: array<vec4f, TQ>;
    for (var r = 0u; r < TQ; r++) {
      let x = select(vec4f(MASKED), s[r] * p.scale2, mk.ok[r]);
      let mx = max(m[r], subgroupMax(max(max(x.x, x.y), max(x.z, x.w))));
      let alpha = exp2(m[r] - mx);
      pr[r] = exp2(x - mx);
      l[r] = l[r] * alpha + (pr[r].x + pr[r].y) + (pr[r].z + pr[r].w);
      for (var u = 0u; u < NU; u++) { o[r * NU + u] *= alpha; }
      m[r] = mx;
    }
    // O += P V: the 4 keys of lane L, their probabilities shuffled from L. (Measured: this order,
    // loads per L, beats broadcasting through mulCols here, 19 vs 14 GFLOP/s.)
    for (var L = 0u; L < SGW; L++) {
      let vr = kvrows(b, j0 + 4u * L, hk);
      var v0: array<vec4f, NU>;
      var v1: array<vec4f, NU>;
      var v2: array<vec4f, NU>;
      var v3: array<vec4f, NU>;
      for (var u = 0u; u < NU; u++) {
        let c = col(sl, u);
        v0[u] = vec4f(v[vr.x + c]);
        v1[u] = vec4f(v[vr.y + c]);
        v2[u] = vec4f(v[vr.z + c]);
        v3[u] = vec4f(v[vr.w + c]);
      }
      for (var r = 0u; r < TQ; r++) {
        let x = subgroupShuffle(pr[r], L);
        for (var u = 0u; u < NU; u++) { o[r * NU + u] = step4(o[r * NU + u], x, v0[u], v1[u], v2[u], v3[u]); }
      }
    }
  }
  for (var r = 0u; r < TQ; r++) {
    let lt = subgroupAdd(l[r]);
    let i = i0 + r;
    if (i < p.T) {
      let ob = qrow(b, i, h);
      for (var u = 0u; u < NU; u++) {
        if (colOk(sl, u)) { out[ob + sl + SGW * u] = vec4<ST>(o[r * NU + u] / lt); }
      }
      if (sl == 0u) { lse_out[statrow(b, h, i)] = (m[r] + log2(lt)) * LN2; }
    }
  }
}

// One step of the dk/dv layout: keys j0 .. j0+31 (rows, broadcast from the lane's KeyTile: lane
// l % 8 holds key rows l % 8 + 8m) against the lane's queries i0 + 4l .. i0 + 4l+3 of head h. Returns P and dS = scale * P *
// (dP - delta), zero where masked, or some = false (nothing computed) when no pair is valid.
// Queries past T are clamped copies of row T - 1 and must not count; keys past T have j > i for
// every real query.
struct KeyStep { pr: array<vec4f, TK>, ds: array<vec4f, TK>, some: bool }
fn keyStep(b: u32, h: u32, j0: u32, i0: u32, sl: u32, kt: ptr<function, KeyTile>, segk: array<i32, TK>) -> KeyStep {
  var o = KeyStep();
  let qi = vec4u(i0 + 4u * sl) + vec4u(0u, 1u, 2u, 3u);
  let inT = qi < vec4u(p.T);
  var segq = vec4i(0);
  if (SEGMENTS) { segq = vec4i(segment(b, qi.x), segment(b, qi.y), segment(b, qi.z), segment(b, qi.w)); }
  var ok: array<vec4<bool>, TK>;
  var some = false;
  for (var r = 0u; r < TK; r++) {
    var m = (vec4u(j0 + r) <= qi) & inT;
    if (SEGMENTS) { m = m & (segq == vec4i(segk[r])); }
    ok[r] = m;
    some = some || any(m);
  }
  o.some = subgroupAny(some);
  if (!o.some) { return o; }
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
  for (var r = 0u; r < TK; r++) {
    o.pr[r] = select(vec4f(0.0), exp2(o.pr[r] * p.scale2 - lse2), ok[r]);
    o.ds[r] = o.pr[r] * (o.ds[r] - dl) * p.scale;
  }
  return o;
}

// dV += P dO, then dK += dS Q, for the keys of a keyStep and its 4 * SGW queries: P and dS of lane
// L's queries shuffled from L, dO and Q read at the lane's columns. Two passes over L hold half
// the registers at a time (measured ~20% faster on lavapipe than one pass; nothing loads twice).
fn accumulateDkDv(b: u32, h: u32, i0: u32, sl: u32, ks: KeyStep, dka: ptr<function, array<vec4f, TK * NU>>, dva: ptr<function, array<vec4f, TK * NU>>) {
  for (var L = 0u; L < SGW; L++) {
    var oc: array<vec4f, 4u * NU>;
    for (var c = 0u; c < 4u; c++) {
      let base = qrow(b, i0 + 4u * L + c, h);
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
      let base = qrow(b, i0 + 4u * L + c, h);
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
// dV. Each step takes 4 * SGW queries, lane l queries 4l .. 4l+3, and is laid out as a matmul
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
      let ks = keyStep(b, h, j0, i0, sl, &kt, segk);
      if (!ks.some) { continue; }
      accumulateDkDv(b, h, i0, sl, ks, &dka, &dva);
    }
  }
  storeDkDv(b, hk, j0, sl, dka, dva);
}

// Grid: (ceil(T / TQ), Hq, B). The forward's layout: S and dP with lane l owning keys 4l .. 4l+3
// of each key tile, then dQ += dS K with dS shuffled from lane L and K rows 4L .. 4L+3 read at the
// lane's columns (as the forward's O += P V).
@compute @workgroup_size(SGW)
fn backward_dq(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let b = wid.z;
  let h = wid.y;
  let hk = h / (p.Hq / p.Hkv);
  let i0 = wid.x * TQ;
  let qa = qrow(b, i0 + (sl & 7u), h);
  let qb = qrow(b, i0 + 8u + (sl & 7u), h);
  var dqa = array<vec4f, TQ * NU>();
  // (lse * log2(e), delta) of row i0 + lane, shuffled out per row (lane l holds rows l and l + 8).
  let sta = row_stats(statrow(b, h, i0 + (sl & 7u)));
  let stb = row_stats(statrow(b, h, i0 + 8u + (sl & 7u)));
  let stq = vec4f(sta, stb);
  let kend = min(p.T, i0 + TQ);
  for (var j0 = 0u; j0 < kend; j0 += KB) {
    let j = j0 + 4u * sl;
    let mk = mask(b, i0, j, sl);
    if (!mk.some) { continue; }
    let kr4 = kvrows(b, j, hk);
    var sc = array<vec4f, TQ>();
    var dp = array<vec4f, TQ>();
    for (var d = 0u; d < p.D / 4u; d++) {
      let t = transpose(mat4x4f(vec4f(k[kr4.x + d]), vec4f(k[kr4.y + d]), vec4f(k[kr4.z + d]), vec4f(k[kr4.w + d])));
      let w = transpose(mat4x4f(vec4f(v[kr4.x + d]), vec4f(v[kr4.y + d]), vec4f(v[kr4.z + d]), vec4f(v[kr4.w + d])));
      let x = rows(vec4f(q[qa + d]), vec4f(q[qb + d]));
      let y = rows(vec4f(dout[qa + d]), vec4f(dout[qb + d]));
      for (var r = 0u; r < TQ; r++) {
        sc[r] = step4(sc[r], x[r], t[0], t[1], t[2], t[3]);
        dp[r] = step4(dp[r], y[r], w[0], w[1], w[2], w[3]);
      }
    }
    for (var r = 0u; r < TQ; r++) {
      let sv = subgroupShuffle(stq, r & 7u);
      let st = select(sv.zw, sv.xy, r < 8u);
      // dp becomes dS.
      dp[r] = select(vec4f(0.0), exp2(sc[r] * p.scale2 - st.x), mk.ok[r]) * (dp[r] - st.y) * p.scale;
    }
    for (var L = 0u; L < SGW; L++) {
      let kr = kvrows(b, j0 + 4u * L, hk);
      var k0: array<vec4f, NU>;
      var k1: array<vec4f, NU>;
      var k2: array<vec4f, NU>;
      var k3: array<vec4f, NU>;
      for (var u = 0u; u < NU; u++) {
        let c = col(sl, u);
        k0[u] = vec4f(k[kr.x + c]);
        k1[u] = vec4f(k[kr.y + c]);
        k2[u] = vec4f(k[kr.z + c]);
        k3[u] = vec4f(k[kr.w + c]);
      }
      for (var r = 0u; r < TQ; r++) {
        let x = subgroupShuffle(dp[r], L);
        for (var u = 0u; u < NU; u++) { dqa[r * NU + u] = step4(dqa[r * NU + u], x, k0[u], k1[u], k2[u], k3[u]); }
      }
    }
  }
  for (var r = 0u; r < TQ; r++) {
    let i = i0 + r;
    if (i < p.T) {
      let base = qrow(b, i, h);
      for (var u = 0u; u < NU; u++) {
        if (colOk(sl, u)) {
          let e = base + sl + SGW * u;
          var x = dqa[r * NU + u];
          if (p.accumulate != 0u) { x += dq[e]; }
          dq[e] = x;
        }
      }
    }
  }
}

// Grid: (1, Hkv, B). backward_dkdv and backward_dq in one pass, for adapters with few cores (a
// CPU): S and dP are computed once per (key tile, query step) instead of twice, i.e. 5 products
// instead of 7. One workgroup owns every key of its (b, kv head), so it is also the only writer
// of the dq rows of that kv head's query heads: dq is accumulated in place, key tile after key
// tile, deterministically and without atomics. The price is B * Hkv workgroups only, too few for
// a GPU.
@compute @workgroup_size(SGW)
fn backward_fused(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) sl: u32) {
  let b = wid.z;
  let hk = wid.y;
  let G = p.Hq / p.Hkv;
  if (p.accumulate == 0u) {
    for (var h = hk * G; h < hk * G + G; h++) {
      for (var i = 0u; i < p.T; i++) {
        let base = qrow(b, i, h);
        for (var u = 0u; u < NU; u++) { if (colOk(sl, u)) { dq[base + sl + SGW * u] = vec4f(0.0); } }
      }
    }
  }
  // dq elements change hands between lanes below (after the zeroing, and from key tile to key tile).
  storageBarrier();
  for (var j0 = 0u; j0 < p.T; j0 += TK) {
    var kt = loadKeyTile(b, j0, hk, sl);
    let segk = keySegments(b, j0);
    var dka = array<vec4f, TK * NU>();
    var dva = array<vec4f, TK * NU>();
    for (var g = 0u; g < G; g++) {
      let h = hk * G + g;
      for (var i0 = j0; i0 < p.T; i0 += QB) {
        let ks = keyStep(b, h, j0, i0, sl, &kt, segk);
        if (!ks.some) { continue; }
        // dQ += dS K in the layout dS is in (the lane's 4 queries), one vec4 column at a time: the
        // 32 key rows at column d broadcast from the KeyTile, as in keyStep. Measured on
        // lavapipe: 1.5x faster than accumulateDkDv's layout (dS from lane L, K at the lane's
        // columns in registers), whose unrolled code was also twice as slow to compile.
        let qi = vec4u(i0 + 4u * sl) + vec4u(0u, 1u, 2u, 3u);
        let qr = vec4u(qrow(b, qi.x, h), qrow(b, qi.y, h), qrow(b, qi.z, h), qrow(b, qi.w, h));
        for (var d = 0u; d < p.D / 4u; d++) {
          let kk = keyRows(kt.k[4u * d], kt.k[4u * d + 1u], kt.k[4u * d + 2u], kt.k[4u * d + 3u]);
          var a = mat4x4f();
          for (var r = 0u; r < TK; r++) {
            a[0] = fma(vec4f(ks.ds[r].x), kk[r], a[0]);
            a[1] = fma(vec4f(ks.ds[r].y), kk[r], a[1]);
            a[2] = fma(vec4f(ks.ds[r].z), kk[r], a[2]);
            a[3] = fma(vec4f(ks.ds[r].w), kk[r], a[3]);
          }
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
    storageBarrier();
  }
}
