// The training step's guard against non-finite updates, decided on the GPU so the step needs no
// readback. Runs after gradNorm and before AdamW, on one invocation:
//   finite loss sum and gradient norm:  AdamW's step count advances (hyper[5] += 1) and the
//                                       indirect dispatch arguments of AdamW get its workgroups;
//   otherwise:                          the arguments are zero, so AdamW does not run at all:
//                                       parameters, moments and the step count stay as they were
//                                       (torch's GradScaler skipping optimizer.step()).
// stats[skipped_index] records the decision for the metrics readback.

struct Params {
  wx: u32,               // AdamW's workgroups
  wy: u32,
  wz: u32,
  norm_index: u32,       // stats[norm_index]: the gradient norm before clipping
  loss_index: u32,       // stats[loss_index]: the summed loss
  skipped_index: u32,    // stats[skipped_index] := 1 when the update is skipped, else 0
  step_index: u32,       // hyper[step_index]: AdamW's 1-based step count (f32)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> hyper: array<f32>;
@group(0) @binding(3) var<storage, read_write> args: array<u32>;   // (3) dispatchWorkgroupsIndirect

// Compilers may assume floats are finite, so test the exponent bits rather than compare.
fn finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(1)
fn main() {
  let ok = finite(stats[p.norm_index]) && finite(stats[p.loss_index]);
  if (ok) {
    hyper[p.step_index] = hyper[p.step_index] + 1.0;
    args[0] = p.wx;
    args[1] = p.wy;
    args[2] = p.wz;
    stats[p.skipped_index] = 0.0;
  } else {
    args[0] = 0u;
    args[1] = 0u;
    args[2] = 0u;
    stats[p.skipped_index] = 1.0;
  }
}
