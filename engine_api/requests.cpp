#include "engine_api/requests.h"

#include <cctype>
#include <fmt/format.h>
#include <pugixml.hpp>
#include <sstream>

namespace she::engine_api {

namespace {

std::string api(std::string_view rel) { return std::string(kApiPrefix) + std::string(rel); }

std::string xml_text(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

void child(pugi::xml_node parent, const char* name, const std::string& text) {
  parent.append_child(name).text().set(text.c_str());
}

const char* boolean(bool b) { return b ? "true" : "false"; }

Request action(const std::string& host_id, const char* verb, const pugi::xml_document& doc) {
  return {"POST", api("/hosts/" + host_id + "/" + verb), xml_text(doc)};
}

Request empty_action(const std::string& host_id, const char* verb) {
  pugi::xml_document doc;
  doc.append_child("action");
  return action(host_id, verb, doc);
}

}  // namespace

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

Request api_root() { return {"GET", api(""), ""}; }
Request health() { return {"GET", "/ovirt-engine/services/health", ""}; }

Request list_hosts(const std::string& search, bool all_content) {
  std::string path = api("/hosts");
  std::string sep = "?";
  if (all_content) {
    path += sep + "all_content=true";
    sep = "&";
  }
  if (!search.empty()) path += sep + "search=" + url_encode(search);
  return {"GET", path, ""};
}

Request get_host(const std::string& id, bool all_content) {
  return {"GET", api("/hosts/" + id) + (all_content ? "?all_content=true" : ""), ""};
}

std::string host_name_search(const std::string& name) {
  std::string quoted;
  for (char c : name) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return "name=\"" + quoted + "\"";
}

Request deactivate_host(const std::string& id, const std::string& reason) {
  pugi::xml_document doc;
  auto a = doc.append_child("action");
  if (!reason.empty()) child(a, "reason", reason);
  Request r = action(id, "deactivate", doc);
  r.expects["hosts/" + id + "/status"] = "maintenance";
  return r;
}

Request activate_host(const std::string& id) {
  Request r = empty_action(id, "activate");
  r.expects["hosts/" + id + "/status"] = "up";
  return r;
}

Request fence_host_manual(const std::string& id) {
  pugi::xml_document doc;
  child(doc.append_child("action"), "fence_type", "manual");
  Request r = action(id, "fence", doc);
  // The engine then marks the host's VMs down (seeds/000: they "move from
  // an Unknown state to a Down state").
  r.expects["hosts/" + id + "/vms"] = "down";
  return r;
}

/// How the engine logs in to the host it installs: root's password, or
/// the engine's public key.
static void host_credentials(pugi::xml_node parent, const InstallOptions& o) {
  if (o.auth == "password") child(parent, "root_password", o.root_password);
  else child(parent.append_child("ssh"), "authentication_method", "publickey");
}

Request install_host(const std::string& id, const InstallOptions& o) {
  pugi::xml_document doc;
  auto a = doc.append_child("action");
  // Everything of install is read from the body; activate defaults to false
  // in the engine's code, so it is always sent explicitly.
  child(a, "activate", boolean(o.activate));
  child(a, "reboot", boolean(o.reboot));
  if (o.deploy_hosted_engine) child(a, "deploy_hosted_engine", "true");
  if (o.undeploy_hosted_engine) child(a, "undeploy_hosted_engine", "true");
  host_credentials(a, o);
  Request r = action(id, "install", doc);
  r.expects["hosts/" + id + "/status"] = o.activate ? "up" : "maintenance";
  return r;
}

Request add_host(const AddHostOptions& o) {
  pugi::xml_document doc;
  auto h = doc.append_child("host");
  child(h, "name", o.name);
  child(h, "address", o.address);
  host_credentials(h, o);
  child(h.append_child("cluster"), "name", o.cluster);
  // For add, these flags are URL parameters, not body fields.
  std::string path = api("/hosts") + fmt::format("?deploy_hosted_engine={}&activate={}&reboot={}",
                                                 boolean(o.deploy_hosted_engine),
                                                 boolean(o.activate), boolean(o.reboot));
  Request r{"POST", path, xml_text(doc)};
  // The engine answers with the new host; its id is the engine's to give.
  pugi::xml_document reply;
  auto added = reply.append_child("host");
  added.append_attribute("id").set_value(("<id of the new host " + o.name + ">").c_str());
  child(added, "name", o.name);
  child(added, "address", o.address);
  child(added, "status", "installing");
  r.rehearsal_reply = xml_text(reply);
  return r;
}

Request remove_host(const std::string& id, bool force) {
  Request r{"DELETE", api("/hosts/" + id) + (force ? "?force=true" : ""), ""};
  r.expects["hosts/" + id] = "removed";
  return r;
}

const std::vector<std::string>& host_statuses() {
  static const std::vector<std::string> statuses = {
      "down", "error", "initializing", "installing", "install_failed", "maintenance",
      "non_operational", "non_responsive", "pending_approval", "preparing_for_maintenance",
      "connecting", "reboot", "unassigned", "up", "installing_os", "kdumping"};
  return statuses;
}

Request list_vms(const std::string& search) {
  return {"GET", api("/vms") + (search.empty() ? "" : "?search=" + url_encode(search)), ""};
}

Request start_vm(const std::string& id) {
  pugi::xml_document doc;
  doc.append_child("action");
  Request r{"POST", api("/vms/" + id + "/start"), xml_text(doc)};
  r.expects["vms/" + id + "/status"] = "up";
  return r;
}

Request list_datacenters() { return {"GET", api("/datacenters"), ""}; }

Request global_maintenance(const std::string& he_vm_id, bool enabled) {
  pugi::xml_document doc;
  child(doc.append_child("action"), "maintenance_enabled", boolean(enabled));
  return {"POST", api("/vms/" + he_vm_id + "/maintenance"), xml_text(doc)};
}

Request get_job(const std::string& id) { return {"GET", api("/jobs/" + id), ""}; }

Request list_events(long long after, const std::string& search) {
  std::string path = api("/events");
  std::string sep = "?";
  if (after > 0) {
    path += sep + "from=" + std::to_string(after);
    sep = "&";
  }
  if (!search.empty()) path += sep + "search=" + url_encode(search);
  return {"GET", path, ""};
}

Request newest_events(int max) { return {"GET", api("/events") + "?max=" + std::to_string(max), ""}; }

}  // namespace she::engine_api
