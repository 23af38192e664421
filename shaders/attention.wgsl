// Causal self-attention, flash style (FlashAttention-2 forward and backward), on the natural layout
// of a q/k/v projection output: q, out (B, T, Hq, D); k, v (B, T, Hkv, D). Query head h reads kv
// head h / (Hq / Hkv) (grouped-query attention). Query i sees key j when j <= i and, with segment
// ids (B, T), seg[i] == seg[j]: packed documents never see each other, and a token sees itself.
//
// Scores s_ij = scale * q_i.k_j are computed in the log2 domain (one operand is pre-multiplied by
// scale * log2(e), lse is converted likewise) so that each probability costs one exp2. The T x T
// scores never leave the invocation that computes them.
//
//   forward          one invocation per query row, K/V tiles of BK keys in workgroup memory.
//                    Online softmax: running max m and sum l per row; the accumulator is rescaled
//                    once per 4 keys, not per key. Writes out and lse_i = ln sum_j exp(s_ij).
//   backward_stats   delta_i = sum_d dout_id out_id, one invocation per (b, i, h) row, written
//                    with lse_i * log2(e) as one vec2 per row (B, Hq, T, 2): the backward kernels
//                    read one binding instead of two (dkdv then fits in 8 storage buffers).
//   backward_delta   the same, delta alone (B, Hq, T), for callers that plan the older shape; the
//                    kernels then read lse and delta separately (the op rewrites `row_stats`).
//   backward_dkdv    one invocation per key row, Q/dO tiles of BQT queries in workgroup memory.
//                    Recomputes p_ij = exp(s_ij - lse_i); dv_j += p dO_i; ds = p (dO_i.v_j - delta_i);
//                    dk_j += ds q_i. It loops over the Hq/Hkv query heads of its kv head itself, so
//                    the GQA sum has a fixed order and needs no atomics.
//   backward_dq      one invocation per query row, K/V tiles: dq_i += ds k_j.
//
// A row lives in registers as DV = DMAX/4 vec4s, zero-padded past D; the op compiles DMAX in
// {16, 32, 64, 128} (the smallest >= D) by rewriting the `const DMAX` line. Storage is ST (f32 or
// f16); arithmetic and the lse, delta and gradient buffers are always f32.

alias ST = f32;

const DMAX: u32 = 64u;
const DV: u32 = DMAX / 4u;
// Masked scores. Finite rather than -inf so that m - mx never becomes inf - inf: the running max
// starts at M0 and a masked score stays >= 1e30 below any max, so its exp2 is exactly 0.
const MASKED: f32 = -2e30;
const M0: f32 = -1e30;
const LN2: f32 = 0.6931471805599453;
const LOG2E: f32 = 1.4426950408889634;

override BQ: u32 = 64u;    // query rows per workgroup (forward, dq): one invocation each
override BK: u32 = 32u;    // keys per K/V tile (forward, dq); a multiple of 4
override BKV: u32 = 64u;   // key rows per workgroup (dkdv): one invocation each
override BQT: u32 = 32u;   // queries per Q/dO tile (dkdv)
override WG: u32 = 256u;   // rows per workgroup (delta)
override SEGMENTS: bool = false;  // when false `seg` is bound to a placeholder and never read
// Row loops run to the constant DV (unrolled: registers, fast on CPUs, slow to compile for large
// DV) or to ceil(D / 4) (a loop; private arrays indexed dynamically).
override UNROLL: bool = true;

