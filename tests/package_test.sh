#!/usr/bin/env bash
# The .deb as an operator gets it (issue 13, item 4), in CTest:
#
#   package_test.sh build    BUILD OUT   cpack -G DEB into OUT (the fixture the others need)
#   package_test.sh contents OUT         control fields and every shipped item in the file list
#   package_test.sh runs     OUT         unpacked into a scratch root: --version, steps, an
#                                        offline dry run of a shipped example, and the lab
#                                        example's live dry run through the unpacked she-lab,
#                                        each finding its data and helpers from its own path
#   package_test.sh man      OUT         every man page renders without a groff warning
#
# Each check prints what it found before failing, and the scratch root is
# removed however the script ends.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

the_deb() {
  local debs=("$1"/she-restore_*.deb)
  [[ -f ${debs[0]} ]] || fail "no she-restore_*.deb in $1 (did package:build run?)"
  echo "${debs[0]}"
}

scratch=
cleanup() {
  [[ -n ${lab_pid:-} ]] && kill "$lab_pid" 2>/dev/null && wait "$lab_pid" 2>/dev/null
  [[ -n $scratch ]] && rm -rf "$scratch"
  return 0
}
trap cleanup EXIT
# Sets root (and scratch, which the trap removes): not in a subshell.
unpacked() {
  local deb
  deb=$(the_deb "$1")
  scratch=$(mktemp -d /tmp/she-package-test.XXXXXX)
  root=$scratch/root
  dpkg-deb -x "$deb" "$root"
}

case $1 in
build)
  rm -rf "$3" && mkdir -p "$3"
  cpack -G DEB --config "$2/CPackConfig.cmake" -B "$3"
  the_deb "$3"
  ;;

contents)
  deb=$(the_deb "$2")
  info=$(dpkg-deb --info "$deb")
  echo "$info"
  for field in 'Package: she-restore' 'Section: admin' 'Maintainer: .+ <.+@.+>' \
               'Depends: .*libc6.*' 'Depends: .*libssh2.*' 'Depends: .*libcurl.*' \
               'Description: restore a self-hosted oVirt engine'; do
    grep -Eq "^ ?$field" <<<"$info" || fail "control field missing: $field"
  done
  list=$(dpkg-deb --contents "$deb" | awk '{print $6}')
  echo "$list"
  for path in ./usr/bin/she-restore ./usr/bin/she-lab ./usr/libexec/she-restore/she-lab-agent \
              ./usr/libexec/she-restore/she-lab-http ./usr/libexec/she-restore/she-lab-ovm-cli \
              ./usr/share/she-restore/plans/ovm-backup.yaml \
              ./usr/share/she-restore/plans/ovm-recreate-vms.yaml \
              ./usr/share/she-restore/plans/ovm-restore-vm-disk.yaml \
              ./usr/share/she-restore/plans/ovm-restore-repository.yaml \
              ./usr/share/she-restore/plans/ovm-restore-manager.yaml \
              ./usr/share/she-restore/plans/ovm-start-vm-without-manager.yaml \
              ./usr/share/she-restore/plans/ovm-reinstall-manager.yaml \
              ./usr/share/she-restore/examples/ovm/rehearse-recreate-vms.yaml \
              ./usr/share/she-restore/examples/ovm/lab/two-servers.yaml \
              ./usr/share/she-restore/plans/she-backup.yaml \
              ./usr/share/she-restore/plans/she-restore-failover.yaml \
              ./usr/share/she-restore/plans/she-restore-new-host.yaml \
              ./usr/share/she-restore/plans/she-remove-nonoperational.yaml \
              ./usr/share/she-restore/plans/engine-restore-fresh.yaml \
              ./usr/share/she-restore/examples/engine/restore-fresh.yaml \
              ./usr/share/she-restore/examples/lab-rehearsal/backup.yaml \
              ./usr/share/she-restore/examples/lab/three-hosts.yaml \
              ./usr/share/she-restore/examples/three-hosts/restore-failover.yaml \
              ./usr/share/she-restore/examples/production/environment.yaml \
              ./usr/share/she-restore/schema.json \
              ./usr/lib/systemd/system/she-backup@.service ./usr/lib/systemd/system/she-backup@.timer \
              ./usr/share/man/man1/she-restore.1.gz ./usr/share/man/man1/she-lab.1.gz \
              ./usr/share/man/man5/she-restore-plan.5.gz \
              ./usr/share/bash-completion/completions/she-restore \
              ./usr/share/doc/she-restore/copyright ./usr/share/doc/she-restore/README.md; do
    grep -qxF "$path" <<<"$list" || fail "not in the package: $path"
  done
  # Nothing of the build machine's prefix or tree leaks into the package.
  if grep -E '^\./usr/local/|/build/' <<<"$list"; then fail "paths outside /usr or from the build tree"; fi
  ;;

