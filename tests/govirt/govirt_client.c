/* A client of the lab that nobody on this project wrote: libgovirt (the
 * GObject oVirt REST client virt-viewer uses). Run by lab_fidelity_test.cpp
 * against a lab engine: govirt-client ENGINE:PORT CA_FILE CREDENTIAL VM_NAME
 * [MODE]. MODE "full" (default) logs in with CREDENTIAL as an SSO token,
 * reads the API root, data centers, clusters, hosts, storage domains and VMs
 * and starts then stops VM_NAME; "wrong-password" (CREDENTIAL a password)
 * "wrong-token" and "wrong-ca" expect the first call to be refused. Prints what it read;
 * exits 0 when every answer is as an engine's.
 *
 * Why a token and not the password in "full": libgovirt 0.3.9 (librest 0.9,
 * libsoup 3) sends "<action></action>" with every GET, and the retry after a
 * 401 challenge repeats "Content-Length: 17" without the body; a server that
 * honours Content-Length, as the engine's does, waits for those 17 bytes and
 * takes them from the next request. With a token there is no challenge. */
#include <govirt/govirt.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define EXPECT(cond, ...)                        \
  do {                                           \
    if (!(cond)) {                               \
      fprintf(stderr, "govirt-client: FAILED "); \
      fprintf(stderr, __VA_ARGS__);              \
      fprintf(stderr, "\n");                     \
      ++failures;                                \
    }                                            \
  } while (0)

static GHashTable *fetch(OvirtCollection *c, OvirtProxy *proxy, const char *what) {
  GError *error = NULL;
  if (c == NULL || !ovirt_collection_fetch(c, proxy, &error)) {
    EXPECT(0, "fetching %s: %s", what, error ? error->message : "no such collection");
    g_clear_error(&error);
    return NULL;
  }
  GHashTable *all = ovirt_collection_get_resources(c);
  printf("%s: %u\n", what, g_hash_table_size(all));
  return all;
}

static OvirtVmState vm_state(OvirtVm *vm) {
  OvirtVmState state = OVIRT_VM_STATE_UNKNOWN;
  g_object_get(vm, "state", &state, NULL);
  return state;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: govirt-client ENGINE:PORT CA_FILE PASSWORD VM_NAME [full|wrong-password|wrong-token|wrong-ca]\n");
    return 2;
  }
  const char *mode = argc > 5 ? argv[5] : "full";
  OvirtProxy *proxy = ovirt_proxy_new(argv[1]);
  if (strcmp(mode, "wrong-password") == 0)
    g_object_set(proxy, "username", "admin@internal", "password", argv[3], "ssl-ca-file", argv[2], NULL);
  else
    g_object_set(proxy, "sso-token", argv[3], "ssl-ca-file", argv[2], NULL);

  GError *error = NULL;
  OvirtApi *api = ovirt_proxy_fetch_api(proxy, &error);
  if (strcmp(mode, "full") != 0) {
    EXPECT(api == NULL, "%s: the API root answered", mode);
    if (error) printf("refused: %s\n", error->message);
    g_clear_error(&error);
    g_object_unref(proxy);
    return failures ? 1 : 0;
  }
  if (api == NULL) {
    fprintf(stderr, "govirt-client: FAILED fetching the API root: %s\n", error ? error->message : "?");
    return 1;
  }

  GHashTable *dcs = fetch(ovirt_api_get_data_centers(api), proxy, "data centers");
  EXPECT(dcs && g_hash_table_size(dcs) > 0, "no data center");
  GHashTable *clusters = fetch(ovirt_api_get_clusters(api), proxy, "clusters");
  EXPECT(clusters && g_hash_table_size(clusters) > 0, "no cluster");
  GHashTable *hosts = fetch(ovirt_api_get_hosts(api), proxy, "hosts");
  EXPECT(hosts && g_hash_table_size(hosts) > 0, "no host");
  if (hosts) {
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, hosts);
    while (g_hash_table_iter_next(&it, &key, &value)) {
      char *id = NULL, *href = NULL;
      g_object_get(value, "guid", &id, "href", &href, NULL);
      OvirtCluster *cluster = ovirt_host_get_cluster(OVIRT_HOST(value));
      printf("host %s id=%s cluster=%s\n", (char *)key, id ? id : "-", cluster ? "yes" : "no");
      EXPECT(id && strlen(id) == 36, "host %s: id %s", (char *)key, id ? id : "(none)");
      EXPECT(href && strstr(href, "/ovirt-engine/api/hosts/") == href, "host %s: href %s", (char *)key, href ? href : "(none)");
      EXPECT(cluster != NULL, "host %s: no cluster", (char *)key);
      if (cluster) g_object_unref(cluster);
      g_free(id);
      g_free(href);
    }
  }

  OvirtCollection *vms = ovirt_api_get_vms(api);
  fetch(vms, proxy, "vms");
  OvirtResource *found = vms ? ovirt_collection_lookup_resource(vms, argv[4]) : NULL;
  EXPECT(found != NULL, "no VM %s", argv[4]);
  if (found) {
    OvirtVm *vm = OVIRT_VM(found);
    printf("vm %s state=%d\n", argv[4], vm_state(vm));
    EXPECT(vm_state(vm) == OVIRT_VM_STATE_DOWN, "VM %s is not down before start", argv[4]);
    EXPECT(ovirt_vm_start(vm, proxy, &error), "start: %s", error ? error->message : "?");
    g_clear_error(&error);
    EXPECT(ovirt_resource_refresh(found, proxy, &error), "refresh: %s", error ? error->message : "?");
    g_clear_error(&error);
    printf("after start state=%d\n", vm_state(vm));
    EXPECT(vm_state(vm) == OVIRT_VM_STATE_POWERING_UP || vm_state(vm) == OVIRT_VM_STATE_UP,
           "VM %s neither powering up nor up after start", argv[4]);
    EXPECT(ovirt_vm_stop(vm, proxy, &error), "stop: %s", error ? error->message : "?");
    g_clear_error(&error);
    EXPECT(ovirt_resource_refresh(found, proxy, &error), "refresh: %s", error ? error->message : "?");
    g_clear_error(&error);
    printf("after stop state=%d\n", vm_state(vm));
    EXPECT(vm_state(vm) == OVIRT_VM_STATE_DOWN, "VM %s not down after stop", argv[4]);
    /* Stopping a VM that is down: the engine refuses (409). */
    EXPECT(!ovirt_vm_stop(vm, proxy, &error), "a second stop was accepted");
    if (error) printf("second stop refused: %s\n", error->message);
    g_clear_error(&error);
    g_object_unref(found);
  }
  g_object_unref(proxy);
  printf("%s\n", failures ? "FAILED" : "OK");
  return failures ? 1 : 0;
}
