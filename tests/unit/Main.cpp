/// \file
/// The Catch2 main, alone in its file: it compiles slowly and never changes.
// SPDX-License-Identifier: Apache-2.0
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
