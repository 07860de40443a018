/// \file
/// Tests of runtime/Safetensors: round trips of every dtype (bit-exact),
/// the reference implementation's byte layout, one test per malformed-file
/// error, random mutations of a valid file, and bind_by_name.
// SPDX-License-Identifier: Apache-2.0
#include "runtime/Safetensors.h"

#include "ir/Graph.h"
#include "ir/Parser.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

using namespace kiln;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;

namespace {

using Refs = std::vector<std::pair<std::string, const HostTensor *>>;

/// A safetensors file from its JSON header and data buffer, the header
/// length prefix computed.
std::string st_file(const std::string &header, const std::string &data = "") {
  std::string r(8, '\0');
  for (int i = 0; i < 8; ++i)
    r[i] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return r + header + data;
}

Status parse(const std::string &bytes, NamedTensors &out,
             TensorMetadata *md = nullptr) {
  return parse_safetensors(bytes.data(), bytes.size(), "w.safetensors", out,
                           md);
}

/// The error message of parsing \p bytes ("" when it parses); a failed
/// parse must leave no tensors behind.
std::string parse_error(const std::string &bytes) {
  NamedTensors out;
  Status s = parse(bytes, out);
  if (!s)
    CHECK(out.empty());
  return s.message();
}

std::string one_tensor(const std::string &entry, const std::string &data) {
  return st_file("{\"t\":" + entry + "}", data);
}

/// A fresh path under the system temp directory, removed at scope exit.
struct TempPath {
  std::string path;
  explicit TempPath(const std::string &name) {
    static int n = 0;
    path = (std::filesystem::temp_directory_path() /
            ("kiln-st-" + std::to_string(::getpid()) + "-" +
             std::to_string(n++) + "-" + name))
               .string();
  }
  ~TempPath() { std::remove(path.c_str()); }
};

/// One tensor of every dtype with awkward bit patterns, plus a scalar and a
/// zero-size tensor.
NamedTensors every_dtype() {
  NamedTensors t;
  auto raw16 = [](DType d, std::vector<uint16_t> bits) {
    HostTensor h({d, {int64_t(bits.size())}});
    std::memcpy(h.bytes(), bits.data(), bits.size() * 2);
    return h;
  };
  // f16: 1, -0, smallest subnormal, inf, a NaN with payload, max.
  t.emplace_back(
      "h", raw16(DType::F16, {0x3c00, 0x8000, 0x0001, 0x7c00, 0x7e01, 0x7bff}));
  t.emplace_back("bf", raw16(DType::BF16,
                             {0x3f80, 0x8000, 0x0001, 0x7f80, 0x7fc1, 0x7f7f}));
  t.emplace_back("f", HostTensor::from({DType::F32, {2, 3}},
                                       {1.5, -2, 1e-40, 3e38, 0, -0.0}));
  t.emplace_back("d", HostTensor::from({DType::F64, {3}}, {1e-310, -1, 2}));
  t.emplace_back("i", HostTensor::from_ints({DType::I32, {3}},
                                            {-2147483648LL, 7, 2147483647}));
  t.emplace_back(
      "l", HostTensor::from_ints({DType::I64, {2}}, {INT64_MIN, INT64_MAX}));
  t.emplace_back("b", HostTensor::from_ints({DType::Bool, {3}}, {1, 0, 1}));
  t.emplace_back("scalar", HostTensor::from({DType::F32, {}}, {42}));
  t.emplace_back("empty", HostTensor({DType::F32, {0, 5}}));
  return t;
}

Refs refs(const NamedTensors &t) {
  Refs r;
  for (const auto &[n, h] : t)
    r.emplace_back(n, &h);
  return r;
}

void require_same(NamedTensors a, const NamedTensors &b) {
  std::sort(a.begin(), a.end(),
            [](const auto &x, const auto &y) { return x.first < y.first; });
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(a[i].first == b[i].first);
    CHECK(a[i].second.bit_equal(b[i].second));
  }
}

} // namespace

