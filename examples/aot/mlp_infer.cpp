// mlp_infer.cpp: the C++ flavour of mlp_infer.c. The header is plain C with
// extern "C" guards; this program holds the buffers in a small RAII struct
// and prints the class each row predicts along with its probabilities.
//
//   c++ -O2 -std=c++17 examples/aot/mlp_infer.cpp mlp.o -I. -o mlp_infer_cpp
//       -L/usr/lib/llvm-14/lib -lomp -Wl,-rpath,/usr/lib/llvm-14/lib
// SPDX-License-Identifier: Apache-2.0
#include "mlp.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <vector>

namespace {

struct Free {
  void operator()(void *p) const { std::free(p); }
};
using Buffer = std::unique_ptr<void, Free>;

Buffer alloc64(long long n) {
  size_t bytes = size_t((n + 63) / 64 * 64);
  return Buffer(std::aligned_alloc(64, bytes ? bytes : 64));
}

/// The model's buffers: parameters (initialized from the object), arena.
struct Mlp {
  std::vector<Buffer> state;
  Buffer arena = alloc64(mlp_arena_bytes);

  Mlp() {
    std::vector<void *> ptrs;
    for (long long b : mlp_STATE_BYTES) {
      state.push_back(alloc64(b));
      ptrs.push_back(state.back().get());
    }
    if (mlp_init_state(ptrs.data()) != 0)
      throw std::runtime_error("mlp: cannot load the weights");
  }

  std::vector<float> run(const std::vector<float> &x) {
    std::vector<float> probs(mlp_OUTPUT_0_NUMEL);
    const void *in[] = {x.data()};
    void *out[] = {probs.data()};
    std::vector<void *> st;
    for (Buffer &b : state)
      st.push_back(b.get());
    mlp_run(in, out, arena.get(), st.data());
    return probs;
  }
};

} // namespace

int main() {
  std::vector<float> x(mlp_INPUT_0_NUMEL);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(int(i % 13) - 6) / 4.0f;
  Mlp model;
  std::vector<float> probs = model.run(x);
  const long long rows = mlp_OUTPUT_0_SHAPE[0], cols = mlp_OUTPUT_0_SHAPE[1];
  for (long long r = 0; r < rows; ++r) {
    long long best = 0;
    for (long long c = 0; c < cols; ++c)
      if (probs[r * cols + c] > probs[r * cols + best])
        best = c;
    std::printf("row %lld: class %lld:", r, best);
    for (long long c = 0; c < cols; ++c)
      std::printf(" %.9g", probs[r * cols + c]);
    std::printf("\n");
  }
  return 0;
}
