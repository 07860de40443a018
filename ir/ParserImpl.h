/// \file
/// Private to ir/: the parser's state and grammar functions, shared by
/// Parser.cpp (module, functions, statements) and ParserTypes.cpp (types and
/// attribute values).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Diagnostics.h"
#include "ir/Graph.h"
#include "ir/Lexer.h"
#include "ir/OpRegistry.h"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace kiln::parser {

/// Attribute lists nest at most this deep (no unbounded recursion).
constexpr int kMaxListDepth = 32;

/// The name of a %value or @function token, without its sigil.
inline std::string name_of(const Token &t) {
  return std::string(t.text.substr(1));
}

/// Recursive descent over the tokens of one text. run() builds the module;
/// every grammar function reports its own errors and returns false on one.
class Parser {
public:
  Parser(std::string_view text, const std::string &file, Diagnostics &diags,
         int first_line)
      : text_(text), lex_(text), file_(file), diags_(diags),
        first_line_(first_line) {}

  std::unique_ptr<Module> run();

private:
  void advance() { tok_ = lex_.next(); }
  Loc loc(const Token &t) const {
    return Loc{file_, first_line_ + t.line - 1, t.col};
  }
  /// Reports \p msg at \p t (or the lexer's reason when \p t is an Error
  /// token); returns false so that callers can `return fail(...)`.
  bool fail(const Token &t, const std::string &msg) {
    diags_.error(loc(t)) << (t.is(TokKind::Error) ? t.str : msg);
    return false;
  }
  bool expect(TokKind k, const char *what) {
    if (!tok_.is(k))
      return fail(tok_,
                  std::string("expected ") + what + ", got " + describe(tok_));
    advance();
    return true;
  }
  bool at_func_start() const {
    return tok_.is_ident("func") && tok_.at_line_start;
  }
  void skip_statement(int64_t start_seq);
  void skip_function();

  void parse_function();
  bool parse_signature(Function &f);
  bool parse_param(Function &f);
  bool parse_result(Function &f);
  void parse_body(Function &f);
  bool parse_statement(Function &f);
  bool parse_names(std::vector<Token> &names);
  bool parse_operands(std::vector<Value *> &ops, bool &poisoned);
  bool parse_attrs(OpKind op, Attrs &attrs);
  bool parse_attr_value(Attribute &a, int depth);
  bool parse_type(TensorType &t);
  bool parse_types(std::vector<TensorType> &types);
  bool parse_return(Function &f);

  std::string_view text_;
  Lexer lex_;
  Token tok_;
  const std::string &file_;
  Diagnostics &diags_;
  int first_line_;
  Module *module_ = nullptr;
  /// Values of the current function by name; nullptr marks a poisoned one.
  std::unordered_map<std::string, Value *> scope_;
  std::vector<TensorType> result_types_;
  std::vector<Value *> updates_;
};

} // namespace kiln::parser