struct Params {
  T: u32,
  Hq: u32,
  Hkv: u32,
  D: u32,
  scale2: f32,      // scale * log2(e)
  scale: f32,
  accumulate: u32,  // backward: add into dq, dk, dv instead of overwriting
  n: u32,           // delta: B * T * Hq rows
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<ST>;              // (B, T, Hq, D)
@group(0) @binding(2) var<storage, read> k: array<ST>;              // (B, T, Hkv, D)
@group(0) @binding(3) var<storage, read> v: array<ST>;              // (B, T, Hkv, D)
@group(0) @binding(4) var<storage, read> seg: array<i32>;           // (B, T)
@group(0) @binding(5) var<storage, read_write> out: array<ST>;      // (B, T, Hq, D) forward output
@group(0) @binding(6) var<storage, read_write> lse_out: array<f32>; // (B, Hq, T) forward output
@group(0) @binding(7) var<storage, read> dout: array<ST>;           // (B, T, Hq, D)
@group(0) @binding(8) var<storage, read_write> delta_out: array<f32>; // (B, Hq, T)
@group(0) @binding(9) var<storage, read> out_in: array<ST>;         // (B, T, Hq, D) saved output
@group(0) @binding(10) var<storage, read> lse: array<f32>;          // (B, Hq, T)
@group(0) @binding(11) var<storage, read> delta: array<f32>;        // (B, Hq, T)
@group(0) @binding(12) var<storage, read_write> dq: array<f32>;     // (B, T, Hq, D)
@group(0) @binding(13) var<storage, read_write> dk: array<f32>;     // (B, T, Hkv, D)
@group(0) @binding(14) var<storage, read_write> dv: array<f32>;     // (B, T, Hkv, D)
@group(0) @binding(15) var<storage, read> stats: array<vec2f>;      // (B, Hq, T) (lse * log2(e), delta)
@group(0) @binding(16) var<storage, read_write> stats_out: array<vec2f>; // (B, Hq, T)

// (lse * log2(e), delta) of a query row.
fn row_stats(row: u32) -> vec2f {
  return stats[row];
}

// Tiles shared by a workgroup, f32 whatever the storage type (converted once, read many times).
var<workgroup> kt: array<vec4f, BK * DV>;
var<workgroup> vt: array<vec4f, BK * DV>;
var<workgroup> segk: array<i32, BK>;
var<workgroup> qt: array<vec4f, BQT * DV>;
var<workgroup> ot: array<vec4f, BQT * DV>;
var<workgroup> segq: array<i32, BQT>;
var<workgroup> lset: array<f32, BQT>;
var<workgroup> delt: array<f32, BQT>;

// Four elements d = 4c .. 4c+3 of the row starting at `base`, zero past D.
fn q4(base: u32, c: u32) -> vec4f {
  var r = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) { let d = 4u * c + e; if (d < p.D) { r[e] = f32(q[base + d]); } }
  return r;
}
fn k4(base: u32, c: u32) -> vec4f {
  var r = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) { let d = 4u * c + e; if (d < p.D) { r[e] = f32(k[base + d]); } }
  return r;
}
fn v4(base: u32, c: u32) -> vec4f {
  var r = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) { let d = 4u * c + e; if (d < p.D) { r[e] = f32(v[base + d]); } }
  return r;
}
fn dout4(base: u32, c: u32) -> vec4f {
  var r = vec4f(0.0);
  for (var e = 0u; e < 4u; e++) { let d = 4u * c + e; if (d < p.D) { r[e] = f32(dout[base + d]); } }
  return r;
}

fn nc() -> u32 {
  if (UNROLL) { return DV; }
  return (p.D + 3u) / 4u;
}

// Row offsets; rows past T are clamped to T - 1 so that padding lanes load real (finite) data
// that their masks then ignore.
fn qrow(b: u32, i: u32, h: u32) -> u32 { return ((b * p.T + min(i, p.T - 1u)) * p.Hq + h) * p.D; }
fn kvrow(b: u32, j: u32, h: u32) -> u32 { return ((b * p.T + min(j, p.T - 1u)) * p.Hkv + h) * p.D; }
fn segment(b: u32, i: u32) -> i32 {
  if (SEGMENTS) { return seg[b * p.T + min(i, p.T - 1u)]; }
  return 0;
}

// Loads keys k0 .. k0+BK-1 of kv head hk into kt, vt (and their segment ids into segk).
fn load_kv_tile(b: u32, hk: u32, k0: u32, lid: u32, nthreads: u32) {
  for (var e = lid; e < BK * DV; e += nthreads) {
    let base = kvrow(b, k0 + e / DV, hk);
    kt[e] = k4(base, e % DV);
    vt[e] = v4(base, e % DV);
  }
  if (SEGMENTS) {
    for (var t = lid; t < BK; t += nthreads) { segk[t] = segment(b, k0 + t); }
  }
}

