// Token-level distillation loss with its gradient, fused, over a chunk of R rows of a (N, V)
// student logits matrix (same chunking as cross_entropy.wgsl: the buffer holds R rows, row_offset
// says where they sit among the N rows of the batch). Per row r (n = row_offset + r):
//
//   loss[n] = alpha · CE(x, t) + (1 − alpha) · D(p_T, q_S)
//
// CE is the hard-label cross-entropy of the student at temperature 1. D compares teacher and
// student on the teacher's top-K support only, matching TRL's generalized_jsd_loss (temperature
// divides both sides' logits first; its top_k variant gathers both at the teacher's top-k
// indices, then log_softmax):
//
//   q_k = softmax_k(x[id_k] / tau)        student, restricted to the support and renormalised
//   p_k = softmax_k(lp_k / tau)           teacher, likewise
//
// The teacher's log-probs lp equal its logits up to a per-row constant, so p is exactly the
// teacher's tempered distribution restricted to its top-K and renormalised: the mass
// 1 − Σ exp(lp) outside the top-K is dropped, not spread anywhere. Student logits outside the
// support get no gradient from D (only from CE). No tau² factor, as in TRL.
//
//   KIND 0 forward KL(p ‖ q), 1 reverse KL(q ‖ p),
//   KIND 2 generalized JSD: beta·KL(p ‖ m) + (1 − beta)·KL(q ‖ m), m = beta·p + (1 − beta)·q.
//   (TRL special-cases beta 0 and 1 as forward and reverse KL; the op maps them to KIND 0 / 1,
//   so here 0 < beta < 1 and log(beta), log(1 − beta) are finite.)
//
// Gradient through the restricted softmax: with g_k = ∂D/∂q_k, ∂D/∂z_k = q_k (g_k − Σ_j q_j g_j)
// and ∂z/∂x = 1/tau. forward: q − p. reverse: g = log q − log p (+1, which cancels), so
// q (g − D). JSD: the terms in p/m cancel and g = (1 − beta) log(q/m). Everything is in log
// space (m via logaddexp) so no probability underflow yields log 0.
//
// Target -100: the whole row is ignored (loss 0, gradient 0), also its distillation term. A target
// outside [0, V) or a teacher id outside [0, V): loss NaN, gradient 0, so the data bug shows.
// Teacher ids of a row must be distinct (the op cannot check GPU data): a duplicate would count
// its mass twice and its two gradient updates would race.
//
// One workgroup per row (row = wid.x + wid.y * nwg.x); K ≤ WG so each invocation owns at most one
// support entry. All reductions are fixed-shape trees: bit-identical run to run. Reads of the
// logits at t and at the ids happen before the storage barrier that precedes the in-place writes.
//
// Entry points: train (loss + gradient over the logits), eval (loss only), and train_acc /
// eval_acc, which also write correct[n] = 1 where argmax(x) == t (first index wins ties, as
// torch.argmax and cross_entropy.wgsl), from the same pass over the row.

override WG: u32 = 256;

const IGNORE_INDEX: i32 = -100;
const NEG_INF: f32 = -0x1.fffffep+127f;   // −FLT_MAX stands for −∞ in max reductions (WGSL has no inf literal)

struct Params {
  R: u32,
  V: u32,
  K: u32,
  row_offset: u32,
  kind: u32,
  alpha: f32,
  inv_tau: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;     // (R, V), becomes dlogits
@group(0) @binding(2) var<storage, read> targets: array<i32>;          // (N)
@group(0) @binding(3) var<storage, read> teacher_ids: array<i32>;      // (N, K)
@group(0) @binding(4) var<storage, read> teacher_lp: array<f32>;       // (N, K)
@group(0) @binding(5) var<storage, read_write> losses: array<f32>;     // (N)
@group(0) @binding(6) var<storage, read> grad_scale: array<f32>;       // (1)
@group(0) @binding(7) var<storage, read_write> correct: array<f32>;    // (N), the _acc entries only

var<workgroup> sh_a: array<f32, WG>;
var<workgroup> sh_b: array<f32, WG>;
var<workgroup> sh_i: array<u32, WG>;

fn reduce_sum(v: f32, lid: u32) -> f32 {
  sh_a[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { sh_a[lid] += sh_a[lid + stride]; }
    workgroupBarrier();
  }
  let r = sh_a[0];
  workgroupBarrier();   // sh_a is reused by the next reduction
  return r;
}

fn reduce_max(v: f32, lid: u32) -> f32 {
  sh_a[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { sh_a[lid] = max(sh_a[lid], sh_a[lid + stride]); }
    workgroupBarrier();
  }
  let r = sh_a[0];
  workgroupBarrier();
  return r;
}

struct RowStats {
  m: f32,     // max of the row
  s: f32,     // Σ exp(x − m)
  best: u32,  // first index of the max (V when none)
}

// Max, Σ exp(x − m) and first argmax of the whole row at temperature 1 (online per invocation,
// then a tree).
fn row_stats(base: u32, lid: u32) -> RowStats {
  var m = NEG_INF;
  var s = 0.0;
  var best = p.V;
  for (var j = lid; j < p.V; j += WG) {
    let x = logits[base + j];
    if (x > m) {
      // Strictly greater: j grows within an invocation, so its first maximum is kept.
      s = s * exp(m - x) + 1.0;
      m = x;
      best = j;
    } else {
      s += exp(x - m);
    }
  }
  sh_a[lid] = m;
  sh_b[lid] = s;
  sh_i[lid] = best;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let ma = sh_a[lid];
      let mb = sh_a[lid + stride];
      let mm = max(ma, mb);
      // Invocations with no column (V < WG) hold s = 0 and never contribute exp(−huge)·0 = NaN.
      var sa = 0.0;
      var sb = 0.0;
      if (sh_b[lid] > 0.0) { sa = sh_b[lid] * exp(ma - mm); }
      if (sh_b[lid + stride] > 0.0) { sb = sh_b[lid + stride] * exp(mb - mm); }
      if (mb > ma || (mb == ma && sh_i[lid + stride] < sh_i[lid])) { sh_i[lid] = sh_i[lid + stride]; }
      sh_a[lid] = mm;
      sh_b[lid] = sa + sb;
    }
    workgroupBarrier();
  }
  let r = RowStats(sh_a[0], sh_b[0], sh_i[0]);
  workgroupBarrier();
  return r;
}

