/// \file
/// plan-memory: places every Temp buffer of a Loop IR program in one arena,
/// reusing the bytes of buffers that are dead, and reports the plan.
///
/// Time is the kernel order: kernel i runs at step i, the `{updates}`
/// copies at step kernels.size(). A Temp buffer is live from the first
/// kernel that writes it to the last kernel that reads it (through loads,
/// Gemm/Conv2d operands and epilogues); an UpdateCopy source lives to the
/// end. Two buffers whose intervals share a step may not share a byte, with
/// one exception, in-place reuse: an elementwise kernel whose input X dies
/// at that kernel may store its output Y over X when both have the same
/// size and element size and the kernel reads X only at the index it
/// stores Y (see in_place_ok).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/LoopIR.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kiln {

struct PlanOptions {
  /// Store an elementwise kernel's output over an input that dies there.
  bool in_place = true;
  /// Compute `{updates}` results directly in their state buffers where
  /// that is safe (alias_updates).
  bool alias_updates = true;
  /// Stop trying orderings once a plan reaches the lower bound.
  bool stop_at_lower_bound = true;
};

/// The steps at which a buffer is live: [first, last], both inclusive.
struct LiveInterval {
  int first = -1, last = -1;
  bool live() const { return first >= 0; }
  bool overlaps(const LiveInterval &o) const {
    return live() && o.live() && first <= o.last && o.first <= last;
  }
};

/// A buffer's size in the arena: its bytes rounded up to 64.
int64_t arena_size(const loop::Buffer &b);

/// The live interval of every buffer (indexed like p.buffers; buffers that
/// are not Temp get an empty one).
std::vector<LiveInterval> live_intervals(const loop::Program &p);

/// Calls \p fn for every buffer access of \p k: loads, stores, Gemm and
/// Conv2d operands and epilogues.
void for_each_access(const loop::Kernel &k,
                     const std::function<void(int buffer, bool write)> &fn);

/// The first kernel that writes \p buffer, or -1.
int first_writer(const loop::Program &p, int buffer);

/// True when kernel \p k may store its output \p out over its input \p in:
/// k is a nest of plain loops with one Store, to \p out, at an index that
/// is injective over the loops, and every load of \p in in k is at that
/// index (the same expression, or the same affine form once loops of
/// extent 1 are dropped); \p in and \p out have the same element size and
/// count.
bool in_place_ok(const loop::Program &p, const loop::Kernel &k, int in,
                 int out);

/// Turns each UpdateCopy whose state's old value is dead once the new value
/// is written into an alias: the Temp source becomes a State buffer with
/// the target's arg_index (the same memory), and the copy is dropped.
/// Safe when exactly one kernel writes the source, no later kernel reads
/// the state, and that kernel reads the state only in place (in_place_ok).
/// Returns the number of updates aliased. (passes/AliasUpdates.cpp)
int alias_updates(loop::Program &p);

/// What plan_memory decided (and memory_summary recomputes).
struct MemoryStats {
  int64_t arena_bytes = 0;
  /// The largest sum of arena_size over buffers live at one step, in-place
  /// pairs counted once: no plan of these buffers is smaller.
  int64_t lower_bound = 0;
  /// The sum of arena_size over all Temp buffers (one slot each).
  int64_t no_reuse = 0;
  /// The step where the live bytes reach lower_bound (-1: no buffers).
  int peak_step = -1;
  /// The ordering that produced the plan ("" when not planned).
  std::string strategy;
};

/// Sets arena_offset of every Temp buffer and p.arena_bytes: live
/// intervals, in-place pairs, then several greedy orderings, keeping the
/// smallest arena.
MemoryStats plan_memory(loop::Program &p, const PlanOptions &options = {});

/// The statistics of \p p's current plan (in-place pairs are the eligible
/// pairs that share an offset).
MemoryStats memory_summary(const loop::Program &p);

/// The bytes live at each step of \p p's current plan (kernels.size() + 1
/// steps), in-place pairs counted once.
std::vector<int64_t> live_bytes(const loop::Program &p);

/// The report of kiln-opt --print-memory-plan and kiln-run --memory: one
/// line per Temp buffer, then
/// `memory: arena_bytes=A lower_bound=L no_reuse=N peak_at=KERNEL`.
std::string memory_report(const loop::Program &p);

/// An SVG of live bytes over the kernel order with the arena size and the
/// lower bound as lines.
/// (passes/MemoryReport.cpp)
std::string memory_timeline_svg(const loop::Program &p);

/// Called by lower() after the arena is laid out: runs check_memory when
/// \p check is set, in builds without NDEBUG or when $KILN_CHECK_MEMORY is
/// set (not "0"), throwing kiln::InternalError on a violation; writes
/// memory_timeline_svg to $KILN_MEMORY_TIMELINE when set.
/// (passes/MemoryReport.cpp)
void after_memory_plan(const loop::Program &p, bool check);

/// Checks \p p's plan without trusting the planner: recomputes the live
/// intervals with its own walk, then every Temp buffer must lie inside the
/// arena at a 64-byte-aligned offset, and two buffers live at the same step
/// may share bytes only as an exact in-place pair. Returns "" or a
/// description of the first violation. (passes/CheckMemory.cpp)
std::string check_memory(const loop::Program &p);

} // namespace kiln