// Grid: (ceil(T / BQ), Hq, B).
@compute @workgroup_size(BQ)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let hk = h / (p.Hq / p.Hkv);
  let q0 = wid.x * BQ;
  let i = q0 + lid;
  let qb = qrow(b, i, h);
  var qv: array<vec4f, DV>;
  var acc: array<vec4f, DV>;
  for (var c = 0u; c < nc(); c++) {
    qv[c] = q4(qb, c) * p.scale2;
    acc[c] = vec4f(0.0);
  }
  let segi = segment(b, i);
  var m = M0;
  var l = 0.0;
  // Causal: the workgroup's last query is its last key.
  let kend = min(p.T, q0 + BQ);
  for (var k0 = 0u; k0 < kend; k0 += BK) {
    workgroupBarrier();
    load_kv_tile(b, hk, k0, lid, BQ);
    workgroupBarrier();
    let nk = min(BK, kend - k0);
    // Four keys at a time: one rescale of the accumulator per four keys, and each q load serves four dots.
    for (var t = 0u; t < nk; t += 4u) {
      var sc = vec4f(0.0);
      for (var c = 0u; c < nc(); c++) {
        let qc = qv[c];
        let kb = t * DV + c;
        sc += vec4f(dot(qc, kt[kb]), dot(qc, kt[kb + DV]), dot(qc, kt[kb + 2u * DV]), dot(qc, kt[kb + 3u * DV]));
      }
      // Keys past kend in this group are > i for every row here, so the causal mask drops them.
      var ok = vec4u(k0 + t) + vec4u(0u, 1u, 2u, 3u) <= vec4u(i);
      if (SEGMENTS) { ok = ok & (vec4i(segk[t], segk[t + 1u], segk[t + 2u], segk[t + 3u]) == vec4i(segi)); }
      let s = select(vec4f(MASKED), sc, ok);
      let mx = max(m, max(max(s.x, s.y), max(s.z, s.w)));
      let alpha = exp2(m - mx);
      let pr = exp2(s - mx);
      l = l * alpha + (pr.x + pr.y) + (pr.z + pr.w);
      for (var c = 0u; c < nc(); c++) {
        let vb = t * DV + c;
        acc[c] = acc[c] * alpha + pr.x * vt[vb] + pr.y * vt[vb + DV] + pr.z * vt[vb + 2u * DV] + pr.w * vt[vb + 3u * DV];
      }
      m = mx;
    }
  }
  if (i < p.T) {
    let inv = 1.0 / l;
    for (var c = 0u; c < nc(); c++) {
      for (var e = 0u; e < 4u; e++) {
        let d = 4u * c + e;
        if (d < p.D) { out[qb + d] = ST(acc[c][e] * inv); }
      }
    }
    lse_out[(b * p.Hq + h) * p.T + i] = (m + log2(l)) * LN2;
  }
}

// Grid: grid(ceil(B * T * Hq / WG)); row r = (b * T + i) * Hq + h, the natural layout of out.
@compute @workgroup_size(WG)
fn backward_delta(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.x + wid.y * nwg.x) * WG + lid;
  if (r >= p.n) { return; }
  let h = r % p.Hq;
  let bi = r / p.Hq;
  let i = bi % p.T;
  let b = bi / p.T;
  var sum = 0.0;
  for (var d = 0u; d < p.D; d++) { sum += f32(dout[r * p.D + d]) * f32(out_in[r * p.D + d]); }
  delta_out[(b * p.Hq + h) * p.T + i] = sum;
}

// Grid and rows as backward_delta.
@compute @workgroup_size(WG)
fn backward_stats(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.x + wid.y * nwg.x) * WG + lid;
  if (r >= p.n) { return; }
  let h = r % p.Hq;
  let bi = r / p.Hq;
  let i = bi % p.T;
  let b = bi / p.T;
  var sum = 0.0;
  for (var d = 0u; d < p.D; d++) { sum += f32(dout[r * p.D + d]) * f32(out_in[r * p.D + d]); }
  let row = (b * p.Hq + h) * p.T + i;
  stats_out[row] = vec2f(lse[row] * LOG2E, sum);
}

