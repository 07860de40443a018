/// \file
/// Executable: buffers, argument checks, and the call into compiled code.
// SPDX-License-Identifier: Apache-2.0
#include "runtime/Executable.h"

#include "codegen/ClangJit.h"
#include "ir/Error.h"
#include "runtime/Comm.h"
#include "runtime/Safetensors.h"

#include <cstdlib>
#include <cstring>

namespace kiln {

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded);
  if (!data_)
    throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(data_, 0, rounded);
}

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

AlignedBuffer::AlignedBuffer(AlignedBuffer &&o) noexcept
    : data_(o.data_), size_(o.size_) {
  o.data_ = nullptr;
  o.size_ = 0;
}

AlignedBuffer &AlignedBuffer::operator=(AlignedBuffer &&o) noexcept {
  std::swap(data_, o.data_);
  std::swap(size_, o.size_);
  return *this;
}

Executable::Executable(const Function &f, loop::Program program,
                       std::string c_source,
                       std::unique_ptr<codegen::JitModule> jit, EntryFn *entry)
    : function_(f.clone()), program_(std::move(program)),
      c_source_(std::move(c_source)), jit_(std::move(jit)), entry_(entry),
      arena_(size_t(program_.arena_bytes)) {
  for (const auto &p : function_->params()) {
    if (p->arg_kind() == ArgKind::Input) {
      inputs_.push_back(p.get());
      continue;
    }
    state_.push_back(p.get());
    state_buffers_.emplace_back(p->type().bytes());
  }
}

Executable::Executable(const Function &f, loop::Program program,
                       std::string source,
                       std::unique_ptr<DeviceProgram> device)
    : function_(f.clone()), program_(std::move(program)),
      c_source_(std::move(source)), device_(std::move(device)) {
  for (const auto &p : function_->params())
    (p->arg_kind() == ArgKind::Input ? inputs_ : state_).push_back(p.get());
}

Executable::~Executable() = default;

namespace {
void check_type(const HostTensor &t, const Value *p, const char *what) {
  if (t.type() != p->type())
    throw Error(std::string(what) + " '" + p->name() + "' is " +
                type_str(p->type()) + ", got " + type_str(t.type()));
}
} // namespace

std::vector<HostTensor>
Executable::failure_args(const std::vector<HostTensor> &inputs) const {
  std::vector<HostTensor> args;
  size_t next = 0;
  for (const auto &p : function_->params())
    args.push_back(p->arg_kind() == ArgKind::Input ? inputs[next++]
                                                   : get_state(p->name()));
  return args;
}

std::vector<HostTensor> Executable::run(const std::vector<HostTensor> &inputs) {
  if (inputs.size() != inputs_.size())
    throw Error("@" + function_->name() + " takes " +
                std::to_string(inputs_.size()) + " inputs, got " +
                std::to_string(inputs.size()));
  if (first_run_) {
    auto hook = std::move(first_run_);
    first_run_ = nullptr;
    hook(*this);
  }
  std::vector<const void *> in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    check_type(inputs[i], inputs_[i], "input");
    in.push_back(inputs[i].bytes());
  }
  std::vector<HostTensor> outs;
  std::vector<void *> out_ptrs;
  for (size_t i = 0; i < function_->results().size(); ++i)
    if (!function_->result_updates()[i])
      outs.emplace_back(function_->result(i)->type());
  for (HostTensor &t : outs)
    out_ptrs.push_back(t.bytes());
  std::vector<void *> st;
  for (AlignedBuffer &b : state_buffers_)
    st.push_back(b.data());
  if (device_) {
    device_->run(in, out_ptrs);
    return outs;
  }
  int rc = entry_(in.data(), out_ptrs.data(), arena_.data(), st.data());
  comm::raise_if_failed(); // a collective of the step timed out
  if (rc != 0)
    throw Error(describe_run_failure(*function_, program_, rc,
                                     buffer_addresses(program_, in.data(),
                                                      out_ptrs.data(),
                                                      arena_.data(), st.data()),
                                     failure_args(inputs)));
  return outs;
}