TEST_CASE("safetensors: every dtype round-trips bit-exact in memory",
          "[safetensors]") {
  NamedTensors in = every_dtype();
  TensorMetadata md = {{"format", "pt"}, {"note", "ünïcode \"q\"\n"}};
  std::string bytes;
  REQUIRE(serialize_safetensors(refs(in), md, bytes));
  NamedTensors out;
  TensorMetadata md_out;
  Status s = parse(bytes, out, &md_out);
  INFO(s.message());
  REQUIRE(s);
  require_same(in, out);
  CHECK(md_out == md);
  // The header is padded so that the buffer starts 8-byte aligned.
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
}

TEST_CASE("safetensors: write and read a file, no temporary left behind",
          "[safetensors]") {
  TempPath p("rt.safetensors");
  NamedTensors in = every_dtype();
  save_safetensors(p.path, in, {{"k", "v"}});
  TensorMetadata md;
  require_same(in, load_safetensors(p.path, &md));
  CHECK(md == TensorMetadata{{"k", "v"}});
  // Overwriting goes through a rename, and leaves only the target.
  save_safetensors(p.path, {}, {});
  CHECK(load_safetensors(p.path).empty());
  auto dir = std::filesystem::path(p.path).parent_path();
  std::string stem = std::filesystem::path(p.path).filename().string();
  for (const auto &e : std::filesystem::directory_iterator(dir))
    CHECK_THAT(e.path().filename().string(), !Contains(stem + ".tmp"));
}

TEST_CASE("safetensors: the reference implementation's layout",
          "[safetensors]") {
  // What safetensors.torch.save_file({"weight": f32 2x2 [1,2,3,4],
  // "bias": f16 [1,-2], "step": i64 scalar 7}, metadata={"format": "pt"})
  // writes: metadata first, tensors ordered I64, F32, F16 and back to back,
  // the header padded with spaces to a multiple of 8.
  std::string header =
      R"({"__metadata__":{"format":"pt"},)"
      R"("step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
      R"("weight":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]},)"
      R"("bias":{"dtype":"F16","shape":[2],"data_offsets":[24,28]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string data("\x07\0\0\0\0\0\0\0", 8);
  for (float f : {1.f, 2.f, 3.f, 4.f})
    data.append(reinterpret_cast<const char *>(&f), 4);
  data += std::string("\x00\x3c\x00\xc0", 4); // f16 1.0, -2.0
  std::string file = st_file(header, data);

  NamedTensors out;
  TensorMetadata md;
  REQUIRE(parse(file, out, &md));
  REQUIRE(out.size() == 3);
  CHECK(out[0].first == "bias"); // sorted by name
  CHECK(out[0].second.get(1) == -2.0);
  CHECK(out[1].first == "step");
  CHECK(out[1].second.type() == TensorType{DType::I64, {}});
  CHECK(out[1].second.get_int(0) == 7);
  CHECK(out[2].second.type() == TensorType{DType::F32, {2, 2}});
  CHECK(out[2].second.get(3) == 4.0);
  CHECK(md == TensorMetadata{{"format", "pt"}});

  // kiln writes the same bytes.
  std::string again;
  REQUIRE(serialize_safetensors(refs(out), md, again));
  CHECK(again == file);
}

