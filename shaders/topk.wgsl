// Top-K log-softmax over a chunk of R rows of (N, V) logits (same chunking as cross_entropy.wgsl:
// the buffer holds R rows, row_offset says where they sit among the N rows). Per row r
// (n = row_offset + r), for the K largest logits in descending order (equal logits: lower id
// first):
//
//   ids[n, k]      = the k-th id
//   logprobs[n, k] = x[id] / tau − logsumexp_v(x_v / tau)      (over the whole row)
//
// A row holding NaN or ±Inf gets NaN log-probs (its ids are still K distinct ids in [0, V)).
//
// One workgroup per row (row = wid.x + wid.y * nwg.x). Selection is a radix select, so its cost
// hardly grows with K. Every element gets a 64-bit composite key: the float's bits mapped to an
// order-preserving u32 (−0 counted as +0), then V−1−id so that among equal logits the lower id is
// the larger key. Composite keys are distinct, so the K largest are a well-defined set.
//
// 1. One read of the row: online max / sum of exp at temperature (fixed-shape tree merge, as the
//    cross-entropy), a non-finite flag, and each invocation's largest key.
// 2. Threshold: the K-th largest of the invocations' maxima (K distinct elements), a lower bound
//    of the K-th largest element. A second read keeps the elements ≥ it as candidates in
//    workgroup memory, typically a few times K; if more than CAND (ties at the threshold) the
//    later passes read the row again instead.
// 3. Radix passes over the candidates: a 256-bin histogram (workgroup atomics: integer counts,
//    order-independent) of the next 8-bit digit among those whose higher digits equal the prefix
//    chosen so far, then the bin holding the K-th largest joins the prefix. As soon as that bin
//    holds exactly the count still needed, the set is "every candidate whose prefix is ≥ the
//    chosen one" and the passes stop: the id digits are only reached on exact ties.
// 4. Gather the K selected (in any order); invocation k < K ranks its element against the
//    others, which fixes the output order whatever the gather order: deterministic bit for bit.
//
// WG must be 256: the histogram has one bin per invocation. V ≤ 2^24 (the op checks).

override WG: u32 = 256;

const NONE: u32 = 0xffffffffu;
const KEY_DIGITS: u32 = 4u;   // 32-bit order-preserving float key, 8 bits per pass
const CAND: u32 = 1024u;      // candidates kept in workgroup memory (8 KiB; 14 KiB in all, under 16)

