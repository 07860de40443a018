# lit configuration for kiln's IR tests (tests/lit/<pass>/*.kir).
import os

import lit.formats

config.name = "kiln"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".kir"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "lit.site.cfg.py.in", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = config.kiln_test_exec_root

# kiln's tools first, then FileCheck, not, count from LLVM 14.
path = os.path.pathsep.join([config.kiln_tools_dir, config.llvm_tools_dir,
                             config.environment.get("PATH", os.environ["PATH"])])
config.environment["PATH"] = path
config.environment["FILECHECK_OPTS"] = "-enable-var-scope"
# Every program lowered by a lit test has its arena plan verified
# (check_memory, docs/memory.md).
config.environment["KILN_CHECK_MEMORY"] = "1"
config.substitutions.append(("%kiln_src", config.kiln_src_root))
config.substitutions.append(("%kiln_bin", config.kiln_bin_root))

# kilnc --target cuda needs kiln built with the CUDA toolkit (NVRTC); the
# CUBIN is disassembled by the toolkit's cuobjdump where it is installed
# ($KILN_CUOBJDUMP names another one).
import shutil
if getattr(config, "kiln_have_cuda", "").upper() in ("TRUE", "ON", "1", "YES"):
    config.available_features.add("nvrtc")
cuobjdump = os.environ.get("KILN_CUOBJDUMP") or shutil.which(
    "cuobjdump", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/cuda/bin"]))
if cuobjdump:
    config.available_features.add("cuobjdump")
    config.substitutions.append(("%cuobjdump", cuobjdump))
