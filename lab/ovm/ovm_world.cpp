#include "lab/ovm/ovm_world.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <sstream>

namespace she::lab::ovm {

namespace fs = std::filesystem;

namespace {

const std::map<std::string, std::string>& type_codes() {
  static const std::map<std::string, std::string> codes = {
      {"ServerPool", "02"}, {"Repository", "03"}, {"Server", "05"}, {"Vm", "06"}, {"Vnic", "07"},
      {"Network", "10"},    {"VirtualDisk", "12"}, {"VmDiskMapping", "13"}};
  return codes;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

std::string canonical_type(const std::string& written) {
  for (auto& [type, _] : type_codes())
    if (lower(type) == lower(written)) return type;
  return {};
}

std::string make_id(const std::string& type, long long serial) {
  auto it = type_codes().find(type);
  return fmt::format("0004fb0000{}0000{:016x}", it == type_codes().end() ? "99" : it->second,
                     0x5a17000000000000ULL + static_cast<unsigned long long>(serial));
}

std::optional<OvmWorld> OvmWorld::load(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  Json data = Json::parse(ss.str(), nullptr, false);
  if (data.is_discarded() || !data.is_object()) return std::nullopt;
  return OvmWorld(std::move(data));
}

void OvmWorld::save(const fs::path& file) const {
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << data_.dump(2) << "\n";
  }
  fs::rename(tmp, file);
}

OvmWorld::OvmWorld(Json data) : data_(std::move(data)) {
  if (!data_.contains("objects")) data_["objects"] = Json::array();
  if (!data_.contains("serial")) data_["serial"] = 1;
  if (!data_.contains("job")) data_["job"] = 1478431920000LL;
}

std::string OvmWorld::manager_uuid() const { return data_.value("manager_uuid", std::string()); }

std::vector<Json*> OvmWorld::all(const std::string& type) {
  std::vector<Json*> out;
  for (auto& o : data_["objects"])
    if (o.value("type", std::string()) == type) out.push_back(&o);
  return out;
}

Json* OvmWorld::find(const std::string& type, const std::string& key, const std::string& value) {
  for (auto* o : all(type))
    if (o->value(key, std::string()) == value) return o;
  return nullptr;
}

Json* OvmWorld::by_id(const std::string& id) {
  for (auto& o : data_["objects"])
    if (o.value("id", std::string()) == id) return &o;
  return nullptr;
}

Json& OvmWorld::add(const std::string& type, const std::string& name) {
  long long serial = data_["serial"].get<long long>();
  data_["serial"] = serial + 1;
  data_["objects"].push_back({{"type", type}, {"id", make_id(type, serial)}, {"name", name}});
  return data_["objects"].back();
}

void OvmWorld::remove(const std::string& id) {
  auto& objects = data_["objects"];
  for (auto it = objects.begin(); it != objects.end(); ++it)
    if (it->value("id", std::string()) == id) {
      objects.erase(it);
      return;
    }
}

std::string OvmWorld::next_job() {
  long long job = data_["job"].get<long long>() + 1;
  data_["job"] = job;
  return std::to_string(job);
}

}  // namespace she::lab::ovm