runs)
  unpacked "$2"
  # A clean environment: nothing on PATH from the build, no override of
  # where she-lab or the plans are, a home of its own.
  mkdir "$scratch/home"
  run() { env -i PATH=/usr/bin:/bin HOME="$scratch/home" LANG=C.UTF-8 "$@"; }

  version=$(run "$root/usr/bin/she-restore" --version)
  echo "$version"
  grep -Eq '^she-restore [0-9]+\.[0-9]+\.[0-9]+' <<<"$version" || fail "--version says: $version"

  steps=$(run "$root/usr/bin/she-restore" steps)
  grep -q 'engine.host.fence_manual' <<<"$steps" || fail "steps lists no engine.host.fence_manual: $steps"

  # The units name the installed binary, not the build's prefix.
  grep -qx 'ExecStart=/usr/bin/she-restore .*' "$root/usr/lib/systemd/system/she-backup@.service" ||
    fail "ExecStart: $(grep ExecStart "$root/usr/lib/systemd/system/she-backup@.service")"

  # The procedures found are the unpacked ones, not the source tree's this
  # build also knows: a step renamed in the unpacked copy shows in the dry run.
  sed -i 's/^    name: Read the hosted-engine cluster state from the failover host$/    name: unpacked-plans-marker/' \
    "$root/usr/share/she-restore/plans/she-backup.yaml"
  grep -q unpacked-plans-marker "$root/usr/share/she-restore/plans/she-backup.yaml" || fail "marker not placed"

  out=$(run "$root/usr/bin/she-restore" --dry-run --offline "$root/usr/share/she-restore/examples/three-hosts/backup.yaml") ||
    fail "offline dry run of examples/three-hosts/backup.yaml: $out"
  echo "$out" | head -20
  grep -q unpacked-plans-marker <<<"$out" || fail "the offline dry run did not use the unpacked plans"
  grep -qF "procedure    she-backup ($root/usr/share/she-restore/plans/she-backup.yaml)" <<<"$out" ||
    fail "the dry run names another procedure file"

  # The completion as bash-completion loads it: it registers for she-restore
  # and completes the subcommands.
  words=$(run bash -c 'source "$1"; COMP_WORDS=(she-restore st); COMP_CWORD=1; _she_restore; echo "${COMPREPLY[*]}"' \
    _ "$root/usr/share/bash-completion/completions/she-restore")
  [[ $words == *status* && $words == *steps* ]] || fail "completion of 'she-restore st': $words"

  # she-lab from the unpacked root runs its hosts' sshd with the unpacked
  # agent (LIBEXECDIR/she-restore), not the one this build made.
  lab_dir="$scratch/lab"
  # Not through run(): a function in the background is a subshell, and
  # killing it would leave she-lab (and its hosts' sshd) running.
  env -i PATH=/usr/bin:/bin HOME="$scratch/home" LANG=C.UTF-8 \
    "$root/usr/bin/she-lab" serve "$root/usr/share/she-restore/examples/lab/three-hosts.yaml" --dir "$lab_dir" \
    >"$scratch/she-lab.out" 2>&1 &
  lab_pid=$!
  for _ in $(seq 600); do
    [[ -s $lab_dir/environment.yaml ]] && break
    kill -0 "$lab_pid" 2>/dev/null || fail "she-lab exited: $(cat "$scratch/she-lab.out")"
    sleep 0.1
  done
  [[ -s $lab_dir/environment.yaml ]] || fail "she-lab wrote no environment: $(cat "$scratch/she-lab.out")"
  agents=$(grep -rh '^ForceCommand' "$lab_dir" | awk '{print $2}' | tr -d "'" | sort -u)
  [[ $agents == "$root/usr/libexec/she-restore/she-lab-agent" ]] || fail "the lab hosts run: $agents"
  kill "$lab_pid"; wait "$lab_pid" || true; lab_pid=

  # The shipped lab example, live: she-restore starts the unpacked she-lab
  # for it, reads the lab's hosts and engine, and writes nothing.
  out=$(run "$root/usr/bin/she-restore" --dry-run "$root/usr/share/she-restore/examples/lab-rehearsal/backup.yaml" 2>&1) ||
    fail "dry run of examples/lab-rehearsal/backup.yaml: $out"
  echo "$out" | tail -20
  grep -q unpacked-plans-marker <<<"$out" || fail "the lab dry run did not use the unpacked plans"
  grep -q 'hosted-engine --vm-status --json' <<<"$out" || fail "the lab dry run shows no vm-status read"
  ;;

man)
  unpacked "$2"
  for page in usr/share/man/man1/she-restore.1.gz usr/share/man/man1/she-lab.1.gz usr/share/man/man5/she-restore-plan.5.gz; do
    warnings=$(MANWIDTH=80 man --warnings -l "$root/$page" 2>&1 >/dev/null)
    [[ -z $warnings ]] || fail "$page: $warnings"
    text=$(MANWIDTH=80 man -l "$root/$page" 2>/dev/null)
    grep -q '^NAME' <<<"$text" && grep -q '^SEE ALSO' <<<"$text" || fail "$page renders without NAME or SEE ALSO: $text"
    echo "$page: $(wc -l <<<"$text") lines, no warnings"
  done
  ;;

*)
  fail "usage: package_test.sh build BUILD OUT | contents OUT | runs OUT | man OUT"
  ;;
esac
