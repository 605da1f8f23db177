#!/usr/bin/env bash
# Checks docs/monitoring/: the Prometheus alert rules (promtool check rules), their unit
# tests (promtool test rules), the WEF subscription (well-formed XML, its event query too,
# and it selects every warning and error event of docs/events.md), and that every alert has
# a runbook section and a unit test.
#
# usage: monitoring_check.sh [PROMTOOL [SOURCE_DIR]]   (defaults: promtool, this repo)
set -euo pipefail

promtool=${1:-promtool}
source_dir=${2:-$(cd "$(dirname "$0")/.." && pwd)}
dir=$source_dir/docs/monitoring
rules=$dir/certheal-alerts.yml
rule_tests=$dir/certheal-alerts.test.yml
wef=$dir/wef-subscription.xml
runbook=$dir/runbook.md
events=$source_dir/docs/events.md
failures=0

fail() {
  echo "monitoring_check: $*" >&2
  failures=$((failures + 1))
}

echo "== promtool check rules"
"$promtool" check rules "$rules" || fail "promtool check rules failed"

echo "== promtool test rules"
"$promtool" test rules "$rule_tests" || fail "promtool test rules failed"

echo "== WEF subscription XML"
# The subscription, then the QueryList carried in its <Query> as CDATA.
if command -v xmllint >/dev/null; then
  well_formed() { xmllint --noout "$1"; }
  query_of() { xmllint --xpath 'string(//*[local-name()="Query"])' "$1"; }
else
  well_formed() {
    python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.stdin if sys.argv[1] == "-" else sys.argv[1])' "$1"
  }
  query_of() {
    python3 -c 'import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
q = [e for e in d.getElementsByTagName("*") if e.localName == "Query"][0]
print("".join(n.data for n in q.childNodes if n.nodeType in (n.TEXT_NODE, n.CDATA_SECTION_NODE)))' "$1"
  }
fi
if well_formed "$wef"; then
  query=$(query_of "$wef")
  well_formed - <<<"$query" || fail "the event query inside $wef is not well-formed XML"
  [[ $query == *"Provider[@Name='certheal']"* ]] || fail "the WEF query does not select provider certheal"
  # Every warning and error of docs/events.md.
  wanted=$(sed -nE 's/^\| ([0-9]{4}) \| [a-z_]+ \| (warning|error) \|.*/\1/p' "$events")
  [[ -n $wanted ]] || fail "found no warning or error events in $events"
  for id in $wanted; do
    [[ $query =~ EventID=$id[^0-9] ]] || fail "the WEF query does not select event $id (docs/events.md)"
  done
else
  fail "$wef is not well-formed XML"
fi

echo "== every alert has a runbook section and a unit test"
alerts=$(sed -nE 's/^ *- alert: ([A-Za-z]+).*/\1/p' "$rules" | sort -u)
for alert in $alerts; do
  anchor=$(tr 'A-Z' 'a-z' <<<"$alert")
  grep -q "runbook\.md#$anchor\"" "$rules" || fail "$alert: its runbook_url does not end in #$anchor"
  grep -qx "## $alert" "$runbook" || fail "$alert: no '## $alert' section in runbook.md"
  grep -qE "alertname: $alert\$" "$rule_tests" || fail "$alert: no unit test in $(basename "$rule_tests")"
done
# And no runbook_url points at a missing section.
for anchor in $(grep -oE 'runbook\.md#[a-z]+' "$rules" | sort -u | cut -d# -f2); do
  grep -qix "## $anchor" "$runbook" || fail "runbook_url #$anchor has no section in runbook.md"
done

if ((failures)); then
  echo "monitoring_check: $failures check(s) failed" >&2
  exit 1
fi
echo "monitoring_check: all checks passed ($(wc -w <<<"$alerts") alerts)"
