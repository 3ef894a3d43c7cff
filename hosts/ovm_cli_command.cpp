#include "hosts/ovm_cli_command.h"

#include <fmt/format.h>

namespace she::ovm {

namespace {

bool plain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == ':' || c == '@' || c == '+' || c == ',';
}

// Verbs, object types and attribute keys are words of the CLI's grammar:
// anything else would be parsed as something else.
void check_word(std::string_view what, std::string_view word) {
  bool ok = !word.empty() && ((word[0] >= 'a' && word[0] <= 'z') || (word[0] >= 'A' && word[0] <= 'Z'));
  for (char c : word)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) ok = false;
  if (!ok)
    throw CliCommandError(fmt::format("{} '{}' is not a word of the OVM CLI (letters, digits, _; a letter first)", what,
                                      word));
}

}  // namespace

std::string cli_quote(std::string_view value) {
  if (value.empty()) throw CliCommandError("an empty value cannot be given to the OVM CLI");
  bool plain = true;
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      throw CliCommandError("a value holds a control character (a line break?): the OVM CLI reads one command per line");
    if (!plain_char(c)) plain = false;
  }
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\'' || c == '/') out += '/';
    out += c;
  }
  return out + "\"";
}

bool cli_verb_reads(std::string_view verb) {
  if (verb == "show" || verb == "list") return true;
  // getVmOsTypes, getVmConsoleUrl...: the CLI's get verbs only report.
  return verb.size() > 3 && verb.substr(0, 3) == "get" && verb[3] >= 'A' && verb[3] <= 'Z';
}

bool CliCommand::reads() const { return cli_verb_reads(verb); }

std::string CliCommand::attribute(const std::string& key) const {
  for (auto& [k, v] : attributes)
    if (k == key) return v;
  return {};
}

std::string CliCommand::line() const {
  check_word("verb", verb);
  std::string out = verb;
  if (!object.empty()) {
    check_word("object type", object);
    out += " " + object;
  }
  for (auto& [k, v] : attributes) {
    check_word("attribute", k);
    out += " " + k + "=" + cli_quote(v);
  }
  if (!relation.empty()) {
    if (relation != "on" && relation != "to" && relation != "from")
      throw CliCommandError(fmt::format("'{}' relates no objects in the OVM CLI (on, to, from)", relation));
    check_word("object type", related.type);
    if (related.key != "id" && related.key != "name")
      throw CliCommandError(fmt::format("the object after '{}' is named by id= or name=, not {}=", relation, related.key));
    out += fmt::format(" {} {} {}={}", relation, related.type, related.key, cli_quote(related.value));
  }
  return out;
}

CliCommand parse_cli_line(std::string_view line) {
  // Tokens: a bare word, or key=value where the value may be quoted.
  struct Token {
    std::string key, value;
    bool has_value = false;
  };
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ' || line[i] == '\t') {
      ++i;
      continue;
    }
    Token t;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '=') t.key += line[i++];
    if (i < line.size() && line[i] == '=') {
      t.has_value = true;
      ++i;
      if (i < line.size() && (line[i] == '"' || line[i] == '\'')) {
        char q = line[i++];
        bool closed = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '/' && i < line.size()) {
            t.value += line[i++];
          } else if (c == q) {
            closed = true;
            break;
          } else {
            t.value += c;
          }
        }
        if (!closed) throw CliCommandError("a quoted value is not closed");
        if (i < line.size() && line[i] != ' ' && line[i] != '\t')
          throw CliCommandError("a quoted value runs into '" + std::string(1, line[i]) + "'");
      } else {
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') t.value += line[i++];
      }
    }
    tokens.push_back(std::move(t));
  }
  CliCommand c;
  size_t k = 0;
  if (k < tokens.size() && !tokens[k].has_value) c.verb = tokens[k++].key;
  if (c.verb.empty()) throw CliCommandError("no command");
  if (k < tokens.size() && !tokens[k].has_value && tokens[k].key != "on" && tokens[k].key != "to" &&
      tokens[k].key != "from")
    c.object = tokens[k++].key;
  for (; k < tokens.size() && tokens[k].has_value; ++k) c.attributes.emplace_back(tokens[k].key, tokens[k].value);
  if (k < tokens.size()) {
    c.relation = tokens[k++].key;
    if (c.relation != "on" && c.relation != "to" && c.relation != "from")
      throw CliCommandError("'" + c.relation + "' is not understood here");
    if (k >= tokens.size() || tokens[k].has_value) throw CliCommandError("an object type must follow '" + c.relation + "'");
    c.related.type = tokens[k++].key;
    if (k >= tokens.size() || !tokens[k].has_value) throw CliCommandError("id= or name= must follow " + c.related.type);
    c.related.key = tokens[k].key;
    c.related.value = tokens[k++].value;
  }
  if (k < tokens.size()) throw CliCommandError("'" + tokens[k].key + "' is not understood here");
  return c;
}

}  // namespace she::ovm
