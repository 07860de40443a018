/// \file
/// TEMPORARY while the op families are written: ops without their family
/// file yet. Each entry is removed when its family file defines it.
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

namespace kiln::ops {
namespace {
bool shape_pending(ShapeCtx &c) {
  c.fail() << "not implemented yet";
  return false;
}
void interp_pending(const Node &, const std::vector<const HostTensor *> &,
                    std::vector<HostTensor> &) {}
} // namespace

const OpDef kOpDef_constant = {"constant", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_iota = {"iota", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_random_uniform = {"random_uniform", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_random_normal = {"random_normal", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_reduce_sum = {"reduce_sum", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_reduce_max = {"reduce_max", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_reduce_min = {"reduce_min", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_reduce_mean = {"reduce_mean", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_argmax = {"argmax", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_argmin = {"argmin", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_reshape = {"reshape", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_transpose = {"transpose", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_broadcast_to = {"broadcast_to", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_slice = {"slice", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_concat = {"concat", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_pad = {"pad", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_gather = {"gather", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_scatter_add = {"scatter_add", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_one_hot = {"one_hot", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_matmul = {"matmul", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_conv2d = {"conv2d", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_conv2d_transpose = {"conv2d_transpose", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_max_pool2d = {"max_pool2d", "", "", 0, -1, {}, shape_pending, interp_pending};
const OpDef kOpDef_avg_pool2d = {"avg_pool2d", "", "", 0, -1, {}, shape_pending, interp_pending};

} // namespace kiln::ops
