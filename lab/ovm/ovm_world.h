// The lab's Oracle VM Manager database: server pools, servers, networks,
// repositories, virtual disks, VMs with their vNICs and disk mappings, and
// the manager's UUID, as one JSON file. It is the lab's stand-in for the
// manager's MySQL database, so losing it (the file gone) and restoring it
// (RestoreDatabase.sh copies a backup over it) are what they are for real.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace she::lab::ovm {

using Json = nlohmann::json;

/// The CLI's object types as it spells them (Vm, Vnic, VmDiskMapping,
/// VirtualDisk, Repository, ServerPool, Server, Network), from any case
/// ("vm", "repository"); empty for an unknown type.
std::string canonical_type(const std::string& written);

/// The id the manager gives a new object: 0004fb0000 + a type code + 0000 +
/// 16 hex digits, as real Oracle VM ids look.
std::string make_id(const std::string& type, long long serial);

class OvmWorld {
 public:
  /// Reads `file`; nothing when it does not exist (a lost database).
  static std::optional<OvmWorld> load(const std::filesystem::path& file);
  /// Writes it atomically (a temporary file renamed over it).
  void save(const std::filesystem::path& file) const;

  explicit OvmWorld(Json data = Json::object());
  const Json& data() const { return data_; }
  Json& data() { return data_; }

  std::string manager_uuid() const;
  /// Every object of a type, in creation order.
  std::vector<Json*> all(const std::string& type);
  /// The object of `type` whose `key` (id or name) is `value`; null if none.
  Json* find(const std::string& type, const std::string& key, const std::string& value);
  Json* by_id(const std::string& id);
  /// Adds an object of `type` named `name` with a new id; returns it.
  Json& add(const std::string& type, const std::string& name);
  void remove(const std::string& id);
  /// A new job id for a write (the manager's job numbers grow).
  std::string next_job();

 private:
  Json data_;
};

}  // namespace she::lab::ovm
