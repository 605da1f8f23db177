#!/bin/sh
# Builds the certheal MSI with wixl (msitools), then sets what wixl cannot express.
#   [STRIP=x86_64-w64-mingw32-strip] build-msi.sh <certheal.wxs> <certheal.exe> <example config> <version> <output.msi> <certheal.1>
#
# The man page (docs/certheal.1) goes in as certheal-manual.txt: rendered by groff to plain text
# (no overstrike, no escapes) with CRLF line ends, so Notepad on any Windows reads it.
#
# wixl resolves File/@Source relative to the .wxs and rejects absolute paths, so everything is
# staged into one folder next to the output first.
#
# After wixl (with msibuild, the msitools table editor): the config component gets Permanent (16) and NeverOverwrite (128) on top of its
# 64-bit flag (256). wixl ignores both attributes, and without them the MajorUpgrade (which
# removes the old product before installing the new one) and every uninstall would delete the
# config the admin has edited, and a repair would overwrite it with the example.
set -eu

[ $# -eq 6 ] || { echo "usage: $0 <certheal.wxs> <certheal.exe> <example config> <version> <output.msi> <certheal.1>" >&2; exit 2; }
wxs=$1
exe=$2
example_config=$3
version=$4
output=$5
man_page=$6

data_folder_sddl='D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)'

stage="$output.stage"
rm -rf "$stage"
mkdir -p "$stage"
cp "$wxs" "$stage/certheal.wxs"
# The build's exe carries its debug information (tens of MB); the installed one does not need it.
if [ -n "${STRIP:-}" ]; then
    "$STRIP" -o "$stage/certheal.exe" "$exe"
else
    cp "$exe" "$stage/certheal.exe"
fi
cp "$example_config" "$stage/certheal.example.json"
MANWIDTH=80 groff -man -Tascii -P-cbou -rLL=78n "$man_page" | sed 's/$/\r/' >"$stage/certheal-manual.txt"

(
    cd "$stage"
    wixl -a x64 -D Version="$version" -D CerthealExe=certheal.exe -D ExampleConfig=certheal.example.json \
        -D ManualText=certheal-manual.txt \
        -o certheal.msi certheal.wxs
    msibuild certheal.msi -q "UPDATE Component SET Attributes = 400 WHERE Component = 'ExampleConfig'"
    # The data folder's access list, the one `certheal install` sets (service/win/install.hpp,
    # kDataFolderSddl): Administrators and SYSTEM full control, Users read, nothing inherited from
    # C:\ProgramData (whose Users may create files). certheal refuses a config that others can
    # change. MsiLockPermissionsEx needs Windows Installer 5 (Windows 7 / Server 2008 R2).
    msibuild certheal.msi \
        -q "CREATE TABLE \`MsiLockPermissionsEx\` (\`MsiLockPermissionsEx\` CHAR(72) NOT NULL, \`LockObject\` CHAR(72) NOT NULL, \`Table\` CHAR(32) NOT NULL, \`SDDL\` LONGCHAR NOT NULL, \`Condition\` CHAR(255) PRIMARY KEY \`MsiLockPermissionsEx\`)" \
        -q "INSERT INTO \`MsiLockPermissionsEx\` (\`MsiLockPermissionsEx\`, \`LockObject\`, \`Table\`, \`SDDL\`) VALUES ('DataFolderAcl', 'DATAFOLDER', 'CreateFolder', '$data_folder_sddl')"
)
mv "$stage/certheal.msi" "$output"
rm -rf "$stage"
echo "build-msi: wrote $output"
