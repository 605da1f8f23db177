#!/usr/bin/env bash
# Checks the built certheal MSI in two ways:
#  1. its tables, read with msitools (msiinfo, msiextract): the service, the Event Log source,
#     the files, the upgrade rows;
#  2. a real install, major upgrade, refused downgrade and uninstall with Wine's msiexec in a
#     throwaway prefix: the files land, the service is registered (and not started), the Event Log
#     values exist; the next version (built here from installer/certheal.wxs with the packaged
#     files) replaces it and keeps the admin's edited config; the older MSI is refused; and
#     `msiexec /x` takes everything away again except the admin's config; and the custom action
#     `certheal.exe install --msi-postinstall` configured the service as `certheal install` does:
#     read back from the registry where Wine stores the setting, and where Wine stores nothing
#     (recovery actions, delayed start, the service's access rules), from what reached Wine's
#     SCM (its services.exe trace) and from the custom action's own log.
#   msi-check.sh <certheal-VERSION-x64.msi> <source dir> [--tables-only]
# Wine's msiexec exit codes reach bash as their low byte: 1603 (ERROR_INSTALL_FAILURE) shows as 67.
# Logs and table dumps stay in <msi dir>/wine-logs/msi-check/. CERTHEAL_KEEP_WINEPREFIX=1 keeps the prefix.
set -euo pipefail

msi=$(readlink -f "${1:?usage: msi-check.sh <certheal.msi> <source dir> [--tables-only]}")
source_dir=$(readlink -f "${2:?usage: msi-check.sh <certheal.msi> <source dir> [--tables-only]}")
mode=${3:-}
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/wine-lib.sh"
wine_test_start msi-check "$msi" msi-check

# --- 1. the tables -------------------------------------------------------------------------------
msiinfo tables "$msi" >"$logs/tables.txt"
for table in File Component ServiceInstall ServiceControl Registry Upgrade Directory CreateFolder MsiLockPermissionsEx \
    CustomAction; do
    grep -qx "$table" "$logs/tables.txt" || fail "the MSI has no $table table"
done
for table in File Component ServiceInstall ServiceControl Registry Upgrade Directory InstallExecuteSequence Property \
    CreateFolder MsiLockPermissionsEx CustomAction; do
    msiinfo export "$msi" "$table" >"$logs/$table.idt"
done
msiextract -l "$msi" >"$logs/files.txt"

# Each check names a table, a column=value filter and the columns it expects; the .idt files are
# tab-separated with three header lines (names, types, keys).
python3 - "$logs" "$source_dir" <<'PYTHON' || failures=$((failures + 1))
import re, sys, pathlib

work = pathlib.Path(sys.argv[1])
problems = []

def rows(table):
    lines = (work / f"{table}.idt").read_text().splitlines()
    names = lines[0].split("\t")
    return [dict(zip(names, line.split("\t") + [""] * len(names))) for line in lines[3:] if line]

def one(table, **where):
    found = [row for row in rows(table) if all(row.get(key) == value for key, value in where.items())]
    if len(found) != 1:
        problems.append(f"{table}: expected one row with {where}, found {len(found)}")
        return {}
    return found[0]

def expect(table, row, column, wanted):
    if row and row.get(column) != wanted:
        problems.append(f"{table}: {column} is {row.get(column)!r}, expected {wanted!r}")

service = one("ServiceInstall", Name="certheal")
expect("ServiceInstall", service, "StartType", "2")        # SERVICE_AUTO_START
expect("ServiceInstall", service, "ServiceType", "16")     # SERVICE_WIN32_OWN_PROCESS
expect("ServiceInstall", service, "ErrorControl", "1")     # SERVICE_ERROR_NORMAL
expect("ServiceInstall", service, "StartName", "LocalSystem")
expect("ServiceInstall", service, "Arguments", 'run --config "[CommonAppDataFolder]certheal\\certheal.json"')
expect("ServiceInstall", service, "Component_", "CerthealService")
if service and "403.7" not in service.get("Description", ""):
    problems.append("ServiceInstall: the description does not say what certheal does")

control = one("ServiceControl", Name="certheal")
# msidbServiceControlEvent: stop on install (0x2) and uninstall (0x20), delete on uninstall
# (0x80); no start (0x1/0x10): the admin starts it once the config is real.
expect("ServiceControl", control, "Event", str(0x2 | 0x20 | 0x80))
expect("ServiceControl", control, "Wait", "1")