TEST_CASE("safetensors: malformed files give located errors", "[safetensors]") {
  const std::string f32_2 = R"({"dtype":"F32","shape":[2],"data_offsets":)";
  std::string data8(8, '\0');
  CHECK_THAT(parse_error("abc"), Contains("w.safetensors: file is 3 bytes, "
                                          "too short for the 8-byte header"));
  CHECK_THAT(parse_error(st_file("{}").substr(0, 9)),
             Contains("header length 2 runs past the end of the file (9 "
                      "bytes)"));
  CHECK_THAT(parse_error(st_file("{\"t\": [")),
             Contains("w.safetensors: header is not valid JSON: parse error"));
  CHECK_THAT(parse_error(st_file("[1,2]")),
             Contains("header is JSON but not an object"));
  CHECK_THAT(
      parse_error(one_tensor(
          R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})", "x")),
      Contains("tensor 't': dtype 'U8' is not supported (kiln reads F32"));
  CHECK_THAT(
      parse_error(st_file(R"({"fc1.weight":{"dtype":"F32","shape":[5,10],)"
                          R"("data_offsets":[0,100]}})",
                          std::string(100, '\0'))),
      Equals("w.safetensors: tensor 'fc1.weight': data_offsets [0, "
             "100] hold 100 bytes, but f32[5,10] needs 200"));
  CHECK_THAT(parse_error(one_tensor(f32_2 + "[0,8]}", "1234")),
             Contains("tensor 't': data_offsets [0, 8] run past the end of "
                      "the data (4 bytes)"));
  CHECK_THAT(parse_error(one_tensor(f32_2 + "[8,0]}", data8)),
             Contains("data_offsets [8, 0] end before they begin"));
  CHECK_THAT(parse_error(st_file("{\"a\":" + f32_2 + "[0,8]},\"b\":" + f32_2 +
                                     "[4,12]}}",
                                 data8 + data8)),
             Contains("tensor 'b': data_offsets [4, 12] overlap tensor 'a' "
                      "at [0, 8]"));
  CHECK_THAT(parse_error(st_file("{\"a\":" + f32_2 + "[0,8]},\"a\":" + f32_2 +
                                     "[8,16]}}",
                                 data8 + data8)),
             Contains("duplicate tensor name 'a'"));
  CHECK_THAT(parse_error(one_tensor(
                 R"({"dtype":"F32","shape":[-2],"data_offsets":[0,0]})", "")),
             Contains("tensor 't': shape has a negative dimension -2"));
  CHECK_THAT(
      parse_error(one_tensor(
          R"({"dtype":"F32","shape":[16777217,16777216],"data_offsets":[0,0]})",
          "")),
      Contains("shape [16777217,16777216] has more than 2^48 elements"));
  CHECK_THAT(parse_error(one_tensor(
                 R"({"dtype":"F32","shape":[1e30],"data_offsets":[0,0]})", "")),
             Contains("shape holds 1e+30, not an integer"));
  CHECK_THAT(parse_error(one_tensor(R"({"dtype":"F32","shape":[2]})", data8)),
             Contains("tensor 't': entry has no \"data_offsets\""));
  CHECK_THAT(parse_error(one_tensor(f32_2 + "[0]}", data8)),
             Contains("\"data_offsets\" is [0], not two non-negative"));
  CHECK_THAT(parse_error(st_file(R"({"__metadata__":{"k":1}})")),
             Contains("\"__metadata__\" entry 'k' is 1, not a string"));
  CHECK_THAT(parse_error(st_file(std::string(1000, '[') + "]")),
             Contains("header nests deeper than"));
}

TEST_CASE("safetensors: -0 is a valid count, -1 is not", "[safetensors]") {
  NamedTensors out;
  REQUIRE(parse(
      one_tensor(R"({"dtype":"F32","shape":[-0,3],"data_offsets":[0,-0]})", ""),
      out));
  CHECK(out[0].second.type() == TensorType{DType::F32, {0, 3}});
  CHECK_THAT(parse_error(one_tensor(
                 R"({"dtype":"F32","shape":[],"data_offsets":[-1,3]})", "")),
             Contains("\"data_offsets\" is [-1,3], not two non-negative"));
}

TEST_CASE("safetensors: a valid file cut anywhere never loads partly",
          "[safetensors]") {
  std::string bytes;
  NamedTensors in = every_dtype();
  REQUIRE(serialize_safetensors(refs(in), {}, bytes));
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK_FALSE(parse_error(bytes.substr(0, cut)).empty());
  }
  TempPath p("cut.safetensors");
  std::ofstream(p.path, std::ios::binary) << bytes.substr(0, bytes.size() - 1);
  NamedTensors out;
  Status s = read_safetensors(p.path, out);
  CHECK_THAT(s.message(), Contains(p.path + ": tensor '"));
  CHECK(out.empty());
  CHECK_THROWS_AS(load_safetensors(p.path + ".missing"), Error);
}

