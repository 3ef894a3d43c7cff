// The engine REST calls she-restore makes, as data: method, path and XML
// body, built to the engine's real rules (reference: ovirt-engine-api.md).
// The dry run prints these; the REST client sends the very same requests, so
// what a rehearsal shows is what a run does.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace she::engine_api {

struct Request {
  Request() = default;
  Request(std::string m, std::string p, std::string b = {})
      : method(std::move(m)), path(std::move(p)), body(std::move(b)) {}

  std::string method;  // GET, POST, DELETE
  std::string path;    // absolute path on the engine, query included
  std::string body;    // XML, or empty
  /// What the engine looks like once this request succeeded, for a
  /// rehearsal's later reads ("hosts/ID/status" -> "maintenance"; see
  /// base/operation.h).
  std::map<std::string, std::string> expects;
  /// The body the engine answers on success when a rehearsal does not send
  /// the request (empty: an <action> that completed).
  std::string rehearsal_reply;
  /// By its own nature: anything but a read changes the engine.
  bool writes() const { return method != "GET"; }
};

constexpr std::string_view kApiPrefix = "/ovirt-engine/api";

/// RFC 3986 percent-encoding of a query value.
std::string url_encode(std::string_view s);

Request api_root();
Request health();  // /ovirt-engine/services/health, no auth
/// GET /hosts; `search` in engine search syntax (encoded here).
Request list_hosts(const std::string& search, bool all_content);
Request get_host(const std::string& id, bool all_content);
/// search=name="NAME": names are quoted as Ansible's ovirt modules do.
std::string host_name_search(const std::string& name);

Request deactivate_host(const std::string& id, const std::string& reason);
Request activate_host(const std::string& id);
/// Confirm "host has been rebooted": fence_type manual.
Request fence_host_manual(const std::string& id);

struct InstallOptions {
  bool deploy_hosted_engine = false;
  bool undeploy_hosted_engine = false;
  bool activate = true;         // the engine defaults to false: always send it
  bool reboot = false;
  std::string auth = "publickey";  // publickey | password
  std::string root_password;       // only with auth=password
};
Request install_host(const std::string& id, const InstallOptions& opts);

/// Add takes install's settings (undeploy aside: a new host has nothing to
/// undeploy) plus who the host is.
struct AddHostOptions : InstallOptions {
  std::string name, address, cluster;
};
Request add_host(const AddHostOptions& opts);
/// v4 remove: DELETE with force as a URL parameter (the body form is v3).
Request remove_host(const std::string& id, bool force);

/// Host statuses as the API writes them (model HostStatus).
const std::vector<std::string>& host_statuses();

Request list_vms(const std::string& search);
Request start_vm(const std::string& id);
Request list_datacenters();
/// HE global maintenance through the hosted-engine VM.
Request global_maintenance(const std::string& he_vm_id, bool enabled);
Request get_job(const std::string& id);
/// Events with an id above `after` (0: all), newest first.
Request list_events(long long after, const std::string& search);
/// The newest `max` events (the engine sends the newest first).
Request newest_events(int max);

}  // namespace she::engine_api