struct Params {
  R: u32,
  V: u32,
  K: u32,
  row_offset: u32,
  inv_tau: f32,
  id_digits: u32,   // 8-bit digits of V − 1 − id (1 to 3)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;            // (R, V)
@group(0) @binding(2) var<storage, read_write> ids: array<i32>;         // (N, K)
@group(0) @binding(3) var<storage, read_write> logprobs: array<f32>;    // (N, K)

var<workgroup> hist: array<atomic<u32>, WG>;
var<workgroup> sh_m: array<f32, WG>;       // the row's max and sum of exp (tree)
var<workgroup> sh_s: array<f32, WG>;
var<workgroup> sh_n: array<u32, WG>;       // non-finite flags, then selected keys
var<workgroup> sh_cnt: array<u32, WG>;     // suffix sums of the histogram
var<workgroup> sh_id: array<u32, WG>;      // stats tree occupancy, then selected ids
var<workgroup> sh_prefix: vec2u;           // chosen prefix: key digits, id digits
var<workgroup> sh_need: u32;               // how many of the current bin's elements are still needed
var<workgroup> sh_done: u32;
var<workgroup> sh_thr: u32;                // every top-K key is ≥ this
var<workgroup> sh_taken: atomic<u32>;
var<workgroup> sh_ncand: atomic<u32>;
var<workgroup> sh_ckey: array<u32, CAND>;  // candidates (elements ≥ the threshold) when they fit
var<workgroup> sh_clo: array<u32, CAND>;

// Order-preserving map of f32 bits to u32 (larger float, larger key); −0 maps as +0.
fn float_key(x: f32) -> u32 {
  var u = bitcast<u32>(x);
  if (u == 0x80000000u) { u = 0u; }
  if ((u >> 31u) == 1u) { return ~u; }
  return u | 0x80000000u;
}

fn non_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

// Digit d (0 = most significant) of the composite key (key, lo), lo = V − 1 − id.
fn digit(key: u32, lo: u32, d: u32) -> u32 {
  if (d < KEY_DIGITS) { return (key >> (24u - 8u * d)) & 0xffu; }
  return (lo >> (8u * (p.id_digits - 1u - (d - KEY_DIGITS)))) & 0xffu;
}

// Compares the first d digits of (key, lo) with the prefix: −1, 0 or 1. d ≥ 1.
fn cmp_prefix(key: u32, lo: u32, d: u32, pre: vec2u) -> i32 {
  if (d <= KEY_DIGITS) {
    let k = key >> (32u - 8u * d);
    return select(select(-1, 1, k > pre.x), 0, k == pre.x);
  }
  if (key != pre.x) { return select(-1, 1, key > pre.x); }
  let l = lo >> (8u * (p.id_digits - (d - KEY_DIGITS)));
  return select(select(-1, 1, l > pre.y), 0, l == pre.y);
}

fn count(key: u32, lo: u32, d: u32, pre: vec2u, thr: u32) {
  if (key >= thr && (d == 0u || cmp_prefix(key, lo, d, pre) == 0)) { atomicAdd(&hist[digit(key, lo, d)], 1u); }
}

// After the histogram of digit d: the bin holding the need-th largest becomes part of the prefix.
// Returns whether that bin is exactly what is needed (the selection is then complete).
fn choose_bin(d: u32, lid: u32) -> bool {
  workgroupBarrier();
  // Suffix sums over bins (Hillis-Steele): sh_cnt[b] = Σ_{b' ≥ b} hist[b'].
  let own = atomicLoad(&hist[lid]);
  sh_cnt[lid] = own;
  workgroupBarrier();
  for (var stride = 1u; stride < WG; stride <<= 1u) {
    var v = sh_cnt[lid];
    if (lid + stride < WG) { v += sh_cnt[lid + stride]; }
    workgroupBarrier();
    sh_cnt[lid] = v;
    workgroupBarrier();
  }
  let need = sh_need;
  let above = select(0u, sh_cnt[lid + 1u], lid + 1u < WG);
  workgroupBarrier();   // everyone has read sh_need before the chosen bin rewrites it
  if (above < need && sh_cnt[lid] >= need) {
    var pre = sh_prefix;
    if (d < KEY_DIGITS) { pre.x = (pre.x << 8u) | lid; } else { pre.y = (pre.y << 8u) | lid; }
    sh_prefix = pre;
    sh_need = need - above;
    sh_done = select(0u, 1u, own == need - above);
  }
  atomicStore(&hist[lid], 0u);
  return workgroupUniformLoad(&sh_done) == 1u;
}

// (key, V − 1 − id) of element i: the i-th candidate, or column i of the row.
fn element(base: u32, i: u32, cached: bool) -> vec2u {
  if (cached) { return vec2u(sh_ckey[i], sh_clo[i]); }
  return vec2u(float_key(logits[base + i]), p.V - 1u - i);
}

fn row_of(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_of(wid, nwg);
  if (row >= p.R) { return; }
  let base = row * p.V;
  if (lid == 0u) {
    sh_prefix = vec2u(0u, 0u);
    sh_need = p.K;
    sh_done = 0u;
    atomicStore(&sh_taken, 0u);
    atomicStore(&sh_ncand, 0u);
  }
  atomicStore(&hist[lid], 0u);
  workgroupBarrier();

  // Read 1: online max and sum of exp at temperature, non-finite flag, largest key.
  var m = 0.0;
  var s = 0.0;
  var first = NONE;
  var bad = 0u;
  var kmax = 0u;
  for (var j = lid; j < p.V; j += WG) {
    let x = logits[base + j];
    if (non_finite(x)) { bad = 1u; }
    kmax = max(kmax, float_key(x));
    let z = x * p.inv_tau;
    if (first == NONE) {
      m = z;
      s = 1.0;
      first = j;
    } else if (z > m) {
      s = s * exp(m - z) + 1.0;
      m = z;
    } else {
      s += exp(z - m);
    }
  }
  sh_m[lid] = m;
  sh_cnt[lid] = kmax;
  sh_s[lid] = s;
  sh_n[lid] = bad;
  sh_id[lid] = first;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let o = lid + stride;
      if (sh_id[o] != NONE) {
        if (sh_id[lid] == NONE) {
          sh_m[lid] = sh_m[o];
          sh_s[lid] = sh_s[o];
        } else {
          let mm = max(sh_m[lid], sh_m[o]);
          sh_s[lid] = sh_s[lid] * exp(sh_m[lid] - mm) + sh_s[o] * exp(sh_m[o] - mm);
          sh_m[lid] = mm;
        }
        sh_id[lid] = 0u;
      }
      sh_n[lid] = sh_n[lid] | sh_n[o];
    }
    workgroupBarrier();
  }
  let lse = sh_m[0] + log(sh_s[0]);
  let row_bad = sh_n[0] != 0u;

  // The K largest of the invocations' maxima are K distinct elements, so the K-th largest
  // element is at least the K-th largest maximum: elements below it are never counted, which
  // spares most atomics (ties broken by invocation so exactly one rank is K − 1).
  let own_max = sh_cnt[lid];
  var rank = 0u;
  for (var i = 0u; i < WG; i++) {
    let o = sh_cnt[i];
    if (o > own_max || (o == own_max && i < lid)) { rank += 1u; }
    if (rank >= p.K) { break; }   // not the K-th: most invocations leave early
  }
  if (rank == p.K - 1u) { sh_thr = own_max; }
  let thr = workgroupUniformLoad(&sh_thr);

  // Candidates: the elements ≥ the threshold, usually a few times K. When they fit in workgroup
  // memory the radix passes and the gather read them there instead of the row (two reads of the
  // row in all); otherwise (many ties at the threshold) they read the row each time.
  for (var j = lid; j < p.V; j += WG) {
    let key = float_key(logits[base + j]);
    if (key >= thr) {
      let slot = atomicAdd(&sh_ncand, 1u);
      if (slot < CAND) {
        sh_ckey[slot] = key;
        sh_clo[slot] = p.V - 1u - j;
      }
    }
  }
  let ncand = workgroupUniformLoad(&sh_ncand);
  let cached = ncand <= CAND;
  let n = select(p.V, ncand, cached);

  // Radix passes: refine the prefix until the chosen bin is exactly what is needed. Composite
  // keys are distinct, so the last digit always ends it (a bin of one element).
  let digits = KEY_DIGITS + p.id_digits;
  var d = 0u;
  loop {
    let pre = workgroupUniformLoad(&sh_prefix);
    for (var i = lid; i < n; i += WG) {
      let e = element(base, i, cached);
      count(e.x, e.y, d, pre, thr);
    }
    if (choose_bin(d, lid) || d + 1u >= digits) { break; }
    d += 1u;
  }

  // Gather: every counted element whose first d + 1 digits are ≥ the prefix; exactly K of them.
  let pre = workgroupUniformLoad(&sh_prefix);
  for (var i = lid; i < n; i += WG) {
    let e = element(base, i, cached);
    if (e.x >= thr && cmp_prefix(e.x, e.y, d + 1u, pre) >= 0) {
      let slot = atomicAdd(&sh_taken, 1u);
      if (slot < WG) {   // cannot fail (K ≤ WG); guards the array all the same
        sh_n[slot] = e.x;
        sh_id[slot] = p.V - 1u - e.y;
      }
    }
  }
  workgroupBarrier();

  // Rank sort: position = number of selected elements with a larger key, or an equal key and a
  // lower id (which cannot both hold for distinct ids, so ranks are a permutation of 0..K−1).
  if (lid < p.K) {
    let key = sh_n[lid];
    let id = sh_id[lid];
    var rank = 0u;
    for (var k = 0u; k < p.K; k++) {
      let kk = sh_n[k];
      if (kk > key || (kk == key && sh_id[k] < id)) { rank += 1u; }
    }
    let out = (p.row_offset + row) * p.K + rank;
    ids[out] = i32(id);
    var lp = logits[base + id] * p.inv_tau - lse;
    if (row_bad) {
      var nan_bits = 0x7fc00000u;   // a var: WGSL rejects NaN as a constant expression
      lp = bitcast<f32>(nan_bits);
    }
    logprobs[out] = lp;
  }
}
