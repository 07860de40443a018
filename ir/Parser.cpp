/// \file
/// The .kir parser: recursive descent over the tokens of Lexer.h. Every node
/// is built with Function::try_add, so the op's schema and shape rule judge
/// each statement. On an error the parser reports it at the offending token,
/// skips to the end of the statement (the next line) and goes on; the values
/// of a failed statement are defined but poisoned, so that their uses do not
/// cascade into more errors.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Parser.h"

#include "ir/Error.h"
#include "ir/ParserImpl.h"
#include "ir/Verifier.h"

#include <cstdio>

namespace kiln {
namespace parser {

void Parser::skip_statement(int64_t start_seq) {
  while (!tok_.is(TokKind::Eof)) {
    if (tok_.at_line_start && tok_.seq != start_seq)
      return;
    advance();
  }
}

void Parser::skip_function() {
  while (!tok_.is(TokKind::Eof) && !at_func_start()) {
    bool close = tok_.is(TokKind::RBrace) && tok_.at_line_start;
    advance();
    if (close)
      return;
  }
}

std::unique_ptr<Module> Parser::run() {
  auto m = std::make_unique<Module>();
  module_ = m.get();
  size_t bad = find_invalid_utf8(text_);
  if (bad != std::string_view::npos) {
    Token t;
    int line = 1, col = 1;
    for (size_t i = 0; i < bad; ++i, ++col)
      if (text_[i] == '\n')
        line++, col = 0;
    t.line = line;
    t.col = col;
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x",
                  unsigned((unsigned char)text_[bad]));
    fail(t, std::string("invalid byte ") + buf +
                " (.kir text is UTF-8 without NUL bytes)");
    return nullptr;
  }
  advance();
  while (!tok_.is(TokKind::Eof)) {
    if (tok_.is_ident("func")) {
      parse_function();
      continue;
    }
    fail(tok_, "unexpected " + describe(tok_) +
                   " at top level (expected "
                   "'func')");
    do
      advance();
    while (!tok_.is(TokKind::Eof) && !at_func_start());
  }
  return m;
}

void Parser::parse_function() {
  Token func_tok = tok_;
  advance();
  Token name = tok_;
  if (!name.is(TokKind::FuncName)) {
    fail(name, "expected a function name (@name), got " + describe(name));
    return skip_function();
  }
  advance();
  bool duplicate = module_->find(name_of(name)) != nullptr;
  if (duplicate)
    fail(name, "redefinition of function '" + std::string(name.text) + "'");
  auto f = std::make_unique<Function>(name_of(name));
  f->set_loc(loc(func_tok));
  scope_.clear();
  result_types_.clear();
  updates_.clear();
  if (!parse_signature(*f))
    return skip_function();
  parse_body(*f);
  if (!duplicate)
    module_->add_function(std::move(f));
}

bool Parser::parse_signature(Function &f) {
  if (!expect(TokKind::LParen, "'(' before the parameters"))
    return false;
  while (!tok_.is(TokKind::RParen)) {
    if (!f.params().empty() && !expect(TokKind::Comma, "',' or ')'"))
      return false;
    if (!parse_param(f))
      return false;
  }
  advance();
  if (!expect(TokKind::Arrow, "'->' and the result types") ||
      !expect(TokKind::LParen, "'(' before the result types"))
    return false;
  while (!tok_.is(TokKind::RParen)) {
    if (!result_types_.empty() && !expect(TokKind::Comma, "',' or ')'"))
      return false;
    if (!parse_result(f))
      return false;
  }
  advance();
  return expect(TokKind::LBrace, "'{' to open the function body");
}

bool Parser::parse_param(Function &f) {
  Token name = tok_;
  if (!name.is(TokKind::ValueName))
    return fail(name,
                "expected a parameter (%name: type), got " + describe(name));
  if (scope_.count(name_of(name)))
    return fail(name, "redefinition of value '" + std::string(name.text) + "'");
  advance();
  TensorType type;
  if (!expect(TokKind::Colon, "':' and the parameter type") ||
      !parse_type(type))
    return false;
  ArgKind kind = ArgKind::Input;
  if (tok_.is(TokKind::LBrace)) {
    advance();
    if (tok_.is_ident("param"))
      kind = ArgKind::Param;
    else if (tok_.is_ident("state"))
      kind = ArgKind::State;
    else
      return fail(tok_, "expected 'param' or 'state', got " + describe(tok_));
    advance();
    if (!expect(TokKind::RBrace, "'}'"))
      return false;
  }
  scope_[name_of(name)] = f.add_param(name_of(name), type, kind);
  return true;
}

bool Parser::parse_result(Function &f) {
  TensorType type;
  if (!parse_type(type))
    return false;
  Value *target = nullptr;
  if (tok_.is(TokKind::LBrace)) {
    advance();
    if (!tok_.is_ident("updates"))
      return fail(tok_, "expected 'updates', got " + describe(tok_));
    advance();
    if (!expect(TokKind::Equal, "'='"))
      return false;
    Token w = tok_;
    if (!w.is(TokKind::ValueName))
      return fail(w, "expected a parameter name, got " + describe(w));
    std::string quoted = "'" + std::string(w.text) + "'";
    target = f.find_value(name_of(w));
    if (!target)
      return fail(w, "updates target " + quoted + " is not a parameter of @" +
                         f.name());
    if (target->arg_kind() == ArgKind::Input)
      return fail(w, "updates target " + quoted +
                         " is an input; only {param} and {state} parameters "
                         "can be updated");
    if (target->type() != type)
      return fail(w, "result type " + type_str(type) + " differs from " +
                         type_str(target->type()) + ", the type of " + quoted);
    for (Value *u : updates_)
      if (u == target)
        return fail(w, "parameter " + quoted + " is updated by two results");
    advance();
    if (!expect(TokKind::RBrace, "'}'"))
      return false;
  }
  result_types_.push_back(type);
  updates_.push_back(target);
  return true;
}

void Parser::parse_body(Function &f) {
  bool returned = false;
  while (!tok_.is(TokKind::RBrace)) {
    if (tok_.is(TokKind::Eof) || at_func_start()) {
      fail(tok_, "unterminated function '@" + f.name() + "' (missing '}')");
      return;
    }
    if (returned) {
      fail(tok_, "expected '}' after return, got " + describe(tok_));
      return skip_function();
    }
    int64_t start = tok_.seq;
    bool ok;
    if (tok_.is_ident("return")) {
      returned = true;
      ok = parse_return(f);
    } else if (tok_.is(TokKind::ValueName)) {
      ok = parse_statement(f);
    } else {
      ok = fail(tok_, "expected a statement, got " + describe(tok_));
    }
    if (!ok)
      skip_statement(start);
  }
  if (!returned)
    fail(tok_, "function '@" + f.name() + "' has no return");
  advance();
}

bool Parser::parse_names(std::vector<Token> &names) {
  for (;;) {
    if (!tok_.is(TokKind::ValueName))
      return fail(tok_, "expected a value name, got " + describe(tok_));
    for (const Token &n : names)
      if (n.text == tok_.text)
        return fail(tok_,
                    "redefinition of value '" + std::string(tok_.text) + "'");
    if (scope_.count(name_of(tok_)))
      return fail(tok_,
                  "redefinition of value '" + std::string(tok_.text) + "'");
    names.push_back(tok_);
    advance();
    if (!tok_.is(TokKind::Comma))
      return true;
    advance();
  }
}

bool Parser::parse_operands(std::vector<Value *> &ops, bool &poisoned) {
  if (!expect(TokKind::LParen, "'(' after the op name"))
    return false;
  for (int n = 0; !tok_.is(TokKind::RParen); ++n) {
    if (n > 0 && !expect(TokKind::Comma, "',' or ')'"))
      return false;
    if (!tok_.is(TokKind::ValueName))
      return fail(tok_, "expected an operand (%name), got " + describe(tok_));
    auto it = scope_.find(name_of(tok_));
    if (it == scope_.end())
      return fail(tok_,
                  "use of undefined value '" + std::string(tok_.text) + "'");
    if (it->second)
      ops.push_back(it->second);
    else
      poisoned = true;
    advance();
  }
  advance();
  return true;
}

bool Parser::parse_statement(Function &f) {
  std::vector<Token> names;
  if (!parse_names(names))
    return false;
  // From here on, a failure leaves the names defined but poisoned.
  auto poison = [&] {
    for (const Token &n : names)
      scope_[name_of(n)] = nullptr;
    return false;
  };
  if (!expect(TokKind::Equal, "'=' after the value names"))
    return poison();
  Token op_tok = tok_;
  if (!op_tok.is(TokKind::Ident))
    return fail(op_tok, "expected an op name, got " + describe(op_tok)),
           poison();
  std::optional<OpKind> op = find_op(op_tok.text);
  if (!op)
    return fail(op_tok, "unknown op '" + std::string(op_tok.text) + "'"),
           poison();
  advance();
  std::vector<Value *> ops;
  bool poisoned = false;
  Attrs attrs;
  if (!parse_operands(ops, poisoned) ||
      (tok_.is(TokKind::LBrace) && !parse_attrs(*op, attrs)))
    return poison();
  Token colon = tok_;
  std::vector<TensorType> types;
  if (!expect(TokKind::Colon, "':' and the result types") ||
      !parse_types(types))
    return poison();
  if (names.size() != types.size())
    return fail(colon, std::to_string(names.size()) + " values defined, but " +
                           std::to_string(types.size()) +
                           " result types given"),
           poison();
  if (poisoned)
    return poison();
  std::string err;
  Node *n = f.try_add(*op, ops, attrs, types, loc(op_tok), err);
  if (!n)
    return fail(op_tok, err), poison();
  KILN_CHECK(n->num_results() == names.size()) << "result count";
  for (size_t i = 0; i < names.size(); ++i) {
    n->result(i)->set_name(name_of(names[i]));
    scope_[name_of(names[i])] = n->result(i);
  }
  return true;
}

bool Parser::parse_return(Function &f) {
  Token ret = tok_;
  advance();
  std::vector<Token> names;
  while (tok_.is(TokKind::ValueName) && !tok_.at_line_start) {
    names.push_back(tok_);
    advance();
    if (!tok_.is(TokKind::Comma))
      break;
    advance();
  }
  if (!tok_.at_line_start && !tok_.is(TokKind::RBrace) &&
      !tok_.is(TokKind::Eof))
    return fail(tok_, "expected a value or the end of the return, got " +
                          describe(tok_));
  if (names.size() != result_types_.size())
    return fail(ret, "return has " + std::to_string(names.size()) + " value" +
                         (names.size() == 1 ? "" : "s") + ", but @" + f.name() +
                         " declares " + std::to_string(result_types_.size()) +
                         " result" + (result_types_.size() == 1 ? "" : "s"));
  std::vector<Value *> values;
  bool poisoned = false;
  for (size_t i = 0; i < names.size(); ++i) {
    auto it = scope_.find(name_of(names[i]));
    if (it == scope_.end())
      return fail(names[i], "use of undefined value '" +
                                std::string(names[i].text) + "'");
    poisoned |= it->second == nullptr;
    if (it->second && it->second->type() != result_types_[i])
      return fail(names[i], "return value " + std::to_string(i) + " has type " +
                                type_str(it->second->type()) + ", but @" +
                                f.name() + " declares " +
                                type_str(result_types_[i]));
    values.push_back(it->second);
  }
  if (!poisoned)
    f.set_results(values, updates_);
  return true;
}
} // namespace parser

std::unique_ptr<Module> parse_module(std::string_view text,
                                     const std::string &filename,
                                     Diagnostics &diags, int first_line) {
  size_t before = diags.all().size();
  std::unique_ptr<Module> m;
  try {
    m = parser::Parser(text, filename, diags, first_line).run();
  } catch (const std::exception &e) {
    // Bad text must never escape as an exception; an internal error here is
    // a bug, reported as a diagnostic rather than a crash.
    diags.error(Loc{filename, 0, 0})
        << "internal error while parsing: " << e.what();
  }
  if (diags.all().size() != before)
    return nullptr;
  return m;
}

std::unique_ptr<Module> parse_and_verify(std::string_view text,
                                         const std::string &filename,
                                         Diagnostics &diags, int first_line) {
  std::unique_ptr<Module> m = parse_module(text, filename, diags, first_line);
  if (!m || !verify(*m, diags))
    return nullptr;
  return m;
}

} // namespace kiln