event_key = "SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\certheal"
message_file = one("Registry", Key=event_key, Name="EventMessageFile")
expect("Registry", message_file, "Root", "2")               # HKLM
expect("Registry", message_file, "Value", "#%[#certheal.exe]")  # REG_EXPAND_SZ: the exe's path
expect("Registry", message_file, "Component_", "CerthealService")
types = one("Registry", Key=event_key, Name="TypesSupported")
expect("Registry", types, "Root", "2")
expect("Registry", types, "Value", "#7")                    # REG_DWORD 7: error, warning, information

exe = one("File", File="certheal.exe")
expect("File", exe, "FileName", "certheal.exe")
expect("File", exe, "Component_", "CerthealService")
manual = one("File", File="certheal_manual.txt")
expect("File", manual, "FileName", "certheal-manual.txt")
expect("File", manual, "Component_", "CerthealService")
config = one("File", File="certheal.json")
expect("File", config, "FileName", "certheal.json")
expect("File", config, "Component_", "ExampleConfig")

exe_component = one("Component", Component="CerthealService")
expect("Component", exe_component, "Directory_", "INSTALLFOLDER")
expect("Component", exe_component, "Attributes", "256")    # 64-bit
config_component = one("Component", Component="ExampleConfig")
expect("Component", config_component, "Directory_", "DATAFOLDER")
# 64-bit (256) + Permanent (16) + NeverOverwrite (128): upgrades and uninstalls keep the admin's config.
expect("Component", config_component, "Attributes", "400")

# The data folder gets the access list of `certheal install` (service/win/install.hpp).
one("CreateFolder", Directory_="DATAFOLDER", Component_="ExampleConfig")
lock = one("MsiLockPermissionsEx", LockObject="DATAFOLDER")
expect("MsiLockPermissionsEx", lock, "Table", "CreateFolder")
install_hpp = (pathlib.Path(sys.argv[2]) / "service/win/install.hpp").read_text()
sddl = re.search(r'kDataFolderSddl\[\] = L"([^"]+)"', install_hpp)
if sddl is None:
    problems.append("service/win/install.hpp has no kDataFolderSddl to compare with")
else:
    expect("MsiLockPermissionsEx", lock, "SDDL", sddl.group(1))

install_dir = one("Directory", Directory="INSTALLFOLDER")
expect("Directory", install_dir, "Directory_Parent", "ProgramFiles64Folder")
expect("Directory", install_dir, "DefaultDir", "certheal")
data_dir = one("Directory", Directory="DATAFOLDER")
expect("Directory", data_dir, "Directory_Parent", "CommonAppDataFolder")

upgrades = [row for row in rows("Upgrade") if row.get("UpgradeCode") == "{49E8F1AD-7130-4211-B462-B97E0AC6EDC1}"]
if {row.get("ActionProperty") for row in upgrades} != {"WIX_UPGRADE_DETECTED", "WIX_DOWNGRADE_DETECTED"}:
    problems.append(f"Upgrade: expected the MajorUpgrade rows for the fixed UpgradeCode, found {upgrades}")
actions = {row.get("Action") for row in rows("InstallExecuteSequence")}
for action in ("RemoveExistingProducts", "InstallServices", "StopServices", "DeleteServices", "WriteRegistryValues"):
    if action not in actions:
        problems.append(f"InstallExecuteSequence: no {action}")
if "StartServices" in actions and any(row.get("Event") in ("1", "3") for row in rows("ServiceControl")):
    problems.append("ServiceControl: the service would be started on install")

# What ServiceInstall cannot say, the custom action sets with `certheal install`'s own code:
# certheal.exe (the installed file) as SYSTEM (deferred, no impersonation: 1024 + 2048 + type 18,
# an EXE from the File table), after InstallServices, never on uninstall; its exit code checked.
custom = one("CustomAction", Action="ConfigureCerthealService")
expect("CustomAction", custom, "Type", str(18 | 1024 | 2048))
expect("CustomAction", custom, "Source", "certheal.exe")
expect("CustomAction", custom, "Target", "install --msi-postinstall")
sequence = {row.get("Action"): row for row in rows("InstallExecuteSequence")}
step = sequence.get("ConfigureCerthealService")
if not step:
    problems.append("InstallExecuteSequence: no ConfigureCerthealService")