// Grid: (ceil(T / BKV), Hkv, B).
@compute @workgroup_size(BKV)
fn backward_dkdv(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let hk = wid.y;
  let G = p.Hq / p.Hkv;
  let k0 = wid.x * BKV;
  let j = k0 + lid;
  let kb = kvrow(b, j, hk);
  var kv: array<vec4f, DV>;
  var vv: array<vec4f, DV>;
  var dka: array<vec4f, DV>;
  var dva: array<vec4f, DV>;
  for (var c = 0u; c < nc(); c++) {
    kv[c] = k4(kb, c) * p.scale2;
    vv[c] = v4(kb, c);
    dka[c] = vec4f(0.0);
    dva[c] = vec4f(0.0);
  }
  let segj = segment(b, j);
  for (var g = 0u; g < G; g++) {
    let h = hk * G + g;
    // Causal: queries before the tile's first key see none of its keys.
    for (var i0 = k0; i0 < p.T; i0 += BQT) {
      workgroupBarrier();
      for (var e = lid; e < BQT * DV; e += BKV) {
        let base = qrow(b, i0 + e / DV, h);
        qt[e] = q4(base, e % DV);
        ot[e] = dout4(base, e % DV);
      }
      for (var t = lid; t < BQT; t += BKV) {
        let row = (b * p.Hq + h) * p.T + min(i0 + t, p.T - 1u);
        let st = row_stats(row);
        lset[t] = st.x;
        delt[t] = st.y;
        if (SEGMENTS) { segq[t] = segment(b, i0 + t); }
      }
      workgroupBarrier();
      let nq = min(BQT, p.T - i0);
      for (var t = 0u; t < nq; t++) {
        var sc = 0.0;
        var dp = 0.0;
        for (var c = 0u; c < nc(); c++) {
          sc += dot(qt[t * DV + c], kv[c]);
          dp += dot(ot[t * DV + c], vv[c]);
        }
        // j <= i also keeps padding lanes (j >= T > i) at zero.
        var ok = j <= i0 + t;
        if (SEGMENTS) { ok = ok && segq[t] == segj; }
        let pr = select(0.0, exp2(sc - lset[t]), ok);
        let ds = pr * (dp - delt[t]);
        for (var c = 0u; c < nc(); c++) {
          dva[c] += pr * ot[t * DV + c];
          dka[c] += ds * qt[t * DV + c];
        }
      }
    }
  }
  if (j < p.T) {
    for (var c = 0u; c < nc(); c++) {
      for (var e = 0u; e < 4u; e++) {
        let d = 4u * c + e;
        if (d < p.D) {
          var gk = dka[c][e] * p.scale;
          var gv = dva[c][e];
          if (p.accumulate != 0u) { gk += dk[kb + d]; gv += dv[kb + d]; }
          dk[kb + d] = gk;
          dv[kb + d] = gv;
        }
      }
    }
  }
}

// Grid: (ceil(T / BQ), Hq, B).
@compute @workgroup_size(BQ)
fn backward_dq(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let hk = h / (p.Hq / p.Hkv);
  let q0 = wid.x * BQ;
  let i = q0 + lid;
  let qb = qrow(b, i, h);
  var qv: array<vec4f, DV>;
  var ov: array<vec4f, DV>;
  var dqa: array<vec4f, DV>;
  for (var c = 0u; c < nc(); c++) {
    qv[c] = q4(qb, c) * p.scale2;
    ov[c] = dout4(qb, c);
    dqa[c] = vec4f(0.0);
  }
  let row = (b * p.Hq + h) * p.T + min(i, p.T - 1u);
  let st = row_stats(row);
  let lse2 = st.x;
  let dl = st.y;
  let segi = segment(b, i);
  let kend = min(p.T, q0 + BQ);
  for (var k0 = 0u; k0 < kend; k0 += BK) {
    workgroupBarrier();
    load_kv_tile(b, hk, k0, lid, BQ);
    workgroupBarrier();
    let nk = min(BK, kend - k0);
    for (var t = 0u; t < nk; t++) {
      var sc = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < nc(); c++) {
        sc += dot(qv[c], kt[t * DV + c]);
        dp += dot(ov[c], vt[t * DV + c]);
      }
      var ok = k0 + t <= i;
      if (SEGMENTS) { ok = ok && segk[t] == segi; }
      let pr = select(0.0, exp2(sc - lse2), ok);
      let ds = pr * (dp - dl);
      for (var c = 0u; c < nc(); c++) { dqa[c] += ds * kt[t * DV + c]; }
    }
  }
  if (i < p.T) {
    for (var c = 0u; c < nc(); c++) {
      for (var e = 0u; e < 4u; e++) {
        let d = 4u * c + e;
        if (d < p.D) {
          var g = dqa[c][e] * p.scale;
          if (p.accumulate != 0u) { g += dq[qb + d]; }
          dq[qb + d] = g;
        }
      }
    }
  }
}
