/// \file
/// Private to ir/: the tokenizer of .kir text. It works on demand (one token
/// at a time), never throws, and turns every malformed piece of text into an
/// Error token carrying the reason, so the parser can report it in place.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

enum class TokKind {
  Eof,
  Error,     ///< text that is not a token; message() says why
  Ident,     ///< func, return, op and attribute names, dtypes, true, inf
  ValueName, ///< %name (text() keeps the '%')
  FuncName,  ///< @name (text() keeps the '@')
  Int,       ///< -?[0-9]+
  Float,     ///< 1.5, -2e-3, -inf (inf and nan alone are Idents)
  String,    ///< "..." (str() holds the unescaped value)
  LParen,
  RParen,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Equal,
  Arrow,
};

struct Token {
  TokKind kind = TokKind::Eof;
  std::string_view text;
  int line = 1; ///< 1-based, relative to the start of the text
  int col = 1;  ///< 1-based byte column
  /// True when no other token precedes this one on its line.
  bool at_line_start = false;
  /// Index of the token in the stream (0 for the first).
  int64_t seq = 0;
  /// Int: the value; int_overflow is set when it does not fit int64.
  int64_t int_value = 0;
  bool int_overflow = false;
  /// Float: the value; float_overflow when the literal is beyond double.
  double float_value = 0;
  bool float_overflow = false;
  /// String: the unescaped value; Error: the reason.
  std::string str;

  bool is(TokKind k) const { return kind == k; }
  bool is_ident(std::string_view s) const {
    return kind == TokKind::Ident && text == s;
  }
};

/// Splits .kir text into tokens. Comments (`//` to the end of the line) and
/// whitespace are skipped. The text must outlive the lexer and its tokens.
class Lexer {
public:
  explicit Lexer(std::string_view text) : text_(text) {}
  /// The next token; Eof at the end, forever.
  Token next();

private:
  void skip_space_and_comments();
  Token make(TokKind k, size_t begin, int line, int col);
  Token lex_number(size_t begin, int line, int col);
  Token lex_name(TokKind k, size_t begin, int line, int col);
  Token lex_string(size_t begin, int line, int col);
  Token error(std::string why, size_t begin, int line, int col);

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t line_begin_ = 0;
  int last_line_ = 0; ///< line of the previous token (0: none yet)
  int64_t seq_ = 0;
};

/// Where \p text is not UTF-8 or holds a NUL byte: the 0-based offset of the
/// first bad byte, or std::string_view::npos when the text is clean.
size_t find_invalid_utf8(std::string_view text);

/// A short, printable rendering of a token for messages: 'func', "end of
/// file", a string literal cut at 20 characters.
std::string describe(const Token &t);

} // namespace kiln
