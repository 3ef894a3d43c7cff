#include "hosts/ovm_cli_answer.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace she::ovm {

namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The CLI's messages name the cause in words; the codes (OVMAPI_4010E...)
// differ between releases, the words do not.
CliFailure classify(const std::string& error) {
  std::string e = lower(error);
  if (e.find("no such object") != std::string::npos || e.find("not found") != std::string::npos ||
      e.find("unknown object") != std::string::npos || e.find("does not exist") != std::string::npos)
    return CliFailure::NotFound;
  if (e.find("already exists") != std::string::npos || e.find("already in use") != std::string::npos ||
      e.find("duplicate") != std::string::npos)
    return CliFailure::Exists;
  if (e.find("running") != std::string::npos || e.find("in use") != std::string::npos ||
      e.find("mounted") != std::string::npos || e.find("busy") != std::string::npos)
    return CliFailure::InUse;
  return CliFailure::Refused;
}

// "0004fb0000060000...  [slot011]" -> id, label.
void split_label(const std::string& value, std::string& id, std::string& label) {
  size_t open = value.rfind('[');
  if (open != std::string::npos && !value.empty() && value.back() == ']') {
    id = trim(std::string_view(value).substr(0, open));
    label = value.substr(open + 1, value.size() - open - 2);
  } else {
    id = value;
    label.clear();
  }
}

// "id:0004fb...  name:slot011": key:value words separated by blanks; a
// name may hold blanks, so a word without a key belongs to the previous value.
bool parse_listing(const std::string& line, CliItem& item) {
  std::istringstream words(line);
  std::string word, last;
  while (words >> word) {
    size_t colon = word.find(':');
    bool keyed = colon != std::string::npos && colon > 0 &&
                 std::all_of(word.begin(), word.begin() + colon, [](unsigned char c) { return std::isalnum(c) || c == '_'; });
    // A MAC address (00:21:f6:...) is a value, not a key.
    if (keyed && !last.empty() && std::isxdigit(static_cast<unsigned char>(word[0])) && colon == 2 &&
        word.size() > 3 && std::isxdigit(static_cast<unsigned char>(word[3])))
      keyed = false;
    if (keyed) {
      last = lower(word.substr(0, colon));
      item.fields[last] = word.substr(colon + 1);
    } else if (!last.empty()) {
      item.fields[last] += " " + word;
    } else {
      return false;
    }
  }
  if (item.fields.empty()) return false;
  item.id = item.fields.count("id") ? item.fields["id"] : "";
  item.name = item.fields.count("name") ? item.fields["name"] : "";
  return true;
}

}  // namespace

const char* failure_name(CliFailure f) {
  switch (f) {
    case CliFailure::None: return "none";
    case CliFailure::NotFound: return "not_found";
    case CliFailure::Exists: return "exists";
    case CliFailure::InUse: return "in_use";
    case CliFailure::Refused: return "refused";
  }
  return "refused";
}

std::string CliAnswer::field(const std::string& key) const {
  for (auto& [k, v] : fields)
    if (k == key) return v;
  return {};
}

std::string CliAnswer::id() const {
  std::string id = field("Id");
  if (!id.empty()) return id;
  return items.size() == 1 ? items[0].id : "";
}

Value CliAnswer::to_value() const {
  Value v = Value::object();
  v["status"] = success ? "Success" : "Failure";
  v["job_id"] = job_id;
  v["id"] = id();
  std::string name = field("Name");
  if (name.empty() && items.size() == 1) name = items[0].name;
  v["name"] = name;
  v["fields"] = Value::object();
  for (auto& [k, val] : fields) v["fields"][k] = val;
  v["labels"] = Value::object();
  for (auto& [k, val] : labels) v["labels"][k] = val;
  v["lists"] = Value::object();
  for (auto& [k, list] : lists) {
    Value& l = v["lists"][k] = Value::array();
    for (auto& it : list) l.push_back({{"id", it.id}, {"name", it.name}});
  }
  v["items"] = Value::array();
  for (auto& it : items) {
    Value item = Value::object();
    for (auto& [k, val] : it.fields) item[k] = val;
    item["id"] = it.id;
    item["name"] = it.name;
    v["items"].push_back(item);
  }
  return v;
}

CliAnswer parse_cli_answer(std::string_view text) {
  CliAnswer a;
  std::istringstream in{std::string(text)};
  enum { Head, Data, Error } part = Head;
  for (std::string raw; std::getline(in, raw);) {
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    std::string line = trim(raw);
    if (line.empty()) continue;
    if (starts_with(line, "OVM>")) continue;  // the prompt, when a session echoes it
    if (part != Data || raw.find_first_not_of(" \t") == 0) {
      // Header lines start at the margin; data lines are indented.
      if (starts_with(line, "Command:")) { a.command = trim(line.substr(8)); part = Head; continue; }
      if (starts_with(line, "Status:")) {
        a.parsed = true;
        a.success = lower(trim(line.substr(7))) == "success";
        part = Head;
        continue;
      }
      if (starts_with(line, "Time:")) { a.time = trim(line.substr(5)); continue; }
      if (starts_with(line, "JobId:")) { a.job_id = trim(line.substr(6)); continue; }
      if (starts_with(line, "Data:")) { part = Data; continue; }
      if (starts_with(line, "Error Msg:")) { a.error = trim(line.substr(10)); part = Error; continue; }
    }
    if (part == Error) {
      a.error += "\n" + line;
    } else if (part == Data) {
      size_t eq = line.find(" = ");
      if (eq != std::string::npos) {
        std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 3)), id, label;
        split_label(value, id, label);
        // "Vnic 1", "VmDiskMapping 3": a numbered member of a list.
        size_t sp = key.rfind(' ');
        if (sp != std::string::npos && sp + 1 < key.size() &&
            std::all_of(key.begin() + sp + 1, key.end(), [](unsigned char c) { return std::isdigit(c); })) {
          a.lists[key.substr(0, sp)].push_back({id, label, {}});
        }
        a.fields.emplace_back(key, id);
        if (!label.empty()) a.labels[key] = label;
      } else {
        CliItem item;
        if (parse_listing(line, item)) a.items.push_back(std::move(item));
      }
    }
  }
  if (a.parsed && !a.success) a.failure = classify(a.error);
  return a;
}

}  // namespace she::ovm
