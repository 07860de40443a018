/// \file
/// kiln_golden_export: writes the starting point of each golden training
/// step (tests/golden/GoldenWorkloads.h) as tests/golden/data/<workload>.init
/// in the GoldenFormat.h text format: metadata (config, optimizer), the
/// seeded data inputs, and the initial value of every parameter and
/// batch-norm buffer by its PyTorch name. make_golden.py reads these files,
/// computes one step independently and writes <workload>.golden; the unit
/// test loads the same .init, so the comparison does not depend on kiln's
/// initializers staying the same. Run it only to regenerate the goldens
/// (docs/testing.md, "Golden references").
// SPDX-License-Identifier: Apache-2.0
#include "GoldenFormat.h"
#include "GoldenWorkloads.h"

#include <fstream>
#include <iostream>

using namespace kiln;
using namespace kiln::golden;

namespace {

void export_workload(const std::string &workload, const std::string &dir) {
  GoldenStep s = build_golden_step(workload);
  std::string path = dir + "/" + workload + ".init";
  std::ofstream os(path);
  if (!os)
    throw Error("kiln_golden_export: cannot write '" + path + "'");
  os << "# The starting point of one " << workload
     << " training step (reduced size),\n"
     << "# written by kiln_golden_export; see tests/golden/GoldenFormat.h.\n";
  for (const std::string &m : s.meta)
    os << m << '\n';
  for (const auto &[name, value] : golden_inputs(s))
    write_tensor(os, name, value);
  const Graph &g = *s.model.graph;
  for (const auto &[name, t] : s.model.params)
    write_tensor(os, name, g.initial_value(t.name()));
  for (const auto &[name, t] : s.model.buffers)
    write_tensor(os, name, g.initial_value(t.name()));
  std::cout << "wrote " << path << "\n";
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::cerr << "usage: kiln_golden_export DIR (tests/golden/data)\n";
    return 1;
  }
  try {
    for (const std::string &w : golden_workloads())
      export_workload(w, argv[1]);
  } catch (const std::exception &e) {
    std::cerr << "kiln_golden_export: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
