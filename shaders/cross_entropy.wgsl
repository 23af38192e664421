// Softmax cross-entropy with ignore index -100, forward and backward fused, over a chunk of R rows
// of a (N, V) logits matrix that is never materialised whole: the caller computes R rows of
// logits, runs this, and reuses the buffer for the next chunk (row_offset says where it is).
//
//   loss[r]   = log(sum_j exp(x_j)) - x_t              (t = targets[row_offset + r])
//   dlogits   = (softmax(x) - onehot(t)) * grad_scale  (written over the logits, in place)
//   correct[r] = 1 if argmax(x) == t else 0           (first index wins ties, as torch.argmax)
//
// Target -100: loss 0, correct 0, gradient 0. A target outside [0, V) is a data bug: its loss is
// NaN so it shows in the loss curve, its gradient 0.
//
// One workgroup per row (row = wid.x + wid.y * nwg.x for more than 65535 rows). Pass 1: each
// invocation walks j = lid, lid + WG, ... with an online max and sum of exp (and its argmax), then
// a fixed-shape tree merges the WG partial states, so the result is bit-identical run to run.
// Pass 2 re-reads the row and writes the gradient. WG must be a power of two.
//
// Entry points: train (loss + gradient), train_acc (+ correct), eval (loss only), eval_acc; with
// V % 4 == 0 the same four ending in 4 read and write the row as vec4s through `logits4`, one
// online-softmax update per 4 values (lavapipe, V 49152: 14.5 -> 7.7 ms per 170-row chunk; four
// scalar reads instead of one vec4 load gave 10.7). Each entry uses only its bindings, so a bind
// group carries exactly those.

override WG: u32 = 256;

const IGNORE_INDEX: i32 = -100;
const NONE: u32 = 0xffffffffu;

struct Params {
  R: u32,
  V: u32,
  row_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;    // (R, V), becomes dlogits
@group(0) @binding(2) var<storage, read> targets: array<i32>;         // (N)
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;    // (N)
@group(0) @binding(4) var<storage, read_write> correct: array<f32>;   // (N)
@group(0) @binding(5) var<storage, read> grad_scale: array<f32>;      // (1)
@group(0) @binding(6) var<storage, read_write> logits4: array<vec4f>; // (R, V / 4), the *4 entry points

var<workgroup> sh_m: array<f32, WG>;
var<workgroup> sh_s: array<f32, WG>;
var<workgroup> sh_best: array<u32, WG>;

// Running state of a softmax over a subset of the row: max m, sum of exp(x - m), first argmax.
struct Stats {
  m: f32,
  s: f32,
  best: u32,
}

fn merge(a: Stats, b: Stats) -> Stats {
  if (b.best == NONE) { return a; }
  if (a.best == NONE) { return b; }
  let m = max(a.m, b.m);
  let s = a.s * exp(a.m - m) + b.s * exp(b.m - m);
  var best = a.best;
  if (b.m > a.m || (b.m == a.m && b.best < a.best)) { best = b.best; }
  return Stats(m, s, best);
}

fn row_stats(base: u32, lid: u32) -> Stats {
  var st = Stats(0.0, 0.0, NONE);
  for (var j = lid; j < p.V; j += WG) {
    let x = logits[base + j];
    if (st.best == NONE) {
      st = Stats(x, 1.0, j);
    } else if (x > st.m) {
      // Strictly greater: within one invocation j grows, so the first maximum is kept.
      st = Stats(x, st.s * exp(st.m - x) + 1.0, j);
    } else {
      st.s += exp(x - st.m);
    }
  }
  return reduce_stats(st, lid);
}

// Merges the WG invocations' states in a fixed-shape tree (bit-identical run to run).
fn reduce_stats(st: Stats, lid: u32) -> Stats {
  sh_m[lid] = st.m;
  sh_s[lid] = st.s;
  sh_best[lid] = st.best;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let r = merge(Stats(sh_m[lid], sh_s[lid], sh_best[lid]), Stats(sh_m[lid + stride], sh_s[lid + stride], sh_best[lid + stride]));
      sh_m[lid] = r.m;
      sh_s[lid] = r.s;
      sh_best[lid] = r.best;
    }
    workgroupBarrier();
  }
  return Stats(sh_m[0], sh_s[0], sh_best[0]);
}

fn valid(t: i32) -> bool {
  return t >= 0 && u32(t) < p.V;
}

// The invocation that writes the row's loss: the one that owns column t in the gradient pass
// (it reads x_t before overwriting it), or invocation 0 when there is no valid target.
fn owner(t: i32) -> u32 {
  if (valid(t)) { return u32(t) % WG; }
  return 0u;
}

fn row_loss(st: Stats, t: i32, xt: f32) -> f32 {
  if (t == IGNORE_INDEX) { return 0.0; }
  if (!valid(t)) {
    var nan_bits = 0x7fc00000u;   // a var: WGSL rejects NaN as a constant expression
    return bitcast<f32>(nan_bits);
  }
  return log(st.s) + st.m - xt;
}

fn row_correct(st: Stats, t: i32) -> f32 {
  return select(0.0, 1.0, valid(t) && st.best == u32(t));
}

// Writes the gradient over the row; returns x_t to the owner invocation (0 to the others).
fn grad_pass(base: u32, lid: u32, st: Stats, t: i32) -> f32 {
  var xt = 0.0;
  if (!valid(t)) {
    for (var j = lid; j < p.V; j += WG) { logits[base + j] = 0.0; }
    return xt;
  }
  let scale = grad_scale[0];
  for (var j = lid; j < p.V; j += WG) {
    let x = logits[base + j];
    var g = exp(x - st.m) / st.s;
    if (j == u32(t)) {
      xt = x;
      g -= 1.0;
    }
    logits[base + j] = g * scale;
  }
  return xt;
}