fn logaddexp(a: f32, b: f32) -> f32 {
  let m = max(a, b);
  return m + log(exp(a - m) + exp(b - m));
}

fn nan() -> f32 {
  var bits = 0x7fc00000u;   // a var: WGSL rejects NaN as a constant expression
  return bitcast<f32>(bits);
}

fn row_of(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// `scale` is read by the train entries only, so eval's bind group needs no grad_scale. Returns the
// row's correct flag (the _acc entries write it; the others do not bind `correct`).
fn run(wid: vec3u, nwg: vec3u, lid: u32, train: bool, scale: f32) -> f32 {
  let row = row_of(wid, nwg);
  if (row >= p.R) { return 0.0; }
  let n = p.row_offset + row;
  let base = row * p.V;
  let t = targets[n];
  let t_ok = t >= 0 && u32(t) < p.V;

  let st = row_stats(base, lid);

  // Support entry owned by this invocation (if lid < K).
  let has_k = lid < p.K;
  var id = 0u;
  var z = NEG_INF;
  var a = NEG_INF;
  var bad = 0.0;
  if (has_k) {
    let raw = teacher_ids[n * p.K + lid];
    if (raw >= 0 && u32(raw) < p.V) {
      id = u32(raw);
      z = logits[base + id] * p.inv_tau;
    } else {
      bad = 1.0;
      z = 0.0;
    }
    a = teacher_lp[n * p.K + lid] * p.inv_tau;
  }
  let n_bad = reduce_sum(bad, lid);
  let mz = reduce_max(z, lid);
  let ma = reduce_max(a, lid);
  var ez = 0.0;
  var ea = 0.0;
  if (has_k) {
    ez = exp(z - mz);
    ea = exp(a - ma);
  }
  let lsz = log(reduce_sum(ez, lid)) + mz;
  let lsa = log(reduce_sum(ea, lid)) + ma;
  let logq = z - lsz;
  let logp = a - lsa;
  let q = exp(logq);
  let pt = exp(logp);

  var d = 0.0;   // this entry's term of D
  var g = 0.0;   // ∂D/∂q_k, up to a constant that the softmax cancels
  if (has_k) {
    if (p.kind == 0u) {
      d = pt * (logp - logq);
    } else if (p.kind == 1u) {
      d = q * (logq - logp);
      g = logq - logp;
    } else {
      let logm = logaddexp(log(p.beta) + logp, log(1.0 - p.beta) + logq);
      d = p.beta * pt * (logp - logm) + (1.0 - p.beta) * q * (logq - logm);
      g = (1.0 - p.beta) * (logq - logm);
    }
  }
  let D = reduce_sum(d, lid);
  var G = 0.0;
  if (p.kind != 0u) { G = reduce_sum(q * g, lid); }

  var xt = 0.0;
  if (lid == 0u && t_ok) { xt = logits[base + u32(t)]; }
  let row_ok = t_ok && n_bad == 0.0;

  if (train) {
    storageBarrier();   // every read of this row's logits above happens before the writes below
    for (var j = lid; j < p.V; j += WG) {
      var gj = 0.0;
      if (row_ok) {
        gj = exp(logits[base + j] - st.m) / st.s;
        if (j == u32(t)) { gj -= 1.0; }
        gj *= p.alpha * scale;
      }
      logits[base + j] = gj;
    }
    storageBarrier();   // the support entries add onto the CE gradient written above
    if (has_k && row_ok) {
      var dz = 0.0;
      if (p.kind == 0u) { dz = q - pt; } else { dz = q * (g - G); }
      logits[base + id] += (1.0 - p.alpha) * dz * p.inv_tau * scale;
    }
  }

  if (lid == 0u) {
    var loss = 0.0;
    if (t != IGNORE_INDEX) {
      if (row_ok) {
        loss = p.alpha * (log(st.s) + st.m - xt) + (1.0 - p.alpha) * D;
      } else {
        loss = nan();
      }
    }
    losses[n] = loss;
  }
  return select(0.0, 1.0, t_ok && st.best == u32(t));
}

@compute @workgroup_size(WG)
fn train(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  _ = run(wid, nwg, lid, true, grad_scale[0]);
}

@compute @workgroup_size(WG)
fn eval(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  _ = run(wid, nwg, lid, false, 0.0);
}

fn write_correct(wid: vec3u, nwg: vec3u, lid: u32, c: f32) {
  let row = row_of(wid, nwg);
  if (lid == 0u && row < p.R) { correct[p.row_offset + row] = c; }
}

@compute @workgroup_size(WG)
fn train_acc(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  write_correct(wid, nwg, lid, run(wid, nwg, lid, true, grad_scale[0]));
}

@compute @workgroup_size(WG)
fn eval_acc(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  write_correct(wid, nwg, lid, run(wid, nwg, lid, false, 0.0));
}