else:
    expect("InstallExecuteSequence", step, "Condition", 'NOT REMOVE~="ALL"')
    after = int(sequence.get("InstallServices", {}).get("Sequence", "0") or 0)
    before = int(sequence.get("InstallFinalize", {}).get("Sequence", "0") or 0)
    if not after < int(step.get("Sequence") or 0) < before:
        problems.append(f"InstallExecuteSequence: ConfigureCerthealService at {step.get('Sequence')} is not between "
                        f"InstallServices ({after}) and InstallFinalize ({before})")

files = set((work / "files.txt").read_text().split())
for wanted in ("certheal/certheal.exe", "certheal/certheal.json", "certheal/certheal-manual.txt"):
    if wanted not in files:
        problems.append(f"msiextract -l does not list {wanted} (it lists {sorted(files)})")

for problem in problems:
    print(f"msi-check: FAIL: {problem}")
if problems:
    sys.exit(1)
print("msi-check: ok: the ServiceInstall, ServiceControl, Registry, File, Component, Directory, CreateFolder, "
      "MsiLockPermissionsEx, CustomAction and Upgrade rows")
PYTHON

# The packaged exe and config are the built ones.
msiextract -C "$logs/extracted" "$msi" >/dev/null
version=$(basename "$msi" | sed -n 's/^certheal-\([0-9]*\.[0-9]*\.[0-9]*\)-x64\.msi$/\1/p')
[[ -n $version ]] || { echo "msi-check: the MSI's name is not certheal-<major.minor.patch>-x64.msi"; exit 1; }
grep -q "ProductVersion	$version" "$logs/Property.idt" && pass "ProductVersion is $version" ||
    fail "ProductVersion in the Property table is not $version"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$logs/extracted/certheal/certheal.json" &&
    pass "the packaged config is valid JSON" || fail "the packaged certheal.json is not valid JSON"
head -c 2 "$logs/extracted/certheal/certheal.exe" | grep -q MZ && pass "the packaged certheal.exe is a PE file" ||
    fail "the packaged certheal.exe is not a PE file"
manual_text=$logs/extracted/certheal/certheal-manual.txt
if grep -q $'\r$' "$manual_text" && ! grep -q $'[^\r]$' "$manual_text" && ! grep -q $'\x1b\|\x08' "$manual_text" &&
    grep -q 'history \[--config FILE\]' "$manual_text"; then
    pass "the packaged certheal-manual.txt is the man page as plain text with CRLF line ends"
else
    fail "the packaged certheal-manual.txt is not the rendered man page in plain CRLF text"
fi

if [[ $mode == --tables-only ]]; then
    [[ $failures -eq 0 ]] && echo "msi-check: all table checks passed" || echo "msi-check: $failures failure(s)"
    exit $(( failures > 0 ))
fi

# --- 2. install and uninstall with Wine's msiexec ------------------------------------------------
# As in run-wine-tests.sh: let the prefix settle, keep one wineserver for the whole run, and
# send every output to a file (services.exe would inherit a pipe and hold it open).
wine_prefix_up

drive_c=$WINEPREFIX/drive_c
installed_exe="$drive_c/Program Files/certheal/certheal.exe"
installed_config="$drive_c/ProgramData/certheal/certheal.json"
msi_windows_path="Z:${msi//\//\\}"

# Runs a Wine command with its output in $logs/<name>.out (CRs dropped into <name>.txt, stdout
# alone: unlike run in wine-lib.sh, which appends stderr).
wine_to_file() {  # name command...
    local name=$1 status=0
    shift
    "$wine" "$@" >"$logs/$name.out" 2>"$logs/$name.err" || status=$?
    tr -d '\r' <"$logs/$name.out" >"$logs/$name.txt"
    return $status
}

status=0
# The first wine process after wineboot starts services.exe with its own environment and output:
# its service FIXMEs land in install.err. ChangeServiceConfig2W's FAILURE_ACTIONS is a stub there
# that stores nothing, and its FIXME line proves what the custom action asked of the SCM.
WINEDEBUG=-all,fixme+service wine_to_file install msiexec /i "$msi_windows_path" /qn /l*v "$logs/install.log" ||
    status=$?
[[ $status -eq 0 ]] && pass "msiexec /i exited with 0" || fail "msiexec /i exited with $status (see $logs/install.log)"

[[ -f $installed_exe ]] && cmp -s "$installed_exe" "$logs/extracted/certheal/certheal.exe" &&
    pass "certheal.exe is in C:\\Program Files\\certheal" || fail "certheal.exe is not in C:\\Program Files\\certheal"
