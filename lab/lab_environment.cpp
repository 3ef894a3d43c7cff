#include "lab/lab_environment.h"

#include <algorithm>
#include <stdexcept>
#include <yaml-cpp/yaml.h>

#include "base/durable_file.h"

namespace she::lab {

namespace {

/// The address the engine knows a lab host by (its sshd listens elsewhere).
std::string known_address(const FleetHost& h) { return h.spec.hostname.empty() ? h.name : h.spec.hostname; }

void ssh_block(YAML::Emitter& out, const FleetHost& h) {
  out << YAML::Key << "ssh" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "address" << YAML::Value
      << h.address << YAML::Key << "port" << YAML::Value << h.port << YAML::EndMap;
}

std::string failover_host(const WorldState& world) {
  for (const Host& h : world.hosts) {
    if (!h.hosted_engine) continue;
    bool runs_engine = std::any_of(world.vms.begin(), world.vms.end(),
                                   [&](const Vm& v) { return v.is_hosted_engine() && v.host_id == h.id; });
    if (!runs_engine) return h.name;
  }
  return "";
}

}  // namespace

std::string write_lab_environment(const std::filesystem::path& path, const WorldState& world, const HostFleet& fleet,
                                  const std::string& api_url, const std::filesystem::path& ca_file,
                                  const std::filesystem::path& password_file) {
  const std::string failover = failover_host(world);
  YAML::Emitter out;
  out << YAML::Comment("Written by she-lab serve: an environment for rehearsing shipped plans against this lab.");
  out << YAML::BeginMap;
  out << YAML::Key << "environment" << YAML::Value << "lab";
  out << YAML::Key << "mode" << YAML::Value << "rehearsal";
  out << YAML::Key << "engine" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "fqdn" << YAML::Value << world.engine.fqdn;
  out << YAML::Key << "api_url" << YAML::Value << api_url + "/ovirt-engine/api";
  out << YAML::Key << "user" << YAML::Value << world.engine.admin_user;
  out << YAML::Key << "password" << YAML::Value << "file:" + password_file.string();
  out << YAML::Key << "ca_file" << YAML::Value << ca_file.string();
  const long poll_ms = std::max(20L, std::min(1000L, static_cast<long>(1000 * world.time_scale)));
  out << YAML::Key << "poll_interval" << YAML::Value << std::to_string(poll_ms) + "ms";
  if (!world.data_centers.empty()) out << YAML::Key << "datacenter" << YAML::Value << world.data_centers.front().name;
  if (!world.clusters.empty()) out << YAML::Key << "cluster" << YAML::Value << world.clusters.front().name;
  for (const FleetHost& h : fleet.hosts())
    if (h.name == "engine") {
      out << YAML::Key << "vm" << YAML::Value << YAML::BeginMap << YAML::Key << "address" << YAML::Value
          << known_address(h);
      ssh_block(out, h);
      out << YAML::EndMap;
    }
  out << YAML::EndMap;
  out << YAML::Key << "ssh" << YAML::Value << YAML::BeginMap << YAML::Key << "user" << YAML::Value << fleet.user()
      << YAML::Key << "key" << YAML::Value << fleet.client_key().string() << YAML::Key << "known_hosts"
      << YAML::Value << fleet.known_hosts().string() << YAML::EndMap;
  out << YAML::Key << "hosts" << YAML::Value << YAML::BeginSeq;
  for (const FleetHost& h : fleet.hosts()) {
    if (h.name == "engine" || h.name == "backup_storage") continue;
    const Host* world_host = nullptr;
    for (const Host& w : world.hosts)
      if (w.name == h.name) world_host = &w;
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << h.name;
    out << YAML::Key << "address" << YAML::Value << known_address(h);
    if (!h.spec.hardware_id.empty()) out << YAML::Key << "hardware_id" << YAML::Value << h.spec.hardware_id;
    out << YAML::Key << "roles" << YAML::Value << YAML::Flow << YAML::BeginSeq << h.spec.role;
    if (world_host && world_host->spm == SpmStatus::Spm) out << "spm";
    if (h.name == failover) out << "failover";
    out << YAML::EndSeq;
    ssh_block(out, h);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  for (const FleetHost& h : fleet.hosts())
    if (h.name == "backup_storage") {
      out << YAML::Key << "backup_storage" << YAML::Value << YAML::BeginMap << YAML::Key << "address" << YAML::Value
          << known_address(h);
      ssh_block(out, h);
      out << YAML::Key << "path" << YAML::Value << kLabBackupPath << YAML::EndMap;
    }
  out << YAML::EndMap;
  std::string text = std::string(out.c_str()) + "\n";
  std::string err;
  if (!write_file_durably(path.string(), text, &err)) throw std::runtime_error(err);
  return text;
}

}  // namespace she::lab