std::vector<HostTensor> Executable::bind(const std::vector<HostTensor> &args) {
  const auto &params = function_->params();
  if (args.size() != params.size())
    throw Error("@" + function_->name() + " has " +
                std::to_string(params.size()) + " parameters, got " +
                std::to_string(args.size()) + " arguments");
  std::vector<HostTensor> inputs;
  for (size_t i = 0; i < params.size(); ++i) {
    check_type(args[i], params[i].get(), "argument");
    if (params[i]->arg_kind() == ArgKind::Input)
      inputs.push_back(args[i]);
    else
      set_state(params[i]->name(), args[i]);
  }
  return inputs;
}

std::vector<HostTensor> Executable::run_all(std::vector<HostTensor> &args) {
  const auto &params = function_->params();
  std::vector<HostTensor> plain = run(bind(args));
  std::vector<HostTensor> all;
  size_t next = 0;
  for (size_t i = 0; i < function_->results().size(); ++i) {
    const Value *u = function_->result_updates()[i];
    all.push_back(u ? get_state(u->name()) : plain[next++]);
  }
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i]->arg_kind() != ArgKind::Input)
      args[i] = get_state(params[i]->name());
  return all;
}

std::vector<std::string> Executable::state_names() const {
  std::vector<std::string> r;
  for (const Value *v : state_)
    r.push_back(v->name());
  return r;
}

int Executable::state_index(const std::string &name) const {
  for (size_t i = 0; i < state_.size(); ++i)
    if (state_[i]->name() == name)
      return int(i);
  throw Error("@" + function_->name() + " has no param or state named '" +
              name + "'");
}

HostTensor Executable::get_state(const std::string &name) const {
  int i = state_index(name);
  HostTensor t(state_[size_t(i)]->type());
  if (device_)
    device_->read_state(size_t(i), t.bytes());
  else
    std::memcpy(t.bytes(), state_buffers_[size_t(i)].data(), t.type().bytes());
  return t;
}

void Executable::set_state(const std::string &name, const HostTensor &value) {
  int i = state_index(name);
  check_type(value, state_[size_t(i)], "state");
  if (device_)
    device_->write_state(size_t(i), value.bytes());
  else
    std::memcpy(state_buffers_[size_t(i)].data(), value.bytes(),
                value.type().bytes());
}

void Executable::save_state(const std::string &path) const {
  NamedTensors tensors;
  for (const Value *v : state_)
    tensors.emplace_back(v->name(), get_state(v->name()));
  save_safetensors(path, tensors, {{"function", function_->name()}});
}

void Executable::load_state(const std::string &path) {
  NamedTensors tensors = load_safetensors(path);
  std::vector<HostTensor> values(state_.size());
  std::vector<bool> found(state_.size(), false);
  for (auto &[name, t] : tensors) {
    int i = -1;
    for (size_t k = 0; k < state_.size(); ++k)
      if (state_[k]->name() == name)
        i = int(k);
    if (i < 0)
      throw Error(path + ": tensor '" + name +
                  "' names no param or state of @" + function_->name());
    if (t.type() != state_[size_t(i)]->type())
      throw Error(path + ": tensor '" + name + "' is " + type_str(t.type()) +
                  ", but %" + name + " of @" + function_->name() + " is " +
                  type_str(state_[size_t(i)]->type()));
    values[size_t(i)] = std::move(t);
    found[size_t(i)] = true;
  }
  for (size_t k = 0; k < state_.size(); ++k)
    if (!found[k])
      throw Error(path + ": no tensor for %" + state_[k]->name() + " (" +
                  type_str(state_[k]->type()) + ") of @" + function_->name());
  for (size_t k = 0; k < state_.size(); ++k)
    set_state(state_[k]->name(), values[k]);
}

} // namespace kiln