[[ -f $installed_config ]] && pass "certheal.json is in C:\\ProgramData\\certheal" ||
    fail "certheal.json is not in C:\\ProgramData\\certheal"

# Wine's sc has no `qc`: read the service's configuration where the SCM keeps it.
service_key='HKLM\SYSTEM\CurrentControlSet\Services\certheal'
wine_to_file reg-service reg query "$service_key" || true
grep -Eq 'Start +REG_DWORD +0x2$' "$logs/reg-service.txt" && pass "the service certheal starts automatically" ||
    fail "the service's Start is not 2 (auto) (see $logs/reg-service.txt)"
grep -Eq 'Type +REG_DWORD +0x10$' "$logs/reg-service.txt" && pass "the service is an own-process service" ||
    fail "the service's Type is not 0x10 (own process) (see $logs/reg-service.txt)"
grep -Fq 'C:\Program Files\certheal\certheal.exe' "$logs/reg-service.txt" &&
    grep -Fq 'run --config "C:\ProgramData\certheal\certheal.json"' "$logs/reg-service.txt" &&
    pass "the service runs certheal.exe run --config C:\\ProgramData\\certheal\\certheal.json" ||
    fail "the service's ImagePath is not certheal.exe run --config <ProgramData config> (see $logs/reg-service.txt)"
grep -Eq 'ObjectName +REG_SZ +LocalSystem' "$logs/reg-service.txt" && pass "the service runs as LocalSystem" ||
    fail "the service does not run as LocalSystem (see $logs/reg-service.txt)"
grep -Fq 'Description' "$logs/reg-service.txt" && pass "the service has a description" ||
    fail "the service has no Description (see $logs/reg-service.txt)"
wine_to_file sc-query sc query certheal || true
grep -Eq 'STATE +: 1 +STOPPED' "$logs/sc-query.txt" && pass "the service was not started by the install" ||
    fail "the service is not STOPPED after the install (see $logs/sc-query.txt)"

event_key='HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\certheal'
wine_to_file reg-eventlog reg query "$event_key" || true
grep -Eq 'EventMessageFile +REG_EXPAND_SZ +C:\\Program Files\\certheal\\certheal\.exe' "$logs/reg-eventlog.txt" &&
    pass "EventMessageFile is a REG_EXPAND_SZ naming the installed certheal.exe" ||
    fail "EventMessageFile is not REG_EXPAND_SZ C:\\Program Files\\certheal\\certheal.exe (see $logs/reg-eventlog.txt)"
grep -Eq 'TypesSupported +REG_DWORD +0x7' "$logs/reg-eventlog.txt" && pass "TypesSupported is REG_DWORD 7" ||
    fail "TypesSupported is not REG_DWORD 7 (see $logs/reg-eventlog.txt)"

# --- the custom action: `certheal install --msi-postinstall`, as SYSTEM, after InstallServices ---
# What Wine stores, read back: the description certheal install writes (the MSI's own has no
# "Configuration:") and the preshutdown allowance. What Wine stores nothing for: the delayed
# start (ChangeServiceConfig2W level 3 fails with 124), the failure-actions flag (level 4, 124),
# the recovery actions (level 2 answers yes and stores nothing) and the access rules
# (SetServiceObjectSecurity with DACL_SECURITY_INFORMATION, 4, is a stub): the custom action's
# log says what it asked and what the SCM answered, and Wine's own FIXME lines (install.err)
# confirm each call reached it.
msi_log="$drive_c/ProgramData/certheal/msi-postinstall.log"
tr -d '\r' <"$msi_log" >"$logs/msi-postinstall.txt" 2>/dev/null || true
grep -q 'install --msi-postinstall (exit code 0)' "$logs/msi-postinstall.txt" &&
    pass "the custom action ran certheal install --msi-postinstall and exited 0 (C:\ProgramData\certheal\msi-postinstall.log)" ||
    fail "no msi-postinstall.log with exit code 0 (see $logs/msi-postinstall.txt, $logs/install.log)"
grep -Fq 'Description' "$logs/reg-service.txt" && grep -Fq 'Configuration: C:\ProgramData\certheal\certheal.json' "$logs/reg-service.txt" &&
    pass "the service's description is the one certheal install writes (read back from the registry)" ||
    fail "the service's description is not certheal install's (see $logs/reg-service.txt)"