fn row_of(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// A row's result once its statistics are known: `mine` for the invocation that writes it.
struct Row { st: Stats, t: i32, mine: bool }

// Loss and gradient of one row; the owner of the target column writes the loss.
fn train_row(row: u32, lid: u32) -> Row {
  let base = row * p.V;
  let st = row_stats(base, lid);
  let t = targets[p.row_offset + row];
  let xt = grad_pass(base, lid, st, t);
  let mine = lid == owner(t);
  if (mine) { losses[p.row_offset + row] = row_loss(st, t, xt); }
  return Row(st, t, mine);
}

// Loss only; invocation 0 writes it.
fn eval_row(row: u32, lid: u32) -> Row {
  let base = row * p.V;
  let st = row_stats(base, lid);
  let t = targets[p.row_offset + row];
  let mine = lid == 0u;
  if (mine) {
    var xt = 0.0;
    if (valid(t)) { xt = logits[base + u32(t)]; }
    losses[p.row_offset + row] = row_loss(st, t, xt);
  }
  return Row(st, t, mine);
}

fn write_correct(row: u32, r: Row) {
  if (r.mine) { correct[p.row_offset + row] = row_correct(r.st, r.t); }
}

@compute @workgroup_size(WG)
fn train(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_of(wid, nwg);
  if (row < p.R) { _ = train_row(row, lid); }
}

@compute @workgroup_size(WG)
fn train_acc(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_of(wid, nwg);
  if (row < p.R) { write_correct(row, train_row(row, lid)); }
}

@compute @workgroup_size(WG)
fn eval(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_of(wid, nwg);
  if (row < p.R) { _ = eval_row(row, lid); }
}

@compute @workgroup_size(WG)
fn eval_acc(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_of(wid, nwg);
  if (row < p.R) { write_correct(row, eval_row(row, lid)); }
}

// ---- V % 4 == 0: the row as vec4s ------------------------------------------------------------

// The state after 4 more values: one rescale per vec4; the first index of the vec4's maximum.
fn row_stats4(base4: u32, lid: u32) -> Stats {
  var st = Stats(0.0, 0.0, NONE);
  for (var j4 = lid; j4 < p.V / 4u; j4 += WG) {
    let x = logits4[base4 + j4];
    let mx = max(max(x.x, x.y), max(x.z, x.w));
    let at = 4u * j4 + select(select(select(3u, 2u, x.z == mx), 1u, x.y == mx), 0u, x.x == mx);
    if (st.best == NONE) {
      st = Stats(mx, dot(exp(x - mx), vec4f(1.0)), at);
    } else if (mx > st.m) {
      st = Stats(mx, st.s * exp(st.m - mx) + dot(exp(x - mx), vec4f(1.0)), at);
    } else {
      st.s += dot(exp(x - st.m), vec4f(1.0));
    }
  }
  return reduce_stats(st, lid);
}

fn owner4(t: i32) -> u32 {
  if (valid(t)) { return (u32(t) / 4u) % WG; }
  return 0u;
}

fn grad_pass4(base4: u32, lid: u32, st: Stats, t: i32) -> f32 {
  var xt = 0.0;
  if (!valid(t)) {
    for (var j4 = lid; j4 < p.V / 4u; j4 += WG) { logits4[base4 + j4] = vec4f(0.0); }
    return xt;
  }
  let scale = grad_scale[0];
  for (var j4 = lid; j4 < p.V / 4u; j4 += WG) {
    let x = logits4[base4 + j4];
    var g = exp(x - st.m) / st.s;
    if (j4 == u32(t) / 4u) {
      xt = x[u32(t) % 4u];
      g[u32(t) % 4u] -= 1.0;
    }
    logits4[base4 + j4] = g * scale;
  }
  return xt;
}

fn train_row4(row: u32, lid: u32) -> Row {
  let base4 = row * (p.V / 4u);
  let st = row_stats4(base4, lid);
  let t = targets[p.row_offset + row];
  let xt = grad_pass4(base4, lid, st, t);
  let mine = lid == owner4(t);
  if (mine) { losses[p.row_offset + row] = row_loss(st, t, xt); }
  return Row(st, t, mine);
}

fn eval_row4(row: u32, lid: u32) -> Row {
  let base4 = row * (p.V / 4u);
  let st = row_stats4(base4, lid);
  let t = targets[p.row_offset + row];
  let mine = lid == 0u;
  if (mine) {
    var xt = 0.0;
    if (valid(t)) { xt = logits4[base4 + u32(t) / 4u][u32(t) % 4u]; }
    losses[p.row_offset + row] = row_loss(st, t, xt);
  }
  return Row(st, t, mine);
}

@compute @workgroup_size(WG)
fn train4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_of(wid, nwg);
  if (row < p.R) { _ = train_row4(row, lid); }
}

@compute @workgroup_size(WG)
fn train_acc4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_of(wid, nwg);
  if (row < p.R) { write_correct(row, train_row4(row, lid)); }
}

@compute @workgroup_size(WG)
fn eval4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_of(wid, nwg);
  if (row < p.R) { _ = eval_row4(row, lid); }
}

@compute @workgroup_size(WG)
fn eval_acc4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_of(wid, nwg);
  if (row < p.R) { write_correct(row, eval_row4(row, lid)); }
}
