// Embedding lookup, forward and backward, over n = B·T tokens of C channels, table (V, C).
//   forward:  out[t] = table[ids[t]]   (or out[t] += ..., p.accumulate = 1: GPT-2 adds the position
//             table by a second call with positions as ids). An id outside [0, V) reads nothing:
//             its row is zero (and adds nothing).
//   backward: dtable[v] += Σ dout[t] over the tokens t with ids[t] = v, each sum in a fixed order.
//             The host groups the tokens by id (CSR, see src/ops/embedding.ts) into `index`:
//               index[0]                     U, the number of distinct valid ids
//               index[1 .. 1 + n)            the distinct ids, ascending (first U used)
//               index[1 + n .. 2 + 2n)       offsets: id u owns rows[offsets[u] .. offsets[u + 1])
//               index[2 + 2n .. 2 + 3n)      token indices grouped by id, ascending within an id
//             One thread per (distinct id, channel) adds its tokens' values in that order, so each
//             row of dtable is written by one thread and the result is the same bits every run.
//             U is read on the GPU, so the dispatch (sized for n distinct ids) is built once and
//             only `index` changes per batch.
// Grids may be 2D when they need more than 65535 workgroups: index = wid.x + wid.y * nwg.x.

override WG: u32 = 256;

struct Params {
  n: u32,          // tokens
  C: u32,
  V: u32,
  accumulate: u32, // forward: 1 adds into out
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;    // (n, C)
@group(0) @binding(2) var<storage, read> ids: array<i32>;          // (n)
@group(0) @binding(3) var<storage, read> table: array<f32>;        // (V, C)
@group(0) @binding(4) var<storage, read_write> dtable: array<f32>; // (V, C)
@group(0) @binding(5) var<storage, read> dout: array<f32>;         // (n, C)
@group(0) @binding(6) var<storage, read> index: array<i32>;        // (3n + 2)

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = (wid.x + wid.y * nwg.x) * WG + lid;
  if (k >= p.n * p.C) { return; }
  let t = k / p.C;
  let c = k - t * p.C;
  let id = ids[t];
  var v = 0.0;
  if (id >= 0 && u32(id) < p.V) { v = table[u32(id) * p.C + c]; }
  out[k] = select(v, out[k] + v, p.accumulate != 0u);
}

// Workgroup w handles distinct id u = w / tiles and channels [tile · WG, tile · WG + WG).
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tiles = (p.C + WG - 1u) / WG;
  let w = wid.x + wid.y * nwg.x;
  let u = w / tiles;
  let c = (w - u * tiles) * WG + lid;
  if (u >= p.n || c >= p.C) { return; }
  let count = index[0];
  if (count < 0 || u >= u32(count)) { return; }
  let id = index[1u + u];
  if (id < 0 || u32(id) >= p.V) { return; }
  // Bounds from the host, clamped so a malformed index cannot loop past the token list.
  let k0 = u32(clamp(index[1u + p.n + u], 0, i32(p.n)));
  let k1 = u32(clamp(index[2u + p.n + u], 0, i32(p.n)));
  var acc = 0.0;
  for (var k = k0; k < k1; k++) {
    let t = index[2u + 2u * p.n + k];
    if (t >= 0 && u32(t) < p.n) { acc += dout[u32(t) * p.C + c]; }
  }
  let o = u32(id) * p.C + c;
  dtable[o] += acc;
}