TEST_CASE("safetensors: random mutations never crash", "[safetensors]") {
  std::string bytes;
  NamedTensors in = every_dtype();
  REQUIRE(serialize_safetensors(refs(in), {{"format", "pt"}}, bytes));
  std::mt19937 rng(1234);
  int parsed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string m = bytes;
    int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !m.empty(); ++e) {
      size_t at = rng() % m.size();
      switch (rng() % 4) {
      case 0:
        m[at] = char(rng());
        break;
      case 1:
        m[at] = "0123456789[]{},:\"-e"[rng() % 19];
        break;
      case 2:
        m.erase(at, 1 + rng() % 8);
        break;
      default:
        m.insert(at, 1, char(rng()));
        break;
      }
    }
    NamedTensors out;
    Status s = parse(m, out);
    CHECK((s ? !s.message().size() : !out.size() && s.message().size()));
    parsed += bool(s);
  }
  INFO(parsed << " of 3000 mutants parsed");
  CHECK(parsed < 3000);
}

TEST_CASE("safetensors: writer rejects bad names and non-UTF-8 text",
          "[safetensors]") {
  HostTensor t({DType::F32, {1}});
  std::string out;
  CHECK_THAT(serialize_safetensors({{"", &t}}, {}, out).message(),
             Contains("a tensor name is empty"));
  CHECK_THAT(serialize_safetensors({{"__metadata__", &t}}, {}, out).message(),
             Contains("reserved"));
  CHECK_THAT(serialize_safetensors({{"a", &t}, {"a", &t}}, {}, out).message(),
             Contains("duplicate tensor name 'a'"));
  CHECK_THAT(serialize_safetensors({{"a", &t}}, {{"k", "\xff"}}, out).message(),
             Contains("valid UTF-8"));
  TempPath p("no-such-dir/x.safetensors");
  CHECK_THAT(write_safetensors(p.path, {{"a", &t}}).message(),
             Contains(p.path + ": cannot create"));
}

TEST_CASE("safetensors: bind_by_name matches parameters by name",
          "[safetensors]") {
  Diagnostics diags;
  auto m = parse_and_verify(
      "func @f(%x: f32[2], %w: f32[2,3] {param}, %n: i64[]) -> (f32[2]) {\n"
      "  return %x\n}\n",
      "f.kir", diags);
  REQUIRE(m);
  const Function &f = *m->functions()[0];
  std::vector<HostTensor> args = {HostTensor({DType::F32, {2}}),
                                  HostTensor({DType::F32, {2, 3}}),
                                  HostTensor({DType::I64, {}})};
  NamedTensors w = {{"w", HostTensor::splat({DType::F32, {2, 3}}, 5)}};
  BindOptions opt;
  opt.source = "in.st";
  size_t bound = 0;
  REQUIRE(bind_by_name(f, w, args, opt, &bound));
  CHECK(bound == 1);
  CHECK(args[1].get(5) == 5.0);

  opt.require_all = true;
  CHECK_THAT(bind_by_name(f, w, args, opt).message(),
             Equals("in.st: no tensor for parameter(s) %x, %n of @f"));
  opt.require_all = false;
  NamedTensors bad = {{"w", HostTensor({DType::F32, {3, 2}})}};
  CHECK_THAT(bind_by_name(f, bad, args, opt).message(),
             Equals("in.st: tensor 'w': is f32[3,2], but parameter %w of @f "
                    "is f32[2,3]"));
  bad = {{"n", HostTensor({DType::I32, {}})}};
  CHECK_THAT(bind_by_name(f, bad, args, opt).message(),
             Contains("is i32[], but parameter %n of @f is i64[]"));
  bad = {{"q", HostTensor({DType::I32, {}})}};
  CHECK_THAT(bind_by_name(f, bad, args, opt).message(),
             Equals("in.st: tensor 'q': matches no parameter of @f (%x, %w, "
                    "%n)"));
  opt.allow_unused = true;
  CHECK(bind_by_name(f, bad, args, opt, &bound));
  CHECK(bound == 0);
  CHECK(args[1].get(0) == 5.0); // untouched
}