grep -Eq 'PreshutdownTimeout +REG_DWORD +0xea60$' "$logs/reg-service.txt" &&
    pass "the preshutdown allowance is 60 s (PreshutdownTimeout read back from the registry)" ||
    fail "PreshutdownTimeout is not 60000 (see $logs/reg-service.txt)"
grep -q 'the service certheal will start automatically but not delayed: .*Win32 error 124' "$logs/msi-postinstall.txt" &&
    grep -q 'svcctl_ChangeServiceConfig2W level 3 not implemented' "$logs/install.err" &&
    pass "the delayed start was asked of the SCM (Wine refuses level 3 with 124 and stores nothing)" ||
    fail "the log and services.exe do not show the delayed start asked and refused (see $logs/msi-postinstall.txt, $logs/install.err)"
grep -q 'restart after 1 min, 1 min, 5 min' "$logs/msi-postinstall.txt" &&
    grep -q 'svcctl_ChangeServiceConfig2W SERVICE_CONFIG_FAILURE_ACTIONS not implemented: period 86400' "$logs/install.err" &&
    pass "the recovery actions (restart after 1, 1, 5 min; reset after 86400 s) reached the SCM (Wine's stub stores nothing)" ||
    fail "no trace of the recovery actions asked of the SCM (see $logs/msi-postinstall.txt, $logs/install.err)"
grep -q 'takes its recovery actions only when it crashes.*Win32 error 124' "$logs/msi-postinstall.txt" &&
    grep -q 'svcctl_ChangeServiceConfig2W level 4 not implemented' "$logs/install.err" &&
    pass "the failure-actions flag was asked of the SCM (Wine refuses level 4 with 124)" ||
    fail "the log and services.exe do not show the failure-actions flag asked (see $logs/msi-postinstall.txt, $logs/install.err)"
grep -q 'accepted the access rules of the service certheal but did not keep them' "$logs/msi-postinstall.txt" &&
    grep -Eq 'fixme:service:SetServiceObjectSecurity [0-9A-F]+ 4 ' "$logs/install.err" &&
    pass "the service's access rules were asked of the SCM; reading them back shows Wine did not keep them (its SetServiceObjectSecurity is a stub)" ||
    fail "the log and Wine's trace do not show the service's DACL set and read back (see $logs/msi-postinstall.txt, $logs/install.err)"

# --- the admin edits the config and starts the service ---
# allow_insecure_config_acl: Wine's C:\ProgramData has no ACLs that protect it like Windows' does.
edited='{ "service": { "allow_insecure_config_acl": true },
  "defaults": { "interval": "5m" },
  "sites": [ { "name": "placeholder-localhost", "url": "https://localhost/" } ],
  "remediation": { "enabled": false, "dry_run": true } }'
printf '%s\n' "$edited" >"$installed_config"
installed_journal="$drive_c/ProgramData/certheal/journal.jsonl"
wine_to_file net-start net start certheal || true
running=0
for _ in $(seq 1 100); do  # 20 s
    wine_to_file sc-query-started sc query certheal || true
    grep -Eq 'STATE +: 4 +RUNNING' "$logs/sc-query-started.txt" && { running=1; break; }
    sleep 0.2
done
[[ $running == 1 ]] && pass "the installed service starts (net start certheal) and is RUNNING" ||
    fail "the installed service did not reach RUNNING (see $logs/net-start.txt, $logs/sc-query-started.txt)"
grep -q '"event":"service_started"' "$installed_journal" 2>/dev/null &&
    pass "the service wrote service_started to C:\\ProgramData\\certheal\\journal.jsonl" ||
    fail "the started service wrote no service_started to C:\\ProgramData\\certheal\\journal.jsonl"

# --- the major upgrade to the next patch version stops the service and keeps the admin's config ---
IFS=. read -r major minor patch <<<"$version"
next_version=$major.$minor.$((patch + 1))
next_msi=$logs/certheal-$next_version-x64.msi
"$source_dir/installer/build-msi.sh" "$source_dir/installer/certheal.wxs" "$logs/extracted/certheal/certheal.exe" \
    "$logs/extracted/certheal/certheal.json" "$next_version" "$next_msi" "$source_dir/docs/certheal.1" \
    >"$logs/build-next.log" 2>&1
next_windows_path="Z:${next_msi//\//\\}"

