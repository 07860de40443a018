/// \file
/// Executable::save_state / load_state: params and state through a
/// safetensors file by name; a missing, unknown or mismatched tensor or a
/// bad file is an error that changes nothing.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Compile.h"
#include "ir/Parser.h"
#include "runtime/Safetensors.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace kiln;
namespace fs = std::filesystem;

namespace {

const char *kStep = R"(
func @sgd(%x: f32[8,4], %w: f32[4,2] {param}, %steps: i64[] {state}) -> (f32[], f32[4,2] {updates = %w}, i64[] {updates = %steps}) {
  %y = matmul(%x, %w) : f32[8,2]
  %loss = reduce_mean(%y) {axes = [0, 1]} : f32[]
  %lr = constant() {value = 0.5} : f32[]
  %step = mul(%w, %lr) : f32[4,2]
  %w_next = sub(%w, %step) : f32[4,2]
  %one = constant() {value = 1} : i64[]
  %steps_next = add(%steps, %one) : i64[]
  return %loss, %w_next, %steps_next
}
)";

std::unique_ptr<Executable> compile_step() {
  Diagnostics diags;
  auto m = parse_and_verify(kStep, "sgd.kir", diags);
  REQUIRE(m);
  return compile(*m->functions()[0]);
}

} // namespace

TEST_CASE("executable: save_state and load_state round-trip by name",
          "[runtime][safetensors]") {
  fs::path dir = fs::temp_directory_path() /
                 ("kiln-exe-state-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "state.safetensors").string();
  auto a = compile_step();
  HostTensor w(TensorType{DType::F32, {4, 2}});
  for (int64_t i = 0; i < w.numel(); ++i)
    w.set(i, 0.25 * double(i));
  a->set_state("w", w);
  a->run({HostTensor(TensorType{DType::F32, {8, 4}})});
  a->save_state(path);

  auto b = compile_step();
  b->load_state(path);
  CHECK(b->get_state("w").bit_equal(a->get_state("w")));
  CHECK(b->get_state("steps").get_int(0) == 1);

  SECTION("a mismatched, missing or unknown tensor changes nothing") {
    HostTensor before = b->get_state("w");
    HostTensor wrong(TensorType{DType::F32, {2, 4}});
    HostTensor steps(TensorType{DType::I64, {}});
    save_safetensors(path, {{"w", wrong}, {"steps", steps}});
    CHECK_THROWS_WITH(b->load_state(path),
                      Catch::Contains("'w' is f32[2,4], but %w of @sgd is "
                                      "f32[4,2]"));
    save_safetensors(path, {{"steps", steps}});
    CHECK_THROWS_WITH(b->load_state(path),
                      Catch::Contains("no tensor for %w (f32[4,2])"));
    save_safetensors(path, {{"w", before}, {"steps", steps}, {"v", steps}});
    CHECK_THROWS_WITH(b->load_state(path),
                      Catch::Contains("'v' names no param or state"));
    std::ofstream(path, std::ios::binary | std::ios::trunc) << "garbage!";
    CHECK_THROWS(b->load_state(path));
    CHECK(b->get_state("w").bit_equal(before));
    CHECK(b->get_state("steps").get_int(0) == 1);
  }
  fs::remove_all(dir);
}