uninstall_entries() {  # name: the Uninstall keys of certheal products, as "DisplayName DisplayVersion" lines
    wine_to_file "$1" reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s || true
    awk '/^HKEY/ {name=""} /DisplayName +REG_SZ +certheal$/ {name="certheal"}
         /DisplayVersion +REG_SZ/ {version=$3} name != "" && version != "" {print name, version; name=""; version=""}' \
        "$logs/$1.txt" | sort -u
}

status=0
wine_to_file upgrade msiexec /i "$next_windows_path" /qn /l*v "$logs/upgrade.log" || status=$?
[[ $status -eq 0 ]] && pass "msiexec /i of $next_version over $version exited with 0" ||
    fail "the upgrade to $next_version exited with $status (see $logs/upgrade.log)"
[[ $(uninstall_entries products-after-upgrade) == "certheal $next_version" ]] &&
    pass "after the upgrade only certheal $next_version is installed" ||
    fail "after the upgrade the installed products are: $(uninstall_entries products-after-upgrade | tr '\n' ';')"
[[ $(cat "$installed_config" 2>/dev/null) == "$edited" ]] && pass "the upgrade kept the admin's edited config" ||
    fail "the upgrade replaced or deleted the admin's edited config"
[[ -f $installed_exe ]] && pass "certheal.exe is there after the upgrade" || fail "certheal.exe is gone after the upgrade"
grep -q '"event":"service_stopped".*SCM STOP' "$installed_journal" 2>/dev/null &&
    pass "the upgrade stopped the running service through the SCM (service_stopped in the journal)" ||
    fail "the journal has no service_stopped by SCM STOP after the upgrade (see $installed_journal)"
[[ $(tr -d '\r' <"$msi_log" | grep -c 'install --msi-postinstall (exit code 0)') -ge 2 ]] &&
    pass "the upgrade ran the custom action again for the new service" ||
    fail "the upgrade did not run the custom action again (see $msi_log)"
wine_to_file reg-service-upgraded reg query "$service_key" || true
grep -Eq 'Start +REG_DWORD +0x2$' "$logs/reg-service-upgraded.txt" && pass "the service is registered after the upgrade" ||
    fail "the service is not registered after the upgrade (see $logs/reg-service-upgraded.txt)"

status=0
wine_to_file downgrade msiexec /i "$msi_windows_path" /qn /l*v "$logs/downgrade.log" || status=$?
[[ $status -ne 0 ]] && pass "msiexec /i of the older $version was refused (exit $status)" ||
    fail "msiexec /i of the older $version over $next_version succeeded"
[[ $(uninstall_entries products-after-downgrade) == "certheal $next_version" ]] &&
    pass "the refused downgrade left certheal $next_version installed" ||
    fail "after the downgrade attempt the installed products are: $(uninstall_entries products-after-downgrade | tr '\n' ';')"

status=0
wine_to_file uninstall msiexec /x "$next_windows_path" /qn /l*v "$logs/uninstall.log" || status=$?
[[ $status -eq 0 ]] && pass "msiexec /x exited with 0" || fail "msiexec /x exited with $status (see $logs/uninstall.log)"
[[ -z $(uninstall_entries products-after-uninstall) ]] && pass "no certheal product is registered after the uninstall" ||
    fail "after the uninstall the installed products are: $(uninstall_entries products-after-uninstall | tr '\n' ';')"
[[ ! -e $installed_exe ]] && pass "the uninstall removed certheal.exe" || fail "certheal.exe is still there after the uninstall"
[[ $(cat "$installed_config" 2>/dev/null) == "$edited" ]] && pass "the uninstall kept the admin's config (Permanent)" ||
    fail "the uninstall deleted C:\\ProgramData\\certheal\\certheal.json"
wine_to_file sc-query-after sc query certheal || true
wine_to_file reg-service-after reg query "$service_key" || true
grep -q 'SERVICE_NAME: certheal' "$logs/sc-query-after.txt" || grep -q 'ImagePath' "$logs/reg-service-after.txt" &&
    fail "the service still exists after the uninstall (see $logs/sc-query-after.txt)" ||
    pass "the uninstall deleted the service"
wine_to_file reg-eventlog-after reg query "$event_key" || true
grep -q 'EventMessageFile\|TypesSupported' "$logs/reg-eventlog-after.txt" &&
    fail "the Event Log values are still there after the uninstall (see $logs/reg-eventlog-after.txt)" ||
    pass "the uninstall removed the Event Log values"

wine_test_finish
